package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/distill"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/tokenizer"
)

var distillCmd = &command{
	name:    "distill",
	args:    "--teacher T --student S --data TEXT DST [--steps N | --minutes M] [--lora-rank R] [--resume]",
	summary: "distil a student (e.g. a pruned model) from its teacher on a text",
	flags: func(fs *pflag.FlagSet) {
		fs.String("teacher", "", "teacher model (any checkpoint shrink reads; run on the inference engine in its stored type, e.g. Q8_0, unless --hidden-weight needs its residual streams)")
		fs.String("student", "", "student model to train (same tokenizer as the teacher)")
		fs.Float32("kd-weight", 1, "weight of temperature²·KL(teacher || student) on the logits")
		fs.Float32("ce-weight", 0, "weight of the cross-entropy on the text's next tokens")
		fs.Float32("hidden-weight", 0, "weight of the MSE between the residual streams of matching blocks (same width only)")
		fs.Float32("temperature", 1, "softmax temperature of the KL term")
		fs.String("teacher-cache", "", "file of teacher logits: written first when absent (the teacher is then unloaded), read when present")
		fs.Int("lora-rank", 0, "train low-rank adapters of this rank on the blocks' linear layers (merged at the end) instead of all weights; norms always train")
		fs.Float32("lora-alpha", 0, "adapter scale numerator, scale = alpha/rank (default: 2·rank)")
		trainLoopFlags(fs, 1e-4, 0)
	},
	run: runDistill,
}

func runDistill(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, "DST"); err != nil {
		return err
	}
	c, err := readLoopConfig(fs, args[0])
	if err != nil {
		return err
	}
	tPath := flagString(fs, "teacher")
	sPath := flagString(fs, "student")
	data := flagString(fs, "data")
	cache := flagString(fs, "teacher-cache")
	rank := flagInt(fs, "lora-rank")
	threads := flagInt(fs, "threads")
	alpha := flagFloat32(fs, "lora-alpha")
	c.opt.KDWeight = flagFloat32(fs, "kd-weight")
	c.opt.CEWeight = flagFloat32(fs, "ce-weight")
	c.opt.HiddenWeight = flagFloat32(fs, "hidden-weight")
	c.opt.Temperature = flagFloat32(fs, "temperature")
	switch {
	case tPath == "" || sPath == "" || data == "":
		return usageError{"--teacher, --student and --data are required"}
	case c.opt.KDWeight < 0 || c.opt.CEWeight < 0 || c.opt.HiddenWeight < 0:
		return usageError{"loss weights must not be negative"}
	case c.opt.KDWeight == 0 && c.opt.CEWeight == 0 && c.opt.HiddenWeight == 0:
		return usageError{"every loss weight is zero"}
	case !(c.opt.Temperature > 0):
		return usageError{"--temperature must be positive"}
	case rank < 0:
		return usageError{"--lora-rank must not be negative"}
	case cache != "" && c.opt.HiddenWeight != 0:
		return usageError{"--hidden-weight needs the teacher in memory (the cache holds logits only)"}
	}
	student, err := distill.Load(sPath)
	if err != nil {
		return err
	}
	if student.Vocab == nil {
		return fmt.Errorf("%s: no tokenizer", sPath)
	}
	tok, err := tokenizer.New(student.Vocab)
	if err != nil {
		return err
	}
	ws, ntok, err := loadText(data, tok, c.ctx)
	if err != nil {
		return err
	}
	var teacher distill.Teacher
	var evalTeacher distill.Teacher
	needTeacher := c.opt.KDWeight != 0 || c.opt.HiddenWeight != 0
	if needTeacher {
		if cache != "" {
			if _, err := os.Stat(cache); errors.Is(err, os.ErrNotExist) {
				tm, closeT, err := loadTeacher(tPath, student, false, threads)
				if err != nil {
					return err
				}
				start := time.Now()
				err = distill.WriteTeacherCache(cache, tm, student.Config.VocabSize, ws, func(done, total int) {
					if !c.quiet && (done == total || done%64 == 0) {
						fmt.Fprintf(trainLogOut, "teacher cache: %d/%d windows (%.0f tok/s)\n", done, total, float64(done*c.ctx)/time.Since(start).Seconds())
					}
				})
				closeT()
				if err != nil {
					return err
				}
			}
			ct, err := distill.OpenTeacherCache(cache, ws, student.Config.VocabSize)
			if err != nil {
				return err
			}
			defer ct.Close()
			teacher = ct
		} else {
			tm, closeT, err := loadTeacher(tPath, student, c.opt.HiddenWeight != 0, threads)
			if err != nil {
				return err
			}
			defer closeT()
			teacher, evalTeacher = tm, tm
		}
	}
	if rank > 0 {
		if alpha == 0 {
			alpha = 2 * float32(rank)
		}
		if err := student.AddLoRA(rank, alpha, c.opt.Seed); err != nil {
			return usageError{err.Error()}
		}
	}
	if !c.quiet {
		fmt.Fprintf(trainLogOut, "student: %d parameters; data: %d tokens, %d windows of %d\n", student.NumParams(), ntok, len(ws), c.ctx)
	}
	steps, err := planSteps(c, func() (time.Duration, error) {
		d, err := distill.TimeStep(student, ws, c.opt.Batch)
		return 2 * d, err // the teacher's forward and the update cost about as much again
	})
	if err != nil {
		return err
	}
	c.opt.Steps = steps
	tr, err := distill.NewTrainer(student, teacher, ws, c.opt)
	if err != nil {
		return err
	}
	return runLoop(c, tr, tok, evalTeacher)
}

// loadTeacher loads the teacher and checks that it predicts over the
// student's vocabulary. With hidden (the hidden-state loss) it is a float32
// distill.Model, which gives the residual streams; otherwise it runs on
// the inference engine, its weights kept in their stored type. close
// releases it.
func loadTeacher(path string, student *distill.Model, hidden bool, threads int) (t distill.Teacher, close func() error, err error) {
	var vocab int
	if hidden {
		tm, err := distill.Load(path)
		if err != nil {
			return nil, nil, err
		}
		t, close, vocab = distill.ModelTeacher{M: tm}, func() error { return nil }, tm.Config.VocabSize
	} else {
		em, err := engine.Load(path, engine.Options{Threads: threads})
		if err != nil {
			return nil, nil, err
		}
		t, close, vocab = distill.NewEngineTeacher(em), em.Close, em.Config.VocabSize
	}
	if vocab != student.Config.VocabSize {
		close()
		return nil, nil, fmt.Errorf("%s: %w: teacher vocabulary %d, student %d", path, distill.ErrMismatch, vocab, student.Config.VocabSize)
	}
	return t, close, nil
}
