package prune

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/internal/linalg"
	"github.com/shrink-llm/shrink/model"
)

// genModel returns a random F32 llama model.
func genModel(seed uint64, layers int) *Model {
	r := rand.New(rand.NewPCG(seed, 1))
	const D, H, KV, hd, F, V = 64, 4, 2, 16, 128, 64
	c := &model.Config{Arch: "llama", Dim: D, Layers: layers, HeadDim: hd, VocabSize: V, Context: 64,
		NormEps: 1e-5, RopeBase: 10000, RopeDim: hd}
	for l := 0; l < layers; l++ {
		c.Heads = append(c.Heads, H)
		c.KVHeads = append(c.KVHeads, KV)
		c.FFN = append(c.FFN, F)
	}
	m := &Model{Config: c}
	add := func(name string, scale float64, shape ...int64) {
		n := 1
		for _, d := range shape {
			n *= int(d)
		}
		data := make([]float32, n)
		for i := range data {
			if len(shape) == 1 {
				data[i] = float32(1 + 0.1*r.NormFloat64())
			} else {
				data[i] = float32(scale * r.NormFloat64())
			}
		}
		m.Tensors = append(m.Tensors, &Tensor{Name: name, Type: format.F32, Shape: shape, Data: data})
	}
	add("token_embd.weight", 1, D, V)
	for l := 0; l < layers; l++ {
		add(blk(l, "attn_norm.weight"), 0, D)
		add(blk(l, "attn_q.weight"), 0.3, D, H*hd)
		add(blk(l, "attn_k.weight"), 0.3, D, KV*hd)
		add(blk(l, "attn_v.weight"), 0.3, D, KV*hd)
		add(blk(l, "attn_output.weight"), 0.15, H*hd, D)
		add(blk(l, "ffn_norm.weight"), 0, D)
		add(blk(l, "ffn_gate.weight"), 0.2, D, F)
		add(blk(l, "ffn_up.weight"), 0.2, D, F)
		add(blk(l, "ffn_down.weight"), 0.1, F, D)
	}
	add("output_norm.weight", 0, D)
	add("output.weight", 0.2, D, V)
	return m
}

// withBiases adds q/k/v, output and feed-forward biases (Qwen2-style, with
// NeoX RoPE) to a generated model.
func withBiases(m *Model, seed uint64) *Model {
	r := rand.New(rand.NewPCG(seed, 3))
	c := m.Config
	c.QKVBias, c.OutBias, c.FFNBias, c.RopeNeox, c.Arch = true, true, true, true, "qwen2"
	for l := 0; l < c.Layers; l++ {
		for _, b := range []struct {
			name string
			n    int
		}{{"attn_q.bias", c.QDim(l)}, {"attn_k.bias", c.KVDim(l)}, {"attn_v.bias", c.KVDim(l)}, {"attn_output.bias", c.Dim},
			{"ffn_gate.bias", c.FFN[l]}, {"ffn_up.bias", c.FFN[l]}, {"ffn_down.bias", c.Dim}} {
			data := make([]float32, b.n)
			for i := range data {
				data[i] = float32(0.1 * r.NormFloat64())
			}
			m.Tensors = append(m.Tensors, &Tensor{Name: blk(l, b.name), Type: format.F32, Shape: []int64{int64(b.n)}, Data: data})
		}
	}
	return m
}

// engineModel builds an engine model from m's tensors as F32.
func engineModel(t *testing.T, m *Model) *engine.Model {
	t.Helper()
	var ts []engine.Tensor
	for _, x := range m.Tensors {
		y := &Tensor{Name: x.Name, Type: format.F32, Shape: x.Shape, Data: x.Data}
		b, err := y.Encode()
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, engine.Tensor{Name: x.Name, Type: format.F32, Shape: x.Shape, Data: b})
	}
	em, err := engine.NewModel(m.Config, nil, ts, engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	return em
}

