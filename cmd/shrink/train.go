package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink"
)

var trainCmd = &command{
	name:    "train",
	args:    "--data TEXT DST --dim D --layers L --heads H --kv-heads K --ffn F [--vocab-from MODEL]",
	summary: "train a small llama model from random initialisation on a text",
	flags: func(fs *pflag.FlagSet) {
		d := shrink.DefaultTrainOptions()
		fs.Int("dim", d.Dim, "embedding width")
		fs.Int("layers", d.Layers, "number of blocks")
		fs.Int("heads", d.Heads, "attention heads")
		fs.Int("kv-heads", d.KVHeads, "key/value heads")
		fs.Int("ffn", d.FFN, "feed-forward width")
		fs.Bool("untied", false, "give the model its own output head instead of reusing the token embedding")
		fs.String("vocab-from", d.VocabFrom, "model whose tokenizer (and vocabulary size) the new model takes")
		fs.Float32("rope-base", d.RopeBase, "RoPE base")
		fs.Uint64("init-seed", d.InitSeed, "seed of the random initialisation")
		trainLoopFlags(fs, d.LoopOptions)
	},
	run: runTrain,
}

// trainLogOut receives the progress of train and distill (a variable so that
// tests can capture it).
var trainLogOut io.Writer = os.Stderr

// trainLoopFlags declares the flags train and distill share, with the
// command's defaults d.
func trainLoopFlags(fs *pflag.FlagSet, d shrink.LoopOptions) {
	fs.String("data", "", "training text (a UTF-8 file)")
	fs.Int("steps", 0, "optimizer steps (default: as many as --minutes allows, else 1000)")
	fs.Float64("minutes", 0, "stop after this many minutes of training (a checkpoint is kept for --resume)")
	fs.Float32("lr", d.LR, "peak learning rate (linear warm-up, then cosine decay to a tenth)")
	fs.Int("warmup", 0, "warm-up steps (default: steps/20)")
	fs.Float32("weight-decay", d.WeightDecay, "AdamW weight decay of matrices")
	fs.Float32("clip", d.Clip, "clip the gradient's global norm to this (0: no clipping)")
	fs.Int("ctx", d.Ctx, "tokens per training sequence")
	fs.Int("batch", d.Batch, "sequences per optimizer step (gradients accumulated)")
	fs.Uint64("seed", d.Seed, "seed of the data order")
	fs.Int("threads", 0, "goroutines per matrix product (0: all cores)")
	fs.Bool("recompute", false, "activation checkpointing: keep only each block's input and recompute the block in the backward pass (less memory, about a third more time)")
	fs.String("eval", "", "held-out text to evaluate on")
	fs.Int("eval-every", 0, "evaluate every N steps (0: at the end only, when --eval is given)")
	fs.Int("eval-windows", d.EvalWindows, "windows of --eval text to evaluate on")
	fs.String("checkpoint", "", "training state file (default: DST.ckpt)")
	fs.Int("save-every", d.SaveEvery, "write the checkpoint every N steps")
	fs.Bool("resume", false, "continue from the checkpoint: same step, optimizer state and data order")
	fs.String("dtype", d.DType, "type of the matrices in the output: f32, f16 or bf16")
	fs.BoolP("quiet", "q", false, "no progress output")
}

// readLoopOptions reads the shared flags; the progress lines go to
// trainLogOut unless --quiet.
func readLoopOptions(fs *pflag.FlagSet) shrink.LoopOptions {
	o := shrink.LoopOptions{
		Data:        flagString(fs, "data"),
		Steps:       flagInt(fs, "steps"),
		Minutes:     flagFloat64(fs, "minutes"),
		LR:          flagFloat32(fs, "lr"),
		Warmup:      flagInt(fs, "warmup"),
		WeightDecay: flagFloat32(fs, "weight-decay"),
		Clip:        flagFloat32(fs, "clip"),
		Ctx:         flagInt(fs, "ctx"),
		Batch:       flagInt(fs, "batch"),
		Seed:        flagUint64(fs, "seed"),
		Threads:     flagInt(fs, "threads"),
		Recompute:   flagBool(fs, "recompute"),
		Eval:        flagString(fs, "eval"),
		EvalEvery:   flagInt(fs, "eval-every"),
		EvalWindows: flagInt(fs, "eval-windows"),
		Checkpoint:  flagString(fs, "checkpoint"),
		SaveEvery:   flagInt(fs, "save-every"),
		Resume:      flagBool(fs, "resume"),
		DType:       flagString(fs, "dtype"),
	}
	if !flagBool(fs, "quiet") {
		o.Progress = trainPrinter()
	}
	return o
}

// trainPrinter returns the progress printer of train and distill: every
// line but the steps', and of those the first, the last and one every
// two seconds.
func trainPrinter() shrink.ProgressFunc {
	var last time.Time
	first := true
	return func(p shrink.Progress) {
		if p.Message == "" {
			return
		}
		if p.Stage == "train" {
			if !first && p.Done != p.Total && time.Since(last) <= 2*time.Second {
				return
			}
			first, last = false, time.Now()
		}
		fmt.Fprintln(trainLogOut, p.Message)
	}
}

// interruptContext returns a context cancelled by an interrupt or SIGTERM:
// training then stops after its current step with a checkpoint.
func interruptContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
		}
		signal.Stop(sig) // a second interrupt ends the process at once
	}()
	return ctx, cancel
}

// loopError maps the library's errors to the command's: bad options are
// usage errors, a stopped run says how to continue.
func loopError(err error) error {
	var ue *shrink.UsageError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ue):
		return usageError{ue.Msg}
	case errors.Is(err, shrink.ErrStopped):
		return shrink.ErrStopped
	}
	return err
}

func runTrain(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, "DST"); err != nil {
		return err
	}
	opt := shrink.TrainOptions{
		Dim:         flagInt(fs, "dim"),
		Layers:      flagInt(fs, "layers"),
		Heads:       flagInt(fs, "heads"),
		KVHeads:     flagInt(fs, "kv-heads"),
		FFN:         flagInt(fs, "ffn"),
		Untied:      flagBool(fs, "untied"),
		VocabFrom:   flagString(fs, "vocab-from"),
		RopeBase:    flagFloat32(fs, "rope-base"),
		InitSeed:    flagUint64(fs, "init-seed"),
		LoopOptions: readLoopOptions(fs),
	}
	ctx, stop := interruptContext()
	defer stop()
	_, err := shrink.Train(ctx, args[0], opt)
	return loopError(err)
}
