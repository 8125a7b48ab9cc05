package engine

import (
	"fmt"
	"math"
	"sort"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
)

// refModel is an independent, naive float64 forward pass used to check the
// engine. get returns a tensor under its GGUF name as float64 values in
// row-major order (rows of Shape[0] values); neox selects rotate-half RoPE
// (for weights in Hugging Face row order) instead of adjacent pairs.
type refModel struct {
	cfg  *model.Config
	get  func(name string) []float64
	neox bool
	// posScale multiplies positions (linear RoPE scaling).
	posScale float64
}

func refMatVec(w []float64, x []float64) []float64 {
	cols := len(x)
	rows := len(w) / cols
	y := make([]float64, rows)
	for r := 0; r < rows; r++ {
		var s float64
		row := w[r*cols : (r+1)*cols]
		for c, v := range row {
			s += v * x[c]
		}
		y[r] = s
	}
	return y
}

func refRMSNorm(x, w []float64, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	sc := 1 / math.Sqrt(ss/float64(len(x))+eps)
	y := make([]float64, len(x))
	for i := range x {
		y[i] = x[i] * sc * w[i]
	}
	return y
}

func (r *refModel) rope(x []float64, heads, pos int) {
	hd := r.cfg.HeadDim
	ps := r.posScale
	if ps == 0 {
		ps = 1
	}
	for h := 0; h < heads; h++ {
		v := x[h*hd : (h+1)*hd]
		for i := 0; i < hd/2; i++ {
			theta := float64(pos) * ps / math.Pow(float64(r.cfg.RopeBase), float64(2*i)/float64(hd))
			a, b := 2*i, 2*i+1
			if r.neox {
				a, b = i, i+hd/2
			}
			x0, x1 := v[a], v[b]
			v[a] = x0*math.Cos(theta) - x1*math.Sin(theta)
			v[b] = x0*math.Sin(theta) + x1*math.Cos(theta)
		}
	}
}

func addBias(y []float64, b []float64) {
	for i := range b {
		y[i] += b[i]
	}
}

// forward returns the logits after every token.
func (r *refModel) forward(tokens []int32) [][]float64 {
	c := r.cfg
	D, hd := c.Dim, c.HeadDim
	emb := r.get("token_embd.weight")
	out := r.get("output.weight")
	if out == nil {
		out = emb
	}
	keys := make([][][]float64, c.Layers)
	vals := make([][][]float64, c.Layers)
	var logits [][]float64
	for pos, tok := range tokens {
		x := append([]float64(nil), emb[int(tok)*D:(int(tok)+1)*D]...)
		for l := 0; l < c.Layers; l++ {
			p := fmt.Sprintf("blk.%d.", l)
			H, KV := c.Heads[l], c.KVHeads[l]
			xn := refRMSNorm(x, r.get(p+"attn_norm.weight"), float64(c.NormEps))
			q := refMatVec(r.get(p+"attn_q.weight"), xn)
			k := refMatVec(r.get(p+"attn_k.weight"), xn)
			v := refMatVec(r.get(p+"attn_v.weight"), xn)
			if b := r.get(p + "attn_q.bias"); b != nil {
				addBias(q, b)
				addBias(k, r.get(p+"attn_k.bias"))
				addBias(v, r.get(p+"attn_v.bias"))
			}
			if w := r.get(p + "attn_q_norm.weight"); w != nil {
				refHeadNorm(q, w, float64(c.NormEps))
				refHeadNorm(k, r.get(p+"attn_k_norm.weight"), float64(c.NormEps))
			}
			r.rope(q, H, pos)
			r.rope(k, KV, pos)
			keys[l] = append(keys[l], k)
			vals[l] = append(vals[l], v)
			att := make([]float64, H*hd)
			for h := 0; h < H; h++ {
				kvh := h / (H / KV)
				sc := make([]float64, pos+1)
				for t := 0; t <= pos; t++ {
					var s float64
					for i := 0; i < hd; i++ {
						s += q[h*hd+i] * keys[l][t][kvh*hd+i]
					}
					sc[t] = s / math.Sqrt(float64(hd))
				}
				sum := refSoftmaxSum(sc)
				for t := range sc {
					for i := 0; i < hd; i++ {
						att[h*hd+i] += sc[t] / sum * vals[l][t][kvh*hd+i]
					}
				}
			}
			r.attnOutFFN(l, p, x, att)
		}
		xn := refRMSNorm(x, r.get("output_norm.weight"), float64(c.NormEps))
		logits = append(logits, refMatVec(out, xn))
	}
	return logits
}

