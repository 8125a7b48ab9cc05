package quantize

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// kqDecode1 decodes one hand-made super-block of type t.
func kqDecode1(t *testing.T, typ format.DType, b []byte) []float32 {
	t.Helper()
	c, ok := CodecFor(typ)
	if !ok {
		t.Fatalf("no codec for %s", typ)
	}
	y := make([]float32, kqSuper)
	c.Decode(y, b)
	return y
}

func kqExpect(t *testing.T, y []float32, want map[int]float32) {
	t.Helper()
	for e, w := range want {
		if y[e] != w {
			t.Errorf("element %d = %g, want %g", e, y[e], w)
		}
	}
}

func TestQ2KLayout(t *testing.T) {
	b := make([]byte, 84)
	binary.LittleEndian.PutUint16(b[80:], 0x3c00) // d = 1
	binary.LittleEndian.PutUint16(b[82:], 0x3800) // dmin = 0.5
	b[0] = 0x21                                   // group 0: scale 1, min 2
	b[2] = 0x13                                   // group 2: scale 3, min 1
	b[3] = 0x05                                   // group 3: scale 5, min 0
	b[12] = 0x4F                                  // group 12: scale 15, min 4
	b[15] = 0xF2                                  // group 15: scale 2, min 15
	qs := b[16:80]
	qs[0] = 0x03  // element 0 (bits 0-1) = 3; element 32 (bits 2-3) = 0
	qs[5] = 0x08  // element 37: half 0, k=1, l=5 -> bits 2-3 of qs[5] = 2
	qs[18] = 0x04 // element 50: half 0, k=1, l=16+2 -> bits 2-3 of qs[18] = 1
	qs[40] = 0x30 // element 200: half 1, k=2, l=8 -> bits 4-5 of qs[32+8] = 3
	qs[63] = 0x40 // element 255: half 1, k=3, l=16+15 -> bits 6-7 of qs[63] = 1
	y := kqDecode1(t, format.Q2_K, b)
	kqExpect(t, y, map[int]float32{
		0:   1*3 - 0.5*2,
		1:   1*0 - 0.5*2,
		32:  3*0 - 0.5*1,
		37:  3*2 - 0.5*1,
		50:  5 * 1,
		200: 15*3 - 0.5*4,
		255: 2*1 - 0.5*15,
		100: 0, // group 6: scale 0, min 0
	})
}

func TestQ3KLayout(t *testing.T) {
	b := make([]byte, 110)
	binary.LittleEndian.PutUint16(b[108:], 0x3c00) // d = 1
	hmask, qs, s := b[0:32], b[32:96], b[96:108]
	// 6-bit scales: s0 = 1 (low nibble of s[0]) | 0<<4 -> 1-32 = -31;
	// s8 = 2 (high nibble of s[0]) | 2<<4 = 34 -> +2;
	// s4 = 15 (low nibble of s[4]) | 1<<4 = 31 -> -1;
	// s12 = 0 (high nibble of s[4]) | 3<<4 = 48 -> +16.
	// Top bits: s[8] holds groups 0,4,8,12 at bits 0,2,4,6.
	s[0] = 0x21
	s[4] = 0x0F
	s[8] = 0xE4 // 0b11_10_01_00
	for i := range hmask {
		hmask[i] = 0xFF // high bit set: no -4
	}
	qs[0] = 0x03         // element 0: bits 0-1 of qs[0] = 3; hmask[0] bit 0 set -> 3
	qs[1] = 0x20         // element 65: half 0, k=2, l=1 -> bits 4-5 of qs[1] = 2
	hmask[1] &^= 1 << 2  // element 65 = 32*2+1: bit 2 of hmask[1] clear -> 2-4
	qs[44] = 0x01        // element 140: half 1, k=0, l=12 -> bits 0-1 of qs[32+12] = 1
	qs[40] = 0x30        // element 200: half 1, k=2, l=8 -> bits 4-5 of qs[32+8] = 3
	hmask[8] &^= 1 << 6  // element 200 = 32*6+8: bit 6 of hmask[8] clear -> 3-4
	hmask[20] &^= 1 << 0 // element 20: q 0 - 4 in group 1 (s1 = 0 -> -32)
	y := kqDecode1(t, format.Q3_K, b)
	kqExpect(t, y, map[int]float32{
		0:   -31 * 3,
		65:  -1 * (2 - 4),
		140: 2 * 1,
		200: 16 * (3 - 4),
		20:  -32 * (0 - 4),
		1:   0, // q 0 with the high bit set
	})
}

