package engine

import (
	"math"

	"github.com/shrink-llm/shrink/model"
)

// ExpertObserver is an Observer that also sees the routed feed-forward of
// mixture-of-experts layers. A Session whose Observer implements it calls
// Routing once per MoE layer and ExpertLinear, instead of Linear, for the
// products with one expert's slice of a stacked expert tensor; a plain
// Observer gets Linear with the stacked tensor's name and the rows routed
// to each expert in turn.
type ExpertObserver interface {
	Observer
	// Routing reports the choice of layer's router for rows tokens:
	// experts[t*k+i] is token t's i-th chosen expert (best first) and
	// weights[t*k+i] the weight its output is scaled by.
	Routing(layer int, experts []int32, weights []float32, rows, k int)
	// ExpertLinear is called with the input of the product with expert
	// expert's slice of the stacked weight name (e.g.
	// "blk.3.ffn_down_exps.weight"): the rows tokens routed to it.
	ExpertLinear(name string, expert int, x []float32, rows, cols int)
}

// ExpertOutputObserver, implemented by an Observer besides
// ExpertObserver, also sees what each expert computes: y holds the
// outputs (rows x cols, before the gate weight) of expert expert of
// layer for the (token, choice) pairs slots, each t*k+i indexing the
// arrays of the layer's last Routing call. Expert-pruning scores (REAP's
// gate weight x output norm) are made of it.
type ExpertOutputObserver interface {
	ExpertOutput(layer, expert int, slots []int, y []float32, rows, cols int)
}

// moeLayer holds one block's routed feed-forward.
type moeLayer struct {
	router            weight   // ffn_gate_inp: Experts rows of Dim, F32
	gate, up, down    []weight // each expert's slice of ffn_{gate,up,down}_exps
	sGate, sUp, sDown weight   // shared expert (rows 0 when none)
	sGateInp          []float32
	probsBias         []float32 // exp_probs_b, nil when none
	names             [3]string // stacked tensor names for observers
	sharedW           int       // shared expert width
}

// expertViews returns the per-expert slices of a stacked tensor of n
// experts, each rows x cols.
func expertViews(w weight, n int) []weight {
	rows := w.rows / n
	out := make([]weight, n)
	for e := range out {
		v := w
		v.rows = rows
		v.data = w.data[e*rows*w.rowBytes : (e+1)*rows*w.rowBytes : (e+1)*rows*w.rowBytes]
		out[e] = v
	}
	return out
}

// moeScratch is a Session's buffers for routed feed-forward passes.
type moeScratch struct {
	logits, probs, sel []float32 // T x Experts
	chosen             []int32   // T x k
	weights            []float32 // T x k
	count, start       []int     // per expert: tokens routed, first slot in order
	order              []int     // (token*k + slot) grouped by expert
	xg, g, u, y        []float32 // gathered inputs, gate/up, expert outputs
	out                []float32 // T x k x Dim weighted expert outputs
	groupScore         []float32
	groupOK            []bool
}