// refSoftmaxSum replaces the scores sc by exp(sc - max(sc)) and returns
// their sum, the softmax's divisor.
func refSoftmaxSum(sc []float64) float64 {
	mx := math.Inf(-1)
	for _, s := range sc {
		mx = math.Max(mx, s)
	}
	var sum float64
	for t := range sc {
		sc[t] = math.Exp(sc[t] - mx)
		sum += sc[t]
	}
	return sum
}

// attnOutFFN adds layer l's (tensor prefix p) attention output projection
// of att and then its feed-forward block (routed experts on an MoE layer,
// SwiGLU otherwise) to the residual stream x.
func (r *refModel) attnOutFFN(l int, p string, x, att []float64) {
	c := r.cfg
	o := refMatVec(r.get(p+"attn_output.weight"), att)
	for i := range x {
		x[i] += o[i]
	}
	xn := refRMSNorm(x, r.get(p+"ffn_norm.weight"), float64(c.NormEps))
	var d []float64
	if c.MoELayer(l) {
		d = r.moe(p, xn)
	} else {
		d = refSwiGLU(r.get(p+"ffn_gate.weight"), r.get(p+"ffn_up.weight"), r.get(p+"ffn_down.weight"), xn)
	}
	for i := range x {
		x[i] += d[i]
	}
}

// refSwiGLU returns down · (silu(gate · x) * (up · x)).
func refSwiGLU(gate, up, down, x []float64) []float64 {
	g := refMatVec(gate, x)
	u := refMatVec(up, x)
	for i := range g {
		g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
	}
	return refMatVec(down, g)
}

// refHeadNorm RMS-normalises each head of x with weight w.
func refHeadNorm(x, w []float64, eps float64) {
	hd := len(w)
	for h := 0; h+hd <= len(x); h += hd {
		copy(x[h:h+hd], refRMSNorm(x[h:h+hd], w, eps))
	}
}

// moe is the routed feed-forward of the block with prefix p, written from
// the model descriptions (Mixtral, Qwen-MoE, DeepSeek-V2/V3): scores by
// softmax or sigmoid of the router logits; the experts chosen by
// score + selection bias, restricted to the best groups when routing is
// group-limited; weights the unbiased scores, renormalised and scaled as
// configured; the weighted sum of the chosen experts' SwiGLU outputs plus
// the shared expert (gated by a sigmoid for Qwen2-MoE).
func (r *refModel) moe(p string, x []float64) []float64 {
	c := r.cfg
	E, F, D := c.Experts, c.ExpertFFN, c.Dim
	logits := refMatVec(r.get(p+"ffn_gate_inp.weight"), x)
	scores := make([]float64, E)
	if c.Gating == model.GatingSigmoid {
		for i, v := range logits {
			scores[i] = 1 / (1 + math.Exp(-v))
		}
	} else {
		mx := math.Inf(-1)
		for _, v := range logits {
			mx = math.Max(mx, v)
		}
		var sum float64
		for i, v := range logits {
			scores[i] = math.Exp(v - mx)
			sum += scores[i]
		}
		for i := range scores {
			scores[i] /= sum
		}
	}
	choice := append([]float64(nil), scores...)
	if b := r.get(p + "exp_probs_b.bias"); b != nil {
		for i := range choice {
			choice[i] += b[i]
		}
	}
	allowed := make([]bool, E)
	for i := range allowed {
		allowed[i] = true
	}
	if G := c.Groups; G > 1 {
		size := E / G
		type gs struct {
			g     int
			score float64
		}
		var groups []gs
		for g := 0; g < G; g++ {
			v := append([]float64(nil), choice[g*size:(g+1)*size]...)
			sort.Sort(sort.Reverse(sort.Float64Slice(v)))
			sc := v[0]
			if size > 1 {
				sc += v[1]
			}
			groups = append(groups, gs{g, sc})
		}
		sort.SliceStable(groups, func(i, j int) bool { return groups[i].score > groups[j].score })
		for _, g := range groups[c.GroupsUsed:] {
			for i := g.g * size; i < (g.g+1)*size; i++ {
				allowed[i] = false
			}
		}
	}
	idx := make([]int, 0, E)
	for i := range choice {
		if allowed[i] {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return choice[idx[a]] > choice[idx[b]] })
	idx = idx[:c.ExpertsUsed]
	w := make([]float64, len(idx))
	var sum float64
	for i, e := range idx {
		w[i] = scores[e]
		sum += w[i]
	}
	for i := range w {
		if c.Norm {
			w[i] /= sum
		}
		if c.Scale != 0 {
			w[i] *= float64(c.Scale)
		}
	}
	out := make([]float64, D)
	gate, up, down := r.get(p+"ffn_gate_exps.weight"), r.get(p+"ffn_up_exps.weight"), r.get(p+"ffn_down_exps.weight")
	for i, e := range idx {
		y := refSwiGLU(gate[e*F*D:(e+1)*F*D], up[e*F*D:(e+1)*F*D], down[e*D*F:(e+1)*D*F], x)
		for j := range out {
			out[j] += w[i] * y[j]
		}
	}
	if c.SharedFFN > 0 {
		y := refSwiGLU(r.get(p+"ffn_gate_shexp.weight"), r.get(p+"ffn_up_shexp.weight"), r.get(p+"ffn_down_shexp.weight"), x)
		g := 1.0
		if sg := r.get(p + "ffn_gate_inp_shexp.weight"); sg != nil {
			g = 1 / (1 + math.Exp(-refMatVec(sg, x)[0]))
		}
		for j := range out {
			out[j] += g * y[j]
		}
	}
	return out
}

