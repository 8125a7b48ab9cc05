package kernel

import (
	"encoding/binary"

	"github.com/shrink-llm/shrink/format"
)

func init() { Generic.Dot[format.IQ4_XS] = dotIQ4XS }

// iq4xsScale returns sub-block ib's 6-bit scale minus 32 from the IQ4_XS
// super-block blk (scales_h at blk[2:4], scales_l at blk[4:8]).
func iq4xsScale(blk []byte, ib int) int32 {
	h := binary.LittleEndian.Uint16(blk[2:])
	return int32(blk[4+ib/2]>>(4*(ib%2)))&15 | int32(h>>(2*ib))&3<<4 - 32
}

// dotIQ4XS is ggml's ggml_vec_dot_iq4_xs_q8_K: per 256-element super-block
// d*d8 times the sum over its eight 32-element sub-blocks of (ls-32) times
// the integer dot product of the kvalues_iq4nl codes with the activation
// codes (IQ4_NL's nibble order within each sub-block).
func dotIQ4XS(w []byte, x *Vec) float32 {
	nb := len(x.F) / 256
	w = w[:nb*136]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*136 : b*136+136]
		var isum int32
		for ib := 0; ib < 8; ib++ {
			qs := blk[8+16*ib : 8+16*ib+16]
			q := x.Q[b*256+32*ib : b*256+32*ib+32]
			lo, hi := q[:16], q[16:32]
			var s int32
			for j, v := range qs {
				s += iq4nlValues[v&15]*int32(lo[j]) + iq4nlValues[v>>4]*int32(hi[j])
			}
			isum += iq4xsScale(blk, ib) * s
		}
		sum += f16(blk) * x.D[b] * float32(isum)
	}
	return sum
}
