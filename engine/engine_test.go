package engine

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/quantize"
)

// testConfig is a small qwen2-style model: GQA, q/k/v biases, NeoX RoPE and
// different head and feed-forward counts per layer.
func testConfig() *model.Config {
	return &model.Config{
		Arch: "qwen2", Dim: 64, Layers: 3,
		Heads: []int{4, 2, 4}, KVHeads: []int{2, 1, 1}, FFN: []int{96, 64, 32},
		HeadDim: 16, VocabSize: 50, Context: 64, NormEps: 1e-6,
		RopeBase: 10000, RopeDim: 16, RopeNeox: true, QKVBias: true,
	}
}

// randF32Tensor returns an F32 tensor of the given shape holding offset +
// scale times r's normal values, with those values as float32 and float64.
func randF32Tensor(r *rand.Rand, name string, scale, offset float64, shape []int64) (Tensor, []float32, []float64) {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	f := make([]float32, n)
	v := make([]float64, n)
	for i := range f {
		f[i] = float32(offset + scale*r.NormFloat64())
		v[i] = float64(f[i])
	}
	data := make([]byte, 4*n)
	_ = format.EncodeFloats(format.F32, f, data)
	return Tensor{Name: name, Type: format.F32, Shape: shape, Data: data}, f, v
}

// genTensors makes random F32 tensors for cfg (output.weight unless tied) and
// returns them with their float64 values by name.
func genTensors(cfg *model.Config, seed uint64) ([]Tensor, map[string][]float64) {
	r := rand.New(rand.NewPCG(seed, 99))
	var ts []Tensor
	vals := map[string][]float64{}
	// Matrices are scaled like a Dim-64 model's so deeper/wider test
	// models stay out of the chaotic regime.
	gain := math.Sqrt(64 / float64(cfg.Dim))
	add := func(name string, scale, offset float64, shape ...int64) {
		if len(shape) == 2 && name != "token_embd.weight" {
			scale *= gain
		}
		t, _, v := randF32Tensor(r, name, scale, offset, shape)
		ts = append(ts, t)
		vals[name] = v
	}
	D, V := int64(cfg.Dim), int64(cfg.VocabSize)
	add("token_embd.weight", 1, 0, D, V)
	if !cfg.TiedEmbeddings {
		add("output.weight", 0.2, 0, D, V)
	}
	add("output_norm.weight", 0.1, 1, D)
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		qd, kd, F := int64(cfg.QDim(l)), int64(cfg.KVDim(l)), int64(cfg.FFN[l])
		add(p+"attn_norm.weight", 0.1, 1, D)
		add(p+"ffn_norm.weight", 0.1, 1, D)
		add(p+"attn_q.weight", 0.3, 0, D, qd)
		add(p+"attn_k.weight", 0.3, 0, D, kd)
		add(p+"attn_v.weight", 0.3, 0, D, kd)
		add(p+"attn_output.weight", 0.2, 0, qd, D)
		if cfg.MoELayer(l) {
			E, EF, S := int64(cfg.Experts), int64(cfg.ExpertFFN), int64(cfg.SharedFFN)
			add(p+"ffn_gate_inp.weight", 0.5, 0, D, E)
			add(p+"ffn_gate_exps.weight", 0.2, 0, D, EF, E)
			add(p+"ffn_up_exps.weight", 0.2, 0, D, EF, E)
			add(p+"ffn_down_exps.weight", 0.2*gain, 0, EF, D, E)
			if S > 0 {
				add(p+"ffn_gate_shexp.weight", 0.2, 0, D, S)
				add(p+"ffn_up_shexp.weight", 0.2, 0, D, S)
				add(p+"ffn_down_shexp.weight", 0.2, 0, S, D)
			}
			if cfg.SharedGate {
				add(p+"ffn_gate_inp_shexp.weight", 0.3, 0, D)
			}
			if cfg.ProbsBias {
				add(p+"exp_probs_b.bias", 0.1, 0, E)
			}
		} else {
			add(p+"ffn_gate.weight", 0.2, 0, D, F)
			add(p+"ffn_up.weight", 0.2, 0, D, F)
			add(p+"ffn_down.weight", 0.2, 0, F, D)
		}
		if cfg.QKNorm {
			add(p+"attn_q_norm.weight", 0.1, 1, int64(cfg.HeadDim))
			add(p+"attn_k_norm.weight", 0.1, 1, int64(cfg.HeadDim))
		}
		if cfg.QKVBias {
			add(p+"attn_q.bias", 0.5, 0, qd)
			add(p+"attn_k.bias", 0.5, 0, kd)
			add(p+"attn_v.bias", 0.5, 0, kd)
		}
	}
	return ts, vals
}