// relErr returns ||a-b|| / ||b||.
func relErr(a []float32, b []float64) float64 {
	var num, den float64
	for i := range b {
		d := float64(a[i]) - b[i]
		num += d * d
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}

// compareLogits runs tokens through a fresh session in two batches (prefill
// then one-by-one decode) and checks every position's logits against ref.
func compareLogits(t *testing.T, m *Model, ref *refModel, tokens []int32, tol float64) {
	t.Helper()
	want := ref.forward(tokens)
	V := m.Config.VocabSize
	s := m.NewSession(0)
	split := len(tokens) / 2
	all, err := s.ForwardAll(tokens[:split])
	if err != nil {
		t.Fatal(err)
	}
	got := append([]float32(nil), all...)
	for _, tok := range tokens[split:] {
		l, err := s.Forward([]int32{tok})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l...)
	}
	checkLogits(t, "", got, want, V, tol)
}

// checkLogits fails the test at the first position whose logits in got
// (V per position) are further than tol in relative error from want's, and
// logs the worst error; label starts both messages.
func checkLogits(t *testing.T, label string, got []float32, want [][]float64, V int, tol float64) {
	t.Helper()
	worst := 0.0
	for p := range want {
		e := relErr(got[p*V:(p+1)*V], want[p])
		worst = math.Max(worst, e)
		if e > tol {
			t.Fatalf("%sposition %d: relative logit error %.3g > %.3g", label, p, e, tol)
		}
	}
	t.Logf("%s%d positions, worst relative logit error %.3g", label, len(want), worst)
}

// loadHFFloat64 reads every tensor of the Hugging Face folder dir as
// float64 values under its GGUF name, in the original Hugging Face row
// order; per-expert tensors are stacked, expert by expert, under the GGUF
// name of their stack.
func loadHFFloat64(t *testing.T, dir string) map[string][]float64 {
	t.Helper()
	src, err := format.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	vals := map[string][]float64{}
	experts := map[string][][]float64{}
	for _, ti := range src.Tensors() {
		sr, err := src.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		raw := make([]byte, sr.Size())
		if _, err := sr.ReadAt(raw, 0); err != nil {
			t.Fatal(err)
		}
		f := make([]float32, ti.NumElements())
		if err := format.DecodeFloats(ti.Type, raw, f); err != nil {
			t.Fatal(err)
		}
		v := make([]float64, len(f))
		for i := range f {
			v[i] = float64(f[i])
		}
		if name, e, ok := model.ExpertGGUFName(ti.Name); ok {
			for len(experts[name]) <= e {
				experts[name] = append(experts[name], nil)
			}
			experts[name][e] = v
			continue
		}
		name, ok := model.GGUFName(ti.Name)
		if !ok {
			t.Fatalf("unknown HF tensor %s", ti.Name)
		}
		vals[name] = v
	}
	for name, es := range experts {
		for _, v := range es {
			vals[name] = append(vals[name], v...)
		}
	}
	return vals
}
