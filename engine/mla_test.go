package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/quantize"
	"github.com/shrink-llm/shrink/tokenizer"
)

// mlaConfig is a random deepseek2 layout: 3 layers (the first dense), 4
// heads of key 8 nope + 8 rope and value 12, kv_lora 16, q_lora qLora (0:
// the lite form), DeepSeek-V2 routing, and YaRN scaling by 4 from an
// original context of 16 when yarn is set.
func mlaConfig(qLora int, yarn bool) *model.Config {
	c := &model.Config{Arch: "deepseek2", Dim: 64, Layers: 3, Heads: []int{4, 4, 4}, KVHeads: []int{4, 4, 4},
		FFN: []int{48, 48, 48}, HeadDim: 16, VocabSize: 50, Context: 64, NormEps: 1e-6, RopeBase: 10000, RopeDim: 8}
	c.MoE = model.MoE{Experts: 4, ExpertsUsed: 2, ExpertFFN: 16, SharedExperts: 1, SharedFFN: 16, DenseLead: 1,
		Scale: 2, Gating: model.GatingSoftmax}
	c.MLA = &model.MLA{QLoraRank: qLora, KVLoraRank: 16, KeyLength: 16, ValueLen: 12}
	if yarn {
		c.RopeScaling = &model.RopeScaling{Type: "yarn", Factor: 4, OriginalContext: 16}
		c.MLA.YarnLogMul = 0.1 * 0.707
	}
	return c
}

// genMLATensors makes random F32 tensors of an MLA model (in the
// configuration's up-projection layout) and their float64 values, with the
// up-projection always also under attn_kv_b for the reference.
func genMLATensors(cfg *model.Config, seed uint64) ([]Tensor, map[string][]float64) {
	base, vals := genTensors(cfg, seed)
	var ts []Tensor
	for _, t := range base {
		if n := t.Name; strings.HasSuffix(n, ".attn_q.weight") || strings.HasSuffix(n, ".attn_k.weight") ||
			strings.HasSuffix(n, ".attn_v.weight") || strings.HasSuffix(n, ".attn_output.weight") {
			continue
		}
		ts = append(ts, t)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	add := func(name string, scale, offset float64, shape ...int64) []float32 {
		t, f, v := randF32Tensor(r, name, scale, offset, shape)
		ts = append(ts, t)
		vals[name] = v
		return f
	}
	a := cfg.MLA
	D, kl, v, kvr, rope := int64(cfg.Dim), int64(a.KeyLength), int64(a.ValueLen), int64(a.KVLoraRank), int64(cfg.RopeDim)
	nope := kl - rope
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		H := int64(cfg.Heads[l])
		if q := int64(a.QLoraRank); q > 0 {
			add(p+"attn_q_a.weight", 0.3, 0, D, q)
			add(p+"attn_q_a_norm.weight", 0.1, 1, q)
			add(p+"attn_q_b.weight", 0.3, 0, q, H*kl)
		} else {
			add(p+"attn_q.weight", 0.3, 0, D, H*kl)
		}
		add(p+"attn_kv_a_mqa.weight", 0.3, 0, D, kvr+rope)
		add(p+"attn_kv_a_norm.weight", 0.1, 1, kvr)
		kvb := add(p+"attn_kv_b.weight", 0.3, 0, kvr, H*(nope+v))
		add(p+"attn_output.weight", 0.2, 0, H*v, D)
		if a.Split {
			ts = ts[:len(ts)-2]
			ts = append(ts, splitTensors(p, kvb, int(H), int(nope), int(v), int(kvr))...)
			ts = append(ts, Tensor{Name: p + "attn_output.weight", Type: format.F32, Shape: []int64{H * v, D},
				Data: f32Bytes(vals[p+"attn_output.weight"])})
		}
	}
	return ts, vals
}

func f32Bytes(v []float64) []byte {
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	b := make([]byte, 4*len(f))
	_ = format.EncodeFloats(format.F32, f, b)
	return b
}