func genModel(t *testing.T, cfg *model.Config, seed uint64) (*Model, *refModel) {
	t.Helper()
	ts, vals := genTensors(cfg, seed)
	m, err := NewModel(cfg, nil, ts, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	ref := &refModel{cfg: cfg, get: func(n string) []float64 { return vals[n] }, neox: cfg.RopeNeox}
	return m, ref
}

func testTokens(n, vocab int) []int32 {
	r := rand.New(rand.NewPCG(11, 12))
	toks := make([]int32, n)
	for i := range toks {
		toks[i] = int32(r.IntN(vocab))
	}
	return toks
}

func TestGeneratedGQABiasNonUniform(t *testing.T) {
	cfg := testConfig()
	m, ref := genModel(t, cfg, 1)
	compareLogits(t, m, ref, testTokens(20, cfg.VocabSize), 1e-4)
}

func TestGeneratedLlamaTiedLinearScaling(t *testing.T) {
	cfg := testConfig()
	cfg.Arch, cfg.RopeNeox, cfg.QKVBias, cfg.TiedEmbeddings = "llama", false, false, true
	cfg.RopeScaling = &model.RopeScaling{Type: "linear", Factor: 4}
	m, ref := genModel(t, cfg, 2)
	ref.posScale = 0.25
	if !m.Config.TiedEmbeddings {
		t.Fatal("model without output.weight not tied")
	}
	compareLogits(t, m, ref, testTokens(12, cfg.VocabSize), 1e-4)
}

func TestGeneratedThreadsAgree(t *testing.T) {
	cfg := testConfig()
	m, _ := genModel(t, cfg, 3)
	toks := testTokens(16, cfg.VocabSize)
	var res [][]float32
	for _, th := range []int{1, 3} {
		m.SetThreads(th)
		l, err := m.NewSession(0).ForwardAll(toks)
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, append([]float32(nil), l...))
	}
	for i := range res[0] {
		if res[0][i] != res[1][i] {
			t.Fatalf("logit %d: 1 thread %g, 3 threads %g", i, res[0][i], res[1][i])
		}
	}
}

