package linalg

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/lapack64"
)

// Matrix is a dense row-major matrix: Rows×Cols values, rows Stride apart.
type Matrix = blas64.General

// NewMatrix wraps data (rows×cols, row-major, len >= rows·cols) as a
// Matrix.
func NewMatrix(rows, cols int, data []float64) Matrix {
	return Matrix{Rows: rows, Cols: cols, Stride: max(cols, 1), Data: data[:rows*cols]}
}

// Gemm computes C = alpha·op(A)·op(B) + beta·C (op: transposed when the
// flag is set) with blas64.Gemm.
func Gemm(transA, transB bool, alpha float64, a, b Matrix, beta float64, c Matrix) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	blas64.Gemm(ta, tb, alpha, a, b, beta, c)
}

// Cholesky factors the symmetric positive definite n×n matrix a (row-major,
// upper triangle read) in place into U, a = UᵀU, with lapack64.Potrf. It
// reports false when a is not positive definite (then a is garbage).
func Cholesky(a []float64, n int) bool {
	_, ok := lapack64.Potrf(blas64.Symmetric{Uplo: blas.Upper, N: n, Stride: max(n, 1), Data: a[:n*n]})
	return ok
}

// SolveCholesky solves A X = B in place for the nrhs columns of b (n×nrhs,
// row-major), given the factor u of A from Cholesky (lapack64.Potrs: one
// multi-right-hand-side solve).
func SolveCholesky(u []float64, n int, b []float64, nrhs int) {
	lapack64.Potrs(blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: n, Stride: max(n, 1), Data: u[:n*n]},
		blas64.General{Rows: n, Cols: nrhs, Stride: max(nrhs, 1), Data: b[:n*nrhs]})
}

// InverseFactor replaces the symmetric positive definite n×n matrix h
// (row-major, full) with U, upper triangular with UᵀU = h⁻¹ (the Cholesky
// factor of the inverse, GPTQ's), zero below the diagonal. It reads only
// the lower triangle and the diagonal of h. It reports false when h is not
// positive definite; then the strict upper triangle of h is as it was and
// the rest is garbage.
//
// With P the reversal permutation, P h P = RᵀR (Cholesky, upper R), so
// h = (P Rᵀ P)(P R P) and h⁻¹ = UᵀU with U = P R⁻ᵀ P: one factorisation
// and one triangular inverse (lapack64.Trtri), no full inverse.
func InverseFactor(h []float64, n int) bool {
	h = h[:n*n]
	reverse(h, n) // Potrf reads and writes the upper triangle of P h P: h's lower one
	if !Cholesky(h, n) {
		reverse(h, n)
		return false
	}
	for i := 0; i < n; i++ {
		clear(h[i*n : i*n+i])
	}
	// Trtri fails only on a zero diagonal, which a successful Cholesky
	// factorisation does not leave.
	if !lapack64.Trtri(blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: n, Stride: max(n, 1), Data: h}) {
		return false
	}
	// h holds R⁻¹ (upper); U[i][j] = R⁻¹[n-1-j][n-1-i]: transpose, then
	// reverse both axes.
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			h[j*n+i], h[i*n+j] = h[i*n+j], 0
		}
	}
	reverse(h, n)
	return true
}

// reverse replaces the n×n matrix a with P a P, P the reversal
// permutation: a[i][j] = a[n-1-i][n-1-j].
func reverse(a []float64, n int) {
	for lo, hi := 0, n*n-1; lo < hi; lo, hi = lo+1, hi-1 {
		a[lo], a[hi] = a[hi], a[lo]
	}
}