// splitTensors writes kv_b's rows as llama.cpp's attn_k_b (k_nope rows
// transposed per head) and attn_v_b.
func splitTensors(p string, kvb []float32, H, nope, v, r int) []Tensor {
	kb := make([]float64, H*r*nope)
	vb := make([]float64, H*v*r)
	for h := 0; h < H; h++ {
		for j := 0; j < r; j++ {
			for i := 0; i < nope; i++ {
				kb[(h*r+j)*nope+i] = float64(kvb[(h*(nope+v)+i)*r+j])
			}
			for i := 0; i < v; i++ {
				vb[(h*v+i)*r+j] = float64(kvb[(h*(nope+v)+nope+i)*r+j])
			}
		}
	}
	return []Tensor{
		{Name: p + "attn_k_b.weight", Type: format.F32, Shape: []int64{int64(nope), int64(r), int64(H)}, Data: f32Bytes(kb)},
		{Name: p + "attn_v_b.weight", Type: format.F32, Shape: []int64{int64(r), int64(v), int64(H)}, Data: f32Bytes(vb)},
	}
}

// refMLA is an independent float64 forward of a deepseek2 model written
// from the Hugging Face DeepseekV2 description: q (through the q_lora
// bottleneck or not), the compressed latent and shared rope key,
// decompressed per-head keys and values, RoPE on the rope dims (adjacent
// pairs as GGUF stores them; YaRN frequencies and mscale as
// DeepseekV2YarnRotaryEmbedding computes them), softmax scale
// mscale²/sqrt(q_head_dim), then the routed feed-forward of ref_test.go.
func (r *refModel) forwardMLA(tokens []int32) [][]float64 {
	c := r.cfg
	a := c.MLA
	D, kl, v, kvr, rope := c.Dim, a.KeyLength, a.ValueLen, a.KVLoraRank, c.RopeDim
	nope := kl - rope
	invFreq, mscale := refYarn(c)
	scale := mscale * mscale / math.Sqrt(float64(kl))
	rot := func(x []float64, pos int) {
		for i := 0; i < rope/2; i++ {
			s, co := math.Sincos(float64(pos) * invFreq[i])
			x0, x1 := x[2*i], x[2*i+1]
			x[2*i], x[2*i+1] = x0*co-x1*s, x0*s+x1*co
		}
	}
	emb, out := r.get("token_embd.weight"), r.get("output.weight")
	keys := make([][][]float64, c.Layers)
	vals := make([][][]float64, c.Layers)
	var logits [][]float64
	for pos, tok := range tokens {
		x := append([]float64(nil), emb[int(tok)*D:(int(tok)+1)*D]...)
		for l := 0; l < c.Layers; l++ {
			p := fmt.Sprintf("blk.%d.", l)
			H := c.Heads[l]
			xn := refRMSNorm(x, r.get(p+"attn_norm.weight"), float64(c.NormEps))
			var q []float64
			if a.QLoraRank > 0 {
				qa := refRMSNorm(refMatVec(r.get(p+"attn_q_a.weight"), xn), r.get(p+"attn_q_a_norm.weight"), float64(c.NormEps))
				q = refMatVec(r.get(p+"attn_q_b.weight"), qa)
			} else {
				q = refMatVec(r.get(p+"attn_q.weight"), xn)
			}
			ckv := refMatVec(r.get(p+"attn_kv_a_mqa.weight"), xn)
			kr := ckv[kvr:]
			rot(kr, pos)
			kvs := refMatVec(r.get(p+"attn_kv_b.weight"), refRMSNorm(ckv[:kvr], r.get(p+"attn_kv_a_norm.weight"), float64(c.NormEps)))
			k := make([]float64, H*kl)
			vv := make([]float64, H*v)
			for h := 0; h < H; h++ {
				copy(k[h*kl:], kvs[h*(nope+v):h*(nope+v)+nope])
				copy(k[h*kl+nope:], kr)
				copy(vv[h*v:], kvs[h*(nope+v)+nope:(h+1)*(nope+v)])
				rot(q[h*kl+nope:(h+1)*kl], pos)
			}
			keys[l] = append(keys[l], k)
			vals[l] = append(vals[l], vv)
			att := make([]float64, H*v)
			for h := 0; h < H; h++ {
				sc := make([]float64, pos+1)
				for t := range sc {
					for i := 0; i < kl; i++ {
						sc[t] += q[h*kl+i] * keys[l][t][h*kl+i]
					}
					sc[t] *= scale
				}
				sum := refSoftmaxSum(sc)
				for t := range sc {
					for i := 0; i < v; i++ {
						att[h*v+i] += sc[t] / sum * vals[l][t][h*v+i]
					}
				}
			}
			r.attnOutFFN(l, p, x, att)
		}
		logits = append(logits, refMatVec(out, refRMSNorm(x, r.get("output_norm.weight"), float64(c.NormEps))))
	}
	return logits
}

