package shrink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/calib"
	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/linalg"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/prune"
)

// PruneOptions are the options of Prune, one field per flag of shrink
// prune (the JSON names are the flag names). Start from
// DefaultPruneOptions; a zero Ctx, FFNMultiple or empty string option
// takes its default.
type PruneOptions struct {
	// Calib is the calibration text of the domain to keep (required).
	Calib string `json:"calib"`
	// Eval is a general text whose perplexity before and after is reported.
	Eval string `json:"eval"`
	// FFN is the fraction of all feed-forward channels to remove (of a
	// deepseek2 model: of its dense leading blocks).
	FFN float64 `json:"ffn"`
	// Heads is the fraction of all attention (query) heads to remove.
	Heads float64 `json:"heads"`
	// Layers is the number of whole blocks to remove.
	Layers int `json:"layers"`
	// TargetParams is a parameter budget instead of ratios: a fraction
	// ("0.7") or a count ("2.5M").
	TargetParams string `json:"target-params"`
	// Experts is the number ("2") or fraction ("0.25") of routed experts
	// to remove from every MoE layer: alone, or on deepseek2 models with
	// Heads and FFN.
	Experts string `json:"experts"`
	// ExpertScore ranks experts: reap, freq or mass.
	ExpertScore string `json:"expert-score"`
	// Score is the importance: activation or magnitude.
	Score string `json:"score"`
	// Allocate is how layers compete: relative or absolute.
	Allocate string `json:"allocate"`
	// MinKeep is the fraction of its channels and heads every layer keeps.
	MinKeep float64 `json:"min-keep"`
	// FFNMultiple rounds every layer's kept channels to a multiple of it.
	FFNMultiple int `json:"ffn-multiple"`
	// NoRepair skips the least-squares refit of down_proj and o_proj.
	NoRepair bool `json:"no-repair"`
	// Ridge is the repair's regularisation relative to the mean input
	// energy.
	Ridge float64 `json:"ridge"`
	// GGUFArch is the architecture of a GGUF output: auto, llama or deci.
	GGUFArch string `json:"gguf-arch"`
	// StatsMem is the GiB for the repair's Gram matrices of every layer
	// in the calibration pass; beyond it they come block by block.
	StatsMem float64 `json:"stats-mem"`
	// Ctx is the chunk size in tokens for calibration and perplexity.
	Ctx int `json:"ctx"`
	// Chunks is the most chunks per text (0: all).
	Chunks int `json:"chunks"`
	// EvalChunks is the most chunks of each text (calibration and Eval)
	// whose perplexity before and after is reported: the first ones, at
	// most Chunks. 0 skips the report (each reported chunk runs both
	// models once).
	EvalChunks int `json:"eval-chunks"`
	// Threads is the goroutines per matrix product (0: all cores).
	Threads int `json:"threads"`
	// Tokenizer is a tokenizer file to use instead of the source's.
	Tokenizer string `json:"tokenizer"`

	// Recipe is recorded in the output as its provenance (empty: built
	// from the options).
	Recipe string `json:"-"`
	// Progress receives progress: updates with Total > 0 count chunks
	// of a calibration or evaluation pass, or tensors written; updates
	// with Total == 0 carry a line worth keeping in Message, a warning
	// when Stage is "warning".
	Progress ProgressFunc `json:"-"`
}

// DefaultPruneOptions returns the options shrink prune has by default.
func DefaultPruneOptions() PruneOptions {
	return PruneOptions{ExpertScore: "reap", Score: "activation", Allocate: "relative", MinKeep: 0.1, FFNMultiple: 32,
		Ridge: 1e-3, GGUFArch: "auto", StatsMem: 4, Ctx: 512, EvalChunks: 16}
}

// PerplexityPair is a text's perplexity before and after a change.
type PerplexityPair struct {
	Path string `json:"path"`
	// Chunks is the number of chunks evaluated (the text's first), Tokens
	// the tokens scored in them.
	Chunks int     `json:"chunks"`
	Tokens int     `json:"tokens"`
	Before float64 `json:"ppl_before"`
	After  float64 `json:"ppl_after"`
	// Ratio is After/Before.
	Ratio float64 `json:"ppl_ratio"`
}

// PruneResult is what Prune did.
type PruneResult struct {
	// Schema is "shrink.prune/v1", or "shrink.prune-experts/v1" when
	// only routed experts were removed (Layers is then empty).
	Schema       string `json:"schema"`
	Source       string `json:"source"`
	Output       string `json:"output"`
	Recipe       string `json:"recipe,omitempty"`
	Score        string `json:"score"`
	Repair       bool   `json:"repair"`
	Ctx          int    `json:"ctx"`
	ParamsBefore int64  `json:"params_before"`
	ParamsAfter  int64  `json:"params_after"`
	// Removed are the source blocks removed.
	Removed []int               `json:"layers_removed,omitempty"`
	Layers  []prune.LayerReport `json:"layers,omitempty"`
	// ExpertsBefore and ExpertsAfter count routed experts per MoE layer
	// when experts were removed, Experts reports each MoE layer.
	ExpertsBefore int                 `json:"experts_before,omitempty"`
	ExpertsAfter  int                 `json:"experts_after,omitempty"`
	Experts       []prune.ExpertLayer `json:"experts,omitempty"`
	Calib         *PerplexityPair     `json:"calib"`
	Eval          *PerplexityPair     `json:"eval,omitempty"`
	Warnings      []string            `json:"warnings,omitempty"`
	Seconds       float64             `json:"seconds"`
}

