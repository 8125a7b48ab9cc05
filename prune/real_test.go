package prune

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// goSource returns about n bytes of Go source from GOROOT/src/net/http,
// text outside dev-llama-3m's training data.
func goSource(t *testing.T, n int) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(runtime.GOROOT(), "src", "net", "http", "*.go"))
	var b []byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		b = append(b, data...)
		if len(b) >= n {
			return string(b[:n])
		}
	}
	t.Skip("Go source of net/http not available")
	return ""
}

// domainRun is the two-domain experiment's engine model (closed when the
// test ends) with its texts as tokens: Go source, the domain (calibration
// chunks then held-out ones), and Shakespeare, the general text.
type domainRun struct {
	t        *testing.T
	em       *engine.Model
	cal, gen []int32
	bos      int32
}

// domainCtx is the context of the two-domain experiment's chunks;
// domainCalib of them calibrate and the next domainEval are held out.
const domainCtx, domainCalib, domainEval = 128, 24, 8

// loadDomain loads the model folder dir into the engine and tokenizes the
// two texts.
func loadDomain(t *testing.T, dir string) *domainRun {
	t.Helper()
	general, err := os.ReadFile(testutil.Shared(t, "text/shakespeare-eval.txt"))
	if err != nil {
		t.Fatal(err)
	}
	domain := goSource(t, 60000)
	em, err := engine.Load(dir, engine.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	cal, bos, err := bench.Tokenize(em.Vocab, domain)
	if err != nil {
		t.Fatal(err)
	}
	gen, _, err := bench.Tokenize(em.Vocab, string(general))
	if err != nil {
		t.Fatal(err)
	}
	return &domainRun{t: t, em: em, cal: cal, gen: gen, bos: bos}
}

// calibrate runs the first domainCalib domain chunks through the model
// with obs watching.
func (d *domainRun) calibrate(obs engine.Observer) {
	d.t.Helper()
	s := d.em.NewSession(domainCtx)
	s.Observer = obs
	for i := 0; i < domainCalib; i++ {
		chunk := append([]int32(nil), d.cal[i*domainCtx:(i+1)*domainCtx]...)
		chunk[0] = d.bos
		s.Reset()
		if _, err := s.Forward(chunk); err != nil {
			d.t.Fatal(err)
		}
	}
}

// heldOut returns the domain tokens after the calibration chunks.
func (d *domainRun) heldOut() []int32 { return d.cal[domainCalib*domainCtx:] }

// ppl returns m's perplexity on the first domainEval chunks of toks.
func (d *domainRun) ppl(m *engine.Model, toks []int32) float64 {
	d.t.Helper()
	res, err := bench.Evaluate(context.Background(), m, toks, bench.EvalOptions{Ctx: domainCtx, Chunks: domainEval, BOS: d.bos})
	if err != nil {
		d.t.Fatal(err)
	}
	p, _ := res.Stats.Perplexity()
	return p
}

// loadConverted reads the model folder dir through the converter into a
// prune Model; the source stays open until the test ends.
func loadConverted(t *testing.T, dir string) *Model {
	t.Helper()
	cm, err := convert.Load(dir, convert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cm.Close() })
	m, _, err := FromConvert(cm)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDevModelDomain is the two-domain experiment on a real model, scaled
// down: Go source is the domain, Shakespeare the general text. At 25% fewer
// feed-forward channels, activation-aware pruning with repair must lose
// less domain perplexity than magnitude pruning without repair, and keep
// more of the domain than of the general text.
func TestDevModelDomain(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := testutil.Shared(t, "models/dev-llama-3m")
	d := loadDomain(t, dir)
	// Calibrate on the first 24 chunks, evaluate the domain on the next 8.
	st := NewStats(d.em.Config)
	d.calibrate(st)
	m := loadConverted(t, dir)
	baseDom, baseGen := d.ppl(d.em, d.heldOut()), d.ppl(d.em, d.gen)
	run := func(score Score, repair, rel bool) (dom, gen float64) {
		p, err := NewPlan(m, st, Targets{FFN: 0.25, Score: score, MinKeep: 0.1, Multiple: 32, Relative: rel})
		if err != nil {
			t.Fatal(err)
		}
		pm, _, err := Apply(m, st, p, Options{Repair: repair})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sumFFN(pm), sumFFN(m)*3/4; got > want+32*len(p.Layers) || got < want-32*len(p.Layers) {
			t.Fatalf("%d channels kept, want about %d", got, want)
		}
		t.Logf("%v relative=%v repair=%v: FFN %v", score, rel, repair, pm.Config.FFN)
		pem := engineModel(t, pm)
		return d.ppl(pem, d.heldOut()), d.ppl(pem, d.gen)
	}
	actDom, actGen := run(Activation, true, true)
	magDom, magGen := run(Magnitude, false, false)
	absDom, absGen := run(Activation, true, false)
	t.Logf("absolute activation+repair: domain %.3f (x%.3f) general %.3f (x%.3f)", absDom, absDom/baseDom, absGen, absGen/baseGen)
	t.Logf("unpruned: domain %.3f general %.3f", baseDom, baseGen)
	t.Logf("relative activation+repair: domain %.3f (x%.3f) general %.3f (x%.3f)", actDom, actDom/baseDom, actGen, actGen/baseGen)
	t.Logf("magnitude, no repair: domain %.3f (x%.3f) general %.3f (x%.3f)", magDom, magDom/baseDom, magGen, magGen/baseGen)
	if !(actDom/baseDom-1 < 0.5*(magDom/baseDom-1)) {
		t.Errorf("activation+repair loses x%.3f of the domain, magnitude x%.3f: not clearly less", actDom/baseDom, magDom/baseDom)
	}
	if !(actDom/baseDom < actGen/baseGen) {
		t.Errorf("domain loses x%.3f, general x%.3f: the domain should keep more", actDom/baseDom, actGen/baseGen)
	}
}

func sumFFN(m *Model) int {
	n := 0
	for _, f := range m.Config.FFN {
		n += f
	}
	return n
}
