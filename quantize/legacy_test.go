package quantize

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// legacyTypes are the types this file's codecs implement.
var legacyTypes = []format.DType{
	format.F32, format.F16, format.BF16,
	format.Q8_0, format.Q4_0, format.Q4_1, format.Q5_0, format.Q5_1, format.IQ4_NL, format.Q8_K,
}

func rowLen(t format.DType, n int) int {
	tr, _ := t.Traits()
	return n / tr.BlockSize * tr.BlockBytes
}

func encode(tb testing.TB, t format.DType, x, imp []float32) []byte {
	tb.Helper()
	b := make([]byte, rowLen(t, len(x)))
	if err := EncodeRow(t, b, x, imp); err != nil {
		tb.Fatal(err)
	}
	return b
}

func decode(tb testing.TB, t format.DType, b []byte, n int) []float32 {
	tb.Helper()
	y := make([]float32, n)
	if err := DecodeRow(t, y, b); err != nil {
		tb.Fatal(err)
	}
	return y
}

func f16le(b []byte, f float32) { binary.LittleEndian.PutUint16(b, format.F32ToF16(f)) }

func assertFloats(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: element %d = %v, want %v", name, i, got[i], want[i])
		}
	}
}

// ---- exact layouts: known bytes -> known values ----

func TestDecodeLayoutQ4_0(t *testing.T) {
	b := make([]byte, 18)
	binary.LittleEndian.PutUint16(b, 0x3C00) // d = 1.0
	for j := 0; j < 16; j++ {
		b[2+j] = byte(j) | byte(15-j)<<4
	}
	want := make([]float32, 32)
	for j := 0; j < 16; j++ {
		want[j] = float32(j - 8)    // low nibbles: 0..15 -> -8..7
		want[j+16] = float32(7 - j) // high nibbles: 15..0 -> 7..-8
	}
	assertFloats(t, "q4_0", decode(t, format.Q4_0, b, 32), want)
}

func TestDecodeLayoutQ4_1(t *testing.T) {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint16(b, 0x3800)     // d = 0.5
	binary.LittleEndian.PutUint16(b[2:], 0xC000) // m = -2
	for j := 0; j < 16; j++ {
		b[4+j] = byte(j) | 0xF0
	}
	want := make([]float32, 32)
	for j := 0; j < 16; j++ {
		want[j] = 0.5*float32(j) - 2
		want[j+16] = 0.5*15 - 2
	}
	assertFloats(t, "q4_1", decode(t, format.Q4_1, b, 32), want)
}

func TestDecodeLayoutQ5_0(t *testing.T) {
	b := make([]byte, 22)
	binary.LittleEndian.PutUint16(b, 0x4000) // d = 2
	// Fifth bits: elements 0, 3 and 16 (bit 16 of H = bit 0 of qh[2]), 31.
	binary.LittleEndian.PutUint32(b[2:], 1<<0|1<<3|1<<16|1<<31)
	for j := 0; j < 16; j++ {
		b[6+j] = byte(j&0xF) | byte(j&0xF)<<4
	}
	got := decode(t, format.Q5_0, b, 32)
	want := make([]float32, 32)
	for j := 0; j < 16; j++ {
		want[j] = 2 * float32(j-16)
		want[j+16] = 2 * float32(j-16)
	}
	want[0] = 2 * float32(0+16-16)
	want[3] = 2 * float32(3+16-16)
	want[16] = 2 * float32(0+16-16)
	want[31] = 2 * float32(15+16-16)
	assertFloats(t, "q5_0", got, want)
}

func TestDecodeLayoutQ5_1(t *testing.T) {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint16(b, 0x3C00)     // d = 1
	binary.LittleEndian.PutUint16(b[2:], 0x3C00) // m = 1
	binary.LittleEndian.PutUint32(b[4:], 0xFFFF0000)
	for j := 0; j < 16; j++ {
		b[8+j] = byte(j) | byte(j)<<4
	}
	want := make([]float32, 32)
	for j := 0; j < 16; j++ {
		want[j] = float32(j) + 1       // fifth bit clear
		want[j+16] = float32(j+16) + 1 // fifth bit set
	}
	assertFloats(t, "q5_1", decode(t, format.Q5_1, b, 32), want)
}

