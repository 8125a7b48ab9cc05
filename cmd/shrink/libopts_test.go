package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink"
)

// TestLibOptionTags checks that every JSON tag of the library options of
// convert, bench, gate and inspect names a flag of the command, so that a
// recipe step takes exactly the command's flags.
func TestLibOptionTags(t *testing.T) {
	for _, c := range []struct {
		cmd  *command
		opts any
	}{
		{convertCmd, shrink.ConvertOptions{}},
		{benchCmd, shrink.BenchOptions{}},
		{gateCmd, shrink.GateOptions{}},
		{inspectCmd, shrink.InspectOptions{}},
	} {
		fs := newFlagSet(c.cmd)
		typ := reflect.TypeOf(c.opts)
		n := 0
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == "-" {
				continue
			}
			n++
			if tag == "" || fs.Lookup(tag) == nil {
				t.Errorf("%s.%s: json tag %q is not a flag of shrink %s", typ.Name(), f.Name, tag, c.cmd.name)
			}
		}
		if n == 0 {
			t.Errorf("%s has no flag fields", typ.Name())
		}
	}
}
