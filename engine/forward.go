package engine

import (
	"fmt"
	"math"

	"github.com/shrink-llm/shrink/internal/kernel"
	"github.com/shrink-llm/shrink/quantize"
)

// Observer watches a forward pass, for calibration statistics (importance
// matrices, GPTQ Hessians, pruning scores). The slices passed are only valid
// during the call and must not be modified. A Session without an observer
// pays nothing for this hook.
type Observer interface {
	// Linear is called with the input of the product with the weight
	// named name (its GGUF name, e.g. "blk.3.attn_q.weight" or
	// "output.weight"): rows tokens of cols values, row-major. The input
	// of q, k and v is the same slice, reported once per weight, as are
	// the inputs of ffn_gate and ffn_up.
	Linear(name string, x []float32, rows, cols int)
	// Residual is called with the residual stream entering block layer
	// (rows tokens of cols = Dim values); layer == Config.Layers gives the
	// output of the last block, before the final norm.
	Residual(layer int, x []float32, rows, cols int)
}

// Session is one sequence being evaluated: its key/value cache and scratch
// buffers. A Session is not safe for concurrent use; use one per goroutine.
type Session struct {
	// Observer, when not nil, is called during Forward.
	Observer Observer

	m      *Model
	ctx    int
	pos    int
	kcache [][]float32 // per layer: positions x KVDim
	vcache [][]float32

	// scratch
	x, xn, q, k, v, att, o, g, u []float32
	cos, sin                     []float32 // rotary angles of the pass (ropeAngles)
	vecs                         [kernel.ActNone][]kernel.Vec
	vecSrc                       [kernel.ActNone][]float32 // slice the vecs were made from
	scores                       [][]float32
	logits                       []float32

	// parallel tasks (reused, so decoding allocates nothing)
	mm  matmulTask
	at  attnTask
	gen uint64 // generation of the last parallel task

	moe     moeScratch
	mt      mlaTask   // latent attention task (mla.go)
	lat     []float32 // latent rows of a pass (mlaforward.go)
	kvx     []float32 // decompressed keys and values (naive latent attention)
	mlaForm int       // mlaAuto, or a form forced by tests
	expert  int       // 1 + the expert whose slice is being multiplied, 0 for none
}

// observeLinear reports the input of a product to the observer: to
// ExpertLinear while an expert's slice is multiplied and the observer
// wants it, else to Linear.
func (s *Session) observeLinear(name string, x []float32, rows, cols int) {
	if s.expert > 0 {
		if eo, ok := s.Observer.(ExpertObserver); ok {
			eo.ExpertLinear(name, s.expert-1, x, rows, cols)
			return
		}
	}
	s.Observer.Linear(name, x, rows, cols)
}

// NewSession starts a sequence of at most ctx tokens (ctx <= 0: the model's
// context length). The cache grows as tokens arrive.
func (m *Model) NewSession(ctx int) *Session {
	if ctx <= 0 {
		ctx = m.Config.Context
	}
	if ctx <= 0 {
		ctx = 2048
	}
	return &Session{
		m:      m,
		ctx:    ctx,
		kcache: make([][]float32, len(m.layers)),
		vcache: make([][]float32, len(m.layers)),
	}
}

// Model returns the session's model.
func (s *Session) Model() *Model { return s.m }

// Pos returns the number of tokens in the cache (the position of the next
// token).
func (s *Session) Pos() int { return s.pos }

// Context returns the session's maximum number of tokens.
func (s *Session) Context() int { return s.ctx }

// Reset empties the cache so the session can start a new sequence.
func (s *Session) Reset() { s.pos = 0 }

// Truncate drops the cached tokens from position n on (n <= Pos()).
func (s *Session) Truncate(n int) {
	if n >= 0 && n < s.pos {
		s.pos = n
	}
}

// Forward evaluates tokens at the next positions, appending them to the
// cache, and returns the logits (Config.VocabSize values) after the last one.
// The slice is reused by the next call.
func (s *Session) Forward(tokens []int32) ([]float32, error) {
	return s.forward(tokens, false)
}

