package bench

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/tokenizer"
)

// devModel converts the shared dev-llama-3m checkpoint to an F16 GGUF, as
// `shrink convert` does, and loads it.
func devModel(t *testing.T) *engine.Model {
	t.Helper()
	src := testutil.Shared(t, "models/dev-llama-3m")
	path := writeGGUF(t, src, "", format.F16, t.TempDir()+"/d.gguf")
	m, err := engine.Load(path, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func runTask(t *testing.T, m *engine.Model, name string, limit int) *TaskResult {
	t.Helper()
	f, err := ReadTaskFile(sampleTask(t, name), "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := EvaluateTask(context.Background(), m, f, TaskOptions{Ctx: 256, Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The expected values below are llama-perplexity's (llama.cpp build of
// /tmp/llama.cpp, CPU, f16 K/V cache) on the F16 GGUF of dev-llama-3m:
//
//	shrink convert ../shared/models/dev-llama-3m d.gguf
//	cd bench/testdata/tasks
//	llama-perplexity -m d.gguf -c 256 -b 256 -t 2 -f hellaswag.txt --hellaswag [--hellaswag-tasks 5]
//	llama-perplexity -m d.gguf -c 256 -b 256 -t 2 -f winogrande.csv --winogrande [--winogrande-tasks 5]
//	llama-perplexity -m d.gguf -c 256 -b 256 -t 2 -bf mc.bin --multiple-choice [--multiple-choice-tasks 4]
//
// HellaSwag and multiple choice print the running accuracy after each item
// (correctness per item follows from it); WinoGrande prints each item's two
// scores and its answer. The per-item order is llama.cpp's random order.
func TestTasksMatchLlamaCpp(t *testing.T) {
	m := devModel(t)
	for _, c := range []struct {
		file   string
		limit  int
		ok     string // per item in evaluation order, from the running accuracy
		items  []int  // file indexes in evaluation order (nil: 0..n-1)
		se     float64
		chance float64
	}{
		// 1 100, 2 50, 3 66.67, 4 75, 5 80, 6 83.33, 7 85.71, 8 75.
		{"hellaswag.txt", 0, "10111110", []int{3, 7, 5, 6, 0, 1, 2, 4}, 0, 0.25},
		{"hellaswag.txt", 5, "10111", []int{3, 7, 5, 6, 0}, 0, 0.25},
		// 1 0, 2 0, 3 33.33, 4 25, 5 20, 6 33.33; Final result: 33.3333 +/- 21.0819,
		// Random chance: 31.5789 +/- 20.7878.
		{"mc.bin", 0, "001001", nil, 0.210819, 0.315789},
		// 1 100, 2 50, 3 66.67, 4 50; Final result: 50.0000 +/- 28.8675, Random chance: 33.3333.
		{"mc.bin", 4, "1010", []int{2, 4, 5, 3}, 0.288675, 0.333333},
	} {
		r := runTask(t, m, c.file, c.limit)
		if len(r.Items) != len(c.ok) {
			t.Fatalf("%s %d: %d items, want %d", c.file, c.limit, len(r.Items), len(c.ok))
		}
		k := 0
		for i, it := range r.Items {
			if it.OK != (c.ok[i] == '1') {
				t.Errorf("%s %d: item %d (file %d) ok %v, llama.cpp %c", c.file, c.limit, i, it.I, it.OK, c.ok[i])
			}
			if c.items != nil && it.I != c.items[i] {
				t.Errorf("%s %d: item %d is file item %d, llama.cpp's order %v", c.file, c.limit, i, it.I, c.items)
			}
			if it.OK {
				k++
			}
		}
		if r.Correct != k || r.N != len(c.ok) {
			t.Errorf("%s: %d of %d", c.file, r.Correct, r.N)
		}
		if c.se != 0 && math.Abs(r.Stderr-c.se) > 1e-6 {
			t.Errorf("%s %d: stderr %.6f, llama.cpp %.6f", c.file, c.limit, r.Stderr, c.se)
		}
		if math.Abs(r.Chance-c.chance) > 1e-6 {
			t.Errorf("%s %d: chance %.6f, llama.cpp %.6f", c.file, c.limit, r.Chance, c.chance)
		}
	}
}

// TestWinoGrandeMatchesLlamaCpp checks every item's two scores and answer
// against llama-perplexity --winogrande's lines (task, accuracy, score 1,
// score 2, answer, gold). The scores agree to 1e-3: llama.cpp rounds the
// activations to f16 for its f16 matrix products (with -ctk f32 -ctv f32
// its own scores move by up to 7e-4).
func TestWinoGrandeMatchesLlamaCpp(t *testing.T) {
	m := devModel(t)
	type row struct {
		i      int
		s1, s2 float64
		pred   int
	}
	for _, c := range []struct {
		limit int
		rows  []row
	}{
		{0, []row{{0, -5.738921, -5.766581, 1}, {1, -3.928293, -4.347733, 1}, {2, -4.976047, -4.838595, 2}, {3, -4.333176, -4.285052, 2},
			{4, -5.546966, -5.549377, 1}, {5, -6.856900, -6.699833, 2}, {6, -3.911999, -3.798540, 2}, {7, -7.168777, -7.479657, 1},
			// Short remainders: the choice word is scored, the second
			// sentence's first token with the first's last logits.
			{8, -3.781588, -5.137751, 1}, {9, -2.930898, -15.150016, 1},
			// The same choice twice: no token is scored, -nan -nan, answer 2.
			{10, math.NaN(), math.NaN(), 2},
			// "king" is the first token of "kingdom": the choice word is
			// skipped, the second sentence's scoring starts at the common
			// prefix, so its first token gets the first sentence's last logits.
			{11, -6.063894, -6.652067, 1}}},
		// --winogrande-tasks 5
		{5, []row{{5, -6.856900, -6.699833, 2}, {10, math.NaN(), math.NaN(), 2}, {7, -7.168777, -7.479657, 1}, {8, -3.781588, -5.137751, 1}, {0, -5.738921, -5.766581, 1}}},
	} {
		r := runTask(t, m, "winogrande.csv", c.limit)
		if len(r.Items) != len(c.rows) {
			t.Fatalf("%d items, llama.cpp %d", len(r.Items), len(c.rows))
		}
		for i, w := range c.rows {
			it := r.Items[i]
			near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-3 || math.IsNaN(a) && math.IsNaN(b) }
			if it.I != w.i || it.Pred != w.pred || !near(it.Scores[0], w.s1) || !near(it.Scores[1], w.s2) {
				t.Errorf("limit %d item %d: file %d, scores %.6f %.6f, answer %d; llama.cpp %+v", c.limit, i, it.I, it.Scores[0], it.Scores[1], it.Pred, w)
			}
		}
	}
}

// TestChoiceMatchesUnshared scores the domain multiple-choice sample by
// evaluating every query+choice alone (no shared prefix) and summing the
// log-probabilities of the tokens after the query's: the shared-prefix
// evaluation must choose the same and give the same log-likelihoods.
func TestChoiceMatchesUnshared(t *testing.T) {
	m := devModel(t)
	r := runTask(t, m, "choice.jsonl", 0)
	f, err := ReadTaskFile(sampleTask(t, "choice.jsonl"), "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.New(m.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	s := m.NewSession(256)
	V := m.Config.VocabSize
	okNorm := 0
	for i, it := range f.Choice {
		nctx := len(tok.Encode(it.Query, true))
		ll := make([]float64, len(it.Choices))
		norm := make([]float64, len(it.Choices))
		for k, c := range it.Choices {
			seq := tok.Encode(it.Query+" "+c, true)
			s.Reset()
			logits, err := s.ForwardAll(seq)
			if err != nil {
				t.Fatal(err)
			}
			for j := nctx; j < len(seq); j++ {
				ll[k] += tokenLogProb(logits[(j-1)*V:j*V], seq[j])
			}
			norm[k] = ll[k] / float64(len(c))
		}
		got := r.Items[i]
		for k := range ll {
			if math.Abs(got.Scores[k]-ll[k]) > 1e-3 {
				t.Errorf("item %d choice %d: log-likelihood %.5f, unshared %.5f", i, k, got.Scores[k], ll[k])
			}
		}
		if got.Pred != argmaxFirst(ll) || *got.PredNorm != argmaxFirst(norm) {
			t.Errorf("item %d: pred %d/%d, unshared %d/%d", i, got.Pred, *got.PredNorm, argmaxFirst(ll), argmaxFirst(norm))
		}
		if argmaxFirst(norm) == *it.Gold {
			okNorm++
		}
	}
	if r.Correct != 3 || r.Norm == nil || r.Norm.Correct != okNorm || okNorm != 2 {
		t.Errorf("acc %d/%d, acc_norm %+v (unshared %d); want 3 and 2 of 6", r.Correct, r.N, r.Norm, okNorm)
	}
}

// TestGenerateSample checks greedy generation with stop strings, exact
// targets and patterns. The greedy continuation of "ROMEO:" is the one
// PyTorch gives for dev-llama-3m (its SOURCE.txt).
func TestGenerateSample(t *testing.T) {
	m := devModel(t)
	r := runTask(t, m, "generate.jsonl", 0)
	if !strings.HasPrefix(r.Items[0].Output, "\nWhy, then, I will not be so.\n\nLEONTES:\nWhy, my lord.") {
		t.Errorf("ROMEO: continues %q", r.Items[0].Output)
	}
	if r.Correct != 2 || r.N != 4 {
		t.Errorf("%d of %d right, want 2 of 4", r.Correct, r.N)
	}
	// The stop string "\n" cuts the output before the first newline.
	if strings.Contains(r.Items[1].Output, "\n") || !r.Items[2].OK || r.Items[3].OK {
		t.Errorf("items: %+v", r.Items)
	}
	f, err := ReadTaskFile(sampleTask(t, "generate.jsonl"), "")
	if err != nil {
		t.Fatal(err)
	}
	short, err := EvaluateTask(context.Background(), m, f, TaskOptions{Ctx: 256, MaxTokens: 3, Stop: []string{"LEONTES"}})
	if err != nil {
		t.Fatal(err)
	}
	if out := short.Items[0].Output; len(out) >= len(r.Items[0].Output) || !strings.HasPrefix(r.Items[0].Output, out) {
		t.Errorf("3 tokens: %q", out)
	}
}

func TestCutStop(t *testing.T) {
	for _, c := range []struct {
		in   string
		stop []string
		want string
		ok   bool
	}{{"abc\ndef", []string{"\n"}, "abc", true}, {"abcdef", []string{"de", "c"}, "ab", true}, {"abc", []string{"", "x"}, "abc", false}} {
		if got, ok := cutStop(c.in, c.stop); got != c.want || ok != c.ok {
			t.Errorf("cutStop(%q, %q) = %q %v", c.in, c.stop, got, ok)
		}
	}
}

func TestWilson(t *testing.T) {
	// Wilson 95% interval of 8/10: 0.4902 .. 0.9433.
	ci := wilson(8, 10, 1.959963984540054)
	if math.Abs(ci[0]-0.4902) > 1e-4 || math.Abs(ci[1]-0.9433) > 1e-4 {
		t.Errorf("wilson(8, 10) = %v", ci)
	}
	a := newAccuracy(2, 6)
	if math.Abs(a.Stderr-0.210819) > 1e-6 {
		t.Errorf("stderr %v", a.Stderr)
	}
}
