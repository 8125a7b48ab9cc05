package pipeline

import (
	"context"
	"errors"
	"os"

	"github.com/shrink-llm/shrink"
	"github.com/shrink-llm/shrink/ollama"
)

// Kinds returns the step kinds of this build, by name, each calling the
// library function of package shrink that does the command's work. Their
// options are the options structs of those functions.
func Kinds() map[string]Kind {
	return map[string]Kind{
		"distill": distillKind(),
	}
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
