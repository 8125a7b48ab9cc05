package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/tokenizer"
)

var runCmd = &command{
	name:    "run",
	args:    "MODEL --prompt TEXT [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S] [--threads N]",
	summary: "generate text on the reference runtime, streaming it, and report tokens/s",
	flags: func(fs *pflag.FlagSet) {
		fs.StringP("prompt", "p", "", "text to continue (required)")
		fs.IntP("n", "n", 128, "maximum number of tokens to generate")
		fs.Float32("temp", 0.8, "sampling temperature; 0 is greedy")
		fs.Int("top-k", 40, "sample among the K most likely tokens (0: all)")
		fs.Float32("top-p", 0.95, "sample among the most likely tokens reaching probability P (1: all)")
		fs.Uint64("seed", 0, "random seed, for repeatable sampling")
		fs.Int("threads", 0, "goroutines per matrix product (default: all cores)")
		fs.Bool("mmap", false, "keep a large GGUF file mapped, shared and read-only (instant load, shared pages) instead of copying it into 2 MiB pages as by default when it fits in half the available memory (Linux)")
		fs.Bool("keep-cache", false, "with a mapped GGUF file, never drop its cached pages to re-read it in 2 MiB pages (Linux; by default a file cached in small pages is re-read once)")
		fs.Bool("huge-pages", false, "the copy into 2 MiB pages, now the default")
		_ = fs.MarkDeprecated("huge-pages", "the copy into 2 MiB pages is the default; --mmap keeps the file mapped")
		fs.Int("ctx", 0, "context size in tokens (default: the model's)")
		fs.String("tokenizer", "", "tokenizer file to use instead of the one found with MODEL")
		fs.BoolP("quiet", "q", false, "no statistics on stderr")
	},
	run: runRun,
}

func runRun(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, "MODEL"); err != nil {
		return err
	}
	prompt := flagString(fs, "prompt")
	n := flagInt(fs, "n")
	temp := flagFloat32(fs, "temp")
	topK := flagInt(fs, "top-k")
	topP := flagFloat32(fs, "top-p")
	seed := flagUint64(fs, "seed")
	threads := flagInt(fs, "threads")
	mmap := flagBool(fs, "mmap")
	keep := flagBool(fs, "keep-cache")
	ctx := flagInt(fs, "ctx")
	tokFile := flagString(fs, "tokenizer")
	quiet := flagBool(fs, "quiet")
	if !fs.Changed("prompt") {
		return usageError{"--prompt is required"}
	}
	if n < 0 || threads < 0 || ctx < 0 || topK < 0 || temp < 0 || topP < 0 {
		return usageError{"-n, --threads, --ctx, --top-k, --temp and --top-p must not be negative"}
	}
	m, err := engine.Load(args[0], engine.Options{Threads: threads, Tokenizer: tokFile, Mmap: mmap, KeepCache: keep})
	if err != nil {
		return err
	}
	defer m.Close()
	if m.Vocab == nil {
		return fmt.Errorf("%s: the model has no tokenizer (use --tokenizer FILE)", args[0])
	}
	tok, err := tokenizer.New(m.Vocab)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	ids := tok.Encode(prompt, true)
	if len(ids) == 0 {
		if bos := tok.BOS(); bos >= 0 {
			ids = []int32{bos}
		} else {
			return usageError{"the prompt encodes to no tokens"}
		}
	}
	s := m.NewSession(ctx)
	if len(ids) >= s.Context() {
		return usageError{fmt.Sprintf("the prompt has %d tokens, the context only %d", len(ids), s.Context())}
	}
	out := bufio.NewWriter(stdout)
	out.WriteString(prompt) // the continuation reads on from the prompt, as llama-cli prints it
	dec := tok.NewDecoder()
	dec.After(ids)
	smp := engine.NewSampler(engine.SamplerOptions{Temp: temp, TopK: topK, TopP: topP, Seed: seed})
	st, err := s.Generate(ids, n, smp, tok.EOS(), func(id int32) bool {
		out.WriteString(dec.Next(id))
		return out.Flush() == nil
	})
	out.WriteString(dec.Flush())
	out.WriteString("\n")
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	if !quiet {
		res := m.Residence()
		pages := ""
		if res.HugeShare > 0 {
			pages = fmt.Sprintf(", %.0f%% in 2 MiB pages", 100*res.HugeShare)
		}
		fmt.Fprintf(os.Stderr, "prompt: %d tokens, %.1f tokens/s; generation: %d tokens, %.1f tokens/s (%d threads; weights %s%s)\n",
			st.PromptTokens, st.PromptTPS(), st.GenTokens, st.GenTPS(), m.Threads(), res.Mode, pages)
		if kv, std := m.CacheBytesPerToken(); kv != std {
			fmt.Fprintf(os.Stderr, "key/value cache: %d bytes per token (latent attention; standard attention would hold %d)\n", kv, std)
		}
	}
	return nil
}
