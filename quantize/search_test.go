package quantize

import (
	"math"
	"testing"
)

func TestNearestInt(t *testing.T) {
	cases := []struct {
		in   float32
		want int32
	}{
		{0, 0}, {0.5, 0}, {1.5, 2}, {2.5, 2}, {3.5, 4}, {-0.5, 0}, {-1.5, -2}, {-2.5, -2},
		{0.49999997, 0}, {1.4999999, 1}, {-7.6, -8}, {126.5, 126}, {127.5, 128},
		{4194303, 4194303}, {-4194303, -4194303}, {1e-30, 0},
	}
	for _, c := range cases {
		if got := nearestInt(c.in); got != c.want {
			t.Errorf("nearestInt(%v) = %d, want %d", c.in, got, c.want)
		}
	}
	// Agrees with round-half-even everywhere in range (sampled).
	for v := float32(-1000); v < 1000; v += 0.125 {
		if got, want := nearestInt(v), int32(math.RoundToEven(float64(v))); got != want {
			t.Fatalf("nearestInt(%v) = %d, want %d", v, got, want)
		}
	}
}

func TestMakeQXQuants(t *testing.T) {
	// rmseType 0: the extreme -8 maps to level -nmax = -8 (L = 0) with scale 1.
	x := []float32{-8, -3, 0, 1, 2.5, 3.5, 6.9, 7.6}
	L := make([]int8, len(x))
	if d := makeQXQuants(len(x), 8, x, L, 0, nil); d != 1 {
		t.Fatalf("scale %v, want 1", d)
	}
	want := []int8{0, 5, 8, 9, 10, 12, 15, 15} // round-half-even, clamped to nmax-1
	for i := range want {
		if L[i] != want[i] {
			t.Fatalf("L = %v, want %v", L, want)
		}
	}
	// All zero: scale 0, codes 0.
	z := make([]float32, 16)
	L = make([]int8, 16)
	for i := range L {
		L[i] = 9
	}
	if d := makeQXQuants(16, 4, z, L, 1, nil); d != 0 || L[0] != 0 || L[15] != 0 {
		t.Fatalf("zero group: d=%v L=%v", d, L)
	}
	// The search never does worse (in x²-weighted error) than the plain scale.
	x = []float32{0.9, -0.31, 0.44, 0.05, -0.77, 0.63, 0.12, -0.2, 0.35, -0.58, 0.71, -0.05, 0.27, -0.93, 0.5, 0.15}
	L0, L1 := make([]int8, 16), make([]int8, 16)
	d0 := makeQXQuants(16, 4, x, L0, 0, nil)
	d1 := makeQXQuants(16, 4, x, L1, 1, nil)
	e0, e1 := 0.0, 0.0
	for i, v := range x {
		w := float64(v * v)
		e0 += w * math.Pow(float64(v)-float64(d0)*float64(L0[i]-4), 2)
		e1 += w * math.Pow(float64(v)-float64(d1)*float64(L1[i]-4), 2)
	}
	if !(e1 <= e0) {
		t.Errorf("searched error %g > plain %g", e1, e0)
	}
}

func TestMakeQKX3Quants(t *testing.T) {
	// An exact affine grid is reproduced: x = 0.5*l - 1 for l = 0..15.
	x := make([]float32, 32)
	for i := range x {
		x[i] = 0.5*float32(i%16) - 1
	}
	L, Laux := make([]uint8, 32), make([]uint8, 32)
	var min float32
	d := makeQKX3Quants(32, 15, x, nil, L, Laux, &min, -0.9, 0.05, 36, false)
	for i, v := range x {
		if got := d*float32(L[i]) - min; math.Abs(float64(got-v)) > 1e-5 {
			t.Fatalf("element %d: %v*%d - %v = %v, want %v", i, d, L[i], min, got, v)
		}
	}
	// Constant non-negative group: the minimum is clamped to 0 and the
	// scale fits the constant.
	for i := range x {
		x[i] = 0.25
	}
	d = makeQKX3Quants(32, 15, x, nil, L, Laux, &min, -0.9, 0.05, 36, false)
	if min != 0 || math.Abs(float64(d*float32(L[0])-0.25)) > 1e-6 {
		t.Fatalf("constant: d=%v L0=%d min=%v", d, L[0], min)
	}
	// A constant negative group has max <= min: scale 0, min = -x.
	for i := range x {
		x[i] = -0.25
	}
	if d = makeQKX3Quants(32, 15, x, nil, L, Laux, &min, -0.9, 0.05, 36, false); d != 0 || min != 0.25 || L[3] != 0 {
		t.Fatalf("negative constant: d=%v min=%v", d, min)
	}
}

func TestIQ4NLIndexMatchesBestIndex(t *testing.T) {
	for v := float32(-140); v < 140; v += 0.03125 {
		if a, b := iq4nlIndex(v), bestIndexInt8(iq4nlValues[:], v); a != b {
			t.Fatalf("x=%v: %d vs %d", v, a, b)
		}
	}
	// Exact midpoints go to the upper entry, as in ggml.
	if iq4nlIndex(-115.5) != 1 || iq4nlIndex(-4.5) != 8 || iq4nlIndex(-4.50001) != 7 {
		t.Error("midpoint ties")
	}
}

// bestIndexInt8 returns the index of the entry of the sorted table val
// (length a power of two) nearest to x, ties going to the larger entry:
// level i is taken once 2x reaches val[i-1]+val[i] (ggml's best_index_int8).
func bestIndexInt8(val []int8, x float32) int {
	x2 := x + x
	idx := 0
	for step := len(val) >> 1; step > 0; step >>= 1 {
		j := idx + step
		if x2 >= float32(int32(val[j-1])+int32(val[j])) {
			idx = j
		}
	}
	return idx
}
