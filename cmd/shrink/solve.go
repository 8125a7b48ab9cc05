package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink"
)

// solveFlags declares the solver's flags on quantize's flag set.
func solveFlags(fs *pflag.FlagSet) {
	fs.String("target-size", "", "solve for a file of at most this size (bytes, or with a unit: 1.5GB, 1500MB, 900MiB): chooses each tensor's type to minimise the predicted KLD; needs --calib")
	fs.Float64("target-bpw", 0, "solve for at most this many bits per weight over the whole file's tensors; needs --calib")
	fs.String("recipe", "", "apply a recipe file (per-tensor types from --recipe-out or a solved GGUF) instead of --type's rules")
	fs.String("recipe-out", "", "write the solved recipe (JSON) to this file")
	fs.String("sensitivity", "auto", "how the solver predicts each tensor's KLD per type: exact (quantize the tensor alone to every type, run the model, measure the KLD), "+
		"hybrid (exact at --sensitivity-ref only, the other types scaled from it by the GPTQ Hessian-weighted error tr(ΔW H ΔWᵀ): one model run per tensor instead of one per tensor and type, for large models; its agreement with exact: README), "+
		fmt.Sprintf("or auto: exact up to %d parameters, hybrid above", shrink.AutoExactParams))
	fs.String("sensitivity-ref", "auto", "--sensitivity hybrid: the type measured exactly; auto: the largest K-quant candidate below the budget's bits per weight")
	fs.Int("sensitivity-chunks", 0, "calibration chunks the sensitivities' KLDs are measured on (0: 8 with exact, 2 with hybrid)")
	fs.String("sensitivity-cache", "", "file of measured sensitivities: read instead of measuring when it holds them for the same source, calibration text, candidate types and options, else written after measuring (a solve at another budget then measures nothing)")
	fs.String("candidate-types", shrink.DefaultCandidateTypes, "types the solver chooses from (types shrink cannot write are skipped)")
}

// parseSize reads a byte count (shrink.ParseSize).
func parseSize(s string) (int64, error) { return shrink.ParseSize(s) }

// printSolve writes the solver's decision per type, the agreement of the
// proxy with the exact KLDs when measured, and the written file's KLD and
// size next to the prediction and the budget.
func printSolve(w io.Writer, r *shrink.SolveResult) {
	cached := ""
	if r.Cached {
		cached = " (from the sensitivity cache)"
	}
	mode := r.Sensitivity
	if r.SensitivityAuto {
		mode += fmt.Sprintf(" (auto: exact up to %d parameters)", shrink.AutoExactParams)
	}
	if r.Reference != "" {
		mode += ", measured at " + r.Reference
	}
	fmt.Fprintf(w, "solver: %d tensors, sensitivity %s%s, tensor budget %d bytes, predicted KLD %.6f\n", r.Tensors, mode, cached, r.TensorBudget, r.PredictedKLD)
	if r.Pairs >= 3 && r.Sensitivity == "exact" {
		fmt.Fprintf(w, "  proxy agreement over %d (tensor, type) pairs: Spearman(exact, Hessian error) %.3f, Spearman(exact, hybrid prediction) %.3f\n", r.Pairs, r.SpearmanHessian, r.SpearmanHybrid)
	}
	var parts []string
	for k, v := range r.Types {
		parts = append(parts, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(parts)
	fmt.Fprintf(w, "  types: %s\n", strings.Join(parts, " "))
	fmt.Fprintf(w, "  KLD on the calibration text (%d chunks): predicted %.6f, measured %.6f\n", r.Chunks, r.PredictedKLD, r.MeasuredKLD)
	fmt.Fprintf(w, "  file size: %d bytes, budget %d bytes\n", r.FileBytes, r.Budget)
}
