package linalg

import (
	"encoding/binary"
	"io"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// gramChunk is the number of rows Gram.Add sums in float32 before adding
// them to the float64 sum: its scratch holds gramChunk padded rows.
const gramChunk = 512

// Gram accumulates S = Σ x xᵀ over activation rows x of N values (the
// symmetric rank-k update SYRK), in float64, upper triangle only. Memory
// is N² float64 for the sum plus a scratch of gramChunk rows. A Gram is not
// safe for concurrent use.
type Gram struct {
	N     int   // values per row
	Count int64 // rows accumulated
	sum   []float64
	buf   []float32
	buf64 []float64
}

// NewGram returns an empty accumulator for rows of n values.
func NewGram(n int) *Gram { return &Gram{N: n, sum: make([]float64, n*n)} }

// Bytes returns the memory a Gram of rows of n values holds.
func Bytes(n int) int64 { return 8 * int64(n) * int64(n) }

// Add accumulates rows rows of x (row-major, N values each) into the
// upper triangle of the sum, gramChunk rows at a time: with the AVX-512
// kernel each chunk is summed in float32 tiles (GramTile) split
// over the threads by tile, else by gonum's blas64.Syrk in float64. The
// result does not depend on the thread count.
func (g *Gram) Add(x []float32, rows int) {
	n := g.N
	if n == 0 || rows <= 0 {
		return
	}
	rows = min(rows, len(x)/n)
	for r0 := 0; r0 < rows; r0 += gramChunk {
		T := min(gramChunk, rows-r0)
		chunk := x[r0*n : (r0+T)*n]
		if Accelerated() {
			g.addTiles(chunk, T)
		} else {
			g.addSyrk(chunk, T)
		}
	}
	g.Count += int64(rows)
}

// addSyrk is Add's portable path: blas64.Syrk on a float64 copy.
func (g *Gram) addSyrk(x []float32, T int) {
	n := g.N
	if cap(g.buf64) < T*n {
		g.buf64 = make([]float64, gramChunk*n)
	}
	a := g.buf64[:T*n]
	for i, v := range x {
		a[i] = float64(v)
	}
	blas64.Syrk(blas.Trans, 1, blas64.General{Rows: T, Cols: n, Stride: n, Data: a},
		1, blas64.Symmetric{Uplo: blas.Upper, N: n, Stride: n, Data: g.sum})
}

// addTiles is Add's accelerated path: the chunk copied with a padded
// stride, then every tile of rows i0..i0+GramRows and columns
// j0..j0+GramCols that meets the upper triangle summed by one goroutine.
func (g *Gram) addTiles(x []float32, T int) {
	const MR, NR = GramRows, GramCols
	n := g.N
	stride := (n + MR + NR - 1) / NR * NR
	if cap(g.buf) < T*stride {
		g.buf = make([]float32, gramChunk*stride)
	}
	xp := g.buf[:T*stride]
	for t := 0; t < T; t++ {
		row := xp[t*stride : (t+1)*stride]
		copy(row, x[t*n:(t+1)*n])
		clear(row[n:])
	}
	tilesI := (n + MR - 1) / MR
	parallel(tilesI, func(ti int) {
		i0 := ti * MR
		var tile [MR * NR]float32
		for j0 := i0 / NR * NR; j0 < n; j0 += NR {
			clear(tile[:])
			GramTile(tile[:], xp[i0:], xp[j0:], stride, T)
			for r := 0; r < MR && i0+r < n; r++ {
				i := i0 + r
				lo := max(i, j0)
				hi := min(n, j0+NR)
				s := g.sum[i*n : (i+1)*n]
				for j := lo; j < hi; j++ {
					s[j] += float64(tile[r*NR+j-j0])
				}
			}
		}
	})
}

// At returns S[i][j], the sum (not the mean) of x_i·x_j.
func (g *Gram) At(i, j int) float64 {
	if i > j {
		i, j = j, i
	}
	return g.sum[i*g.N+j]
}

// Diag returns S[i][i] for every i.
func (g *Gram) Diag() []float64 {
	d := make([]float64, g.N)
	for i := range d {
		d[i] = g.sum[i*g.N+i]
	}
	return d
}

// Mean returns S divided by scale (the row count for E[x xᵀ]; 1 for the
// sum) as a full symmetric n×n row-major matrix, all zero when scale is
// not positive.
func (g *Gram) Mean(scale float64) []float64 {
	n := g.N
	m := make([]float64, n*n)
	if !(scale > 0) {
		return m
	}
	inv := 1 / scale
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			v := g.sum[i*n+j] * inv
			m[i*n+j], m[j*n+i] = v, v
		}
	}
	return m
}

// Sum returns the sum's storage, N×N row-major, sharing the Gram's memory:
// its upper triangle (with the diagonal) holds S; the strict lower
// triangle is not used by the Gram, so a caller may work there.
func (g *Gram) Sum() []float64 { return g.sum }

// Sym returns the sum as a gonum symmetric matrix sharing its memory
// (upper triangle).
func (g *Gram) Sym() *mat.SymDense {
	return mat.NewSymDense(g.N, g.sum)
}

// Full copies the upper triangle of the sum to its lower triangle and
// returns the sum as a full symmetric N×N row-major matrix, sharing the
// Gram's memory (later Adds update the upper triangle only).
func (g *Gram) Full() []float64 {
	n := g.N
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			g.sum[j*n+i] = g.sum[i*n+j]
		}
	}
	return g.sum
}

// WriteTo writes the accumulator (its row count and sum, in this
// machine's byte order) to w, for ReadGram in the same process: a caller
// short of memory keeps it on disk until it is needed.
func (g *Gram) WriteTo(w io.Writer) (int64, error) {
	var head [8]byte
	binary.LittleEndian.PutUint64(head[:], uint64(g.Count))
	n, err := w.Write(head[:])
	if err != nil || len(g.sum) == 0 {
		return int64(n), err
	}
	m, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(&g.sum[0])), 8*len(g.sum)))
	return int64(n + m), err
}

// ReadGram reads an accumulator of rows of n values that WriteTo wrote.
func ReadGram(r io.Reader, n int) (*Gram, error) {
	g := NewGram(n)
	var head [8]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	g.Count = int64(binary.LittleEndian.Uint64(head[:]))
	if n == 0 {
		return g, nil
	}
	if _, err := io.ReadFull(r, unsafe.Slice((*byte)(unsafe.Pointer(&g.sum[0])), 8*len(g.sum))); err != nil {
		return nil, err
	}
	return g, nil
}
