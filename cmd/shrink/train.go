package main

import (
	"errors"
	"fmt"
	"github.com/shrink-llm/shrink/bench"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/distill"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/tokenizer"
)

var trainCmd = &command{
	name:    "train",
	args:    "--data TEXT DST --dim D --layers L --heads H --kv-heads K --ffn F [--vocab-from MODEL]",
	summary: "train a small llama model from random initialisation on a text",
	flags: func(fs *pflag.FlagSet) {
		fs.Int("dim", 128, "embedding width")
		fs.Int("layers", 2, "number of blocks")
		fs.Int("heads", 4, "attention heads")
		fs.Int("kv-heads", 2, "key/value heads")
		fs.Int("ffn", 256, "feed-forward width")
		fs.Bool("untied", false, "give the model its own output head instead of reusing the token embedding")
		fs.String("vocab-from", "models/default", "model whose tokenizer (and vocabulary size) the new model takes")
		fs.Float32("rope-base", 10000, "RoPE base")
		fs.Uint64("init-seed", 1, "seed of the random initialisation")
		trainLoopFlags(fs, 3e-3, 0.01)
	},
	run: runTrain,
}

// trainLogOut receives the progress of train and distill (a variable so that
// tests can capture it).
var trainLogOut io.Writer = os.Stderr

// trainLoopFlags declares the flags train and distill share.
func trainLoopFlags(fs *pflag.FlagSet, lr, wd float32) {
	fs.String("data", "", "training text (a UTF-8 file)")
	fs.Int("steps", 0, "optimizer steps (default: as many as --minutes allows, else 1000)")
	fs.Float64("minutes", 0, "stop after this many minutes of training (a checkpoint is kept for --resume)")
	fs.Float32("lr", lr, "peak learning rate (linear warm-up, then cosine decay to a tenth)")
	fs.Int("warmup", 0, "warm-up steps (default: steps/20)")
	fs.Float32("weight-decay", wd, "AdamW weight decay of matrices")
	fs.Float32("clip", 1, "clip the gradient's global norm to this (0: no clipping)")
	fs.Int("ctx", 128, "tokens per training sequence")
	fs.Int("batch", 8, "sequences per optimizer step (gradients accumulated)")
	fs.Uint64("seed", 1, "seed of the data order")
	fs.Int("threads", 0, "goroutines per matrix product (0: all cores)")
	fs.Bool("recompute", false, "activation checkpointing: keep only each block's input and recompute the block in the backward pass (less memory, about a third more time)")
	fs.String("eval", "", "held-out text to evaluate on")
	fs.Int("eval-every", 0, "evaluate every N steps (0: at the end only, when --eval is given)")
	fs.Int("eval-windows", 16, "windows of --eval text to evaluate on")
	fs.String("checkpoint", "", "training state file (default: DST.ckpt)")
	fs.Int("save-every", 50, "write the checkpoint every N steps")
	fs.Bool("resume", false, "continue from the checkpoint: same step, optimizer state and data order")
	fs.String("dtype", "f16", "type of the matrices in the output: f32, f16 or bf16")
	fs.BoolP("quiet", "q", false, "no progress output")
}

// loopConfig is what the shared loop needs from the flags.
type loopConfig struct {
	dst, ckpt, evalPath string
	steps               int
	minutes             float64
	evalEvery, evalWins int
	saveEvery           int
	resume, quiet       bool
	recompute           bool
	dtype               format.DType
	opt                 distill.Options
	ctx                 int
}

