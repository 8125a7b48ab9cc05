package quantize

import (
	"encoding/binary"

	"github.com/shrink-llm/shrink/format"
)

// IQ4_XS (ggml-common.h block_iq4_xs, 136 bytes per 256 elements): a
// little-endian binary16 super-block scale d, a uint16 scales_h holding the
// high 2 bits of eight 6-bit sub-block scales, 4 bytes scales_l holding
// their low 4 bits (sub-block 2i in the low nibble of byte i, 2i+1 in the
// high one), and 128 bytes of 4-bit indices into kvalues_iq4nl in IQ4_NL's
// nibble order per 32-element sub-block: x = d*(ls-32)*T[q].
//
// The encoder is ggml's quantize_row_iq4_nl_impl with super_block_size 256,
// block_size 32 and ntry 7 (quantize_iq4_xs, with or without importances):
// each sub-block's scale is IQ4_NL's weighted least-squares search over 15
// trial inverse scales, then d = -max_scale/32 for the sub-block scale of
// largest magnitude, each sub-block scale is rounded to a 6-bit l in
// [-32, 31], and the codes are recomputed against d*l. Weights are x² (no
// importances) or imp_j*sqrt(sigma2 + x_j²) with sigma2 twice the mean
// square of the super-block.

const (
	iq4xsBytes = 136
	iq4xsSub   = 32
)

func init() { register(iq4xsCodec{}) }

type iq4xsCodec struct{}

func (iq4xsCodec) Type() format.DType { return format.IQ4_XS }

func (iq4xsCodec) Encode(dst []byte, src, imp []float32) {
	var w [iq4xsSub]float32
	var scales [kqSuper / iq4xsSub]float32
	var L [kqSuper]uint8
	for ibl := 0; ibl < len(src)/kqSuper; ibl++ {
		x := src[ibl*kqSuper : (ibl+1)*kqSuper]
		var qw []float32
		if imp != nil {
			qw = imp[ibl*kqSuper : (ibl+1)*kqSuper]
		}
		iq4xsBlock(dst[ibl*iq4xsBytes:(ibl+1)*iq4xsBytes], x, qw, w[:], scales[:], L[:])
	}
}

// iq4xsBlock encodes one 256-element super-block into b (136 bytes).
func iq4xsBlock(b []byte, x, qw, w, scales []float32, L []uint8) {
	var sigma2 float32
	for _, v := range x {
		sigma2 += float32(v * v)
	}
	sigma2 *= 2.0 / kqSuper
	var maxScale, amaxScale float32
	for ib := range scales {
		xb := x[ib*iq4xsSub : (ib+1)*iq4xsSub]
		if qw != nil {
			lgImpWeights(w, xb, qw[ib*iq4xsSub:(ib+1)*iq4xsSub], sigma2)
		} else {
			for j, v := range xb {
				w[j] = v * v
			}
		}
		d := iq4SubScale(xb, w)
		scales[ib] = d
		if a := absf32(d); a > amaxScale {
			amaxScale, maxScale = a, d
		}
	}
	d := -maxScale / 32
	putF16(b, d)
	id := lgInv(d)
	var sh uint16
	sl := b[4:8]
	for ib, s := range scales {
		l := clampInt32(nearestInt(id*s), -32, 31)
		idl := lgInv(d * float32(l))
		for j, v := range x[ib*iq4xsSub : (ib+1)*iq4xsSub] {
			L[ib*iq4xsSub+j] = uint8(iq4nlIndex(idl * v))
		}
		l += 32
		if ib%2 == 0 {
			sl[ib/2] = uint8(l & 15)
		} else {
			sl[ib/2] |= uint8(l&15) << 4
		}
		sh |= uint16(l>>4) << (2 * ib)
	}
	binary.LittleEndian.PutUint16(b[2:], sh)
	q := b[8:]
	for i := 0; i < kqSuper/32; i++ {
		for j := 0; j < 16; j++ {
			q[16*i+j] = L[32*i+j] | L[32*i+16+j]<<4
		}
	}
}

// iq4SubScale is the per-block scale search of quantize_row_iq4_nl_impl
// (ntry = 7) for one 32-element block with weights w: 0 when the block's
// largest magnitude is below GROUP_MAX_EPS, NaN (as ggml's 0/0) when every
// weighted code square is zero.
func iq4SubScale(x, w []float32) float32 {
	max, amax := signedAbsMax(x)
	if amax < groupMaxEps {
		return 0
	}
	sums := func(id float32) (sumqx, sumq2 float32) {
		for j, v := range x {
			q := float32(iq4nlValues[iq4nlIndex(id*v)])
			sumqx += float32(w[j] * q * v)
			sumq2 += float32(w[j] * q * q)
		}
		return sumqx, sumq2
	}
	d := -max / float32(iq4nlValues[0])
	sumqx, sumq2 := sums(1 / d)
	d = sumqx / sumq2
	best := d * sumqx
	for itry := -7; itry <= 7; itry++ {
		sumqx, sumq2 = sums(float32(itry+int(iq4nlValues[0])) / max)
		if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
			d = sumqx / sumq2
			best = d * sumqx
		}
	}
	return d
}

func (iq4xsCodec) Decode(dst []float32, src []byte) {
	for i := 0; i < len(dst)/kqSuper; i++ {
		b := src[i*iq4xsBytes : (i+1)*iq4xsBytes]
		d := f16(b)
		sh := binary.LittleEndian.Uint16(b[2:])
		for ib := 0; ib < kqSuper/iq4xsSub; ib++ {
			ls := int32(b[4+ib/2]>>(4*(ib%2)))&15 | int32(sh>>(2*ib))&3<<4
			dl := d * float32(ls-32)
			qs := b[8+16*ib : 8+16*ib+16]
			y := dst[i*kqSuper+ib*iq4xsSub:]
			for j := 0; j < 16; j++ {
				y[j] = dl * float32(iq4nlValues[qs[j]&15])
				y[j+16] = dl * float32(iq4nlValues[qs[j]>>4])
			}
		}
	}
}