// pruneJob is one Prune call's state.
type pruneJob struct {
	ctx       context.Context
	src, dst  string
	opt       PruneOptions
	t         prune.Targets
	arch      string
	start     time.Time
	em        *engine.Model
	calibToks []int32
	bos       int32
	evalText  []byte
	res       *PruneResult
	spill     *gramSpill // the Gram matrices kept on disk, or nil
	// calibBefore is the calibration text's perplexity on the source
	// from the calibration pass (calibHead), or nil.
	calibBefore *PerplexityPair
}

// Prune removes structure from the model src for the domain of
// opt.Calib and writes the result to dst (.gguf, or a Hugging Face folder
// when widths stay uniform): feed-forward channels, attention heads and
// whole blocks of llama-family models (scored on the calibration text,
// repaired by least squares), routed experts of MoE models, and latent
// attention heads, dense-block channels and experts of deepseek2 models
// together, from one calibration run. It reports the perplexity of the
// calibration and opt.Eval texts before and after. Cancelling ctx stops
// it between chunks, blocks and tensors; nothing is left at dst then.
func Prune(ctx context.Context, src, dst string, opt PruneOptions) (*PruneResult, error) {
	j := &pruneJob{ctx: ctx, src: src, dst: dst, opt: opt.withDefaults(), start: time.Now(), bos: -1}
	if err := j.check(); err != nil {
		return nil, err
	}
	if j.opt.Recipe == "" {
		j.opt.Recipe = j.opt.recipe()
	}
	if j.opt.Experts != "" {
		return j.run(false, j.experts)
	}
	// Large pointer-free buffers (residual streams, Gram matrices, a
	// block's float32 tensors): collect at 10% heap growth to keep the
	// peak near the live size (marking them costs little).
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	return j.run(true, j.dense)
}

// run loads the source into the engine (streamed or not), reads the
// calibration and evaluation texts and runs the path.
func (j *pruneJob) run(stream bool, path func() error) (*PruneResult, error) {
	em, err := engine.Load(j.src, engine.Options{Threads: j.opt.Threads, Tokenizer: j.opt.Tokenizer, Stream: stream})
	if err != nil {
		return nil, err
	}
	defer em.Close()
	j.em = em
	linalg.SetThreads(j.opt.Threads)
	if mc := em.Config.Context; mc > 0 && j.opt.Ctx > mc {
		j.opt.Ctx = mc
	}
	if err := j.readTexts(); err != nil {
		return nil, err
	}
	if em.Config.MLA != nil {
		path = j.mla
	}
	if err := path(); err != nil {
		return nil, err
	}
	j.res.Seconds = time.Since(j.start).Seconds()
	return j.res, nil
}

// withDefaults fills the options whose zero value is not valid.
func (o PruneOptions) withDefaults() PruneOptions {
	d := DefaultPruneOptions()
	for _, f := range []struct {
		v   *string
		def string
	}{{&o.ExpertScore, d.ExpertScore}, {&o.Score, d.Score}, {&o.Allocate, d.Allocate}, {&o.GGUFArch, d.GGUFArch}} {
		if *f.v == "" {
			*f.v = f.def
		}
	}
	if o.Ctx == 0 {
		o.Ctx = d.Ctx
	}
	if o.FFNMultiple == 0 {
		o.FFNMultiple = d.FFNMultiple
	}
	return o
}

// check validates the options into the targets, before anything is read.
func (j *pruneJob) check() error {
	o := j.opt
	t := prune.Targets{FFN: o.FFN, Heads: o.Heads, Layers: o.Layers, MinKeep: o.MinKeep, Multiple: o.FFNMultiple}
	switch o.Allocate {
	case "relative":
		t.Relative = true
	case "absolute":
	default:
		return usageErr(fmt.Sprintf("--allocate %q: want relative or absolute", o.Allocate))
	}
	switch o.GGUFArch {
	case "auto":
		j.arch = prune.ArchAuto
	case "llama", "deci":
		j.arch = o.GGUFArch
	default:
		return usageErr(fmt.Sprintf("--gguf-arch %q: want auto, llama or deci", o.GGUFArch))
	}
	if _, ok := prune.ParseExpertScore(o.ExpertScore); !ok {
		return usageErr(fmt.Sprintf("--expert-score %q: want reap, freq or mass", o.ExpertScore))
	}
	if o.Calib == "" {
		return usageErr("--calib TEXT is required (the domain text whose statistics choose what to keep)")
	}
	var ok bool
	if t.Score, ok = prune.ParseScore(o.Score); !ok {
		return usageErr(fmt.Sprintf("--score %q: want activation or magnitude", o.Score))
	}
	if o.TargetParams != "" {
		v, err := prune.ParseParams(o.TargetParams)
		if err != nil {
			return usageErr("--target-params: " + err.Error())
		}
		t.Params = v
	}
	if o.Ctx < 4 || o.Chunks < 0 || t.Multiple < 1 || o.Threads < 0 || o.Ridge < 0 {
		return usageErr("--ctx and --ffn-multiple must be at least 4 and 1; --chunks, --threads and --ridge not negative")
	}
	if t.FFN == 0 && t.Heads == 0 && t.Layers == 0 && t.Params == 0 && o.Experts == "" {
		return usageErr("nothing to remove: give --ffn, --heads, --layers or --target-params")
	}
	j.t = t
	return nil
}