func readLoopConfig(fs *pflag.FlagSet, dst string) (*loopConfig, error) {
	c := &loopConfig{dst: dst}
	c.steps = flagInt(fs, "steps")
	c.minutes = flagFloat64(fs, "minutes")
	c.evalPath = flagString(fs, "eval")
	c.evalEvery = flagInt(fs, "eval-every")
	c.evalWins = flagInt(fs, "eval-windows")
	c.ckpt = flagString(fs, "checkpoint")
	c.saveEvery = flagInt(fs, "save-every")
	c.resume = flagBool(fs, "resume")
	c.quiet = flagBool(fs, "quiet")
	c.recompute = flagBool(fs, "recompute")
	c.ctx = flagInt(fs, "ctx")
	o := &c.opt
	o.LR = flagFloat32(fs, "lr")
	o.Warmup = flagInt(fs, "warmup")
	o.WeightDecay = flagFloat32(fs, "weight-decay")
	if o.WeightDecay == 0 {
		o.WeightDecay = -1
	}
	o.Clip = flagFloat32(fs, "clip")
	if o.Clip == 0 {
		o.Clip = -1
	}
	o.Batch = flagInt(fs, "batch")
	o.Seed = flagUint64(fs, "seed")
	th := flagInt(fs, "threads")
	distill.SetThreads(th)
	dt := flagString(fs, "dtype")
	var ok bool
	if c.dtype, ok = format.ParseDType(dt); !ok || (c.dtype != format.F32 && c.dtype != format.F16 && c.dtype != format.BF16) {
		return nil, usageError{fmt.Sprintf("--dtype %q: want f32, f16 or bf16", dt)}
	}
	switch {
	case c.steps < 0 || c.minutes < 0:
		return nil, usageError{"--steps and --minutes must not be negative"}
	case c.ctx < 2 || c.ctx > 1<<16:
		return nil, usageError{fmt.Sprintf("--ctx %d: want 2 to 65536", c.ctx)}
	case o.Batch < 1:
		return nil, usageError{fmt.Sprintf("--batch %d: want at least 1", o.Batch)}
	case !(o.LR > 0):
		return nil, usageError{"--lr must be positive"}
	}
	if c.ckpt == "" {
		c.ckpt = strings.TrimRight(dst, "/\\") + ".ckpt"
	}
	return c, nil
}

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

