package distill

import (
	"math"

	"github.com/shrink-llm/shrink/internal/kernel"
)

// The operations of the forward pass and their backward passes. Each works
// on row-major float32 slices of T rows (tokens). Backward functions add
// their input gradients to the slices they are given (the caller zeroes
// them), so that gradients of a value used twice accumulate.

// linFwd computes y = x·wᵀ: y (T×out), x (T×in), w (out×in) as GGUF
// stores a weight (rows = outputs).
func linFwd(y, x, w []float32, T, in, out int) {
	matMul(y, mat(x, in, false), mat(w, in, true), T, out, in, false)
}

// linBwd adds dy·w to dx (when not nil) and dyᵀ·x to dw (when not nil).
func linBwd(dx, dw, dy, x, w []float32, T, in, out int) {
	if dx != nil {
		matMul(dx, mat(dy, out, false), mat(w, in, false), T, in, out, true)
	}
	if dw != nil {
		matMul(dw, mat(dy, out, true), mat(x, in, false), out, in, T, true)
	}
}

// rmsFwd computes y = x/sqrt(mean(x²)+eps)·w row by row, as engine does,
// and records each row's 1/sqrt(mean(x²)+eps) in rinv.
func rmsFwd(y, rinv, x, w []float32, T, D int, eps float32) {
	for t := 0; t < T; t++ {
		xr := x[t*D : t*D+D]
		var ss float64
		for _, v := range xr {
			ss += float64(v) * float64(v)
		}
		r := float32(1 / math.Sqrt(ss/float64(D)+float64(eps)))
		rinv[t] = r
		yr := y[t*D : t*D+D]
		for i, v := range xr {
			yr[i] = v * r * w[i]
		}
	}
}

// rmsBwd adds the gradients of rmsFwd to dx and dw (nil: not wanted).
func rmsBwd(dx, dw, dy, x, w, rinv []float32, T, D int) {
	for t := 0; t < T; t++ {
		xr, dyr := x[t*D:t*D+D], dy[t*D:t*D+D]
		r := rinv[t]
		var s float64
		for i, v := range xr {
			s += float64(float64(dyr[i]) * float64(w[i]) * float64(v))
			if dw != nil {
				dw[i] += float32(dyr[i] * v * r)
			}
		}
		if dx == nil {
			continue
		}
		c := float32(s) * r * r * r / float32(D)
		dxr := dx[t*D : t*D+D]
		for i, v := range xr {
			dxr[i] += float32(r*dyr[i]*w[i]) - float32(c*v)
		}
	}
}

// ropeTable returns cos and sin of every rotation angle for positions
// [0, n): rows of RopeDim/2 values, computed as engine does.
func ropeTable(n, rd int, base, scale float32, div []float32) (cos, sin []float32) {
	half := rd / 2
	cos = make([]float32, n*half)
	sin = make([]float32, n*half)
	for pos := 0; pos < n; pos++ {
		p := float64(pos) * float64(scale)
		for i := 0; i < half; i++ {
			theta := p * math.Pow(float64(base), -2*float64(i)/float64(rd))
			if div != nil {
				theta /= float64(div[i])
			}
			s, c := math.Sincos(theta)
			cos[pos*half+i], sin[pos*half+i] = float32(c), float32(s)
		}
	}
	return cos, sin
}

// ropeApply rotates, in place, each head (hd values, the first rd rotated)
// of the T rows of x (heads·hd values each) by the angles of its position:
// adjacent pairs (2i, 2i+1), or the halves (i, i+rd/2) when neox. With inv
// the rotation is undone (the backward pass of a rotation).
func ropeApply(x []float32, T, heads, hd, rd int, cos, sin []float32, neox, inv bool) {
	half := rd / 2
	for t := 0; t < T; t++ {
		cr, sr := cos[t*half:t*half+half], sin[t*half:t*half+half]
		for h := 0; h < heads; h++ {
			v := x[(t*heads+h)*hd : (t*heads+h+1)*hd]
			for i := 0; i < half; i++ {
				a, b := 2*i, 2*i+1
				if neox {
					a, b = i, i+half
				}
				c, s := cr[i], sr[i]
				if inv {
					s = -s
				}
				x0, x1 := v[a], v[b]
				v[a] = float32(x0*c) - float32(x1*s)
				v[b] = float32(x0*s) + float32(x1*c)
			}
		}
	}
}

// attnFwd computes causal grouped-query attention: for each query head h
// (served by key/value head h/(heads/kvHeads)) and token t,
// out_t = Σ_{s<=t} softmax_s(q_t·k_s/sqrt(hd)) v_s. The probabilities are
// kept in p (heads×T×T, zero above the diagonal) for the backward pass.
// Each head is two matrix products (scores Q·Kᵀ, all T×T of them, and
// P·V, the zeros above the diagonal adding nothing) around a row softmax.
func attnFwd(out, p, q, k, v []float32, T, heads, kvHeads, hd int) {
	group := heads / kvHeads
	qd, kd := heads*hd, kvHeads*hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	im := kernel.Active()
	for h := 0; h < heads; h++ {
		g := h / group
		ph := p[h*T*T : (h+1)*T*T]
		im.MatMulF32(T, T, hd, mat(q[h*hd:], qd, false), mat(k[g*hd:], kd, true), ph, T, false, threads)
		parallelFor(T, T*T*8, func(t0, t1 int) {
			for t := t0; t < t1; t++ {
				pr := ph[t*T : (t+1)*T]
				mx := float32(math.Inf(-1))
				for s := 0; s <= t; s++ {
					pr[s] *= scale
					mx = max(mx, pr[s])
				}
				inv := 1 / im.ExpShift(pr[:t+1], mx)
				for s := 0; s <= t; s++ {
					pr[s] *= inv
				}
				clear(pr[t+1:])
			}
		})
		im.MatMulF32(T, hd, T, mat(ph, T, false), mat(v[g*hd:], kd, false), out[h*hd:], qd, false, threads)
	}
}

