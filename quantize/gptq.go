package quantize

// GPTQ (Frantar, Ashkboos, Hoefler, Alistarh 2022, "GPTQ: Accurate
// Post-Training Quantization for Generative Pre-trained Transformers",
// arXiv:2210.17323, Algorithm 1) adapted to GGML block formats.
//
// A linear layer computes y = W x with W of rows output channels by cols
// input channels; a GGML row (ne[0] elements) runs over the input channels.
// GPTQ minimises the output error ‖W X − Ŵ X‖² over calibration inputs X,
// whose Hessian is H = 2 X Xᵀ (here the mean over tokens: the scale does not
// matter). Columns (input channels) are quantized in order; after column j
// the error it left, divided by [H⁻¹]_jj, is pushed onto the columns not yet
// quantized through row j of the upper Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU),
// for every output row at once. Updates beyond the current batch of columns
// are applied lazily, once per batch (the paper's "lazy batch updates").
// H is dampened by 1% of its mean diagonal.
//
// GGML blocks share scales over 32 (legacy types) or 256 (K-quants)
// consecutive columns. When the sweep reaches the first column of a block,
// the block's scales and mins are chosen by the type's own importance-
// weighted search (the codec's Encode with the diagonal of H as
// importances, which is what llama.cpp's imatrix gives) on the weights as
// updated so far. For the K-quants, whose sub-blocks of 16 or 32 columns
// have their own scale (and min) codes under the block's f16 super-scales,
// those codes are chosen again when the sweep reaches each sub-block: the
// codes within ±2 of the codec's that minimise the importance-weighted
// rounding error of the sub-block's current weights (as GPTQ with groups
// fixes a group's parameters when it reaches the group). IQ4_XS's 6-bit
// sub-block scales are re-chosen the same way. Then each element is
// rounded to the nearest value of that fixed grid (gptqGrid: d·q + c, or
// d·T[q] for IQ4_NL's and IQ4_XS's non-linear table T) with error feedback
// as above. The grid i-quants (IQ3_S, IQ3_XXS, IQ2_S, IQ2_XS, IQ2_XXS;
// not IQ1_S and IQ1_M) have no per-element grid: a group of four or eight
// elements is one lattice point, so GPTQ chooses the whole group when it
// reaches the group's first column and then feeds back its columns' errors
// one by one (gptq_vec.go). The block bytes are thus exactly the codec's
// layout and decode with it.

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/linalg"
)

// ErrGPTQ is wrapped by GPTQ's errors.
var ErrGPTQ = errors.New("quantize: gptq")

// GPTQOptions adjust GPTQ.
type GPTQOptions struct {
	// Damp is the fraction of the mean diagonal added to H's diagonal
	// (0: 0.01).
	Damp float64
	// Batch is the number of columns between lazy updates (0: 128), raised
	// to a multiple of the type's block size.
	Batch int
	// Importance, when not nil, has cols values weighting the block scale
	// searches instead of H's diagonal.
	Importance []float32
	// Threads is the number of goroutines for the updates (0 or 1: one).
	Threads int
}

// GPTQ quantizes w (rows×cols, row-major: rows GGML rows of cols
// elements) to type t into dst (rows rows of t, exactly), given h, the
// cols×cols symmetric second moment of the layer's input (Hessian.Matrix).
// w is not modified. Types without a fixed-scale encoder (GPTQSupported)
// are an error.
func GPTQ(t format.DType, dst []byte, w []float32, rows, cols int, h []float64, opt GPTQOptions) error {
	g, codec, err := gptqCheck(t, dst, w, rows, cols, opt)
	if err != nil {
		return err
	}
	if len(h) != cols*cols {
		return fmt.Errorf("%w: Hessian of %d values for %d columns", ErrGPTQ, len(h), cols)
	}
	f, err := NewGPTQFactor(h, cols, opt.Damp)
	if err != nil {
		return err
	}
	gptqSlabs(g, codec, dst, w, rows, cols, f, opt)
	return nil
}

