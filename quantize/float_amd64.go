//go:build !purego

package quantize

// useF16C selects the F16C conversion (VCVTPH2PS) for F16 decoding.
var useF16C = cpuidF16C()

// cpuidF16C reports whether the CPU has AVX and F16C and the OS saves YMM
// state.
func cpuidF16C() bool

// f16ToF32x8 decodes n (a multiple of 8) little-endian binary16 values
// from src into dst and reports whether any is NaN (F16C quiets
// signalling NaNs, which the table keeps as they are).
//
//go:noescape
func f16ToF32x8(dst *float32, src *byte, n int) bool
