package bench

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %.9g, want %.9g (±%g)", what, got, want, tol)
	}
}

// handCase is a two-token, two-entry vocabulary case computed by hand.
func handCase() (base, cand [][]float32, next []int32) {
	l3 := float32(math.Log(3))
	base = [][]float32{{0, 0}, {0, l3}}
	cand = [][]float32{{l3, 0}, {0, 0}}
	return base, cand, []int32{1, 0}
}

func TestHandComputed(t *testing.T) {
	base, cand, next := handCase()
	var st Stats
	lp, lq := make([]float64, 2), make([]float64, 2)
	s0 := CompareExact(base[0], cand[0], next[0], lp, lq)
	// p = (1/2, 1/2), q = (3/4, 1/4), t = 1.
	near(t, "KLD[0]", s0.KLD, 0.5*math.Log(4.0/3), 1e-7)
	near(t, "NLL[0]", s0.NLL, math.Log(4), 1e-7)
	near(t, "BaseNLL[0]", s0.BaseNLL, math.Log(2), 1e-7)
	near(t, "Δp[0]", s0.DeltaP, -0.25, 1e-7)
	if !s0.SameTop {
		t.Error("token 0: top-1 (0 and 0, first on ties) should agree")
	}
	s1 := CompareExact(base[1], cand[1], next[1], lp, lq)
	// p = (1/4, 3/4), q = (1/2, 1/2), t = 0.
	near(t, "KLD[1]", s1.KLD, 0.25*math.Log(0.5)+0.75*math.Log(1.5), 1e-7)
	if s1.SameTop {
		t.Error("token 1: top-1 1 vs 0 should differ")
	}
	st.Add(s0, true)
	st.Add(s1, true)
	ppl, se := st.Perplexity()
	near(t, "PPL", ppl, math.Sqrt(8), 1e-7)
	near(t, "stderr", se, math.Sqrt(8)*0.5*math.Log(2), 1e-7)
	near(t, "base PPL", st.BasePerplexity(), math.Sqrt(8), 1e-7) // NLLs ln 2 and ln 4
	k := st.KLD()
	k0, k1 := 0.5*math.Log(4.0/3), 0.25*math.Log(0.5)+0.75*math.Log(1.5)
	near(t, "KLD mean", k.Mean, (k0+k1)/2, 1e-7)
	near(t, "KLD median", k.Median, (k0+k1)/2, 1e-7)
	near(t, "KLD p99", k.P99, 0.01*k1+0.99*k0, 1e-7)
	near(t, "KLD max", k.Max, k0, 1e-7)
	near(t, "top1", st.Top1(), 0.5, 0)
	d := st.DeltaP()
	near(t, "Δp mean", d.Mean, 0, 1e-9)
	near(t, "Δp rms", d.RMS, 0.25, 1e-7)
	r := New()
	(&Result{Ctx: 4, Chunks: 1, Stats: st}).Fill(r, "base")
	if r.Perplexity.ScoredTokens != 2 || r.Top1Agreement == nil || *r.Top1Agreement != 0.5 || r.Baseline.Path != "base" {
		t.Errorf("Fill: %+v", r)
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5}
	for _, c := range []struct{ f, want float64 }{{0, 1}, {0.5, 3}, {0.25, 2}, {0.9, 4.6}, {1, 5}} {
		near(t, "percentile", Percentile(v, c.f), c.want, 1e-12)
	}
	if !math.IsNaN(Percentile(nil, 0.5)) {
		t.Error("percentile of nothing should be NaN")
	}
}

func TestLogSoftmaxLarge(t *testing.T) {
	lp := make([]float64, 3)
	top := LogSoftmax(lp, []float32{1000, 999, -1e30})
	if top != 0 {
		t.Errorf("top %d", top)
	}
	near(t, "lp0", lp[0], -math.Log1p(math.Exp(-1)), 1e-9)
	if lp[2] > -1e29 {
		t.Errorf("lp2 %g", lp[2])
	}
}