func tokens(seed uint64, n, vocab int) []int32 {
	r := rand.New(rand.NewPCG(seed, 2))
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(r.IntN(vocab))
	}
	return out
}

// logits returns the logits after every token.
func logits(t *testing.T, em *engine.Model, toks []int32) []float32 {
	t.Helper()
	s := em.NewSession(len(toks))
	out, err := s.ForwardAll(toks)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out...)
}

// calibrate collects statistics over a few random chunks.
func calibrate(t *testing.T, m *Model, chunks int) *Stats {
	t.Helper()
	em := engineModel(t, m)
	st := NewStats(m.Config)
	s := em.NewSession(48)
	s.Observer = st
	for c := 0; c < chunks; c++ {
		s.Reset()
		if _, err := s.Forward(tokens(uint64(100+c), 48, m.Config.VocabSize)); err != nil {
			t.Fatal(err)
		}
	}
	if st.Err() != nil {
		t.Fatal(st.Err())
	}
	if st.Tokens() != int64(48*chunks) {
		t.Fatalf("saw %d tokens, want %d", st.Tokens(), 48*chunks)
	}
	return st
}

// zeroFFN zeroes channel j of layer l (gate and up rows, down column).
func zeroFFN(m *Model, l, j int) {
	c := m.Config
	D, F := c.Dim, c.FFN[l]
	for _, n := range []string{"ffn_gate.weight", "ffn_up.weight"} {
		clear(m.Tensor(blk(l, n)).Data[j*D : (j+1)*D])
	}
	down := m.Tensor(blk(l, "ffn_down.weight")).Data
	for r := 0; r < D; r++ {
		down[r*F+j] = 0
	}
}

// zeroHead zeroes query head h of layer l (q rows, o columns).
func zeroHead(m *Model, l, h int) {
	c := m.Config
	D, hd, qd := c.Dim, c.HeadDim, c.QDim(l)
	clear(m.Tensor(blk(l, "attn_q.weight")).Data[h*hd*D : (h+1)*hd*D])
	o := m.Tensor(blk(l, "attn_output.weight")).Data
	for r := 0; r < D; r++ {
		clear(o[r*qd+h*hd : r*qd+(h+1)*hd])
	}
}

// zeroKV zeroes key/value head k of layer l (k and v rows).
func zeroKV(m *Model, l, k int) {
	c := m.Config
	D, hd := c.Dim, c.HeadDim
	for _, n := range []string{"attn_k.weight", "attn_v.weight"} {
		clear(m.Tensor(blk(l, n)).Data[k*hd*D : (k+1)*hd*D])
	}
}

// TestZeroUnitsExact: removing units whose weights are zero leaves the
// logits bit for bit unchanged.
func TestZeroUnitsExact(t *testing.T) {
	m := genModel(1, 2)
	// The last 32 channels of layer 0 and the last 64 of layer 1, and the
	// last key/value group (heads 2, 3) of layer 1. Removing trailing
	// multiples of 32 keeps the dot products' accumulation order (the SIMD
	// kernels sum 32 lanes at a time), so the comparison can be bitwise.
	for j := 96; j < 128; j++ {
		zeroFFN(m, 0, j)
	}
	for j := 64; j < 128; j++ {
		zeroFFN(m, 1, j)
	}
	zeroHead(m, 1, 2)
	zeroHead(m, 1, 3)
	zeroKV(m, 1, 1)
	st := calibrate(t, m, 2)
	p, err := NewPlan(m, st, Targets{FFN: 96.0 / 256, Heads: 2.0 / 8, Score: Activation})
	if err != nil {
		t.Fatal(err)
	}
	pm, reps, err := Apply(m, st, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pm.Config.FFN; got[0] != 96 || got[1] != 64 {
		t.Fatalf("FFN widths %v, want [96 64]", got)
	}
	if got := pm.Config.Heads; got[0] != 4 || got[1] != 2 || pm.Config.KVHeads[1] != 1 {
		t.Fatalf("heads %v kv %v, want [4 2] [2 1]", got, pm.Config.KVHeads)
	}
	if reps[1].FFNError[0] != 0 || reps[1].AttnError[0] != 0 {
		t.Errorf("zero units left output error %v %v", reps[1].FFNError, reps[1].AttnError)
	}
	toks := tokens(7, 40, m.Config.VocabSize)
	want := logits(t, engineModel(t, m), toks)
	got := logits(t, engineModel(t, pm), toks)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("logit %d: %v after pruning, %v before", i, got[i], want[i])
		}
	}
}

