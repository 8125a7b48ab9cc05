//go:build !purego

package quantize

// q8_0Blocks is q8_0EncodeGo for nb whole blocks with AVX2 and F16C:
// magnitude maximum, d = amax/127 stored as f16 (VCVTPS2PH, round to
// nearest even, as F32ToF16), id = 1/d (0 for d = 0), codes
// int8(roundf(x·id)) truncated to their low byte.
//
//go:noescape
func q8_0Blocks(dst *byte, src *float32, nb int)