func kqQ45Scales(b []byte) {
	// Sub-block 0: sc = s[0]&63 = 5, m = s[4]&63 = 7.
	// Sub-block 1: sc = s[1]&63 = 3, m = s[5]&63 = 2.
	// Sub-block 4: sc = (s[8]&15) | (s[0]>>6)<<4 = 2|48 = 50,
	//              m  = (s[8]>>4) | (s[4]>>6)<<4 = 9|16 = 25.
	s := b[4:16]
	s[0] = 0xC5
	s[4] = 0x47
	s[1] = 0x03
	s[5] = 0x02
	s[8] = 0x92
	binary.LittleEndian.PutUint16(b[0:], 0x3c00) // d = 1
	binary.LittleEndian.PutUint16(b[2:], 0x3800) // dmin = 0.5
}

func TestQ4KLayout(t *testing.T) {
	b := make([]byte, 144)
	kqQ45Scales(b)
	qs := b[16:144]
	qs[3] = 0xA9  // element 3 (sub-block 0) low nibble 9; element 35 (sub-block 1) high nibble 10
	qs[66] = 0x07 // element 130 = 64*2+2: low nibble of qs[32*2+2], sub-block 4
	y := kqDecode1(t, format.Q4_K, b)
	kqExpect(t, y, map[int]float32{
		3:   5*9 - 0.5*7,
		35:  3*10 - 0.5*2,
		130: 50*7 - 0.5*25,
		2:   -0.5 * 7,
	})
}

func TestQ5KLayout(t *testing.T) {
	b := make([]byte, 176)
	kqQ45Scales(b)
	qh, qs := b[16:48], b[48:176]
	qs[3] = 0xA9
	qs[66] = 0x07
	qh[2] = 1 << 4 // element 130: chunk 2, low half -> bit 2*2 of qh[2]
	qh[3] = 1 << 1 // element 35: chunk 0, high half -> bit 1 of qh[3]
	qh[7] = 1 << 7 // element 64*3+32+7 = 231: bit 7 of qh[7]; sub-block 7 has sc = m = 0
	y := kqDecode1(t, format.Q5_K, b)
	kqExpect(t, y, map[int]float32{
		3:   5*9 - 0.5*7,
		35:  3*(10+16) - 0.5*2,
		130: 50*(7+16) - 0.5*25,
		231: 0,
	})
}

func TestQ6KLayout(t *testing.T) {
	b := make([]byte, 210)
	binary.LittleEndian.PutUint16(b[208:], 0x3800) // d = 0.5
	ql, qh, sc := b[0:128], b[128:192], b[192:208]
	sc[0] = 2
	sc[5] = 0xFD // -3
	sc[10] = 1
	sc[13] = 4
	ql[0] = 0x05   // element 0: low nibble of ql[0] = 5
	qh[0] = 0x02   // element 0: bits 0-1 of qh[0] = 2 -> q = 5|32 = 37
	ql[16] = 0xF0  // element 80 = 64+16: high nibble of ql[16] = 15, qh[16] bits 4-5 = 0
	ql[92] = 0x30  // element 220 = 128+64+28: high nibble of ql[64+28] = 3
	qh[60] = 0x30  // element 220: bits 4-5 of qh[32+28] = 3 -> q = 51
	ql[106] = 0x0C // element 170 = 128+32+10: low nibble of ql[64+32+10] = 12
	qh[42] = 0x04  // element 170: bits 2-3 of qh[32+10] = 1 -> q = 28
	y := kqDecode1(t, format.Q6_K, b)
	kqExpect(t, y, map[int]float32{
		0:   0.5 * 2 * (37 - 32),
		80:  0.5 * -3 * (15 - 32),
		220: 0.5 * 4 * (51 - 32),
		170: 0.5 * 1 * (28 - 32),
		1:   0.5 * 2 * -32,
	})
}

