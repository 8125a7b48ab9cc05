package shrink

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/distill"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/tokenizer"
)

// LoopOptions are the options Train and Distill share: the data, the
// schedule and its budget, evaluation, checkpoints and the output type.
// Start from DefaultTrainOptions or DefaultDistillOptions; a field left
// zero where zero is not a valid value (Ctx, Batch, LR, EvalWindows,
// DType) takes the command's default.
type LoopOptions struct {
	// Data is the training text (a UTF-8 file).
	Data string `json:"data"`
	// Steps is the number of optimizer steps (0: as many as Minutes
	// allows, else the checkpoint's when resuming, else 1000).
	Steps int `json:"steps"`
	// Minutes stops training after this long (a checkpoint is kept for
	// Resume); 0: no limit.
	Minutes float64 `json:"minutes"`
	// LR is the peak learning rate (linear warm-up, cosine decay to a
	// tenth).
	LR float32 `json:"lr"`
	// Warmup is the number of warm-up steps (0: Steps/20).
	Warmup int `json:"warmup"`
	// WeightDecay is AdamW's weight decay of matrices (0: none).
	WeightDecay float32 `json:"weight-decay"`
	// Clip clips the gradient's global norm (0: no clipping).
	Clip float32 `json:"clip"`
	// Ctx is the number of tokens per training sequence.
	Ctx int `json:"ctx"`
	// Batch is the number of sequences per optimizer step.
	Batch int `json:"batch"`
	// Seed seeds the data order.
	Seed uint64 `json:"seed"`
	// Threads is the number of goroutines per matrix product (0: all
	// cores); results do not depend on it.
	Threads int `json:"threads"`
	// Recompute is activation checkpointing: each block is run again in
	// the backward pass instead of keeping its activations.
	Recompute bool `json:"recompute"`
	// Eval is a held-out text to evaluate on ("": none).
	Eval string `json:"eval"`
	// EvalEvery evaluates every N steps (0: at the end only).
	EvalEvery int `json:"eval-every"`
	// EvalWindows is the number of windows of Eval text evaluated.
	EvalWindows int `json:"eval-windows"`
	// Checkpoint is the training state file ("": DST.ckpt).
	Checkpoint string `json:"checkpoint"`
	// SaveEvery writes the checkpoint every N steps (0: only when
	// stopped early).
	SaveEvery int `json:"save-every"`
	// Resume continues from the checkpoint: same step, optimizer state
	// and data order.
	Resume bool `json:"resume"`
	// DType is the type of the output's matrices: f32, f16 or bf16.
	DType string `json:"dtype"`
	// Progress receives a line for every step (stage "train", Done
	// and Total counting steps), evaluations
	// ("eval"), the teacher cache ("teacher-cache") and the rest
	// ("info"); each Message is one line as the commands print it.
	Progress ProgressFunc `json:"-"`
}

// TrainOptions configures Train: the shape of the new model, its tokenizer
// and the shared loop options.
type TrainOptions struct {
	Dim     int `json:"dim"`      // embedding width
	Layers  int `json:"layers"`   // number of blocks
	Heads   int `json:"heads"`    // attention heads
	KVHeads int `json:"kv-heads"` // key/value heads
	FFN     int `json:"ffn"`      // feed-forward width
	// Untied gives the model its own output head instead of reusing the
	// token embedding.
	Untied bool `json:"untied"`
	// VocabFrom is the model whose tokenizer (and vocabulary size) the
	// new model takes.
	VocabFrom string  `json:"vocab-from"`
	RopeBase  float32 `json:"rope-base"` // RoPE base
	InitSeed  uint64  `json:"init-seed"` // seed of the random initialisation
	LoopOptions
}

// DefaultTrainOptions returns the options of a plain 'shrink train'.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{Dim: 128, Layers: 2, Heads: 4, KVHeads: 2, FFN: 256, VocabFrom: "models/default",
		RopeBase: 10000, InitSeed: 1, LoopOptions: defaultLoop(3e-3, 0.01)}
}

// defaultLoop returns the shared loop defaults with the given learning
// rate and weight decay.
func defaultLoop(lr, wd float32) LoopOptions {
	return LoopOptions{LR: lr, WeightDecay: wd, Clip: 1, Ctx: 128, Batch: 8, Seed: 1, EvalWindows: 16, SaveEvery: 50, DType: "f16"}
}

