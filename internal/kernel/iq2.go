package kernel

import (
	"encoding/binary"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/iqgrid"
)

func init() {
	Generic.Dot[format.IQ2_XXS] = dotIQ2XXS
	Generic.Dot[format.IQ2_XS] = dotIQ2XS
	Generic.Dot[format.IQ2_S] = dotIQ2S
}

// iqGroup8x64 is the integer dot product of the eight grid magnitudes of
// point p (one per byte), signed by the bits of signs, with eight codes.
func iqGroup8x64(p uint64, signs uint8, q []int8) int32 {
	var s int32
	for j := 0; j < 8; j++ {
		v := int32(uint8(p>>(8*j))) * int32(q[j])
		if signs>>j&1 != 0 {
			v = -v
		}
		s += v
	}
	return s
}

// dotIQ2XXS is ggml's ggml_vec_dot_iq2_xxs_q8_K (generic): per
// super-block d*d8 times the sum over 32-element sub-blocks of (2*ls+1)
// times the signed grid magnitudes' dot with the codes, all times 1/8.
func dotIQ2XXS(w []byte, x *Vec) float32 {
	nb := len(x.F) / 256
	w = w[:nb*66]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*66 : b*66+66]
		q := x.Q[b*256 : b*256+256]
		var bsum int32
		for ib := 0; ib < 8; ib++ {
			aux := binary.LittleEndian.Uint32(blk[6+8*ib:])
			var s int32
			for l := 0; l < 4; l++ {
				s += iqGroup8x64(iqgrid.Grid2XXS[blk[2+8*ib+l]], iqgrid.Signs[aux>>(7*l)&127], q[32*ib+8*l:])
			}
			bsum += s * int32(2*(aux>>28)+1)
		}
		sum += f16(blk) * x.D[b] * float32(bsum)
	}
	return 0.125 * sum
}

// dotIQ2XS is ggml's ggml_vec_dot_iq2_xs_q8_K (generic): as IQ2_XXS with a
// 9-bit index and 7 sign bits per uint16 and a 4-bit scale per 16
// elements.
func dotIQ2XS(w []byte, x *Vec) float32 {
	nb := len(x.F) / 256
	w = w[:nb*74]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*74 : b*74+74]
		q := x.Q[b*256 : b*256+256]
		var bsum int32
		for ib := 0; ib < 8; ib++ {
			sc := blk[66+ib]
			for h := 0; h < 2; h++ {
				var s int32
				for l := 2 * h; l < 2*h+2; l++ {
					v := binary.LittleEndian.Uint16(blk[2+8*ib+2*l:])
					s += iqGroup8x64(iqgrid.Grid2XS[v&511], iqgrid.Signs[v>>9], q[32*ib+8*l:])
				}
				bsum += s * int32(2*(sc>>(4*h)&15)+1)
			}
		}
		sum += f16(blk) * x.D[b] * float32(bsum)
	}
	return 0.125 * sum
}

// dotIQ2S is ggml's ggml_vec_dot_iq2_s_q8_K (generic): 10-bit grid indices
// (qs and two bits of qh), a sign byte per group of eight and a 4-bit
// scale per 16 elements, all times 1/8.
func dotIQ2S(w []byte, x *Vec) float32 {
	nb := len(x.F) / 256
	w = w[:nb*82]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*82 : b*82+82]
		qs, signs, qh, sc := blk[2:34], blk[34:66], blk[66:74], blk[74:82]
		q := x.Q[b*256 : b*256+256]
		var bsum int32
		for ib := 0; ib < 8; ib++ {
			for h := 0; h < 2; h++ {
				var s int32
				for l := 2 * h; l < 2*h+2; l++ {
					g := int(qs[4*ib+l]) | int(qh[ib])<<(8-2*l)&0x300
					s += iqGroup8x64(iqgrid.Grid2S[g], signs[4*ib+l], q[32*ib+8*l:])
				}
				bsum += s * int32(2*(sc[ib]>>(4*h)&15)+1)
			}
		}
		sum += f16(blk) * x.D[b] * float32(bsum)
	}
	return 0.125 * sum
}
