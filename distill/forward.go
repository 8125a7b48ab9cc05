package distill

import "fmt"

// layerActs holds what one block's backward pass needs from its forward
// pass.
type layerActs struct {
	x         []float32 // residual stream entering the block (T×D)
	xn1, r1   []float32 // attention norm output and inverse rms
	q, k, v   []float32 // projections, q and k after RoPE
	p         []float32 // attention probabilities (heads×T×T)
	att       []float32 // attention output before Wo (T×qd)
	h         []float32 // residual after attention (T×D)
	xn2, r2   []float32 // feed-forward norm output and inverse rms
	g, u, act []float32 // gate, up and silu(gate)⊙up (T×F)
}

// Pass is the record of one forward pass over a sequence: the logits, the
// residual stream after every block and what the backward pass needs.
type Pass struct {
	T      int
	Tokens []int32
	Logits []float32   // T×VocabSize
	Hidden [][]float32 // Hidden[l]: residual stream after block l (T×Dim)
	layers []layerActs
	xf     []float32 // residual after the last block
	xnf    []float32 // final norm output
	rf     []float32
}

// Forward runs the model over tokens (positions 0..len-1) and returns the
// logits after every token with what Backward needs. With keep false only
// the logits and hidden states are kept (inference, e.g. a teacher).
func (m *Model) Forward(tokens []int32, keep bool) (*Pass, error) {
	c := m.Config
	T, D, V := len(tokens), c.Dim, c.VocabSize
	if T == 0 {
		return nil, fmt.Errorf("distill: forward pass over no tokens")
	}
	for _, t := range tokens {
		if t < 0 || int(t) >= V {
			return nil, fmt.Errorf("distill: token %d outside the vocabulary of %d", t, V)
		}
	}
	cos, sin := m.rope(T)
	ps := &Pass{T: T, Tokens: tokens, layers: make([]layerActs, c.Layers), Hidden: make([][]float32, c.Layers)}
	x := make([]float32, T*D)
	for t, id := range tokens {
		m.embd.embed(x[t*D:(t+1)*D], int(id))
	}
	for l := range m.layers {
		a, y := m.blockForward(l, x, cos, sin)
		ps.Hidden[l] = y
		if keep && m.Recompute {
			ps.layers[l] = layerActs{x: x}
		} else if keep {
			ps.layers[l] = a
		}
		x = y
	}
	ps.xf = x
	ps.xnf, ps.rf = make([]float32, T*D), make([]float32, T)
	rmsFwd(ps.xnf, ps.rf, x, m.outNorm.W, T, D, c.NormEps)
	ps.Logits = make([]float32, T*V)
	m.out.fwd(ps.Logits, ps.xnf, T, D, V)
	if !keep {
		ps.layers, ps.xnf, ps.rf = nil, nil, nil
	}
	return ps, nil
}

