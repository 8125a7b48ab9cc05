package shrink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/shrink-llm/shrink/distill"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/tokenizer"
)

// DistillOptions configures Distill: the teacher and student, the loss,
// the adapters and the shared loop options.
type DistillOptions struct {
	// Teacher is the teacher model (any checkpoint shrink reads), run on
	// the inference engine in its stored type unless HiddenWeight needs
	// its residual streams.
	Teacher string `json:"teacher"`
	// Student is the model to train (same tokenizer as the teacher).
	Student string `json:"student"`
	// KDWeight weighs temperature²·KL(teacher || student) on the logits.
	KDWeight float32 `json:"kd-weight"`
	// CEWeight weighs the cross-entropy on the text's next tokens.
	CEWeight float32 `json:"ce-weight"`
	// HiddenWeight weighs the MSE between the residual streams of
	// matching blocks (same width only).
	HiddenWeight float32 `json:"hidden-weight"`
	// Temperature is the softmax temperature of the KL term.
	Temperature float32 `json:"temperature"`
	// TeacherCache is a file of teacher logits: written first when absent
	// (the teacher is then unloaded), read when present.
	TeacherCache string `json:"teacher-cache"`
	// LoRARank trains low-rank adapters of this rank on the blocks'
	// linear layers (merged at the end) instead of all weights (0: all
	// weights). The student's matrices then stay in their stored type
	// (F16, BF16, Q8_0, K-quants...), never copied to float32 whole.
	LoRARank int `json:"lora-rank"`
	// LoRAAlpha is the adapter scale numerator, scale = alpha/rank (0:
	// 2·rank).
	LoRAAlpha float32 `json:"lora-alpha"`
	LoopOptions
}

// DefaultDistillOptions returns the options of a plain 'shrink distill'.
func DefaultDistillOptions() DistillOptions {
	return DistillOptions{KDWeight: 1, Temperature: 1, LoopOptions: defaultLoop(1e-4, 0)}
}

// DistillResult reports a distillation run.
type DistillResult struct {
	TrainResult
	// CacheWritten reports that the teacher cache was written by this
	// call.
	CacheWritten bool
}

// Distill trains the student toward the teacher on opt.Data and writes it
// to dst (a .gguf file, else a Hugging Face folder). A cancelled ctx stops
// the teacher cache between windows (no cache is left) and training
// between steps, with a checkpoint to resume from.
func Distill(ctx context.Context, dst string, opt DistillOptions) (*DistillResult, error) {
	c, err := opt.LoopOptions.resolve(dst, 1e-4)
	if err != nil {
		return nil, err
	}
	c.opt.KDWeight, c.opt.CEWeight, c.opt.HiddenWeight = opt.KDWeight, opt.CEWeight, opt.HiddenWeight
	c.opt.Temperature = opt.Temperature
	if err := opt.check(); err != nil {
		return nil, err
	}
	load := distill.Load
	if opt.LoRARank > 0 {
		// Adapters train beside a base that stays in its stored type.
		load = distill.LoadStored
	}
	student, err := load(opt.Student)
	if err != nil {
		return nil, err
	}
	if student.Vocab == nil {
		return nil, fmt.Errorf("%s: no tokenizer", opt.Student)
	}
	tok, err := tokenizer.New(student.Vocab)
	if err != nil {
		return nil, err
	}
	ws, ntok, err := loadText(c.Data, tok, c.Ctx)
	if err != nil {
		return nil, err
	}
	res := &DistillResult{}
	teacher, evalTeacher, closeT, err := opt.teachers(ctx, c, student, ws, res)
	if err != nil {
		return nil, err
	}
	closeT = sync.OnceFunc(closeT)
	defer closeT()
	c.release = closeT
	if opt.LoRARank > 0 {
		alpha := opt.LoRAAlpha
		if alpha == 0 {
			alpha = 2 * float32(opt.LoRARank)
		}
		if err := student.AddLoRA(opt.LoRARank, alpha, c.Seed); err != nil {
			return nil, usageErr(err.Error())
		}
	}
	res.Params, res.DataTokens, res.Windows = student.NumParams(), ntok, len(ws)
	c.info(fmt.Sprintf("student: %d parameters; data: %d tokens, %d windows of %d", student.NumParams(), ntok, len(ws), c.Ctx))
	steps, err := c.planSteps(func() (time.Duration, error) {
		d, err := distill.TimeStep(student, ws, c.opt.Batch)
		return 2 * d, err // the teacher's forward and the update cost about as much again
	})
	if err != nil {
		return nil, err
	}
	c.opt.Steps = steps
	tr, err := distill.NewTrainer(student, teacher, ws, c.opt)
	if err != nil {
		return nil, err
	}
	return res, c.run(ctx, tr, tok, evalTeacher, &res.TrainResult)
}