// readTexts reads and tokenizes the calibration text and reads the
// evaluation text.
func (j *pruneJob) readTexts() error {
	text, err := os.ReadFile(j.opt.Calib)
	if err != nil {
		return err
	}
	if j.opt.Eval != "" {
		if j.evalText, err = os.ReadFile(j.opt.Eval); err != nil {
			return err
		}
	}
	if j.calibToks, j.bos, err = bench.Tokenize(j.em.Vocab, string(text)); err != nil {
		return fmt.Errorf("%s: %w", j.src, err)
	}
	content := len(j.calibToks)
	if j.bos >= 0 {
		content--
	}
	if strings.TrimSpace(string(text)) == "" || content < 1 {
		return fmt.Errorf("%s: no calibration text (the file is empty)", j.opt.Calib)
	}
	return nil
}

// note reports a line worth keeping; warn a warning.
func (j *pruneJob) note(format string, a ...any) {
	j.opt.Progress.report(Progress{Stage: "note", Message: fmt.Sprintf(format, a...), Elapsed: time.Since(j.start)})
}

func (j *pruneJob) warn(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	j.opt.Progress.report(Progress{Stage: "warning", Message: "warning: " + msg, Elapsed: time.Since(j.start)})
}

// tick reports one unit of a stage and returns ctx's error, if any.
func (j *pruneJob) tick(stage, msg string, done, total int) error {
	if err := j.ctx.Err(); err != nil {
		return err
	}
	j.opt.Progress.report(Progress{Stage: stage, Done: done, Total: total, Message: msg, Elapsed: time.Since(j.start)})
	return nil
}

// calibrate runs the calibration chunks through a session observed by
// obs, one chunk at a time (label names the pass in progress lines).
func (j *pruneJob) calibrate(obs engine.Observer, label string) error {
	s := j.em.NewSession(j.opt.Ctx)
	s.Observer = obs
	n, cl := calib.Chunks(len(j.calibToks), j.opt.Ctx, j.opt.Chunks)
	for i := 0; i < n; i++ {
		if err := j.tick("calibrate", fmt.Sprintf("%s: chunk %d/%d", label, i+1, n), i+1, n); err != nil {
			return err
		}
		if err := calib.Run(s, j.calibToks[i*cl:], 1, cl, j.bos, nil); err != nil {
			return fmt.Errorf("%s: calibration chunk %d: %w", j.opt.Calib, i, errors.Unwrap(err))
		}
	}
	return nil
}

// writeEach is the tensor callback of the writers: progress, and ctx
// checked between tensors.
func (j *pruneJob) writeEach(i, n int) error {
	return j.tick("write", fmt.Sprintf("writing: tensor %d/%d", i+1, n), i+1, n)
}

// perplexities fills the result's calibration and evaluation pairs from
// the source and the pruned engine models; a text shorter than one chunk
// is skipped with a warning, or is an error when strict.
func (j *pruneJob) perplexities(pem *engine.Model, strict bool) error {
	if j.opt.EvalChunks <= 0 {
		j.note("perplexity report skipped (eval-chunks 0)")
		return nil
	}
	texts := []struct {
		path string
		toks []int32
		out  **PerplexityPair
	}{{j.opt.Calib, j.calibToks, &j.res.Calib}}
	if j.evalText != nil {
		et, _, err := bench.Tokenize(j.em.Vocab, string(j.evalText))
		if err != nil {
			return err
		}
		texts = append(texts, struct {
			path string
			toks []int32
			out  **PerplexityPair
		}{j.opt.Eval, et, &j.res.Eval})
	}
	for _, tx := range texts {
		if len(tx.toks) < j.opt.Ctx {
			if strict {
				return fmt.Errorf("%s: %d tokens, fewer than one chunk of %d", tx.path, len(tx.toks), j.opt.Ctx)
			}
			j.warn("%s: %d tokens, fewer than one chunk of %d: no perplexity", tx.path, len(tx.toks), j.opt.Ctx)
			continue
		}
		pp, err := j.perplexity(pem, tx.path, tx.toks)
		if err != nil {
			return err
		}
		*tx.out = pp
	}
	return nil
}

