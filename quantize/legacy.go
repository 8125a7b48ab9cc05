package quantize

import (
	"encoding/binary"
	"math"

	"github.com/shrink-llm/shrink/format"
)

// The "legacy" 32-element block types of ggml (ggml-common.h), all with
// QK = 32 elements per block and a little-endian binary16 scale d:
//
//	Q8_0   d | qs[32] int8                    x = d*q
//	Q4_0   d | qs[16]                         x = d*(q-8)
//	Q4_1   d | m | qs[16]                     x = d*q + m
//	Q5_0   d | qh[4] | qs[16]                 x = d*(q-16)
//	Q5_1   d | m | qh[4] | qs[16]             x = d*q + m
//
// In the nibble layouts element j (0..15) is the low nibble of qs[j] and
// element j+16 the high nibble; for the 5-bit types the fifth bit of
// element j is bit j of qh read as a little-endian uint32.
//
// Without importances the encoders are ggml's quantize_row_*_ref (the
// scale from the extreme value, codes by truncation after adding a half);
// with importances they are quantize_row_q4_0_impl and friends, which
// search the scale minimising sum imp_j*sqrt(sigma2 + x_j^2)*(x_j - x̂_j)^2,
// sigma2 being the mean square of the row. Q8_0 ignores importances, as
// ggml's quantize_q8_0 does.

const lgQK = 32

func init() {
	register(q8_0Codec{})
	register(q4_0Codec{})
	register(q4_1Codec{})
	register(q5_0Codec{})
	register(q5_1Codec{})
}

// lgMinMax returns the smallest and largest element (starting from ±FLT_MAX
// as ggml does).
func lgMinMax(x []float32) (min, max float32) {
	min, max = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < min {
			min = v
		}
		if v > max {
			max = v
		}
	}
	return min, max
}

// roundHalfAway is int32(C's roundf(y)) (half away from zero) without
// the float64 detour of math.Round: truncate, then step away from zero
// when the exact fractional part is at least one half. Infinities, NaN
// and values beyond the int32 range give the conversion's result for
// math.Round's, as the fractional part is then not in (-1, 1).
func roundHalfAway(y float32) int32 {
	i := int32(y)
	f := float32(y) - float32(i)
	if f >= 0.5 && f < 1 {
		i++
	} else if f <= -0.5 && f > -1 {
		i--
	}
	return i
}

func lgInv(d float32) float32 {
	if d != 0 {
		return 1 / d
	}
	return 0
}

// lgRowSigma2 is the mean square of the row, as ggml's legacy *_impl
// quantizers compute it (float accumulation in order).
func lgRowSigma2(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return s / float32(len(x))
}

// lgImpWeights fills w with imp_j * sqrt(sigma2 + x_j^2).
func lgImpWeights(w, x, imp []float32, sigma2 float32) {
	for j := range w {
		w[j] = imp[j] * sqrtf32(float32(sigma2)+float32(x[j]*x[j]))
	}
}

// ---- Q8_0 ----

type q8_0Codec struct{}

func (q8_0Codec) Type() format.DType { return format.Q8_0 }

func (q8_0Codec) Encode(dst []byte, src, _ []float32) {
	if nb := len(src) / lgQK; useAVX2 && useF16C && nb > 0 {
		_ = dst[nb*34-1]
		q8_0Blocks(&dst[0], &src[0], nb)
		return
	}
	q8_0EncodeGo(dst, src)
}

// q8_0EncodeGo is quantize_row_q8_0_ref; q8_0Blocks (legacy_amd64.s)
// computes the same bytes eight elements at a time.
func q8_0EncodeGo(dst []byte, src []float32) {
	for ib := 0; ib < len(src)/lgQK; ib++ {
		x := src[ib*lgQK : ib*lgQK+lgQK]
		b := dst[ib*34 : ib*34+34]
		var amax float32
		for _, v := range x {
			if a := absf32(v); a > amax {
				amax = a
			}
		}
		d := amax / 127
		id := lgInv(d)
		putF16(b, d)
		for j, v := range x {
			// C roundf: half away from zero.
			b[2+j] = byte(int8(roundHalfAway(v * id)))
		}
	}
}

func (q8_0Codec) Decode(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/lgQK; ib++ {
		b := src[ib*34 : ib*34+34]
		y := dst[ib*lgQK : ib*lgQK+lgQK]
		d := f16(b)
		for j := range y {
			y[j] = float32(int8(b[2+j])) * d
		}
	}
}

// ---- Q4_0 ----

type q4_0Codec struct{}

func (q4_0Codec) Type() format.DType { return format.Q4_0 }

func (q4_0Codec) Encode(dst []byte, src, imp []float32) {
	if imp != nil {
		encodeQ4_0Imp(dst, src, imp)
		return
	}
	if nb := len(src) / lgQK; useAVX2 && useF16C && nb > 0 {
		_ = dst[nb*18-1]
		q4_0Blocks(&dst[0], &src[0], nb)
		return
	}
	q4_0EncodeGo(dst, src)
}