// refYarn returns DeepseekV2YarnRotaryEmbedding's inverse frequencies and
// the attention mscale (yarn_get_mscale(factor, mscale_all_dim), with
// mscale_all_dim = YarnLogMul/0.1), or plain RoPE and 1 without scaling.
func refYarn(c *model.Config) ([]float64, float64) {
	dim, base := float64(c.RopeDim), float64(c.RopeBase)
	inv := make([]float64, c.RopeDim/2)
	for i := range inv {
		inv[i] = 1 / math.Pow(base, 2*float64(i)/dim)
	}
	s := c.RopeScaling
	if s == nil {
		return inv, 1
	}
	factor := float64(s.Factor)
	corr := func(rot float64) float64 {
		return dim * math.Log(float64(s.OriginalContext)/(rot*2*math.Pi)) / (2 * math.Log(base))
	}
	low, high := math.Max(math.Floor(corr(32)), 0), math.Min(math.Ceil(corr(1)), dim-1)
	if low == high {
		high += 0.001
	}
	for i := range inv {
		ramp := math.Min(1, math.Max(0, (float64(i)-low)/(high-low)))
		extra, inter := inv[i], inv[i]/factor
		inv[i] = inter*ramp + extra*(1-ramp)
	}
	// mscale / mscale_all_dim equal (as in DeepSeek's configs): cos and sin unscaled.
	return inv, 0.1*float64(c.MLA.YarnLogMul)/0.1*math.Log(factor) + 1
}

// compareMLA runs tokens through a session in the given form (prefill of
// half, then decode one by one) and checks every position's logits
// against the float64 reference.
func compareMLA(t *testing.T, m *Model, want [][]float64, tokens []int32, form int, tol float64) {
	t.Helper()
	V := m.Config.VocabSize
	s := m.NewSession(0)
	s.mlaForm = form
	split := len(tokens) / 2
	all, err := s.ForwardAll(tokens[:split])
	if err != nil {
		t.Fatal(err)
	}
	got := append([]float32(nil), all...)
	// Two tokens at a time past the prompt: a pass with a cache and T > 1.
	for i := split; i < len(tokens); i += 2 {
		l, err := s.ForwardAll(tokens[i:min(i+2, len(tokens))])
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l...)
	}
	checkLogits(t, fmt.Sprintf("form %d: ", form), got, want, V, tol)
}

