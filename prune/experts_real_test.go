package prune

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// goCode returns the first n bytes of the Go toolchain's net/http sources
// (non-test files in name order, as dev-mixtral-moe's SOURCE.txt builds
// its code text), or skips.
func goCode(t *testing.T, n int) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(runtime.GOROOT(), "src", "net", "http", "*.go"))
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || b.Len() >= n {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Skip(err)
		}
		b.Write(data)
	}
	if b.Len() < n {
		t.Skip("no Go sources")
	}
	return b.String()[:n]
}

// TestExpertPruneDomain removes a quarter of dev-mixtral-moe's routed
// experts (2 of 8 per layer) by REAP on Go code: the pruned GGUF loads,
// and code perplexity changes less than general (Shakespeare) perplexity,
// and less than when the experts are chosen on Shakespeare instead.
func TestExpertPruneDomain(t *testing.T) {
	src := testutil.Shared(t, "models/dev-mixtral-moe")
	shk, err := os.ReadFile(testutil.Shared(t, "text/shakespeare-eval.txt"))
	if err != nil {
		t.Fatal(err)
	}
	code := goCode(t, 24000)
	m, err := engine.Load(src, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	toks := func(text string) ([]int32, int32) {
		tk, bos, err := bench.Tokenize(m.Vocab, text)
		if err != nil {
			t.Fatal(err)
		}
		return tk, bos
	}
	codeToks, bos := toks(code)
	shkToks, _ := toks(string(shk[:24000]))
	ppl := func(mm *engine.Model, tk []int32) float64 {
		res, err := bench.Evaluate(context.Background(), mm, tk, bench.EvalOptions{Ctx: 256, BOS: bos})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := res.Stats.Perplexity()
		return p
	}
	prunedOn := func(calib []int32) (codeRatio, shkRatio float64) {
		st := NewExpertStats(m.Config)
		s := m.NewSession(256)
		s.Observer = st
		for i := 0; i+256 <= len(calib); i += 256 {
			chunk := append([]int32{bos}, calib[i+1:i+256]...)
			s.Reset()
			if _, err := s.Forward(chunk); err != nil {
				t.Fatal(err)
			}
		}
		keep, _, err := st.ChooseExperts(ExpertREAP, 6)
		if err != nil {
			t.Fatal(err)
		}
		cm, err := convert.Load(src, convert.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer cm.Close()
		if err := cm.KeepExperts(keep); err != nil {
			t.Fatal(err)
		}
		plans := convert.PlanDType(cm, 0, true)
		md, err := cm.GGUFMetadata(plans[len(plans)-1].Out)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(t.TempDir(), "p.gguf")
		if err := cm.WriteGGUF(dst, md, plans, nil); err != nil {
			t.Fatal(err)
		}
		pm, err := engine.Load(dst, engine.Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer pm.Close()
		if pm.Config.Experts != 6 {
			t.Fatalf("pruned model has %d experts", pm.Config.Experts)
		}
		return ppl(pm, codeToks) / ppl(m, codeToks), ppl(pm, shkToks) / ppl(m, shkToks)
	}
	codeC, shkC := prunedOn(codeToks)
	codeS, shkS := prunedOn(shkToks)
	t.Logf("chosen on code: code x%.3f, Shakespeare x%.3f; chosen on Shakespeare: code x%.3f, Shakespeare x%.3f", codeC, shkC, codeS, shkS)
	if !(codeC < shkC) || !(codeC < codeS) {
		t.Errorf("pruning for code: code x%.3f should beat Shakespeare x%.3f and code x%.3f when chosen on Shakespeare", codeC, shkC, codeS)
	}
}
