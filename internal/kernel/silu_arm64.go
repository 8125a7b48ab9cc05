//go:build !purego

package kernel

//go:noescape
func siluMulNEON(gp, up *float32, n int)

//go:noescape
func expShiftNEON(x *float32, n int, s float32) float32

// siluMulNEONV is SiLUMul through siluMulNEON: four values at a time, the
// last len(g)%4 through the same instructions on a padded copy, so that
// every value is computed the same way wherever it lies in g (tiles of a
// product may split g anywhere), within 2e-7 of siluMulGeneric.
func siluMulNEONV(g, u []float32) {
	u = u[:len(g)]
	n := len(g) &^ 3
	if n > 0 {
		siluMulNEON(&g[0], &u[0], n)
	}
	if n == len(g) {
		return
	}
	var tg, tu [4]float32
	copy(tg[:], g[n:])
	copy(tu[:], u[n:])
	siluMulNEON(&tg[0], &tu[0], 4)
	copy(g[n:], tg[:])
}

// expShiftNEONV is ExpShift through expShiftNEON, the last len(x)%4 values
// on a padded copy (their sum added after the vector part's).
func expShiftNEONV(x []float32, s float32) float32 {
	n := len(x) &^ 3
	var sum float32
	if n > 0 {
		sum = expShiftNEON(&x[0], n, s)
	}
	if n == len(x) {
		return sum
	}
	var t [4]float32
	copy(t[:], x[n:])
	expShiftNEON(&t[0], 4, s)
	for i := range x[n:] {
		x[n+i] = t[i]
		sum += t[i]
	}
	return sum
}

var _ = addNEON(func(neon, dot *Impl) {
	neon.SiLUMul, dot.SiLUMul = siluMulNEONV, siluMulNEONV
	neon.ExpShift, dot.ExpShift = expShiftNEONV, expShiftNEONV
})
