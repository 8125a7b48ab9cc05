package engine

import (
	"path/filepath"
	"runtime"
	"testing"
)

// finalRecorder keeps the residual stream leaving the last block.
type finalRecorder struct {
	layers int
	out    []float32
	rows   int
}

func (r *finalRecorder) Linear(string, []float32, int, int) { r.rows++ }

func (r *finalRecorder) Residual(layer int, x []float32, rows, cols int) {
	if layer == r.layers {
		r.out = append([]float32(nil), x[:rows*cols]...)
	}
}

// TestLayerwiseMatchesForward checks that Embed then Block over every
// layer gives the residual stream Forward leaves, bit for bit, and that
// Block reports the block's products and refuses bad arguments.
func TestLayerwiseMatchesForward(t *testing.T) {
	cfg := testConfig()
	m, _ := genModel(t, cfg, 11)
	toks := testTokens(9, cfg.VocabSize)
	s := m.NewSession(16)
	want := &finalRecorder{layers: cfg.Layers}
	s.Observer = want
	if _, err := s.Forward(toks); err != nil {
		t.Fatal(err)
	}
	lw := m.NewSession(16)
	x := make([]float32, len(toks)*cfg.Dim)
	if err := lw.Embed(toks, x); err != nil {
		t.Fatal(err)
	}
	rec := &finalRecorder{}
	lw.Observer = rec
	for l := 0; l < cfg.Layers; l++ {
		if err := lw.Block(l, x); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range want.out {
		if x[i] != v {
			t.Fatalf("value %d: %g layer by layer, %g from Forward", i, x[i], v)
		}
	}
	if rec.rows != 7*cfg.Layers {
		t.Errorf("%d products observed, want %d", rec.rows, 7*cfg.Layers)
	}
	if err := lw.Block(cfg.Layers, x); err == nil {
		t.Error("block past the last accepted")
	}
	if err := lw.Block(0, x[:cfg.Dim+1]); err == nil {
		t.Error("ragged rows accepted")
	}
	if err := lw.Block(0, make([]float32, 17*cfg.Dim)); err == nil {
		t.Error("rows beyond the context accepted")
	}
	if err := lw.Embed([]int32{int32(cfg.VocabSize)}, x[:cfg.Dim]); err == nil {
		t.Error("token outside the vocabulary accepted")
	}
}

// TestHeadMatchesForwardAll checks that Embed, every Block and Head give
// ForwardAll's logits bit for bit, and that Head refuses bad arguments.
func TestHeadMatchesForwardAll(t *testing.T) {
	cfg := testConfig()
	m, _ := genModel(t, cfg, 12)
	toks := testTokens(9, cfg.VocabSize)
	want, err := m.NewSession(16).ForwardAll(toks)
	if err != nil {
		t.Fatal(err)
	}
	lw := m.NewSession(16)
	x := make([]float32, len(toks)*cfg.Dim)
	if err := lw.Embed(toks, x); err != nil {
		t.Fatal(err)
	}
	for l := 0; l < cfg.Layers; l++ {
		if err := lw.Block(l, x); err != nil {
			t.Fatal(err)
		}
	}
	got, err := lw.Head(x)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d logits, want %d", len(got), len(want))
	}
	for i, v := range want {
		if got[i] != v {
			t.Fatalf("logit %d: %g from Head, %g from ForwardAll", i, got[i], v)
		}
	}
	if _, err := lw.Head(x[:cfg.Dim+1]); err == nil {
		t.Error("ragged rows accepted")
	}
	if _, err := lw.Head(make([]float32, 17*cfg.Dim)); err == nil {
		t.Error("rows beyond the context accepted")
	}
}

// TestStreamReleaseBlock checks that a model loaded with Stream is mapped
// and gives Forward's logits, and that releasing every block between
// layer-by-layer steps (and before Forward) changes no result.
func TestStreamReleaseBlock(t *testing.T) {
	cfg := testConfig()
	ts, vals := genTensors(cfg, 5)
	path := filepath.Join(t.TempDir(), "gen.gguf")
	writeGGUF(t, path, cfg, ts)
	ref := &refModel{cfg: cfg, get: func(n string) []float64 { return vals[n] }, neox: true}
	m, err := Load(path, Options{Stream: true, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Residence().Mode != "mapped" && runtime.GOOS == "linux" {
		t.Fatalf("residence %q, want mapped", m.Residence().Mode)
	}
	toks := testTokens(7, cfg.VocabSize)
	s := m.NewSession(16)
	want := &finalRecorder{layers: cfg.Layers}
	s.Observer = want
	if _, err := s.Forward(toks); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(toks)*cfg.Dim)
	lw := m.NewSession(16)
	if err := lw.Embed(toks, x); err != nil {
		t.Fatal(err)
	}
	for l := 0; l < cfg.Layers; l++ {
		if err := lw.Block(l, x); err != nil {
			t.Fatal(err)
		}
		m.ReleaseBlock(l)
	}
	for i, v := range want.out {
		if x[i] != v {
			t.Fatalf("value %d: %g after releases, %g", i, x[i], v)
		}
	}
	m.ReleaseBlock(-1) // ignored
	compareLogits(t, m, ref, toks, 1e-4)
}
