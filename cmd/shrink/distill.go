package main

import (
	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink"
)

var distillCmd = &command{
	name:    "distill",
	args:    "--teacher T --student S --data TEXT DST [--steps N | --minutes M] [--lora-rank R] [--resume]",
	summary: "distil a student (e.g. a pruned model) from its teacher on a text",
	flags: func(fs *pflag.FlagSet) {
		d := shrink.DefaultDistillOptions()
		fs.String("teacher", "", "teacher model (any checkpoint shrink reads; run on the inference engine in its stored type, e.g. Q8_0, unless --hidden-weight needs its residual streams)")
		fs.String("student", "", "student model to train (same tokenizer as the teacher)")
		fs.Float32("kd-weight", d.KDWeight, "weight of temperature²·KL(teacher || student) on the logits")
		fs.Float32("ce-weight", d.CEWeight, "weight of the cross-entropy on the text's next tokens")
		fs.Float32("hidden-weight", d.HiddenWeight, "weight of the MSE between the residual streams of matching blocks (same width only)")
		fs.Float32("temperature", d.Temperature, "softmax temperature of the KL term")
		fs.String("teacher-cache", "", "file of teacher logits: written first when absent (the teacher is then unloaded), read when present")
		fs.Int("lora-rank", 0, "train low-rank adapters of this rank on the blocks' linear layers (merged at the end) instead of all weights, the student's matrices kept in their stored type (F16, Q8_0, K-quants...); norms always train")
		fs.Float32("lora-alpha", 0, "adapter scale numerator, scale = alpha/rank (default: 2·rank)")
		trainLoopFlags(fs, d.LoopOptions)
	},
	run: runDistill,
}

func runDistill(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, "DST"); err != nil {
		return err
	}
	opt := shrink.DistillOptions{
		Teacher:      flagString(fs, "teacher"),
		Student:      flagString(fs, "student"),
		KDWeight:     flagFloat32(fs, "kd-weight"),
		CEWeight:     flagFloat32(fs, "ce-weight"),
		HiddenWeight: flagFloat32(fs, "hidden-weight"),
		Temperature:  flagFloat32(fs, "temperature"),
		TeacherCache: flagString(fs, "teacher-cache"),
		LoRARank:     flagInt(fs, "lora-rank"),
		LoRAAlpha:    flagFloat32(fs, "lora-alpha"),
		LoopOptions:  readLoopOptions(fs),
	}
	ctx, stop := interruptContext()
	defer stop()
	_, err := shrink.Distill(ctx, args[0], opt)
	return loopError(err)
}
