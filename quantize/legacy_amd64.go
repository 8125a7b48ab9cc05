//go:build !purego

package quantize

// q8_0Blocks is q8_0EncodeGo for nb whole blocks with AVX2 and F16C:
// magnitude maximum, d = amax/127 stored as f16 (VCVTPS2PH, round to
// nearest even, as F32ToF16), id = 1/d (0 for d = 0), codes
// int8(roundf(x·id)) truncated to their low byte.
//
//go:noescape
func q8_0Blocks(dst *byte, src *float32, nb int)

// q4_0Blocks is q4_0EncodeGo for nb whole blocks with AVX2 and F16C: the
// first element of largest magnitude (+0 when all are zero), d = max/-8
// stored as f16, id = 1/d (0 for d = 0), codes
// min(15, int8(trunc(x·id + 8.5))) packed two per byte.
//
//go:noescape
func q4_0Blocks(dst *byte, src *float32, nb int)

// anyNonFinite reports whether any of x[0:n] (n a multiple of 8) is NaN
// or infinite.
//
//go:noescape
func anyNonFinite(x *float32, n int) bool
