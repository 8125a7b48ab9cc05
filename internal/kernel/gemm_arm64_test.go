//go:build !purego

package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// gemmTileGo is the pure-Go twin of the NEON tile (gemm8x12NEON): each
// element's products added in increasing p by a fused multiply-add (in
// float64, then rounded) into an accumulator that starts at zero, then
// set into or added to c.
func gemmTileGo(mr, nr, k int, a, b, c []float32, ldc int, acc bool) {
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j++ {
			var s float32
			for p := 0; p < k; p++ {
				s = float32(math.FMA(float64(a[p*mr+i]), float64(b[p*nr+j]), float64(s)))
			}
			if acc {
				s += c[i*ldc+j]
			}
			c[i*ldc+j] = s
		}
	}
}

// TestGemmTileNEON calls the NEON tile directly against its twin, for
// inner sizes 1 to past KC, set and accumulate, with c a strided window
// whose gaps must stay untouched.
func TestGemmTileNEON(t *testing.T) {
	g := NEON.GemmTile
	if g == nil || g.MR != 8 || g.NR != 12 {
		t.Fatalf("NEON.GemmTile = %+v, want the 8x12 tile", g)
	}
	r := rand.New(rand.NewPCG(41, 42))
	for _, k := range []int{1, 2, 3, 7, 64, 255, 256, 300} {
		for _, acc := range []bool{false, true} {
			a, b := randRow(r, 8*k), randRow(r, 12*k)
			const ldc = 12 + 5
			c0 := randRow(r, 8*ldc)
			for i := range c0 {
				if i%ldc >= 12 {
					c0[i] = -7
				}
			}
			want, got := append([]float32(nil), c0...), append([]float32(nil), c0...)
			gemmTileGo(8, 12, k, a, b, want, ldc, acc)
			g.Kern(k, a, b, got, ldc, acc)
			for i := range got {
				if i%ldc >= 12 {
					if got[i] != -7 {
						t.Fatalf("k=%d acc=%v: wrote c[%d] outside the tile", k, acc, i)
					}
					continue
				}
				// The twin's fused multiply-add rounds twice (to float64,
				// then float32), which may differ from the hardware's
				// single rounding by an ulp of the partial sum.
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-6*math.Sqrt(float64(k))*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("k=%d acc=%v: c[%d][%d] = %g, twin %g", k, acc, i/ldc, i%ldc, got[i], want[i])
				}
			}
		}
	}
}