// TestGeneratedMLA checks the latent attention, naive and absorbed and as
// chosen, with and without q_lora, with YaRN, in both up-projection
// layouts, against the float64 reference over 40 positions (beyond YaRN's
// original context of 16).
func TestGeneratedMLA(t *testing.T) {
	for _, tc := range []struct {
		name  string
		qLora int
		yarn  bool
		split bool
	}{
		{"q_lora", 24, false, false}, {"lite", 0, false, false}, {"q_lora-yarn", 24, true, false},
		{"lite-yarn-split", 0, true, true}, {"q_lora-split", 24, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mlaConfig(tc.qLora, tc.yarn)
			cfg.MLA.Split = tc.split
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			ts, vals := genMLATensors(cfg, 3)
			m, err := NewModel(cfg, nil, ts, Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			ref := &refModel{cfg: cfg, get: func(n string) []float64 { return vals[n] }}
			tokens := testTokens(40, cfg.VocabSize)
			want := ref.forwardMLA(tokens)
			for _, form := range []int{mlaAuto, mlaNaive, mlaAbsorbed} {
				compareMLA(t, m, want, tokens, form, 2e-4)
			}
		})
	}
}

// TestMLAYarnMatters: the reference's YaRN differs from plain RoPE on
// these positions, so the YaRN cases test something.
func TestMLAYarnMatters(t *testing.T) {
	cfg := mlaConfig(24, true)
	_, vals := genMLATensors(cfg, 3)
	get := func(n string) []float64 { return vals[n] }
	tokens := testTokens(30, cfg.VocabSize)
	a := (&refModel{cfg: cfg, get: get}).forwardMLA(tokens)
	plain := mlaConfig(24, false)
	b := (&refModel{cfg: plain, get: get}).forwardMLA(tokens)
	last := len(tokens) - 1
	f := make([]float32, len(b[last]))
	for i, x := range b[last] {
		f[i] = float32(x)
	}
	if e := relErr(f, a[last]); e < 1e-2 {
		t.Errorf("YaRN and plain RoPE logits differ by only %.3g", e)
	}
}

