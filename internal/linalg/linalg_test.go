package linalg

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
)

func randSlice(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func maxDiff(a, b []float64) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// TestFastDgemm checks the tiled Dgemm against gonum's for every
// transpose, odd shapes and strides, and several betas.
func TestFastDgemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range [][3]int{{97, 70, 300}, {6, 200, 513}, {130, 33, 64}} {
		m, n, k := s[0], s[1], s[2]
		for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
				for _, beta := range []float64{0, 1, -0.5} {
					lda, ldb, ldc := k+3, n+1, n+5
					ar, br := m, k
					if tA == blas.Trans {
						lda, ar = m+2, k
					}
					if tB == blas.Trans {
						ldb, br = k+1, n
					}
					a := randSlice(rng, ar*lda)
					b := randSlice(rng, br*ldb)
					c := randSlice(rng, m*ldc)
					want := append([]float64(nil), c...)
					Fast.Dgemm(tA, tB, m, n, k, 0.7, a, lda, b, ldb, beta, c, ldc)
					Portable.Dgemm(tA, tB, m, n, k, 0.7, a, lda, b, ldb, beta, want, ldc)
					if d := maxDiff(c, want); d > 1e-10*float64(k) {
						t.Fatalf("%v %v %d×%d×%d beta %g: max difference %g", tA, tB, m, n, k, beta, d)
					}
				}
			}
		}
	}
}

// TestFastTriangular checks the recursive Dtrmm and Dtrsm against gonum's.
func TestFastTriangular(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	m, n, lda := 301, 70, 305
	a := randSlice(rng, m*lda)
	for i := 0; i < m; i++ {
		a[i*lda+i] = 4 + math.Abs(a[i*lda+i]) // well conditioned
		for j := i + 1; j < m; j++ {
			a[i*lda+j] *= 0.05
		}
	}
	for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
		for _, d := range []blas.Diag{blas.NonUnit, blas.Unit} {
			b := randSlice(rng, m*n)
			want := append([]float64(nil), b...)
			Fast.Dtrsm(blas.Left, blas.Upper, tA, d, m, n, 1.5, a, lda, b, n)
			Portable.Dtrsm(blas.Left, blas.Upper, tA, d, m, n, 1.5, a, lda, want, n)
			if diff := maxDiff(b, want); diff > 1e-9 {
				t.Fatalf("Dtrsm %v %v: max difference %g", tA, d, diff)
			}
		}
	}
	b := randSlice(rng, m*n)
	want := append([]float64(nil), b...)
	Fast.Dtrmm(blas.Left, blas.Upper, blas.NoTrans, blas.NonUnit, m, n, -2, a, lda, b, n)
	Portable.Dtrmm(blas.Left, blas.Upper, blas.NoTrans, blas.NonUnit, m, n, -2, a, lda, want, n)
	if diff := maxDiff(b, want); diff > 1e-9 {
		t.Fatalf("Dtrmm: max difference %g", diff)
	}
}

// spd returns a random symmetric positive definite n×n matrix X Xᵀ/n + I/10.
func spd(rng *rand.Rand, n int) []float64 {
	x := randSlice(rng, n*n)
	h := make([]float64, n*n)
	Gemm(false, true, 1/float64(n), NewMatrix(n, n, x), NewMatrix(n, n, x), 0, NewMatrix(n, n, h))
	for i := 0; i < n; i++ {
		h[i*n+i] += 0.1
	}
	return h
}

// TestInverseFactor checks UᵀU H = I and that U is upper triangular.
func TestInverseFactor(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, n := range []int{1, 5, 200} {
		h := spd(rng, n)
		u := append([]float64(nil), h...)
		if !InverseFactor(u, n) {
			t.Fatalf("n=%d: not positive definite", n)
		}
		for i := 0; i < n; i++ {
			for j := 0; j < i; j++ {
				if u[i*n+j] != 0 {
					t.Fatalf("n=%d: U[%d][%d] = %g below the diagonal", n, i, j, u[i*n+j])
				}
			}
			if !(u[i*n+i] > 0) {
				t.Fatalf("n=%d: U[%d][%d] = %g", n, i, i, u[i*n+i])
			}
		}
		inv := make([]float64, n*n)
		Gemm(true, false, 1, NewMatrix(n, n, u), NewMatrix(n, n, u), 0, NewMatrix(n, n, inv))
		id := make([]float64, n*n)
		Gemm(false, false, 1, NewMatrix(n, n, inv), NewMatrix(n, n, h), 0, NewMatrix(n, n, id))
		for i := 0; i < n; i++ {
			id[i*n+i]--
		}
		if d := maxDiff(id, make([]float64, n*n)); d > 1e-8 {
			t.Fatalf("n=%d: UᵀU H differs from I by %g", n, d)
		}
	}
	bad := []float64{1, 2, 2, 1}
	if InverseFactor(bad, 2) {
		t.Fatal("indefinite matrix factored")
	}
}

