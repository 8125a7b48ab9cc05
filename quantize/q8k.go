package quantize

import (
	"encoding/binary"
	"math"

	"github.com/shrink-llm/shrink/format"
)

// Q8_K (ggml-common.h block_q8_K, 292 bytes per 256 elements) is the
// activation format that the K-quant dot products consume: a little-endian
// float32 d, int8 qs[256] and int16 bsums[16] (the sum of each 16 consecutive
// qs, which the dot products use to apply the K-quant minimums). ggml's
// quantize_row_q8_K_ref: iscale = -127/max with max the signed value of
// largest magnitude, qs = min(127, nearest_int(iscale*x)), d = 1/iscale; an
// all-zero block has d = 0 and zero codes. Importances are ignored.

const qkK = 256

func init() { register(q8KCodec{}) }

type q8KCodec struct{}

func (q8KCodec) Type() format.DType { return format.Q8_K }

func (q8KCodec) Encode(dst []byte, src, _ []float32) {
	for ib := 0; ib < len(src)/qkK; ib++ {
		x := src[ib*qkK : ib*qkK+qkK]
		b := dst[ib*292 : ib*292+292]
		qs := b[4 : 4+qkK]
		max, amax := signedAbsMax(x)
		if amax == 0 {
			clear(b)
			continue
		}
		iscale := -127 / max
		for j, v := range x {
			qs[j] = byte(int8(min(127, nearestInt(iscale*v))))
		}
		for g := 0; g < qkK/16; g++ {
			var sum int32
			for _, q := range qs[16*g : 16*g+16] {
				sum += int32(int8(q))
			}
			binary.LittleEndian.PutUint16(b[4+qkK+2*g:], uint16(int16(sum)))
		}
		binary.LittleEndian.PutUint32(b, math.Float32bits(1/iscale))
	}
}

func (q8KCodec) Decode(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/qkK; ib++ {
		b := src[ib*292 : ib*292+292]
		y := dst[ib*qkK : ib*qkK+qkK]
		d := math.Float32frombits(binary.LittleEndian.Uint32(b))
		for j := range y {
			y[j] = d * float32(int8(b[4+j]))
		}
	}
}
