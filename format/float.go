package format

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"
)

// F16ToF32 decodes an IEEE-754 binary16 value.
func F16ToF32(h uint16) float32 { return float16.Frombits(h).Float32() }

// F32ToF16 encodes f as binary16, rounding to nearest even as ggml does
// (F16C _cvtss_sh(x, 0) and its bit-exact software fallback).
func F32ToF16(f float32) uint16 { return uint16(float16.Fromfloat32(f)) }

// BF16ToF32 decodes a bfloat16 value (the top half of a float32).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 encodes f as bfloat16 exactly as ggml_compute_fp32_to_bf16:
// round to nearest even on the 32-bit pattern, NaN made quiet.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 { // NaN
		return uint16(u>>16) | 64
	}
	return uint16((u + (0x7fff + (u>>16)&1)) >> 16)
}

// DecodeFloats converts len(dst) elements of a float type (F32, F16, BF16,
// F64) from little-endian bytes src to float32.
func DecodeFloats(t DType, src []byte, dst []float32) error {
	n := len(dst)
	switch t {
	case F32:
		if len(src) < 4*n {
			return errShort
		}
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		if len(src) < 2*n {
			return errShort
		}
		for i := range dst {
			dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case BF16:
		if len(src) < 2*n {
			return errShort
		}
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case F64:
		if len(src) < 8*n {
			return errShort
		}
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	default:
		return fmt.Errorf("format: cannot decode %s as plain floats", t)
	}
	return nil
}

// EncodeFloats converts src to type t (F32, F16 or BF16), little-endian,
// into dst, which must hold len(src) elements of t.
func EncodeFloats(t DType, src []float32, dst []byte) error {
	switch t {
	case F32:
		if len(dst) < 4*len(src) {
			return errShort
		}
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F16:
		if len(dst) < 2*len(src) {
			return errShort
		}
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
		}
	case BF16:
		if len(dst) < 2*len(src) {
			return errShort
		}
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(v))
		}
	default:
		return fmt.Errorf("format: cannot encode plain floats as %s", t)
	}
	return nil
}

var errShort = fmt.Errorf("format: buffer too short")