// kqRows returns rows×n values from gen.
func kqRows(rows, n int, gen func(i int) float32) []float32 {
	x := make([]float32, rows*n)
	for i := range x {
		x[i] = gen(i)
	}
	return x
}

// kqRoundTrip encodes x row by row (rows of n) and decodes it back.
func kqRoundTrip(typ format.DType, x, imp []float32, n int) []float32 {
	c, _ := CodecFor(typ)
	rb := n / kqSuper * typ.BlockBytes()
	buf := make([]byte, rb)
	y := make([]float32, len(x))
	for r := 0; r < len(x)/n; r++ {
		c.Encode(buf, x[r*n:(r+1)*n], imp)
		c.Decode(y[r*n:(r+1)*n], buf)
	}
	return y
}

// kqRelRMSE is sqrt(Σ(y-x)² / Σx²).
func kqRelRMSE(x, y []float32) float64 {
	var num, den float64
	for i := range x {
		d := float64(y[i]) - float64(x[i])
		num += d * d
		den += float64(x[i]) * float64(x[i])
	}
	return math.Sqrt(num / den)
}

// Rows of 1024 (4 super-blocks), 16 rows.
const kqTestN, kqTestRows = 1024, 16

func kqGaussian(seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	return kqRows(kqTestRows, kqTestN, func(int) float32 { return float32(rng.NormFloat64()) * 0.02 })
}

// kqHeavy is Student-t-like (Gaussian over the square root of a Gamma-ish
// mixture) plus rare 20σ outliers.
func kqHeavy(seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 9))
	return kqRows(kqTestRows, kqTestN, func(int) float32 {
		v := rng.NormFloat64() / math.Sqrt(0.25+rng.ExpFloat64())
		if rng.IntN(500) == 0 {
			v = 20 * math.Copysign(1, rng.NormFloat64())
		}
		return float32(v)
	})
}

// Relative RMSE bounds per type. Measured with the seeds below and ggml's
// reference quantizers (Gaussian / heavy-tailed): Q2_K 0.300/0.309,
// Q3_K 0.152/0.179, Q4_K 0.072/0.091, Q5_K 0.036/0.046, Q6_K 0.018/0.026.
// Each extra bit should roughly halve the error (uniform quantization:
// step/sqrt(12) per element); Q2_K and Q3_K lose more because 4 and 8
// levels cannot track a Gaussian's tails. The bounds leave about 10%
// headroom, so a regression in a scale search (which costs 10-30%) fails.
// Heavy tails cost more because one outlier stretches its whole group's
// scale, though the relative measure is dominated by the outliers
// themselves, which K-quants reproduce well.
var kqBounds = map[format.DType]struct{ gauss, heavy float64 }{
	format.Q2_K: {0.33, 0.34},
	format.Q3_K: {0.17, 0.20},
	format.Q4_K: {0.08, 0.10},
	format.Q5_K: {0.04, 0.05},
	format.Q6_K: {0.02, 0.03},
}

func TestKQuantRMSE(t *testing.T) {
	for _, typ := range kqTypes {
		g := kqGaussian(1)
		h := kqHeavy(2)
		eg := kqRelRMSE(g, kqRoundTrip(typ, g, nil, kqTestN))
		eh := kqRelRMSE(h, kqRoundTrip(typ, h, nil, kqTestN))
		t.Logf("%s: gaussian %.4f heavy %.4f", typ, eg, eh)
		b, ok := kqBounds[typ]
		if !ok {
			continue
		}
		if eg > b.gauss {
			t.Errorf("%s: Gaussian relative RMSE %.4f > %.4f", typ, eg, b.gauss)
		}
		if eh > b.heavy {
			t.Errorf("%s: heavy-tailed relative RMSE %.4f > %.4f", typ, eh, b.heavy)
		}
	}
}