// GPTQWithFactor is GPTQ with H given by its factor (NewGPTQFactor or
// Hessian.Factor), made once for every tensor and every chunk of rows that
// shares the input: rows are quantized independently of each other, so
// quantizing a tensor a few rows at a time gives the bytes of one call
// over all of them. opt.Damp is ignored (the factor has its own).
func GPTQWithFactor(t format.DType, dst []byte, w []float32, rows, cols int, f *GPTQFactor, opt GPTQOptions) error {
	g, codec, err := gptqCheck(t, dst, w, rows, cols, opt)
	if err != nil {
		return err
	}
	if f == nil || f.Cols != cols {
		return fmt.Errorf("%w: no Hessian factor for %d columns", ErrGPTQ, cols)
	}
	gptqSlabs(g, codec, dst, w, rows, cols, f, opt)
	return nil
}

// gptqMinSlab is the fewest rows a goroutine of gptqSlabs takes.
const gptqMinSlab = 32

// gptqSlabs runs gptqRows over opt.Threads slabs of rows at once, each
// slab's sweep on one goroutine: rows are independent given the factor,
// so the bytes do not depend on the split, and the serial per-column work
// (rounding, the sub-blocks' refits) runs in parallel.
func gptqSlabs(g gptqGrid, codec Codec, dst []byte, w []float32, rows, cols int, f *GPTQFactor, opt GPTQOptions) {
	n := min(max(1, opt.Threads), rows/gptqMinSlab)
	if n <= 1 {
		gptqRows(g, codec, dst, w, rows, cols, f, opt)
		return
	}
	rowBytes := cols / g.block * g.bytes
	per := (rows + n - 1) / n
	one := opt
	one.Threads = 1
	var wg sync.WaitGroup
	for r0 := 0; r0 < rows; r0 += per {
		r1 := min(rows, r0+per)
		wg.Add(1)
		go func() {
			defer wg.Done()
			gptqRows(g, codec, dst[r0*rowBytes:r1*rowBytes], w[r0*cols:r1*cols], r1-r0, cols, f, one)
		}()
	}
	wg.Wait()
}

// gptqCheck returns the grid and the codec of t after checking GPTQ's
// arguments.
func gptqCheck(t format.DType, dst []byte, w []float32, rows, cols int, opt GPTQOptions) (gptqGrid, Codec, error) {
	g, ok := gptqGrids[t]
	if !ok {
		return g, nil, fmt.Errorf("%w: type %s is not supported", ErrGPTQ, t)
	}
	codec, _ := CodecFor(t)
	switch {
	case rows <= 0 || cols <= 0 || cols%g.block != 0:
		return g, nil, fmt.Errorf("%w: %d×%d does not fit blocks of %d", ErrGPTQ, rows, cols, g.block)
	case len(w) != rows*cols:
		return g, nil, fmt.Errorf("%w: %d weights for %d×%d", ErrGPTQ, len(w), rows, cols)
	case len(dst) != rows*(cols/g.block)*g.bytes:
		return g, nil, fmt.Errorf("%w: %d bytes for %d rows of %s", ErrGPTQ, len(dst), rows, t)
	case opt.Importance != nil && len(opt.Importance) != cols:
		return g, nil, fmt.Errorf("%w: %d importances for %d columns", ErrGPTQ, len(opt.Importance), cols)
	}
	return g, codec, nil
}

