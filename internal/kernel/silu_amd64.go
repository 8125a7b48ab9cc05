//go:build !purego

package kernel

//go:noescape
func siluMulAVX512(gp, up *float32, n int)

// siluMulV is SiLUMul with the AVX-512 kernel over the multiple of 16 and
// the generic code over the rest.
func siluMulV(g, u []float32) {
	u = u[:len(g)]
	m := len(g) &^ 15
	if m > 0 {
		siluMulAVX512(&g[0], &u[0], m)
	}
	siluMulGeneric(g[m:], u[m:])
}

var _ = addVNNI(func(im *Impl) { im.SiLUMul = siluMulV })