// perplexity is a tokenized text's perplexity on the source and the
// pruned model.
func (j *pruneJob) perplexity(pem *engine.Model, path string, toks []int32) (*PerplexityPair, error) {
	pp := &PerplexityPair{Path: path}
	for i, m := range []*engine.Model{j.em, pem} {
		if err := j.tick("evaluate", fmt.Sprintf("perplexity: %s, model %d/2", path, i+1), i+1, 2); err != nil {
			return nil, err
		}
		if cb := j.calibBefore; i == 0 && path == j.opt.Calib && cb != nil {
			pp.Before = cb.Before // from the calibration pass: the same chunks, the same logits
			continue
		}
		res, err := bench.Evaluate(j.ctx, m, toks, bench.EvalOptions{Ctx: j.opt.Ctx, Chunks: j.evalChunks(), BOS: j.bos})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ppl, _ := res.Stats.Perplexity()
		if i == 0 {
			pp.Before = ppl
		} else {
			pp.After = ppl
		}
		pp.Tokens, pp.Chunks = res.Stats.N(), res.Chunks
	}
	if pp.Before > 0 {
		pp.Ratio = pp.After / pp.Before
	}
	return pp, nil
}

// evalChunks is the most chunks of a text the perplexity report runs:
// EvalChunks, at most Chunks when that is set.
func (j *pruneJob) evalChunks() int {
	if j.opt.Chunks > 0 {
		return min(j.opt.EvalChunks, j.opt.Chunks)
	}
	return j.opt.EvalChunks
}

// newResult starts the result of a pruning path.
func (j *pruneJob) newResult(schema string, before int64) {
	j.res = &PruneResult{Schema: schema, Source: j.src, Output: j.dst, Recipe: j.opt.Recipe, Score: j.t.Score.String(),
		Repair: !j.opt.NoRepair, Ctx: j.opt.Ctx, ParamsBefore: before}
}

// recipe returns the options as a command line, for provenance: the
// options that differ from the defaults and the scoring options, in flag
// name order, as shrink prune records its flags.
func (o PruneOptions) recipe() string {
	parts := []string{"shrink prune"}
	v, d := reflect.ValueOf(o), reflect.ValueOf(DefaultPruneOptions())
	var flags []string
	vals := map[string]string{}
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Tag.Get("json")
		switch name {
		case "", "-", "threads", "tokenizer", "eval-chunks": // not changing the output
			continue
		}
		f := v.Field(i)
		always := name == "score" || name == "min-keep" || name == "allocate" || name == "ffn-multiple"
		if !always && f.Equal(d.Field(i)) {
			continue
		}
		flags = append(flags, name)
		vals[name] = fmt.Sprint(f.Interface())
		if f.Kind() == reflect.Float64 {
			vals[name] = strconv.FormatFloat(f.Float(), 'g', -1, 64)
		}
	}
	sort.Strings(flags)
	for _, f := range flags {
		parts = append(parts, "--"+f+"="+vals[f])
	}
	return strings.Join(parts, " ")
}

// pruneEngine builds an engine model from the pruned tensors encoded in
// their output types, the bytes the GGUF file holds.
func pruneEngine(pm *prune.Model, vocab *model.Vocab, threads int) (*engine.Model, error) {
	ts := make([]engine.Tensor, 0, len(pm.Tensors))
	for _, t := range pm.Tensors {
		b, err := t.Encode()
		if err != nil {
			return nil, err
		}
		ts = append(ts, engine.Tensor{Name: t.Name, Type: t.Type, Shape: t.Shape, Data: b})
	}
	return engine.NewModel(pm.Config, vocab, ts, engine.Options{Threads: threads})
}

// dense prunes a llama-family model: statistics on the unpruned model
// block by block (the scores, with the repair's Gram matrices of every
// layer when they fit StatsMem; otherwise those come one block's at a
// time from a second pass run as the pruned tensors are written), the
// plan, the cut computed as it is written, and the perplexities.
func (j *pruneJob) dense() error {
	st, grams, err := j.denseStats()
	defer j.closeSpill()
	if err != nil {
		return err
	}
	cm, err := convert.Load(j.src, convert.Options{Tokenizer: j.opt.Tokenizer})
	if err != nil {
		return err
	}
	defer cm.Close()
	m, warns, err := prune.FromConvertLazy(cm)
	if err != nil {
		return err
	}
	j.newResult("shrink.prune/v1", m.Config.Params())
	if len(warns) > 0 {
		j.warn("%d quantized tensor(s) dequantized to f16, e.g. %s", len(warns), warns[0])
		j.res.Warnings = warns
	}
	plan, err := prune.NewPlan(m, st, j.t)
	if err != nil {
		return err
	}
	pm, reps, err := prune.ApplyLazy(m, st, plan, prune.Options{Repair: !j.opt.NoRepair, Ridge: j.opt.Ridge}, grams)
	if err != nil {
		return err
	}
	if err := j.writeDense(cm, pm, plan); err != nil {
		return err
	}
	j.res.ParamsAfter, j.res.Removed, j.res.Layers = pm.Config.Params(), plan.Removed, reps
	pem, err := engine.Load(j.dst, engine.Options{Threads: j.opt.Threads, Tokenizer: j.opt.Tokenizer, Stream: true})
	if err != nil {
		// A "deci" GGUF (per-layer widths for llama.cpp) may not be
		// readable by this build's engine: run the same bytes from memory.
		if pem, err = pruneEngine(pm, j.em.Vocab, j.opt.Threads); err != nil {
			return err
		}
		j.note("evaluating the pruned model from memory (the engine does not read %s GGUF files)", pm.GGUFArch(j.arch))
	}
	defer pem.Close()
	return j.perplexities(pem, false)
}

