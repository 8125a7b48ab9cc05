package shrink

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
)

// BenchOptions are the options of Bench, named as shrink bench's flags. A
// zero field takes the flag's default.
type BenchOptions struct {
	// Text is the evaluation text file (perplexity, divergence).
	Text string `json:"text"`
	// Baseline is the model (the original) to measure KL divergence,
	// top-1 agreement and Δp against.
	Baseline string `json:"baseline"`
	// BaselineLogits is a file written by SaveBaseline, or llama.cpp's
	// --kl-divergence-base file, instead of Baseline.
	BaselineLogits string `json:"baseline-logits"`
	// SaveBaseline writes what KL divergence needs (tokens and quantized
	// log-probabilities) to this file.
	SaveBaseline string `json:"save-baseline"`
	// Ctx is the chunk size in tokens (default 512; with BaselineLogits,
	// the file's).
	Ctx int `json:"ctx"`
	// Chunks scores at most this many chunks (0: all).
	Chunks int `json:"chunks"`
	// Threads is the number of goroutines per matrix product (0: all
	// cores).
	Threads int `json:"threads"`
	// Mmap keeps a large GGUF file mapped instead of copying it into 2
	// MiB pages (engine.Options.Mmap).
	Mmap bool `json:"mmap"`
	// KeepCache never drops a mapped file's cached pages
	// (engine.Options.KeepCache).
	KeepCache bool `json:"keep-cache"`
	// Speed measures prefill and decode speed and peak memory.
	Speed bool `json:"speed"`
	// SpeedPrefill, SpeedDecode and SpeedRepeats shape the speed
	// measurement (defaults 128, 32 and 3).
	SpeedPrefill int `json:"speed-prefill"`
	SpeedDecode  int `json:"speed-decode"`
	SpeedRepeats int `json:"speed-repeats"`
	// Synthetic measures the speed of a shape with random weights
	// (bench.ParseShape) instead of a model file.
	Synthetic string `json:"synthetic"`
	// Type is the matrix type of Synthetic (default q4_0).
	Type string `json:"type"`
	// Tasks are task files to score (bench.ReadTaskFile).
	Tasks []string `json:"tasks"`
	// TaskFormat reads every task file in this format instead of
	// detecting it (one of bench.TaskFormats).
	TaskFormat string `json:"task-format"`
	// TaskLimit, TaskCtx, MaxTokens and Stop are bench.TaskOptions'
	// Limit, Ctx, MaxTokens (default 64) and Stop.
	TaskLimit int      `json:"task-limit"`
	TaskCtx   int      `json:"task-ctx"`
	MaxTokens int      `json:"max-tokens"`
	Stop      []string `json:"stop"`
	// Tensors measures the per-tensor weight error of the model against
	// Baseline (RMSE, SNR).
	Tensors bool `json:"tensors"`
	// Tokenizer is a tokenizer file to use instead of the model's.
	Tokenizer string `json:"tokenizer"`
	// JSON, HTML and MD write the report (shrink.bench/v1 JSON, a
	// self-contained HTML page, the Markdown table) to these files.
	JSON string `json:"json"`
	HTML string `json:"html"`
	MD   string `json:"md"`

	// Progress receives updates: stage "build" once a synthetic model is
	// built, "text" after each chunk of the text (Message "PPL x"), "task"
	// after each task item (Message the task's name).
	Progress ProgressFunc `json:"-"`
}

// DefaultBenchOptions returns the options shrink bench uses when no flag
// is given.
func DefaultBenchOptions() BenchOptions {
	return BenchOptions{Ctx: 512, SpeedPrefill: 128, SpeedDecode: 32, SpeedRepeats: 3, Type: "q4_0", MaxTokens: 64}
}

// withDefaults fills the zero fields that have a default.
func (o BenchOptions) withDefaults() BenchOptions {
	d := DefaultBenchOptions()
	if o.Ctx == 0 && o.BaselineLogits == "" {
		o.Ctx = d.Ctx
	}
	for _, f := range []struct{ v, d *int }{{&o.SpeedPrefill, &d.SpeedPrefill}, {&o.SpeedDecode, &d.SpeedDecode},
		{&o.SpeedRepeats, &d.SpeedRepeats}, {&o.MaxTokens, &d.MaxTokens}} {
		if *f.v == 0 {
			*f.v = *f.d
		}
	}
	if o.Type == "" {
		o.Type = d.Type
	}
	return o
}