func TestDecodeLayoutQ8_0(t *testing.T) {
	b := make([]byte, 34)
	binary.LittleEndian.PutUint16(b, 0x3400) // d = 0.25
	for j := 0; j < 32; j++ {
		b[2+j] = byte(int8(j*8 - 128))
	}
	want := make([]float32, 32)
	for j := range want {
		want[j] = 0.25 * float32(j*8-128)
	}
	assertFloats(t, "q8_0", decode(t, format.Q8_0, b, 32), want)
}

func TestDecodeLayoutIQ4_NL(t *testing.T) {
	table := []float32{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}
	b := make([]byte, 18)
	binary.LittleEndian.PutUint16(b, 0xB800) // d = -0.5
	for j := 0; j < 16; j++ {
		b[2+j] = byte(j) | byte(15-j)<<4
	}
	want := make([]float32, 32)
	for j := 0; j < 16; j++ {
		want[j] = -0.5 * table[j]
		want[j+16] = -0.5 * table[15-j]
	}
	assertFloats(t, "iq4_nl", decode(t, format.IQ4_NL, b, 32), want)
}

func TestDecodeLayoutQ8_K(t *testing.T) {
	b := make([]byte, 292)
	binary.LittleEndian.PutUint32(b, math.Float32bits(0.125))
	for j := 0; j < 256; j++ {
		b[4+j] = byte(int8(j - 128))
	}
	want := make([]float32, 256)
	for j := range want {
		want[j] = 0.125 * float32(j-128)
	}
	assertFloats(t, "q8_K", decode(t, format.Q8_K, b, 256), want)
}

func TestDecodeLayoutFloats(t *testing.T) {
	b := []byte{0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B} // 1, -2, 65504
	assertFloats(t, "f16", decode(t, format.F16, b, 3), []float32{1, -2, 65504})
	b = []byte{0x80, 0x3F, 0x49, 0x40} // bf16 1.0, 3.140625
	assertFloats(t, "bf16", decode(t, format.BF16, b, 2), []float32{1, 3.140625})
	b = []byte{0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0}
	assertFloats(t, "f32", decode(t, format.F32, b, 2), []float32{1, -2})
}

// ---- known inputs -> known bytes (hand-derived) ----

// Q8_0 of 0..31: amax 31, d = 31/127 (f16 0x33D0), codes round(j*127/31).
func TestEncodeQ8_0Ramp(t *testing.T) {
	x := make([]float32, 32)
	for j := range x {
		x[j] = float32(j)
	}
	b := encode(t, format.Q8_0, x, nil)
	if h := binary.LittleEndian.Uint16(b); h != 0x33D0 {
		t.Fatalf("d = %#04x, want 0x33d0", h)
	}
	for j := 0; j < 32; j++ {
		want := int8(math.Round(float64(j) * 127 / 31))
		if got := int8(b[2+j]); got != want {
			t.Errorf("qs[%d] = %d, want %d", j, got, want)
		}
	}
	if b[2+31] != 127 || b[2+10] != 41 {
		t.Errorf("qs[31]=%d qs[10]=%d, want 127 41", b[33], b[12])
	}
}

