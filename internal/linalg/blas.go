package linalg

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/blas/gonum"
)

// Portable is gonum's pure-Go float64 BLAS, the reference of the fast
// implementation.
var Portable blas.Float64 = gonum.Implementation{}

// Fast is gonum's BLAS with Dgemm, and the left-side upper triangular
// Dtrmm and Dtrsm, on the tile kernels (tile.go).
var Fast blas.Float64 = fastBLAS{}

func init() {
	if Accelerated() {
		blas64.Use(Fast)
	}
}

// Blocking of the fast Dgemm: kc steps of k per packed panel, mc rows of A
// per packed block, and the size below which gonum's own code runs.
const (
	kc       = 256
	mc       = 96
	smallMNK = 48 * 48 * 48
	triBase  = 128 // triangular size below which gonum's Dtrmm and Dtrsm run
)

// fastBLAS overrides the level-3 routines Cholesky work spends its time in.
type fastBLAS struct{ gonum.Implementation }

// Dgemm computes C = alpha·op(A)·op(B) + beta·C.
func (f fastBLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m*n*k < smallMNK || m == 0 || n == 0 || !Accelerated() {
		f.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	gemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemm is the tiled Dgemm: C scaled by beta, then for each panel of kc
// steps, op(B) packed into column panels of GemmCols and blocks of
// mc rows of alpha·op(A) packed into row panels of GemmRows, each
// tile of C summed by one goroutine.
func gemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	const MR, NR = GemmRows, GemmCols
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 1:
		case 0:
			clear(row)
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
	if alpha == 0 || k == 0 {
		return
	}
	np := (n + NR - 1) / NR
	nblk := (m + mc - 1) / mc
	bp := make([]float64, np*NR*kc)
	for p0 := 0; p0 < k; p0 += kc {
		kb := min(kc, k-p0)
		parallel(np, func(jp int) { packB(bp[jp*NR*kc:], transB, b, ldb, p0, kb, jp*NR, n) })
		parallel(nblk, func(ib int) {
			i0 := ib * mc
			rows := min(mc, m-i0)
			ap := make([]float64, (mc/MR)*MR*kc)
			var tile [MR * NR]float64
			for ir := 0; ir < rows; ir += MR {
				packA(ap[ir*kc:], transA, a, lda, p0, kb, i0+ir, min(MR, rows-ir), alpha)
			}
			for jp := 0; jp < np; jp++ {
				j0 := jp * NR
				nc := min(NR, n-j0)
				for ir := 0; ir < rows; ir += MR {
					clear(tile[:])
					GemmTile(tile[:], ap[ir*kc:ir*kc+kb*MR], bp[jp*NR*kc:jp*NR*kc+kb*NR], kb)
					for r := 0; r < min(MR, rows-ir); r++ {
						crow := c[(i0+ir+r)*ldc+j0 : (i0+ir+r)*ldc+j0+nc]
						for j := range crow {
							crow[j] += tile[r*NR+j]
						}
					}
				}
			}
		})
	}
}

// packB writes rows p0..p0+kb of op(B), columns j0..j0+GemmCols (zero
// beyond n), step by step into dst.
func packB(dst []float64, trans bool, b []float64, ldb, p0, kb, j0, n int) {
	const NR = GemmCols
	nc := min(NR, n-j0)
	for p := 0; p < kb; p++ {
		d := dst[p*NR : (p+1)*NR]
		if trans {
			for j := 0; j < nc; j++ {
				d[j] = b[(j0+j)*ldb+p0+p]
			}
		} else {
			copy(d, b[(p0+p)*ldb+j0:(p0+p)*ldb+j0+nc])
		}
		clear(d[nc:])
	}
}

// packA writes alpha times rows i0..i0+mr of op(A) (zero rows beyond mr),
// columns p0..p0+kb, step by step into dst.
func packA(dst []float64, trans bool, a []float64, lda, p0, kb, i0, mr int, alpha float64) {
	const MR = GemmRows
	for p := 0; p < kb; p++ {
		d := dst[p*MR : (p+1)*MR]
		for r := 0; r < MR; r++ {
			v := 0.0
			if r < mr {
				if trans {
					v = a[(p0+p)*lda+i0+r]
				} else {
					v = a[(i0+r)*lda+p0+p]
				}
			}
			d[r] = alpha * v
		}
	}
}

// Dtrmm computes B = alpha·op(A)·B or alpha·B·op(A) with A triangular; the
// left-side, upper, non-transposed case (the one triangular inversion
// spends its time in) recursively through Dgemm.
func (f fastBLAS) Dtrmm(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, alpha float64, a []float64, lda int, b []float64, ldb int) {
	if s != blas.Left || ul != blas.Upper || tA != blas.NoTrans || m <= triBase {
		f.Implementation.Dtrmm(s, ul, tA, d, m, n, alpha, a, lda, b, ldb)
		return
	}
	// [B1; B2] = alpha [A11 A12; 0 A22] [B1; B2].
	m1 := m / 2
	m2 := m - m1
	f.Dtrmm(s, ul, tA, d, m1, n, alpha, a, lda, b, ldb)
	f.Dgemm(blas.NoTrans, blas.NoTrans, m1, n, m2, alpha, a[m1:], lda, b[m1*ldb:], ldb, 1, b, ldb)
	f.Dtrmm(s, ul, tA, d, m2, n, alpha, a[m1*lda+m1:], lda, b[m1*ldb:], ldb)
}

// Dtrsm solves op(A)·X = alpha·B or X·op(A) = alpha·B for X (into B) with
// A triangular; the left-side upper cases (the solves with a Cholesky
// factor) recursively through Dgemm.
func (f fastBLAS) Dtrsm(s blas.Side, ul blas.Uplo, tA blas.Transpose, d blas.Diag, m, n int, alpha float64, a []float64, lda int, b []float64, ldb int) {
	if s != blas.Left || ul != blas.Upper || m <= triBase {
		f.Implementation.Dtrsm(s, ul, tA, d, m, n, alpha, a, lda, b, ldb)
		return
	}
	m1 := m / 2
	m2 := m - m1
	a12, a22 := a[m1:], a[m1*lda+m1:]
	b2 := b[m1*ldb:]
	if tA == blas.NoTrans {
		// A11 X1 + A12 X2 = alpha B1, A22 X2 = alpha B2.
		f.Dtrsm(s, ul, tA, d, m2, n, alpha, a22, lda, b2, ldb)
		f.Dgemm(blas.NoTrans, blas.NoTrans, m1, n, m2, -1, a12, lda, b2, ldb, alpha, b, ldb)
		f.Dtrsm(s, ul, tA, d, m1, n, 1, a, lda, b, ldb)
		return
	}
	// A11ᵀ X1 = alpha B1, A12ᵀ X1 + A22ᵀ X2 = alpha B2.
	f.Dtrsm(s, ul, tA, d, m1, n, alpha, a, lda, b, ldb)
	f.Dgemm(blas.Trans, blas.NoTrans, m2, n, m1, -1, a12, lda, b, ldb, alpha, b2, ldb)
	f.Dtrsm(s, ul, tA, d, m2, n, 1, a22, lda, b2, ldb)
}
