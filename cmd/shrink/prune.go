package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/calib"
	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/internal/linalg"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/prune"
)

var pruneCmd = &command{
	name: "prune",
	args: "SRC DST --calib DOMAIN.txt [--ffn R] [--heads R] [--layers N] [--target-params P] [--experts R] [--eval GENERAL.txt] [--json FILE]",
	summary: "structured pruning for a domain: remove FFN channels, attention heads and blocks by calibration scores, " +
		"repair by least squares (DST: .gguf, or a Hugging Face folder when widths stay uniform)",
	flags: func(fs *pflag.FlagSet) {
		fs.String("calib", "", "calibration text of the domain to keep (required)")
		fs.String("eval", "", "general text: report what it loses")
		fs.Float64("ffn", 0, "fraction of all feed-forward channels to remove, allocated across layers by score")
		fs.Float64("heads", 0, "fraction of all attention (query) heads to remove: whole KV groups or one query head per group")
		fs.Int("layers", 0, "number of whole blocks to remove (lowest block influence, ShortGPT)")
		fs.String("target-params", "", "parameter budget instead of ratios: a fraction (0.7) or a count (2.5M); FFN channels and heads compete by score per parameter")
		fs.String("experts", "", "routed experts to remove from every MoE layer: a fraction (0.25) or a count (2), ranked by --expert-score on --calib (alone; on deepseek2 models also with --heads and --ffn, from one calibration run)")
		fs.String("expert-score", "reap", "expert ranking: reap (mean gate weight x output norm over routed tokens, REAP), freq (share of tokens routed) or mass (gate weight per token)")
		fs.String("score", "activation", "importance: activation (|activation|·|down_proj column|, Wanda/FLAP) or magnitude (weights only)")
		fs.String("allocate", "relative", "how layers compete: relative (scores divided by the residual stream energy the block writes to) or absolute")
		fs.Float64("min-keep", 0.1, "floor: every layer keeps at least this fraction of its channels and heads")
		fs.Int("ffn-multiple", 32, "round every layer's kept FFN channels to a multiple of this: 32 suits block quantization and llama.cpp's F16 kernels (1: exact counts)")
		fs.Bool("no-repair", false, "do not refit down_proj/o_proj by least squares")
		fs.Float64("ridge", 1e-3, "ridge regularisation of the repair, relative to the mean input energy")
		fs.String("gguf-arch", "auto", "architecture name of a GGUF output: auto (deci when widths differ per layer, which llama.cpp loads per layer; else the source's), llama or deci")
		fs.Float64("stats-mem", 4, "GiB for the repair's Gram matrices (FFN²+QDim² float64 per layer): when every layer's fit they are collected in the calibration pass, otherwise block by block in a second pass, one block's at a time. "+
			"Peak memory from a GGUF: the mapped model in page cache, plus the calibration chunks' residual stream (chunks·ctx·dim·4 bytes), one block's Gram matrices and its float32 weights")
		fs.Int("ctx", 512, "chunk size in tokens for calibration and perplexity (capped at the model's context)")
		fs.Int("chunks", 0, "at most this many chunks per text (0: all)")
		fs.Int("threads", 0, "goroutines per matrix product (default: all cores)")
		fs.String("tokenizer", "", "tokenizer file to use instead of the one found with SRC")
		fs.String("json", "", "write the report (shrink.prune/v1) to this file")
		fs.BoolP("quiet", "q", false, "no progress or table output")
	},
	run: runPrune,
}

// pruneReport is the --json output.
type pruneReport struct {
	Schema       string              `json:"schema"`
	Source       string              `json:"source"`
	Output       string              `json:"output"`
	Recipe       string              `json:"recipe"`
	Score        string              `json:"score"`
	Repair       bool                `json:"repair"`
	Ctx          int                 `json:"ctx"`
	ParamsBefore int64               `json:"params_before"`
	ParamsAfter  int64               `json:"params_after"`
	Removed      []int               `json:"layers_removed,omitempty"`
	Layers       []prune.LayerReport `json:"layers"`
	Experts      []prune.ExpertLayer `json:"experts,omitempty"`
	Calib        *pplPair            `json:"calib"`
	Eval         *pplPair            `json:"eval,omitempty"`
	Warnings     []string            `json:"warnings,omitempty"`
	Seconds      float64             `json:"seconds"`
}

// pplPair is a text's perplexity before and after pruning.
type pplPair struct {
	Path   string  `json:"path"`
	Tokens int     `json:"tokens"`
	Before float64 `json:"ppl_before"`
	After  float64 `json:"ppl_after"`
	// Ratio is After/Before.
	Ratio float64 `json:"ppl_ratio"`
}

