//go:build !purego

package quantize

// useAVX2 selects the AVX2 kernels of search_amd64.s for the scale
// searches (eight trial scales per pass, one per lane, bit-identical to
// the scalar code). Build with -tags purego for the pure-Go path.
var useAVX2 = cpuidAVX2()

// cpuidAVX2 reports whether the CPU has AVX2 and the OS saves YMM state.
func cpuidAVX2() bool

// kxSums8 is qkx2Sums (x3 false) or qkx3Sums (x3 true) for the eight
// inverse scales iscale[0:8] at once, without the codes: sums[0:8] get
// Σw·l, sums[8:16] Σw·l², sums[16:24] Σw·l·x.
//
//go:noescape
func kxSums8(x, xm, w *float32, n int, iscale *float32, nmax int32, x3 bool, sums *float32)

// kxErr8 is kxError for eight trials at once: lane j recomputes the codes
// for the inverse scale p[j] as kxSums8 does and measures them with scale
// p[8+j] and offset p[16+j] into errs[j].
//
//go:noescape
func kxErr8(x, xm, w *float32, n int, p *float32, nmax int32, x3, mad bool, errs *float32)

// qxSums8 is one make_qx_quants trial for the eight inverse scales
// iscale[0:8]: sums[0:8] get Σ(w·x)·l and sums[8:16] Σ(w·l)·l with
// l = clamp(nearest_int(iscale·x), lo, hi).
//
//go:noescape
func qxSums8(x, w, wx *float32, n int, iscale *float32, lo, hi int32, sums *float32)