// denseStats runs the calibration block by block and returns the
// statistics and, when they lack the Gram matrices, the function that
// computes one block's for the repair.
func (j *pruneJob) denseStats() (*prune.Stats, func(int) (*prune.Stats, error), error) {
	c := j.em.Config
	n, cl := calib.Chunks(len(j.calibToks), j.opt.Ctx, j.opt.Chunks)
	var all int64
	for l := 0; l < c.Layers; l++ {
		all += prune.GramBytes(c, l)
	}
	st := prune.NewStatsFor(c, nil)
	if all <= int64(j.opt.StatsMem*(1<<30)) {
		st = prune.NewStats(c)
	} else {
		j.openSpill(all)
	}
	run, err := calib.NewLayerRunner(j.em, j.calibToks, n, cl, j.bos)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", j.opt.Calib, err)
	}
	run.Progress = j.blockProgress("calibrating")
	D := c.Dim
	for run.Next() < c.Layers {
		l := run.Next()
		if err := j.ctx.Err(); err != nil {
			return nil, nil, err
		}
		if j.spill != nil {
			st.CollectGram(l)
		}
		if err := run.Step(st, func(in, out []float32) { st.Block(l, in, out, len(in)/D, D) }); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", j.opt.Calib, err)
		}
		if j.spill != nil {
			if err := j.spillBlock(st, l); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := st.Err(); err != nil {
		return nil, nil, err
	}
	if err := j.calibHead(run, n, cl); err != nil {
		return nil, nil, err
	}
	var grams func(l int) (*prune.Stats, error)
	switch {
	case j.spill != nil:
		grams = j.spilledGrams()
	case !st.HasGram(0):
		run.Progress = j.blockProgress("repair statistics")
		grams = j.blockGrams(run)
	}
	j.note("calibration: %d tokens in %d chunks of %d from %s", st.Tokens(), n, cl, j.opt.Calib)
	return st, grams, nil
}

// spillMinFree is how many times the spilled Gram matrices' size must be
// free on the output's file system to spill them (at most half the free
// space is taken; the rest stays free for the output and others).
const spillMinFree = 2

// spillGrams enables the spill file (tests turn it off to run the second
// pass).
var spillGrams = true

// gramSpill is the file the calibration pass writes every block's Gram
// matrices to when they do not fit StatsMem, and where each block's start.
type gramSpill struct {
	f   *os.File
	w   *bufio.Writer
	off []int64 // per block, then the end
}

// openSpill opens the spill file of all bytes of Gram matrices next to
// the output, when its file system has at least spillMinFree times that
// free; otherwise (or when it cannot tell) the Gram matrices come from a
// second pass, as before. The file is removed when the prune ends.
func (j *pruneJob) openSpill(all int64) {
	dir := filepath.Dir(filepath.Clean(j.dst))
	free, ok := prune.FreeDisk(dir)
	if !spillGrams || !ok || free/spillMinFree < all {
		return
	}
	f, err := os.CreateTemp(dir, ".shrink-grams-*")
	if err != nil {
		return // no room to write: the second pass instead
	}
	j.spill = &gramSpill{f: f, w: bufio.NewWriterSize(f, 1<<20), off: []int64{0}}
	j.note("repair statistics: every block's Gram matrices (%s) kept on disk in %s until the repair", bench.HumanBytes(all), f.Name())
}

// spillBlock writes block l's Gram matrices to the spill file and
// collects their memory before the next block's are made.
func (j *pruneJob) spillBlock(st *prune.Stats, l int) error {
	sp := j.spill
	if err := st.SpillGram(l, sp.w); err != nil {
		return fmt.Errorf("%s: %w", sp.f.Name(), err)
	}
	if err := sp.w.Flush(); err != nil {
		return fmt.Errorf("%s: %w", sp.f.Name(), err)
	}
	end, err := sp.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("%s: %w", sp.f.Name(), err)
	}
	sp.off = append(sp.off, end)
	runtime.GC()
	return nil
}