// pplOfTokens is the perplexity of a tokenized text on the source and the
// pruned model.
func pplOfTokens(before, after *engine.Model, path string, toks []int32, opt bench.EvalOptions) (*pplPair, error) {
	pp := &pplPair{Path: path}
	for i, m := range []*engine.Model{before, after} {
		res, err := bench.Evaluate(context.Background(), m, toks, opt)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ppl, _ := res.Stats.Perplexity()
		if i == 0 {
			pp.Before = ppl
		} else {
			pp.After = ppl
		}
		pp.Tokens = res.Stats.N()
	}
	if pp.Before > 0 {
		pp.Ratio = pp.After / pp.Before
	}
	return pp, nil
}

func runPrune(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 2, "SRC DST"); err != nil {
		return err
	}
	src, dst := args[0], args[1]
	if fs.Changed("experts") {
		return runPruneExperts(fs, src, dst)
	}
	calibPath := flagString(fs, "calib")
	evalPath := flagString(fs, "eval")
	var t prune.Targets
	t.FFN = flagFloat64(fs, "ffn")
	t.Heads = flagFloat64(fs, "heads")
	t.Layers = flagInt(fs, "layers")
	t.MinKeep = flagFloat64(fs, "min-keep")
	t.Multiple = flagInt(fs, "ffn-multiple")
	switch alloc := flagString(fs, "allocate"); alloc {
	case "relative":
		t.Relative = true
	case "absolute":
	default:
		return usageError{fmt.Sprintf("--allocate %q: want relative or absolute", alloc)}
	}
	tp := flagString(fs, "target-params")
	scoreName := flagString(fs, "score")
	noRepair := flagBool(fs, "no-repair")
	ridge := flagFloat64(fs, "ridge")
	ctx := flagInt(fs, "ctx")
	chunks := flagInt(fs, "chunks")
	threads := flagInt(fs, "threads")
	tokFile := flagString(fs, "tokenizer")
	jsonOut := flagString(fs, "json")
	statsMem := flagFloat64(fs, "stats-mem")
	quiet := flagBool(fs, "quiet")
	ggufArch := flagString(fs, "gguf-arch")
	switch ggufArch {
	case "auto":
		ggufArch = prune.ArchAuto
	case "llama", "deci":
	default:
		return usageError{fmt.Sprintf("--gguf-arch %q: want auto, llama or deci", ggufArch)}
	}
	if calibPath == "" {
		return usageError{"--calib TEXT is required (the domain text whose statistics choose what to keep)"}
	}
	var ok bool
	if t.Score, ok = prune.ParseScore(scoreName); !ok {
		return usageError{fmt.Sprintf("--score %q: want activation or magnitude", scoreName)}
	}
	if tp != "" {
		v, err := prune.ParseParams(tp)
		if err != nil {
			return usageError{"--target-params: " + err.Error()}
		}
		t.Params = v
	}
	if ctx < 4 || chunks < 0 || t.Multiple < 1 || threads < 0 || ridge < 0 {
		return usageError{"--ctx and --ffn-multiple must be at least 4 and 1; --chunks, --threads and --ridge not negative"}
	}
	if t.FFN == 0 && t.Heads == 0 && t.Layers == 0 && t.Params == 0 {
		return usageError{"nothing to remove: give --ffn, --heads, --layers or --target-params"}
	}
	toGGUF := strings.HasSuffix(strings.ToLower(dst), ".gguf")
	start := time.Now()
	progress := func(format string, a ...any) {
		if !quiet {
			fmt.Fprintf(os.Stderr, format+"\n", a...)
		}
	}

	calibText, err := os.ReadFile(calibPath)
	if err != nil {
		return err
	}
	var evalText []byte
	if evalPath != "" {
		if evalText, err = os.ReadFile(evalPath); err != nil {
			return err
		}
	}

	// Large pointer-free buffers (residual streams, Gram matrices, a
	// block's float32 tensors): collect at 25% heap growth to keep the
	// peak near the live size.
	debug.SetGCPercent(25)
	em, err := engine.Load(src, engine.Options{Threads: threads, Tokenizer: tokFile, Stream: true})
	if err != nil {
		return err
	}
	defer em.Close()
	linalg.SetThreads(threads)
	if mc := em.Config.Context; mc > 0 && ctx > mc {
		ctx = mc
	}
	calibToks, bos, err := bench.Tokenize(em.Vocab, string(calibText))
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	content := len(calibToks)
	if bos >= 0 {
		content--
	}
	if strings.TrimSpace(string(calibText)) == "" || content < 1 {
		return fmt.Errorf("%s: no calibration text (the file is empty)", calibPath)
	}
	if em.Config.MLA != nil { // deepseek2's latent attention heads: prune_mla.go
		return runPruneMLA(fs, mlaPruneJob{src: src, dst: dst, calibPath: calibPath, evalPath: evalPath, calibToks: calibToks,
			bos: bos, evalText: evalText, em: em, ctx: ctx, chunks: chunks, threads: threads, tokFile: tokFile, jsonOut: jsonOut, start: start})
	}

	// Statistics on the unpruned model: the scores in one pass, with the
	// repair's Gram matrices of every layer when they fit --stats-mem;
	// otherwise those come block by block (one block's at a time) from a
	// second pass run as the pruned tensors are written.
	n, cl := calib.Chunks(len(calibToks), ctx, chunks)
	var all int64
	for l := 0; l < em.Config.Layers; l++ {
		all += prune.GramBytes(em.Config, l)
	}
	st := prune.NewStatsFor(em.Config, nil)
	if all <= int64(statsMem*(1<<30)) {
		st = prune.NewStats(em.Config)
	}
	run, err := calib.NewLayerRunner(em, calibToks, n, cl, bos)
	if err != nil {
		return fmt.Errorf("%s: %w", calibPath, err)
	}
	run.Progress = blockProgress("calibrating", quiet)
	D := em.Config.Dim
	for run.Next() < em.Config.Layers {
		l := run.Next()
		if err := run.Step(st, func(in, out []float32) { st.Block(l, in, out, len(in)/D, D) }); err != nil {
			return fmt.Errorf("%s: %w", calibPath, err)
		}
	}
	if !quiet && isTerminal(os.Stderr) {
		endProgress()
	}
	if err := st.Err(); err != nil {
		return err
	}
	var grams func(l int) (*prune.Stats, error)
	if !st.HasGram(0) {
		run.Progress = blockProgress("repair statistics", quiet)
		grams = blockGrams(run, quiet)
	}
	progress("calibration: %d tokens in %d chunks of %d from %s", st.Tokens(), n, cl, calibPath)

	// The model read one tensor at a time, the plan, the cut (computed as
	// it is written).
	cm, err := convert.Load(src, convert.Options{Tokenizer: tokFile})
	if err != nil {
		return err
	}
	defer cm.Close()
	m, warns, err := prune.FromConvertLazy(cm)
	if err != nil {
		return err
	}
	if len(warns) > 0 {
		fmt.Fprintf(os.Stderr, "warning: %d quantized tensor(s) dequantized to f16, e.g. %s\n", len(warns), warns[0])
	}
	plan, err := prune.NewPlan(m, st, t)
	if err != nil {
		return err
	}
	popt := prune.Options{Repair: !noRepair, Ridge: ridge}
	pm, reps, err := prune.ApplyLazy(m, st, plan, popt, grams)
	if err != nil {
		return err
	}
	if !toGGUF && !pm.Config.Uniform() {
		return fmt.Errorf("%s: the pruned widths differ per layer (ffn %v, heads %v); a Hugging Face config.json has one width, write a .gguf instead", dst, pm.Config.FFN, pm.Config.Heads)
	}
	if toGGUF && !pm.Config.Uniform() && pm.GGUFArch(ggufArch) != prune.ArchDeci {
		fmt.Fprintf(os.Stderr, "warning: %s: widths differ per layer under architecture %q, which llama.cpp reads with one width for all layers (only \"deci\", the llama graph, has per-layer widths there)\n", dst, pm.GGUFArch(ggufArch))
	}
	rec := pruneRecipe(fs)
	md, err := pm.Metadata(cm, plan, rec, ggufArch)
	if err != nil {
		return err
	}
	if toGGUF {
		err = pm.WriteGGUF(dst, md)
	} else {
		err = pm.WriteHF(dst, md)
	}
	if err != nil {
		return err
	}
	progress("wrote %s (%s)", dst, bench.HumanBytes(bench.DiskSize(dst)))

	rep := &pruneReport{Schema: "shrink.prune/v1", Source: src, Output: dst, Recipe: rec, Score: t.Score.String(),
		Repair: !noRepair, Ctx: ctx, ParamsBefore: m.Config.Params(), ParamsAfter: pm.Config.Params(),
		Removed: plan.Removed, Layers: reps, Warnings: warns}

	// Perplexity before and after.
	pem, err := engine.Load(dst, engine.Options{Threads: threads, Tokenizer: tokFile, Stream: true})
	if err != nil {
		// A "deci" GGUF (per-layer widths for llama.cpp) may not be
		// readable by this build's engine: run the same bytes from memory.
		if pem, err = pruneEngine(pm, em.Vocab, threads); err != nil {
			return err
		}
		progress("evaluating the pruned model from memory (the engine does not read %s GGUF files)", pm.GGUFArch(ggufArch))
	}
	defer pem.Close()
	texts := []struct {
		path string
		toks []int32
		out  **pplPair
	}{{calibPath, calibToks, &rep.Calib}}
	if evalText != nil {
		et, _, err := bench.Tokenize(em.Vocab, string(evalText))
		if err != nil {
			return err
		}
		texts = append(texts, struct {
			path string
			toks []int32
			out  **pplPair
		}{evalPath, et, &rep.Eval})
	}
	for _, tx := range texts {
		if len(tx.toks) < ctx {
			fmt.Fprintf(os.Stderr, "warning: %s: %d tokens, fewer than one chunk of %d: no perplexity\n", tx.path, len(tx.toks), ctx)
			continue
		}
		pp, err := pplOfTokens(em, pem, tx.path, tx.toks, bench.EvalOptions{Ctx: ctx, Chunks: chunks, BOS: bos})
		if err != nil {
			return err
		}
		*tx.out = pp
	}
	rep.Seconds = time.Since(start).Seconds()
	if !quiet {
		printPruneReport(stdout, rep)
	}
	return writeReportJSON(jsonOut, rep)
}

