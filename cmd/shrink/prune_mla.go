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

// runPruneMLA removes --heads of every latent attention layer (the same
// number in every layer, as llama.cpp's deepseek2 reads one head count),
// chosen by the energy each head writes through attn_output on the
// calibration text, with attn_output refitted by least squares, then
// reports the perplexity of the calibration and --eval texts before and
// after as runPrune does.
func runPruneMLA(fs *pflag.FlagSet, j mlaPruneJob) error {
	if flagFloat64(fs, "ffn") != 0 || flagInt(fs, "layers") != 0 || flagString(fs, "target-params") != "" {
		return usageError{"deepseek2 (latent attention) models: only --heads is supported so far (no --ffn, --layers or --target-params)"}
	}
	if !strings.HasSuffix(strings.ToLower(j.dst), ".gguf") {
		return usageError{"deepseek2 (latent attention) models are written as GGUF only"}
	}
	em, c := j.em, j.em.Config
	frac := flagFloat64(fs, "heads")
	keep := c.Heads[0] - int(frac*float64(c.Heads[0])+0.5)
	if frac <= 0 || frac >= 1 || keep < 1 || keep >= c.Heads[0] {
		return usageError{fmt.Sprintf("--heads %g removes no head or all %d of a layer's heads", frac, c.Heads[0])}
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
	if err := st.Err(); err != nil {
		return err
	}
	cm, err := convert.Load(j.src, convert.Options{Tokenizer: j.tokFile})
	if err != nil {
		return err
	}
	defer cm.Close()
	m, warns, err := prune.FromConvert(cm)
	if err != nil {
		return err
	}
	kept, err := prune.PlanMLAHeads(m, st, keep)
	if err != nil {
		return err
	}
	noRepair := flagBool(fs, "no-repair")
	pm, plan, reps, err := prune.ApplyMLAHeads(m, st, kept, prune.Options{Repair: !noRepair, Ridge: flagFloat64(fs, "ridge")})
	if err != nil {
		return err
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
		Repair: !noRepair, Ctx: j.ctx, ParamsBefore: m.Config.Params(), ParamsAfter: pm.Config.Params(), Layers: reps, Warnings: warns}
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