// Q4_0 of j-16: the extreme is -16, so d = -16/-8 = 2 (f16 0x4000), id = 0.5,
// q = min(15, trunc((j-16)*0.5 + 8.5)) = min(15, (j+1)/2).
func TestEncodeQ4_0Ramp(t *testing.T) {
	x := make([]float32, 32)
	for j := range x {
		x[j] = float32(j - 16)
	}
	b := encode(t, format.Q4_0, x, nil)
	if h := binary.LittleEndian.Uint16(b); h != 0x4000 {
		t.Fatalf("d = %#04x, want 0x4000", h)
	}
	if b[2] != 0x80 || b[3] != 0x91 || b[17] != 0xF8 {
		t.Fatalf("qs[0,1,15] = %#02x %#02x %#02x, want 0x80 0x91 0xf8", b[2], b[3], b[17])
	}
	for j := 0; j < 16; j++ {
		lo, hi := min(15, (j+1)/2), min(15, (j+17)/2)
		if want := byte(lo | hi<<4); b[2+j] != want {
			t.Errorf("qs[%d] = %#02x, want %#02x", j, b[2+j], want)
		}
	}
}

// Q4_1 of 0..31 with min 0 and max 31: d = 31/15, m = 0, q = trunc(j*15/31 + 0.5).
// Q5_1 of the same: d = 1 (f16 0x3C00), q = j exactly; the fifth bits are
// set for elements 16..31 only: qh = 0xFFFF0000.
func TestEncodeQ4_1Q5_1Ramp(t *testing.T) {
	x := make([]float32, 32)
	for j := range x {
		x[j] = float32(j)
	}
	b := encode(t, format.Q5_1, x, nil)
	if d, m := binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:]); d != 0x3C00 || m != 0 {
		t.Fatalf("q5_1 d,m = %#04x,%#04x, want 0x3c00,0", d, m)
	}
	if h := binary.LittleEndian.Uint32(b[4:]); h != 0xFFFF0000 {
		t.Fatalf("q5_1 qh = %#08x", h)
	}
	for j := 0; j < 16; j++ {
		if want := byte(j | j<<4); b[8+j] != want {
			t.Errorf("q5_1 qs[%d] = %#02x, want %#02x", j, b[8+j], want)
		}
	}
	b = encode(t, format.Q4_1, x, nil)
	if m := binary.LittleEndian.Uint16(b[2:]); m != 0 {
		t.Fatalf("q4_1 m = %#04x", m)
	}
	id := 1 / float32(31.0/15)
	for j := 0; j < 16; j++ {
		lo := int(float32(float32(j)*id) + 0.5)
		hi := int(float32(float32(j+16)*id) + 0.5)
		if want := byte(lo | hi<<4); b[4+j] != want {
			t.Errorf("q4_1 qs[%d] = %#02x, want %#02x", j, b[4+j], want)
		}
	}
	if b[4] != 0x80 || b[4+15] != 0xF7 {
		t.Errorf("q4_1 qs[0], qs[15] = %#02x %#02x, want 0x80 0xf7", b[4], b[19])
	}
}

// Q5_0 of j-16 (extreme -16): d = 1, q = min(31, trunc(j - 16 + 16.5)) = j.
func TestEncodeQ5_0Ramp(t *testing.T) {
	x := make([]float32, 32)
	for j := range x {
		x[j] = float32(j - 16)
	}
	b := encode(t, format.Q5_0, x, nil)
	if d := binary.LittleEndian.Uint16(b); d != 0x3C00 {
		t.Fatalf("d = %#04x", d)
	}
	if h := binary.LittleEndian.Uint32(b[2:]); h != 0xFFFF0000 {
		t.Fatalf("qh = %#08x", h)
	}
	assertFloats(t, "q5_0 roundtrip", decode(t, format.Q5_0, b, 32), x)
}

