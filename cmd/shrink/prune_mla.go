package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/calib"
	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/prune"
)

// mlaPruneJob is what runPrune has read when the model has latent
// attention (deepseek2), whose heads runPruneMLA removes.
type mlaPruneJob struct {
	src, dst, calibPath, evalPath string
	calibToks                     []int32
	bos                           int32
	evalText                      []byte
	em                            *engine.Model
	ctx, chunks, threads          int
	tokFile, jsonOut              string
	start                         time.Time
}

// runPruneMLAFrom is runPruneMLA for prune --experts on a deepseek2
// model: it reads what runPrune reads before it hands over.
func runPruneMLAFrom(fs *pflag.FlagSet, src, dst string, em *engine.Model) error {
	j := mlaPruneJob{src: src, dst: dst, calibPath: flagString(fs, "calib"), evalPath: flagString(fs, "eval"), em: em,
		ctx: flagInt(fs, "ctx"), chunks: flagInt(fs, "chunks"), threads: flagInt(fs, "threads"),
		tokFile: flagString(fs, "tokenizer"), jsonOut: flagString(fs, "json"), start: time.Now()}
	if mc := em.Config.Context; mc > 0 && j.ctx > mc {
		j.ctx = mc
	}
	var err error
	if j.calibToks, j.bos, err = readToks(em, j.calibPath); err != nil {
		return err
	}
	if j.evalPath != "" {
		if j.evalText, err = os.ReadFile(j.evalPath); err != nil {
			return err
		}
	}
	return runPruneMLA(fs, j)
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
		return 0, usageError{fmt.Sprintf("--%s %g removes none or all of a layer's %d", flag, frac, n)}
	}
	return keep, nil
}