// moeFFN computes the routed feed-forward of layer l for the T normalised
// rows s.xn into s.o, as llama.cpp's build_moe_ffn does: router logits,
// softmax or sigmoid scores, experts chosen on the scores plus any
// selection bias (within the best groups, for group-limited routing),
// weights from the unbiased scores, renormalised and scaled as the
// configuration says; each chosen expert's SwiGLU output times its weight,
// summed in order of choice; plus the shared expert (times the sigmoid of
// its gate, for Qwen2-MoE). Tokens are grouped by expert, so each expert's
// weights are read once per pass and only chosen experts are read.
func (s *Session) moeFFN(l, T int) {
	m := s.m
	c := m.Config
	L := &m.layers[l]
	X := L.moe
	D, E, k := c.Dim, c.Experts, c.ExpertsUsed
	ms := &s.moe
	ms.logits = grow(ms.logits, T*E)
	s.matmul(&X.router, s.xn, T, ms.logits, nil, X.router.name)
	ms.probs = grow(ms.probs, T*E)
	ms.sel = grow(ms.sel, T*E)
	if cap(ms.chosen) < T*k {
		ms.chosen = make([]int32, T*k)
	}
	ms.chosen = ms.chosen[:T*k]
	ms.weights = grow(ms.weights, T*k)
	for t := 0; t < T; t++ {
		route(&c.MoE, X.probsBias, ms.logits[t*E:(t+1)*E], ms.probs[t*E:(t+1)*E], ms.sel[t*E:(t+1)*E],
			ms.chosen[t*k:(t+1)*k], ms.weights[t*k:(t+1)*k], ms)
	}
	eo, _ := s.Observer.(ExpertObserver)
	if eo != nil {
		eo.Routing(l, ms.chosen, ms.weights, T, k)
	}
	s.groupByExpert(T, E, k)
	ms.out = grow(ms.out, T*k*D)
	F := c.ExpertFFN
	for e := 0; e < E; e++ {
		n := ms.count[e]
		if n == 0 {
			continue
		}
		slots := ms.order[ms.start[e] : ms.start[e]+n]
		ms.xg = grow(ms.xg, n*D)
		for i, sl := range slots {
			t := sl / k
			copy(ms.xg[i*D:(i+1)*D], s.xn[t*D:(t+1)*D])
		}
		ms.g = grow(ms.g, n*F)
		ms.u = grow(ms.u, n*F)
		ms.y = grow(ms.y, n*D)
		s.invalidate()
		s.expert = e + 1
		s.matmulN(ms.xg, n, true, mmArg{&X.gate[e], ms.g, nil, X.names[0]}, mmArg{&X.up[e], ms.u, nil, X.names[1]})
		s.matmul(&X.down[e], ms.g, n, ms.y, nil, X.names[2])
		s.expert = 0
		if oo, ok := s.Observer.(ExpertOutputObserver); ok && eo != nil {
			oo.ExpertOutput(l, e, slots, ms.y[:n*D], n, D)
		}
		for i, sl := range slots {
			w := ms.weights[sl]
			dst, src := ms.out[sl*D:(sl+1)*D], ms.y[i*D:(i+1)*D]
			for j, v := range src {
				dst[j] = v * w
			}
		}
	}
	s.invalidate()
	for t := 0; t < T; t++ {
		o := s.o[t*D : (t+1)*D]
		copy(o, ms.out[t*k*D:(t*k+1)*D])
		for i := 1; i < k; i++ {
			for j, v := range ms.out[(t*k+i)*D : (t*k+i+1)*D] {
				o[j] += v
			}
		}
	}
	if X.sharedW > 0 {
		s.sharedFFN(X, T)
	}
}

// sharedFFN adds the shared expert's output for the T rows s.xn to s.o,
// times sigmoid(ffn_gate_inp_shexp · x) when the layer has that gate.
func (s *Session) sharedFFN(X *moeLayer, T int) {
	D, F := s.m.Config.Dim, X.sharedW
	s.g = grow(s.g, T*F)
	s.u = grow(s.u, T*F)
	ms := &s.moe
	ms.y = grow(ms.y, T*D)
	s.matmulN(s.xn, T, true, mmArg{&X.sGate, s.g, nil, X.sGate.name}, mmArg{&X.sUp, s.u, nil, X.sUp.name})
	s.matmul(&X.sDown, s.g, T, ms.y, nil, X.sDown.name)
	for t := 0; t < T; t++ {
		y := ms.y[t*D : (t+1)*D]
		if X.sGateInp != nil {
			var dot float32
			for j, v := range s.xn[t*D : (t+1)*D] {
				dot += v * X.sGateInp[j]
			}
			g := sigmoid(dot)
			for j := range y {
				y[j] *= g
			}
		}
		o := s.o[t*D : (t+1)*D]
		for j, v := range y {
			o[j] += v
		}
	}
}