// mask zeroes in a copy of m every unit the plan removes.
func mask(m *Model, p *Plan) *Model {
	c := m.Config
	mm := &Model{Config: c}
	for _, t := range m.Tensors {
		mm.Tensors = append(mm.Tensors, clone(t, t.Name))
	}
	kept := map[int]LayerPlan{}
	for _, lp := range p.Layers {
		kept[lp.Layer] = lp
	}
	for l := 0; l < c.Layers; l++ {
		lp, ok := kept[l]
		if !ok { // a removed block adds nothing to the residual stream
			clear(mm.Tensor(blk(l, "attn_output.weight")).Data)
			clear(mm.Tensor(blk(l, "ffn_down.weight")).Data)
			continue
		}
		in := func(s []int, v int) bool {
			for _, x := range s {
				if x == v {
					return true
				}
			}
			return false
		}
		for j := 0; j < c.FFN[l]; j++ {
			if !in(lp.FFN, j) {
				zeroFFN(mm, l, j)
			}
		}
		for h := 0; h < c.Heads[l]; h++ {
			if !in(lp.Heads, h) {
				zeroHead(mm, l, h)
			}
		}
		for k := 0; k < c.KVHeads[l]; k++ {
			if !in(lp.KV, k) {
				zeroKV(mm, l, k)
			}
		}
	}
	return mm
}

