package kernel

import (
	"encoding/binary"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/iqgrid"
)

// The prefill path of the grid i-quants (IQ3_XXS, IQ3_S, IQ2_XXS, IQ2_XS,
// IQ2_S, IQ1_S, IQ1_M): each weight row is unpacked once to signed bytes
// (the signed grid magnitudes, or 8*point+-1 for IQ1), each 16 elements'
// integer scale 2*ls+1 and each super-block's float scale, and then
// multiplied against every activation row of the batch with plain byte
// products (iqUnpackedDot4AVX2 in iqtile_amd64.s). The integer sum of each
// super-block is the one the dot products compute, so the results equal
// the generic Dot's bit for bit.
//
// The unpacked row of n elements (iqRow) is n weight bytes, n bytes of
// scale words (per 32 elements sixteen int16: eight of the first 16
// elements' scale, eight of the second's, one per VPMADDWD pair lane) and
// n/256 float32 super-block scales.

// iqRow is one unpacked weight row.
type iqRow struct {
	w  []byte    // n signed weight bytes
	sc []byte    // n bytes: per 32 elements sixteen little-endian int16 scales
	d  []float32 // n/256 super-block scales
}

// resize makes r hold nb super-blocks.
func (r *iqRow) resize(nb int) {
	r.w = grow(r.w, 256*nb)
	r.sc = grow(r.sc, 256*nb)
	r.d = grow(r.d, nb)
}

// iqUnpacker unpacks one super-block blk into 256 weight bytes w and the
// sixteen per-16 scales ls, returning the super-block's float scale.
type iqUnpacker func(blk, w []byte, ls *[16]int16) float32

// iqUnpackInfo is a grid type's unpacker, block size in bytes and the
// constant factor its dot product ends with.
type iqUnpackInfo struct {
	unpack iqUnpacker
	bytes  int
	factor float32
}

// iqUnpackers lists the grid types' unpackers.
var iqUnpackers = map[format.DType]iqUnpackInfo{
	format.IQ2_XXS: {unpackIQ2XXS, 66, 0.125},
	format.IQ2_XS:  {unpackIQ2XS, 74, 0.125},
	format.IQ2_S:   {unpackIQ2S, 82, 0.125},
	format.IQ3_XXS: {unpackIQ3XXS, 98, 0.25},
	format.IQ3_S:   {unpackIQ3S, 110, 1},
	format.IQ1_S:   {unpackIQ1S, 50, 0.125},
	format.IQ1_M:   {unpackIQ1M, 56, 0.125},
}

// signMask8 maps a sign byte to a mask of 0xff bytes where its bits are
// set.
var signMask8 = func() (t [256]uint64) {
	for i := range t {
		for j := 0; j < 8; j++ {
			if i>>j&1 != 0 {
				t[i] |= 0xff << (8 * j)
			}
		}
	}
	return t
}()

const ones8 = 0x0101010101010101

// grid1S8 is iq1s_grid times 8 (bytes -8, 0, 8), to which the IQ1 kernels
// add the shift +-1.
var grid1S8 = func() []uint64 {
	g := make([]uint64, len(iqgrid.Grid1S))
	for k, p := range iqgrid.Grid1S {
		for j := 0; j < 8; j++ {
			g[k] |= uint64(uint8(int8(p>>(8*j))*8)) << (8 * j)
		}
	}
	return g
}()

// putSigned stores the eight magnitudes p (each byte at least 1) negated
// where sign bit j of s is set: two's complement per byte as (p^m)+1,
// which never carries since no byte of p is 0.
func putSigned(w []byte, p uint64, s uint8) {
	m := signMask8[s]
	binary.LittleEndian.PutUint64(w, (p^m)+(m&ones8))
}

// addBytes adds a and b byte by byte (modulo 256, no carries between
// bytes).
func addBytes(a, b uint64) uint64 {
	const hi = 0x8080808080808080
	return ((a &^ hi) + (b &^ hi)) ^ ((a ^ b) & hi)
}

// unpackRow unpacks the row blk (nb super-blocks of info's type) into r.
func unpackRow(info iqUnpackInfo, row []byte, r *iqRow, nb int) {
	var ls [16]int16
	for b := 0; b < nb; b++ {
		r.d[b] = info.unpack(row[b*info.bytes:(b+1)*info.bytes], r.w[256*b:256*b+256], &ls)
		sc := r.sc[256*b : 256*b+256]
		for g := 0; g < 16; g++ {
			v := uint64(uint16(ls[g])) * 0x0001000100010001
			binary.LittleEndian.PutUint64(sc[16*g:], v)
			binary.LittleEndian.PutUint64(sc[16*g+8:], v)
		}
	}
}

// unpackIQ2XXS unpacks an IQ2_XXS super-block (see dotIQ2XXS).
func unpackIQ2XXS(blk, w []byte, ls *[16]int16) float32 {
	for ib := 0; ib < 8; ib++ {
		aux := binary.LittleEndian.Uint32(blk[6+8*ib:])
		for l := 0; l < 4; l++ {
			putSigned(w[32*ib+8*l:], iqgrid.Grid2XXS[blk[2+8*ib+l]], iqgrid.Signs[aux>>(7*l)&127])
		}
		ls[2*ib] = int16(2*(aux>>28) + 1)
		ls[2*ib+1] = ls[2*ib]
	}
	return f16(blk)
}

