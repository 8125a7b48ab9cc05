package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	"github.com/shrink-llm/shrink"
	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/ollama"
)

// Kinds returns the step kinds of this build, by name, each calling the
// library function of package shrink that does the command's work. Their
// options are the options structs of those functions.
func Kinds() map[string]Kind {
	return map[string]Kind{
		"convert":  convertKind(),
		"prune":    pruneKind(),
		"distill":  distillKind(),
		"quantize": quantizeKind(),
		"bench":    benchKind(),
		"gate":     gateKind(),
	}
}

// convertKind converts its input to a GGUF file (shrink.Convert).
func convertKind() Kind {
	return Kind{Accepts: Model, Produces: Model, Ext: ".gguf", Paths: []string{"tokenizer"},
		Options: func() any { return &shrink.ConvertOptions{} },
		Run: func(ctx context.Context, c *Call) (*Result, error) {
			o := *c.Options.(*shrink.ConvertOptions)
			o.Progress, o.Log = c.Progress, logTo(c.Progress)
			_, err := shrink.Convert(ctx, c.Input, c.Output, o)
			return nil, err
		}}
}

// logTo turns note lines into progress messages (stage "note").
func logTo(p shrink.ProgressFunc) func(string) {
	return func(line string) {
		if p != nil {
			p(shrink.Progress{Stage: "note", Message: line})
		}
	}
}

// quantizeKind quantizes its input (shrink.Quantize).
func quantizeKind() Kind {
	return Kind{Accepts: Model, Produces: Model, Ext: ".gguf",
		Paths:   []string{"imatrix", "calib", "tokenizer", "recipe"},
		Scratch: []string{"imatrix-out", "recipe-out", "sensitivity-cache"},
		Options: func() any { return &shrink.QuantizeOptions{} },
		Check: func(v any) error {
			if v.(*shrink.QuantizeOptions).Ollama {
				return errors.New(`option "ollama": set the recipe's "ollama" (or --ollama) to write the Modelfile beside the chain's final model`)
			}
			return nil
		},
		Run: func(ctx context.Context, c *Call) (*Result, error) {
			o := *c.Options.(*shrink.QuantizeOptions)
			o.Progress = c.Progress
			res, err := shrink.Quantize(ctx, c.Input, c.Output, o)
			if err != nil {
				return nil, err
			}
			f := map[string]float64{"bits_per_weight": res.BPW, "tensor_bytes": float64(res.TensorBytes)}
			if s := res.Solver; s != nil {
				f["predicted_kld"], f["measured_kld"] = s.PredictedKLD, s.MeasuredKLD
			}
			return &Result{Figures: f}, nil
		}}
}

// benchKind measures its input (shrink.Bench) and writes the
// shrink.bench/v1 report.
func benchKind() Kind {
	return Kind{Accepts: Model, Produces: Report, Ext: ".json",
		Paths:   []string{"text", "baseline", "baseline-logits", "tasks", "tokenizer"},
		Scratch: []string{"save-baseline", "json", "html", "md"},
		Options: func() any { o := shrink.DefaultBenchOptions(); return &o },
		Check: func(v any) error {
			if v.(*shrink.BenchOptions).Synthetic != "" {
				return errors.New(`option "synthetic": a bench step measures its input`)
			}
			return nil
		},
		Run: func(ctx context.Context, c *Call) (*Result, error) {
			o := *c.Options.(*shrink.BenchOptions)
			o.Progress = c.Progress
			r, err := shrink.Bench(ctx, c.Input, o)
			if err != nil {
				return nil, err
			}
			return &Result{Report: r, Figures: benchFigures(r)}, r.WriteFile(c.Output)
		}}
}

