package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink"
	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/format"
)

var benchCmd = &command{
	name: "bench",
	args: "MODEL --text FILE [--baseline MODEL | --baseline-logits FILE] [--tasks FILE...] [--ctx N] [--chunks N] [--threads N] [--speed] [--json FILE] [--html FILE]\n" +
		"       shrink bench --synthetic SHAPE --type TYPE [--json FILE]\n       shrink bench --tensors MODEL --baseline MODEL",
	summary: "perplexity, KL divergence from a baseline, task accuracy, speed, memory and per-tensor error of a model",
	flags: func(fs *pflag.FlagSet) {
		fs.String("text", "", "evaluation text file (perplexity, divergence)")
		fs.String("baseline", "", "baseline model (the original) to measure KL divergence, top-1 agreement and Δp against")
		fs.String("baseline-logits", "", "baseline file written by --save-baseline, or llama.cpp's --kl-divergence-base file, instead of --baseline")
		fs.String("save-baseline", "", "write what KL divergence needs (tokens and quantized log-probabilities) to this file")
		fs.Int("ctx", 512, "chunk size in tokens (llama.cpp's -c)")
		fs.Int("chunks", 0, "score at most this many chunks (0: all)")
		fs.Int("threads", 0, "goroutines per matrix product (default: all cores)")
		fs.Bool("mmap", false, "keep a large GGUF file mapped, shared and read-only (instant load, shared pages) instead of copying it into 2 MiB pages as by default when it fits in half the available memory (Linux)")
		fs.Bool("keep-cache", false, "with a mapped GGUF file, never drop its cached pages to re-read it in 2 MiB pages (Linux; by default a file cached in small pages is re-read once)")
		fs.Bool("huge-pages", false, "the copy into 2 MiB pages, now the default")
		_ = fs.MarkDeprecated("huge-pages", "the copy into 2 MiB pages is the default; --mmap keeps the file mapped")
		fs.Bool("speed", false, "measure prefill and decode speed and peak memory")
		fs.Int("speed-prefill", 128, "prompt tokens for --speed")
		fs.Int("speed-decode", 32, "decoded tokens for --speed")
		fs.Int("speed-repeats", 3, "measured repetitions for --speed (after one warm-up)")
		fs.String("synthetic", "", "measure the speed of a shape with random weights: tinyllama-1.1b, llama-3b, llama-7b, qwen2-0.5b, stories260k, qwen1.5-moe-a2.7b, deepseek-v2-lite (its expert shape on a qwen2moe attention), deepseek-v2-lite-mla (DeepSeek-V2-Lite with latent attention), deepseek-v3-layer (one DeepSeek-V3 MoE layer; change experts, layers, vocab to fit memory; deepseek2 keys q_lora, kv_lora, nope, rope, v_head, shared_experts, dense_lead) or dim=..,layers=..,heads=..,kv_heads=..,ffn=..,vocab=.. (after a named shape to change it: deepseek-v2-lite,layers=4)")
		fs.String("type", "q4_0", "matrix type of --synthetic")
		fs.String("save-synthetic", "", "with --synthetic: write the model to this GGUF file (for llama-bench and shrink bench --speed on the same file) instead of timing it")
		fs.StringSlice("tasks", nil, "task files to score (repeat, separate with commas, or list them after MODEL): llama-perplexity's HellaSwag (6 lines a task), WinoGrande (CSV) and multiple-choice (binary) files, or .jsonl domain tasks. "+
			"Format detection: a .jsonl/.json name is a domain file (\"choice\" when its first item has \"choices\", else \"generate\"); a file starting with a task count n and an offset table whose first entry is 4+4n is multiple-choice; a text of 6k lines with a number 0-3 on line 2 of every 6 is HellaSwag; anything else is WinoGrande CSV")
		fs.String("task-format", "", "read every --tasks file in this format instead of detecting it: "+strings.Join(bench.TaskFormats, ", "))
		fs.Int("task-limit", 0, "score this many randomly drawn items per llama.cpp task file, drawn as llama-perplexity's --hellaswag-tasks / --winogrande-tasks / --multiple-choice-tasks do (0: llama.cpp's default, 400 for HellaSwag and all for the others; -1: all)")
		fs.Int("task-ctx", 0, "most tokens of one task item, as llama-perplexity's -c for its task modes (0: --ctx)")
		fs.Int("max-tokens", 64, "most tokens a generation task may produce")
		fs.StringArray("stop", nil, "stop string of generation tasks (repeat for several; the output is cut before it)")
		fs.Bool("tensors", false, "per-tensor weight error of MODEL against --baseline (RMSE, SNR), worst first")
		fs.String("tokenizer", "", "tokenizer file to use instead of the one found with MODEL")
		fs.String("json", "", "write the shrink.bench/v1 report to this file")
		fs.String("html", "", "write a self-contained HTML report with charts to this file")
		fs.String("md", "", "write the Markdown table to this file")
		fs.BoolP("quiet", "q", false, "no progress or table output")
	},
	run: runBench,
}

