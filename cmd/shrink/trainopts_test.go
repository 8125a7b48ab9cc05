package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink"
)

// jsonTags returns the JSON names of a struct type's fields, those of
// embedded structs included.
func jsonTags(t reflect.Type) map[string]bool {
	tags := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			for k := range jsonTags(f.Type) {
				tags[k] = true
			}
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			tags[name] = true
		}
	}
	return tags
}

// TestTrainOptionTags checks that the options of train and distill carry
// a JSON tag for every flag of the command (but --quiet and --help), and
// only those, so that a recipe step is the same options a command line
// gives.
func TestTrainOptionTags(t *testing.T) {
	for _, c := range []struct {
		cmd *command
		opt any
	}{{trainCmd, shrink.DefaultTrainOptions()}, {distillCmd, shrink.DefaultDistillOptions()}} {
		tags := jsonTags(reflect.TypeOf(c.opt))
		flags := map[string]bool{}
		newFlagSet(c.cmd).VisitAll(func(f *pflag.Flag) {
			if f.Name != "quiet" && f.Name != "help" {
				flags[f.Name] = true
			}
		})
		if !reflect.DeepEqual(tags, flags) {
			t.Errorf("%s: json tags %v, flags %v", c.cmd.name, tags, flags)
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(`{"lr": 0.5, "ctx": 32, "bogus": 1}`)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(reflect.New(reflect.TypeOf(c.opt)).Interface()); err == nil {
			t.Errorf("%s: unknown field accepted", c.cmd.name)
		}
	}
	var opt shrink.DistillOptions
	if err := json.Unmarshal([]byte(`{"teacher": "t.gguf", "lora-rank": 4, "ctx": 32}`), &opt); err != nil || opt.Teacher != "t.gguf" || opt.LoRARank != 4 || opt.Ctx != 32 {
		t.Errorf("recipe step: %+v, %v", opt, err)
	}
}
