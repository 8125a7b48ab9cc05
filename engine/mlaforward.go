package engine

import "math"

// Forms of a latent attention pass (Session.mlaForm forces one in tests).
const (
	mlaAuto = iota
	mlaNaive
	mlaAbsorbed
)

// mlaTask is the attention of one pass over (token, head) jobs, in the
// naive or the absorbed form.
type mlaTask struct {
	s            *Session
	X            *mlaLayer
	T, H         int
	nope, rope   int
	v, r         int
	absorbed     bool
	scale        float32
	lat          []float32 // latent cache: rows of r + rope ([c | rope(kr)])
	kvx          []float32 // naive: decompressed rows of H x (nope + v)
	kvbF         []float32 // absorbed: kv_b dequantized
	c            tiles
	nJobs, chunk int
}

// mlaAttention runs block l's latent attention over the T tokens of the
// pass and adds its output to the residual stream.
func (s *Session) mlaAttention(l, T int) {
	m := s.m
	c := m.Config
	L := &m.layers[l]
	X := L.mla
	D, H, kl := c.Dim, L.heads, c.MLA.KeyLength
	nope, rope, v, r := c.Nope(), c.RopeDim, c.MLA.ValueLen, c.MLA.KVLoraRank
	s.invalidate()
	for t := 0; t < T; t++ {
		rmsNorm(s.xn[t*D:(t+1)*D], s.x[t*D:(t+1)*D], L.attnNorm, c.NormEps)
	}
	qd, kw := H*kl, r+rope
	s.q = grow(s.q, T*qd)
	s.k = grow(s.k, T*kw)
	if X.lite {
		s.matmulN(s.xn, T, false, mmArg{&X.q, s.q, nil, X.q.name}, mmArg{&X.kva, s.k, nil, X.kva.name})
	} else {
		qr := X.qa.rows
		s.g = grow(s.g, T*qr)
		s.matmulN(s.xn, T, false, mmArg{&X.qa, s.g, nil, X.qa.name}, mmArg{&X.kva, s.k, nil, X.kva.name})
		for t := 0; t < T; t++ {
			rmsNorm(s.g[t*qr:(t+1)*qr], s.g[t*qr:(t+1)*qr], X.qaNorm, c.NormEps)
		}
		s.invalidate()
		s.matmul(&X.qb, s.g, T, s.q, nil, X.qb.name)
	}
	for t := 0; t < T; t++ {
		row := s.k[t*kw : (t+1)*kw]
		rmsNorm(row[:r], row[:r], X.kvaNorm, c.NormEps)
		s.ropePairs(row[r:], t)
		for h := 0; h < H; h++ {
			s.ropePairs(s.q[t*qd+h*kl+nope:t*qd+(h+1)*kl], t)
		}
	}
	lat := s.appendLatent(l, T, kw)
	N := s.pos + T
	if s.Observer != nil {
		s.observeLinear(X.kvb.name, latentRows(s, lat[s.pos*kw:], T, kw, r), T, r)
	}
	at := &s.mt
	*at = mlaTask{s: s, X: X, T: T, H: H, nope: nope, rope: rope, v: v, r: r, scale: m.mlaScale, lat: lat}
	naiveCost := N*H*(nope+v)*r + T*H*N*(nope+rope+v)
	absorbedCost := T*H*(nope+v)*r + T*H*N*(2*r+rope)
	at.absorbed = s.mlaForm == mlaAbsorbed || (s.mlaForm == mlaAuto && absorbedCost < naiveCost)
	if at.absorbed {
		at.kvbF = X.absorbed()
	} else {
		// Decompress every cached token's keys and values.
		rows := latentRows(s, lat, N, kw, r)
		s.kvx = grow(s.kvx, N*H*(nope+v))
		obs := s.Observer
		s.Observer = nil
		s.matmul(&X.kvb, rows, N, s.kvx, nil, X.kvb.name)
		s.Observer = obs
		at.kvx = s.kvx
	}
	s.att = grow(s.att, T*H*v)
	threads := m.threads
	if len(s.scores) < threads {
		s.scores = make([][]float32, threads)
	}
	at.nJobs = T * H
	at.chunk = max(1, at.nJobs/(4*threads))
	n := threads
	if at.nJobs*N*kw < 1<<15 {
		n = 1
	}
	s.gen++
	m.runParallel(at, &at.c, s.gen, (at.nJobs+at.chunk-1)/at.chunk, min(n, at.nJobs))
	at.s, at.X, at.lat, at.kvx, at.kvbF = nil, nil, nil, nil, nil
	s.o = grow(s.o, T*D)
	s.invalidate()
	s.matmul(&L.o, s.att, T, s.o, nil, L.o.name)
	for i, x := range s.o {
		s.x[i] += x
	}
}

