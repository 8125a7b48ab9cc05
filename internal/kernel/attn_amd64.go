//go:build !purego

package kernel

//go:noescape
func dotRowsAVX512(x *float32, k int, m *float32, stride, n int, out *float32)

//go:noescape
func axpyRowsAVX512(w *float32, n int, m *float32, stride int, y *float32, k int)

//go:noescape
func expShiftAVX512(x *float32, n int, s float32) float32

// dotRowsV is DotRows through dotRowsAVX512 when len(x) is a multiple of 16.
func dotRowsV(x, m []float32, stride int, out []float32) {
	n := len(out)
	if n == 0 {
		return
	}
	if len(x)%16 != 0 || len(x) == 0 {
		dotRowsGeneric(x, m, stride, out)
		return
	}
	_ = m[(n-1)*stride+len(x)-1]
	dotRowsAVX512(&x[0], len(x)/16, &m[0], 4*stride, n, &out[0])
}

// axpyRowsV is AxpyRows through axpyRowsAVX512 when len(y) is a multiple
// of 16.
func axpyRowsV(w, m []float32, stride int, y []float32) {
	n := len(w)
	if n == 0 {
		return
	}
	if len(y)%16 != 0 || len(y) == 0 {
		axpyRowsGeneric(w, m, stride, y)
		return
	}
	_ = m[(n-1)*stride+len(y)-1]
	axpyRowsAVX512(&w[0], n, &m[0], 4*stride, &y[0], len(y)/16)
}

// expShiftV is ExpShift through expShiftAVX512.
func expShiftV(x []float32, s float32) float32 {
	if len(x) == 0 {
		return 0
	}
	return expShiftAVX512(&x[0], len(x), s)
}

var _ = addVNNI(func(im *Impl) {
	im.DotRows, im.AxpyRows, im.ExpShift = dotRowsV, axpyRowsV, expShiftV
})