// check validates the options' values.
func (o *BenchOptions) check() error {
	if o.MaxTokens < 1 || o.TaskLimit < -1 || o.TaskCtx < 0 {
		return usageErr("--max-tokens must be at least 1, --task-limit at least -1, --task-ctx not negative")
	}
	if o.TaskFormat != "" && !slices.Contains(bench.TaskFormats, o.TaskFormat) {
		return usageErr(fmt.Sprintf("--task-format %q: want one of %s", o.TaskFormat, strings.Join(bench.TaskFormats, ", ")))
	}
	if o.Ctx < 0 || (o.Ctx > 0 && o.Ctx < 4) || o.Chunks < 0 || o.Threads < 0 || o.SpeedPrefill < 1 || o.SpeedDecode < 1 || o.SpeedRepeats < 1 {
		return usageErr("--ctx must be at least 4; --chunks and --threads not negative; --speed-* at least 1")
	}
	return nil
}

func (o *BenchOptions) speedOptions() bench.SpeedOptions {
	return bench.SpeedOptions{Prefill: o.SpeedPrefill, Decode: o.SpeedDecode, Repeats: o.SpeedRepeats}
}

// Bench measures a model as shrink bench does and returns its report:
// perplexity of Text, KL divergence, top-1 agreement and Δp against
// Baseline or BaselineLogits, task accuracy, speed and memory, per-tensor
// error (Tensors); or, with opt.Synthetic set and model empty, the speed
// of a synthetic shape. The report is also written to opt.JSON, opt.HTML
// and opt.MD when they are set. A measurement that stopped on bad values
// (NaN logits) is recorded in the report's Failure, not returned as an
// error. Bench stops between chunks, task items and speed runs when ctx is
// done.
func Bench(ctx context.Context, model string, opt BenchOptions) (*bench.Report, error) {
	start := time.Now()
	opt = opt.withDefaults()
	if err := opt.check(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var r *bench.Report
	var err error
	if opt.Synthetic != "" {
		if model != "" {
			return nil, usageErr("--synthetic takes no MODEL")
		}
		r, err = benchSynthetic(ctx, &opt, start)
	} else {
		if model == "" {
			return nil, usageErr("want MODEL, got 0 argument(s)")
		}
		r, err = benchModel(ctx, model, &opt, start)
	}
	if err != nil {
		return nil, err
	}
	r.Tool = &bench.Tool{Name: "shrink", Version: Version, Created: time.Now().UTC().Format(time.RFC3339)}
	if err := writeReports(r, &opt); err != nil {
		return nil, err
	}
	return r, nil
}

// writeReports writes the report files the options ask for.
func writeReports(r *bench.Report, opt *BenchOptions) error {
	if opt.JSON != "" {
		if err := r.WriteFile(opt.JSON); err != nil {
			return err
		}
	}
	reports := []*bench.Report{r}
	if opt.HTML != "" {
		err := writeAtomic(opt.HTML, func(w io.Writer) error { return bench.WriteHTML(w, "shrink bench: "+r.Name(), reports) })
		if err != nil {
			return err
		}
	}
	if opt.MD != "" {
		return writeAtomic(opt.MD, func(w io.Writer) error { return bench.WriteMarkdown(w, reports) })
	}
	return nil
}

// writeAtomic writes path through write, atomically.
func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := format.CreateAtomic(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f); err != nil {
		return err
	}
	return f.Commit()
}

