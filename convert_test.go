package shrink_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink"
)

// TestConvertCancelled checks that a cancelled conversion returns the
// context's error and leaves no file behind.
func TestConvertCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gg, hf := filepath.Join(dir, "m.gguf"), filepath.Join(dir, "hf")
	for _, dst := range []string{gg, hf} {
		_, err := shrink.Convert(ctx, "models/default", dst, shrink.ConvertOptions{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error %v, want context.Canceled", dst, err)
		}
	}
	for _, p := range []string{gg, filepath.Join(hf, "model.safetensors")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists after a cancelled conversion", p)
		}
	}
}

// TestConvertProgressAndOptions checks the progress updates, the result
// and the option errors.
func TestConvertProgressAndOptions(t *testing.T) {
	dir := t.TempDir()
	var got []shrink.Progress
	dst := filepath.Join(dir, "m.gguf")
	res, err := shrink.Convert(context.Background(), "models/default", dst, shrink.ConvertOptions{
		DType: "bf16", Progress: func(p shrink.Progress) { got = append(got, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != res.Tensors || res.Tensors != 20 || got[0].Done != 0 || got[19].Done != 19 || got[19].Total != 20 {
		t.Fatalf("%d progress updates for %d tensors: first %+v", len(got), res.Tensors, got[0])
	}
	if got[0].Stage != "convert" || got[0].Message != "token_embd.weight -> bf16" {
		t.Errorf("first update %+v, want stage convert, message token_embd.weight -> bf16", got[0])
	}
	if fi, err := os.Stat(dst); err != nil || fi.Size() != res.Bytes || res.DType != "bf16" || res.Format != "gguf" {
		t.Errorf("result %+v for file %v (%v)", res, fi, err)
	}
	for _, opt := range []shrink.ConvertOptions{{DType: "q4_0"}, {MLALayout: "split"}} {
		_, err := shrink.Convert(context.Background(), "models/default", filepath.Join(dir, "x.gguf"), opt)
		var ue *shrink.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%+v: error %v, want a UsageError", opt, err)
		}
	}
}

// TestInspectGGUF checks Inspect on a GGUF file: the metadata only when
// asked for, the types and totals.
func TestInspectGGUF(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "m.gguf")
	if _, err := shrink.Convert(context.Background(), "models/default", dst, shrink.ConvertOptions{DType: "f16"}); err != nil {
		t.Fatal(err)
	}
	r, err := shrink.Inspect(context.Background(), dst, shrink.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Format != "gguf" || r.Metadata != nil || r.TensorTypes["f16"] != 15 || r.TensorTypes["f32"] != 5 || r.Totals.Params != 361088 {
		t.Errorf("inspect: format %s, metadata %d keys, types %v, params %d", r.Format, len(r.Metadata), r.TensorTypes, r.Totals.Params)
	}
	r, err = shrink.Inspect(context.Background(), dst, shrink.InspectOptions{Metadata: true})
	if err != nil || r.Metadata["general.architecture"] != `"llama"` {
		t.Errorf("inspect --metadata: general.architecture %q, error %v", r.Metadata["general.architecture"], err)
	}
	if _, err := shrink.Inspect(context.Background(), filepath.Join(t.TempDir(), "none.gguf"), shrink.InspectOptions{}); err == nil {
		t.Errorf("inspect of a missing file: no error")
	}
}