// writeBaseline encodes the hand case as a baseline file.
func writeBaseline(t *testing.T) []byte {
	t.Helper()
	base, _, next := handCase()
	// One chunk of ctx 4: positions 2 (predicting token 3) is the only one
	// scored; use two chunks so two records exist.
	tokens := []int32{1, 0, 0, next[0], 1, 1, 1, next[1]}
	var buf bytes.Buffer
	w, err := NewBaselineWriter(&buf, 4, 2, 1, tokens)
	if err != nil {
		t.Fatal(err)
	}
	for i := range base {
		if err := w.Add(base[i], next[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Add(base[0], 0); err == nil {
		t.Error("a record beyond the header's count was accepted")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBaselineRoundTrip(t *testing.T) {
	data := writeBaseline(t)
	if len(data) != 32+8*4+2*(16+2*2) {
		t.Fatalf("file of %d bytes", len(data))
	}
	b, err := NewBaselineReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if b.Ctx != 4 || b.Vocab != 2 || b.Chunks != 2 || b.BOS != 1 || b.Records() != 2 || len(b.Tokens) != 8 {
		t.Fatalf("header %+v", b)
	}
	if got := b.ChunkTokens(1, -1); got[0] != 1 || got[3] != 0 {
		t.Errorf("chunk 1 tokens %v", got)
	}
	base, cand, next := handCase()
	lp, lq := make([]float64, 2), make([]float64, 2)
	var rec Record
	for i := range base {
		if err := b.Record(i, &rec); err != nil {
			t.Fatal(err)
		}
		exact := CompareExact(base[i], cand[i], next[i], lp, lq)
		coded := CompareCoded(&rec, cand[i], next[i], lp, lq)
		near(t, "coded KLD", coded.KLD, exact.KLD, 1e-5)
		near(t, "coded base NLL", coded.BaseNLL, exact.BaseNLL, 1e-6)
		near(t, "coded Δp", coded.DeltaP, exact.DeltaP, 1e-6)
		if coded.SameTop != exact.SameTop || coded.NLL != exact.NLL {
			t.Errorf("record %d: coded %+v exact %+v", i, coded, exact)
		}
		self := CompareCoded(&rec, base[i], next[i], lp, lq)
		if math.Abs(self.KLD) > 1e-6 || !self.SameTop {
			t.Errorf("record %d: KL(p||p) from codes = %g, same top %v", i, self.KLD, self.SameTop)
		}
	}
	if err := b.Record(2, &rec); err == nil {
		t.Error("record past the end was read")
	}
}

func TestBaselineMalformed(t *testing.T) {
	good := writeBaseline(t)
	mut := func(off int, v ...byte) []byte {
		b := append([]byte(nil), good...)
		copy(b[off:], v)
		return b
	}
	cases := map[string][]byte{
		"empty":     nil,
		"magic":     mut(0, 'X'),
		"version":   mut(8, 9),
		"ctx":       mut(12, 0xff, 0xff, 0xff, 0x7f),
		"vocab":     mut(16, 0, 0, 0, 0),
		"chunks":    mut(20, 0xff, 0xff, 0xff, 0xff),
		"bos":       mut(24, 7),
		"token":     mut(32, 5),
		"truncated": good[:len(good)-1],
		"longer":    append(append([]byte(nil), good...), 0),
	}
	for name, data := range cases {
		_, err := NewBaselineReader(bytes.NewReader(data), int64(len(data)))
		var fe *format.FormatError
		if err == nil || !errors.As(err, &fe) || !errors.Is(err, ErrBaseline) {
			t.Errorf("%s: err %v, want a FormatError wrapping ErrBaseline", name, err)
		}
	}
	// A bad record is reported when read.
	bad := mut(32+32, 0, 0, 0, 0) // scale 0
	b, err := NewBaselineReader(bytes.NewReader(bad), int64(len(bad)))
	if err != nil {
		t.Fatal(err)
	}
	var rec Record
	if err := b.Record(0, &rec); err == nil {
		t.Error("record with scale 0 accepted")
	}
}

// llamaFile builds a llama.cpp _logits_ file of the hand case.
func llamaFile(t *testing.T) []byte {
	t.Helper()
	data := writeBaseline(t)
	b, err := NewBaselineReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	out := []byte(llamaMagic)
	le := func(v uint32) { out = append(out, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
	le(4)
	le(2)
	le(2)
	for _, tok := range b.Tokens {
		le(uint32(tok))
	}
	var rec Record
	for i := 0; i < b.Records(); i++ {
		if err := b.Record(i, &rec); err != nil {
			t.Fatal(err)
		}
		le(math.Float32bits(rec.Scale))
		le(math.Float32bits(rec.MinLogProb))
		for _, c := range rec.Codes {
			out = append(out, byte(c), byte(c>>8))
		}
	}
	return out
}

func TestLlamaCppLogits(t *testing.T) {
	data := llamaFile(t)
	b, err := NewBaselineReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if b.Version != 0 || b.BOS != -2 || b.Records() != 2 {
		t.Fatalf("header %+v", b)
	}
	if got := b.ChunkTokens(0, 1); got[0] != 1 {
		t.Errorf("BOS replacement: %v", got)
	}
	base, cand, next := handCase()
	lp, lq := make([]float64, 2), make([]float64, 2)
	var rec Record
	for i := range base {
		if err := b.Record(i, &rec); err != nil {
			t.Fatal(err)
		}
		exact := CompareExact(base[i], cand[i], next[i], lp, lq)
		coded := CompareCoded(&rec, cand[i], next[i], lp, lq)
		near(t, "llama KLD", coded.KLD, exact.KLD, 1e-5)
		near(t, "llama base NLL", coded.BaseNLL, exact.BaseNLL, 1e-3)
		if coded.SameTop != exact.SameTop {
			t.Errorf("record %d: top-1 %v, want %v", i, coded.SameTop, exact.SameTop)
		}
	}
}