// runLoop trains until the schedule ends or the time is up, with progress,
// evaluation and checkpoints, then writes the model. evalTeacher gives
// KLD on the held-out text (nil: none).
func runLoop(c *loopConfig, tr *distill.Trainer, tok *tokenizer.Tokenizer, evalTeacher distill.Teacher) error {
	tr.Student.Recompute = c.recompute
	if c.resume {
		if err := tr.LoadCheckpoint(c.ckpt); err != nil {
			return err
		}
		if !c.quiet {
			fmt.Fprintf(trainLogOut, "resumed from %s at step %d of %d\n", c.ckpt, tr.Step, tr.Opt.Steps)
		}
	}
	var evalWs [][]int32
	if c.evalPath != "" {
		ws, _, err := loadText(c.evalPath, tok, c.ctx)
		if err != nil {
			return err
		}
		if len(ws) > c.evalWins {
			ws = ws[:c.evalWins]
		}
		evalWs = ws
	}
	evaluate := func() error {
		if evalWs == nil {
			return nil
		}
		st, err := tr.Evaluate(evalWs, evalTeacher)
		if err != nil {
			return err
		}
		if !c.quiet {
			msg := fmt.Sprintf("eval step %d: ce %.4f ppl %.2f", st.Step, st.CE, expf(st.CE))
			if evalTeacher != nil {
				msg += fmt.Sprintf(" kld %.5f", st.KLD)
			}
			fmt.Fprintln(trainLogOut, msg)
		}
		return nil
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	start := time.Now()
	startStep := tr.Step
	var tokens int
	var last time.Time
	interrupted := false
	for tr.Step < tr.Opt.Steps {
		st, err := tr.TrainStep()
		if err != nil {
			return err
		}
		tokens += st.Tokens
		el := time.Since(start)
		done := tr.Step == tr.Opt.Steps
		if !c.quiet && (done || time.Since(last) > 2*time.Second || tr.Step <= startStep+1) {
			last = time.Now()
			tps := float64(tokens) / el.Seconds()
			left := time.Duration(float64(el) / float64(tr.Step-startStep) * float64(tr.Opt.Steps-tr.Step))
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
			msg += fmt.Sprintf(" lr %.2e |g| %.3g %.0f tok/s left %s", st.LR, st.GradNorm, tps, left.Round(time.Second))
			fmt.Fprintln(trainLogOut, msg)
		}
		if c.evalEvery > 0 && tr.Step%c.evalEvery == 0 && !done {
			if err := evaluate(); err != nil {
				return err
			}
		}
		select {
		case <-sig:
			interrupted = true
		default:
		}
		timeUp := c.minutes > 0 && el.Minutes() >= c.minutes
		if done {
			break
		}
		if interrupted || timeUp || (c.saveEvery > 0 && tr.Step%c.saveEvery == 0) {
			if err := tr.SaveCheckpoint(c.ckpt); err != nil {
				return err
			}
		}
		if interrupted || timeUp {
			if !c.quiet {
				fmt.Fprintf(trainLogOut, "stopped at step %d of %d; checkpoint %s (continue with --resume)\n", tr.Step, tr.Opt.Steps, c.ckpt)
			}
			break
		}
	}
	if !c.quiet && tokens > 0 {
		fmt.Fprintf(trainLogOut, "trained %d steps, %d tokens in %s (%.0f tok/s)\n", tr.Step-startStep, tokens, time.Since(start).Round(time.Second), float64(tokens)/time.Since(start).Seconds())
	}
	if err := evaluate(); err != nil {
		return err
	}
	if interrupted {
		return errors.New("interrupted (checkpoint saved; continue with --resume)")
	}
	if err := tr.Student.Write(c.dst, c.dtype); err != nil {
		return err
	}
	if tr.Step == tr.Opt.Steps {
		// The run is complete: keep the checkpoint only while resuming
		// still has work to do.
		os.Remove(c.ckpt)
	}
	if !c.quiet {
		fmt.Fprintf(trainLogOut, "wrote %s (%s)\n", c.dst, bench.HumanBytes(bench.DiskSize(c.dst)))
	}
	return nil
}

// planSteps returns the schedule length: --steps, else the checkpoint's
// when resuming, else what --minutes allows at the speed of one measured
// step, else 1000.
func planSteps(c *loopConfig, measure func() (time.Duration, error)) (int, error) {
	if c.steps > 0 {
		return c.steps, nil
	}
	if c.resume {
		if n, err := distill.CheckpointSteps(c.ckpt); err == nil {
			return n, nil
		}
	}
	if c.minutes > 0 {
		d, err := measure()
		if err != nil {
			return 0, err
		}
		return max(int(c.minutes*float64(time.Minute)/float64(d)), 1), nil
	}
	return 1000, nil
}

func expf(x float64) float64 { return math.Exp(min(x, 700)) }

func runTrain(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, "DST"); err != nil {
		return err
	}
	c, err := readLoopConfig(fs, args[0])
	if err != nil {
		return err
	}
	data := flagString(fs, "data")
	if data == "" {
		return usageError{"--data TEXT is required"}
	}
	dim := flagInt(fs, "dim")
	layers := flagInt(fs, "layers")
	heads := flagInt(fs, "heads")
	kvHeads := flagInt(fs, "kv-heads")
	ffn := flagInt(fs, "ffn")
	untied := flagBool(fs, "untied")
	from := flagString(fs, "vocab-from")
	base := flagFloat32(fs, "rope-base")
	initSeed := flagUint64(fs, "init-seed")
	if heads <= 0 || dim%heads != 0 {
		return usageError{fmt.Sprintf("--dim %d is not a multiple of --heads %d", dim, heads)}
	}
	src, err := convert.Load(from, convert.Options{})
	if err != nil {
		return err
	}
	vocab := src.Vocab
	src.Close()
	if vocab == nil {
		return fmt.Errorf("%s: no tokenizer", from)
	}
	tok, err := tokenizer.New(vocab)
	if err != nil {
		return err
	}
	cfg := model.ConfigFromLlama2c(dim, ffn, layers, heads, kvHeads, tok.VocabSize(), c.ctx)
	cfg.RopeBase = base
	cfg.TiedEmbeddings = !untied
	cfg.HFArch = "LlamaForCausalLM"
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	m, err := distill.NewRandom(cfg, vocab, initSeed)
	if err != nil {
		return err
	}
	ws, ntok, err := loadText(data, tok, c.ctx)
	if err != nil {
		return err
	}
	if !c.quiet {
		fmt.Fprintf(trainLogOut, "model: %d parameters; data: %d tokens, %d windows of %d\n", m.NumParams(), ntok, len(ws), c.ctx)
	}
	c.opt.CEWeight = 1
	steps, err := planSteps(c, func() (time.Duration, error) {
		return distill.TimeStep(m, ws, c.opt.Batch)
	})
	if err != nil {
		return err
	}
	c.opt.Steps = steps
	tr, err := distill.NewTrainer(m, nil, ws, c.opt)
	if err != nil {
		return err
	}
	return runLoop(c, tr, tok, nil)
}
