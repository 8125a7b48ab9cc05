package shrink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/bench"
)

// TestPruneOptionsJSON: a recipe step with every flag name of shrink prune
// unmarshals into PruneOptions with unknown fields refused, over the
// defaults.
func TestPruneOptionsJSON(t *testing.T) {
	step := `{"calib":"c.txt","eval":"e.txt","ffn":0.25,"heads":0.1,"layers":1,"target-params":"","experts":"","expert-score":"freq",
		"score":"magnitude","allocate":"absolute","min-keep":0.2,"ffn-multiple":8,"no-repair":true,"ridge":0.01,"gguf-arch":"deci",
		"stats-mem":1,"ctx":128,"chunks":3,"eval-chunks":2,"threads":2,"tokenizer":""}`
	opt := DefaultPruneOptions()
	dec := json.NewDecoder(bytes.NewReader([]byte(step)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&opt); err != nil {
		t.Fatal(err)
	}
	if opt.FFN != 0.25 || opt.FFNMultiple != 8 || !opt.NoRepair || opt.GGUFArch != "deci" || opt.Ctx != 128 || opt.MinKeep != 0.2 ||
		opt.EvalChunks != 2 {
		t.Errorf("options %+v", opt)
	}
	opt = DefaultPruneOptions()
	if err := json.Unmarshal([]byte(`{"calib":"c.txt","ffn":0.3}`), &opt); err != nil || opt.Ctx != 512 || opt.Score != "activation" {
		t.Errorf("defaults kept: %v %+v", err, opt)
	}
	if got, want := opt.recipe(), "shrink prune --allocate=relative --calib=c.txt --ffn=0.3 --ffn-multiple=32 --min-keep=0.1 --score=activation"; got != want {
		t.Errorf("recipe %q, want %q", got, want)
	}
}

// TestPruneEvalChunks: the perplexity report runs the first EvalChunks
// chunks (at most Chunks) and says how many; 0 skips it.
func TestPruneEvalChunks(t *testing.T) {
	dir := t.TempDir()
	calib := filepath.Join(dir, "calib.txt")
	if err := os.WriteFile(calib, []byte(bench.DemoText), 0o644); err != nil {
		t.Fatal(err)
	}
	var files [][]byte
	for _, c := range []struct{ eval, chunks, want int }{{2, 4, 2}, {9, 3, 3}, {0, 4, 0}} {
		opt := DefaultPruneOptions()
		opt.Calib, opt.FFN, opt.Ctx, opt.Chunks, opt.EvalChunks = calib, 0.25, 64, c.chunks, c.eval
		dst := filepath.Join(dir, "p.gguf")
		res, err := Prune(context.Background(), "models/default", dst, opt)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case c.want == 0 && res.Calib != nil:
			t.Errorf("eval-chunks 0: perplexity %+v", res.Calib)
		case c.want > 0 && (res.Calib == nil || res.Calib.Chunks != c.want || res.Calib.Tokens <= 0 || !(res.Calib.Before > 1)):
			t.Errorf("eval-chunks %d, chunks %d: perplexity %+v, want %d chunks", c.eval, c.chunks, res.Calib, c.want)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if c.chunks == 4 {
			files = append(files, b)
		}
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("the pruned file depends on eval-chunks")
	}
}

// TestPruneErrors: option errors are UsageErrors before anything is
// read; a cancelled context stops the run and leaves no output.
func TestPruneErrors(t *testing.T) {
	dir := t.TempDir()
	calib := filepath.Join(dir, "calib.txt")
	if err := os.WriteFile(calib, []byte(bench.DemoText), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "p.gguf")
	for _, o := range []PruneOptions{
		{FFN: 0.2},
		{Calib: calib},
		{Calib: calib, FFN: 0.2, Score: "random"},
		{Calib: calib, FFN: 0.2, Allocate: "x"},
		{Calib: calib, FFN: 0.2, Ctx: 2},
	} {
		var ue *UsageError
		if _, err := Prune(context.Background(), "no-such-model", dst, o); !errors.As(err, &ue) {
			t.Errorf("%+v: %v, want an option error", o, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	opt := DefaultPruneOptions()
	opt.Calib, opt.FFN, opt.Ctx = calib, 0.25, 64
	if _, err := Prune(ctx, "models/default", dst, opt); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Error("a cancelled prune left its output")
	}
	var ue *UsageError
	if _, err := Prune(context.Background(), "no-such-model", dst, opt); err == nil || errors.As(err, &ue) {
		t.Errorf("missing model: %v", err)
	}
}