// spilledGrams returns the function that gives the repair block l's Gram
// matrices read back from the spill file, one block's in memory at a
// time.
func (j *pruneJob) spilledGrams() func(l int) (*prune.Stats, error) {
	var cur *prune.Stats
	curL := -1
	c := j.em.Config
	return func(l int) (*prune.Stats, error) {
		if l == curL && !cur.Spent(l) {
			return cur, nil
		}
		cur, curL = nil, -1
		runtime.GC() // the previous block's, before this block's are read
		sp := j.spill
		if l < 0 || l+1 >= len(sp.off) {
			return nil, fmt.Errorf("%s: no Gram matrices of block %d", sp.f.Name(), l)
		}
		r := bufio.NewReaderSize(io.NewSectionReader(sp.f, sp.off[l], sp.off[l+1]-sp.off[l]), 1<<20)
		s, err := prune.LoadGram(c, l, r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sp.f.Name(), err)
		}
		cur, curL = s, l
		return cur, nil
	}
}

// closeSpill removes the spill file, if any.
func (j *pruneJob) closeSpill() {
	if j.spill != nil {
		j.spill.f.Close()
		os.Remove(j.spill.f.Name())
		j.spill = nil
	}
}

// calibHead scores the first chunks of the perplexity report on the
// source model from the calibration pass's residual streams leaving the
// last block (engine Session.Head: the logits ForwardAll computes), the
// tokens bench.Evaluate scores, so the report's "before" on the
// calibration text costs only the output head. It does nothing when the
// report is off or the text is shorter than one chunk, and leaves the
// score to bench.Evaluate when a logit is not finite.
func (j *pruneJob) calibHead(run *calib.LayerRunner, n, cl int) error {
	if j.opt.EvalChunks <= 0 || cl != j.opt.Ctx || len(j.calibToks) < cl {
		return nil
	}
	V := j.em.Config.VocabSize
	s := j.em.NewSession(cl)
	lp, lq := make([]float64, V), make([]float64, V)
	var st bench.Stats
	chunks := min(n, j.opt.EvalChunks)
	for c, x := range run.Residuals()[:chunks] {
		if err := j.ctx.Err(); err != nil {
			return err
		}
		logits, err := s.Head(x)
		if err != nil {
			return fmt.Errorf("%s: chunk %d: %w", j.opt.Calib, c, err)
		}
		for _, v := range logits {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil
			}
		}
		for i := cl / 2; i < cl-1; i++ {
			st.Add(bench.CompareExact(nil, logits[i*V:(i+1)*V], j.calibToks[c*cl+i+1], lp, lq), false)
		}
	}
	ppl, _ := st.Perplexity()
	j.calibBefore = &PerplexityPair{Path: j.opt.Calib, Chunks: chunks, Tokens: st.N(), Before: ppl}
	j.note("perplexity before on %s from the calibration pass: %.4f (%d chunks)", j.opt.Calib, ppl, chunks)
	return nil
}

// blockProgress is a LayerRunner's progress callback reporting label's
// chunks.
func (j *pruneJob) blockProgress(label string) func(block, chunk, n int) {
	return func(block, chunk, n int) {
		j.opt.Progress.report(Progress{Stage: "calibrate", Done: chunk, Total: n,
			Message: fmt.Sprintf("%s: block %d, chunk %d/%d", label, block, chunk, n), Elapsed: time.Since(j.start)})
	}
}

// blockGrams returns the function that gives the repair the Gram matrices
// of block l: run's block-by-block pass over the calibration chunks,
// advanced to block l (from the start again when it is past it) and
// holding one block's statistics at a time.
func (j *pruneJob) blockGrams(run *calib.LayerRunner) func(l int) (*prune.Stats, error) {
	var cur *prune.Stats
	curL := -1
	return func(l int) (*prune.Stats, error) {
		if l == curL && !cur.Spent(l) {
			return cur, nil
		}
		// The previous block's Gram matrices are garbage now: collect
		// them before this block's are allocated, so that the heap never
		// holds two blocks' statistics.
		cur, curL = nil, -1
		runtime.GC()
		if l < run.Next() {
			if err := run.Restart(); err != nil {
				return nil, err
			}
		}
		for run.Next() <= l {
			if err := j.ctx.Err(); err != nil {
				return nil, err
			}
			var obs engine.Observer
			if run.Next() == l {
				cur = prune.NewStatsFor(run.Model().Config, []int{l})
				obs = cur
			}
			if err := run.Step(obs, nil); err != nil {
				return nil, err
			}
		}
		if err := cur.Err(); err != nil {
			return nil, err
		}
		curL = l
		return cur, nil
	}
}

