//go:build !purego

package quantize

// useAVX2 selects the AVX2 kernels of search_amd64.s for the scale
// searches (eight trial scales per pass, one per lane, bit-identical to
// the scalar code). Build with -tags purego for the pure-Go path.
var useAVX2 = cpuidAVX2()

// cpuidAVX2 reports whether the CPU has AVX2 and the OS saves YMM state.
func cpuidAVX2() bool

// kxTrial8 evaluates eight make_qkx2_quants (x3 false) or
// make_qkx3_quants (x3 true) trials at once, lane j with the inverse scale
// num[j]/den: the codes (stored at codes[8i+j]), the sums, the weighted
// least-squares fit (kxFit) and its error (kxError). out[0:8] get the
// fitted scales, out[8:16] the offsets, out[16:24] the errors and
// out[24:32] a non-zero bit pattern where the fit exists.
//
//go:noescape
func kxTrial8(x, xm, w *float32, n int, num *float32, den, sumW, sumX float32, nmax int32, x3, mad bool, out *float32, codes *int32)

// qxTrials24 evaluates 24 make_qx_quants trials at once: lane j takes
// the inverse scale negnum[j]/max (stored in out[j]) and the codes
// l = clamp(nearest_int(iscale·x), lo, hi), and sums out[24+j] = Σ(w·x)·l
// and out[48+j] = Σ(w·l)·l.
//
//go:noescape
func qxTrials24(x, w, wx *float32, n int, negnum *float32, max float32, lo, hi int32, out *float32)
