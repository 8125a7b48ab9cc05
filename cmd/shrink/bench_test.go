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

func writeReport(t *testing.T, dir, name string, kld *float64, top1 float64) string {
	t.Helper()
	r := bench.New()
	r.Model = &bench.ModelInfo{Path: name, FileBytes: 1000, Params: 100, BitsPerWeight: 80}
	if kld != nil {
		r.KLD = &bench.Dist{Mean: *kld, Max: *kld}
	}
	r.Top1Agreement = &top1
	p := filepath.Join(dir, name+".json")
	if err := r.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGateExitCodes(t *testing.T) {
	dir := t.TempDir()
	good, bad := 0.01, 0.5
	pass := writeReport(t, dir, "pass", &good, 0.99)
	fail := writeReport(t, dir, "fail", &bad, 0.99)
	missing := writeReport(t, dir, "missing", nil, 0.99)
	junit := filepath.Join(dir, "junit.xml")
	if code, out, e := run(t, "gate", pass, "--max-kld", "0.05", "--min-top1", "0.9", "--junit", junit); code != 0 || !strings.Contains(out, "pass") {
		t.Errorf("passing report: code %d\n%s%s", code, out, e)
	}
	if code, out, _ := run(t, "gate", pass, fail, "--max-kld", "0.05", "--junit", junit); code != 1 || !strings.Contains(out, "FAIL") {
		t.Errorf("failing report: code %d\n%s", code, out)
	}
	data, _ := os.ReadFile(junit)
	var js struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal(data, &js); err != nil || js.Tests != 2 || js.Failures != 1 {
		t.Errorf("JUnit %+v %v:\n%s", js, err, data)
	}
	if code, out, _ := run(t, "gate", missing, "--max-kld", "0.05"); code != 1 || !strings.Contains(out, "missing") {
		t.Errorf("missing metric: code %d\n%s", code, out)
	}
	policy := filepath.Join(dir, "policy.json")
	os.WriteFile(policy, []byte(`{"max_kld": 0.05, "max_size": 500}`), 0o644)
	if code, out, _ := run(t, "gate", pass, "--policy", policy); code != 1 || !strings.Contains(out, "model.file_bytes <= 500") {
		t.Errorf("policy: code %d\n%s", code, out)
	}
	if code, _, _ := run(t, "gate", pass, "--policy", policy, "--max-size", "5000"); code != 0 {
		t.Errorf("flag overriding the policy: code %d", code)
	}
	notJSON := filepath.Join(dir, "x.json")
	os.WriteFile(notJSON, []byte("nope"), 0o644)
	for _, args := range [][]string{{"gate", notJSON, "--max-kld", "1"}, {"gate", pass}, {"gate", filepath.Join(dir, "absent.json"), "--max-kld", "1"}} {
		if code, _, _ := run(t, args...); code != 2 {
			t.Errorf("%v: code %d, want 2", args, code)
		}
	}
}

func TestBenchCommand(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(testutil.RepoRoot(t), "models", "default")
	text := filepath.Join(dir, "text.txt")
	os.WriteFile(text, []byte(bench.DemoText), 0o644)
	j1, j2, base := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json"), filepath.Join(dir, "base.kld")
	code, out, e := run(t, "bench", model, "--text", text, "--baseline", model, "--ctx", "64", "--chunks", "3", "--tensors",
		"--save-baseline", base, "--json", j1, "--html", filepath.Join(dir, "a.html"))
	if code != 0 || !strings.Contains(out, "| model |") {
		t.Fatalf("bench: code %d\n%s%s", code, out, e)
	}
	r, err := bench.ReadReport(j1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Perplexity == nil || r.Perplexity.ScoredTokens != 3*31 || r.KLD == nil || r.KLD.Max > 1e-9 || *r.Top1Agreement != 1 || len(r.Tensors) == 0 || r.Model.Params == 0 {
		t.Errorf("report %+v", r)
	}
	code, _, e = run(t, "bench", model, "--baseline-logits", base, "--json", j2, "-q")
	if code != 0 {
		t.Fatalf("bench --baseline-logits: code %d %s", code, e)
	}
	r2, err := bench.ReadReport(j2)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Perplexity.Value != r.Perplexity.Value || r2.KLD.Max > 2e-5 || r2.Ctx != 64 {
		t.Errorf("from the baseline file: PPL %g vs %g, KLD %+v", r2.Perplexity.Value, r.Perplexity.Value, r2.KLD)
	}
	html := filepath.Join(dir, "cmp.html")
	if code, out, e := run(t, "report", j1, j2, "--html", html, "--md", filepath.Join(dir, "cmp.md")); code != 0 || strings.Count(out, "| default |") != 2 {
		t.Errorf("report: code %d\n%s%s", code, out, e)
	}
	if data, err := os.ReadFile(html); err != nil || !strings.Contains(string(data), "<svg") {
		t.Errorf("HTML: %v", err)
	}
	if code, out, e := run(t, "bench", "--synthetic", "dim=64,layers=2,heads=4,ffn=128,vocab=256", "--type", "q8_0", "--speed-repeats", "1", "--speed-prefill", "8", "--speed-decode", "4"); code != 0 || !strings.Contains(out, "decode t/s") {
		t.Errorf("synthetic: code %d\n%s%s", code, out, e)
	}
	for _, args := range [][]string{{"bench", model}, {"bench", model, "--tensors"}, {"bench", "--synthetic", "nope"}, {"bench", model, "--text", filepath.Join(dir, "absent")}} {
		if code, _, _ := run(t, args...); code != 2 {
			t.Errorf("%v: code %d, want 2", args, code)
		}
	}
}
