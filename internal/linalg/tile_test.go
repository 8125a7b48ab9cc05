package linalg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGramTileConformance checks the accelerated GramTile against the
// portable one and against float64 sums, over odd strides and lengths.
func TestGramTileConformance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 7, 64, 513} {
		stride := 80
		x := make([]float32, n*stride)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		a, b := x[3:], x[9:]
		got := make([]float32, GramRows*GramCols)
		want := make([]float32, GramRows*GramCols)
		for i := range got {
			got[i], want[i] = float32(i), float32(i) // accumulates onto out
		}
		GramTile(got, a, b, stride, n)
		GramTileGeneric(want, a, b, stride, n)
		// MulTile with different strides: b's rows read every other row.
		if n > 1 {
			m := (n + 1) / 2
			g2 := make([]float32, GramRows*GramCols)
			w2 := make([]float32, GramRows*GramCols)
			MulTile(g2, a, stride, b, 2*stride, m)
			MulTileGeneric(w2, a, stride, b, 2*stride, m)
			for i := range g2 {
				if math.Abs(float64(g2[i]-w2[i])) > 1e-4*float64(m) {
					t.Fatalf("MulTile n=%d element %d: %g, generic %g", m, i, g2[i], w2[i])
				}
			}
		}
		for r := 0; r < GramRows; r++ {
			for c := 0; c < GramCols; c++ {
				s := float64(r*GramCols + c)
				var mag float64
				for k := 0; k < n; k++ {
					p := float64(a[k*stride+r]) * float64(b[k*stride+c])
					s += p
					mag += math.Abs(p)
				}
				i := r*GramCols + c
				tol := 1e-5 * (mag + math.Abs(s) + 1)
				if math.Abs(float64(got[i])-s) > tol || math.Abs(float64(want[i])-s) > tol {
					t.Fatalf("n=%d [%d][%d]: GramTile %g, generic %g, float64 %g", n, r, c, got[i], want[i], s)
				}
			}
		}
	}
	t.Logf("accelerated: %v", Accelerated())
}

func BenchmarkGramTile(b *testing.B) {
	const n, stride = 512, 2112
	x := make([]float32, n*stride)
	for i := range x {
		x[i] = float32(i%13) - 6
	}
	out := make([]float32, GramRows*GramCols)
	for _, impl := range []struct {
		name string
		f    func(out, a, b []float32, stride, n int)
	}{{"dispatch", GramTile}, {"generic", GramTileGeneric}} {
		b.Run(impl.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				impl.f(out, x[(i*6)%2000:], x[(i*64)%2000:], stride, n)
			}
			b.ReportMetric(2*GramRows*GramCols*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestGemmTileConformance checks the accelerated GemmTile against the
// portable one.
func TestGemmTileConformance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{1, 3, 256} {
		a := make([]float64, k*GemmRows)
		b := make([]float64, k*GemmCols)
		for i := range a {
			a[i] = rng.NormFloat64()
		}
		for i := range b {
			b[i] = rng.NormFloat64()
		}
		got := make([]float64, GemmRows*GemmCols)
		want := make([]float64, GemmRows*GemmCols)
		for i := range got {
			got[i], want[i] = float64(i), float64(i)
		}
		GemmTile(got, a, b, k)
		GemmTileGeneric(want, a, b, k)
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-12*float64(k+i+1) {
				t.Fatalf("k=%d element %d: GemmTile %g, generic %g", k, i, got[i], want[i])
			}
		}
	}
}

func BenchmarkGemmTile(b *testing.B) {
	const k = 256
	a := make([]float64, k*GemmRows)
	p := make([]float64, k*GemmCols)
	for i := range p {
		p[i] = float64(i%13) - 6
	}
	out := make([]float64, GemmRows*GemmCols)
	for _, impl := range []struct {
		name string
		f    func(out, a, b []float64, k int)
	}{{"dispatch", GemmTile}, {"generic", GemmTileGeneric}} {
		b.Run(impl.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				impl.f(out, a, p, k)
			}
			b.ReportMetric(2*GemmRows*GemmCols*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