// Q8_K of a row whose extreme is -127: iscale = 1, d = 1, codes = x, and the
// bsums are the sums of 16 codes.
func TestEncodeQ8_K(t *testing.T) {
	x := make([]float32, 256)
	for j := range x {
		x[j] = float32(j%100 - 50)
	}
	x[77] = -127
	b := encode(t, format.Q8_K, x, nil)
	if d := math.Float32frombits(binary.LittleEndian.Uint32(b)); d != 1 {
		t.Fatalf("d = %v", d)
	}
	for g := 0; g < 16; g++ {
		var sum int
		for j := 16 * g; j < 16*g+16; j++ {
			if int8(b[4+j]) != int8(x[j]) {
				t.Fatalf("qs[%d] = %d, want %v", j, int8(b[4+j]), x[j])
			}
			sum += int(x[j])
		}
		if got := int16(binary.LittleEndian.Uint16(b[260+2*g:])); int(got) != sum {
			t.Errorf("bsums[%d] = %d, want %d", g, got, sum)
		}
	}
	// A positive extreme maps to -127 codes... negated: iscale = -127/max < 0.
	for j := range x {
		x[j] = 0
	}
	x[5] = 2
	b = encode(t, format.Q8_K, x, nil)
	if d := math.Float32frombits(binary.LittleEndian.Uint32(b)); d != -2.0/127 || int8(b[4+5]) != -127 {
		t.Fatalf("d = %v, qs[5] = %d", d, int8(b[9]))
	}
}

// IQ4_NL of a block holding only ±c and zeros: with the table's -127 and
// 113 entries the best fit is the scale c/-127... checked by decoding: the
// largest magnitude is reproduced within f16 rounding, zeros map to code 8
// (the table's 1, the entry nearest 0).
func TestEncodeIQ4_NLZeroBlock(t *testing.T) {
	x := make([]float32, 32)
	b := encode(t, format.IQ4_NL, x, nil)
	if b[0] != 0 || b[1] != 0 {
		t.Fatalf("d = %#02x%02x, want 0", b[1], b[0])
	}
	for j := 2; j < 18; j++ {
		if b[j] != 0x88 {
			t.Fatalf("qs[%d] = %#02x, want 0x88", j-2, b[j])
		}
	}
}

// ---- round trip error bounds ----