// check validates the distillation options.
func (opt *DistillOptions) check() error {
	switch {
	case opt.Teacher == "" || opt.Student == "" || opt.Data == "":
		return usageErr("--teacher, --student and --data are required")
	case opt.KDWeight < 0 || opt.CEWeight < 0 || opt.HiddenWeight < 0:
		return usageErr("loss weights must not be negative")
	case opt.KDWeight == 0 && opt.CEWeight == 0 && opt.HiddenWeight == 0:
		return usageErr("every loss weight is zero")
	case !(opt.Temperature > 0):
		return usageErr("--temperature must be positive")
	case opt.LoRARank < 0:
		return usageErr("--lora-rank must not be negative")
	case opt.TeacherCache != "" && opt.HiddenWeight != 0:
		return usageErr("--hidden-weight needs the teacher in memory (the cache holds logits only)")
	}
	return nil
}

// teachers returns the training teacher (a cache when TeacherCache is set,
// written first when absent), the teacher of evaluations (nil with a
// cache) and the function that releases them; neither is loaded when the
// loss needs no teacher.
func (opt *DistillOptions) teachers(ctx context.Context, c *loop, student *distill.Model, ws [][]int32, res *DistillResult) (t, eval distill.Teacher, closeT func(), err error) {
	nop := func() {}
	if opt.KDWeight == 0 && opt.HiddenWeight == 0 {
		return nil, nil, nop, nil
	}
	if opt.TeacherCache == "" {
		tm, closeM, err := loadTeacher(opt.Teacher, student, opt.HiddenWeight != 0, c.Threads)
		if err != nil {
			return nil, nil, nil, err
		}
		return tm, tm, func() { closeM() }, nil
	}
	if _, err := os.Stat(opt.TeacherCache); errors.Is(err, os.ErrNotExist) {
		if err := opt.writeCache(ctx, c, student, ws); err != nil {
			return nil, nil, nil, err
		}
		res.CacheWritten = true
	}
	ct, err := distill.OpenTeacherCache(opt.TeacherCache, ws, student.Config.VocabSize)
	if err != nil {
		return nil, nil, nil, err
	}
	return ct, nil, func() { ct.Close() }, nil
}

// writeCache runs the teacher over every window into the cache file, then
// unloads it.
func (opt *DistillOptions) writeCache(ctx context.Context, c *loop, student *distill.Model, ws [][]int32) error {
	tm, closeT, err := loadTeacher(opt.Teacher, student, false, c.Threads)
	if err != nil {
		return err
	}
	defer closeT()
	start := time.Now()
	return distill.WriteTeacherCache(opt.TeacherCache, ctxTeacher{ctx, tm}, student.Config.VocabSize, ws, func(done, total int) {
		if done == total || done%64 == 0 {
			c.say("teacher-cache", done, total, fmt.Sprintf("teacher cache: %d/%d windows (%.0f tok/s)", done, total, float64(done*c.Ctx)/time.Since(start).Seconds()))
		}
	})
}

// ctxTeacher is a Teacher that fails once its context is cancelled.
type ctxTeacher struct {
	ctx context.Context
	t   distill.Teacher
}

// Teach implements distill.Teacher.
func (ct ctxTeacher) Teach(win int, tokens []int32, hidden bool) ([]float32, [][]float32, error) {
	if err := ct.ctx.Err(); err != nil {
		return nil, nil, context.Cause(ct.ctx)
	}
	return ct.t.Teach(win, tokens, hidden)
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