// writeDense writes the pruned llama-family model as GGUF or a Hugging
// Face folder.
func (j *pruneJob) writeDense(cm *convert.Model, pm *prune.Model, plan *prune.Plan) error {
	toGGUF := strings.HasSuffix(strings.ToLower(j.dst), ".gguf")
	if !toGGUF && !pm.Config.Uniform() {
		return fmt.Errorf("%s: the pruned widths differ per layer (ffn %v, heads %v); a Hugging Face config.json has one width, write a .gguf instead", j.dst, pm.Config.FFN, pm.Config.Heads)
	}
	if toGGUF && !pm.Config.Uniform() && pm.GGUFArch(j.arch) != prune.ArchDeci {
		j.warn("%s: widths differ per layer under architecture %q, which llama.cpp reads with one width for all layers (only \"deci\", the llama graph, has per-layer widths there)", j.dst, pm.GGUFArch(j.arch))
	}
	md, err := pm.Metadata(cm, plan, j.opt.Recipe, j.arch)
	if err != nil {
		return err
	}
	if toGGUF {
		err = pm.WriteGGUFEach(j.dst, md, j.writeEach)
	} else {
		err = pm.WriteHFEach(j.dst, md, j.writeEach)
	}
	if err != nil {
		return err
	}
	j.note("wrote %s (%s)", j.dst, bench.HumanBytes(bench.DiskSize(j.dst)))
	return nil
}

// parseExperts reads the Experts option: a fraction below 1 of the routed
// experts to remove, or a whole count.
func parseExperts(s string, experts int) (int, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) {
		return 0, usageErr(fmt.Sprintf("--experts %q: want a fraction (0.25) or a count (2) of routed experts to remove", s))
	}
	if v < 1 {
		return int(math.Round(v * float64(experts))), nil
	}
	if v != math.Trunc(v) {
		return 0, usageErr(fmt.Sprintf("--experts %q: a count must be whole", s))
	}
	return int(v), nil
}

// experts removes routed experts per MoE layer of a model with standard
// attention, ranked by the calibration text's use of them, and writes a
// GGUF file with the other tensors in their stored types.
func (j *pruneJob) experts() error {
	o, c := j.opt, j.em.Config
	for _, f := range []struct {
		name string
		set  bool
	}{{"ffn", o.FFN != 0}, {"heads", o.Heads != 0}, {"layers", o.Layers != 0}, {"target-params", o.TargetParams != ""}} {
		if f.set {
			return usageErr("--experts cannot be combined with --" + f.name + " yet (except on deepseek2 models)")
		}
	}
	if !strings.HasSuffix(strings.ToLower(j.dst), ".gguf") {
		return usageErr("prune --experts writes a .gguf file")
	}
	if c.Experts == 0 {
		return fmt.Errorf("%s: --experts: the model has no routed experts", j.src)
	}
	remove, err := parseExperts(o.Experts, c.Experts)
	if err != nil {
		return err
	}
	st := prune.NewExpertStats(c)
	if err := j.calibrate(st, "routing"); err != nil {
		return err
	}
	method, _ := prune.ParseExpertScore(o.ExpertScore)
	keep, layers, err := st.ChooseExperts(method, c.Experts-remove)
	if err != nil {
		return err
	}
	j.newResult("shrink.prune-experts/v1", c.Params())
	j.res.Score, j.res.ExpertsBefore, j.res.ExpertsAfter, j.res.Experts = o.ExpertScore, c.Experts, c.Experts-remove, layers
	if err := j.writeKeptExperts(keep); err != nil {
		return err
	}
	pem, err := engine.Load(j.dst, engine.Options{Threads: o.Threads})
	if err != nil {
		return fmt.Errorf("%s: reading the pruned model back: %w", j.dst, err)
	}
	defer pem.Close()
	j.res.ParamsAfter = pem.Config.Params()
	return j.perplexities(pem, true)
}

// writeKeptExperts writes the source with only the experts keep[l] of
// each MoE layer, tensors in their stored types.
func (j *pruneJob) writeKeptExperts(keep [][]int) error {
	cm, err := convert.Load(j.src, convert.Options{Tokenizer: j.opt.Tokenizer})
	if err != nil {
		return err
	}
	defer cm.Close()
	if err := cm.KeepExperts(keep); err != nil {
		return err
	}
	plans := convert.PlanDType(cm, 0, true)
	counts := map[format.DType]int64{}
	for _, p := range plans {
		counts[p.Out] += p.Info().NumElements()
	}
	var main format.DType
	for t, n := range counts {
		if n > counts[main] || (n == counts[main] && t < main) {
			main = t
		}
	}
	md, err := cm.GGUFMetadata(main)
	if err != nil {
		return err
	}
	return cm.WriteGGUF(j.dst, md, plans, nil)
}

// mlaKeep returns how many of n units a layer keeps when the fraction
// frac is removed, rounded to a multiple of mult (at least mult) when n
// allows it, or an error when none or all would go.
func mlaKeep(flag string, frac float64, n, mult int) (int, error) {
	keep := n - int(frac*float64(n)+0.5)
	if mult > 1 && n >= mult {
		keep = max(mult, min((keep+mult/2)/mult*mult, n/mult*mult))
	}
	if frac < 0 || frac >= 1 || keep < 1 || (frac > 0 && keep >= n) {
		return 0, usageErr(fmt.Sprintf("--%s %g removes none or all of a layer's %d", flag, frac, n))
	}
	return keep, nil
}

