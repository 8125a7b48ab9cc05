package quantize

import (
	"encoding/binary"

	"github.com/shrink-llm/shrink/format"
)

// Fixed-scale encoders for GPTQ. Once a block's scales (and mins) are
// chosen and stored in its bytes, each element can take any value of its
// grid d·q + c, q in lo..hi, where d and c depend on the element's
// sub-block. gptqGrid describes that grid per type and writes one
// element's code into the block, so GPTQ can quantize elements one at a
// time in its own order and leave bytes that the type's standard decoder
// reads back.

// gptqGrid is the fixed-scale view of one block type.
type gptqGrid struct {
	block int // elements per block (the unit the codec's scale search works on)
	bytes int // bytes per block
	// grid returns the step d, offset c and code range lo..hi of element
	// e (0 <= e < block) of the encoded block b: its value is d·q + c.
	grid func(b []byte, e int) (d, c float32, lo, hi int32)
	// put stores code q (lo..hi) of element e into b.
	put func(b []byte, e int, q int32)
}

var gptqGrids = map[format.DType]gptqGrid{
	format.Q8_0: {32, 34, func(b []byte, e int) (float32, float32, int32, int32) {
		// -128 is avoided: SIMD dot products take |q| with sign tricks.
		return f16(b), 0, -127, 127
	}, func(b []byte, e int, q int32) { b[2+e] = byte(int8(q)) }},
	format.Q4_0: {32, 18, func(b []byte, e int) (float32, float32, int32, int32) {
		return f16(b), 0, -8, 7
	}, func(b []byte, e int, q int32) { gptqPutNibble(b[2:], e, uint8(q+8)) }},
	format.Q4_1: {32, 20, func(b []byte, e int) (float32, float32, int32, int32) {
		return f16(b), f16(b[2:]), 0, 15
	}, func(b []byte, e int, q int32) { gptqPutNibble(b[4:], e, uint8(q)) }},
	format.Q5_0: {32, 22, func(b []byte, e int) (float32, float32, int32, int32) {
		return f16(b), 0, -16, 15
	}, func(b []byte, e int, q int32) { gptqPut5(b[2:6], b[6:22], e, uint8(q+16)) }},
	format.Q5_1: {32, 24, func(b []byte, e int) (float32, float32, int32, int32) {
		return f16(b), f16(b[2:]), 0, 31
	}, func(b []byte, e int, q int32) { gptqPut5(b[4:8], b[8:24], e, uint8(q)) }},
	format.Q2_K: {kqSuper, q2KBytes, func(b []byte, e int) (float32, float32, int32, int32) {
		sc := b[e/16]
		return f16(b[80:]) * float32(sc&0xF), -(f16(b[82:]) * float32(sc>>4)), 0, 3
	}, func(b []byte, e int, q int32) { gptqPut2(b[16:80], e, uint8(q)) }},
	format.Q3_K: {kqSuper, q3KBytes, func(b []byte, e int) (float32, float32, int32, int32) {
		return f16(b[108:]) * float32(kqQ3Scale(e/16, b[96:108])), 0, -4, 3
	}, func(b []byte, e int, q int32) {
		l := uint8(q + 4)
		bit := uint8(1) << (e / 32)
		if l > 3 {
			b[e%32] |= bit
			l -= 4
		} else {
			b[e%32] &^= bit
		}
		gptqPut2(b[32:96], e, l)
	}},
	format.Q4_K: {kqSuper, q4KBytes, func(b []byte, e int) (float32, float32, int32, int32) {
		sc, m := kqScaleMin(e/32, b[4:16])
		return f16(b) * float32(sc), -(f16(b[2:]) * float32(m)), 0, 15
	}, func(b []byte, e int, q int32) { gptqPutK4(b[16:144], e, uint8(q)) }},
	format.Q5_K: {kqSuper, q5KBytes, func(b []byte, e int) (float32, float32, int32, int32) {
		sc, m := kqScaleMin(e/32, b[4:16])
		return f16(b) * float32(sc), -(f16(b[2:]) * float32(m)), 0, 31
	}, func(b []byte, e int, q int32) {
		c, r := e/64, e%64
		bit := uint8(1) << (2 * c)
		if r >= 32 {
			bit <<= 1
		}
		if q > 15 {
			b[16+r%32] |= bit
		} else {
			b[16+r%32] &^= bit
		}
		gptqPutK4(b[48:176], e, uint8(q&0xF))
	}},
	format.Q6_K: {kqSuper, q6KBytes, func(b []byte, e int) (float32, float32, int32, int32) {
		return f16(b[208:]) * float32(int8(b[192+e/16])), 0, -32, 31
	}, func(b []byte, e int, q int32) {
		l := uint8(q + 32)
		h, r := e/128, e%128
		k, i := r/32, r%32
		ql := 64*h + i + 32*(k&1)
		if k < 2 {
			b[ql] = b[ql]&0xF0 | l&0xF
		} else {
			b[ql] = b[ql]&0x0F | (l&0xF)<<4
		}
		qh := 128 + 32*h + i
		b[qh] = b[qh]&^(3<<(2*k)) | (l>>4)<<(2*k)
	}},
}

// gptqPutNibble stores the 4-bit code l of element e (0..31) of a legacy
// block's qs: element j < 16 in the low nibble of qs[j], j+16 in the high.
func gptqPutNibble(qs []byte, e int, l uint8) {
	if e < 16 {
		qs[e] = qs[e]&0xF0 | l&0xF
	} else {
		qs[e-16] = qs[e-16]&0x0F | (l&0xF)<<4
	}
}

// gptqPut5 stores the 5-bit code l of element e of a Q5_0/Q5_1 block.
func gptqPut5(qh, qs []byte, e int, l uint8) {
	gptqPutNibble(qs, e, l)
	h := binary.LittleEndian.Uint32(qh)
	if l&0x10 != 0 {
		h |= 1 << e
	} else {
		h &^= 1 << e
	}
	binary.LittleEndian.PutUint32(qh, h)
}

// gptqPut2 stores the 2-bit code l of element e (0..255) in the Q2_K/Q3_K
// packing (kqPack2).
func gptqPut2(qs []byte, e int, l uint8) {
	h, r := e/128, e%128
	i, sh := 32*h+r%32, 2*(r/32)
	qs[i] = qs[i]&^(3<<sh) | (l&3)<<sh
}

// gptqPutK4 stores the low 4 bits l of element e (0..255) in the Q4_K/Q5_K
// nibble packing (q4KPack).
func gptqPutK4(qs []byte, e int, l uint8) {
	c, r := e/64, e%64
	i := 32*c + r%32
	if r < 32 {
		qs[i] = qs[i]&0xF0 | l&0xF
	} else {
		qs[i] = qs[i]&0x0F | (l&0xF)<<4
	}
}

// gptqRound returns the code of lo..hi whose grid value d·q + c is
// nearest to x (ties to even), and that value, computed as the decoders
// compute it.
func gptqRound(x, d, c float32, lo, hi int32) (int32, float32) {
	if d == 0 {
		q := clampInt32(0, lo, hi)
		return q, c
	}
	t := (x - c) / d
	var q int32
	switch {
	case t <= float32(lo):
		q = lo
	case t >= float32(hi):
		q = hi
	case t == t:
		q = clampInt32(nearestInt(t), lo, hi)
	default:
		q = clampInt32(0, lo, hi)
	}
	return q, float32(d*float32(q)) + c
}

// GPTQSupported reports whether GPTQ can write type t (it has a
// fixed-scale encoder for it).
func GPTQSupported(t format.DType) bool {
	_, ok := gptqGrids[t]
	return ok
}
