package quantize

import (
	"encoding/binary"
	"math"

	"github.com/shrink-llm/shrink/format"
)

// Fixed-scale encoders for GPTQ. Once a block's scales (and mins) are
// chosen and stored in its bytes, each element can take any value of its
// grid d·q + c, q in lo..hi (or, for the non-linear types IQ4_NL and
// IQ4_XS, d·levels[q−lo] + c), where d and c depend on the element's
// sub-block. gptqGrid describes that grid per type and writes one
// element's code into the block, so GPTQ can quantize elements one at a
// time in its own order and leave bytes that the type's standard decoder
// reads back.

// gptqGrid is the fixed-scale view of one block type.
type gptqGrid struct {
	block int // elements per block (the unit the codec's scale search works on)
	bytes int // bytes per block
	// grid returns the step d, offset c and code range lo..hi of element
	// e (0 <= e < block) of the encoded block b: its value is d·q + c
	// (d·levels[q−lo] + c with levels). They depend only on b's scale
	// bytes and on e's sub-block (all e when sub is 0), never on the
	// element codes put writes.
	grid func(b []byte, e int) (d, c float32, lo, hi int32)
	// put stores code q (lo..hi) of element e into b.
	put func(b []byte, e int, q int32)

	// For types with sub-block scale codes (the K-quants, IQ4_XS): sub
	// elements share the codes (scale and, when mins, min) that param
	// reads and setParam writes, each in plo..phi. GPTQ re-chooses them
	// when it reaches the sub-block (refit).
	sub      int
	mins     bool
	plo, phi int32
	win      int32 // refit searches codes within ±win of the stored ones
	param    func(b []byte, j int) (sc, m int32)
	setParam func(b []byte, j int, sc, m int32)

	// levels, when not nil, makes the grid non-linear: code q's value is
	// d·levels[q−lo] + c, levels ascending with hi−lo+1 entries, and
	// rounding picks the nearest level (gptqLevels.round).
	levels *gptqLevels

	// vec, when not nil, makes the block a grid i-quant's: GPTQ assigns
	// groups of elements jointly (gptq_vec.go) and grid, put, sub and
	// levels are unused.
	vec *gptqVec
}

// gptqLevels is a non-linear grid's table of levels (ascending) and the
// midpoints between neighbours, the rounding thresholds.
type gptqLevels struct {
	v   []float32
	mid []float32 // mid[i] = (v[i] + v[i+1]) / 2
}

// newGPTQLevels returns the levels of the int8 table t (ascending).
func newGPTQLevels(t []int8) *gptqLevels {
	l := &gptqLevels{v: make([]float32, len(t)), mid: make([]float32, len(t)-1)}
	for i, v := range t {
		l.v[i] = float32(v)
	}
	for i := range l.mid {
		l.mid[i] = (l.v[i] + l.v[i+1]) / 2
	}
	return l
}

// iq4Levels is IQ4_NL's and IQ4_XS's table kvalues_iq4nl.
var iq4Levels = newGPTQLevels(iq4nlValues[:])