// TrainResult reports a training run.
type TrainResult struct {
	Params     int64 // parameters of the model (adapters not counted)
	DataTokens int   // tokens of the training text
	Windows    int   // training windows cut from it
	Steps      int   // length of the schedule
	StepsDone  int   // steps run by this call
	Tokens     int   // tokens trained on by this call
	Elapsed    time.Duration
	// Last holds the statistics of the last step run.
	Last distill.Stats
	// Eval is the final evaluation on the Eval text, nil when none.
	Eval *distill.Stats
	// Stopped reports a run that stopped before the end of its schedule
	// (Minutes or cancellation): the checkpoint is kept for Resume.
	Stopped bool
	// Output is the file written and Bytes its size (none when the run
	// was cancelled).
	Output string
	Bytes  int64
}

// TokensPerSecond returns the training throughput of the call.
func (r *TrainResult) TokensPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Tokens) / r.Elapsed.Seconds()
}

// Train trains a new llama model of the given shape from random
// initialisation on opt.Data (cross-entropy on the next tokens) and
// writes it to dst (a .gguf file, else a Hugging Face folder). A cancelled
// ctx stops it between steps with a checkpoint to resume from.
func Train(ctx context.Context, dst string, opt TrainOptions) (*TrainResult, error) {
	lo, err := opt.LoopOptions.resolve(dst, 3e-3)
	if err != nil {
		return nil, err
	}
	if opt.Data == "" {
		return nil, usageErr("--data TEXT is required")
	}
	if opt.Heads <= 0 || opt.Dim%opt.Heads != 0 {
		return nil, usageErr(fmt.Sprintf("--dim %d is not a multiple of --heads %d", opt.Dim, opt.Heads))
	}
	from := opt.VocabFrom
	if from == "" {
		from = "models/default"
	}
	src, err := convert.Load(from, convert.Options{})
	if err != nil {
		return nil, err
	}
	vocab := src.Vocab
	src.Close()
	if vocab == nil {
		return nil, fmt.Errorf("%s: no tokenizer", from)
	}
	tok, err := tokenizer.New(vocab)
	if err != nil {
		return nil, err
	}
	cfg := model.ConfigFromLlama2c(opt.Dim, opt.FFN, opt.Layers, opt.Heads, opt.KVHeads, tok.VocabSize(), lo.Ctx)
	cfg.RopeBase = opt.RopeBase
	if cfg.RopeBase == 0 {
		cfg.RopeBase = 10000
	}
	cfg.TiedEmbeddings = !opt.Untied
	cfg.HFArch = "LlamaForCausalLM"
	if err := cfg.Validate(); err != nil {
		return nil, usageErr(err.Error())
	}
	m, err := distill.NewRandom(cfg, vocab, opt.InitSeed)
	if err != nil {
		return nil, err
	}
	ws, ntok, err := loadText(lo.Data, tok, lo.Ctx)
	if err != nil {
		return nil, err
	}
	res := &TrainResult{Params: m.NumParams(), DataTokens: ntok, Windows: len(ws)}
	lo.info(fmt.Sprintf("model: %d parameters; data: %d tokens, %d windows of %d", m.NumParams(), ntok, len(ws), lo.Ctx))
	lo.opt.CEWeight = 1
	steps, err := lo.planSteps(func() (time.Duration, error) {
		return distill.TimeStep(m, ws, lo.opt.Batch)
	})
	if err != nil {
		return nil, err
	}
	lo.opt.Steps = steps
	tr, err := distill.NewTrainer(m, nil, ws, lo.opt)
	if err != nil {
		return nil, err
	}
	return res, lo.run(ctx, tr, tok, nil, res)
}

// ErrStopped reports a run stopped by its context: the checkpoint it saved
// continues it with Resume.
var ErrStopped = errors.New("interrupted (checkpoint saved; continue with --resume)")

// loop is a resolved LoopOptions: what the training loop needs.
type loop struct {
	LoopOptions
	dst       string
	estimated bool // steps planned from a measured step (planSteps)
	dtype     format.DType
	opt       distill.Options
	start     time.Time
	// release, when set, frees what training needed (the teacher)
	// before the model is written.
	release func()
}

