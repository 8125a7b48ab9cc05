package quantize

import (
	"math"
	"math/rand/v2"
	"testing"
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
