package quantize

import (
	"github.com/shrink-llm/shrink/format"
)

// IQ4_NL (ggml-common.h block_iq4_nl, 18 bytes per 32 elements): a
// little-endian binary16 scale d and 16 bytes of 4-bit indices, in Q4_0's
// nibble order, into the fixed non-linear table kvalues_iq4nl:
// x = d * T[q]. The encoder is ggml's quantize_row_iq4_nl_impl as
// quantize_iq4_nl calls it (ntry = 7): per block, a weighted least-squares
// scale chosen among the initial guess max/127 and 15 trial inverse scales
// (-127+k)/max, k = -7..7, codes by nearest table entry, then the codes
// recomputed against the chosen f32 scale. Weights are x² without
// importances and imp_j*sqrt(sigma2 + x_j²) with them, sigma2 being twice
// the mean square of the block.

// iq4nlValues is ggml's kvalues_iq4nl.
var iq4nlValues = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

func init() { register(iq4nlCodec{}) }

// iq4nlMid[j] = T[j-1] + T[j] for j = 1..15: element index j is chosen
// once 2x reaches it (iq4nlIndex is ggml's best_index_int8 specialised to
// the table; the generic bestIndexInt8 lives in search_test.go).
var iq4nlMid = func() (m [16]float32) {
	for j := 1; j < 16; j++ {
		m[j] = float32(int32(iq4nlValues[j-1]) + int32(iq4nlValues[j]))
	}
	return m
}()

// iq4nlIndex returns bestIndexInt8(iq4nlValues, x) (search_test.go) without
// bounds checks.
func iq4nlIndex(x float32) int {
	x2 := float32(x) + float32(x)
	idx := 0
	if x2 >= iq4nlMid[8] {
		idx = 8
	}
	if x2 >= iq4nlMid[(idx+4)&15] {
		idx += 4
	}
	if x2 >= iq4nlMid[(idx+2)&15] {
		idx += 2
	}
	if x2 >= iq4nlMid[(idx+1)&15] {
		idx++
	}
	return idx
}

type iq4nlCodec struct{}

func (iq4nlCodec) Type() format.DType { return format.IQ4_NL }

func (iq4nlCodec) Encode(dst []byte, src, imp []float32) {
	var w [lgQK]float32
	var L [lgQK]uint8
	for ib := 0; ib < len(src)/lgQK; ib++ {
		x := src[ib*lgQK : ib*lgQK+lgQK]
		var qw []float32
		if imp != nil {
			qw = imp[ib*lgQK : ib*lgQK+lgQK]
		}
		d := iq4nlBlock(x, qw, w[:], L[:], 7)
		b := dst[ib*18 : ib*18+18]
		putF16(b, d)
		for j := 0; j < lgQK/2; j++ {
			b[2+j] = L[j] | L[j+16]<<4
		}
	}
}

// iq4nlBlock chooses the scale and codes of one 32-element block
// (quantize_row_iq4_nl_impl with super_block_size = block_size = 32 and
// ntry > 0, the search quantize_iq4_nl runs).
func iq4nlBlock(x, qw, w []float32, L []uint8, ntry int) float32 {
	var sigma2 float32
	for _, v := range x {
		sigma2 += float32(v * v)
	}
	sigma2 *= 2.0 / lgQK
	if qw != nil {
		lgImpWeights(w, x, qw, sigma2)
	} else {
		for j, v := range x {
			w[j] = v * v
		}
	}
	max, amax := signedAbsMax(x)
	var d float32
	if amax >= groupMaxEps {
		d = -max / float32(iq4nlValues[0])
		id := 1 / d
		var sumqx, sumq2 float32
		for j, v := range x {
			q := float32(iq4nlValues[iq4nlIndex(id*v)])
			sumqx += float32(w[j] * q * v)
			sumq2 += float32(w[j] * q * q)
		}
		d = 0
		if sumq2 > 0 {
			d = sumqx / sumq2
		}
		best := d * sumqx
		for itry := -ntry; itry <= ntry; itry++ {
			id = float32(itry+int(iq4nlValues[0])) / max
			sumqx, sumq2 = 0, 0
			for j, v := range x {
				q := float32(iq4nlValues[iq4nlIndex(id*v)])
				sumqx += float32(w[j] * q * v)
				sumq2 += float32(w[j] * q * q)
			}
			if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
				d = sumqx / sumq2
				best = d * sumqx
			}
		}
	}
	// ggml (ntry > 0) recomputes the codes against the f32 scale; for an
	// all-zero block the scale is 0 and every code is the entry nearest 0,
	// index 8.
	id := lgInv(d)
	for j, v := range x {
		L[j] = uint8(iq4nlIndex(id * v))
	}
	return d
}

func (iq4nlCodec) Decode(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/lgQK; ib++ {
		b := src[ib*18 : ib*18+18]
		y := dst[ib*lgQK : ib*lgQK+lgQK]
		d := f16(b)
		for j := 0; j < lgQK/2; j++ {
			q := b[2+j]
			y[j] = d * float32(iq4nlValues[q&0x0F])
			y[j+lgQK/2] = d * float32(iq4nlValues[q>>4])
		}
	}
}
