package kernel

import (
	"encoding/binary"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/iqgrid"
)

func init() {
	Generic.Dot[format.IQ3_XXS] = dotIQ3XXS
	Generic.Dot[format.IQ3_S] = dotIQ3S
}

// iqGroup8 is the integer dot product of eight grid magnitudes (points g1,
// g2 of grid) signed by the bits of signs with eight activation codes.
func iqGroup8(grid []uint32, g1, g2 int, signs uint8, q []int8) int32 {
	var s int32
	a, b := grid[g1], grid[g2]
	for j := 0; j < 4; j++ {
		v1 := int32(uint8(a>>(8*j))) * int32(q[j])
		v2 := int32(uint8(b>>(8*j))) * int32(q[j+4])
		if signs>>j&1 != 0 {
			v1 = -v1
		}
		if signs>>(j+4)&1 != 0 {
			v2 = -v2
		}
		s += v1 + v2
	}
	return s
}

// dotIQ3XXS is ggml's ggml_vec_dot_iq3_xxs_q8_K (generic): per
// super-block d*d8 times the sum over sub-blocks of (2*ls+1) times the
// signed grid magnitudes' dot with the codes, all times 1/4.
func dotIQ3XXS(w []byte, x *Vec) float32 {
	nb := len(x.F) / 256
	w = w[:nb*98]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*98 : b*98+98]
		q3, gas := blk[2:66], blk[66:98]
		q := x.Q[b*256 : b*256+256]
		var bsum int32
		for ib := 0; ib < 8; ib++ {
			aux := binary.LittleEndian.Uint32(gas[4*ib:])
			var s int32
			for l := 0; l < 4; l++ {
				s += iqGroup8(iqgrid.Grid3XXS, int(q3[8*ib+2*l]), int(q3[8*ib+2*l+1]), iqgrid.Signs[aux>>(7*l)&127], q[32*ib+8*l:])
			}
			bsum += s * int32(2*(aux>>28)+1)
		}
		sum += f16(blk) * x.D[b] * float32(bsum)
	}
	return 0.25 * sum
}

// dotIQ3S is ggml's ggml_vec_dot_iq3_s_q8_K (generic): as IQ3_XXS with
// nine-bit grid indices, sign bytes and scales 2*ls+1, without the 1/4.
func dotIQ3S(w []byte, x *Vec) float32 {
	nb := len(x.F) / 256
	w = w[:nb*110]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*110 : b*110+110]
		qs, qh, signs, sc := blk[2:66], blk[66:74], blk[74:106], blk[106:110]
		q := x.Q[b*256 : b*256+256]
		var bsum int32
		for ib := 0; ib < 8; ib++ {
			var s int32
			for l := 0; l < 4; l++ {
				g1 := int(qs[8*ib+2*l]) | int(qh[ib]>>(2*l)&1)<<8
				g2 := int(qs[8*ib+2*l+1]) | int(qh[ib]>>(2*l+1)&1)<<8
				s += iqGroup8(iqgrid.Grid3S, g1, g2, signs[4*ib+l], q[32*ib+8*l:])
			}
			bsum += s * int32(2*(sc[ib/2]>>(4*(ib%2))&15)+1)
		}
		sum += f16(blk) * x.D[b] * float32(bsum)
	}
	return sum
}