// gptqRows is GPTQ's sweep over the columns of rows rows, arguments
// checked.
func gptqRows(g gptqGrid, codec Codec, dst []byte, w []float32, rows, cols int, f *GPTQFactor, opt GPTQOptions) {
	B := opt.Batch
	if B <= 0 {
		B = 128
	}
	B = (B + g.block - 1) / g.block * g.block
	threads := max(1, opt.Threads)
	U := f.u
	imp := opt.Importance
	if imp == nil {
		imp = f.diag
	}

	// Wt is w transposed: column j (all rows) contiguous.
	Wt := make([]float32, cols*rows)
	for r := 0; r < rows; r++ {
		for j, v := range w[r*cols : (r+1)*cols] {
			Wt[j*rows+r] = v
		}
	}
	rowBytes := cols / g.block * g.bytes
	E := make([]float32, B*rows+linalg.GramCols) // slack for lazyUpdate's last tile
	seg := make([]float32, g.block)
	// The grid (d, c, lo, hi) of each row's current sub-block (block when
	// g.sub is 0): read once the sub-block's scale codes are final, as put
	// changes only element codes.
	gd, gc := make([]float32, rows), make([]float32, rows)
	var glo, ghi int32
	var vg gptqVecRows // the grid i-quants' group assignments
	for i1 := 0; i1 < cols; i1 += B {
		i2 := min(i1+B, cols)
		for c := i1; c < i2; c++ {
			blk, e := c/g.block, c%g.block
			if e == 0 {
				bimp := imp[c : c+g.block]
				var sum float32
				for _, v := range bimp {
					sum += v
				}
				if !(sum > 0) {
					bimp = nil // no activity: plain rounding
				}
				for r := 0; r < rows; r++ {
					for k := range seg {
						seg[k] = Wt[(c+k)*rows+r]
					}
					codec.Encode(dst[r*rowBytes+blk*g.bytes:][:g.bytes], seg, bimp)
				}
			}
			if g.sub > 0 && e%g.sub == 0 {
				// K-quants: the sub-block's scale (and min) codes
				// follow the updates made since the block began.
				w := imp[c : c+g.sub]
				var sum float32
				for _, v := range w {
					sum += v
				}
				if sum > 0 {
					g.refitRows(dst, rowBytes, blk, Wt, rows, c, e/g.sub, w, seg)
				}
			}
			if g.vec == nil && (e == 0 || g.sub > 0 && e%g.sub == 0) {
				for r := 0; r < rows; r++ {
					gd[r], gc[r], glo, ghi = g.grid(dst[r*rowBytes+blk*g.bytes:][:g.bytes], e)
				}
			}
			col := Wt[c*rows : (c+1)*rows]
			ec := E[(c-i1)*rows : (c-i1+1)*rows]
			d := U[c*cols+c]
			switch {
			case g.vec != nil:
				gl := g.vec.group
				if e%gl == 0 {
					vg.assignRows(g, dst, rowBytes, blk, Wt, U, rows, cols, c)
				}
				for r, v := range col {
					ec[r] = (v - vg.vals[r*gl+e%gl]) / d
				}
			case g.levels != nil:
				for r, v := range col {
					q, val := g.levels.round(v, gd[r], gc[r], glo)
					g.put(dst[r*rowBytes+blk*g.bytes:][:g.bytes], e, q)
					ec[r] = (v - val) / d
				}
			default:
				for r, v := range col {
					q, val := gptqRound(v, gd[r], gc[r], glo, ghi)
					g.put(dst[r*rowBytes+blk*g.bytes:][:g.bytes], e, q)
					ec[r] = (v - val) / d
				}
			}
			u := U[c*cols : (c+1)*cols]
			for k := c + 1; k < i2; k++ {
				axpy32(Wt[k*rows:(k+1)*rows], -u[k], ec)
			}
		}
		if i2 == cols {
			break
		}
		// Lazy update of the columns after the batch:
		// Wt[i2:] -= U[i1:i2, i2:]ᵀ E.
		lazyUpdate(Wt, U, E, rows, cols, i1, i2, threads)
	}
}

// axpy32 computes y += a·x (len(x) >= len(y)), with the AVX2 kernel on
// all but the last len(y) mod 8 values when there is one (same bytes).
func axpy32(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	i := 0
	if m := len(y) &^ 7; useAVX2 && m > 0 {
		axpy8(&y[0], a, &x[0], m)
		i = m
	}
	for ; i < len(y); i++ {
		y[i] += float32(a * x[i])
	}
}

