package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/internal/testutil"
)

func TestBenchTasks(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(testutil.RepoRoot(t), "models", "default")
	tasks := filepath.Join(testutil.RepoRoot(t), "bench", "testdata", "tasks")
	j, h := filepath.Join(dir, "t.json"), filepath.Join(dir, "t.html")
	code, out, e := run(t, "bench", model, "--ctx", "256", "--tasks", filepath.Join(tasks, "hellaswag.txt")+","+filepath.Join(tasks, "mc.bin"),
		filepath.Join(tasks, "winogrande.csv"), filepath.Join(tasks, "choice.jsonl"), "--tasks", filepath.Join(tasks, "generate.jsonl"),
		"--max-tokens", "8", "--stop", "\n", "--json", j, "--html", h)
	if code != 0 || !strings.Contains(out, "| default | winogrande | winogrande | 12 |") {
		t.Fatalf("bench --tasks: code %d\n%s%s", code, out, e)
	}
	r, err := bench.ReadReport(j)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"hellaswag": 8, "multiple-choice": 6, "winogrande": 12, "choice": 6, "generate": 4}
	if len(r.Tasks) != len(want) {
		t.Fatalf("%d tasks", len(r.Tasks))
	}
	for _, tr := range r.Tasks {
		if tr.N != want[tr.Format] || len(tr.Items) != tr.N || tr.Accuracy != float64(tr.Correct)/float64(tr.N) {
			t.Errorf("%s: %d items (want %d), %d right, accuracy %g", tr.Format, tr.N, want[tr.Format], tr.Correct, tr.Accuracy)
		}
		if tr.Format == "generate" {
			for _, it := range tr.Items {
				if strings.Contains(it.Output, "\n") {
					t.Errorf("output %q runs past the stop string", it.Output)
				}
			}
		}
	}
	if data, err := os.ReadFile(h); err != nil || strings.Count(string(data), "<details>") != 5 {
		t.Errorf("HTML: %v", err)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"query":"q","choices":["a"],"gold":0}`), 0o644)
	for _, args := range [][]string{
		{"bench", model, "--tasks", bad},
		{"bench", model, "--tasks", filepath.Join(tasks, "mc.bin"), "--task-format", "nope"},
		{"bench", model, "--tasks", filepath.Join(tasks, "hellaswag.txt"), "--ctx", "16"},
	} {
		if code, _, _ := run(t, args...); code == 0 {
			t.Errorf("%v: code 0", args)
		}
	}
}
