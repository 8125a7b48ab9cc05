package quantize

import (
	"encoding/binary"
	"math"

	"github.com/shrink-llm/shrink/format"
)

// A deliberately naive dequantizer: one element at a time, each code read by
// a generic bit-field extraction from a per-type description of the block,
// the scale converted from f16 bits without a table. It is the baseline of
// the decode benchmarks and an independent check of the layouts.

type naiveLayout struct {
	hasMin bool   // d and m f16 at 0 and 2
	qhOff  int    // offset of the 32-bit high-bit field, -1 if none
	qsOff  int    // offset of the codes
	bits   int    // 4 (nibbles, Q4 order) or 8 (bytes)
	offset int    // subtracted from the code
	table  []int8 // non-linear table, or nil
}

var naiveLayouts = map[format.DType]naiveLayout{
	format.Q4_0:   {false, -1, 2, 4, 8, nil},
	format.Q4_1:   {true, -1, 4, 4, 0, nil},
	format.Q5_0:   {false, 2, 6, 4, 16, nil},
	format.Q5_1:   {true, 4, 8, 4, 0, nil},
	format.Q8_0:   {false, -1, 2, 8, 0, nil},
	format.IQ4_NL: {false, -1, 2, 4, 0, iq4nlValues[:]},
	format.Q8_K:   {false, -1, 4, 8, 0, nil},
}

// bitsAt extracts width bits starting at bit position pos of b (LSB first).
func bitsAt(b []byte, pos, width int) uint32 {
	var v uint32
	for i := 0; i < width; i++ {
		p := pos + i
		if b[p/8]>>(p%8)&1 != 0 {
			v |= 1 << i
		}
	}
	return v
}

func naiveDecode(typ format.DType, src []byte, n int) []float32 {
	tr, _ := typ.Traits()
	y := make([]float32, n)
	switch typ {
	case format.F32:
		for i := range y {
			y[i] = math.Float32frombits(bitsAt(src, 32*i, 32))
		}
		return y
	case format.F16:
		for i := range y {
			y[i] = format.F16ToF32(uint16(bitsAt(src, 16*i, 16)))
		}
		return y
	case format.BF16:
		for i := range y {
			y[i] = math.Float32frombits(bitsAt(src, 16*i, 16) << 16)
		}
		return y
	}
	l := naiveLayouts[typ]
	for i := range y {
		blk := src[i/tr.BlockSize*tr.BlockBytes:]
		j := i % tr.BlockSize
		var d, m float32
		if typ == format.Q8_K {
			d = math.Float32frombits(binary.LittleEndian.Uint32(blk))
		} else {
			d = format.F16ToF32(binary.LittleEndian.Uint16(blk))
		}
		if l.hasMin {
			m = format.F16ToF32(binary.LittleEndian.Uint16(blk[2:]))
		}
		var q int32
		if l.bits == 8 {
			q = int32(int8(bitsAt(blk, 8*(l.qsOff+j), 8)))
		} else {
			// element j < 16: low nibble of byte j; j >= 16: high nibble of byte j-16
			pos := 8*(l.qsOff+j%16) + 4*(j/16)
			q = int32(bitsAt(blk, pos, 4))
			if l.qhOff >= 0 {
				q |= int32(bitsAt(blk, 8*l.qhOff+j, 1)) << 4
			}
		}
		switch {
		case l.table != nil:
			y[i] = d * float32(l.table[q])
		case l.hasMin:
			y[i] = float32(float32(q)*d) + m
		default:
			y[i] = float32(q-int32(l.offset)) * d
		}
	}
	return y
}