// benchSynthetic times a synthetic model of opt.Synthetic's shape.
func benchSynthetic(ctx context.Context, opt *BenchOptions, start time.Time) (*bench.Report, error) {
	sh, err := bench.ParseShape(opt.Synthetic)
	if err != nil {
		return nil, usageErr(err.Error())
	}
	t, ok := format.ParseDType(opt.Type)
	if !ok {
		return nil, usageErr(fmt.Sprintf("--type %q is not a GGML type", opt.Type))
	}
	m, mi, err := bench.SyntheticModel(sh, t, engine.Options{Threads: opt.Threads})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	opt.Progress.report(Progress{Stage: "build", Done: 1, Total: 1, Elapsed: time.Since(start),
		Message: fmt.Sprintf("built %s (%d parameters, %s, %.2f bits/weight) in %.1fs", opt.Synthetic, mi.Params,
			bench.HumanBytes(int64(float64(mi.Params)*mi.BitsPerWeight/8)), mi.BitsPerWeight, time.Since(start).Seconds())})
	r := bench.New()
	mi.Path = ""
	r.Model = mi
	r.Synthetic = &bench.Synthetic{Shape: opt.Synthetic, Type: t.String()}
	r.Threads = m.Threads()
	if r.Speed, err = bench.MeasureSpeed(ctx, m, opt.speedOptions()); err != nil {
		return nil, err
	}
	r.Memory = bench.MemoryOf(m)
	return r, nil
}

// benchModel measures the model file at path.
func benchModel(ctx context.Context, path string, opt *BenchOptions, start time.Time) (*bench.Report, error) {
	if err := opt.checkModel(); err != nil {
		return nil, err
	}
	files, err := readTaskFiles(opt)
	if err != nil {
		return nil, err
	}
	r := bench.New()
	if r.Model, err = bench.DescribeModel(path); err != nil {
		return nil, err
	}
	textual := opt.Text != "" || opt.BaselineLogits != ""
	if opt.Tensors {
		if r.Tensors, r.Layers, err = bench.TensorErrors(path, opt.Baseline); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if opt.Text == "" && !opt.Speed && len(files) == 0 {
			if r.Baseline == nil {
				r.Baseline = &bench.Baseline{Path: opt.Baseline}
			}
			return r, nil
		}
	}
	m, err := engine.Load(path, engine.Options{Threads: opt.Threads, Tokenizer: opt.Tokenizer, Mmap: opt.Mmap, KeepCache: opt.KeepCache})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	r.Threads = m.Threads()
	if textual {
		if err := benchText(ctx, path, opt, m, r, start); err != nil {
			return nil, err
		}
	}
	if err := benchTasks(ctx, opt, m, r, files, start); err != nil {
		return nil, err
	}
	if opt.Speed {
		if r.Speed, err = bench.MeasureSpeed(ctx, m, opt.speedOptions()); err != nil {
			return nil, err
		}
	}
	if opt.Speed || textual || len(files) > 0 {
		r.Memory = bench.MemoryOf(m)
	}
	return r, nil
}

// checkModel validates the combination of options for a model file.
func (o *BenchOptions) checkModel() error {
	switch {
	case o.Baseline != "" && o.BaselineLogits != "":
		return usageErr("give --baseline or --baseline-logits, not both")
	case o.Tensors && o.Baseline == "":
		return usageErr("--tensors needs --baseline MODEL (the source checkpoint)")
	case o.Text == "" && o.BaselineLogits == "" && !o.Speed && !o.Tensors && len(o.Tasks) == 0:
		return usageErr("nothing to measure: give --text FILE, --baseline-logits FILE, --tasks FILE, --speed or --tensors")
	}
	return nil
}