// resolve checks the options, fills the defaults and sets the training
// goroutines; defLR is the command's default learning rate.
func (o LoopOptions) resolve(dst string, defLR float32) (*loop, error) {
	d := defaultLoop(defLR, 0)
	if o.Ctx == 0 {
		o.Ctx = d.Ctx
	}
	if o.Batch == 0 {
		o.Batch = d.Batch
	}
	if o.LR == 0 {
		o.LR = d.LR
	}
	if o.EvalWindows == 0 {
		o.EvalWindows = d.EvalWindows
	}
	if o.DType == "" {
		o.DType = d.DType
	}
	c := &loop{LoopOptions: o, dst: dst, start: time.Now()}
	op := &c.opt
	op.LR, op.Warmup, op.WeightDecay, op.Clip = o.LR, o.Warmup, o.WeightDecay, o.Clip
	if op.WeightDecay == 0 {
		op.WeightDecay = -1
	}
	if op.Clip == 0 {
		op.Clip = -1
	}
	op.Batch, op.Seed = o.Batch, o.Seed
	var ok bool
	if c.dtype, ok = format.ParseDType(o.DType); !ok || (c.dtype != format.F32 && c.dtype != format.F16 && c.dtype != format.BF16) {
		return nil, usageErr(fmt.Sprintf("--dtype %q: want f32, f16 or bf16", o.DType))
	}
	switch {
	case o.Steps < 0 || o.Minutes < 0:
		return nil, usageErr("--steps and --minutes must not be negative")
	case o.Ctx < 2 || o.Ctx > 1<<16:
		return nil, usageErr(fmt.Sprintf("--ctx %d: want 2 to 65536", o.Ctx))
	case o.Batch < 1:
		return nil, usageErr(fmt.Sprintf("--batch %d: want at least 1", o.Batch))
	case !(o.LR > 0):
		return nil, usageErr("--lr must be positive")
	}
	if c.Checkpoint == "" {
		c.Checkpoint = strings.TrimRight(dst, "/\\") + ".ckpt"
	}
	distill.SetThreads(o.Threads)
	return c, nil
}

// say reports one line of stage with the step counts.
func (c *loop) say(stage string, done, total int, msg string) {
	c.Progress.report(Progress{Stage: stage, Done: done, Total: total, Message: msg, Elapsed: time.Since(c.start)})
}

// info reports a line outside the steps.
func (c *loop) info(msg string) { c.say("info", 0, 0, msg) }

// loadText tokenizes a text file into windows of ctx tokens.
func loadText(path string, tok *tokenizer.Tokenizer, ctx int) ([][]int32, int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	ids := tok.Encode(string(data), false)
	ws := distill.Windows(ids, ctx, tok.ChunkBOS())
	if len(ws) == 0 {
		return nil, 0, fmt.Errorf("%s: %w (%d tokens)", path, distill.ErrData, len(ids))
	}
	return ws, len(ids), nil
}

// planSteps returns the schedule length: Steps, else the checkpoint's
// when resuming, else what Minutes allows at the speed of one measured
// step, else 1000.
func (c *loop) planSteps(measure func() (time.Duration, error)) (int, error) {
	c.estimated = false
	if c.Steps > 0 {
		return c.Steps, nil
	}
	if c.Resume {
		if n, err := distill.CheckpointSteps(c.Checkpoint); err == nil {
			return n, nil
		}
	}
	if c.Minutes > 0 {
		d, err := measure()
		if err != nil {
			return 0, err
		}
		c.estimated = true
		return max(int(c.Minutes*float64(time.Minute)/float64(d)), 1), nil
	}
	return 1000, nil
}

// replanAfter is the number of steps after which a schedule planned from
// one measured step is checked against the real pace.
const replanAfter = 3

// evaluator returns the evaluation of the Eval text (a no-op without one)
// recording its statistics in res; evalTeacher (nil: none) gives KLD.
func (c *loop) evaluator(tr *distill.Trainer, tok *tokenizer.Tokenizer, evalTeacher distill.Teacher, res *TrainResult) (func() error, error) {
	if c.Eval == "" {
		return func() error { return nil }, nil
	}
	ws, _, err := loadText(c.Eval, tok, c.Ctx)
	if err != nil {
		return nil, err
	}
	if len(ws) > c.EvalWindows {
		ws = ws[:c.EvalWindows]
	}
	return func() error {
		st, err := tr.Evaluate(ws, evalTeacher)
		if err != nil {
			return err
		}
		res.Eval = &st
		msg := fmt.Sprintf("eval step %d: ce %.4f ppl %.2f", st.Step, st.CE, math.Exp(min(st.CE, 700)))
		if evalTeacher != nil {
			msg += fmt.Sprintf(" kld %.5f", st.KLD)
		}
		c.say("eval", st.Step, tr.Opt.Steps, msg)
		return nil
	}, nil
}

