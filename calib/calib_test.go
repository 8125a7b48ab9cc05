package calib

import (
	"math"
	"testing"
)

func TestChunks(t *testing.T) {
	for _, c := range []struct{ toks, ctx, max, n, length int }{
		{1000, 256, 0, 3, 256},
		{1000, 256, 2, 2, 256},
		{100, 256, 0, 1, 100},
		{512, 256, 5, 2, 256},
	} {
		n, l := Chunks(c.toks, c.ctx, c.max)
		if n != c.n || l != c.length {
			t.Errorf("Chunks(%d, %d, %d) = %d, %d; want %d, %d", c.toks, c.ctx, c.max, n, l, c.n, c.length)
		}
	}
}

func TestFinalNorm(t *testing.T) {
	x := []float32{3, 4, 0, 2}
	g := []float32{1, 2}
	dst := make([]float32, 4)
	FinalNorm(dst, x, g, 0)
	// Row 1: rms sqrt(12.5); row 2: rms sqrt(2).
	want := []float32{3 / float32(math.Sqrt(12.5)), 8 / float32(math.Sqrt(12.5)), 0, 4 / float32(math.Sqrt(2))}
	for i := range want {
		if math.Abs(float64(dst[i]-want[i])) > 1e-6 {
			t.Errorf("dst[%d] = %g, want %g", i, dst[i], want[i])
		}
	}
}