// TestSolveCholesky checks A X = B for a multi-right-hand-side solve.
func TestSolveCholesky(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	n, nrhs := 300, 40
	a := spd(rng, n)
	b := randSlice(rng, n*nrhs)
	u := append([]float64(nil), a...)
	if !Cholesky(u, n) {
		t.Fatal("not positive definite")
	}
	x := append([]float64(nil), b...)
	SolveCholesky(u, n, x, nrhs)
	ax := make([]float64, n*nrhs)
	Gemm(false, false, 1, NewMatrix(n, n, a), NewMatrix(n, nrhs, x), 0, NewMatrix(n, nrhs, ax))
	if d := maxDiff(ax, b); d > 1e-9 {
		t.Fatalf("A X differs from B by %g", d)
	}
}

// TestGram checks Gram.Add against float64 sums and that its bits do not
// depend on the thread count.
func TestGram(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	n, rows := 75, 1100
	x := make([]float32, rows*n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	defer SetThreads(0)
	var sums [][]float64
	for _, th := range []int{1, 3} {
		SetThreads(th)
		g := NewGram(n)
		g.Add(x[:300*n], 300)
		g.Add(x[300*n:], rows-300)
		if g.Count != int64(rows) {
			t.Fatalf("count %d", g.Count)
		}
		sums = append(sums, g.Mean(1))
	}
	for i := range sums[0] {
		if sums[0][i] != sums[1][i] {
			t.Fatalf("element %d: %v with 1 thread, %v with 3", i, sums[0][i], sums[1][i])
		}
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for r := 0; r < rows; r++ {
				s += float64(x[r*n+i]) * float64(x[r*n+j])
			}
			if got := sums[0][i*n+j]; math.Abs(got-s) > 1e-4*(1+math.Abs(s)) {
				t.Fatalf("S[%d][%d] = %g, want %g", i, j, got, s)
			}
		}
	}
}

func BenchmarkDgemm(b *testing.B) {
	const n = 1024
	rng := rand.New(rand.NewPCG(6, 6))
	x, y, c := randSlice(rng, n*n), randSlice(rng, n*n), make([]float64, n*n)
	for _, impl := range []struct {
		name string
		f    blas.Float64
	}{{"fast", Fast}, {"gonum", Portable}} {
		b.Run(impl.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				impl.f.Dgemm(blas.NoTrans, blas.Trans, n, n, n, 1, x, n, y, n, 0, c, n)
			}
			b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkGramAdd compares Gram.Add's AVX-512 tiles with its portable
// path (gonum's blas64.Syrk) on chunks of 512 activation rows.
func BenchmarkGramAdd(b *testing.B) {
	for _, n := range []int{2048, 5632} {
		const rows = 512
		x := make([]float32, n*rows)
		for i := range x {
			x[i] = float32(i%17) - 8
		}
		for _, path := range []string{"tiles", "syrk"} {
			if path == "tiles" && !Accelerated() {
				continue
			}
			b.Run(fmt.Sprintf("n=%d/%s", n, path), func(b *testing.B) {
				g := NewGram(n)
				for i := 0; i < b.N; i++ {
					if path == "tiles" {
						g.addTiles(x, rows)
					} else {
						g.addSyrk(x, rows)
					}
				}
				b.ReportMetric(float64(n)*float64(n)*rows*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestInverseFactorFailKeepsUpper checks that a failed InverseFactor
// leaves the strict upper triangle of h as it was.
func TestInverseFactorFailKeepsUpper(t *testing.T) {
	const n = 5
	h := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			h[i*n+j] = float64(10*i + j + 1)
		}
		h[i*n+i] = -1 // not positive definite
	}
	orig := append([]float64(nil), h...)
	if InverseFactor(h, n) {
		t.Fatal("InverseFactor of an indefinite matrix reported true")
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if h[i*n+j] != orig[i*n+j] {
				t.Errorf("h[%d][%d] = %v, was %v", i, j, h[i*n+j], orig[i*n+j])
			}
		}
	}
}

// TestGramWriteRead: a Gram written and read back holds the same count
// and sum, bit for bit; a short read is an error.
func TestGramWriteRead(t *testing.T) {
	const n, rows = 37, 50
	x := make([]float32, rows*n)
	for i := range x {
		x[i] = float32(i%13) - 6.5
	}
	g := NewGram(n)
	g.Add(x, rows)
	var buf bytes.Buffer
	if _, err := g.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	h, err := ReadGram(bytes.NewReader(b), n)
	if err != nil {
		t.Fatal(err)
	}
	if h.Count != rows || !slices.Equal(h.Sum(), g.Sum()) {
		t.Errorf("read back count %d, sums equal %v", h.Count, slices.Equal(h.Sum(), g.Sum()))
	}
	if _, err := ReadGram(bytes.NewReader(b[:len(b)-1]), n); err == nil {
		t.Error("a short Gram read without error")
	}
}
