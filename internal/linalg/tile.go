package linalg

// The tile kernels: small fixed-shape products in registers, the inner
// loops of Gram.Add, the fast Dgemm and GPTQ's lazy updates.

// GramRows and GramCols are the shape of the tile GramTile adds to: rows of
// the Gram matrix by columns.
const (
	GramRows = 6
	GramCols = 64
)

// GramTile adds to out (GramRows×GramCols float32, row-major) the products
// Σ_t a[t·stride+r]·b[t·stride+c] for r < GramRows, c < GramCols, t < n:
// one tile of XᵀX when a and b start at columns i0 and j0 of X (n rows of
// stride values). Every element is summed over t in order, so the result
// does not depend on which implementation runs up to float32 rounding of
// the fused multiply-add. a and b must hold the n rows; out must hold the
// tile.
func GramTile(out, a, b []float32, stride, n int) {
	if n <= 0 {
		return
	}
	MulTile(out, a, stride, b, stride, n)
}

// MulTile adds to out (GramRows×GramCols float32, row-major) the products
// Σ_t a[t·lda+r]·b[t·ldb+c] for r < GramRows, c < GramCols, t < n: one
// tile of AᵀB for A and B of n rows (lda and ldb values apart), summed
// over t in order. a and b must hold the n rows; out must hold the tile.
func MulTile(out, a []float32, lda int, b []float32, ldb, n int) {
	if n <= 0 {
		return
	}
	_ = out[GramRows*GramCols-1]
	_ = a[(n-1)*lda+GramRows-1]
	_ = b[(n-1)*ldb+GramCols-1]
	mulTile(out, a, lda, b, ldb, n)
}

// mulTile is MulTile's implementation: the assembly kernel where the CPU
// has one, else MulTileGeneric.
var mulTile = MulTileGeneric

// GramTileGeneric is the portable GramTile.
func GramTileGeneric(out, a, b []float32, stride, n int) {
	MulTileGeneric(out, a, stride, b, stride, n)
}

// MulTileGeneric is the portable MulTile, the reference of the assembly
// kernel's conformance test.
func MulTileGeneric(out, a []float32, lda int, b []float32, ldb, n int) {
	var acc [GramRows * GramCols]float32
	for t := 0; t < n; t++ {
		ar := a[t*lda : t*lda+GramRows]
		br := b[t*ldb : t*ldb+GramCols]
		for r, av := range ar {
			row := acc[r*GramCols : (r+1)*GramCols]
			for c, bv := range br {
				row[c] += av * bv
			}
		}
	}
	for i, v := range acc {
		out[i] += v
	}
}

// Accelerated reports whether the tile kernels (MulTile, GramTile,
// GemmTile) run in assembly (AVX-512); when false they are the portable
// Go twins, and the BLAS is gonum's own.
func Accelerated() bool { return accelerated }

// GemmRows and GemmCols are the shape of the float64 tile GemmTile adds
// to.
const (
	GemmRows = 6
	GemmCols = 32
)

// GemmTile adds to out (GemmRows×GemmCols float64, row-major) the product
// of the packed panels a (k steps of GemmRows values: column p of the
// tile's rows of A) and b (k steps of GemmCols values: row p of the tile's
// columns of B): out[r][c] += Σ_p a[p·GemmRows+r]·b[p·GemmCols+c], summed
// over p in order.
func GemmTile(out, a, b []float64, k int) {
	if k <= 0 {
		return
	}
	_ = out[GemmRows*GemmCols-1]
	_ = a[k*GemmRows-1]
	_ = b[k*GemmCols-1]
	gemmTile(out, a, b, k)
}

// gemmTile is GemmTile's implementation: the assembly kernel where the CPU
// has one, else GemmTileGeneric.
var gemmTile = GemmTileGeneric

// GemmTileGeneric is the portable GemmTile, the reference of the assembly
// kernel's conformance test.
func GemmTileGeneric(out, a, b []float64, k int) {
	var acc [GemmRows * GemmCols]float64
	for p := 0; p < k; p++ {
		ap := a[p*GemmRows : (p+1)*GemmRows]
		bp := b[p*GemmCols : (p+1)*GemmCols]
		for r, av := range ap {
			row := acc[r*GemmCols : (r+1)*GemmCols]
			for c, bv := range bp {
				row[c] += av * bv
			}
		}
	}
	for i, v := range acc {
		out[i] += v
	}
}
