package engine

import (
	"fmt"
	"math"
	"sync"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/quantize"
)

// DeepSeek's multi-head latent attention (GGUF architecture deepseek2), as
// llama.cpp's build_deepseek2 computes it: for every token
//
//	q      = Wq_b · rmsnorm(Wq_a · x)   (or Wq · x, the lite form)
//	[c|kr] = Wkv_a_mqa · x,  c = rmsnorm(c) (kv_lora_rank), kr the rope key
//	[kn|v] = Wkv_b · c       per head: k_nope, value
//	key    = [kn_h | rope(kr)], query = [q_nope_h | rope(q_rope_h)]
//
// with softmax scale mscale²/sqrt(key length), mscale = 1 + yarn_log_mul ·
// ln(YaRN factor), and RoPE on the rope dims only (adjacent pairs, YaRN as
// ggml's rope_yarn). The cache holds only c and rope(kr) per token. A pass
// runs in whichever of two equal forms costs fewer multiplications: the
// naive one decompresses the keys and values of every cached token
// through Wkv_b (cheaper for a prompt from an empty cache, as k_nope + v is
// narrower than 2 x kv_lora_rank); the absorbed one folds Wkv_b's key rows
// into the query (q_lat_h = Wkn_hᵀ q_nope_h, scored against c) and its
// value rows into the output (out_h = Wv_h · Σ p·c), so a decode step reads
// the latent cache and never decompresses it.

// mlaLayer holds one block's latent attention weights.
type mlaLayer struct {
	qa, qb, q weight // q_lora path (qa, qb) or the lite form's q
	lite      bool
	qaNorm    []float32
	kva       weight    // attn_kv_a_mqa: Dim -> kv_lora_rank + rope
	kvaNorm   []float32 // attn_kv_a_norm
	kvb       weight    // attn_kv_b, or an F32 one built from attn_k_b/attn_v_b

	once sync.Once
	kvbF []float32 // kvb dequantized (heads x (nope + v) rows of kv_lora_rank), for the absorbed form
}

// yarnRope is llama.cpp's RoPE for deepseek2 (ggml's rope_yarn with
// DeepSeek's pre-scaled attention factor).
type yarnRope struct {
	freqScale float64    // 1/factor (1 without scaling)
	ext       float64    // extrapolation mix: 1 for YaRN, else 0
	corr      [2]float64 // YaRN correction dims
	mag       float64    // magnitude of the rotation (cos and sin are scaled by it)
}

// newYarnRope sets up deepseek2's RoPE and returns it with the attention
// softmax scale, for configuration c.
func newYarnRope(c *model.Config) (*yarnRope, float32, error) {
	y := &yarnRope{freqScale: 1}
	if s := c.RopeScaling; s != nil {
		switch s.Type {
		case "yarn":
			y.ext = 1
		case "linear":
		default:
			return nil, 0, fmt.Errorf("%w: rope scaling type %q for %s (linear and yarn are supported)", model.ErrUnsupported, s.Type, c.Arch)
		}
		y.freqScale = 1 / float64(s.Factor)
	}
	lnInv := math.Log(1 / y.freqScale)
	mscale := 1 + float64(c.MLA.YarnLogMul)*lnInv
	scale := float32(mscale * mscale / math.Sqrt(float64(c.MLA.KeyLength)))
	y.mag = 1 / (1 + 0.1*lnInv) // llama.cpp's attn_factor_scaled
	if y.ext != 0 {
		y.mag *= 1 + 0.1*lnInv
		orig := c.Context
		if c.RopeScaling.OriginalContext > 0 {
			orig = c.RopeScaling.OriginalContext
		}
		n, base := float64(c.RopeDim), float64(c.RopeBase)
		dim := func(rot float64) float64 {
			return n * math.Log(float64(orig)/(rot*2*math.Pi)) / (2 * math.Log(base))
		}
		y.corr[0] = math.Max(0, math.Floor(dim(32))) // beta_fast
		y.corr[1] = math.Min(n-1, math.Ceil(dim(1))) // beta_slow
	}
	return y, scale, nil
}

// angle returns the cosine and sine (scaled by the magnitude) of rotary
// pair i of RopeDim n at position pos, with base.
func (y *yarnRope) angle(pos float64, i, n int, base float64) (float64, float64) {
	extrap := pos * math.Pow(base, -2*float64(i)/float64(n))
	theta := y.freqScale * extrap
	if y.ext != 0 {
		r := (float64(i) - y.corr[0]) / math.Max(0.001, y.corr[1]-y.corr[0])
		ramp := (1 - math.Min(1, math.Max(0, r))) * y.ext
		theta = theta*(1-ramp) + extrap*ramp
	}
	sin, cos := math.Sincos(theta)
	return cos * y.mag, sin * y.mag
}

