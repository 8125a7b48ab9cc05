package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/internal/testutil"
)

func TestPruneCommand(t *testing.T) {
	src := filepath.Join(testutil.RepoRoot(t), "models", "default")
	dir := t.TempDir()
	calib := filepath.Join(dir, "calib.txt")
	if err := os.WriteFile(calib, []byte(bench.DemoText), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, []byte(" \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "p.gguf")
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{src, out, "--ffn", "0.2"}, "--calib"},
		{[]string{src, out, "--calib", calib}, "nothing to remove"},
		{[]string{src, out, "--calib", empty, "--ffn", "0.2"}, "no calibration text"},
		{[]string{src, out, "--calib", calib, "--ffn", "1"}, "empty"},
		{[]string{src, out, "--calib", calib, "--layers", "2"}, "empty"},
		{[]string{src, out, "--calib", calib, "--score", "random", "--ffn", "0.2"}, "--score"},
	} {
		code, _, e := run(t, append([]string{"prune", "-q", "--chunks", "2", "--ctx", "64"}, c.args...)...)
		if code != 2 || !strings.Contains(e, c.msg) {
			t.Errorf("%v: code %d, %q (want 2 and %q)", c.args, code, e, c.msg)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a refused run wrote its output")
	}

	js := filepath.Join(dir, "r.json")
	code, stdout, e := run(t, "prune", src, out, "--calib", calib, "--eval", calib, "--ffn", "0.25", "--heads", "0.25",
		"--ffn-multiple", "1", "--ctx", "64", "--chunks", "4", "--threads", "1", "--json", js)
	if code != 0 {
		t.Fatalf("prune: code %d, %s", code, e)
	}
	if !strings.Contains(stdout, "perplexity") || !strings.Contains(stdout, "parameters:") {
		t.Errorf("no report table: %q", stdout)
	}
	var r pruneReport
	data, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if r.Schema != "shrink.prune/v1" || r.ParamsAfter >= r.ParamsBefore || len(r.Layers) != 2 || r.Calib == nil || r.Eval == nil ||
		!(r.Calib.Before > 1) || !(r.Calib.After > 1) {
		t.Errorf("report %+v", r)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.Metadata.Get("shrink.prune.ffn_kept"); !ok {
		t.Error("no shrink.prune.ffn_kept")
	}

	// One calibration pass per layer (a tiny --stats-mem) writes the same
	// tensors.
	out2 := filepath.Join(dir, "p2.gguf")
	if code, _, e := run(t, "prune", "-q", src, out2, "--calib", calib, "--ffn", "0.25", "--heads", "0.25", "--ffn-multiple", "1",
		"--ctx", "64", "--chunks", "4", "--threads", "1", "--stats-mem", "1e-6"); code != 0 {
		t.Fatalf("prune in passes: code %d, %s", code, e)
	}
	g, err := gguf.Open(out2)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, ti := range f.Tensors() {
		a, _ := f.TensorData(ti.Name)
		b, err := g.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		da, _ := io.ReadAll(a)
		db, _ := io.ReadAll(b)
		if !bytes.Equal(da, db) {
			t.Errorf("tensor %s differs between one pass and one pass per layer", ti.Name)
		}
	}

	// A parameter budget.
	js2 := filepath.Join(dir, "b.json")
	if code, _, e := run(t, "prune", "-q", src, filepath.Join(dir, "b.gguf"), "--calib", calib, "--target-params", "0.8",
		"--ctx", "64", "--chunks", "2", "--threads", "1", "--json", js2); code != 0 {
		t.Fatalf("prune --target-params: code %d, %s", code, e)
	}
	var rb pruneReport
	if data, err := os.ReadFile(js2); err != nil || json.Unmarshal(data, &rb) != nil {
		t.Fatalf("budget report: %v", err)
	}
	if float64(rb.ParamsAfter) > 0.8*float64(rb.ParamsBefore) || float64(rb.ParamsAfter) < 0.7*float64(rb.ParamsBefore) {
		t.Errorf("budget 0.8: %d of %d parameters kept", rb.ParamsAfter, rb.ParamsBefore)
	}

	// A quantized source is dequantized: the output holds F16 matrices.
	q8 := filepath.Join(dir, "q8.gguf")
	if code, _, e := run(t, "quantize", "-q", src, q8, "--type", "q8_0"); code != 0 {
		t.Fatalf("quantize: code %d, %s", code, e)
	}
	fromQ := filepath.Join(dir, "fromq.gguf")
	if code, _, e := run(t, "prune", "-q", q8, fromQ, "--calib", calib, "--ffn", "0.25", "--ctx", "64", "--chunks", "2", "--threads", "1"); code != 0 {
		t.Fatalf("prune from q8_0: code %d, %s", code, e)
	}
	h, err := gguf.Open(fromQ)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, ti := range h.Tensors() {
		if len(ti.Shape) == 2 && ti.Type.String() != "f16" {
			t.Errorf("%s is %s, want f16", ti.Name, ti.Type)
		}
	}

	// Removing a block keeps widths uniform: a Hugging Face folder.
	hf := filepath.Join(dir, "hf")
	if code, _, e := run(t, "prune", "-q", src, hf, "--calib", calib, "--layers", "1", "--ctx", "64", "--chunks", "2", "--threads", "1"); code != 0 {
		t.Fatalf("prune to a folder: code %d, %s", code, e)
	}
	cfg, err := os.ReadFile(filepath.Join(hf, "config.json"))
	if err != nil || !strings.Contains(string(cfg), `"num_hidden_layers": 1`) {
		t.Errorf("config.json: %v %s", err, cfg)
	}
	if _, err := os.Stat(filepath.Join(hf, ".prune-tmp.gguf")); err == nil {
		t.Error("temporary GGUF left in the folder")
	}
	// Non-uniform widths cannot go to a folder.
	if code, _, e := run(t, "prune", "-q", src, filepath.Join(dir, "hf2"), "--calib", calib, "--ffn", "0.3", "--ffn-multiple", "1", "--ctx", "64", "--chunks", "2"); code != 2 || !strings.Contains(e, "gguf") {
		t.Errorf("non-uniform to folder: code %d, %q", code, e)
	}
}

// TestPruneDeepseek2Together: prune --heads --ffn --experts on
// dev-deepseek2-moe runs one calibration and writes a GGUF with 3 of 4
// heads, 6 of 8 experts and 192 of 256 dense channels, which the engine
// loads, with the experts listed in the report.
func TestPruneDeepseek2Together(t *testing.T) {
	src := testutil.Shared(t, "models/dev-deepseek2-moe")
	dir := t.TempDir()
	calib := filepath.Join(dir, "calib.txt")
	if err := os.WriteFile(calib, []byte(strings.Repeat(bench.DemoText, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, js := filepath.Join(dir, "p.gguf"), filepath.Join(dir, "r.json")
	code, stdout, e := run(t, "prune", src, out, "--calib", calib, "--heads", "0.25", "--ffn", "0.25", "--experts", "2",
		"--ctx", "64", "--chunks", "4", "--threads", "1", "--json", js)
	if code != 0 {
		t.Fatalf("prune: code %d, %s", code, e)
	}
	if !strings.Contains(stdout, "layer 1 experts kept") || !strings.Contains(stdout, "192/256") {
		t.Errorf("report: %q", stdout)
	}
	var r pruneReport
	if data, err := os.ReadFile(js); err != nil || json.Unmarshal(data, &r) != nil {
		t.Fatalf("report: %v", err)
	}
	if len(r.Experts) != 3 || len(r.Experts[0].Kept) != 6 || r.Layers[2].Heads != [2]int{3, 4} || r.Layers[0].FFN != [2]int{192, 256} || r.Calib == nil {
		t.Errorf("report %+v", r)
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for key, want := range map[string]int64{"deepseek2.expert_count": 6, "deepseek2.attention.head_count": 3, "deepseek2.feed_forward_length": 192} {
		v, ok := f.Metadata.Get(key)
		if n, isInt := v.Int(); !ok || !isInt || n != want {
			t.Errorf("%s = %v, want %d", key, v, want)
		}
	}
}
