package shrink_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink"
	"github.com/shrink-llm/shrink/bench"
)

// TestBenchProgressAndCancel checks the chunk progress of Bench and that a
// cancelled context stops it with the context's error.
func TestBenchProgressAndCancel(t *testing.T) {
	opt := shrink.BenchOptions{Text: "bench/testdata/demo.txt", Ctx: 64, Chunks: 3}
	var stages []string
	opt.Progress = func(p shrink.Progress) { stages = append(stages, p.Stage+" "+p.Message[:4]) }
	r, err := shrink.Bench(context.Background(), "models/default", opt)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"text PPL ", "text PPL ", "text PPL "}; !reflect.DeepEqual(stages, want) {
		t.Errorf("progress %q, want %q", stages, want)
	}
	if r.Perplexity == nil || r.Perplexity.ScoredTokens != 3*31 || r.Tool == nil || r.Tool.Version != shrink.Version {
		t.Errorf("report: perplexity %+v, tool %+v", r.Perplexity, r.Tool)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	opt.Progress = nil
	if _, err := shrink.Bench(ctx, "models/default", opt); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled bench: error %v, want context.Canceled", err)
	}
}

// TestBenchUsage checks that bad option values and combinations are
// UsageErrors, named as the flags.
func TestBenchUsage(t *testing.T) {
	for _, c := range []struct {
		model string
		opt   shrink.BenchOptions
		want  string
	}{
		{"models/default", shrink.BenchOptions{}, "nothing to measure"},
		{"models/default", shrink.BenchOptions{Text: "x", Ctx: 3}, "--ctx must be at least 4"},
		{"models/default", shrink.BenchOptions{Tensors: true}, "--tensors needs --baseline"},
		{"models/default", shrink.BenchOptions{Speed: true, TaskFormat: "csv"}, "--task-format"},
		{"models/default", shrink.BenchOptions{Synthetic: "stories260k"}, "--synthetic takes no MODEL"},
		{"", shrink.BenchOptions{Synthetic: "stories260k", Type: "q9"}, `--type "q9"`},
	} {
		_, err := shrink.Bench(context.Background(), c.model, c.opt)
		var ue *shrink.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want a UsageError with %q", c.opt, err, c.want)
		}
	}
}

// TestGateFiles checks GateFiles over two report files: one check per
// threshold and report, the JUnit file, and the option errors.
func TestGateFiles(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for i, kld := range []float64{0.001, 0.1} {
		r := bench.New()
		r.Model = &bench.ModelInfo{Path: "m.gguf", FileBytes: 1000}
		r.KLD = &bench.Dist{Mean: kld}
		p := filepath.Join(dir, []string{"a.json", "b.json"}[i])
		if err := r.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	limit := 0.01
	junit := filepath.Join(dir, "junit.xml")
	res, err := shrink.GateFiles(paths, shrink.GateOptions{MaxKLD: &limit, JUnit: junit})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Checks) != 2 || !res.Checks[0].Pass || res.Checks[1].Pass || res.Failed != 1 || res.Passed() ||
		res.Checks[1].Report != paths[1] || res.Checks[1].Threshold != 0.01 || res.Checks[1].Value != 0.1 {
		t.Errorf("checks %+v, failed %d", res.Checks, res.Failed)
	}
	if data, err := os.ReadFile(junit); err != nil || !strings.Contains(string(data), `failures="1"`) {
		t.Errorf("junit: %s (%v)", data, err)
	}
	if b, err := json.Marshal(res); err != nil || !strings.Contains(string(b), `"failed":1`) {
		t.Errorf("result JSON %s (%v)", b, err)
	}
	var ue *shrink.UsageError
	if _, err := shrink.GateFiles(paths, shrink.GateOptions{}); !errors.As(err, &ue) || !strings.Contains(err.Error(), "no thresholds") {
		t.Errorf("no thresholds: error %v", err)
	}
	if _, err := shrink.GateFiles(paths, shrink.GateOptions{MaxKLDIncrease: &limit}); !errors.As(err, &ue) {
		t.Errorf("relative limit without --against: error %v", err)
	}
	if _, err := shrink.GateFiles(nil, shrink.GateOptions{MaxKLD: &limit}); !errors.As(err, &ue) {
		t.Errorf("no report: error %v", err)
	}
}