func runBench(fs *pflag.FlagSet, args []string) error {
	opt := benchOptions(fs)
	quiet := flagBool(fs, "quiet")
	if len(opt.Tasks) > 0 && len(args) > 1 {
		opt.Tasks = append(opt.Tasks, args[1:]...) // --tasks a.txt b.csv
		args = args[:1]
	}
	if opt.Synthetic != "" {
		if len(args) != 0 {
			return usageError{"--synthetic takes no MODEL"}
		}
		if save := flagString(fs, "save-synthetic"); save != "" {
			return saveSynthetic(opt.Synthetic, opt.Type, save, quiet)
		}
	} else if err := wantArgs(args, 1, "MODEL"); err != nil {
		return err
	}
	if !quiet {
		opt.Progress = benchProgress()
	}
	model := ""
	if len(args) == 1 {
		model = args[0]
	}
	ctx, stop := interruptContext()
	defer stop()
	r, err := shrink.Bench(ctx, model, opt)
	if !quiet {
		endProgress()
	}
	if err != nil {
		return fromLib(err)
	}
	if !quiet {
		if err := bench.WriteMarkdown(stdout, []*bench.Report{r}); err != nil {
			return err
		}
	}
	if r.Failure != nil {
		return fmt.Errorf("%w: %s", errCheckFailed, r.Failure.Reason)
	}
	return nil
}

// benchOptions reads the flags into the library's options.
func benchOptions(fs *pflag.FlagSet) shrink.BenchOptions {
	opt := shrink.BenchOptions{
		Text: flagString(fs, "text"), Baseline: flagString(fs, "baseline"),
		BaselineLogits: flagString(fs, "baseline-logits"), SaveBaseline: flagString(fs, "save-baseline"),
		Ctx: flagInt(fs, "ctx"), Chunks: flagInt(fs, "chunks"), Threads: flagInt(fs, "threads"),
		Mmap: flagBool(fs, "mmap"), KeepCache: flagBool(fs, "keep-cache"),
		Speed: flagBool(fs, "speed"), SpeedPrefill: flagInt(fs, "speed-prefill"),
		SpeedDecode: flagInt(fs, "speed-decode"), SpeedRepeats: flagInt(fs, "speed-repeats"),
		Synthetic: flagString(fs, "synthetic"), Type: flagString(fs, "type"),
		Tasks: flagStringSlice(fs, "tasks"), TaskFormat: flagString(fs, "task-format"),
		TaskLimit: flagInt(fs, "task-limit"), TaskCtx: flagInt(fs, "task-ctx"),
		MaxTokens: flagInt(fs, "max-tokens"), Stop: flagStringArray(fs, "stop"),
		Tensors: flagBool(fs, "tensors"), Tokenizer: flagString(fs, "tokenizer"),
		JSON: flagString(fs, "json"), HTML: flagString(fs, "html"), MD: flagString(fs, "md"),
	}
	if !fs.Changed("ctx") && opt.BaselineLogits != "" {
		opt.Ctx = 0 // take the file's
	}
	return opt
}

// benchProgress draws Bench's progress on stderr: the synthetic model's
// build line always, the chunk and task counters on a terminal only.
func benchProgress() shrink.ProgressFunc {
	term := isTerminal(os.Stderr)
	return func(p shrink.Progress) {
		switch {
		case p.Stage == "build":
			fmt.Fprintln(os.Stderr, p.Message)
		case !term:
		case p.Stage == "text":
			fmt.Fprintf(os.Stderr, "\r\033[K[%d/%d chunks] %s  %.1fs", p.Done, p.Total, p.Message, p.Elapsed.Seconds())
		case p.Stage == "task":
			fmt.Fprintf(os.Stderr, "\r\033[K[%s %d/%d] %.1fs", p.Message, p.Done, p.Total, p.Elapsed.Seconds())
		}
	}
}

func writeHTMLFile(path, title string, reports []*bench.Report) error {
	f, err := format.CreateAtomic(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := bench.WriteHTML(f, title, reports); err != nil {
		return err
	}
	return f.Commit()
}

func writeMarkdownFile(path string, reports []*bench.Report) error {
	f, err := format.CreateAtomic(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := bench.WriteMarkdown(f, reports); err != nil {
		return err
	}
	return f.Commit()
}

// saveSynthetic writes the --synthetic model to the --save-synthetic file.
func saveSynthetic(shape, typ, path string, quiet bool) error {
	sh, err := bench.ParseShape(shape)
	if err != nil {
		return usageError{err.Error()}
	}
	t, ok := format.ParseDType(typ)
	if !ok {
		return usageError{fmt.Sprintf("--type %q is not a GGML type", typ)}
	}
	if err := bench.WriteSyntheticGGUF(path, sh, t); err != nil {
		return err
	}
	if !quiet {
		fmt.Fprintf(os.Stderr, "wrote %s\n", path)
	}
	return nil
}