// stepLine formats the progress line of a step.
func stepLine(tr *distill.Trainer, st distill.Stats, tps float64, left time.Duration) string {
	msg := fmt.Sprintf("step %d/%d loss %.4f", tr.Step, tr.Opt.Steps, st.Loss)
	if tr.Opt.KDWeight != 0 {
		msg += fmt.Sprintf(" kld %.4f", st.KLD)
	}
	if tr.Opt.CEWeight != 0 {
		msg += fmt.Sprintf(" ce %.4f", st.CE)
	}
	if tr.Opt.HiddenWeight != 0 {
		msg += fmt.Sprintf(" mse %.4g", st.Hidden)
	}
	return msg + fmt.Sprintf(" lr %.2e |g| %.3g %.0f tok/s left %s", st.LR, st.GradNorm, tps, left.Round(time.Second))
}

// run trains until the schedule ends, the time is up or ctx is cancelled,
// with progress, evaluation and checkpoints, then writes the model
// (unless cancelled). evalTeacher gives KLD on the held-out text (nil:
// none).
func (c *loop) run(ctx context.Context, tr *distill.Trainer, tok *tokenizer.Tokenizer, evalTeacher distill.Teacher, res *TrainResult) error {
	tr.Student.Recompute = c.Recompute
	if c.Resume {
		if err := tr.LoadCheckpoint(c.Checkpoint); err != nil {
			return err
		}
		c.info(fmt.Sprintf("resumed from %s at step %d of %d", c.Checkpoint, tr.Step, tr.Opt.Steps))
	}
	evaluate, err := c.evaluator(tr, tok, evalTeacher, res)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	interrupted, err := c.steps(ctx, tr, evaluate, res)
	if err != nil {
		return err
	}
	if res.Tokens > 0 {
		c.info(fmt.Sprintf("trained %d steps, %d tokens in %s (%.0f tok/s)", res.StepsDone, res.Tokens, res.Elapsed.Round(time.Second), res.TokensPerSecond()))
	}
	if err := evaluate(); err != nil {
		return err
	}
	if interrupted {
		return fmt.Errorf("%w: %w", ErrStopped, context.Cause(ctx))
	}
	if c.release != nil {
		c.release()
	}
	c.say("write", 0, 1, "")
	if err := tr.Student.Write(c.dst, c.dtype); err != nil {
		return err
	}
	if tr.Step == tr.Opt.Steps {
		// The run is complete: keep the checkpoint only while resuming
		// still has work to do.
		os.Remove(c.Checkpoint)
	}
	res.Output, res.Bytes = c.dst, bench.DiskSize(c.dst)
	c.say("write", 1, 1, fmt.Sprintf("wrote %s (%s)", c.dst, bench.HumanBytes(res.Bytes)))
	return nil
}

// steps runs the optimizer steps; it reports whether ctx stopped them.
func (c *loop) steps(ctx context.Context, tr *distill.Trainer, evaluate func() error, res *TrainResult) (bool, error) {
	start := time.Now()
	startStep := tr.Step
	res.Steps = tr.Opt.Steps
	for tr.Step < tr.Opt.Steps {
		st, err := tr.TrainStep()
		if err != nil {
			return false, err
		}
		res.Last = st
		res.Tokens += st.Tokens
		res.StepsDone = tr.Step - startStep
		el := time.Since(start)
		res.Elapsed = el
		if c.estimated && tr.Step == startStep+replanAfter {
			n := distill.ReplanSteps(tr.Opt.Steps, replanAfter, el, time.Duration(c.Minutes*float64(time.Minute)))
			if n != tr.Opt.Steps {
				c.info(fmt.Sprintf("re-planned at the measured pace: %d steps instead of %d", n, tr.Opt.Steps))
			}
			tr.Opt.Steps = n
			res.Steps = n
		}
		done := tr.Step == tr.Opt.Steps
		if c.Progress != nil {
			tps := float64(res.Tokens) / el.Seconds()
			left := time.Duration(float64(el) / float64(tr.Step-startStep) * float64(tr.Opt.Steps-tr.Step))
			c.say("train", tr.Step, tr.Opt.Steps, stepLine(tr, st, tps, left))
		}
		if c.EvalEvery > 0 && tr.Step%c.EvalEvery == 0 && !done {
			if err := evaluate(); err != nil {
				return false, err
			}
		}
		interrupted := ctx.Err() != nil
		timeUp := c.Minutes > 0 && el.Minutes() >= c.Minutes
		if done {
			break
		}
		if interrupted || timeUp || (c.SaveEvery > 0 && tr.Step%c.SaveEvery == 0) {
			if err := tr.SaveCheckpoint(c.Checkpoint); err != nil {
				return false, err
			}
		}
		if interrupted || timeUp {
			res.Stopped = true
			c.info(fmt.Sprintf("stopped at step %d of %d; checkpoint %s (continue with --resume)", tr.Step, tr.Opt.Steps, c.Checkpoint))
			return interrupted, nil
		}
	}
	return false, nil
}
