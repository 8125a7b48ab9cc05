package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/engine"
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

// benchConfig is a parsed bench command line.
type benchConfig struct {
	model, text, baseline, baseLogits, saveBase string
	ctx, chunks, threads                        int
	speed                                       bool
	speedOpt                                    bench.SpeedOptions
	synthetic, synType, saveSynth               string
	tensors                                     bool
	tokenizer, jsonOut, htmlOut, mdOut          string
	tasks                                       []string
	taskFormat                                  string
	taskOpt                                     bench.TaskOptions
	quiet                                       bool
	mmap                                        bool // engine.Options.Mmap
	keep                                        bool // engine.Options.KeepCache
}

func runBench(fs *pflag.FlagSet, args []string) error {
	var c benchConfig
	c.text = flagString(fs, "text")
	c.baseline = flagString(fs, "baseline")
	c.baseLogits = flagString(fs, "baseline-logits")
	c.saveBase = flagString(fs, "save-baseline")
	c.ctx = flagInt(fs, "ctx")
	c.chunks = flagInt(fs, "chunks")
	c.threads = flagInt(fs, "threads")
	c.mmap = flagBool(fs, "mmap")
	c.keep = flagBool(fs, "keep-cache")
	c.speed = flagBool(fs, "speed")
	c.speedOpt.Prefill = flagInt(fs, "speed-prefill")
	c.speedOpt.Decode = flagInt(fs, "speed-decode")
	c.speedOpt.Repeats = flagInt(fs, "speed-repeats")
	c.synthetic = flagString(fs, "synthetic")
	c.synType = flagString(fs, "type")
	c.saveSynth = flagString(fs, "save-synthetic")
	c.tensors = flagBool(fs, "tensors")
	c.tokenizer = flagString(fs, "tokenizer")
	c.jsonOut = flagString(fs, "json")
	c.htmlOut = flagString(fs, "html")
	c.mdOut = flagString(fs, "md")
	c.quiet = flagBool(fs, "quiet")
	c.tasks = flagStringSlice(fs, "tasks")
	c.taskFormat = flagString(fs, "task-format")
	c.taskOpt.Limit = flagInt(fs, "task-limit")
	c.taskOpt.Ctx = flagInt(fs, "task-ctx")
	c.taskOpt.MaxTokens = flagInt(fs, "max-tokens")
	c.taskOpt.Stop = flagStringArray(fs, "stop")
	if c.taskOpt.MaxTokens < 1 || c.taskOpt.Limit < -1 || c.taskOpt.Ctx < 0 {
		return usageError{"--max-tokens must be at least 1, --task-limit at least -1, --task-ctx not negative"}
	}
	if c.taskFormat != "" && !slices.Contains(bench.TaskFormats, c.taskFormat) {
		return usageError{fmt.Sprintf("--task-format %q: want one of %s", c.taskFormat, strings.Join(bench.TaskFormats, ", "))}
	}
	if len(c.tasks) > 0 && len(args) > 1 {
		c.tasks = append(c.tasks, args[1:]...) // --tasks a.txt b.csv
		args = args[:1]
	}
	if c.ctx < 4 || c.chunks < 0 || c.threads < 0 || c.speedOpt.Prefill < 1 || c.speedOpt.Decode < 1 || c.speedOpt.Repeats < 1 {
		return usageError{"--ctx must be at least 4; --chunks and --threads not negative; --speed-* at least 1"}
	}
	if !fs.Changed("ctx") && c.baseLogits != "" {
		c.ctx = 0 // take the file's
	}
	var r *bench.Report
	var err error
	switch {
	case c.synthetic != "":
		if len(args) != 0 {
			return usageError{"--synthetic takes no MODEL"}
		}
		if c.saveSynth != "" {
			return saveSynthetic(&c)
		}
		r, err = benchSynthetic(&c)
	default:
		if err := wantArgs(args, 1, "MODEL"); err != nil {
			return err
		}
		c.model = args[0]
		r, err = benchModel(&c)
	}
	if err != nil {
		return err
	}
	if err := emitReport(r, &c); err != nil {
		return err
	}
	if r.Failure != nil {
		return fmt.Errorf("%w: %s", errCheckFailed, r.Failure.Reason)
	}
	return nil
}