// attnBwd adds the gradients of attnFwd with respect to q, k and v: per
// head, dP = dO·Vᵀ, dS = P⊙(dP - rowsum(P⊙dP))/sqrt(hd), dV += Pᵀ·dO,
// dQ += dS·K and dK += dSᵀ·Q, the heads of a group in turn.
func attnBwd(dq, dk, dv, dout, p, q, k, v []float32, T, heads, kvHeads, hd int) {
	group := heads / kvHeads
	qd, kd := heads*hd, kvHeads*hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	im := kernel.Active()
	ds := make([]float32, T*T)
	for h := 0; h < heads; h++ {
		g := h / group
		ph := p[h*T*T : (h+1)*T*T]
		im.MatMulF32(T, T, hd, mat(dout[h*hd:], qd, false), mat(v[g*hd:], kd, true), ds, T, false, threads)
		parallelFor(T, T*T*4, func(t0, t1 int) {
			for t := t0; t < t1; t++ {
				pr, dr := ph[t*T:t*T+t+1], ds[t*T:(t+1)*T]
				var sum float32
				for s, x := range pr {
					sum += float32(x * dr[s])
				}
				for s, x := range pr {
					dr[s] = x * (dr[s] - sum) * scale
				}
				clear(dr[t+1:])
			}
		})
		im.MatMulF32(T, hd, T, mat(ph, T, true), mat(dout[h*hd:], qd, false), dv[g*hd:], kd, true, threads)
		im.MatMulF32(T, hd, T, mat(ds, T, false), mat(k[g*hd:], kd, false), dq[h*hd:], qd, true, threads)
		im.MatMulF32(T, hd, T, mat(ds, T, true), mat(q[h*hd:], qd, false), dk[g*hd:], kd, true, threads)
	}
}

// swigluFwd computes act = silu(g)⊙u on the kernels' SwiGLU (the float32
// exponential of kernel.SiLUMul).
func swigluFwd(act, g, u []float32) {
	copy(act, g)
	kernel.Active().SiLUMul(act[:len(g)], u)
}

// swigluBwd adds the gradients of swigluFwd to dg and du: with
// s = sigmoid(g), dg = dact·u·s·(1 + g·(1-s)) and du = dact·g·s. The
// exponentials e**-g come from the kernels' ExpShift.
func swigluBwd(dg, du, dact, g, u []float32) {
	n := len(g)
	dg, du, dact, u = dg[:n], du[:n], dact[:n], u[:n]
	im := kernel.Active()
	parallelFor((n+4095)/4096, n*16, func(c0, c1 int) {
		var e [4096]float32
		for c := c0; c < c1; c++ {
			lo, hi := c*4096, min(c*4096+4096, n)
			es := e[:hi-lo]
			for i, x := range g[lo:hi] {
				es[i] = -x
			}
			im.ExpShift(es, 0)
			for i, x := range g[lo:hi] {
				j := lo + i
				s := 1 / (1 + es[i])
				dg[j] += float32(dact[j] * u[j] * s * (1 + float32(x*(1-s))))
				du[j] += float32(dact[j] * x * s)
			}
		}
	})
}

// softmaxRow sets p to softmax(z/tau) (the exponentials from the kernels'
// ExpShift) and returns log Σ e**(z/tau), the log-sum-exp, in float64.
func softmaxRow(p, z []float32, tau float32) float64 {
	p = p[:len(z)]
	inv := 1 / tau
	mx := float32(math.Inf(-1))
	for i, v := range z {
		x := v * inv
		p[i] = x
		mx = max(mx, x)
	}
	sum := kernel.Active().ExpShift(p, mx)
	r := 1 / sum
	for i := range p {
		p[i] *= r
	}
	return float64(mx) + math.Log(float64(sum))
}

// ceRow returns -log softmax(z)[target] and, when dz is not nil, adds
// scale·(softmax(z) - onehot(target)) to dz. tmp holds len(z) values.
func ceRow(z []float32, target int, dz []float32, scale float32, tmp []float32) float64 {
	p := tmp[:len(z)]
	lse := softmaxRow(p, z, 1)
	if dz != nil {
		dz = dz[:len(z)]
		for i, v := range p {
			dz[i] += float32(scale * v)
		}
		dz[target] -= scale
	}
	return lse - float64(z[target])
}

// kdRow returns KL(softmax(zt/tau) || softmax(zs/tau)) and, when dz is not
// nil, adds the gradient of scale·tau²·KL with respect to zs,
// scale·tau·(softmax(zs/tau) - softmax(zt/tau)), to dz (Hinton et al. 2015,
// "Distilling the Knowledge in a Neural Network": the tau² factor keeps the
// gradient's size independent of the temperature). tmp holds 2·len(zs)
// values. The sum is taken in float64 over the float32 probabilities.
func kdRow(zs, zt []float32, tau float32, dz []float32, scale float32, tmp []float32) float64 {
	n := len(zs)
	zt = zt[:n]
	ps, pt := tmp[:n], tmp[n:2*n]
	lses := softmaxRow(ps, zs, tau)
	lset := softmaxRow(pt, zt, tau)
	dl, it := lset-lses, 1/float64(tau)
	var kl float64
	for i, p := range pt {
		kl += float64(float64(p) * (float64((float64(zt[i])-float64(zs[i]))*it) - dl))
	}
	if dz != nil {
		dz = dz[:n]
		st := scale * tau
		for i, p := range ps {
			dz[i] += float32(st * (p - pt[i]))
		}
	}
	return max(kl, 0)
}
