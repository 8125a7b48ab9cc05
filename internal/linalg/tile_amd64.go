//go:build !purego

package linalg

//go:noescape
func mulTileAVX512(out, a, b *float32, lda, ldb, n int)

//go:noescape
func gemmTileF64AVX512(out, a, b *float64, k int)

// cpuid executes CPUID with the given leaf (eax) and subleaf (ecx).
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv reads extended control register 0; call it only when CPUID
// reports OSXSAVE.
func xgetbv() (eax, edx uint32)

var accelerated = hasAVX512()

func init() {
	if accelerated {
		mulTile, gemmTile = mulTileV, gemmTileV
	}
}

// hasAVX512 reports AVX512F with the OS saving the ZMM state, as
// internal/kernel detects it (which cannot be imported here: see the
// package documentation).
func hasAVX512() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	if ecx1&(1<<27) == 0 { // OSXSAVE
		return false
	}
	xcr0, _ := xgetbv()
	if xcr0&0xe6 != 0xe6 { // XMM, YMM and the three AVX-512 states
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	return ebx7&(1<<16) != 0 // AVX512F
}

// mulTileV is MulTile through mulTileAVX512 (bounds checked by MulTile).
func mulTileV(out, a []float32, lda int, b []float32, ldb, n int) {
	mulTileAVX512(&out[0], &a[0], &b[0], 4*lda, 4*ldb, n)
}

// gemmTileV is GemmTile through gemmTileF64AVX512 (bounds checked by
// GemmTile).
func gemmTileV(out, a, b []float64, k int) {
	gemmTileF64AVX512(&out[0], &a[0], &b[0], k)
}