func emitReport(r *bench.Report, c *benchConfig) error {
	r.Tool = &bench.Tool{Name: "shrink", Version: version, Created: time.Now().UTC().Format(time.RFC3339)}
	if c.jsonOut != "" {
		if err := r.WriteFile(c.jsonOut); err != nil {
			return err
		}
	}
	reports := []*bench.Report{r}
	if c.htmlOut != "" {
		if err := writeHTMLFile(c.htmlOut, "shrink bench: "+r.Name(), reports); err != nil {
			return err
		}
	}
	if c.mdOut != "" {
		if err := writeMarkdownFile(c.mdOut, reports); err != nil {
			return err
		}
	}
	if !c.quiet {
		return bench.WriteMarkdown(stdout, reports)
	}
	return nil
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
func saveSynthetic(c *benchConfig) error {
	sh, err := bench.ParseShape(c.synthetic)
	if err != nil {
		return usageError{err.Error()}
	}
	t, ok := format.ParseDType(c.synType)
	if !ok {
		return usageError{fmt.Sprintf("--type %q is not a GGML type", c.synType)}
	}
	if err := bench.WriteSyntheticGGUF(c.saveSynth, sh, t); err != nil {
		return err
	}
	if !c.quiet {
		fmt.Fprintf(os.Stderr, "wrote %s\n", c.saveSynth)
	}
	return nil
}

func benchSynthetic(c *benchConfig) (*bench.Report, error) {
	sh, err := bench.ParseShape(c.synthetic)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	t, ok := format.ParseDType(c.synType)
	if !ok {
		return nil, usageError{fmt.Sprintf("--type %q is not a GGML type", c.synType)}
	}
	start := time.Now()
	m, mi, err := bench.SyntheticModel(sh, t, engine.Options{Threads: c.threads})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if !c.quiet {
		fmt.Fprintf(os.Stderr, "built %s (%d parameters, %s, %.2f bits/weight) in %.1fs\n", c.synthetic, mi.Params, bench.HumanBytes(int64(float64(mi.Params)*mi.BitsPerWeight/8)), mi.BitsPerWeight, time.Since(start).Seconds())
	}
	r := bench.New()
	mi.Path = ""
	r.Model = mi
	r.Synthetic = &bench.Synthetic{Shape: c.synthetic, Type: t.String()}
	r.Threads = m.Threads()
	sp, err := bench.MeasureSpeed(context.Background(), m, c.speedOpt)
	if err != nil {
		return nil, err
	}
	r.Speed = sp
	r.Memory = bench.MemoryOf(m)
	return r, nil
}

func benchModel(c *benchConfig) (*bench.Report, error) {
	if c.baseline != "" && c.baseLogits != "" {
		return nil, usageError{"give --baseline or --baseline-logits, not both"}
	}
	if c.tensors && c.baseline == "" {
		return nil, usageError{"--tensors needs --baseline MODEL (the source checkpoint)"}
	}
	if c.text == "" && c.baseLogits == "" && !c.speed && !c.tensors && len(c.tasks) == 0 {
		return nil, usageError{"nothing to measure: give --text FILE, --baseline-logits FILE, --tasks FILE, --speed or --tensors"}
	}
	files, err := readTaskFiles(c)
	if err != nil {
		return nil, err
	}
	if c.saveBase != "" && c.text == "" {
		return nil, usageError{"--save-baseline needs --text FILE"}
	}
	r := bench.New()
	mi, err := bench.DescribeModel(c.model)
	if err != nil {
		return nil, err
	}
	r.Model = mi
	if c.tensors {
		ts, ls, err := bench.TensorErrors(c.model, c.baseline)
		if err != nil {
			return nil, err
		}
		r.Tensors, r.Layers = ts, ls
		if c.text == "" && !c.speed && len(files) == 0 {
			if r.Baseline == nil {
				r.Baseline = &bench.Baseline{Path: c.baseline}
			}
			return r, nil
		}
	}
	m, err := engine.Load(c.model, engine.Options{Threads: c.threads, Tokenizer: c.tokenizer, Mmap: c.mmap, KeepCache: c.keep})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	r.Threads = m.Threads()
	if c.text != "" || c.baseLogits != "" {
		if err := benchText(c, m, r); err != nil {
			return nil, err
		}
	}
	if err := benchTasks(c, m, r, files); err != nil {
		return nil, err
	}
	if c.speed {
		sp, err := bench.MeasureSpeed(context.Background(), m, c.speedOpt)
		if err != nil {
			return nil, err
		}
		r.Speed = sp
	}
	if c.speed || c.text != "" || c.baseLogits != "" || len(files) > 0 {
		r.Memory = bench.MemoryOf(m)
	}
	return r, nil
}

func benchText(c *benchConfig, m *engine.Model, r *bench.Report) error {
	opt := bench.EvalOptions{Ctx: c.ctx, Chunks: c.chunks, BOS: -1}
	var toks []int32
	basePath := c.baseline
	if m.Vocab != nil {
		if t, err := tokenizerBOS(m); err == nil {
			opt.BOS = t
		}
	}
	if c.text != "" {
		data, err := os.ReadFile(c.text)
		if err != nil {
			return err
		}
		var bos int32
		if toks, bos, err = bench.Tokenize(m.Vocab, string(data)); err != nil {
			return fmt.Errorf("%s: %w", c.model, err)
		}
		opt.BOS = bos
		r.Text = &bench.TextInfo{Path: c.text, Bytes: int64(len(data)), Tokens: len(toks)}
	}
	if c.baseLogits != "" {
		bf, err := bench.OpenBaseline(c.baseLogits)
		if err != nil {
			return err
		}
		defer bf.Close()
		opt.BaselineFile = bf
		basePath = c.baseLogits
		if r.Text == nil {
			r.Text = &bench.TextInfo{Path: c.baseLogits, Tokens: len(bf.Tokens)}
		}
	}
	if c.baseline != "" {
		bm, err := engine.Load(c.baseline, engine.Options{Threads: c.threads, Tokenizer: c.tokenizer})
		if err != nil {
			return err
		}
		defer bm.Close()
		opt.Baseline = bm
	}
	var save *format.AtomicFile
	if c.saveBase != "" {
		plan, err := bench.ChunkPlan(toks, c.ctx, c.chunks)
		if err != nil {
			return fmt.Errorf("%s: %w", c.text, err)
		}
		if save, err = format.CreateAtomic(c.saveBase); err != nil {
			return err
		}
		defer save.Abort()
		if opt.Save, err = bench.NewBaselineWriter(save, c.ctx, m.Config.VocabSize, opt.BOS, plan); err != nil {
			return err
		}
	}
	if !c.quiet && isTerminal(os.Stderr) {
		start := time.Now()
		opt.Progress = func(done, total int, ppl float64) {
			fmt.Fprintf(os.Stderr, "\r\033[K[%d/%d chunks] PPL %.4f  %.1fs", done, total, ppl, time.Since(start).Seconds())
		}
	}
	res, err := bench.Evaluate(context.Background(), m, toks, opt)
	if opt.Progress != nil {
		endProgress()
	}
	if err != nil {
		if c.text != "" {
			return fmt.Errorf("%s: %w", c.text, err)
		}
		return err
	}
	if save != nil && res.Failure == nil {
		if err := opt.Save.Close(); err != nil {
			return err
		}
		if err := save.Commit(); err != nil {
			return err
		}
	}
	res.Fill(r, basePath)
	return nil
}

// readTaskFiles reads every --tasks file before a model is loaded, so that
// a bad file fails at once.
func readTaskFiles(c *benchConfig) ([]*bench.TaskFile, error) {
	var files []*bench.TaskFile
	for _, p := range c.tasks {
		f, err := bench.ReadTaskFile(p, c.taskFormat)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// benchTasks scores every task file on m into r.Tasks. The context (--ctx)
// (or --task-ctx) bounds an item's tokens as llama-perplexity's -c does.
func benchTasks(c *benchConfig, m *engine.Model, r *bench.Report, files []*bench.TaskFile) error {
	opt := c.taskOpt
	if opt.Ctx == 0 {
		opt.Ctx = c.ctx
	}
	if opt.Ctx == 0 {
		opt.Ctx = 512
	}
	for _, f := range files {
		if !c.quiet && isTerminal(os.Stderr) {
			start := time.Now()
			opt.Progress = func(done, total int) {
				fmt.Fprintf(os.Stderr, "\r\033[K[%s %d/%d] %.1fs", f.Name, done, total, time.Since(start).Seconds())
			}
		}
		res, err := bench.EvaluateTask(context.Background(), m, f, opt)
		if opt.Progress != nil {
			endProgress()
		}
		if err != nil {
			return err
		}
		r.Tasks = append(r.Tasks, *res)
	}
	return nil
}

// tokenizerBOS returns the BOS token that replaces each chunk's first token
// when the model's vocabulary adds one, else -1.
func tokenizerBOS(m *engine.Model) (int32, error) {
	_, bos, err := bench.Tokenize(m.Vocab, "")
	return bos, err
}