// Backward adds to every parameter's gradient (Param.G, allocated by the
// caller through zeroGrads) the gradient of a loss whose gradient with
// respect to the logits is dlogits (T×VocabSize) and, for the blocks where
// dhidden[l] is not nil, with respect to the residual stream after block l.
func (m *Model) Backward(ps *Pass, dlogits []float32, dhidden [][]float32) {
	c := m.Config
	T, D, V := ps.T, c.Dim, c.VocabSize
	cos, sin := m.rope(T)
	dxnf := make([]float32, T*D)
	m.out.bwd(dxnf, dlogits, ps.xnf, T, D, V)
	dx := make([]float32, T*D)
	rmsBwd(dx, gradOf(m.outNorm), dxnf, ps.xf, m.outNorm.W, ps.rf, T, D)
	for l := len(m.layers) - 1; l >= 0; l-- {
		if l < len(dhidden) && dhidden[l] != nil {
			for i, v := range dhidden[l] {
				dx[i] += v
			}
		}
		L := &m.layers[l]
		a := &ps.layers[l]
		if a.xn1 == nil { // recomputation: only the block's input was kept
			full, _ := m.blockForward(l, a.x, cos, sin)
			a = &full
		}
		qd, kd, F, hd := L.heads*c.HeadDim, L.kvHeads*c.HeadDim, L.ffn, c.HeadDim
		// Feed-forward: y = h + Wdown·swiglu(Wgate·n, Wup·n), n = rms(h).
		dact := make([]float32, T*F)
		L.down.bwd(dact, dx, a.act, T, F, D)
		dg, du := make([]float32, T*F), make([]float32, T*F)
		swigluBwd(dg, du, dact, a.g, a.u)
		dxn := make([]float32, T*D)
		L.gate.bwd(dxn, dg, a.xn2, T, D, F)
		L.up.bwd(dxn, du, a.xn2, T, D, F)
		dh := dx // the residual passes through
		rmsBwd(dh, gradOf(L.ffnNorm), dxn, a.h, L.ffnNorm.W, a.r2, T, D)
		// Attention: h = x + Wo·attn(rope(Wq·n), rope(Wk·n), Wv·n), n = rms(x).
		datt := make([]float32, T*qd)
		L.o.bwd(datt, dh, a.att, T, qd, D)
		dq, dk, dv := make([]float32, T*qd), make([]float32, T*kd), make([]float32, T*kd)
		attnBwd(dq, dk, dv, datt, a.p, a.q, a.k, a.v, T, L.heads, L.kvHeads, hd)
		ropeApply(dq, T, L.heads, hd, c.RopeDim, cos, sin, c.RopeNeox, true)
		ropeApply(dk, T, L.kvHeads, hd, c.RopeDim, cos, sin, c.RopeNeox, true)
		clear(dxn)
		L.q.bwd(dxn, dq, a.xn1, T, D, qd)
		L.k.bwd(dxn, dk, a.xn1, T, D, kd)
		L.v.bwd(dxn, dv, a.xn1, T, D, kd)
		rmsBwd(dh, gradOf(L.attnNorm), dxn, a.x, L.attnNorm.W, a.r1, T, D)
		dx = dh
	}
	if !m.embd.Frozen || m.embd.LoRA != nil {
		for t, id := range ps.Tokens {
			axpy(1, dx[t*D:(t+1)*D], m.embd.G[int(id)*D:(int(id)+1)*D])
		}
	}
}

// blockForward runs block l over the residual stream x (T×Dim) and
// returns what its backward pass needs and the block's output.
func (m *Model) blockForward(l int, x, cos, sin []float32) (layerActs, []float32) {
	c := m.Config
	D := c.Dim
	T := len(x) / D
	L := &m.layers[l]
	qd, kd, F, hd := L.heads*c.HeadDim, L.kvHeads*c.HeadDim, L.ffn, c.HeadDim
	a := layerActs{
		x: x, xn1: make([]float32, T*D), r1: make([]float32, T),
		q: make([]float32, T*qd), k: make([]float32, T*kd), v: make([]float32, T*kd),
		p: make([]float32, L.heads*T*T), att: make([]float32, T*qd),
		xn2: make([]float32, T*D), r2: make([]float32, T),
		g: make([]float32, T*F), u: make([]float32, T*F), act: make([]float32, T*F),
	}
	rmsFwd(a.xn1, a.r1, x, L.attnNorm.W, T, D, c.NormEps)
	L.q.fwd(a.q, a.xn1, T, D, qd)
	L.k.fwd(a.k, a.xn1, T, D, kd)
	L.v.fwd(a.v, a.xn1, T, D, kd)
	ropeApply(a.q, T, L.heads, hd, c.RopeDim, cos, sin, c.RopeNeox, false)
	ropeApply(a.k, T, L.kvHeads, hd, c.RopeDim, cos, sin, c.RopeNeox, false)
	attnFwd(a.att, a.p, a.q, a.k, a.v, T, L.heads, L.kvHeads, hd)
	o := make([]float32, T*D)
	L.o.fwd(o, a.att, T, qd, D)
	a.h = o
	for i := range o {
		o[i] += x[i]
	}
	rmsFwd(a.xn2, a.r2, a.h, L.ffnNorm.W, T, D, c.NormEps)
	L.gate.fwd(a.g, a.xn2, T, D, F)
	L.up.fwd(a.u, a.xn2, T, D, F)
	swigluFwd(a.act, a.g, a.u)
	y := make([]float32, T*D)
	L.down.fwd(y, a.act, T, F, D)
	for i := range y {
		y[i] += a.h[i]
	}
	return a, y
}

// gradOf returns the gradient slice of p, or nil when p is frozen and has
// no adapter (its gradient is not needed).
func gradOf(p *Param) []float32 {
	if p.Frozen && p.LoRA == nil {
		return nil
	}
	return p.G
}