// groupByExpert fills the scratch's count, start and order: the (token,
// slot) pairs t*k+i of each expert, experts in index order, tokens in
// order within each.
func (s *Session) groupByExpert(T, E, k int) {
	ms := &s.moe
	if cap(ms.count) < E {
		ms.count, ms.start = make([]int, E), make([]int, E)
	}
	ms.count, ms.start = ms.count[:E], ms.start[:E]
	clear(ms.count)
	for _, e := range ms.chosen {
		ms.count[e]++
	}
	sum := 0
	for e, n := range ms.count {
		ms.start[e] = sum
		sum += n
	}
	if cap(ms.order) < T*k {
		ms.order = make([]int, T*k)
	}
	ms.order = ms.order[:T*k]
	next := append([]int(nil), ms.start...)
	for sl, e := range ms.chosen {
		ms.order[next[e]] = sl
		next[e]++
	}
}

func sigmoid(x float32) float32 { return float32(1 / (1 + math.Exp(float64(-x)))) }

// route chooses a token's experts from its router logits (E values):
// probs gets the scores (softmax over the logits, or each one's
// sigmoid), sel the selection scores (plus the bias, when given), chosen
// the k experts of highest selection score (best first, ties to the lower
// index; only within the GroupsUsed best groups for group-limited
// routing) and weights their unbiased scores, divided by their sum when
// cfg.Norm and multiplied by cfg.Scale when it is not 0.
func route(cfg *model.MoE, bias, logits, probs, sel []float32, chosen []int32, weights []float32, ms *moeScratch) {
	if cfg.Gating == model.GatingSigmoid {
		for i, v := range logits {
			probs[i] = sigmoid(v)
		}
	} else {
		softmax(probs, logits)
	}
	copy(sel, probs)
	for i, b := range bias {
		sel[i] += b
	}
	if cfg.Groups > 1 && cfg.GroupsUsed < cfg.Groups {
		maskGroups(cfg, sel, ms)
	}
	for i := range chosen {
		best := -1
		for e, v := range sel {
			if best < 0 || v > sel[best] {
				best = e
			}
		}
		chosen[i] = int32(best)
		weights[i] = probs[best]
		sel[best] = float32(math.Inf(-1))
	}
	if cfg.Norm {
		var sum float32
		for _, w := range weights {
			sum += w
		}
		for i := range weights {
			weights[i] /= sum
		}
	}
	if cfg.Scale != 0 {
		for i := range weights {
			weights[i] *= cfg.Scale
		}
	}
}

// maskGroups sets to -Inf the selection scores of experts outside the
// cfg.GroupsUsed best of cfg.Groups equal groups. A group scores the sum
// of its two best selection scores when the model has a selection bias
// (DeepSeek-V3's noaux_tc), else its best score (DeepSeek-V2's
// group_limited_greedy).
func maskGroups(cfg *model.MoE, sel []float32, ms *moeScratch) {
	G := cfg.Groups
	size := len(sel) / G
	ms.groupScore = grow(ms.groupScore, G)
	if cap(ms.groupOK) < G {
		ms.groupOK = make([]bool, G)
	}
	ok := ms.groupOK[:G]
	for g := 0; g < G; g++ {
		a, b := float32(math.Inf(-1)), float32(math.Inf(-1)) // best two
		for _, v := range sel[g*size : (g+1)*size] {
			if v > a {
				a, b = v, a
			} else if v > b {
				b = v
			}
		}
		ms.groupScore[g] = a
		if cfg.ProbsBias && size > 1 {
			ms.groupScore[g] = a + b
		}
		ok[g] = false
	}
	for i := 0; i < cfg.GroupsUsed; i++ {
		best := -1
		for g := 0; g < G; g++ {
			if !ok[g] && (best < 0 || ms.groupScore[g] > ms.groupScore[best]) {
				best = g
			}
		}
		ok[best] = true
	}
	for g := 0; g < G; g++ {
		if !ok[g] {
			for i := g * size; i < (g+1)*size; i++ {
				sel[i] = float32(math.Inf(-1))
			}
		}
	}
}

// softmax writes the softmax of x to dst as ggml's soft_max does: float32
// exponentials of x - max, summed in float64, scaled by 1/sum.
func softmax(dst, x []float32) {
	mx := float32(math.Inf(-1))
	for _, v := range x {
		mx = max(mx, v)
	}
	var sum float64
	for i, v := range x {
		e := float32(math.Exp(float64(v - mx)))
		dst[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range dst {
		dst[i] *= inv
	}
}