// writeReportJSON writes a report as indented JSON to path; an empty path
// writes nothing.
func writeReportJSON(path string, rep any) error {
	if path == "" {
		return nil
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// blockGrams returns the function that gives the repair the Gram matrices
// of block l: run's block-by-block pass over the calibration chunks,
// advanced to block l (from the start again when it is past it) and
// holding one block's statistics at a time.
func blockGrams(run *calib.LayerRunner, quiet bool) func(l int) (*prune.Stats, error) {
	var cur *prune.Stats
	curL := -1
	return func(l int) (*prune.Stats, error) {
		if l == curL {
			return cur, nil
		}
		cur, curL = nil, -1
		if l < run.Next() {
			if err := run.Restart(); err != nil {
				return nil, err
			}
		}
		for run.Next() < l {
			if err := run.Step(nil, nil); err != nil {
				return nil, err
			}
		}
		st := prune.NewStatsFor(run.Model().Config, []int{l})
		if err := run.Step(st, nil); err != nil {
			return nil, err
		}
		if !quiet && isTerminal(os.Stderr) {
			endProgress()
		}
		if err := st.Err(); err != nil {
			return nil, err
		}
		cur, curL = st, l
		return st, nil
	}
}

// pruneRecipe returns the command line's flags, for provenance.
func pruneRecipe(fs *pflag.FlagSet) string {
	parts := []string{"shrink prune"}
	fs.VisitAll(func(f *pflag.Flag) {
		switch f.Name {
		case "quiet", "help", "json", "threads", "tokenizer":
			return
		}
		if f.Changed || f.Name == "score" || f.Name == "min-keep" || f.Name == "allocate" || f.Name == "ffn-multiple" {
			parts = append(parts, "--"+f.Name+"="+f.Value.String())
		}
	})
	return strings.Join(parts, " ")
}

// printPruneReport writes the per-layer table and the perplexities.
func printPruneReport(w io.Writer, r *pruneReport) {
	fmt.Fprintf(w, "%-5s %-5s %-9s %-9s %-11s %-19s %-8s %-17s %-17s\n", "layer", "new", "heads", "kv", "ffn", "params", "BI", "ffn err (repair)", "attn err (repair)")
	for _, l := range r.Layers {
		nl := "-"
		if l.NewLayer >= 0 {
			nl = fmt.Sprint(l.NewLayer)
		}
		fmt.Fprintf(w, "%-5d %-5s %-9s %-9s %-11s %-19s %-8.4f %-17s %-17s\n", l.Layer, nl,
			fmt.Sprintf("%d/%d", l.Heads[0], l.Heads[1]), fmt.Sprintf("%d/%d", l.KVHeads[0], l.KVHeads[1]),
			fmt.Sprintf("%d/%d", l.FFN[0], l.FFN[1]), fmt.Sprintf("%d/%d", l.Params[0], l.Params[1]), l.Influence,
			fmt.Sprintf("%.4f (%.4f)", l.FFNError[0], l.FFNError[1]), fmt.Sprintf("%.4f (%.4f)", l.AttnError[0], l.AttnError[1]))
	}
	for _, e := range r.Experts {
		fmt.Fprintf(w, "layer %d experts kept %v, removed %v (%.1f%% of the routed mass kept)\n", e.Layer, e.Kept, e.Removed, 100*e.MassKept)
	}
	fmt.Fprintf(w, "parameters: %d -> %d (%.1f%%)\n", r.ParamsBefore, r.ParamsAfter, 100*float64(r.ParamsAfter)/float64(r.ParamsBefore))
	for _, p := range []*pplPair{r.Calib, r.Eval} {
		if p != nil {
			fmt.Fprintf(w, "perplexity %s (%d tokens, ctx %d): %.4f -> %.4f (x%.3f)\n", p.Path, p.Tokens, r.Ctx, p.Before, p.After, p.Ratio)
		}
	}
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