func relRMSE(x, y []float32) float64 {
	var num, den float64
	for i := range x {
		d := float64(x[i]) - float64(y[i])
		num += d * d
		den += float64(x[i]) * float64(x[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func gaussRow(r *rand.Rand, n int, sigma float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(sigma * r.NormFloat64())
	}
	return x
}

// heavyRow is Laplace-distributed with one outlier of 20x scale per 50
// elements and a few Student-t(3)-like spikes.
func heavyRow(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		v := r.ExpFloat64() * 0.02
		if r.IntN(2) == 0 {
			v = -v
		}
		if r.IntN(50) == 0 {
			v *= 20
		}
		x[i] = float32(v)
	}
	return x
}

// Bounds on the relative RMS error (error RMS / signal RMS). A uniform code
// with step D has RMS error about D/sqrt(12). For a Gaussian block of 32 the
// largest magnitude is about 2.1 sigma: Q4_0 (step = max/8 ≈ 0.27σ) then
// gives ≈ 0.08, Q5_0 ≈ 0.04, Q8_0 (step max/127) ≈ 0.005; the asymmetric
// Q4_1/Q5_1 spread their levels over [min, max] (≈ 4.1σ) and do slightly
// better. Heavy tails (Laplace with 20x outliers) stretch the range for the
// rest of the block, so those bounds are looser, most for Q8_K whose one
// scale covers 256 elements. Each bound is the value measured on this data
// plus 20-30% margin; the F16/BF16 bounds follow from their 11- and 8-bit
// significands (RMS ≈ 2^-12 and 2^-9 relative).
var roundTripBounds = map[format.DType]struct{ gauss, heavy float64 }{
	format.F32:    {0, 0},
	format.F16:    {4e-4, 4e-4},
	format.BF16:   {3e-3, 3e-3},
	format.Q8_0:   {0.008, 0.015},
	format.Q8_K:   {0.01, 0.036},
	format.Q5_1:   {0.05, 0.07},
	format.Q5_0:   {0.06, 0.10},
	format.Q4_1:   {0.10, 0.15},
	format.Q4_0:   {0.12, 0.16},
	format.IQ4_NL: {0.10, 0.14},
}

func TestRoundTripBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 4096
	g := gaussRow(r, n, 0.02)
	h := heavyRow(r, n)
	for _, typ := range legacyTypes {
		bd := roundTripBounds[typ]
		for _, tc := range []struct {
			name  string
			x     []float32
			bound float64
		}{{"gauss", g, bd.gauss}, {"heavy", h, bd.heavy}} {
			e := relRMSE(tc.x, decode(t, typ, encode(t, typ, tc.x, nil), n))
			t.Logf("%-7s %-5s rel RMSE %.5f (bound %.4f)", typ, tc.name, e, tc.bound)
			if e > tc.bound {
				t.Errorf("%s %s: relative RMSE %.5f > %.4f", typ, tc.name, e, tc.bound)
			}
		}
		// Constant rows are reproduced up to the f16 rounding of the scale
		// (2^-11 relative for a normal f16, a little more when the scale is
		// an f16 subnormal, as IQ4_NL's c/127 is for c = 1.5e-3; BF16
		// stores the value itself with 8 bits).
		for _, c := range []float32{0.37, -1.5e-3, 12} {
			x := make([]float32, n)
			for i := range x {
				x[i] = c
			}
			bound := 2e-3
			if typ == format.BF16 {
				bound = 4e-3
			}
			if e := relRMSE(x, decode(t, typ, encode(t, typ, x, nil), n)); e > bound {
				t.Errorf("%s constant %v: relative RMSE %g > %g", typ, c, e, bound)
			}
		}
		// All-zero rows decode to exact zeros, with and without importances.
		z := make([]float32, n)
		imp := make([]float32, n)
		for i := range imp {
			imp[i] = 1
		}
		for _, w := range [][]float32{nil, imp} {
			for i, v := range decode(t, typ, encode(t, typ, z, w), n) {
				if v != 0 {
					t.Fatalf("%s zero row: element %d decodes to %v", typ, i, v)
				}
			}
		}
	}
}

// ---- importance weighting ----

func weightedErr(x, y, w []float32) float64 {
	var s float64
	for i := range x {
		d := float64(x[i]) - float64(y[i])
		s += float64(w[i]) * d * d
	}
	return s
}

// TestImportanceLowersWeightedError: with skewed per-channel importances
// (a few channels 100x more important, as activations' second moments are in
// real layers), the importance-aware encoder must give a lower
// importance-weighted squared error than the plain one.
func TestImportanceLowersWeightedError(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const cols, rows = 512, 32
	imp := make([]float32, cols)
	for i := range imp {
		imp[i] = float32(0.05 + r.Float64())
		if r.IntN(8) == 0 {
			imp[i] *= 100
		}
	}
	for _, typ := range []format.DType{format.Q4_0, format.Q4_1, format.Q5_0, format.Q5_1, format.IQ4_NL} {
		var plain, weighted float64
		for row := 0; row < rows; row++ {
			var x []float32
			if row%2 == 0 {
				x = gaussRow(r, cols, 0.02)
			} else {
				x = heavyRow(r, cols)
			}
			plain += weightedErr(x, decode(t, typ, encode(t, typ, x, nil), cols), imp)
			weighted += weightedErr(x, decode(t, typ, encode(t, typ, x, imp), cols), imp)
		}
		t.Logf("%-7s weighted error plain %.4g, with imp %.4g (ratio %.3f)", typ, plain, weighted, weighted/plain)
		if !(weighted < 0.97*plain) {
			t.Errorf("%s: importance-weighted error %.4g not below plain %.4g", typ, weighted, plain)
		}
	}
	// Q8_0 ignores importances: identical bytes.
	x := gaussRow(r, cols, 1)
	if string(encode(t, format.Q8_0, x, nil)) != string(encode(t, format.Q8_0, x, imp)) {
		t.Error("q8_0: importances changed the encoding")
	}
}

// ---- row helpers ----

func TestEncodeDecodeRowErrors(t *testing.T) {
	x := make([]float32, 64)
	if err := EncodeRow(format.Q4_0, make([]byte, 35), x, nil); !errors.Is(err, ErrLength) {
		t.Errorf("short dst: %v", err)
	}
	if err := EncodeRow(format.Q4_0, make([]byte, 36), x[:40], nil); !errors.Is(err, ErrLength) {
		t.Errorf("partial block: %v", err)
	}
	if err := EncodeRow(format.Q4_0, make([]byte, 36), x, x[:10]); !errors.Is(err, ErrLength) {
		t.Errorf("short imp: %v", err)
	}
	if err := EncodeRow(format.TQ1_0, make([]byte, 54), make([]float32, 256), nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unsupported: %v", err)
	}
	if err := EncodeRow(format.DType(4), nil, nil, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("removed id: %v", err)
	}
	if err := DecodeRow(format.Q8_0, x, make([]byte, 67)); !errors.Is(err, ErrLength) {
		t.Errorf("decode long src: %v", err)
	}
	if err := DecodeRow(format.Q8_K, x, make([]byte, 292)); !errors.Is(err, ErrLength) {
		t.Errorf("decode partial super-block: %v", err)
	}
	if err := DecodeRow(format.DType(99), x, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("decode out of range id: %v", err)
	}
	if err := EncodeRow(format.Q8_0, make([]byte, 68), x, nil); err != nil {
		t.Errorf("valid row: %v", err)
	}
}

func TestCheckFinite(t *testing.T) {
	x := []float32{1, 2, 3}
	if err := CheckFinite("w", x); err != nil {
		t.Fatal(err)
	}
	x[2] = float32(math.NaN())
	err := CheckFinite("blk.0.attn_q.weight", x)
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("NaN: %v", err)
	}
	if got := err.Error(); got != `quantize: non-finite value: tensor "blk.0.attn_q.weight" element 2 is NaN` {
		t.Errorf("message %q", got)
	}
	x[2], x[1] = 3, float32(math.Inf(-1))
	if err := CheckFinite("t", x); !errors.Is(err, ErrNonFinite) || err.Error() != `quantize: non-finite value: tensor "t" element 1 is -Inf` {
		t.Errorf("-Inf: %v", err)
	}
}

