package quantize

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/shrink-llm/shrink/format"
)

// The plain float types: F32 (little-endian IEEE binary32), F16 (binary16,
// round to nearest even from f32, as ggml's F16C conversion) and BF16 (the
// top half of the f32, rounded to nearest even, NaN made quiet; ggml's
// ggml_compute_fp32_to_bf16). They are "codecs" with a block size of one
// so that every tensor type goes through the same table; imp is ignored.

func init() {
	register(f32Codec{})
	register(f16Codec{})
	register(bf16Codec{})
}

// f16Table returns all 65536 binary16 values as float32, built on first
// use (256 KiB): decoding by table is several times faster than converting
// bit fields. f16 reads it; loops may hoist it.
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	t := new([1 << 16]float32)
	for i := range t {
		t[i] = format.F16ToF32(uint16(i))
	}
	return t
})

type f32Codec struct{}

func (f32Codec) Type() format.DType { return format.F32 }

func (f32Codec) Encode(dst []byte, src, _ []float32) {
	dst = dst[:4*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

func (f32Codec) Decode(dst []float32, src []byte) {
	src = src[:4*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

type f16Codec struct{}

func (f16Codec) Type() format.DType { return format.F16 }

func (f16Codec) Encode(dst []byte, src, _ []float32) {
	dst = dst[:2*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], format.F32ToF16(v))
	}
}

func (f16Codec) Decode(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	start := 0
	if useF16C && len(dst) >= 8 {
		start = len(dst) &^ 7
		if f16ToF32x8(&dst[0], &src[0], start) {
			start = 0 // a NaN: redo all by table, which keeps its payload
		}
	}
	tab := f16Table()
	for i := start; i < len(dst); i++ {
		dst[i] = tab[binary.LittleEndian.Uint16(src[2*i:])]
	}
}

type bf16Codec struct{}

func (bf16Codec) Type() format.DType { return format.BF16 }

func (bf16Codec) Encode(dst []byte, src, _ []float32) {
	dst = dst[:2*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], format.F32ToBF16(v))
	}
}

func (bf16Codec) Decode(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = format.BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}