// readTaskFiles reads every task file before a model is loaded, so that a
// bad file fails at once.
func readTaskFiles(opt *BenchOptions) ([]*bench.TaskFile, error) {
	var files []*bench.TaskFile
	for _, p := range opt.Tasks {
		f, err := bench.ReadTaskFile(p, opt.TaskFormat)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if opt.SaveBaseline != "" && opt.Text == "" {
		return nil, usageErr("--save-baseline needs --text FILE")
	}
	return files, nil
}

// benchText measures perplexity and, against a baseline, divergence, on
// the text or the baseline file's tokens.
func benchText(ctx context.Context, path string, opt *BenchOptions, m *engine.Model, r *bench.Report, start time.Time) error {
	eo := bench.EvalOptions{Ctx: opt.Ctx, Chunks: opt.Chunks, BOS: -1}
	if m.Vocab != nil {
		if _, bos, err := bench.Tokenize(m.Vocab, ""); err == nil {
			eo.BOS = bos
		}
	}
	toks, err := readText(path, opt, m, r, &eo)
	if err != nil {
		return err
	}
	basePath := opt.Baseline
	if opt.BaselineLogits != "" {
		bf, err := bench.OpenBaseline(opt.BaselineLogits)
		if err != nil {
			return err
		}
		defer bf.Close()
		eo.BaselineFile = bf
		basePath = opt.BaselineLogits
		if r.Text == nil {
			r.Text = &bench.TextInfo{Path: opt.BaselineLogits, Tokens: len(bf.Tokens)}
		}
	}
	if opt.Baseline != "" {
		bm, err := engine.Load(opt.Baseline, engine.Options{Threads: opt.Threads, Tokenizer: opt.Tokenizer})
		if err != nil {
			return err
		}
		defer bm.Close()
		eo.Baseline = bm
	}
	var save *format.AtomicFile
	if opt.SaveBaseline != "" {
		plan, err := bench.ChunkPlan(toks, opt.Ctx, opt.Chunks)
		if err != nil {
			return fmt.Errorf("%s: %w", opt.Text, err)
		}
		if save, err = format.CreateAtomic(opt.SaveBaseline); err != nil {
			return err
		}
		defer save.Abort()
		if eo.Save, err = bench.NewBaselineWriter(save, opt.Ctx, m.Config.VocabSize, eo.BOS, plan); err != nil {
			return err
		}
	}
	if opt.Progress != nil {
		eo.Progress = func(done, total int, ppl float64) {
			opt.Progress(Progress{Stage: "text", Done: done, Total: total, Message: fmt.Sprintf("PPL %.4f", ppl), Elapsed: time.Since(start)})
		}
	}
	res, err := bench.Evaluate(ctx, m, toks, eo)
	if err != nil {
		if opt.Text != "" {
			return fmt.Errorf("%s: %w", opt.Text, err)
		}
		return err
	}
	if save != nil && res.Failure == nil {
		if err := eo.Save.Close(); err != nil {
			return err
		}
		if err := save.Commit(); err != nil {
			return err
		}
	}
	res.Fill(r, basePath)
	return nil
}

// readText reads and tokenizes opt.Text, when given, recording it in r.
func readText(path string, opt *BenchOptions, m *engine.Model, r *bench.Report, eo *bench.EvalOptions) ([]int32, error) {
	if opt.Text == "" {
		return nil, nil
	}
	data, err := os.ReadFile(opt.Text)
	if err != nil {
		return nil, err
	}
	toks, bos, err := bench.Tokenize(m.Vocab, string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	eo.BOS = bos
	r.Text = &bench.TextInfo{Path: opt.Text, Bytes: int64(len(data)), Tokens: len(toks)}
	return toks, nil
}

// benchTasks scores every task file on m into r.Tasks. The context (Ctx,
// or TaskCtx) bounds an item's tokens as llama-perplexity's -c does.
func benchTasks(ctx context.Context, opt *BenchOptions, m *engine.Model, r *bench.Report, files []*bench.TaskFile, start time.Time) error {
	to := bench.TaskOptions{Limit: opt.TaskLimit, Ctx: opt.TaskCtx, MaxTokens: opt.MaxTokens, Stop: opt.Stop}
	if to.Ctx == 0 {
		to.Ctx = opt.Ctx
	}
	if to.Ctx == 0 {
		to.Ctx = 512
	}
	for _, f := range files {
		if opt.Progress != nil {
			to.Progress = func(done, total int) {
				opt.Progress(Progress{Stage: "task", Done: done, Total: total, Message: f.Name, Elapsed: time.Since(start)})
			}
		}
		res, err := bench.EvaluateTask(ctx, m, f, to)
		if err != nil {
			return err
		}
		r.Tasks = append(r.Tasks, *res)
	}
	return nil
}
