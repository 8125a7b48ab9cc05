package kernel

import (
	"encoding/binary"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/iqgrid"
)

func init() {
	Generic.Dot[format.IQ1_S] = dotIQ1S
	Generic.Dot[format.IQ1_M] = dotIQ1M
}

// iq1Group8 returns the integer dot product of grid point g of iq1s_grid
// (coordinates -1, 0, 1) with eight codes, and the codes' sum.
func iq1Group8(g int, q []int8) (dot, sum int32) {
	p := iqgrid.Grid1S[g]
	for j := 0; j < 8; j++ {
		dot += int32(int8(p>>(8*j))) * int32(q[j])
		sum += int32(q[j])
	}
	return dot, sum
}

// dotIQ1S is ggml's ggml_vec_dot_iq1_s_q8_K (generic): per super-block
// d*d8 times the sum over 32-element sub-blocks of (2*ls+1) times the grid
// points' dot with the codes plus IQ1S_DELTA (signed by bit 15) times the
// codes' sum (from the activation's 16-code sums).
func dotIQ1S(w []byte, x *Vec) float32 {
	nb := len(x.F) / 256
	w = w[:nb*50]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*50 : b*50+50]
		q := x.Q[b*256 : b*256+256]
		var sumi, sumi1 int32
		for ib := 0; ib < 8; ib++ {
			qh := binary.LittleEndian.Uint16(blk[34+2*ib:])
			ls := int32(2*(qh>>12&7) + 1)
			var lsum int32
			for l := 0; l < 4; l++ {
				d, _ := iq1Group8(int(blk[2+4*ib+l])|int(qh>>(3*l)&7)<<8, q[32*ib+8*l:])
				lsum += d
			}
			bs := int32(x.BSums[16*b+2*ib]) + int32(x.BSums[16*b+2*ib+1])
			if qh&0x8000 != 0 {
				bs = -bs
			}
			sumi += ls * lsum
			sumi1 += ls * bs
		}
		sum += f16(blk) * x.D[b] * (float32(sumi) + 0.125*float32(sumi1))
	}
	return sum
}

// iq1MScale reads IQ1_M's f16 super-block scale from the top nibbles of
// its four scale words (blk[48:56]).
func iq1MScale(blk []byte) float32 {
	var u uint16
	for i := 0; i < 4; i++ {
		u |= binary.LittleEndian.Uint16(blk[48+2*i:]) >> 12 << (4 * i)
	}
	return f16([]byte{byte(u), byte(u >> 8)})
}

// dotIQ1M is ggml's ggml_vec_dot_iq1_m_q8_K (generic): per 16 elements a
// 3-bit scale (2*ls+1) and per group of eight a shift sign (qh bits 3 and
// 7), the shifts' IQ1M_DELTA times the codes' sums added to the grid dot
// products.
func dotIQ1M(w []byte, x *Vec) float32 {
	nb := len(x.F) / 256
	w = w[:nb*56]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*56 : b*56+56]
		q := x.Q[b*256 : b*256+256]
		var sumi1, sumi2 int32
		for i16 := 0; i16 < 16; i16++ {
			sc := binary.LittleEndian.Uint16(blk[48+2*(i16/4):])
			ls := int32(2*(sc>>(3*(i16%4))&7) + 1)
			qh := blk[32+i16]
			var s1, s2 int32
			for k := 0; k < 2; k++ {
				d, s := iq1Group8(int(blk[2*i16+k])|int(qh)<<(8-4*k)&0x700, q[16*i16+8*k:])
				if qh&(0x08<<(4*k)) != 0 {
					s = -s
				}
				s1 += d
				s2 += s
			}
			sumi1 += s1 * ls
			sumi2 += s2 * ls
		}
		sum += iq1MScale(blk) * x.D[b] * (float32(sumi1) + 0.125*float32(sumi2))
	}
	return sum
}