// TestPruneEqualsMask: the pruned model computes what the original does
// with the removed units zeroed (and the removed block bypassed).
func TestPruneEqualsMask(t *testing.T) {
	for i, tg := range []Targets{
		{FFN: 0.3, Heads: 0.25, Layers: 1, Score: Activation},
		{FFN: 0.5, Heads: 0.5, MinKeep: 0.2, Score: Magnitude},
		{Params: 0.6, Score: Activation},
		{FFN: 0.3, Heads: 0.5, Relative: true, Multiple: 8},
	} {
		m := genModel(2, 3)
		if i == 3 {
			m = withBiases(m, 5)
		}
		st := calibrate(t, m, 3)
		p, err := NewPlan(m, st, tg)
		if err != nil {
			t.Fatal(err)
		}
		pm, _, err := Apply(m, st, p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if pm.Config.Uniform() && tg.Params == 0 {
			t.Logf("%+v: uniform result %v %v", tg, pm.Config.FFN, pm.Config.Heads)
		}
		if tg.Params > 0 {
			if got, lim := pm.Config.Params(), int64(tg.Params*float64(m.Config.Params())); got > lim {
				t.Errorf("budget: %d parameters, want at most %d", got, lim)
			}
		}
		toks := tokens(9, 40, m.Config.VocabSize)
		want := logits(t, engineModel(t, mask(m, p)), toks)
		got := logits(t, engineModel(t, pm), toks)
		var maxd, maxv float64
		for i := range want {
			maxd = math.Max(maxd, math.Abs(float64(got[i]-want[i])))
			maxv = math.Max(maxv, math.Abs(float64(want[i])))
		}
		if maxd > 1e-4*math.Max(1, maxv) {
			t.Errorf("%+v: pruned and masked logits differ by %g (max |logit| %g)", tg, maxd, maxv)
		}
		t.Logf("%+v: FFN %v heads %v kv %v removed %v: max diff %g", tg, pm.Config.FFN, pm.Config.Heads, pm.Config.KVHeads, p.Removed, maxd)
	}
}

// TestRepairReducesError: least-squares repair lowers the layer output
// error on the calibration data, measured both from the Gram matrices and
// directly on fresh activations of the calibration chunks.
func TestRepairReducesError(t *testing.T) {
	m := genModel(3, 2)
	st := calibrate(t, m, 4)
	p, err := NewPlan(m, st, Targets{FFN: 0.4, Heads: 0.25, Score: Activation})
	if err != nil {
		t.Fatal(err)
	}
	_, plain, err := Apply(m, st, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rm, rep, err := Apply(m, st, p, Options{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	for l := range rep {
		if plain[l].FFNError[0] <= 0 {
			t.Errorf("layer %d: no error before repair", l)
		}
		if !(rep[l].FFNError[1] < 0.9*plain[l].FFNError[0]) {
			t.Errorf("layer %d: ffn error %g with repair, %g without", l, rep[l].FFNError[1], plain[l].FFNError[0])
		}
		if plain[l].Heads[0] < plain[l].Heads[1] && !(rep[l].AttnError[1] < plain[l].AttnError[0]) {
			t.Errorf("layer %d: attn error %g with repair, %g without", l, rep[l].AttnError[1], plain[l].AttnError[0])
		}
		t.Logf("layer %d: ffn %.4f -> %.4f, attn %.4f -> %.4f", l, plain[l].FFNError[0], rep[l].FFNError[1], plain[l].AttnError[0], rep[l].AttnError[1])
	}
	// Direct check: layer 0's ffn_down output on the calibration inputs.
	x := captureInputs(t, m, "blk.0.ffn_down.weight", 4)
	pm, _, _ := Apply(m, st, p, Options{})
	keep := p.Layers[0].FFN
	orig := m.Tensor("blk.0.ffn_down.weight")
	e0 := outErr(x, orig, keep, pm.Tensor("blk.0.ffn_down.weight"))
	e1 := outErr(x, orig, keep, rm.Tensor("blk.0.ffn_down.weight"))
	if !(e1 < e0) {
		t.Errorf("direct ffn_down error %g with repair, %g without", e1, e0)
	}
	if math.Abs(e0-plain[0].FFNError[0]) > 1e-3*e0 {
		t.Errorf("Gram error %g, direct %g", plain[0].FFNError[0], e0)
	}
}

type capture struct {
	name string
	x    [][]float32
}

func (c *capture) Linear(name string, x []float32, rows, cols int) {
	if name == c.name {
		for r := 0; r < rows; r++ {
			c.x = append(c.x, append([]float32(nil), x[r*cols:(r+1)*cols]...))
		}
	}
}
func (c *capture) Residual(int, []float32, int, int) {}

func captureInputs(t *testing.T, m *Model, name string, chunks int) [][]float32 {
	em := engineModel(t, m)
	c := &capture{name: name}
	s := em.NewSession(48)
	s.Observer = c
	for i := 0; i < chunks; i++ {
		s.Reset()
		if _, err := s.Forward(tokens(uint64(100+i), 48, m.Config.VocabSize)); err != nil {
			t.Fatal(err)
		}
	}
	return c.x
}

// outErr returns Σ||W2 x_S - W x||² / Σ||W x||².
func outErr(xs [][]float32, w *Tensor, keep []int, w2 *Tensor) float64 {
	n, k := w.Cols(), len(keep)
	var num, den float64
	for _, x := range xs {
		for r := 0; r < w.Rows(); r++ {
			var a, b float64
			for j := 0; j < n; j++ {
				a += float64(w.Data[r*n+j]) * float64(x[j])
			}
			for jj, j := range keep {
				b += float64(w2.Data[r*k+jj]) * float64(x[j])
			}
			num += (a - b) * (a - b)
			den += a * a
		}
	}
	return num / den
}

// TestGGUFRoundTrip: a non-uniform pruned model written as GGUF reads back
// with per-layer arrays and runs in the engine with the same logits.
func TestGGUFRoundTrip(t *testing.T) {
	m := genModel(4, 3)
	st := calibrate(t, m, 3)
	p, err := NewPlan(m, st, Targets{FFN: 0.3, Heads: 0.25, Score: Activation})
	if err != nil {
		t.Fatal(err)
	}
	pm, _, err := Apply(m, st, p, Options{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if pm.Config.Uniform() {
		t.Fatalf("expected non-uniform widths, got FFN %v heads %v", pm.Config.FFN, pm.Config.Heads)
	}
	pieces := make([]string, m.Config.VocabSize)
	for i := range pieces {
		pieces[i] = fmt.Sprintf("t%d", i)
	}
	src := &convert.Model{Path: "gen", Config: m.Config, Vocab: model.VocabFromLlama2c(pieces, make([]float32, len(pieces)))}
	dir := t.TempDir()

	// The default (auto) architecture: llama.cpp's per-layer "deci".
	md, err := pm.Metadata(src, p, "test recipe", ArchAuto)
	if err != nil {
		t.Fatal(err)
	}
	deci := filepath.Join(dir, "deci.gguf")
	if err := pm.WriteGGUF(deci, md); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(deci)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if a, _ := f.Metadata.String("general.architecture"); a != "deci" {
		t.Errorf("architecture %q, want deci", a)
	}
	for key, want := range map[string][]int{"deci.feed_forward_length": pm.Config.FFN, "deci.attention.head_count": pm.Config.Heads,
		"deci.attention.head_count_kv": pm.Config.KVHeads, "shrink.prune.ffn_kept": pm.Config.FFN} {
		v, ok := f.Metadata.Get(key)
		got, ok2 := v.Ints()
		if !ok || !ok2 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	if r, _ := f.Metadata.String("shrink.prune.recipe"); r != "test recipe" {
		t.Errorf("recipe %q", r)
	}
	for _, ti := range f.Tensors() {
		want := pm.Tensor(ti.Name)
		if want == nil || fmt.Sprint(want.Shape) != fmt.Sprint(ti.Shape) {
			t.Fatalf("tensor %s shape %v not as written", ti.Name, ti.Shape)
		}
		r, err := f.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		wb, _ := want.Encode()
		if !bytes.Equal(b, wb) {
			t.Fatalf("tensor %s data differs", ti.Name)
		}
	}

	toks := tokens(11, 40, m.Config.VocabSize)
	want := logits(t, engineModel(t, pm), toks)
	if dm, err := engine.Load(deci, engine.Options{Threads: 1}); err != nil {
		t.Logf("the engine does not read deci files yet: %v", err)
	} else {
		got := logits(t, dm, toks)
		dm.Close()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("deci file, logit %d: %v from the file, %v in memory", i, got[i], want[i])
			}
		}
	}

	// Under "llama" (per-layer INT32 arrays) the engine reads it back.
	if md, err = pm.Metadata(src, p, "test recipe", "llama"); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "llama.gguf")
	if err := pm.WriteGGUF(dst, md); err != nil {
		t.Fatal(err)
	}
	g, err := gguf.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c, err := model.ConfigFromGGUF(&g.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	for l := 0; l < c.Layers; l++ {
		if c.FFN[l] != pm.Config.FFN[l] || c.Heads[l] != pm.Config.Heads[l] || c.KVHeads[l] != pm.Config.KVHeads[l] {
			t.Fatalf("layer %d read back as ffn %d heads %d kv %d, want %d %d %d", l, c.FFN[l], c.Heads[l], c.KVHeads[l],
				pm.Config.FFN[l], pm.Config.Heads[l], pm.Config.KVHeads[l])
		}
	}
	em, err := engine.Load(dst, engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	got := logits(t, em, toks)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logit %d: %v from the file, %v in memory", i, got[i], want[i])
		}
	}
}

// TestTargetsRefused: impossible targets are errors.
func TestTargetsRefused(t *testing.T) {
	m := genModel(5, 2)
	st := calibrate(t, m, 1)
	for _, tg := range []Targets{
		{FFN: 1},
		{Heads: 1.5},
		{FFN: -0.1},
		{Layers: 2},
		{FFN: 0.95, MinKeep: 0.1},
		{Heads: 0.9, MinKeep: 0.5},
		{Params: 0.01},
		{Params: 0.5, FFN: 0.1},
	} {
		if _, err := NewPlan(m, st, tg); err == nil {
			t.Errorf("%+v: no error", tg)
		}
	}
	if _, err := NewPlan(m, NewStats(m.Config), Targets{FFN: 0.1}); err == nil {
		t.Error("empty statistics accepted")
	}
}

// TestMultiple: kept feed-forward widths are rounded to the multiple.
func TestMultiple(t *testing.T) {
	m := genModel(6, 3)
	st := calibrate(t, m, 2)
	for _, tg := range []Targets{{FFN: 0.3, Multiple: 32}, {Params: 0.7, Multiple: 32}} {
		p, err := NewPlan(m, st, tg)
		if err != nil {
			t.Fatal(err)
		}
		c := p.Config()
		for l, f := range c.FFN {
			if f%32 != 0 || f == 0 {
				t.Errorf("%+v: layer %d keeps %d channels", tg, l, f)
			}
		}
		if tg.Params > 0 && float64(c.Params()) > tg.Params*float64(m.Config.Params()) {
			t.Errorf("budget exceeded: %d", c.Params())
		}
		t.Logf("%+v: %v", tg, c.FFN)
	}
}

// TestParseParams: fractions and counts with suffixes.
func TestParseParams(t *testing.T) {
	for in, want := range map[string]float64{"0.7": 0.7, "1": 1, "2.5M": 2.5e6, "300k": 3e5, "1000": 1000} {
		if got, err := ParseParams(in); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "abc", "1.5", "NaN", "Inf"} {
		if _, err := ParseParams(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestRefitInGroups: statistics collected one group of layers at a time
// and applied with Refit give the model Apply gives with all of them.
func TestRefitInGroups(t *testing.T) {
	m := genModel(7, 3)
	st := calibrate(t, m, 2)
	p, err := NewPlan(m, st, Targets{FFN: 0.3, Heads: 0.25, Relative: true})
	if err != nil {
		t.Fatal(err)
	}
	want, wrep, err := Apply(m, st, p, Options{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	// Pass 1: Grams of layer 0 only; pass 2: layers 1 and 2.
	em := engineModel(t, m)
	pass := func(layers []int) *Stats {
		s := NewStatsFor(m.Config, layers)
		ses := em.NewSession(48)
		ses.Observer = s
		for c := 0; c < 2; c++ {
			ses.Reset()
			if _, err := ses.Forward(tokens(uint64(100+c), 48, m.Config.VocabSize)); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	s1 := pass([]int{0})
	p1, err := NewPlan(m, s1, Targets{FFN: 0.3, Heads: 0.25, Relative: true})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p1.Layers) != fmt.Sprint(p.Layers) {
		t.Fatalf("plans differ with partial Grams:\n%v\n%v", p1.Layers, p.Layers)
	}
	got, grep, err := Apply(m, s1, p1, Options{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := Refit(got, m, pass([]int{1, 2}), p1, Options{Repair: true}, grep); err != nil {
		t.Fatal(err)
	}
	for i, wt := range want.Tensors {
		gt := got.Tensors[i]
		for j := range wt.Data {
			if math.Abs(float64(wt.Data[j]-gt.Data[j])) > 1e-6*(1+math.Abs(float64(wt.Data[j]))) {
				t.Fatalf("%s[%d]: %v in groups, %v at once", wt.Name, j, gt.Data[j], wt.Data[j])
			}
		}
	}
	for l := range wrep {
		if math.Abs(wrep[l].FFNError[1]-grep[l].FFNError[1]) > 1e-9 {
			t.Errorf("layer %d: error %v in groups, %v at once", l, grep[l].FFNError, wrep[l].FFNError)
		}
	}
}

// lazyCopy returns m with every tensor's values handed out on demand (as
// FromConvertLazy does), counting the reads.
func lazyCopy(m *Model, reads *int) *Model {
	lm := &Model{Config: m.Config}
	for _, t := range m.Tensors {
		data := t.Data
		lm.Tensors = append(lm.Tensors, &Tensor{Name: t.Name, Type: t.Type, Shape: t.Shape,
			load: func() ([]float32, error) { *reads++; return append([]float32(nil), data...), nil }})
	}
	return lm
}

// TestApplyLazy checks that a lazy source and ApplyLazy with Gram matrices
// collected per block on demand give Apply's plan, tensors and reports.
func TestApplyLazy(t *testing.T) {
	m := genModel(9, 3)
	st := calibrate(t, m, 2)
	tg := Targets{FFN: 0.3, Heads: 0.25, Relative: true}
	p, err := NewPlan(m, st, tg)
	if err != nil {
		t.Fatal(err)
	}
	want, wrep, err := Apply(m, st, p, Options{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	lm := lazyCopy(m, &reads)
	scores := NewStatsFor(m.Config, nil)
	em := engineModel(t, m)
	pass := func(s *Stats) {
		ses := em.NewSession(48)
		ses.Observer = s
		for c := 0; c < 2; c++ {
			ses.Reset()
			if _, err := ses.Forward(tokens(uint64(100+c), 48, m.Config.VocabSize)); err != nil {
				t.Fatal(err)
			}
		}
	}
	pass(scores)
	lp, err := NewPlan(lm, scores, tg)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(lp.Layers) != fmt.Sprint(p.Layers) {
		t.Fatalf("plans differ on the lazy model:\n%v\n%v", lp.Layers, p.Layers)
	}
	var asked []int
	got, grep, err := ApplyLazy(lm, scores, lp, Options{Repair: true}, func(l int) (*Stats, error) {
		asked = append(asked, l)
		s := NewStatsFor(m.Config, []int{l})
		pass(s)
		return s, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if reads != 3*7 || asked != nil {
		t.Fatalf("%d tensor reads and Grams of %v before any value was asked for", reads, asked)
	}
	for i, wt := range want.Tensors {
		gt := got.Tensors[i]
		if gt.Data != nil || gt.Name != wt.Name || fmt.Sprint(gt.Shape) != fmt.Sprint(wt.Shape) {
			t.Fatalf("tensor %d: %s %v (data %v), want %s %v", i, gt.Name, gt.Shape, gt.Data != nil, wt.Name, wt.Shape)
		}
		data, err := gt.Values()
		if err != nil {
			t.Fatal(err)
		}
		for j := range wt.Data {
			if math.Abs(float64(wt.Data[j]-data[j])) > 1e-6*(1+math.Abs(float64(wt.Data[j]))) {
				t.Fatalf("%s[%d]: %v lazily, %v at once", wt.Name, j, data[j], wt.Data[j])
			}
		}
	}
	if fmt.Sprint(asked) != "[0 0 1 1 2 2]" {
		t.Errorf("Grams asked for blocks %v", asked)
	}
	for l := range wrep {
		if math.Abs(wrep[l].FFNError[1]-grep[l].FFNError[1]) > 1e-9 || math.Abs(wrep[l].AttnError[0]-grep[l].AttnError[0]) > 1e-9 {
			t.Errorf("layer %d: errors %v %v lazily, %v %v at once", l, grep[l].FFNError, grep[l].AttnError, wrep[l].FFNError, wrep[l].AttnError)
		}
	}
}

// TestStatsBlockwise checks that statistics from a block-by-block pass
// (Session.Block with Stats.Block) equal those of forward passes.
func TestStatsBlockwise(t *testing.T) {
	m := genModel(5, 3)
	em := engineModel(t, m)
	c := m.Config
	want := NewStats(c)
	got := NewStats(c)
	var chunks [][]int32
	for i := 0; i < 2; i++ {
		chunks = append(chunks, tokens(uint64(200+i), 40, c.VocabSize))
	}
	s := em.NewSession(40)
	s.Observer = want
	xs := make([][]float32, len(chunks))
	for i, ch := range chunks {
		s.Reset()
		if _, err := s.Forward(ch); err != nil {
			t.Fatal(err)
		}
		xs[i] = make([]float32, len(ch)*c.Dim)
		if err := s.Embed(ch, xs[i]); err != nil {
			t.Fatal(err)
		}
	}
	lw := em.NewSession(40)
	lw.Observer = got
	for l := 0; l < c.Layers; l++ {
		for _, x := range xs {
			in := append([]float32(nil), x...)
			if err := lw.Block(l, x); err != nil {
				t.Fatal(err)
			}
			got.Block(l, in, x, len(x)/c.Dim, c.Dim)
		}
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*(math.Abs(a)+math.Abs(b))+1e-12 }
	if got.Tokens() != want.Tokens() {
		t.Fatalf("tokens %d, want %d", got.Tokens(), want.Tokens())
	}
	for l := 0; l <= c.Layers; l++ {
		if !near(got.ResidualEnergy(l), want.ResidualEnergy(l)) {
			t.Errorf("residual energy %d: %v, want %v", l, got.ResidualEnergy(l), want.ResidualEnergy(l))
		}
	}
	for l := 0; l < c.Layers; l++ {
		if !near(got.BlockInfluence(l), want.BlockInfluence(l)) || want.BlockInfluence(l) == 0 {
			t.Errorf("block influence %d: %v, want %v", l, got.BlockInfluence(l), want.BlockInfluence(l))
		}
		for j := 0; j < c.FFN[l]; j += 7 {
			if !near(got.ChannelActivation(l, j), want.ChannelActivation(l, j)) {
				t.Fatalf("activation %d/%d: %v, want %v", l, j, got.ChannelActivation(l, j), want.ChannelActivation(l, j))
			}
		}
		if g, w := got.ffn[l].At(3, 5), want.ffn[l].At(3, 5); !near(g, w) {
			t.Errorf("Gram %d: %v, want %v", l, g, w)
		}
	}
}

// TestStatsThreads checks that the channel and per-head statistics, summed
// in parallel, are the same bit for bit on one goroutine and on three,
// with more channels than one goroutine's span.
func TestStatsThreads(t *testing.T) {
	c := genModel(5, 3).Config
	c.FFN = []int{1300, 1300, 1300}
	rng := rand.New(rand.NewPCG(1, 2))
	const rows = 37
	down := make([]float32, rows*1300)
	attn := make([]float32, rows*c.QDim(0))
	for i := range down {
		down[i] = float32(rng.NormFloat64())
	}
	for i := range attn {
		attn[i] = float32(rng.NormFloat64())
		if i%11 == 0 {
			attn[i] = 0
		}
	}
	var st [2]*Stats
	for i, th := range []int{1, 3} {
		linalg.SetThreads(th)
		st[i] = NewStatsFor(c, nil)
		st[i].Linear("blk.1.ffn_down.weight", down, rows, 1300)
		st[i].Linear("blk.1.attn_output.weight", attn, rows, c.QDim(0))
	}
	linalg.SetThreads(0)
	if !slices.Equal(st[0].diag[1], st[1].diag[1]) || !slices.Equal(st[0].heads[1], st[1].heads[1]) {
		t.Error("statistics differ between 1 and 3 threads")
	}
	if st[0].diag[1][1299] == 0 || st[0].heads[1][len(st[0].heads[1])-1] == 0 {
		t.Error("statistics not accumulated")
	}
}