// q4_0EncodeGo is quantize_row_q4_0_ref; q4_0Blocks (legacy_amd64.s)
// computes the same bytes eight elements at a time.
func q4_0EncodeGo(dst []byte, src []float32) {
	for ib := 0; ib < len(src)/lgQK; ib++ {
		x := src[ib*lgQK : ib*lgQK+lgQK]
		b := dst[ib*18 : ib*18+18]
		max, _ := signedAbsMax(x)
		d := max / -8
		id := lgInv(d)
		putF16(b, d)
		for j := 0; j < lgQK/2; j++ {
			xi0 := min(15, int32(int8(int32(float32(x[j]*id)+8.5))))
			xi1 := min(15, int32(int8(int32(float32(x[j+lgQK/2]*id)+8.5))))
			b[2+j] = uint8(xi0) | uint8(xi1)<<4
		}
	}
}

func encodeQ4_0Imp(dst []byte, src, imp []float32) {
	sigma2 := lgRowSigma2(src)
	var w [lgQK]float32
	var L [lgQK]int8
	for ib := 0; ib < len(src)/lgQK; ib++ {
		x := src[ib*lgQK : ib*lgQK+lgQK]
		b := dst[ib*18 : ib*18+18]
		lgImpWeights(w[:], x, imp[ib*lgQK:ib*lgQK+lgQK], sigma2)
		d := makeQXQuants(lgQK, 8, x, L[:], 1, w[:])
		putF16(b, d)
		for j := 0; j < lgQK/2; j++ {
			b[2+j] = uint8(L[j]) | uint8(L[j+16])<<4
		}
	}
}

func (q4_0Codec) Decode(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/lgQK; ib++ {
		b := src[ib*18 : ib*18+18]
		y := dst[ib*lgQK : ib*lgQK+lgQK]
		d := f16(b)
		for j := 0; j < lgQK/2; j++ {
			q := b[2+j]
			y[j] = float32(int32(q&0x0F)-8) * d
			y[j+lgQK/2] = float32(int32(q>>4)-8) * d
		}
	}
}

// ---- Q4_1 ----

type q4_1Codec struct{}

func (q4_1Codec) Type() format.DType { return format.Q4_1 }

func (q4_1Codec) Encode(dst []byte, src, imp []float32) {
	if imp != nil {
		encodeQ4_1Imp(dst, src, imp)
		return
	}
	for ib := 0; ib < len(src)/lgQK; ib++ {
		x := src[ib*lgQK : ib*lgQK+lgQK]
		b := dst[ib*20 : ib*20+20]
		mn, mx := lgMinMax(x)
		d := (mx - mn) / 15
		id := lgInv(d)
		putF16(b, d)
		putF16(b[2:], mn)
		for j := 0; j < lgQK/2; j++ {
			xi0 := min(15, int32(int8(int32(float32((x[j]-mn)*id)+0.5))))
			xi1 := min(15, int32(int8(int32(float32((x[j+lgQK/2]-mn)*id)+0.5))))
			b[4+j] = uint8(xi0) | uint8(xi1)<<4
		}
	}
}

func encodeQ4_1Imp(dst []byte, src, imp []float32) {
	sigma2 := lgRowSigma2(src)
	var w [lgQK]float32
	var L, Laux [lgQK]uint8
	for ib := 0; ib < len(src)/lgQK; ib++ {
		x := src[ib*lgQK : ib*lgQK+lgQK]
		b := dst[ib*20 : ib*20+20]
		lgImpWeights(w[:], x, imp[ib*lgQK:ib*lgQK+lgQK], sigma2)
		var min float32
		d := makeQKX3Quants(lgQK, 15, x, w[:], L[:], Laux[:], &min, -0.9, 0.05, 36, false)
		putF16(b, d)
		putF16(b[2:], -min)
		for j := 0; j < lgQK/2; j++ {
			b[4+j] = L[j] | L[j+16]<<4
		}
	}
}

func (q4_1Codec) Decode(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/lgQK; ib++ {
		b := src[ib*20 : ib*20+20]
		y := dst[ib*lgQK : ib*lgQK+lgQK]
		d, m := f16(b), f16(b[2:])
		for j := 0; j < lgQK/2; j++ {
			q := b[4+j]
			y[j] = float32(float32(q&0x0F)*d) + m
			y[j+lgQK/2] = float32(float32(q>>4)*d) + m
		}
	}
}

// ---- Q5_0 ----

type q5_0Codec struct{}

func (q5_0Codec) Type() format.DType { return format.Q5_0 }

