package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// gemmCase is one product of the conformance suite: sizes, which operands
// are transposed, and the stored matrices' strides (wider than needed, so
// that a kernel reading the wrong stride picks up poison).
type gemmCase struct {
	m, n, k      int
	tA, tB       bool
	padA, padB   int
	padC         int
	acc, poisonC bool
}

// gemmOperand returns a stored r×c matrix (transposed storage when t)
// with pad extra columns of poison per row, as a Mat.
func gemmOperand(r *rand.Rand, rows, cols, pad int, t bool) Mat {
	if t {
		rows, cols = cols, rows
	}
	st := cols + pad
	d := make([]float32, rows*st)
	for i := range d {
		if i%st >= cols {
			d[i] = float32(math.NaN())
		} else {
			d[i] = float32(r.NormFloat64())
		}
	}
	return Mat{Data: d, Stride: st, T: t}
}

// refGemm returns C0 + A·B in float64 and each element's Σ|a||b| (the
// scale of its rounding error).
func refGemm(tc gemmCase, a, b Mat, c0 []float32, ldc int) (want, mag []float64) {
	want, mag = make([]float64, tc.m*tc.n), make([]float64, tc.m*tc.n)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var s, g float64
			for p := 0; p < tc.k; p++ {
				x, y := float64(a.at(i, p)), float64(b.at(p, j))
				s += x * y
				g += math.Abs(x * y)
			}
			if tc.acc {
				s += float64(c0[i*ldc+j])
				g += math.Abs(float64(c0[i*ldc+j]))
			}
			want[i*tc.n+j], mag[i*tc.n+j] = s, g
		}
	}
	return want, mag
}

// TestConformanceMatMulF32 checks every implementation's MatMulF32 (its
// register tile through the blocked driver) against a float64 product for
// the three layouts training uses and the fourth, sizes around every tile
// and block edge (k past several KC blocks), strided operands with poison
// in the gaps, set and accumulate; elements of C outside the product must
// stay untouched, and the result must be bit-identical for 1, 2 and 5
// threads.
func TestConformanceMatMulF32(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	var cases []gemmCase
	for _, sz := range [][3]int{{1, 1, 1}, {8, 32, 128}, {6, 16, 256}, {7, 33, 129}, {13, 47, 300}, {37, 71, 600}, {64, 64, 5}, {130, 260, 40}, {3, 300, 1}, {50, 9, 0}} {
		for lay := 0; lay < 4; lay++ {
			cases = append(cases, gemmCase{m: sz[0], n: sz[1], k: sz[2], tA: lay&1 != 0, tB: lay&2 != 0,
				padA: lay % 3, padB: (lay + 1) % 3, padC: 3 * (lay % 2), acc: lay%2 == 1, poisonC: lay == 2})
		}
	}
	for _, im := range Impls() {
		if !im.Available {
			continue
		}
		full := merge([]*Impl{Generic, im})
		for _, tc := range cases {
			name := fmt.Sprintf("%s %dx%dx%d tA=%v tB=%v acc=%v", im.Name, tc.m, tc.n, tc.k, tc.tA, tc.tB, tc.acc)
			a := gemmOperand(r, tc.m, tc.k, tc.padA, tc.tA)
			b := gemmOperand(r, tc.k, tc.n, tc.padB, tc.tB)
			ldc := tc.n + tc.padC
			c0 := make([]float32, tc.m*ldc)
			for i := range c0 {
				c0[i] = float32(r.NormFloat64())
				if i%ldc >= tc.n {
					c0[i] = -7
				}
			}
			if tc.poisonC && !tc.acc {
				for i := range c0 {
					if i%ldc < tc.n {
						c0[i] = float32(math.NaN())
					}
				}
			}
			want, mag := refGemm(tc, a, b, c0, ldc)
			var first []float32
			for _, th := range []int{1, 2, 5} {
				c := append([]float32(nil), c0...)
				full.MatMulF32(tc.m, tc.n, tc.k, a, b, c, ldc, tc.acc, th)
				for i := 0; i < tc.m; i++ {
					for j := 0; j < ldc; j++ {
						got := c[i*ldc+j]
						if j >= tc.n {
							if got != -7 {
								t.Fatalf("%s: wrote C[%d][%d] outside the product", name, i, j)
							}
							continue
						}
						w, g := want[i*tc.n+j], mag[i*tc.n+j]
						if d := math.Abs(float64(got) - w); !(d <= 2e-6*g+1e-30) {
							t.Fatalf("%s: C[%d][%d] = %g, want %g (error %g, scale %g)", name, i, j, got, w, d, g)
						}
					}
				}
				if first == nil {
					first = c
					continue
				}
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(first[i]) {
						t.Fatalf("%s: C[%d] = %g with %d threads, %g with 1", name, i, c[i], th, first[i])
					}
				}
			}
		}
	}
}

// TestMatMulF32Short checks that an operand too short for its sizes
// panics in the Go wrapper rather than being read past its end.
func TestMatMulF32Short(t *testing.T) {
	for _, im := range Impls() {
		if !im.Available {
			continue
		}
		full := merge([]*Impl{Generic, im})
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: a short B did not panic", im.Name)
				}
			}()
			a := Mat{Data: make([]float32, 8*8), Stride: 8}
			b := Mat{Data: make([]float32, 8*7), Stride: 8}
			full.MatMulF32(8, 8, 8, a, b, make([]float32, 64), 8, false, 1)
		}()
	}
}

// naiveMatMulNT is the baseline MatMulF32 is measured against: C = A·Bᵀ
// as a dot product per element (the loop distill used before).
func naiveMatMulNT(c, a, b []float32, m, n, k int) {
	for i := 0; i < m; i++ {
		ar := a[i*k : i*k+k]
		for j := 0; j < n; j++ {
			br := b[j*k : j*k+k]
			var s float32
			for p, v := range ar {
				s += v * br[p]
			}
			c[i*n+j] = s
		}
	}
}

// BenchmarkMatMulF32 measures the training products on the shapes of the
// 8.4M llama's feed-forward (T=256 tokens, dim 256, FFN 768) for every
// implementation and layout, one thread, beside the naive loop; GFLOP/s
// is reported as a metric.
func BenchmarkMatMulF32(b *testing.B) {
	const m, n, k = 256, 768, 256
	r := rand.New(rand.NewPCG(1, 2))
	rnd := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return x
	}
	x, w, c := rnd(m*k), rnd(n*k), make([]float32, m*n)
	flops := func(b *testing.B) {
		b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
	b.Run("naive-NT", func(b *testing.B) {
		for b.Loop() {
			naiveMatMulNT(c, x, w, m, n, k)
		}
		flops(b)
	})
	for _, im := range Impls() {
		if !im.Available || im.GemmTile == nil {
			continue
		}
		full := merge([]*Impl{Generic, im})
		for _, lay := range []struct {
			name string
			a, b Mat
		}{
			{"NT", Mat{Data: x, Stride: k}, Mat{Data: w, Stride: k, T: true}},
			{"NN", Mat{Data: x, Stride: k}, Mat{Data: w, Stride: n}},
			{"TN", Mat{Data: x, Stride: m, T: true}, Mat{Data: w, Stride: n}},
		} {
			b.Run(im.Name+"-"+lay.name, func(b *testing.B) {
				for b.Loop() {
					full.MatMulF32(m, n, k, lay.a, lay.b, c, n, false, 1)
				}
				flops(b)
			})
		}
	}
}