// ForwardAll is Forward returning the logits after every token:
// len(tokens) rows of Config.VocabSize values. The slice is reused by the
// next call.
func (s *Session) ForwardAll(tokens []int32) ([]float32, error) {
	return s.forward(tokens, true)
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func (s *Session) forward(tokens []int32, all bool) ([]float32, error) {
	m := s.m
	c := m.Config
	T := len(tokens)
	if T == 0 {
		return nil, fmt.Errorf("engine: no tokens to evaluate")
	}
	if s.pos+T > s.ctx {
		return nil, fmt.Errorf("%w: %d cached + %d new tokens exceed the context of %d", ErrContext, s.pos, T, s.ctx)
	}
	for i, t := range tokens {
		if t < 0 || int(t) >= c.VocabSize {
			return nil, fmt.Errorf("%w: token %d (index %d) not in 0..%d", ErrToken, t, i, c.VocabSize-1)
		}
	}
	D := c.Dim
	s.x = grow(s.x, T*D)
	s.xn = grow(s.xn, T*D)
	emb := m.tokEmbd
	for i, t := range tokens {
		row := emb.data[int(t)*emb.rowBytes : (int(t)+1)*emb.rowBytes]
		if err := quantize.DecodeRow(emb.typ, s.x[i*D:(i+1)*D], row); err != nil {
			return nil, fmt.Errorf("engine: token_embd.weight row %d: %w", t, err)
		}
	}
	s.ropeAngles(T)
	for l := range m.layers {
		if s.Observer != nil {
			s.Observer.Residual(l, s.x, T, D)
		}
		s.block(l, T)
		if m.stream {
			m.ReleaseBlock(l)
		}
	}
	if s.Observer != nil {
		s.Observer.Residual(len(m.layers), s.x, T, D)
	}
	first := T - 1
	if all {
		first = 0
	}
	logits := s.head(s.x[first*D : T*D])
	s.pos += T
	return logits, nil
}

// head returns the logits of the rows of x (each Dim values): the final
// RMSNorm and output.weight, in the session's logits buffer.
func (s *Session) head(x []float32) []float32 {
	m, c := s.m, s.m.Config
	D := c.Dim
	n := len(x) / D
	s.invalidate()
	s.xn = grow(s.xn, n*D)
	for t := 0; t < n; t++ {
		rmsNorm(s.xn[t*D:(t+1)*D], x[t*D:(t+1)*D], m.outNorm, c.NormEps)
	}
	s.logits = grow(s.logits, n*c.VocabSize)
	s.matmul(&m.output, s.xn[:n*D], n, s.logits, nil, "output.weight")
	s.invalidate()
	return s.logits
}

// rmsNorm writes x/sqrt(mean(x²)+eps)·w to dst.
func rmsNorm(dst, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	scale := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	for i, v := range x {
		dst[i] = v * scale * w[i]
	}
}

// prepare returns the activation rows of x (T rows of cols) in kind k,
// quantizing them once per source slice.
func (s *Session) prepare(x []float32, T, cols int, k kernel.ActKind) []kernel.Vec {
	vs := s.vecs[k]
	if cap(vs) < T {
		vs = make([]kernel.Vec, T)
	}
	vs = vs[:T]
	s.vecs[k] = vs
	src := s.vecSrc[k]
	if len(src) == len(x) && len(x) > 0 && &src[0] == &x[0] && len(vs) > 0 && len(vs[0].F) == cols {
		return vs
	}
	for i := range vs {
		s.m.kern.Quantize(&vs[i], x[i*cols:(i+1)*cols], k)
	}
	s.m.kern.Prepare(vs, k) // batches: pack once for tile kernels
	s.vecSrc[k] = x
	return vs
}

// invalidate forgets the prepared activations (their source was rewritten).
func (s *Session) invalidate() {
	for k := range s.vecSrc {
		s.vecSrc[k] = nil
	}
}

// matmul computes out[t*w.rows+r] = W[r]·x[t] (+bias[r]) for T rows of x.
func (s *Session) matmul(w *weight, x []float32, T int, out []float32, bias []float32, name string) {
	s.matmulN(x, T, false, mmArg{w, out, bias, name})
}

// mmArg is one product of matmulN.
type mmArg struct {
	w         *weight
	out, bias []float32
	name      string
}

// matmulN computes the products (at most three) of the weights in ps with
// the same input x (T rows) as one parallel task. With glu, ps are the gate
// and up projections of a SwiGLU feed-forward (same rows): each tile
// computes both for its rows, adds their biases and leaves
// silu(gate)*up in the gate's output, so the activation runs in parallel
// with no further meeting of the threads.
func (s *Session) matmulN(x []float32, T int, glu bool, ps ...mmArg) {
	mt := &s.mm
	mt.kern, mt.np, mt.glu, mt.T = s.m.kern, len(ps), glu, T
	mt.starts = mt.starts[:0]
	n := s.m.threads
	work := 0
	for i := range ps {
		p := &ps[i]
		w := p.w
		if s.Observer != nil {
			s.observeLinear(p.name, x, T, w.cols)
		}
		work += w.rows * w.cols * T
		t0 := len(mt.starts)
		if !glu || i == 0 {
			mt.starts = appendTiles(mt.starts, w.rows, w.rowBytes*len(ps), T, n)
		}
		mt.parts[i] = mmPart{w: w, vs: s.prepare(x, T, w.cols, kernel.KindOf(w.typ)), out: p.out, bias: p.bias, t0: t0, t1: len(mt.starts)}
	}
	ntiles := len(mt.starts)
	if work < 1<<15 {
		n = 1
	}
	s.gen++
	s.m.runParallel(mt, &mt.c, s.gen, ntiles, min(n, ntiles))
	for i := range ps {
		mt.parts[i] = mmPart{}
		if bias := ps[i].bias; bias != nil && !glu {
			rows := ps[i].w.rows
			for t := 0; t < T; t++ {
				o := ps[i].out[t*rows : (t+1)*rows]
				for r, b := range bias {
					o[r] += b
				}
			}
		}
	}
}

// appendTiles appends to starts the first rows of the tiles that a product
// of rows weight rows (rowBytes bytes each) with T activation rows is split
// into for n goroutines.
//
// With several activation rows a tile has at most 64 rows, so that it
// stays in cache while each activation row passes over it, and there are
// at least 8 tiles per goroutine, so that the load balances; tiles are
// multiples of 16 rows (when there are that many). A single
// activation row (decode) streams each weight once: a tile restarts that
// stream and costs about 0.7 µs in claiming and prefetching, so the tiles
// are as large as the balance allows: each takes 1/n of the rows left,
// between 32 KiB and 4 MiB of weights (guided self-scheduling), so that
// the goroutines finish together on small tiles. On TinyLlama-1.1B Q4_0
// with 2 threads this decodes 32 tokens/s where fixed tiles of 256 rows
// give 28.5 and tiles of 1/(2n) of the rest 30.
func appendTiles(starts []int, rows, rowBytes, T, n int) []int {
	n = max(n, 1)
	if T > 1 {
		tile := min(64, max(4, rows/(8*n)))
		if rows >= 16 {
			// The 16-row tile kernels (MatMul16) and the 4-row register
			// tiles (MatMul4 of F16/BF16) take the rows past a multiple
			// of their height on another path: tiles of whole multiples
			// of 16 keep the split, and so the results, the same for
			// every n.
			tile = max(16, tile&^15)
		}
		for r := 0; r < rows; r += tile {
			starts = append(starts, r)
		}
		return starts
	}
	lo := max(4, (32<<10)/max(rowBytes, 1))
	hi := max(lo, (4<<20)/max(rowBytes, 1))
	for r := 0; r < rows; {
		starts = append(starts, r)
		r += min(max((rows-r)/n, lo), hi)
	}
	return starts
}

func (s *Session) block(l, T int) {
	m := s.m
	c := m.Config
	L := &m.layers[l]
	D, hd := c.Dim, c.HeadDim
	qd, kd := L.heads*hd, L.kvHeads*hd
	if L.mla != nil {
		s.mlaAttention(l, T)
		s.feedForward(l, T)
		return
	}
	s.invalidate()
	for t := 0; t < T; t++ {
		rmsNorm(s.xn[t*D:(t+1)*D], s.x[t*D:(t+1)*D], L.attnNorm, c.NormEps)
	}
	s.q = grow(s.q, T*qd)
	s.k = grow(s.k, T*kd)
	s.v = grow(s.v, T*kd)
	s.matmulN(s.xn, T, false, mmArg{&L.q, s.q, L.bq, L.q.name}, mmArg{&L.k, s.k, L.bk, L.k.name}, mmArg{&L.v, s.v, L.bv, L.v.name})
	if L.qNorm != nil {
		headNorms(s.q[:T*qd], L.qNorm, hd, c.NormEps)
		headNorms(s.k[:T*kd], L.kNorm, hd, c.NormEps)
	}
	for t := 0; t < T; t++ {
		s.rope(s.q[t*qd:(t+1)*qd], L.heads, t)
		s.rope(s.k[t*kd:(t+1)*kd], L.kvHeads, t)
	}
	// Append to the cache.
	need := (s.pos + T) * kd
	if cap(s.kcache[l]) < need {
		nc := max(need, 2*cap(s.kcache[l]), 64*kd)
		nc = min(nc, s.ctx*kd)
		nk := make([]float32, s.pos*kd, nc)
		copy(nk, s.kcache[l][:s.pos*kd])
		nv := make([]float32, s.pos*kd, nc)
		copy(nv, s.vcache[l][:s.pos*kd])
		s.kcache[l], s.vcache[l] = nk, nv
	}
	kc := s.kcache[l][:need]
	vc := s.vcache[l][:need]
	copy(kc[s.pos*kd:], s.k)
	copy(vc[s.pos*kd:], s.v)
	s.kcache[l], s.vcache[l] = kc, vc

	// Attention, split over (token, head) pairs.
	s.att = grow(s.att, T*qd)
	threads := m.threads
	if len(s.scores) < threads {
		s.scores = make([][]float32, threads)
	}
	at := &s.at
	at.s, at.L, at.T, at.qd, at.kd, at.hd = s, L, T, qd, kd, hd
	at.group = L.heads / L.kvHeads
	at.scale = float32(1 / math.Sqrt(float64(hd)))
	at.kc, at.vc = kc, vc
	at.nJobs = T * L.heads
	at.chunk = max(1, at.nJobs/(4*threads))
	n := threads
	if at.nJobs*(s.pos+T)*hd < 1<<15 {
		n = 1
	}
	s.gen++
	m.runParallel(at, &at.c, s.gen, (at.nJobs+at.chunk-1)/at.chunk, min(n, at.nJobs))
	at.s, at.L, at.kc, at.vc = nil, nil, nil, nil
	s.o = grow(s.o, T*D)
	s.matmul(&L.o, s.att, T, s.o, L.bo, L.o.name)
	for i, v := range s.o {
		s.x[i] += v
	}
	s.feedForward(l, T)
}

// feedForward adds block l's feed-forward (dense or routed) output to the
// residual stream of the pass's T tokens.
func (s *Session) feedForward(l, T int) {
	m := s.m
	c := m.Config
	L := &m.layers[l]
	D := c.Dim
	s.invalidate()
	for t := 0; t < T; t++ {
		rmsNorm(s.xn[t*D:(t+1)*D], s.x[t*D:(t+1)*D], L.ffnNorm, c.NormEps)
	}
	if L.moe != nil {
		s.moeFFN(l, T)
	} else {
		F := L.ffn
		s.g = grow(s.g, T*F)
		s.u = grow(s.u, T*F)
		s.matmulN(s.xn, T, true, mmArg{&L.gate, s.g, L.bGate, L.gate.name}, mmArg{&L.up, s.u, L.bUp, L.up.name})
		s.matmul(&L.down, s.g, T, s.o, L.bDown, L.down.name)
	}
	for i, v := range s.o {
		s.x[i] += v
	}
	s.invalidate()
}

// headNorms RMS-normalises each head (hd values) of x in place with
// weight w (Qwen3's attn_q_norm and attn_k_norm).
func headNorms(x, w []float32, hd int, eps float32) {
	for h := 0; h+hd <= len(x); h += hd {
		rmsNorm(x[h:h+hd], x[h:h+hd], w, eps)
	}
}

// ropeAngles fills s.cos and s.sin with the rotary angles of the T
// positions s.pos.. (T x RopeDim/2 each), once per forward pass for every
// layer: theta_i = pos * scale / base^(2i/RopeDim), divided by the llama3
// frequency factors when the model has them.
func (s *Session) ropeAngles(T int) {
	m, c := s.m, s.m.Config
	half := c.RopeDim / 2
	s.cos = grow(s.cos, T*half)
	s.sin = grow(s.sin, T*half)
	for t := 0; t < T; t++ {
		p := float64(s.pos+t) * float64(m.ropeScale)
		for i := 0; i < half; i++ {
			if m.yarn != nil {
				cos, sin := m.yarn.angle(float64(s.pos+t), i, c.RopeDim, float64(c.RopeBase))
				s.cos[t*half+i], s.sin[t*half+i] = float32(cos), float32(sin)
				continue
			}
			theta := p * math.Pow(float64(c.RopeBase), -2*float64(i)/float64(c.RopeDim))
			if m.ropeDiv != nil {
				theta /= float64(m.ropeDiv[i])
			}
			sin, cos := math.Sincos(theta)
			s.cos[t*half+i], s.sin[t*half+i] = float32(cos), float32(sin)
		}
	}
}

// rope rotates each of the heads of x (heads x HeadDim values) by the
// angles of position t of the pass (see ropeAngles): adjacent pairs, or the
// two halves of the rotated dimensions for NeoX-style models.
func (s *Session) rope(x []float32, heads, t int) {
	c := s.m.Config
	hd, half := c.HeadDim, c.RopeDim/2
	cs, sn := s.cos[t*half:(t+1)*half], s.sin[t*half:(t+1)*half]
	step, off := 2, 1 // element a = step*i, b = a+off
	if c.RopeNeox {
		step, off = 1, half
	}
	for h := 0; h < heads; h++ {
		v := x[h*hd : (h+1)*hd]
		for i := range cs {
			a := step * i
			x0, x1 := v[a], v[a+off]
			v[a] = x0*cs[i] - x1*sn[i]
			v[a+off] = x0*sn[i] + x1*cs[i]
		}
	}
}

func (t *attnTask) run(gen uint64, worker int) {
	for {
		ci, n, ok := t.c.claim(gen)
		if !ok {
			return
		}
		t.chunkRun(ci*t.chunk, worker)
		t.c.finish(n)
	}
}

// chunkRun does the (token, head) jobs j0..j0+chunk with the score buffer
// of worker.
func (t *attnTask) chunkRun(j0, worker int) {
	s, L := t.s, t.L
	hd, qd, kd := t.hd, t.qd, t.kd
	kern := s.m.kern
	for job := j0; job < min(j0+t.chunk, t.nJobs); job++ {
		tk, h := job/L.heads, job%L.heads
		kvh := h / t.group
		n := s.pos + tk + 1
		sc := grow(s.scores[worker], s.pos+t.T)
		s.scores[worker] = sc
		qv := s.q[tk*qd+h*hd : tk*qd+(h+1)*hd]
		sc = sc[:n]
		// Scores over the cached keys of this KV head (rows kd apart).
		kern.DotRows(qv, t.kc[kvh*hd:], kd, sc)
		mx := float32(math.Inf(-1))
		for p, v := range sc {
			v *= t.scale
			sc[p] = v
			mx = max(mx, v)
		}
		inv := 1 / kern.ExpShift(sc, mx)
		out := s.att[tk*qd+h*hd : tk*qd+(h+1)*hd]
		clear(out)
		kern.AxpyRows(sc, t.vc[kvh*hd:], kd, out)
		for i := range out {
			out[i] *= inv
		}
	}
}