// TestMLAQuantizedForms: with a Q8_0 kv_b, the naive form (kv_b against
// 8-bit activations, as llama.cpp) and the absorbed form (kv_b
// dequantized, float activations) both stay close to the float64
// reference of the dequantized weights, and the cache holds the latent and
// rope key only.
func TestMLAQuantizedForms(t *testing.T) {
	cfg := mlaConfig(24, false)
	cfg.MLA.KVLoraRank = 32
	cfg.ExpertsUsed = cfg.Experts // no routing flips from the 8-bit activations
	ts, vals := genMLATensors(cfg, 4)
	for i := range ts {
		if strings.HasSuffix(ts[i].Name, "attn_kv_b.weight") {
			x := make([]float32, len(ts[i].Data)/4)
			_ = format.DecodeFloats(format.F32, ts[i].Data, x)
			q := make([]byte, len(x)/32*34)
			if err := quantize.EncodeRow(format.Q8_0, q, x, nil); err != nil {
				t.Fatal(err)
			}
			ts[i].Type, ts[i].Data = format.Q8_0, q
			_ = quantize.DecodeRow(format.Q8_0, x, q)
			for j, f := range x {
				vals[ts[i].Name][j] = float64(f)
			}
		}
	}
	m, err := NewModel(cfg, nil, ts, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	tokens := testTokens(24, cfg.VocabSize)
	want := (&refModel{cfg: cfg, get: func(n string) []float64 { return vals[n] }}).forwardMLA(tokens)
	for _, form := range []int{mlaNaive, mlaAbsorbed} {
		s := m.NewSession(0)
		s.mlaForm = form
		l, err := s.ForwardAll(tokens)
		if err != nil {
			t.Fatal(err)
		}
		V := cfg.VocabSize
		worst := 0.0
		for p := range tokens {
			worst = math.Max(worst, relErr(l[p*V:(p+1)*V], want[p]))
		}
		t.Logf("form %d: worst relative logit error %.3g", form, worst)
		if (form == mlaAbsorbed && worst > 2e-4) || worst > 6e-2 { // 8-bit activations: see quant_test.go
			t.Errorf("form %d: worst relative logit error %.3g", form, worst)
		}
		if n := len(s.kcache[1]); n != len(tokens)*(32+cfg.RopeDim) {
			t.Errorf("layer 1 cache holds %d floats, want %d tokens x (32 + %d)", n, len(tokens), cfg.RopeDim)
		}
	}
}

// TestDevDeepseek2Reference runs dev-deepseek2-moe from its Hugging Face
// folder against the float64 MLA forward on the safetensors values and
// checks that greedy decoding continues a prompt as llama-cli --temp 0
// does on the F16 GGUF (which llama-perplexity scores at SOURCE.txt's
// 51.4368).
func TestDevDeepseek2Reference(t *testing.T) {
	dir := testutil.Shared(t, "models/dev-deepseek2-moe")
	vals := loadHFFloat64(t, dir)
	m, err := Load(dir, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ref := &refModel{cfg: m.Config, get: func(n string) []float64 { return vals[n] }}
	toks := append([]int32{1}, testTokens(31, m.Config.VocabSize)...)
	want := ref.forwardMLA(toks)
	for _, form := range []int{mlaAuto, mlaAbsorbed} {
		compareMLA(t, m, want, toks, form, 1e-4)
	}

	tk, err := tokenizer.New(m.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int32
	_, err = m.NewSession(0).Generate(tk.Encode("ROMEO: But soft, what light", true), 60, NewSampler(SamplerOptions{}), 2, func(tok int32) bool {
		ids = append(ids, tok)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	got := tk.Decode(ids)
	// llama-cli -p "ROMEO: But soft, what light" -n 60 --temp 0 on the F16 GGUF.
	const cli = ".\n\nCALUS:\nWhy, and the sorrow, and I will be\nthereigns of the kings of the king.\n\n//\n// If the LICENSE file.\n//\n// The Go Authors. All rights reserved.\n// Use"
	if !strings.HasPrefix(got, cli) {
		t.Errorf("greedy %q, llama-cli %q", got, cli)
	}
}

// colsRecorder records the rows and the input width of every product.
type colsRecorder struct {
	rows, cols map[string]int
	lat        []float32 // last input of blk.1.attn_kv_b
}

func (r *colsRecorder) Linear(name string, x []float32, rows, cols int) {
	if len(x) != rows*cols {
		panic("bad observer slice")
	}
	r.rows[name] += rows
	r.cols[name] = cols
	if name == "blk.1.attn_kv_b.weight" {
		r.lat = append(r.lat[:0], x...)
	}
}

func (r *colsRecorder) Residual(int, []float32, int, int) {}

// TestMLAObserver: calibration sees the input of every latent projection
// (attn_q_a, attn_q_b, attn_kv_a_mqa, attn_kv_b, attn_output) once per
// token in either form, with the width of the weight's rows; attn_kv_b's
// input is the normalised latent the cache holds.
func TestMLAObserver(t *testing.T) {
	cfg := mlaConfig(24, false)
	ts, _ := genMLATensors(cfg, 5)
	m, err := NewModel(cfg, nil, ts, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range []int{mlaNaive, mlaAbsorbed} {
		s := m.NewSession(0)
		s.mlaForm = form
		rec := &colsRecorder{rows: map[string]int{}, cols: map[string]int{}}
		s.Observer = rec
		for _, toks := range [][]int32{{3, 4, 5}, {6}} {
			if _, err := s.Forward(toks); err != nil {
				t.Fatal(err)
			}
		}
		for name, cols := range map[string]int{"attn_q_a": 64, "attn_q_b": 24, "attn_kv_a_mqa": 64, "attn_kv_b": 16, "attn_output": 48} {
			n := "blk.1." + name + ".weight"
			if rec.rows[n] != 4 || rec.cols[n] != cols {
				t.Errorf("form %d: %s observed %d rows of %d, want 4 of %d", form, n, rec.rows[n], rec.cols[n], cols)
			}
		}
		for i, v := range rec.lat {
			if v != s.kcache[1][3*(16+8)+i] {
				t.Fatalf("form %d: attn_kv_b input %d = %g, cached latent %g", form, i, v, s.kcache[1][3*24+i])
			}
		}
	}
}