// runPruneMLA prunes a latent attention (deepseek2) model from one
// calibration run: --heads of every latent attention layer (the same
// number in every layer, as llama.cpp's deepseek2 reads one head count),
// chosen by the energy each head writes through attn_output; --ffn of the
// channels of the dense leading blocks (one width for all of them, which
// is what llama.cpp reads), chosen by activation energy; and --experts of
// every MoE layer, ranked by --expert-score. attn_output and ffn_down are
// refitted by least squares; it then reports the perplexity of the
// calibration and --eval texts before and after as runPrune does.
func runPruneMLA(fs *pflag.FlagSet, j mlaPruneJob) error {
	if flagInt(fs, "layers") != 0 || flagString(fs, "target-params") != "" {
		return usageError{"deepseek2 (latent attention) models: --heads, --ffn (dense leading blocks) and --experts are supported (no --layers or --target-params)"}
	}
	if !strings.HasSuffix(strings.ToLower(j.dst), ".gguf") {
		return usageError{"deepseek2 (latent attention) models are written as GGUF only"}
	}
	em, c := j.em, j.em.Config
	keepH, err := mlaKeep("heads", flagFloat64(fs, "heads"), c.Heads[0], 1)
	if err != nil {
		return err
	}
	dense := -1
	for l := 0; l < c.Layers; l++ {
		if !c.MoELayer(l) {
			dense = c.FFN[l]
		}
	}
	ffnFrac := flagFloat64(fs, "ffn")
	if ffnFrac != 0 && dense < 0 {
		return usageError{"--ffn: the model has no dense feed-forward blocks (prune its experts with --experts)"}
	}
	keepF, err := mlaKeep("ffn", ffnFrac, dense, flagInt(fs, "ffn-multiple"))
	if ffnFrac != 0 && err != nil {
		return err
	}
	removeE := 0
	method, ok := prune.ParseExpertScore(flagString(fs, "expert-score"))
	if !ok {
		return usageError{fmt.Sprintf("--expert-score %q: want reap, freq or mass", flagString(fs, "expert-score"))}
	}
	if spec := flagString(fs, "experts"); spec != "" {
		if c.Experts == 0 {
			return fmt.Errorf("%s: --experts: the model has no routed experts", j.src)
		}
		if removeE, err = parseExperts(spec, c.Experts); err != nil {
			return usageError{err.Error()}
		}
	}
	if keepH == c.Heads[0] && ffnFrac == 0 && removeE == 0 {
		return usageError{"nothing to remove: give --heads, --ffn or --experts"}
	}
	quiet := flagBool(fs, "quiet")
	st, err := prune.NewMLAStats(c)
	if err != nil {
		return err
	}
	s := em.NewSession(j.ctx)
	s.Observer = st
	n, cl := calib.Chunks(len(j.calibToks), j.ctx, j.chunks)
	if err := calib.Run(s, j.calibToks, n, cl, j.bos, chunkProgress("calibrating", quiet)); err != nil {
		return fmt.Errorf("%s: %w", j.calibPath, err)
	}
	if !quiet && isTerminal(os.Stderr) {
		endProgress()
	}
	if err := st.Err(); err != nil {
		return err
	}
	cm, err := convert.Load(j.src, convert.Options{Tokenizer: j.tokFile})
	if err != nil {
		return err
	}
	defer cm.Close()
	var experts []prune.ExpertLayer
	if removeE > 0 {
		var keepE [][]int
		if keepE, experts, err = st.Experts().ChooseExperts(method, c.Experts-removeE); err != nil {
			return err
		}
		if err := cm.KeepExperts(keepE); err != nil {
			return err
		}
	}
	m, warns, err := prune.FromConvert(cm)
	if err != nil {
		return err
	}
	var kp prune.MLAPlan
	if keepH < c.Heads[0] {
		if kp.Heads, err = prune.PlanMLAHeads(m, st, keepH); err != nil {
			return err
		}
	}
	if ffnFrac != 0 {
		if kp.FFN, err = prune.PlanMLAFFN(m, st, keepF); err != nil {
			return err
		}
	}
	noRepair := flagBool(fs, "no-repair")
	pm, plan, reps, err := prune.ApplyMLA(m, st, kp, prune.Options{Repair: !noRepair, Ridge: flagFloat64(fs, "ridge")})
	if err != nil {
		return err
	}
	for l := range reps { // before the experts were cut
		reps[l].Params[1] = c.LayerParams(l)
	}
	rec := pruneRecipe(fs)
	md, err := pm.Metadata(cm, plan, rec, prune.ArchAuto)
	if err != nil {
		return err
	}
	if err := pm.WriteGGUF(j.dst, md); err != nil {
		return err
	}
	rep := &pruneReport{Schema: "shrink.prune/v1", Source: j.src, Output: j.dst, Recipe: rec, Score: "activation",
		Repair: !noRepair, Ctx: j.ctx, ParamsBefore: c.Params(), ParamsAfter: pm.Config.Params(), Layers: reps, Experts: experts, Warnings: warns}
	pem, err := engine.Load(j.dst, engine.Options{Threads: j.threads, Tokenizer: j.tokFile})
	if err != nil {
		return err
	}
	defer pem.Close()
	if rep.Calib, err = mlaPPL(em, pem, j.calibPath, j.calibToks, j); err != nil {
		return err
	}
	if j.evalText != nil {
		et, _, err := bench.Tokenize(em.Vocab, string(j.evalText))
		if err != nil {
			return err
		}
		if rep.Eval, err = mlaPPL(em, pem, j.evalPath, et, j); err != nil {
			return err
		}
	}
	rep.Seconds = time.Since(j.start).Seconds()
	if !quiet {
		printPruneReport(stdout, rep)
	}
	return writeReportJSON(j.jsonOut, rep)
}

// mlaPPL returns a text's perplexity on the source and the pruned model
// (nil when it has less than one chunk).
func mlaPPL(em, pem *engine.Model, path string, toks []int32, j mlaPruneJob) (*pplPair, error) {
	if len(toks) < j.ctx {
		fmt.Fprintf(os.Stderr, "warning: %s: %d tokens, fewer than one chunk of %d: no perplexity\n", path, len(toks), j.ctx)
		return nil, nil
	}
	return pplOfTokens(em, pem, path, toks, bench.EvalOptions{Ctx: j.ctx, Chunks: j.chunks, BOS: j.bos})
}
