package shrink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/engine"
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

// TestPruneBeforeFromCalibration: the calibration text's perplexity on the
// source, taken from the calibration pass's last residual streams, is
// bench.Evaluate's on the same chunks, bit for bit.
func TestPruneBeforeFromCalibration(t *testing.T) {
	dir := t.TempDir()
	calib := filepath.Join(dir, "calib.txt")
	if err := os.WriteFile(calib, []byte(bench.DemoText), 0o644); err != nil {
		t.Fatal(err)
	}
	opt := DefaultPruneOptions()
	opt.Calib, opt.FFN, opt.Ctx, opt.Chunks, opt.EvalChunks = calib, 0.25, 64, 5, 3
	var notes []string
	opt.Progress = func(p Progress) {
		if p.Total == 0 {
			notes = append(notes, p.Message)
		}
	}
	res, err := Prune(context.Background(), "models/default", filepath.Join(dir, "p.gguf"), opt)
	if err != nil {
		t.Fatal(err)
	}
	em, err := engine.Load("models/default", engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	toks, bos, err := bench.Tokenize(em.Vocab, bench.DemoText)
	if err != nil {
		t.Fatal(err)
	}
	want, err := bench.Evaluate(context.Background(), em, toks, bench.EvalOptions{Ctx: 64, Chunks: 3, BOS: bos})
	if err != nil {
		t.Fatal(err)
	}
	ppl, _ := want.Stats.Perplexity()
	if res.Calib == nil || res.Calib.Before != ppl || res.Calib.Chunks != 3 || res.Calib.Tokens != want.Stats.N() {
		t.Errorf("before %+v, bench.Evaluate %v over %d tokens", res.Calib, ppl, want.Stats.N())
	}
	if !strings.Contains(strings.Join(notes, "\n"), "from the calibration pass") {
		t.Errorf("the perplexity before was not taken from the calibration pass: %q", notes)
	}
}

// TestPruneGramPaths: the repair's Gram matrices held in memory for every
// block, kept on disk by the calibration pass (a tiny StatsMem) or made
// again by a second pass block by block (no spill) give the same file,
// and the spill file is gone afterwards.
func TestPruneGramPaths(t *testing.T) {
	dir := t.TempDir()
	calib := filepath.Join(dir, "calib.txt")
	if err := os.WriteFile(calib, []byte(bench.DemoText), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func() { spillGrams = true }()
	var files [][]byte
	for i, c := range []struct {
		mem   float64
		spill bool
	}{{4, true}, {1e-9, true}, {1e-9, false}} {
		opt := DefaultPruneOptions()
		opt.Calib, opt.FFN, opt.Heads, opt.FFNMultiple, opt.Ctx, opt.Chunks, opt.StatsMem = calib, 0.25, 0.25, 1, 64, 4, c.mem
		opt.Recipe = "test" // stats-mem would differ in the provenance
		var notes []string
		opt.Progress = func(p Progress) {
			if p.Total == 0 {
				notes = append(notes, p.Message)
			}
		}
		spillGrams = c.spill
		dst := filepath.Join(dir, fmt.Sprintf("p%d.gguf", i))
		if _, err := Prune(context.Background(), "models/default", dst, opt); err != nil {
			t.Fatal(err)
		}
		spilled := strings.Contains(strings.Join(notes, "\n"), "kept on disk")
		if want := c.mem < 1 && c.spill; spilled != want {
			t.Errorf("stats-mem %g, spill %v: spilled %v (notes %q)", c.mem, c.spill, spilled, notes)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	for i := 1; i < len(files); i++ {
		if !bytes.Equal(files[0], files[i]) {
			t.Errorf("path %d writes a different file from the Gram matrices in memory", i)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".shrink-grams-*")); len(left) > 0 {
		t.Errorf("spill files left: %v", left)
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