// mlaTargets returns the heads and dense channels each layer of a latent
// attention model keeps and the experts to remove.
func (j *pruneJob) mlaTargets() (keepH, keepF, removeE int, err error) {
	o, c := j.opt, j.em.Config
	if o.Layers != 0 || o.TargetParams != "" {
		return 0, 0, 0, usageErr("deepseek2 (latent attention) models: --heads, --ffn (dense leading blocks) and --experts are supported (no --layers or --target-params)")
	}
	if !strings.HasSuffix(strings.ToLower(j.dst), ".gguf") {
		return 0, 0, 0, usageErr("deepseek2 (latent attention) models are written as GGUF only")
	}
	if keepH, err = mlaKeep("heads", o.Heads, c.Heads[0], 1); err != nil {
		return 0, 0, 0, err
	}
	dense := -1
	for l := 0; l < c.Layers; l++ {
		if !c.MoELayer(l) {
			dense = c.FFN[l]
		}
	}
	if o.FFN != 0 && dense < 0 {
		return 0, 0, 0, usageErr("--ffn: the model has no dense feed-forward blocks (prune its experts with --experts)")
	}
	if o.FFN != 0 {
		if keepF, err = mlaKeep("ffn", o.FFN, dense, o.FFNMultiple); err != nil {
			return 0, 0, 0, err
		}
	}
	if o.Experts != "" {
		if c.Experts == 0 {
			return 0, 0, 0, fmt.Errorf("%s: --experts: the model has no routed experts", j.src)
		}
		if removeE, err = parseExperts(o.Experts, c.Experts); err != nil {
			return 0, 0, 0, err
		}
	}
	if keepH == c.Heads[0] && o.FFN == 0 && removeE == 0 {
		return 0, 0, 0, usageErr("nothing to remove: give --heads, --ffn or --experts")
	}
	return keepH, keepF, removeE, nil
}

// mla prunes a latent attention (deepseek2) model from one calibration
// run: Heads of every latent attention layer (the same number in every
// layer, as llama.cpp's deepseek2 reads one head count), chosen by the
// energy each head writes through attn_output; FFN of the channels of
// the dense leading blocks (one width for all of them, which is what
// llama.cpp reads), chosen by activation energy; and Experts of every MoE
// layer, ranked by ExpertScore. attn_output and ffn_down are refitted by
// least squares.
func (j *pruneJob) mla() error {
	keepH, keepF, removeE, err := j.mlaTargets()
	if err != nil {
		return err
	}
	c := j.em.Config
	st, err := prune.NewMLAStats(c)
	if err != nil {
		return err
	}
	if err := j.calibrate(st, "calibrating"); err != nil {
		return err
	}
	if err := st.Err(); err != nil {
		return err
	}
	cm, err := convert.Load(j.src, convert.Options{Tokenizer: j.opt.Tokenizer})
	if err != nil {
		return err
	}
	defer cm.Close()
	j.newResult("shrink.prune/v1", c.Params())
	j.res.Score = "activation"
	if removeE > 0 {
		method, _ := prune.ParseExpertScore(j.opt.ExpertScore)
		var keepE [][]int
		if keepE, j.res.Experts, err = st.Experts().ChooseExperts(method, c.Experts-removeE); err != nil {
			return err
		}
		if err := cm.KeepExperts(keepE); err != nil {
			return err
		}
		j.res.ExpertsBefore, j.res.ExpertsAfter = c.Experts, c.Experts-removeE
	}
	pm, err := j.applyMLA(cm, st, keepH, keepF)
	if err != nil {
		return err
	}
	pem, err := engine.Load(j.dst, engine.Options{Threads: j.opt.Threads, Tokenizer: j.opt.Tokenizer})
	if err != nil {
		return err
	}
	defer pem.Close()
	j.res.ParamsAfter = pm.Config.Params()
	return j.perplexities(pem, false)
}

// applyMLA plans and cuts the heads and dense channels of the (expert
// narrowed) checkpoint cm and writes the result.
func (j *pruneJob) applyMLA(cm *convert.Model, st *prune.MLAStats, keepH, keepF int) (*prune.Model, error) {
	c := j.em.Config
	m, warns, err := prune.FromConvert(cm)
	if err != nil {
		return nil, err
	}
	j.res.Warnings = warns
	var kp prune.MLAPlan
	if keepH < c.Heads[0] {
		if kp.Heads, err = prune.PlanMLAHeads(m, st, keepH); err != nil {
			return nil, err
		}
	}
	if keepF > 0 {
		if kp.FFN, err = prune.PlanMLAFFN(m, st, keepF); err != nil {
			return nil, err
		}
	}
	pm, plan, reps, err := prune.ApplyMLA(m, st, kp, prune.Options{Repair: !j.opt.NoRepair, Ridge: j.opt.Ridge})
	if err != nil {
		return nil, err
	}
	for l := range reps { // before the experts were cut
		reps[l].Params[1] = c.LayerParams(l)
	}
	j.res.Layers = reps
	md, err := pm.Metadata(cm, plan, j.opt.Recipe, prune.ArchAuto)
	if err != nil {
		return nil, err
	}
	return pm, pm.WriteGGUFEach(j.dst, md, j.writeEach)
}