// TestShortPromptThreadsAgree checks that products of a few activation
// rows (2..15: no 16-row tiles) give the same logits for every thread
// count with F16 and BF16 weights, whose 4x4 register tiles take rows past
// a multiple of four on another path: the row split must not depend on the
// threads (vocab 80 made tiles of 10, 5 and 4 rows for 1, 2 and 3 threads).
func TestShortPromptThreadsAgree(t *testing.T) {
	cfg := testConfig()
	cfg.VocabSize, cfg.FFN = 80, []int{160, 96, 32}
	for _, dt := range []format.DType{format.F16, format.BF16} {
		ts, _ := genTensors(cfg, 5)
		for i := range ts {
			if len(ts[i].Shape) != 2 {
				continue
			}
			f := make([]float32, len(ts[i].Data)/4)
			if err := format.DecodeFloats(format.F32, ts[i].Data, f); err != nil {
				t.Fatal(err)
			}
			ts[i].Data = make([]byte, 2*len(f))
			if err := format.EncodeFloats(dt, f, ts[i].Data); err != nil {
				t.Fatal(err)
			}
			ts[i].Type = dt
		}
		m, err := NewModel(cfg, nil, ts, Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{5, 15} {
			checkThreadsAgree(t, m, testTokens(n, cfg.VocabSize), fmt.Sprintf("%v, %d tokens", dt, n), 1, 2, 3)
		}
	}
}

// writeGGUF writes the tensors and config as a GGUF file.
func writeGGUF(t *testing.T, path string, cfg *model.Config, ts []Tensor) {
	t.Helper()
	var md gguf.Metadata
	cfg.SetGGUF(&md)
	infos := make([]format.TensorInfo, len(ts))
	for i, x := range ts {
		infos[i] = format.TensorInfo{Name: x.Name, Type: x.Type, Shape: x.Shape}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := gguf.NewWriter(f, &md, infos)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		if err := w.WriteTensor(x.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadGGUFMmapAndRead(t *testing.T) {
	cfg := testConfig()
	ts, vals := genTensors(cfg, 4)
	path := filepath.Join(t.TempDir(), "gen.gguf")
	writeGGUF(t, path, cfg, ts)
	ref := &refModel{cfg: cfg, get: func(n string) []float64 { return vals[n] }, neox: true}
	for _, noMmap := range []bool{false, true} {
		m, err := Load(path, Options{NoMmap: noMmap, Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		if m.Config.QKVBias != true || m.Config.Heads[1] != 2 || m.Config.FFN[2] != 32 {
			t.Fatalf("config read back as %+v", m.Config)
		}
		compareLogits(t, m, ref, testTokens(6, cfg.VocabSize), 1e-4)
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadRefusesBadModels(t *testing.T) {
	cfg := testConfig()
	cases := []struct {
		name   string
		change func([]Tensor) []Tensor
		want   string
	}{
		{"missing", func(ts []Tensor) []Tensor {
			for i := range ts {
				if ts[i].Name == "blk.1.ffn_up.weight" {
					return append(ts[:i:i], ts[i+1:]...)
				}
			}
			return ts
		}, "blk.1.ffn_up.weight: missing"},
		{"shape", func(ts []Tensor) []Tensor {
			for i := range ts {
				if ts[i].Name == "blk.2.attn_k.weight" {
					ts[i].Shape = []int64{64, 32}
					ts[i].Data = make([]byte, 64*32*4)
				}
			}
			return ts
		}, "blk.2.attn_k.weight: shape [64 32], expected [64 16]"},
		{"short", func(ts []Tensor) []Tensor {
			ts[0].Data = ts[0].Data[:10]
			return ts
		}, "token_embd.weight: 10 data bytes"},
		{"type", func(ts []Tensor) []Tensor {
			for i := range ts {
				if ts[i].Name == "blk.0.attn_q.weight" {
					ts[i].Type = format.I8
					ts[i].Data = ts[i].Data[:64*64]
				}
			}
			return ts
		}, "blk.0.attn_q.weight: type i8 has no matrix kernel"},
		{"normtype", func(ts []Tensor) []Tensor {
			for i := range ts {
				if ts[i].Name == "output_norm.weight" {
					ts[i].Type = format.I32
				}
			}
			return ts
		}, "output_norm.weight: 1-D tensor of type i32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts, _ := genTensors(cfg, 5)
			_, err := NewModel(cfg, nil, c.change(ts), Options{})
			if err == nil || !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	bad := testConfig()
	bad.Heads[0] = 3
	ts, _ := genTensors(testConfig(), 5)
	if _, err := NewModel(bad, nil, ts, Options{}); err == nil {
		t.Fatal("config with heads not a multiple of kv heads accepted")
	}
	// A GGUF whose metadata disagrees with its tensors.
	path := filepath.Join(t.TempDir(), "bad.gguf")
	other := testConfig()
	other.FFN = []int{96, 64, 48}
	writeGGUF(t, path, other, ts)
	if _, err := Load(path, Options{}); err == nil || !strings.Contains(err.Error(), "blk.2.ffn_gate.weight: shape [64 32], expected [64 48]") {
		t.Fatalf("Load of inconsistent GGUF: %v", err)
	}
}

func TestSessionErrors(t *testing.T) {
	cfg := testConfig()
	m, _ := genModel(t, cfg, 6)
	s := m.NewSession(8)
	if _, err := s.Forward([]int32{1, 50}); !errors.Is(err, ErrToken) {
		t.Fatalf("token 50 of 50: %v", err)
	}
	if _, err := s.Forward(make([]int32, 9)); !errors.Is(err, ErrContext) {
		t.Fatalf("9 tokens in context 8: %v", err)
	}
	if _, err := s.Forward(make([]int32, 8)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Forward([]int32{0}); !errors.Is(err, ErrContext) {
		t.Fatalf("token beyond context: %v", err)
	}
	s.Reset()
	if _, err := s.Forward([]int32{0}); err != nil || s.Pos() != 1 {
		t.Fatalf("after Reset: %v, pos %d", err, s.Pos())
	}
}

type recorder struct {
	linear   map[string]int
	residual []int
	first    []float32
}

func (r *recorder) Linear(name string, x []float32, rows, cols int) {
	if len(x) != rows*cols {
		panic("bad observer slice")
	}
	r.linear[name] += rows
}

func (r *recorder) Residual(layer int, x []float32, rows, cols int) {
	r.residual = append(r.residual, layer)
	if layer == 0 {
		r.first = append([]float32(nil), x[:cols]...)
	}
}

func TestObserver(t *testing.T) {
	cfg := testConfig()
	m, _ := genModel(t, cfg, 7)
	s := m.NewSession(0)
	rec := &recorder{linear: map[string]int{}}
	s.Observer = rec
	if _, err := s.Forward([]int32{3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Forward([]int32{6}); err != nil {
		t.Fatal(err)
	}
	if len(rec.linear) != 7*cfg.Layers+1 {
		t.Errorf("%d linear layers observed, want %d", len(rec.linear), 7*cfg.Layers+1)
	}
	if rec.linear["blk.2.ffn_down.weight"] != 4 || rec.linear["output.weight"] != 2 {
		t.Errorf("rows observed: ffn_down %d (want 4), output %d (want 2)", rec.linear["blk.2.ffn_down.weight"], rec.linear["output.weight"])
	}
	if fmt.Sprint(rec.residual) != "[0 1 2 3 0 1 2 3]" {
		t.Errorf("residual layers %v", rec.residual)
	}
	// The residual entering block 0 of the last call is token 6's embedding.
	emb := make([]float32, cfg.Dim)
	_ = quantize.DecodeRow(format.F32, emb, m.tokEmbd.data[6*m.tokEmbd.rowBytes:7*m.tokEmbd.rowBytes])
	for i := range emb {
		if rec.first[i] != emb[i] {
			t.Fatalf("residual[0][%d] = %g, want embedding %g", i, rec.first[i], emb[i])
		}
	}
}

// stories260K checks the engine against the float64 reference on the
// llama2.c checkpoint (adjacent-pair RoPE, GQA, tied embeddings).
func loadStories(t *testing.T) (*Model, *refModel) {
	path := testutil.Shared(t, "models/stories260K/stories260K.bin")
	cm, err := convert.Load(path, convert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cm.Close()
	vals := map[string][]float64{}
	for _, ti := range cm.Tensors {
		f, err := cm.ReadFloat32(ti)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float64, len(f))
		for i := range f {
			v[i] = float64(f[i])
		}
		vals[ti.Name] = v
	}
	m, err := Load(path, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, &refModel{cfg: m.Config, get: func(n string) []float64 { return vals[n] }}
}

func TestStories260KReference(t *testing.T) {
	m, ref := loadStories(t)
	if m.Config.Layers != 5 || m.Config.KVHeads[0] != 4 || !m.Config.TiedEmbeddings {
		t.Fatalf("unexpected config %+v", m.Config)
	}
	toks := append([]int32{1}, testTokens(23, m.Config.VocabSize)...)
	compareLogits(t, m, ref, toks, 1e-4)
}

// storiesGreedy is the greedy continuation of BOS on stories260K, verified to
// read "Once upon a time, there was a little girl named Lily. She loved to
// play outside in the park..." as SOURCE.txt records.
var storiesGreedy = []int32{403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292, 411, 322, 265, 282, 295, 433}

func TestStories260KGreedy(t *testing.T) {
	m, _ := loadStories(t)
	if m.Vocab == nil {
		t.Fatal("no vocabulary")
	}
	s := m.NewSession(0)
	var got []int32
	var text strings.Builder
	_, err := s.Generate([]int32{1}, 40, NewSampler(SamplerOptions{}), 2, func(tok int32) bool {
		got = append(got, tok)
		text.WriteString(strings.ReplaceAll(m.Vocab.Tokens[tok], "▁", " "))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	txt := strings.TrimSpace(text.String())
	t.Logf("greedy: %q\nids: %v", txt, got)
	if !strings.HasPrefix(txt, "Once upon a time, there was a little girl named Lily. She loved to play outside in the park") {
		t.Fatalf("greedy text %q", txt)
	}
	if len(storiesGreedy) > 0 && fmt.Sprint(got[:len(storiesGreedy)]) != fmt.Sprint(storiesGreedy) {
		t.Fatalf("greedy ids %v, want %v", got[:len(storiesGreedy)], storiesGreedy)
	}
}

func TestDevLlama3MReference(t *testing.T) {
	dir := testutil.Shared(t, "models/dev-llama-3m")
	vals := loadHFFloat64(t, dir) // original Hugging Face row order
	m, err := Load(dir, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ref := &refModel{cfg: m.Config, get: func(n string) []float64 { return vals[n] }, neox: true}
	toks := append([]int32{1}, testTokens(15, m.Config.VocabSize)...)
	compareLogits(t, m, ref, toks, 1e-4)
}

func TestSampler(t *testing.T) {
	logits := []float32{1, 3, 2, 3, -1}
	if g := NewSampler(SamplerOptions{}).Sample(logits); g != 1 {
		t.Fatalf("greedy = %d, want 1 (first maximum)", g)
	}
	count := func(o SamplerOptions) []int {
		s := NewSampler(o)
		c := make([]int, len(logits))
		for i := 0; i < 4000; i++ {
			c[s.Sample(logits)]++
		}
		return c
	}
	c := count(SamplerOptions{Temp: 1, TopK: 2, Seed: 1})
	if c[0]+c[2]+c[4] != 0 || c[1] < 1700 || c[3] < 1700 {
		t.Errorf("top-k 2 counts %v", c)
	}
	// top-p 0.5 keeps the two tied best tokens only (each ~0.42).
	c = count(SamplerOptions{Temp: 1, TopP: 0.5, Seed: 2})
	if c[0]+c[4] != 0 || c[2] != 0 || c[1] == 0 || c[3] == 0 {
		t.Errorf("top-p 0.5 counts %v", c)
	}
	// Full softmax: frequencies near the probabilities.
	c = count(SamplerOptions{Temp: 1, Seed: 3})
	var z float64
	for _, l := range logits {
		z += math.Exp(float64(l))
	}
	for i, l := range logits {
		p := math.Exp(float64(l)) / z
		if got := float64(c[i]) / 4000; math.Abs(got-p) > 0.03 {
			t.Errorf("token %d frequency %.3f, want %.3f", i, got, p)
		}
	}
	// Same seed, same draws.
	a, b := count(SamplerOptions{Temp: 0.8, Seed: 9}), count(SamplerOptions{Temp: 0.8, Seed: 9})
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("seeded runs differ: %v %v", a, b)
	}
}

func TestAppendTiles(t *testing.T) {
	for _, c := range []struct{ rows, rowBytes, T, n int }{
		{2048, 1152, 1, 2}, {256, 1152, 1, 2}, {32000, 1680, 1, 4}, {5632, 2176, 1, 1},
		{3, 18, 1, 2}, {2048, 1152, 64, 2}, {7, 34, 5, 3}, {100000, 18, 1, 2},
	} {
		starts := appendTiles(nil, c.rows, c.rowBytes, c.T, c.n)
		if len(starts) == 0 || starts[0] != 0 {
			t.Fatalf("%+v: tiles %v do not start at row 0", c, starts)
		}
		for i := range starts {
			end := c.rows
			if i+1 < len(starts) {
				end = starts[i+1]
			}
			size := end - starts[i]
			if size <= 0 {
				t.Fatalf("%+v: empty or reversed tile %d in %v", c, i, starts)
			}
			if c.T > 1 && size > 64 {
				t.Errorf("%+v: prefill tile of %d rows", c, size)
			}
			if c.T == 1 && size*c.rowBytes > 4<<20+c.rowBytes {
				t.Errorf("%+v: decode tile of %d bytes", c, size*c.rowBytes)
			}
		}
		if c.T == 1 && c.n > 1 && c.rows*c.rowBytes > 1<<20 && len(starts) < 2*c.n {
			t.Errorf("%+v: %d tiles cannot balance %d goroutines", c, len(starts), c.n)
		}
	}
}

// TestSelectBest checks the top-k selection against a full sort on random
// logits with many ties.
func TestSelectBest(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for trial := 0; trial < 200; trial++ {
		n := 1 + r.IntN(300)
		logits := make([]float32, n)
		for i := range logits {
			logits[i] = float32(r.IntN(20)) // ties
		}
		rank := func(a, b int32) int {
			switch la, lb := logits[a], logits[b]; {
			case la > lb:
				return -1
			case la < lb:
				return 1
			}
			return cmp.Compare(a, b)
		}
		all := make([]int32, n)
		for i := range all {
			all[i] = int32(i)
		}
		want := slices.Clone(all)
		slices.SortFunc(want, rank)
		k := 1 + r.IntN(n)
		got := selectBest(slices.Clone(all), k, rank)
		slices.SortFunc(got, rank)
		if !slices.Equal(got, want[:k]) {
			t.Fatalf("n=%d k=%d: top %v, want %v", n, k, got, want[:k])
		}
	}
}