func TestCodecsRegistered(t *testing.T) {
	for _, typ := range legacyTypes {
		c, ok := CodecFor(typ)
		if !ok || c.Type() != typ {
			t.Errorf("%s: codec missing or wrong type", typ)
		}
	}
}

// TestDecodeMatchesNaive compares the codecs' decoders with the naive
// per-element reference (naiveDecode) on random bytes with finite scales.
func TestDecodeMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, typ := range legacyTypes {
		tr, _ := typ.Traits()
		n := 4 * max(tr.BlockSize, 256)
		b := make([]byte, rowLen(typ, n))
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		sanitizeScales(typ, b)
		got := decode(t, typ, b, n)
		want := naiveDecode(typ, b, n)
		for i := range want {
			if got[i] != want[i] && !(got[i] != got[i] && want[i] != want[i]) {
				t.Fatalf("%s: element %d = %v, naive %v", typ, i, got[i], want[i])
			}
		}
	}
}

// sanitizeScales overwrites the f16/f32 scales of random blocks with
// ordinary values, so that the comparison is not about NaN payloads.
func sanitizeScales(typ format.DType, b []byte) {
	l, ok := naiveLayouts[typ]
	if !ok {
		return
	}
	tr, _ := typ.Traits()
	for off := 0; off < len(b); off += tr.BlockBytes {
		if typ == format.Q8_K {
			binary.LittleEndian.PutUint32(b[off:], math.Float32bits(float32(off%7)*0.01-0.02))
			continue
		}
		f16le(b[off:], float32(off%7)*0.25-0.5)
		if l.hasMin {
			f16le(b[off+2:], float32(off%5)*0.5-1)
		}
	}
}