// loadMLA reads the latent attention tensors of the block with prefix p.
func loadMLA(c *model.Config, l int, p string, mat func(string, int, int, ...int) (weight, error),
	vec func(string, int, bool) ([]float32, error), get func(string, ...int64) (*Tensor, error)) (*mlaLayer, error) {
	a := c.MLA
	D, H, r, kl := c.Dim, c.Heads[l], a.KVLoraRank, a.KeyLength
	nope, v := c.Nope(), a.ValueLen
	X := &mlaLayer{lite: a.QLoraRank == 0}
	var err error
	if X.lite {
		X.q, err = mat(p+"attn_q.weight", D, H*kl)
	} else if X.qa, err = mat(p+"attn_q_a.weight", D, a.QLoraRank); err == nil {
		if X.qaNorm, err = vec(p+"attn_q_a_norm.weight", a.QLoraRank, false); err == nil {
			X.qb, err = mat(p+"attn_q_b.weight", a.QLoraRank, H*kl)
		}
	}
	if err != nil {
		return nil, err
	}
	if X.kva, err = mat(p+"attn_kv_a_mqa.weight", D, r+c.RopeDim); err != nil {
		return nil, err
	}
	if X.kvaNorm, err = vec(p+"attn_kv_a_norm.weight", r, false); err != nil {
		return nil, err
	}
	if !a.Split {
		X.kvb, err = mat(p+"attn_kv_b.weight", r, H*(nope+v))
		return X, err
	}
	kb, err := get(p+"attn_k_b.weight", int64(nope), int64(r), int64(H))
	if err != nil {
		return nil, err
	}
	vb, err := get(p+"attn_v_b.weight", int64(r), int64(v), int64(H))
	if err != nil {
		return nil, err
	}
	f, err := joinKVB(kb, vb, H, nope, v, r)
	if err != nil {
		return nil, err
	}
	X.kvbF = f
	X.once.Do(func() {}) // kvbF is ready: absorbed() must not decode kvb again
	data := make([]byte, 4*len(f))
	format.EncodeFloats(format.F32, f, data)
	X.kvb = weight{name: p + "attn_kv_b.weight", typ: format.F32, rows: H * (nope + v), cols: r, rowBytes: 4 * r, data: data}
	return X, nil
}

// joinKVB builds kv_b's rows (per head k_nope then v, kv_lora_rank
// values each) from the split layout's attn_k_b and attn_v_b.
func joinKVB(kb, vb *Tensor, H, nope, v, r int) ([]float32, error) {
	kx, err := decodeAll(kb)
	if err != nil {
		return nil, err
	}
	vx, err := decodeAll(vb)
	if err != nil {
		return nil, err
	}
	out := make([]float32, H*(nope+v)*r)
	for h := 0; h < H; h++ {
		for i := 0; i < nope; i++ {
			row := out[(h*(nope+v)+i)*r:][:r]
			for j := range row {
				row[j] = kx[(h*r+j)*nope+i]
			}
		}
		copy(out[(h*(nope+v)+nope)*r:][:v*r], vx[h*v*r:])
	}
	return out, nil
}

// decodeAll dequantizes a whole tensor to float32.
func decodeAll(t *Tensor) ([]float32, error) {
	n := int64(1)
	for _, s := range t.Shape {
		n *= s
	}
	out := make([]float32, n)
	cols := int(t.Shape[0])
	rb, err := t.Type.RowBytes(int64(cols))
	if err != nil {
		return nil, modelErr(t.Name, "%v", err)
	}
	for i := 0; i < int(n)/cols; i++ {
		if err := quantize.DecodeRow(t.Type, out[i*cols:(i+1)*cols], t.Data[i*int(rb):(i+1)*int(rb)]); err != nil {
			return nil, modelErr(t.Name, "%v", err)
		}
	}
	return out, nil
}

// absorbed returns kv_b dequantized, decoding it on first use.
func (X *mlaLayer) absorbed() []float32 {
	X.once.Do(func() {
		w := &X.kvb
		X.kvbF = make([]float32, w.rows*w.cols)
		for i := 0; i < w.rows; i++ {
			// The weight was checked at load: its rows decode.
			_ = quantize.DecodeRow(w.typ, X.kvbF[i*w.cols:(i+1)*w.cols], w.data[i*w.rowBytes:(i+1)*w.rowBytes])
		}
	})
	return X.kvbF
}

// CacheBytesPerToken returns the bytes a Session's key/value cache holds
// per token over all layers (float32 values), and what a standard
// attention cache of the same heads would hold. For latent attention the
// cache keeps kv_lora_rank + rope values per layer, where a standard one
// (llama.cpp's deepseek2 of 2025 included) keeps every head's decompressed
// key and value, heads x (key length + value length); for other models
// the two are equal (key/value heads x head dim x 2).
func (m *Model) CacheBytesPerToken() (cache, standard int64) {
	c := m.Config
	for l := range m.layers {
		if a := c.MLA; a != nil {
			cache += int64(a.KVLoraRank+c.RopeDim) * 4
			standard += int64(c.Heads[l]*(a.KeyLength+a.ValueLen)) * 4
			continue
		}
		n := int64(2*c.KVHeads[l]*c.HeadDim) * 4
		cache += n
		standard += n
	}
	return cache, standard
}
