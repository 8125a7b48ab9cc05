package quantize

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// TestRoundHalfAway: roundHalfAway agrees with int32(math.Round) on every
// float32 in [-2^24, 2^24] near a half-integer, on random bit patterns
// (infinities, NaN and huge values included) and on hand-picked values.
func TestRoundHalfAway(t *testing.T) {
	check := func(y float32) {
		if got, want := roundHalfAway(y), int32(math.Round(float64(y))); got != want {
			t.Fatalf("roundHalfAway(%v) = %d, want %d", y, got, want)
		}
	}
	for _, y := range []float32{0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997, 126.5, 127.49999, 127.5,
		-127.5, -128.5, 8388607.5, -8388607.5, 8388608, 16777217, 2147483520, -2147483648, 3e9, -3e9,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.SmallestNonzeroFloat32} {
		check(y)
	}
	for k := int32(-300); k <= 300; k++ {
		h := float32(k) + 0.5
		for _, y := range []float32{h, math.Nextafter32(h, -1e9), math.Nextafter32(h, 1e9), float32(k)} {
			check(y)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1 << 20 {
		check(math.Float32frombits(r.Uint32()))
		check(float32(r.NormFloat64() * 100))
	}
}

// TestF16DecodeAll: the F16 codec decodes every binary16 pattern (NaN
// payloads included) as format.F16ToF32 does, at every offset of a row
// (the vector kernel's blocks of 8 and the scalar tail).
func TestF16DecodeAll(t *testing.T) {
	c, _ := CodecFor(format.F16)
	for _, skipNaN := range []bool{true, false} {
		var row []byte
		var want []uint16
		for i := range 1 << 16 {
			h := uint16(i)
			if skipNaN && h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
				continue
			}
			row = binary.LittleEndian.AppendUint16(row, h)
			want = append(want, h)
		}
		for _, off := range []int{0, 1, 7, 13} {
			n := len(want) - off
			dst := make([]float32, n)
			c.Decode(dst, row[2*off:])
			for i, v := range dst {
				if w := format.F16ToF32(want[off+i]); math.Float32bits(v) != math.Float32bits(w) {
					t.Fatalf("nan=%v off %d: f16 %#04x decodes to %#08x, want %#08x", !skipNaN, off, want[off+i], math.Float32bits(v), math.Float32bits(w))
				}
			}
		}
	}
}

// TestQ8_0KernelMatchesGo: the Q8_0 and Q4_0 encoders (AVX2 blocks where
// available) write the bytes of q8_0EncodeGo and q4_0EncodeGo on random, scaled, sparse, constant,
// tiny, huge, NaN and infinite blocks.
func TestQ8_0KernelMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	c, _ := CodecFor(format.Q8_0)
	c4, _ := CodecFor(format.Q4_0)
	for rep := range 3000 {
		nb := 1 + r.IntN(5)
		x := make([]float32, nb*32)
		s := math.Pow(10, float64(r.IntN(80)-40))
		for i := range x {
			switch r.IntN(40) {
			case 0:
				x[i] = float32(math.NaN())
			case 1:
				x[i] = float32(math.Inf(1 - 2*r.IntN(2)))
			case 2:
				x[i] = 0
			case 3:
				x[i] = math.Float32frombits(r.Uint32())
			default:
				x[i] = float32(r.NormFloat64() * s)
			}
			if rep%3 == 0 && !math.IsNaN(float64(x[i])) && !math.IsInf(float64(x[i]), 0) {
				x[i] = float32(r.NormFloat64() * s) // mostly finite rows
			}
		}
		if rep%7 == 0 {
			for i := range x {
				x[i] = float32(int(x[i]*0)+r.IntN(255)-127) * 0.5 // exact halves
			}
		}
		if rep%11 == 0 {
			for i := range x {
				x[i] = 0
			}
			x[r.IntN(len(x))] = float32(math.Copysign(0, -1))
		}
		got, want := make([]byte, nb*34), make([]byte, nb*34)
		c.Encode(got, x, nil)
		q8_0EncodeGo(want, x)
		if string(got) != string(want) {
			t.Fatalf("q8_0 rep %d: %x\nwant %x\nx=%v", rep, got, want, x)
		}
		got, want = make([]byte, nb*18), make([]byte, nb*18)
		c4.Encode(got, x, nil)
		q4_0EncodeGo(want, x)
		if string(got) != string(want) {
			t.Fatalf("q4_0 rep %d: %x\nwant %x\nx=%v", rep, got, want, x)
		}
	}
	t.Logf("AVX2 %v F16C %v", useAVX2, useF16C)
}

// TestCheckFinitePositions: one NaN or infinity anywhere in rows of 1..41
// elements is reported with its index; finite rows (the largest floats
// and subnormals included) pass.
func TestCheckFinitePositions(t *testing.T) {
	for n := 1; n <= 41; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = []float32{math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1, -0.0}[i%5]
		}
		if err := CheckFinite("t", x); err != nil {
			t.Fatalf("n=%d finite row: %v", n, err)
		}
		for i := range x {
			for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
				y := append([]float32(nil), x...)
				y[i] = bad
				err := CheckFinite("t", y)
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("element %d ", i)) {
					t.Fatalf("n=%d %v at %d: %v", n, bad, i, err)
				}
			}
		}
	}
}
