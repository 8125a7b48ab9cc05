package kernel

// Attention kernels. For one query head against the cached keys and values
// of n positions (rows of the KV cache, stride floats apart), causal
// attention is scores = K·q (DotRows), softmax (ExpShift after subtracting
// the maximum) and out = Σ p_i V_i (AxpyRows): one call each per head
// instead of one call per position.

// dotRowsGeneric sets out[p] = x · m[p*stride : p*stride+len(x)] for
// p < len(out).
func dotRowsGeneric(x, m []float32, stride int, out []float32) {
	for p := range out {
		out[p] = dotF32Generic(x, m[p*stride:p*stride+len(x)])
	}
}

// axpyRowsGeneric adds w[p] * m[p*stride : p*stride+len(y)] to y for
// p < len(w).
func axpyRowsGeneric(w, m []float32, stride int, y []float32) {
	for p, a := range w {
		axpyGeneric(a, m[p*stride:p*stride+len(y)], y)
	}
}

// expShiftGeneric sets x[i] = e**(x[i]-s) (through expClamped) and returns
// their sum.
func expShiftGeneric(x []float32, s float32) float32 {
	var sum float32
	for i, v := range x {
		e := expClamped(v - s)
		x[i] = e
		sum += e
	}
	return sum
}
