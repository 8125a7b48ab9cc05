package main

import (
	"encoding/json"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink"
)

var inspectCmd = &command{
	name:    "inspect",
	args:    "PATH [--json]",
	summary: "show a checkpoint's format, architecture, tokenizer and tensors",
	flags: func(fs *pflag.FlagSet) {
		fs.Bool("json", false, "print one JSON object instead of tables")
		fs.Bool("metadata", false, "also list every GGUF metadata key")
	},
	run: runInspect,
}

func runInspect(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, "PATH"); err != nil {
		return err
	}
	asJSON := flagBool(fs, "json")
	showMeta := flagBool(fs, "metadata")
	ctx, stop := interruptContext()
	defer stop()
	r, err := shrink.Inspect(ctx, args[0], shrink.InspectOptions{Metadata: showMeta || asJSON})
	if err != nil {
		return fromLib(err)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.WriteText(stdout)
}
