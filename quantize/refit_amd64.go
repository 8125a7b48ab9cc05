//go:build !purego

package quantize

// refitErr8 sets e[l] to the w-weighted squared error of rounding lane l's
// values x[k·stride+l] (k = 0..n-1) to the grid D[l]·q + C[l], q in
// lo..hi, exactly as gptqGrid.refit's scalar sum computes it (in k order,
// without its early exit).
//
//go:noescape
func refitErr8(e *[8]float32, x *float32, stride int, w *float32, n int, D, C *[8]float32, lo, hi float32)

// refitShift8 sets s[l] to Σ_k w[k]·(v − x) over lane l's values x =
// x[k·stride+l] and their grid values v on D[l]·q + C[l], q in lo..hi: the
// sum of refit's least-squares offset step.
//
//go:noescape
func refitShift8(s *[8]float32, x *float32, stride int, w *float32, n int, D, C *[8]float32, lo, hi float32)

// axpy8 adds a·x[i] to y[i] for i < n, a multiple of 8, as axpy32 does
// (the product rounded, then the sum: bit-identical).
//
//go:noescape
func axpy8(y *float32, a float32, x *float32, n int)

// refitErr16 is refitErr8 on sixteen lanes (AVX-512).
//
//go:noescape
func refitErr16(e *[16]float32, x *float32, stride int, w *float32, n int, D, C *[16]float32, lo, hi float32)

// refitShift16 is refitShift8 on sixteen lanes (AVX-512).
//
//go:noescape
func refitShift16(s *[16]float32, x *float32, stride int, w *float32, n int, D, C *[16]float32, lo, hi float32)
