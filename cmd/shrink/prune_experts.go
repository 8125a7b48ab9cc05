package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/calib"
	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/prune"
)

// expertPruneReport is the --json output of prune --experts.
type expertPruneReport struct {
	Schema       string              `json:"schema"`
	Source       string              `json:"source"`
	Output       string              `json:"output"`
	Score        string              `json:"score"`
	ExpertsFrom  int                 `json:"experts_before"`
	ExpertsTo    int                 `json:"experts_after"`
	ParamsBefore int64               `json:"params_before"`
	ParamsAfter  int64               `json:"params_after"`
	Layers       []prune.ExpertLayer `json:"layers"`
	Calib        *pplPair            `json:"calib,omitempty"`
	Eval         *pplPair            `json:"eval,omitempty"`
}

// parseExperts reads --experts: a fraction below 1 of the routed experts
// to remove, or a whole count.
func parseExperts(s string, experts int) (int, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) {
		return 0, fmt.Errorf("--experts %q: want a fraction (0.25) or a count (2) of routed experts to remove", s)
	}
	if v < 1 {
		return int(math.Round(v * float64(experts))), nil
	}
	if v != math.Trunc(v) {
		return 0, fmt.Errorf("--experts %q: a count must be whole", s)
	}
	return int(v), nil
}

// runPruneExperts removes routed experts per MoE layer, ranked by the
// calibration text's use of them, and writes a GGUF file.
func runPruneExperts(fs *pflag.FlagSet, src, dst string) error {
	calibPath := flagString(fs, "calib")
	evalPath := flagString(fs, "eval")
	spec := flagString(fs, "experts")
	scoreName := flagString(fs, "expert-score")
	ctx := flagInt(fs, "ctx")
	chunks := flagInt(fs, "chunks")
	threads := flagInt(fs, "threads")
	tokFile := flagString(fs, "tokenizer")
	jsonOut := flagString(fs, "json")
	quiet := flagBool(fs, "quiet")
	method, ok := prune.ParseExpertScore(scoreName)
	if !ok {
		return usageError{fmt.Sprintf("--expert-score %q: want reap, freq or mass", scoreName)}
	}
	if calibPath == "" {
		return usageError{"--calib TEXT is required (the domain text whose routing chooses the experts to keep)"}
	}
	if !strings.HasSuffix(strings.ToLower(dst), ".gguf") {
		return usageError{"prune --experts writes a .gguf file"}
	}
	em, err := engine.Load(src, engine.Options{Threads: threads, Tokenizer: tokFile})
	if err != nil {
		return err
	}
	defer em.Close()
	c := em.Config
	if c.MLA != nil { // deepseek2: experts with heads and dense channels, prune_mla.go
		return runPruneMLAFrom(fs, src, dst, em)
	}
	for _, f := range []string{"ffn", "heads", "layers", "target-params"} {
		if fs.Changed(f) {
			return usageError{"--experts cannot be combined with --" + f + " yet (except on deepseek2 models)"}
		}
	}
	if c.Experts == 0 {
		return fmt.Errorf("%s: --experts: the model has no routed experts", src)
	}
	remove, err := parseExperts(spec, c.Experts)
	if err != nil {
		return usageError{err.Error()}
	}
	if mc := c.Context; mc > 0 && ctx > mc {
		ctx = mc
	}
	calibToks, bos, err := readToks(em, calibPath)
	if err != nil {
		return err
	}
	st := prune.NewExpertStats(c)
	s := em.NewSession(ctx)
	s.Observer = st
	n, cl := calib.Chunks(len(calibToks), ctx, chunks)
	if err := calib.Run(s, calibToks, n, cl, bos, chunkProgress("routing", quiet)); err != nil {
		return fmt.Errorf("%s: %w", calibPath, err)
	}
	if !quiet && isTerminal(os.Stderr) {
		endProgress()
	}
	keep, layers, err := st.ChooseExperts(method, c.Experts-remove)
	if err != nil {
		return err
	}
	rep := &expertPruneReport{Schema: "shrink.prune-experts/v1", Source: src, Output: dst, Score: scoreName,
		ExpertsFrom: c.Experts, ExpertsTo: c.Experts - remove, ParamsBefore: c.Params(), Layers: layers}
	if err := writeKeptExperts(src, dst, tokFile, keep); err != nil {
		return err
	}
	pem, err := engine.Load(dst, engine.Options{Threads: threads})
	if err != nil {
		return fmt.Errorf("%s: reading the pruned model back: %w", dst, err)
	}
	defer pem.Close()
	rep.ParamsAfter = pem.Config.Params()
	for _, tx := range []struct {
		path string
		out  **pplPair
	}{{calibPath, &rep.Calib}, {evalPath, &rep.Eval}} {
		if tx.path == "" {
			continue
		}
		if *tx.out, err = pplBeforeAfter(em, pem, tx.path, ctx, chunks); err != nil {
			return err
		}
	}
	if !quiet {
		printExpertReport(stdout, rep)
	}
	return writeReportJSON(jsonOut, rep)
}

// readToks tokenizes a text file with the model's vocabulary.
func readToks(m *engine.Model, path string) ([]int32, int32, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, -1, err
	}
	toks, bos, err := bench.Tokenize(m.Vocab, string(text))
	if err != nil {
		return nil, -1, fmt.Errorf("%s: %w", path, err)
	}
	if len(toks) < 2 {
		return nil, -1, fmt.Errorf("%s: too little text", path)
	}
	return toks, bos, nil
}

// writeKeptExperts writes src with only the experts keep[l] of each MoE
// layer, tensors in their stored types.
func writeKeptExperts(src, dst, tokFile string, keep [][]int) error {
	cm, err := convert.Load(src, convert.Options{Tokenizer: tokFile})
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
	return cm.WriteGGUF(dst, md, plans, nil)
}

// pplBeforeAfter is a text's perplexity on two models.
func pplBeforeAfter(before, after *engine.Model, path string, ctx, chunks int) (*pplPair, error) {
	toks, bos, err := readToks(before, path)
	if err != nil {
		return nil, err
	}
	if len(toks) < ctx {
		return nil, fmt.Errorf("%s: %d tokens, fewer than one chunk of %d", path, len(toks), ctx)
	}
	return pplOfTokens(before, after, path, toks, bench.EvalOptions{Ctx: ctx, Chunks: chunks, BOS: bos})
}

func printExpertReport(w io.Writer, r *expertPruneReport) {
	fmt.Fprintf(w, "%s -> %s: routed experts %d -> %d per MoE layer (score %s), parameters %d -> %d\n",
		r.Source, r.Output, r.ExpertsFrom, r.ExpertsTo, r.Score, r.ParamsBefore, r.ParamsAfter)
	fmt.Fprintf(w, "%-6s %-28s %-16s %10s %10s\n", "layer", "kept", "removed", "mass kept", "routes kept")
	for _, l := range r.Layers {
		fmt.Fprintf(w, "%-6d %-28s %-16s %9.1f%% %9.1f%%\n", l.Layer, fmt.Sprint(l.Kept), fmt.Sprint(l.Removed), 100*l.MassKept, 100*l.FreqKept)
	}
	for _, p := range []*pplPair{r.Calib, r.Eval} {
		if p != nil {
			fmt.Fprintf(w, "perplexity %s: %.4f -> %.4f (x%.4f, %d tokens)\n", p.Path, p.Before, p.After, p.Ratio, p.Tokens)
		}
	}
}