// lazyUpdate subtracts from the columns k >= i2 of Wt (column k: rows
// values) Σ_c U[c][k]·E[c-i1] over the batch c in [i1, i2), in tiles of
// linalg.MulTile (linalg.GramRows columns by linalg.GramCols rows), each
// tile summed by one goroutine: the result does not depend on threads. E
// must have linalg.GramCols values of slack after its (i2-i1)·rows.
func lazyUpdate(Wt, U, E []float32, rows, cols, i1, i2, threads int) {
	const MR, NR = linalg.GramRows, linalg.GramCols
	nk := (cols - i2 + MR - 1) / MR
	nr := (rows + NR - 1) / NR
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func() {
		defer wg.Done()
		var tile [MR * NR]float32
		for {
			i := int(next.Add(1) - 1)
			if i >= nk*nr {
				return
			}
			k0, r0 := i2+(i/nr)*MR, (i%nr)*NR
			clear(tile[:])
			linalg.MulTile(tile[:], U[i1*cols+k0:], cols, E[r0:], rows, i2-i1)
			for r := 0; r < MR && k0+r < cols; r++ {
				w := Wt[(k0+r)*rows+r0 : (k0+r)*rows+min(rows, r0+NR)]
				for j := range w {
					w[j] -= tile[r*NR+j]
				}
			}
		}
	}
	threads = max(1, min(threads, nk*nr))
	wg.Add(threads)
	for t := 1; t < threads; t++ {
		go work()
	}
	work()
	wg.Wait()
}

// GPTQFactor is what GPTQ needs of a Hessian H: U (cols×cols row-major,
// upper triangular, float32) with UᵀU = (H + λI)⁻¹, λ = damp·mean(diag H)
// (linalg.InverseFactor), and H's diagonal (the default importances of
// the block scale searches). It is read-only once made and may be shared
// by goroutines.
type GPTQFactor struct {
	Cols int // input channels
	u    []float32
	diag []float32
}

// NewGPTQFactor factors h (cols×cols, symmetric, full; not modified).
// Dead inputs (zero diagonal) get a diagonal of 1 first. If the
// factorisation fails the dampening (0: 0.01) is raised tenfold, up to four
// times. Its memory is h's size again while it runs, then half of it.
func NewGPTQFactor(h []float64, cols int, damp float64) (*GPTQFactor, error) {
	n := cols
	if len(h) != n*n {
		return nil, fmt.Errorf("%w: Hessian of %d values for %d columns", ErrGPTQ, len(h), cols)
	}
	for _, v := range h[:n*n] {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: Hessian has non-finite values", ErrGPTQ)
		}
	}
	d := make([]float64, n)
	for i := range d {
		d[i] = h[i*n+i]
	}
	H := make([]float64, n*n)
	return factorLower(H, d, damp, func() {
		for i := 0; i < n; i++ {
			copy(H[i*n:i*n+i], h[i*n:i*n+i])
		}
	})
}

// factorLower makes the factor in a, n×n with n = len(d): fill writes the
// strict lower triangle of H into a (it may be called again after a failed
// try), d is H's diagonal.
func factorLower(a, d []float64, damp float64, fill func()) (*GPTQFactor, error) {
	n := len(d)
	if damp <= 0 {
		damp = 0.01
	}
	var mean float64
	for _, v := range d {
		mean += v
	}
	mean /= float64(n)
	if !(mean > 0) || math.IsInf(mean, 0) {
		mean = 1
	}
	for try := 0; try < 5; try++ {
		fill()
		for i, v := range d {
			if !(v > 0) {
				v = 1
			}
			a[i*n+i] = v + float64(damp*mean)
		}
		if linalg.InverseFactor(a, n) {
			f := &GPTQFactor{Cols: n, u: make([]float32, n*n), diag: make([]float32, n)}
			for i, v := range a {
				f.u[i] = float32(v)
			}
			for i, v := range d {
				f.diag[i] = float32(max(v, 0))
			}
			return f, nil
		}
		damp *= 10
	}
	return nil, fmt.Errorf("%w: Hessian is not positive definite (non-finite calibration values?)", ErrGPTQ)
}