// lgPack5 stores 32 five-bit codes as qh (4 bytes, little-endian) then qs.
func lgPack5(qh, qs []byte, L *[lgQK]uint8) {
	var h uint32
	for j := 0; j < lgQK/2; j++ {
		xi0, xi1 := L[j], L[j+lgQK/2]
		qs[j] = xi0&0x0F | (xi1&0x0F)<<4
		h |= uint32(xi0&0x10) >> 4 << j
		h |= uint32(xi1&0x10) >> 4 << (j + lgQK/2)
	}
	binary.LittleEndian.PutUint32(qh, h)
}

func (q5_0Codec) Encode(dst []byte, src, imp []float32) {
	if imp != nil {
		encodeQ5_0Imp(dst, src, imp)
		return
	}
	var L [lgQK]uint8
	for ib := 0; ib < len(src)/lgQK; ib++ {
		x := src[ib*lgQK : ib*lgQK+lgQK]
		b := dst[ib*22 : ib*22+22]
		max, _ := signedAbsMax(x)
		d := max / -16
		id := lgInv(d)
		putF16(b, d)
		for j, v := range x {
			L[j] = uint8(min(31, int32(int8(int32(float32(v*id)+16.5)))))
		}
		lgPack5(b[2:6], b[6:22], &L)
	}
}

func encodeQ5_0Imp(dst []byte, src, imp []float32) {
	sigma2 := lgRowSigma2(src)
	var w [lgQK]float32
	var L8 [lgQK]int8
	var L [lgQK]uint8
	for ib := 0; ib < len(src)/lgQK; ib++ {
		x := src[ib*lgQK : ib*lgQK+lgQK]
		b := dst[ib*22 : ib*22+22]
		lgImpWeights(w[:], x, imp[ib*lgQK:ib*lgQK+lgQK], sigma2)
		d := makeQXQuants(lgQK, 16, x, L8[:], 1, w[:])
		putF16(b, d)
		for j, l := range L8 {
			L[j] = uint8(l)
		}
		lgPack5(b[2:6], b[6:22], &L)
	}
}

func (q5_0Codec) Decode(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/lgQK; ib++ {
		b := src[ib*22 : ib*22+22]
		y := dst[ib*lgQK : ib*lgQK+lgQK]
		d := f16(b)
		h := binary.LittleEndian.Uint32(b[2:])
		for j := 0; j < lgQK/2; j++ {
			q := b[6+j]
			x0 := int32(q&0x0F) | int32(h>>j&1)<<4
			x1 := int32(q>>4) | int32(h>>(j+16)&1)<<4
			y[j] = float32(x0-16) * d
			y[j+lgQK/2] = float32(x1-16) * d
		}
	}
}

// ---- Q5_1 ----

type q5_1Codec struct{}

func (q5_1Codec) Type() format.DType { return format.Q5_1 }

func (q5_1Codec) Encode(dst []byte, src, imp []float32) {
	if imp != nil {
		encodeQ5_1Imp(dst, src, imp)
		return
	}
	var L [lgQK]uint8
	for ib := 0; ib < len(src)/lgQK; ib++ {
		x := src[ib*lgQK : ib*lgQK+lgQK]
		b := dst[ib*24 : ib*24+24]
		min, max := lgMinMax(x)
		d := (max - min) / 31
		id := lgInv(d)
		putF16(b, d)
		putF16(b[2:], min)
		for j, v := range x {
			// ggml: (uint8_t)(x0 + 0.5f), no clamp.
			L[j] = uint8(int32(float32((v-min)*id) + 0.5))
		}
		lgPack5(b[4:8], b[8:24], &L)
	}
}

func encodeQ5_1Imp(dst []byte, src, imp []float32) {
	sigma2 := lgRowSigma2(src)
	var w [lgQK]float32
	var L, Laux [lgQK]uint8
	for ib := 0; ib < len(src)/lgQK; ib++ {
		x := src[ib*lgQK : ib*lgQK+lgQK]
		b := dst[ib*24 : ib*24+24]
		lgImpWeights(w[:], x, imp[ib*lgQK:ib*lgQK+lgQK], sigma2)
		var min float32
		d := makeQKX3Quants(lgQK, 31, x, w[:], L[:], Laux[:], &min, -0.9, 0.05, 36, false)
		putF16(b, d)
		putF16(b[2:], -min)
		lgPack5(b[4:8], b[8:24], &L)
	}
}

func (q5_1Codec) Decode(dst []float32, src []byte) {
	for ib := 0; ib < len(dst)/lgQK; ib++ {
		b := src[ib*24 : ib*24+24]
		y := dst[ib*lgQK : ib*lgQK+lgQK]
		d, m := f16(b), f16(b[2:])
		h := binary.LittleEndian.Uint32(b[4:])
		for j := 0; j < lgQK/2; j++ {
			q := b[8+j]
			x0 := uint32(q&0x0F) | (h>>j&1)<<4
			x1 := uint32(q>>4) | (h>>(j+16)&1)<<4
			y[j] = float32(float32(x0)*d) + m
			y[j+lgQK/2] = float32(float32(x1)*d) + m
		}
	}
}
