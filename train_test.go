package shrink

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainCancelResume cancels a run after its second step: it stops
// with ErrStopped and a checkpoint, no model; resuming finishes the
// schedule and writes the model.
func TestTrainCancelResume(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text.txt")
	if err := os.WriteFile(text, []byte(strings.Repeat("func f(x int) int { return x + 1 }\n", 30)), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "m.gguf")
	opt := DefaultTrainOptions()
	opt.Dim, opt.Layers, opt.Heads, opt.KVHeads, opt.FFN = 16, 1, 2, 1, 24
	opt.Data, opt.Ctx, opt.Batch, opt.Steps, opt.SaveEvery = text, 8, 1, 6, 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opt.Progress = func(p Progress) {
		if p.Stage == "train" && p.Done == 2 {
			cancel()
		}
	}
	res, err := Train(ctx, dst, opt)
	if !errors.Is(err, ErrStopped) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	if res.StepsDone != 2 || !res.Stopped {
		t.Errorf("cancelled run did %d steps (stopped %v), want 2", res.StepsDone, res.Stopped)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Errorf("cancelled run wrote the model: %v", err)
	}
	opt.Progress, opt.Resume = nil, true
	res, err = Train(context.Background(), dst, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.StepsDone != 4 || res.Output != dst || res.Bytes == 0 {
		t.Errorf("resumed run: %d steps, output %q (%d bytes); want 4 steps and %s", res.StepsDone, res.Output, res.Bytes, dst)
	}
	if _, err := os.Stat(dst + ".ckpt"); !os.IsNotExist(err) {
		t.Errorf("checkpoint of the finished run left behind: %v", err)
	}
}

// TestDistillUsage checks that bad options are usage errors naming the
// flag.
func TestDistillUsage(t *testing.T) {
	opt := DefaultDistillOptions()
	opt.Teacher, opt.Student, opt.Data = "t", "s", "d"
	opt.Temperature = 0
	_, err := Distill(context.Background(), "out.gguf", opt)
	var ue *UsageError
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "--temperature") {
		t.Errorf("zero temperature: %v, want a usage error naming --temperature", err)
	}
}

// TestDistillLoRAThreads trains adapters on the default model (F16, kept
// in its stored type under LoRA) on the cross-entropy with one and with
// three goroutines: the written models are byte-identical, and training
// moved them away from the student. (The KL term is left out: the live
// teacher runs on the engine, whose logits depend on its thread count in
// the last bits.)
func TestDistillLoRAThreads(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text.txt")
	if err := os.WriteFile(text, []byte(strings.Repeat("for i := range n { s += f(i) }\n", 40)), 0o644); err != nil {
		t.Fatal(err)
	}
	var outs [][]byte
	for _, th := range []int{1, 3} {
		opt := DefaultDistillOptions()
		opt.Teacher, opt.Student, opt.Data = "models/default", "models/default", text
		opt.KDWeight, opt.CEWeight, opt.LoRARank, opt.LR = 0, 1, 4, 1e-2
		opt.Ctx, opt.Batch, opt.Steps, opt.Threads, opt.DType = 32, 2, 3, th, "f32"
		dst := filepath.Join(dir, "out.gguf")
		if _, err := Distill(context.Background(), dst, opt); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Error("outputs differ between 1 and 3 threads")
	}
	opt := DefaultDistillOptions()
	opt.Teacher, opt.Student, opt.Data = "models/default", "models/default", text
	opt.LoRARank, opt.Ctx, opt.Batch, opt.Steps, opt.LR, opt.DType = 4, 32, 2, 3, 1e-9, "f32"
	dst := filepath.Join(dir, "still.gguf")
	if _, err := Distill(context.Background(), dst, opt); err != nil {
		t.Fatal(err)
	}
	still, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(still, outs[0]) {
		t.Error("training with cross-entropy did not move the model")
	}
}

// TestDistillCancelCache runs with a cancelled context and a teacher
// cache to write: it fails with the context's error and leaves no cache behind.
func TestDistillCancelCache(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text.txt")
	if err := os.WriteFile(text, []byte(strings.Repeat("x := y + 1\n", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opt := DefaultDistillOptions()
	opt.Teacher, opt.Student, opt.Data = "models/default", "models/default", text
	opt.Ctx, opt.Steps = 16, 2
	opt.TeacherCache = filepath.Join(dir, "kd.gguf")
	cancel()
	_, err := Distill(ctx, filepath.Join(dir, "out.gguf"), opt)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled cache: %v, want context.Canceled", err)
	}
	if _, err := os.Stat(opt.TeacherCache); !os.IsNotExist(err) {
		t.Errorf("cancelled run left a teacher cache: %v", err)
	}
}
