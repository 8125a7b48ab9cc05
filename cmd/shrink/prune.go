package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink"
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
		fs.Float64("stats-mem", 4, "GiB for the repair's Gram matrices (FFN²+QDim² float64 per layer): when every layer's fit they are collected in the calibration pass; otherwise the calibration pass writes each block's to a temporary file beside DST (when its file system has twice their total free) and the repair reads one block's at a time back, else a second pass makes them block by block, one block's at a time. "+
			"Peak resident memory from an F16 GGUF in the block-by-block pass: one block's Gram matrices, 8·(FFN²+QDim²) bytes, plus the calibration chunks' residual streams, chunks·ctx·dim·4 bytes, plus at most 25% of the file "+
			"(one block's float32 weights and the repair's work; the mapped model stays in the page cache); when every layer's Gram matrices fit, those replace one block's")
		fs.Int("ctx", 512, "chunk size in tokens for calibration and perplexity (capped at the model's context)")
		fs.Int("chunks", 0, "at most this many chunks per text (0: all)")
		fs.Int("eval-chunks", 16, "perplexity before and after on the first this many chunks of --calib and --eval (at most --chunks): each runs both models once; 0: no perplexity report")
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
type pplPair = shrink.PerplexityPair

// pruneOptions reads the flags into the library's options.
func pruneOptions(fs *pflag.FlagSet) shrink.PruneOptions {
	return shrink.PruneOptions{
		Calib: flagString(fs, "calib"), Eval: flagString(fs, "eval"),
		FFN: flagFloat64(fs, "ffn"), Heads: flagFloat64(fs, "heads"), Layers: flagInt(fs, "layers"),
		TargetParams: flagString(fs, "target-params"), Experts: flagString(fs, "experts"), ExpertScore: flagString(fs, "expert-score"),
		Score: flagString(fs, "score"), Allocate: flagString(fs, "allocate"), MinKeep: flagFloat64(fs, "min-keep"),
		FFNMultiple: flagInt(fs, "ffn-multiple"), NoRepair: flagBool(fs, "no-repair"), Ridge: flagFloat64(fs, "ridge"),
		GGUFArch: flagString(fs, "gguf-arch"), StatsMem: flagFloat64(fs, "stats-mem"),
		Ctx: flagInt(fs, "ctx"), Chunks: flagInt(fs, "chunks"), EvalChunks: flagInt(fs, "eval-chunks"), Threads: flagInt(fs, "threads"), Tokenizer: flagString(fs, "tokenizer"),
		Recipe: pruneRecipe(fs),
	}
}

func runPrune(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 2, "SRC DST"); err != nil {
		return err
	}
	opt := pruneOptions(fs)
	for _, f := range []struct {
		name string
		v    *int
	}{{"ctx", &opt.Ctx}, {"ffn-multiple", &opt.FFNMultiple}} {
		if *f.v == 0 {
			*f.v = -1 // 0 given on the command line is refused, not taken as the default
		}
	}
	quiet := flagBool(fs, "quiet")
	prog, done := pruneProgress(quiet)
	opt.Progress = prog
	ctx, stop := interruptContext()
	defer stop()
	res, err := shrink.Prune(ctx, args[0], args[1], opt)
	done()
	if err != nil {
		return fromLib(err)
	}
	if res.Schema == "shrink.prune-experts/v1" {
		rep := expertReport(res)
		if !quiet {
			printExpertReport(stdout, rep)
		}
		return writeReportJSON(flagString(fs, "json"), rep)
	}
	rep := &pruneReport{Schema: res.Schema, Source: res.Source, Output: res.Output, Recipe: res.Recipe, Score: res.Score,
		Repair: res.Repair, Ctx: res.Ctx, ParamsBefore: res.ParamsBefore, ParamsAfter: res.ParamsAfter, Removed: res.Removed,
		Layers: res.Layers, Experts: res.Experts, Calib: res.Calib, Eval: res.Eval, Warnings: res.Warnings, Seconds: res.Seconds}
	if !quiet {
		printPruneReport(stdout, rep)
	}
	return writeReportJSON(flagString(fs, "json"), rep)
}

// pruneProgress prints the library's progress as prune always has:
// warnings always, notes unless quiet, calibration chunks as a progress
// line on a terminal. done clears a progress line left.
func pruneProgress(quiet bool) (shrink.ProgressFunc, func()) {
	dirty := false
	clear := func() {
		if dirty {
			endProgress()
			dirty = false
		}
	}
	return func(p shrink.Progress) {
		switch {
		case p.Stage == "warning":
			clear()
			fmt.Fprintln(os.Stderr, p.Message)
		case quiet:
		case p.Total == 0:
			clear()
			fmt.Fprintln(os.Stderr, p.Message)
		case p.Stage == "calibrate" && isTerminal(os.Stderr):
			fmt.Fprintf(os.Stderr, "\r\033[K%s", p.Message)
			dirty = true
		}
	}, clear
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

// pruneRecipe returns the command line's flags, for provenance.
func pruneRecipe(fs *pflag.FlagSet) string {
	parts := []string{"shrink prune"}
	fs.VisitAll(func(f *pflag.Flag) {
		switch f.Name {
		case "quiet", "help", "json", "threads", "tokenizer", "eval-chunks":
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
			fmt.Fprintf(w, "perplexity %s (first %d chunks, %d tokens, ctx %d): %.4f -> %.4f (x%.3f)\n", p.Path, p.Chunks, p.Tokens, r.Ctx, p.Before, p.After, p.Ratio)
		}
	}
	if r.Calib == nil && r.Eval == nil {
		fmt.Fprintln(w, "perplexity: not evaluated (--eval-chunks 0)")
	}
}
