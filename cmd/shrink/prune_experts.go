package main

import (
	"fmt"
	"io"

	"github.com/shrink-llm/shrink"
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

// expertReport is the --json report of an experts-only prune.
func expertReport(r *shrink.PruneResult) *expertPruneReport {
	return &expertPruneReport{Schema: r.Schema, Source: r.Source, Output: r.Output, Score: r.Score, ExpertsFrom: r.ExpertsBefore,
		ExpertsTo: r.ExpertsAfter, ParamsBefore: r.ParamsBefore, ParamsAfter: r.ParamsAfter, Layers: r.Experts, Calib: r.Calib, Eval: r.Eval}
}

// printExpertReport writes the per-layer experts kept and the
// perplexities.
func printExpertReport(w io.Writer, r *expertPruneReport) {
	fmt.Fprintf(w, "%s -> %s: routed experts %d -> %d per MoE layer (score %s), parameters %d -> %d\n",
		r.Source, r.Output, r.ExpertsFrom, r.ExpertsTo, r.Score, r.ParamsBefore, r.ParamsAfter)
	fmt.Fprintf(w, "%-6s %-28s %-16s %10s %10s\n", "layer", "kept", "removed", "mass kept", "routes kept")
	for _, l := range r.Layers {
		fmt.Fprintf(w, "%-6d %-28s %-16s %9.1f%% %9.1f%%\n", l.Layer, fmt.Sprint(l.Kept), fmt.Sprint(l.Removed), 100*l.MassKept, 100*l.FreqKept)
	}
	for _, p := range []*pplPair{r.Calib, r.Eval} {
		if p != nil {
			fmt.Fprintf(w, "perplexity %s: %.4f -> %.4f (x%.4f, first %d chunks, %d tokens)\n", p.Path, p.Before, p.After, p.Ratio, p.Chunks, p.Tokens)
		}
	}
}
