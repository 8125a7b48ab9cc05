package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// TestGateAgainst benches models/default's F16 GGUF twice and its q2_k
// quantization once (text, baseline F16, sample tasks) and gates them
// against the first F16 report: the second F16 run passes, q2_k fails on
// its significantly larger KL divergence and perplexity.
func TestGateAgainst(t *testing.T) {
	dir := t.TempDir()
	root := testutil.RepoRoot(t)
	model := filepath.Join(root, "models", "default")
	tasks := filepath.Join(root, "bench", "testdata", "tasks")
	text := filepath.Join(root, "bench", "testdata", "demo.txt")
	f16, q2 := filepath.Join(dir, "f16.gguf"), filepath.Join(dir, "q2k.gguf")
	for _, q := range [][2]string{{f16, "f16"}, {q2, "q2_k"}} {
		if code, _, e := run(t, "quantize", model, q[0], "--type", q[1], "-q"); code != 0 {
			t.Fatalf("quantize %s: %s", q[1], e)
		}
	}
	bench1 := func(m, out string) string {
		p := filepath.Join(dir, out)
		code, _, e := run(t, "bench", m, "--text", text, "--baseline", f16, "--ctx", "128", "--chunks", "20", "--task-ctx", "256",
			"--tasks", filepath.Join(tasks, "winogrande.csv"), "--tasks", filepath.Join(tasks, "mc.bin"), "--json", p, "-q")
		if code != 0 {
			t.Fatalf("bench %s: %s", m, e)
		}
		return p
	}
	old, again, worse := bench1(f16, "old.json"), bench1(f16, "again.json"), bench1(q2, "q2k.json")
	r, err := bench.ReadReport(worse)
	if err != nil {
		t.Fatal(err)
	}
	if r.PerChunk == nil || len(r.PerChunk.NLL) != 20 || len(r.PerChunk.KLD) != 20 || len(r.Tasks) != 2 {
		t.Fatalf("report: per-chunk %+v, %d tasks", r.PerChunk, len(r.Tasks))
	}
	code, out, e := run(t, "gate", again, "--against", old)
	if code != 0 || strings.Count(out, "pass") != 4 {
		t.Errorf("same model: code %d\n%s%s", code, out, e)
	}
	junit := filepath.Join(dir, "j.xml")
	code, out, _ = run(t, "gate", worse, "--against", old, "--max-accuracy-drop", "0.1", "--max-kld-increase", "0.001",
		"--max-ppl-ratio-increase", "0.001", "--junit", junit)
	if code != 1 || !strings.Contains(out, "kld.mean increase <= 0.001") || !strings.Contains(out, "FAIL (significant") || !strings.Contains(out, "[") {
		t.Errorf("q2_k: code %d\n%s", code, out)
	}
	var js struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	data, _ := os.ReadFile(junit)
	if err := xml.Unmarshal(data, &js); err != nil || js.Tests != 4 || js.Failures != 2 {
		t.Errorf("JUnit %+v %v:\n%s", js, err, data)
	}
	// A generous limit passes what is not significantly beyond it.
	if code, out, _ := run(t, "gate", worse, "--against", old, "--max-kld-increase", "1", "--max-ppl-ratio-increase", "0.5"); code != 0 {
		t.Errorf("generous limits: code %d\n%s", code, out)
	}
	for _, args := range [][]string{{"gate", worse, "--max-kld-increase", "1"}, {"gate", worse, "--against", old, "--alpha", "0.7"}} {
		if code, _, _ := run(t, args...); code != 2 {
			t.Errorf("%v: code %d, want 2", args, code)
		}
	}
}
