package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// flagTypes maps the getter suffix to pflag's Value.Type name.
var flagTypes = map[string]string{
	"String": "string", "Bool": "bool", "Int": "int", "Int64": "int64", "Uint64": "uint64",
	"Float32": "float32", "Float64": "float64", "StringSlice": "stringSlice", "StringArray": "stringArray",
}

// TestFlagNames reads every flag getter call in the command's sources and
// checks that some command declares that flag with that type, so that a
// misspelled name fails here even on a path no other test runs. It also
// checks that no source reads a flag with pflag's getters directly, whose
// error would be dropped.
func TestFlagNames(t *testing.T) {
	declared := map[string]map[string]bool{} // name -> types
	for _, c := range commands {
		newFlagSet(c).VisitAll(func(f *pflag.Flag) {
			if declared[f.Name] == nil {
				declared[f.Name] = map[string]bool{}
			}
			declared[f.Name][f.Value.Type()] = true
		})
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`\bflag(String|Bool|Int64|Int|Uint64|Float32|Float64|StringSlice|StringArray)\(\w+, "([^"]+)"\)`)
	direct := regexp.MustCompile(`\.Get(String|Bool|Int|Uint|Float|Duration)\w*\(`)
	calls := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(src), -1) {
			calls++
			if typ := flagTypes[m[1]]; !declared[m[2]][typ] {
				t.Errorf("%s: flag%s(fs, %q): no command declares --%s of type %s", f, m[1], m[2], m[2], typ)
			}
		}
		if f != "flags.go" && direct.Match(src) {
			t.Errorf("%s reads a flag with pflag's getter directly; use the flag* helpers", f)
		}
	}
	if calls < 100 {
		t.Errorf("found %d flag reads; the pattern no longer matches the sources", calls)
	}
}
