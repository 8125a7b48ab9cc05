//go:build !purego

package kernel

//go:noescape
func siluMulAVX512(gp, up *float32, n int)

// siluMulV is SiLUMul through the AVX-512 kernel, which computes every
// value the same way wherever it lies in g (tiles of a product may split
// g anywhere), within 2e-7 of siluMulGeneric.
func siluMulV(g, u []float32) {
	if len(g) == 0 {
		return
	}
	u = u[:len(g)]
	siluMulAVX512(&g[0], &u[0], len(g))
}

var _ = addVNNI(func(im *Impl) { im.SiLUMul = siluMulV })