// latentRows copies the first r values of n rows of width kw (the latent
// c of cached tokens) into a contiguous scratch buffer.
func latentRows(s *Session, lat []float32, n, kw, r int) []float32 {
	s.lat = grow(s.lat, n*r)
	for i := 0; i < n; i++ {
		copy(s.lat[i*r:(i+1)*r], lat[i*kw:i*kw+r])
	}
	return s.lat
}

// appendLatent appends the pass's T rows of s.k (kw values each) to layer
// l's latent cache and returns the cache's rows so far.
func (s *Session) appendLatent(l, T, kw int) []float32 {
	need := (s.pos + T) * kw
	if cap(s.kcache[l]) < need {
		nc := min(max(need, 2*cap(s.kcache[l]), 64*kw), s.ctx*kw)
		nk := make([]float32, s.pos*kw, nc)
		copy(nk, s.kcache[l][:s.pos*kw])
		s.kcache[l] = nk
	}
	kc := s.kcache[l][:need]
	copy(kc[s.pos*kw:], s.k[:T*kw])
	s.kcache[l] = kc
	return kc
}

// ropePairs rotates adjacent pairs of x (RopeDim values) by the angles of
// position t of the pass.
func (s *Session) ropePairs(x []float32, t int) {
	half := len(x) / 2
	cs, sn := s.cos[t*half:(t+1)*half], s.sin[t*half:(t+1)*half]
	for i := range cs {
		x0, x1 := x[2*i], x[2*i+1]
		x[2*i] = x0*cs[i] - x1*sn[i]
		x[2*i+1] = x0*sn[i] + x1*cs[i]
	}
}

func (t *mlaTask) run(gen uint64, worker int) {
	for {
		ci, n, ok := t.c.claim(gen)
		if !ok {
			return
		}
		for job := ci * t.chunk; job < min((ci+1)*t.chunk, t.nJobs); job++ {
			t.job(job, worker)
		}
		t.c.finish(n)
	}
}

// job computes head h of token tk's attention output.
func (t *mlaTask) job(job, worker int) {
	s := t.s
	kern := s.m.kern
	H, nope, rope, v, r := t.H, t.nope, t.rope, t.v, t.r
	kl, kw, hw := nope+rope, r+rope, nope+v
	tk, h := job/H, job%H
	n := s.pos + tk + 1
	buf := grow(s.scores[worker], 2*(s.pos+t.T)+2*r)
	s.scores[worker] = buf
	sc, tmp := buf[:n], buf[s.pos+t.T:][:n]
	qv := s.q[(tk*H+h)*kl : (tk*H+h+1)*kl]
	out := s.att[(tk*H+h)*v : (tk*H+h+1)*v]
	kern.DotRows(qv[nope:], t.lat[r:], kw, tmp)
	if t.absorbed {
		qlat := buf[2*(s.pos+t.T):][:r]
		clear(qlat)
		kern.AxpyRows(qv[:nope], t.kvbF[h*hw*r:], r, qlat)
		kern.DotRows(qlat, t.lat, kw, sc)
	} else {
		kern.DotRows(qv[:nope], t.kvx[h*hw:], t.H*hw, sc)
	}
	mx := float32(math.Inf(-1))
	for p := range sc {
		x := (sc[p] + tmp[p]) * t.scale
		sc[p] = x
		mx = max(mx, x)
	}
	inv := 1 / kern.ExpShift(sc, mx)
	if t.absorbed {
		olat := buf[2*(s.pos+t.T)+r:][:r]
		clear(olat)
		kern.AxpyRows(sc, t.lat, kw, olat)
		kern.DotRows(olat, t.kvbF[(h*hw+nope)*r:], r, out)
	} else {
		clear(out)
		kern.AxpyRows(sc, t.kvx[h*hw+nope:], t.H*hw, out)
	}
	for i := range out {
		out[i] *= inv
	}
}