// TestKQuantConstantAndZero: an all-zero row decodes to exact zeros, and a
// constant row (positive or negative) to that constant within the f16
// precision of the super-block scale d (relative 2^-11 for a normal f16;
// the 4/6/8-bit scale codes are exact for a constant). Small constants
// push d into f16's subnormal range (Q6_K's d = c/4096 is 7e-7 for
// c = 3e-3, where f16 steps are 6e-8), a property of ggml's format that
// real weight rows share, so those get a 3% bound.
func TestKQuantConstantAndZero(t *testing.T) {
	for _, typ := range kqTypes {
		for _, withImp := range []bool{false, true} {
			var imp []float32
			if withImp {
				imp = kqRows(1, kqTestN, func(i int) float32 { return 1 + float32(i%5) })
			}
			zero := make([]float32, 2*kqTestN)
			for i, v := range kqRoundTrip(typ, zero, imp, kqTestN) {
				if v != 0 {
					t.Fatalf("%s imp=%v: zero row element %d decodes to %g", typ, withImp, i, v)
				}
			}
			for _, c := range []float32{0.7, -0.7, 3e-3, -125} {
				x := kqRows(2, kqTestN, func(int) float32 { return c })
				y := kqRoundTrip(typ, x, imp, kqTestN)
				e := kqRelRMSE(x, y)
				bound := 2e-3
				if math.Abs(float64(c)) < 0.1 {
					bound = 0.03
				}
				if e > bound {
					t.Errorf("%s imp=%v: constant %g: relative RMSE %.2g (y[0] = %g)", typ, withImp, c, e, y[0])
				}
			}
		}
	}
}

// TestKQuantOrdering: more bits, less error, on the same Gaussian data.
func TestKQuantOrdering(t *testing.T) {
	x := kqGaussian(3)
	prev := math.Inf(1)
	for _, typ := range kqTypes { // Q2_K .. Q6_K
		e := kqRelRMSE(x, kqRoundTrip(typ, x, nil, kqTestN))
		if e >= prev {
			t.Errorf("%s error %.4f is not below the previous type's %.4f", typ, e, prev)
		}
		prev = e
	}
}

// kqWeightedSE is Σ imp_j (y_j - x_j)² over rows of length len(imp).
func kqWeightedSE(x, y, imp []float32) float64 {
	var s float64
	for i := range x {
		d := float64(y[i]) - float64(x[i])
		s += float64(imp[i%len(imp)]) * d * d
	}
	return s
}

// TestKQuantImportance: with skewed channel importances (1 for most
// channels, 50 for one channel in eight, 0.01 for one in five, as an
// activation second-moment vector looks), the importance-weighted encoder
// has a lower importance-weighted error than the reference one, for every
// K type, on Gaussian and heavy-tailed data.
func TestKQuantImportance(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	imp := kqRows(1, kqTestN, func(int) float32 {
		switch {
		case rng.IntN(8) == 0:
			return 50
		case rng.IntN(5) == 0:
			return 0.01
		}
		return 1
	})
	for _, typ := range kqTypes {
		for name, x := range map[string][]float32{"gaussian": kqGaussian(4), "heavy": kqHeavy(5)} {
			plain := kqWeightedSE(x, kqRoundTrip(typ, x, nil, kqTestN), imp)
			weighted := kqWeightedSE(x, kqRoundTrip(typ, x, imp, kqTestN), imp)
			t.Logf("%s %s: weighted error %.4g without imp, %.4g with (%.0f%%)", typ, name, plain, weighted, 100*weighted/plain)
			if !(weighted < plain) {
				t.Errorf("%s %s: weighted error with importances %.4g is not below %.4g without", typ, name, weighted, plain)
			}
		}
	}
}

// TestKQuantLengthPanics: a row that is not whole super-blocks, or a
// buffer of the wrong size, is a programming error and panics with a
// message instead of corrupting memory.
func TestKQuantLengthPanics(t *testing.T) {
	c, _ := CodecFor(format.Q4_K)
	for name, f := range map[string]func(){
		"partial block": func() { c.Encode(make([]byte, 144), make([]float32, 255), nil) },
		"short dst":     func() { c.Encode(make([]byte, 143), make([]float32, 256), nil) },
		"short imp":     func() { c.Encode(make([]byte, 144), make([]float32, 256), make([]float32, 10)) },
		"short src":     func() { c.Decode(make([]float32, 512), make([]byte, 144)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestKQuantRegistered: the five K codecs are registered with their types.
func TestKQuantRegistered(t *testing.T) {
	for _, typ := range kqTypes {
		c, ok := CodecFor(typ)
		if !ok || c.Type() != typ {
			t.Errorf("%s: codec missing or mistyped", typ)
		}
	}
}