// benchFigures picks a report's headline measurements.
func benchFigures(r *bench.Report) map[string]float64 {
	f := map[string]float64{}
	if m := r.Model; m != nil {
		f["file_bytes"], f["params"], f["bits_per_weight"] = float64(m.FileBytes), float64(m.Params), m.BitsPerWeight
	}
	if p := r.Perplexity; p != nil {
		f["ppl"], f["ppl_stderr"] = p.Value, p.Stderr
	}
	if r.Baseline != nil {
		f["baseline_ppl"] = r.Baseline.Perplexity
	}
	if r.KLD != nil {
		f["kld_mean"], f["kld_p99"] = r.KLD.Mean, r.KLD.P99
	}
	if r.Top1Agreement != nil {
		f["top1"] = *r.Top1Agreement
	}
	if s := r.Speed; s != nil {
		f["prefill_tps"], f["decode_tps"] = s.PrefillTokensPerS, s.DecodeTokensPerS
	}
	if r.Memory != nil {
		f["peak_rss_bytes"] = float64(r.Memory.PeakRSSBytes)
	}
	for _, t := range r.Tasks {
		f["accuracy:"+t.Name] = t.Accuracy
	}
	return f
}

// gateKind checks its input, a bench step's report (shrink.Gate), and
// writes the result (checks and failures) as JSON.
func gateKind() Kind {
	return Kind{Accepts: Report, Produces: Verdict, Ext: ".json",
		Paths: []string{"policy", "against"}, Scratch: []string{"junit"},
		Options: func() any { return &shrink.GateOptions{} },
		Run: func(ctx context.Context, c *Call) (*Result, error) {
			r, err := bench.ReadReport(c.Input)
			if err != nil {
				return nil, err
			}
			res, err := shrink.Gate(r, *c.Options.(*shrink.GateOptions))
			if err != nil {
				return nil, err
			}
			data, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				return nil, err
			}
			return &Result{Checks: res.Checks}, os.WriteFile(c.Output, append(data, '\n'), 0o644)
		}}
}

// pruneKind removes the structure its calibration text uses least
// (shrink.Prune).
func pruneKind() Kind {
	return Kind{Accepts: Model, Produces: Model, Ext: ".gguf", Paths: []string{"calib", "eval", "tokenizer"},
		Options: func() any { o := shrink.DefaultPruneOptions(); return &o },
		Run: func(ctx context.Context, c *Call) (*Result, error) {
			o := *c.Options.(*shrink.PruneOptions)
			o.Progress = c.Progress
			res, err := shrink.Prune(ctx, c.Input, c.Output, o)
			if err != nil {
				return nil, err
			}
			f := map[string]float64{"params_before": float64(res.ParamsBefore), "params_after": float64(res.ParamsAfter)}
			for name, p := range map[string]*shrink.PerplexityPair{"calib": res.Calib, "eval": res.Eval} {
				if p != nil {
					f[name+"_ppl_before"], f[name+"_ppl_after"] = p.Before, p.After
				}
			}
			return &Result{Figures: f}, nil
		}}
}

// distillKind trains its input, the student, toward the teacher option
// (shrink.Distill). An interrupted run resumes from its checkpoint.
func distillKind() Kind {
	return Kind{Accepts: Model, Produces: Model, Ext: ".gguf", Paths: []string{"teacher", "data", "eval"},
		Scratch: []string{"teacher-cache"},
		Options: func() any { o := shrink.DefaultDistillOptions(); return &o },
		Check: func(v any) error {
			o := v.(*shrink.DistillOptions)
			switch {
			case o.Student != "":
				return errors.New(`option "student": the step's input is the student`)
			case o.Checkpoint != "" || o.Resume:
				return errors.New(`options "checkpoint" and "resume": the pipeline keeps the checkpoint and resumes an interrupted step itself`)
			}
			return nil
		},
		Run: func(ctx context.Context, c *Call) (*Result, error) {
			o := *c.Options.(*shrink.DistillOptions)
			o.Student, o.Progress = c.Input, c.Progress
			o.Checkpoint = c.Output + ".ckpt"
			if _, err := os.Stat(o.Checkpoint); err == nil && c.Resume {
				o.Resume = true
			}
			res, err := shrink.Distill(ctx, c.Output, o)
			if err != nil {
				return nil, err
			}
			f := map[string]float64{"steps": float64(res.Steps), "final_loss": float64(res.Last.Loss)}
			if res.Eval != nil {
				f["eval_loss"] = float64(res.Eval.Loss)
			}
			return &Result{Figures: f}, nil
		}}
}

// writeModelfile writes the Ollama Modelfile beside a GGUF file.
func writeModelfile(gguf string) (string, error) {
	path, _, err := ollama.Write(gguf)
	return path, err
}
