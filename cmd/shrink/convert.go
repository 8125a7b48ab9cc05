package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink"
	"github.com/shrink-llm/shrink/bench"
)

var convertCmd = &command{
	name:    "convert",
	args:    "SRC DST [--dtype f32|f16|bf16] [--tokenizer FILE] [--mla-layout kv_b|split]",
	summary: "convert any checkpoint to a llama GGUF (DST ending in .gguf) or a Hugging Face folder",
	flags: func(fs *pflag.FlagSet) {
		fs.String("dtype", "", "type of the matrices in the output: f32, f16 or bf16 (default: as stored; 1-D tensors stay f32 in GGUF)")
		fs.String("tokenizer", "", "tokenizer file to use instead of the one found with SRC (tokenizer.model, tokenizer.json, tokenizer.bin or a GGUF)")
		fs.BoolP("quiet", "q", false, "no progress output")
		fs.String("mla-layout", "kv_b", "deepseek2 latent attention's key/value up-projection in the GGUF: kv_b (one attn_kv_b per layer, "+
			"the layout llama.cpp builds before April 2025 load, and the only one the llama.cpp this is tested against reads) or split "+
			"(attn_k_b/attn_v_b with key_length_mla, later llama.cpp's)")
	},
	run: runConvert,
}

func runConvert(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 2, "SRC DST"); err != nil {
		return err
	}
	src, dst := args[0], args[1]
	quiet := flagBool(fs, "quiet")
	opt := shrink.ConvertOptions{
		DType:     flagString(fs, "dtype"),
		Tokenizer: flagString(fs, "tokenizer"),
		Log: func(line string) {
			endProgress()
			fmt.Fprintf(os.Stderr, "shrink convert: %s\n", line)
		},
	}
	if fs.Changed("mla-layout") {
		opt.MLALayout = flagString(fs, "mla-layout")
	}
	if !quiet && isTerminal(os.Stderr) {
		opt.Progress = func(p shrink.Progress) {
			fmt.Fprintf(os.Stderr, "\r\033[K[%d/%d] %s", p.Done+1, p.Total, p.Message)
		}
	}
	ctx, stop := interruptContext()
	defer stop()
	res, err := shrink.Convert(ctx, src, dst, opt)
	if err != nil {
		return fromLib(err)
	}
	if !quiet {
		endProgress()
		fmt.Fprintf(os.Stderr, "wrote %s (%s) in %.1fs\n", dst, bench.HumanBytes(res.Bytes), res.Elapsed.Seconds())
	}
	return nil
}

// endProgress clears a progress line drawn on a terminal.
func endProgress() {
	if isTerminal(os.Stderr) {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
}

// fromLib maps a library function's error to the command's: an error in
// the options becomes a usageError (exit code 2 with a hint to --help).
func fromLib(err error) error {
	var ue *shrink.UsageError
	if errors.As(err, &ue) {
		return usageError{ue.Msg}
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted: nothing was written")
	}
	return err
}
