package quantize

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// Naive per-element decoders, written from the layout description in
// shrink's spec §2 (element index -> bit position) rather than from ggml's
// loops. They serve as the baseline of the decode benchmarks and as an
// independent check of the fast decoders' element order.

// kqBitsAt extracts width bits of b starting at bit position pos (LSB first
// within each byte).
func kqBitsAt(b []byte, pos, width int) uint32 {
	var v uint32
	for i := 0; i < width; i++ {
		p := pos + i
		v |= uint32(b[p/8]>>(p%8)&1) << i
	}
	return v
}

func kqNaiveF16(b []byte) float32 { return format.F16ToF32(binary.LittleEndian.Uint16(b)) }

// kqNaive6bit returns Q4_K/Q5_K's 6-bit scale and min of sub-block j.
func kqNaive6bit(s []byte, j int) (sc, m uint32) {
	if j < 4 {
		return kqBitsAt(s, 8*j, 6), kqBitsAt(s, 8*(j+4), 6)
	}
	sc = kqBitsAt(s, 8*(j+4), 4) | kqBitsAt(s, 8*(j-4)+6, 2)<<4
	m = kqBitsAt(s, 8*(j+4)+4, 4) | kqBitsAt(s, 8*j+6, 2)<<4
	return sc, m
}

// kqNaiveLow2 is the 2-bit code of element e in Q2_K/Q3_K's qs.
func kqNaiveLow2(qs []byte, e int) uint32 {
	h, r := e/128, e%128
	k, t := r/32, r%32 // t < 16: qs[32h+t]; t >= 16: qs[32h+t] as well
	return kqBitsAt(qs, 8*(32*h+t)+2*k, 2)
}

func kqNaiveDecodeElem(t format.DType, b []byte, e int) float32 {
	switch t {
	case format.Q2_K:
		g := e / 16
		d, dmin := kqNaiveF16(b[80:]), kqNaiveF16(b[82:])
		sc, m := kqBitsAt(b, 8*g, 4), kqBitsAt(b, 8*g+4, 4)
		q := kqNaiveLow2(b[16:80], e)
		return float32(d*float32(sc)*float32(q)) - dmin*float32(m)
	case format.Q3_K:
		g := e / 16
		var lo uint32
		if g < 8 {
			lo = kqBitsAt(b[96:], 8*g, 4)
		} else {
			lo = kqBitsAt(b[96:], 8*(g-8)+4, 4)
		}
		s := int32(lo|kqBitsAt(b[96:], 8*(8+g%4)+2*(g/4), 2)<<4) - 32
		q := int32(kqNaiveLow2(b[32:96], e))
		if kqBitsAt(b, 8*(e%32)+e/32, 1) == 0 {
			q -= 4
		}
		return kqNaiveF16(b[108:]) * float32(s) * float32(q)
	case format.Q4_K, format.Q5_K:
		j := e / 32
		c, r := e/64, e%64
		qsOff := 16
		if t == format.Q5_K {
			qsOff = 48
		}
		q := kqBitsAt(b[qsOff:], 8*(32*c+r%32)+4*(r/32), 4)
		if t == format.Q5_K {
			q |= kqBitsAt(b[16:48], 8*(r%32)+j, 1) << 4
		}
		sc, m := kqNaive6bit(b[4:16], j)
		return float32(kqNaiveF16(b)*float32(sc)*float32(q)) - kqNaiveF16(b[2:])*float32(m)
	case format.Q6_K:
		h, r := e/128, e%128
		k, l := r/32, r%32
		qlByte := 64*h + l + 32*(k%2)
		low := kqBitsAt(b, 8*qlByte+4*(k/2), 4)
		high := kqBitsAt(b[128:], 8*(32*h+l)+2*k, 2)
		q := int32(low|high<<4) - 32
		sc := int8(b[192+e/16])
		return kqNaiveF16(b[208:]) * float32(sc) * float32(q)
	}
	panic("not a K-quant")
}

// kqNaiveDecode decodes a row element by element.
func kqNaiveDecode(t format.DType, dst []float32, src []byte) {
	bb := t.BlockBytes()
	for i := range dst {
		blk := i / kqSuper
		dst[i] = kqNaiveDecodeElem(t, src[blk*bb:(blk+1)*bb], i%kqSuper)
	}
}

func kqSameFloat(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// TestKQuantDecodeMatchesNaive decodes random bytes with both decoders and
// requires bit-identical results (any NaN matching any NaN).
func TestKQuantDecodeMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, typ := range kqTypes {
		c, _ := CodecFor(typ)
		bb := typ.BlockBytes()
		src := make([]byte, 4*bb)
		for trial := 0; trial < 50; trial++ {
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			fast := make([]float32, 4*kqSuper)
			slow := make([]float32, 4*kqSuper)
			c.Decode(fast, src)
			kqNaiveDecode(typ, slow, src)
			for i := range fast {
				if !kqSameFloat(fast[i], slow[i]) {
					t.Fatalf("%s trial %d element %d: decode %g, naive %g", typ, trial, i, fast[i], slow[i])
				}
			}
		}
	}
}