// index returns the index of the level nearest t (ties to the upper one,
// as ggml's best_index_int8; NaN gives the level nearest 0).
func (l *gptqLevels) index(t float32) int {
	if t != t {
		t = 0
	}
	if m := l.mid; len(m) == 15 {
		// Sixteen levels (IQ4's table): four fixed steps.
		i := 0
		if t >= m[7] {
			i = 8
		}
		if t >= m[i+3] {
			i += 4
		}
		if t >= m[i+1] {
			i += 2
		}
		if t >= m[i] {
			i++
		}
		return i
	}
	lo, hi := 0, len(l.mid) // the answer is in lo..hi
	for lo < hi {
		m := (lo + hi) / 2
		if t >= l.mid[m] {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// round returns the code (lo + index) whose value d·v[index] + c is
// nearest to x, and that value as the decoders compute it.
func (l *gptqLevels) round(x, d, c float32, lo int32) (int32, float32) {
	if d == 0 {
		i := l.index(0)
		return lo + int32(i), c
	}
	i := l.index((x - c) / d)
	return lo + int32(i), float32(d*l.v[i]) + c
}

// round is gptqRound on g's grid: the code of lo..hi whose value is
// nearest to x, and that value.
func (g *gptqGrid) round(x, d, c float32, lo, hi int32) (int32, float32) {
	if g.levels != nil {
		return g.levels.round(x, d, c, lo)
	}
	return gptqRound(x, d, c, lo, hi)
}

// value is the value of code q on g's grid with step d and offset c.
func (g *gptqGrid) value(d, c float32, lo, q int32) float32 {
	if g.levels != nil {
		return float32(d*g.levels.v[q-lo]) + c
	}
	return float32(d*float32(q)) + c
}

var gptqGrids = map[format.DType]gptqGrid{
	format.Q8_0: {block: 32, bytes: 34, grid: func(b []byte, e int) (float32, float32, int32, int32) {
		// -128 is avoided: SIMD dot products take |q| with sign tricks.
		return f16(b), 0, -127, 127
	}, put: func(b []byte, e int, q int32) { b[2+e] = byte(int8(q)) }},
	format.Q4_0: {block: 32, bytes: 18, grid: func(b []byte, e int) (float32, float32, int32, int32) {
		return f16(b), 0, -8, 7
	}, put: func(b []byte, e int, q int32) { gptqPutNibble(b[2:], e, uint8(q+8)) }},
	format.Q4_1: {block: 32, bytes: 20, grid: func(b []byte, e int) (float32, float32, int32, int32) {
		return f16(b), f16(b[2:]), 0, 15
	}, put: func(b []byte, e int, q int32) { gptqPutNibble(b[4:], e, uint8(q)) }},
	format.Q5_0: {block: 32, bytes: 22, grid: func(b []byte, e int) (float32, float32, int32, int32) {
		return f16(b), 0, -16, 15
	}, put: func(b []byte, e int, q int32) { gptqPut5(b[2:6], b[6:22], e, uint8(q+16)) }},
	format.Q5_1: {block: 32, bytes: 24, grid: func(b []byte, e int) (float32, float32, int32, int32) {
		return f16(b), f16(b[2:]), 0, 31
	}, put: func(b []byte, e int, q int32) { gptqPut5(b[4:8], b[8:24], e, uint8(q)) }},
	format.Q2_K: {block: kqSuper, bytes: q2KBytes, grid: func(b []byte, e int) (float32, float32, int32, int32) {
		sc := b[e/16]
		return f16(b[80:]) * float32(sc&0xF), -(f16(b[82:]) * float32(sc>>4)), 0, 3
	}, put: func(b []byte, e int, q int32) { gptqPut2(b[16:80], e, uint8(q)) },
		sub: 16, mins: true, plo: 0, phi: 15, win: 15, param: func(b []byte, j int) (int32, int32) {
			return int32(b[j] & 0xF), int32(b[j] >> 4)
		}, setParam: func(b []byte, j int, sc, m int32) { b[j] = uint8(sc) | uint8(m)<<4 }},
	format.Q3_K: {block: kqSuper, bytes: q3KBytes, grid: func(b []byte, e int) (float32, float32, int32, int32) {
		return f16(b[108:]) * float32(kqQ3Scale(e/16, b[96:108])), 0, -4, 3
	}, put: func(b []byte, e int, q int32) {
		l := uint8(q + 4)
		bit := uint8(1) << (e / 32)
		if l > 3 {
			b[e%32] |= bit
			l -= 4
		} else {
			b[e%32] &^= bit
		}
		gptqPut2(b[32:96], e, l)
	}, sub: 16, plo: -32, phi: 31, win: 63, param: func(b []byte, j int) (int32, int32) {
		return int32(kqQ3Scale(j, b[96:108])), 0
	}, setParam: func(b []byte, j int, sc, _ int32) {
		s, l := b[96:108], uint8(sc+32)
		if j < 8 {
			s[j] = s[j]&0xF0 | l&0xF
		} else {
			s[j-8] = s[j-8]&0x0F | (l&0xF)<<4
		}
		sh := 2 * (j / 4)
		s[8+j%4] = s[8+j%4]&^(3<<sh) | (l>>4)<<sh
	}},
	format.Q4_K: {block: kqSuper, bytes: q4KBytes, grid: func(b []byte, e int) (float32, float32, int32, int32) {
		sc, m := kqScaleMin(e/32, b[4:16])
		return f16(b) * float32(sc), -(f16(b[2:]) * float32(m)), 0, 15
	}, put: func(b []byte, e int, q int32) { gptqPutK4(b[16:144], e, uint8(q)) },
		sub: 32, mins: true, plo: 0, phi: 63, win: 8, param: gptqScaleMinK, setParam: gptqSetScaleMinK},
	format.Q5_K: {block: kqSuper, bytes: q5KBytes, grid: func(b []byte, e int) (float32, float32, int32, int32) {
		sc, m := kqScaleMin(e/32, b[4:16])
		return f16(b) * float32(sc), -(f16(b[2:]) * float32(m)), 0, 31
	}, put: func(b []byte, e int, q int32) {
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
	}, sub: 32, mins: true, plo: 0, phi: 63, win: 8, param: gptqScaleMinK, setParam: gptqSetScaleMinK},
	format.Q6_K: {block: kqSuper, bytes: q6KBytes, grid: func(b []byte, e int) (float32, float32, int32, int32) {
		return f16(b[208:]) * float32(int8(b[192+e/16])), 0, -32, 31
	}, put: func(b []byte, e int, q int32) {
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
	}, sub: 16, plo: -128, phi: 127, win: 24, param: func(b []byte, j int) (int32, int32) {
		return int32(int8(b[192+j])), 0
	}, setParam: func(b []byte, j int, sc, _ int32) { b[192+j] = uint8(int8(sc)) }},
	format.IQ4_NL: {block: lgQK, bytes: 18, grid: func(b []byte, e int) (float32, float32, int32, int32) {
		return f16(b), 0, 0, 15
	}, put: func(b []byte, e int, q int32) { gptqPutNibble(b[2:], e, uint8(q)) }, levels: iq4Levels},
	format.IQ4_XS: {block: kqSuper, bytes: iq4xsBytes, grid: func(b []byte, e int) (float32, float32, int32, int32) {
		sc, _ := gptqScaleIQ4XS(b, e/iq4xsSub)
		return f16(b) * float32(sc), 0, 0, 15
	}, put: func(b []byte, e int, q int32) { gptqPutNibble(b[8+16*(e/iq4xsSub):], e%iq4xsSub, uint8(q)) },
		sub: iq4xsSub, plo: -32, phi: 31, win: 63, param: gptqScaleIQ4XS, setParam: gptqSetScaleIQ4XS, levels: iq4Levels},
	format.IQ3_S:   {block: kqSuper, bytes: 110, vec: gptqVecs[format.IQ3_S]},
	format.IQ3_XXS: {block: kqSuper, bytes: 98, vec: gptqVecs[format.IQ3_XXS]},
	format.IQ2_S:   {block: kqSuper, bytes: 82, vec: gptqVecs[format.IQ2_S]},
	format.IQ2_XS:  {block: kqSuper, bytes: 74, vec: gptqVecs[format.IQ2_XS]},
	format.IQ2_XXS: {block: kqSuper, bytes: 66, vec: gptqVecs[format.IQ2_XXS]},
}

// gptqScaleIQ4XS reads the scale ls−32 (−32..31) of sub-block j of an
// IQ4_XS block.
func gptqScaleIQ4XS(b []byte, j int) (int32, int32) {
	sh := binary.LittleEndian.Uint16(b[2:])
	ls := int32(b[4+j/2]>>(4*(j%2)))&15 | int32(sh>>(2*j))&3<<4
	return ls - 32, 0
}

// gptqSetScaleIQ4XS overwrites the scale of sub-block j of an IQ4_XS block
// with sc (−32..31), the other sub-blocks' bits kept.
func gptqSetScaleIQ4XS(b []byte, j int, sc, _ int32) {
	l := uint8(sc + 32)
	sh := 4 * (j % 2)
	b[4+j/2] = b[4+j/2]&^(15<<sh) | (l&15)<<sh
	h := binary.LittleEndian.Uint16(b[2:])
	h = h&^(3<<(2*j)) | uint16(l>>4)<<(2*j)
	binary.LittleEndian.PutUint16(b[2:], h)
}

// gptqScaleMinK reads the 6-bit scale and min of sub-block j of a Q4_K or
// Q5_K block.
func gptqScaleMinK(b []byte, j int) (int32, int32) {
	sc, m := kqScaleMin(j, b[4:16])
	return int32(sc), int32(m)
}

// gptqSetScaleMinK overwrites the 6-bit scale and min of sub-block j of a
// Q4_K or Q5_K block (kqPutScaleMin's packing, other bits kept).
func gptqSetScaleMinK(b []byte, j int, sc, m int32) {
	q := b[4:16]
	ls, lm := uint8(sc), uint8(m)
	if j < 4 {
		q[j] = q[j]&0xC0 | ls
		q[j+4] = q[j+4]&0xC0 | lm
		return
	}
	q[j+4] = ls&0xF | (lm&0xF)<<4
	q[j-4] = q[j-4]&0x3F | (ls>>4)<<6
	q[j] = q[j]&0x3F | (lm>>4)<<6
}

// refit re-chooses the scale (and min) codes of sub-block j of the encoded
// block b for the current values x of its elements, minimising the
// w-weighted squared error of rounding x to the sub-block's grid. Scale
// codes within ±win of the stored one are tried; for types with mins, each
// scale is paired with the least-squares offset (two fixed-point rounds from
// the best so far) rounded to its code and that code's neighbours. This is
// how GPTQ's per-group parameters follow the error feedback (the block's
// super-scales stay as the codec chose them).
func (g *gptqGrid) refit(b []byte, j int, x, w []float32) {
	sc0, m0 := g.param(b, j)
	e0 := j * g.sub
	// The super-scales are the grid of codes (1, 1).
	g.setParam(b, j, 1, 1)
	d, c1, lo, hi := g.grid(b, e0)
	dmin := -c1
	g.setParam(b, j, sc0, m0)
	if d == 0 || d != d || dmin != dmin {
		return
	}
	werr := func(D, C, best float32) float32 {
		var err float32
		for k, v := range x {
			_, q := g.round(v, D, C, lo, hi)
			err += float32(w[k] * (v - q) * (v - q))
			if err >= best {
				break
			}
		}
		return err
	}
	bsc, bm := sc0, m0
	best := werr(d*float32(sc0), -(dmin * float32(m0)), float32(math.Inf(1)))
	for sc := max(g.plo, sc0-g.win); sc <= min(g.phi, sc0+g.win); sc++ {
		D := d * float32(sc)
		if !g.mins {
			if err := werr(D, 0, best); err < best {
				best, bsc = err, sc
			}
			continue
		}
		if dmin == 0 {
			continue
		}
		M := dmin * float32(bm)
		for it := 0; it < 2; it++ {
			var s, sw float32
			for k, v := range x {
				_, y := g.round(v, D, -M, lo, hi)
				s += float32(w[k] * (y - v)) // y = D·q - M
				sw += w[k]
			}
			if sw > 0 {
				M += s / sw
			}
		}
		t := M / dmin
		if !(t > float32(g.plo)-2 && t < float32(g.phi)+2) {
			continue
		}
		mc := nearestInt(t)
		for m := max(g.plo, mc-1); m <= min(g.phi, mc+1); m++ {
			if err := werr(D, -(dmin * float32(m)), best); err < best {
				best, bsc, bm = err, sc, m
			}
		}
	}
	g.setParam(b, j, bsc, bm)
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
// fixed-scale encoder for it): the legacy types, the K-quants and the
// i-quants but IQ1_S and IQ1_M.
func GPTQSupported(t format.DType) bool {
	_, ok := gptqGrids[t]
	return ok
}
