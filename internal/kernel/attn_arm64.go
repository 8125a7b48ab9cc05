//go:build !purego

package kernel

// dotRowsNEON is DotRows through the NEON DotF32 kernel, one call per row
// of m.
func dotRowsNEON(x, m []float32, stride int, out []float32) {
	for p := range out {
		out[p] = dotF32VecNEON(x, m[p*stride:p*stride+len(x)])
	}
}

// axpyRowsNEON is AxpyRows through the NEON Axpy kernel, one call per row
// of m.
func axpyRowsNEON(w, m []float32, stride int, y []float32) {
	for p, a := range w {
		axpyVecNEON(a, m[p*stride:p*stride+len(y)], y)
	}
}

var _ = addNEON(func(neon, dot *Impl) {
	neon.DotRows, dot.DotRows = dotRowsNEON, dotRowsNEON
	neon.AxpyRows, dot.AxpyRows = axpyRowsNEON, axpyRowsNEON
})