// unpackIQ2XS unpacks an IQ2_XS super-block (see dotIQ2XS).
func unpackIQ2XS(blk, w []byte, ls *[16]int16) float32 {
	for ib := 0; ib < 8; ib++ {
		for l := 0; l < 4; l++ {
			v := binary.LittleEndian.Uint16(blk[2+8*ib+2*l:])
			putSigned(w[32*ib+8*l:], iqgrid.Grid2XS[v&511], iqgrid.Signs[v>>9])
		}
		sc := blk[66+ib]
		ls[2*ib] = int16(2*(sc&15) + 1)
		ls[2*ib+1] = int16(2*(sc>>4) + 1)
	}
	return f16(blk)
}

// unpackIQ2S unpacks an IQ2_S super-block (see dotIQ2S).
func unpackIQ2S(blk, w []byte, ls *[16]int16) float32 {
	qs, signs, qh, sc := blk[2:34], blk[34:66], blk[66:74], blk[74:82]
	for ib := 0; ib < 8; ib++ {
		for l := 0; l < 4; l++ {
			g := int(qs[4*ib+l]) | int(qh[ib])<<(8-2*l)&0x300
			putSigned(w[32*ib+8*l:], iqgrid.Grid2S[g], signs[4*ib+l])
		}
		ls[2*ib] = int16(2*(sc[ib]&15) + 1)
		ls[2*ib+1] = int16(2*(sc[ib]>>4) + 1)
	}
	return f16(blk)
}

// unpackIQ3XXS unpacks an IQ3_XXS super-block (see dotIQ3XXS).
func unpackIQ3XXS(blk, w []byte, ls *[16]int16) float32 {
	q3, gas := blk[2:66], blk[66:98]
	for ib := 0; ib < 8; ib++ {
		aux := binary.LittleEndian.Uint32(gas[4*ib:])
		for l := 0; l < 4; l++ {
			p := uint64(iqgrid.Grid3XXS[q3[8*ib+2*l]]) | uint64(iqgrid.Grid3XXS[q3[8*ib+2*l+1]])<<32
			putSigned(w[32*ib+8*l:], p, iqgrid.Signs[aux>>(7*l)&127])
		}
		ls[2*ib] = int16(2*(aux>>28) + 1)
		ls[2*ib+1] = ls[2*ib]
	}
	return f16(blk)
}

// unpackIQ3S unpacks an IQ3_S super-block (see dotIQ3S).
func unpackIQ3S(blk, w []byte, ls *[16]int16) float32 {
	qs, qh, signs, sc := blk[2:66], blk[66:74], blk[74:106], blk[106:110]
	for ib := 0; ib < 8; ib++ {
		for l := 0; l < 4; l++ {
			g1 := int(qs[8*ib+2*l]) | int(qh[ib]>>(2*l)&1)<<8
			g2 := int(qs[8*ib+2*l+1]) | int(qh[ib]>>(2*l+1)&1)<<8
			p := uint64(iqgrid.Grid3S[g1]) | uint64(iqgrid.Grid3S[g2])<<32
			putSigned(w[32*ib+8*l:], p, signs[4*ib+l])
		}
		ls[2*ib] = int16(2*(sc[ib/2]>>(4*(ib%2))&15) + 1)
		ls[2*ib+1] = ls[2*ib]
	}
	return f16(blk)
}

// unpackIQ1S unpacks an IQ1_S super-block (see dotIQ1S) to 8*point plus
// the sub-block's shift (+-1), so that the integer sum is 8 times
// ggml's sumi plus its sumi1.
func unpackIQ1S(blk, w []byte, ls *[16]int16) float32 {
	for ib := 0; ib < 8; ib++ {
		qh := binary.LittleEndian.Uint16(blk[34+2*ib:])
		shift := uint64(ones8)
		if qh&0x8000 != 0 {
			shift = ^uint64(0)
		}
		for l := 0; l < 4; l++ {
			p := grid1S8[int(blk[2+4*ib+l])|int(qh>>(3*l)&7)<<8]
			binary.LittleEndian.PutUint64(w[32*ib+8*l:], addBytes(p, shift))
		}
		ls[2*ib] = int16(2*(qh>>12&7) + 1)
		ls[2*ib+1] = ls[2*ib]
	}
	return f16(blk)
}

// unpackIQ1M unpacks an IQ1_M super-block (see dotIQ1M) as unpackIQ1S
// does, with a shift per group of eight and a scale per 16.
func unpackIQ1M(blk, w []byte, ls *[16]int16) float32 {
	for i16 := 0; i16 < 16; i16++ {
		sc := binary.LittleEndian.Uint16(blk[48+2*(i16/4):])
		ls[i16] = int16(2*(sc>>(3*(i16%4))&7) + 1)
		qh := blk[32+i16]
		for k := 0; k < 2; k++ {
			shift := uint64(ones8)
			if qh&(0x08<<(4*k)) != 0 {
				shift = ^uint64(0)
			}
			p := grid1S8[int(blk[2*i16+k])|int(qh)<<(8-4*k)&0x700]
			binary.LittleEndian.PutUint64(w[16*i16+8*k:], addBytes(p, shift))
		}
	}
	return iq1MScale(blk)
}

// iqUnpackedDotGo is the pure-Go twin of iqUnpackedDot4AVX2 for one
// activation row: per super-block the exact integer sum of weight byte
// times code times scale, then d*d8 times it added in order, all times
// factor (as the generic dot products compute).
func iqUnpackedDotGo(r *iqRow, x *Vec, nb int, factor float32) float32 {
	var sum float32
	for b := 0; b < nb; b++ {
		var bsum int32
		for e := 256 * b; e < 256*b+256; e++ {
			ls := int32(int16(binary.LittleEndian.Uint16(r.sc[e/32*32+2*(e%32/16*8):])))
			bsum += ls * int32(int8(r.w[e])) * int32(x.Q[e])
		}
		sum += r.d[b] * x.D[b] * float32(bsum)
	}
	return factor * sum
}
