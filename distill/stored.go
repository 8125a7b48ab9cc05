package distill

import (
	"fmt"
	"sync"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/kernel"
	"github.com/shrink-llm/shrink/quantize"
)

// storedMat is a frozen matrix kept in its stored type (F32, F16, BF16,
// Q8_0, K-quants...): rows of cols elements, row r the bytes
// raw[r·rowBytes:(r+1)·rowBytes], rows being outputs as GGUF stores a
// weight. Its products dequantize a tile of rows at a time into float32
// and run on the kernels' float32 GEMM, so no float32 copy of the whole
// matrix is ever made.
type storedMat struct {
	typ        format.DType
	raw        []byte
	rows, cols int
	rowBytes   int
}

// newStored checks raw against the type and shape (cols inputs, rows
// outputs) and wraps it; name is for errors.
func newStored(name string, typ format.DType, raw []byte, cols, rows int) (*storedMat, error) {
	rb, err := typ.RowBytes(int64(cols))
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	if int64(len(raw)) != rb*int64(rows) {
		return nil, fmt.Errorf("tensor %s: %d bytes, want %d for %d rows of %d %s", name, len(raw), rb*int64(rows), rows, cols, typ)
	}
	if err := decodeRow(typ, make([]float32, cols), raw[:rb]); err != nil {
		return nil, fmt.Errorf("%w: tensor %s: %v", ErrUnsupported, name, err)
	}
	return &storedMat{typ: typ, raw: raw, rows: rows, cols: cols, rowBytes: int(rb)}, nil
}

// decodeRow dequantizes one row of type t.
func decodeRow(t format.DType, dst []float32, src []byte) error {
	if t == format.F32 || t == format.BF16 {
		return format.DecodeFloats(t, src, dst)
	}
	return quantize.DecodeRow(t, dst, src)
}

// decode dequantizes rows [r0, r1) into dst (row-major, cols wide), the
// rows split across the training goroutines. The bytes were checked by
// newStored, so decoding cannot fail.
func (s *storedMat) decode(dst []float32, r0, r1 int) {
	parallelFor(r1-r0, (r1-r0)*s.cols*4, func(lo, hi int) {
		for r := r0 + lo; r < r0+hi; r++ {
			i := r - r0
			_ = decodeRow(s.typ, dst[i*s.cols:(i+1)*s.cols], s.raw[r*s.rowBytes:(r+1)*s.rowBytes])
		}
	})
}

// tile returns the number of rows dequantized at a time: about a
// megabyte of float32, a multiple of 16.
func (s *storedMat) tile() int {
	n := max((1<<18)/s.cols/16*16, 16)
	return min(n, s.rows)
}

// mulT sets y (T×rows) = x (T×cols)·Sᵀ, the forward product of a linear
// layer.
func (s *storedMat) mulT(y, x []float32, T int) {
	s.eachTile(func(buf []float32, r0, r1 int) {
		matMul2(y[r0:], s.rows, mat(x, s.cols, false), mat(buf, s.cols, true), T, r1-r0, s.cols, false)
	})
}

// mulAcc adds dy (T×rows)·S to dx (T×cols), the input gradient of a
// linear layer; the tiles are added in order, whatever the number of
// goroutines.
func (s *storedMat) mulAcc(dx, dy []float32, T int) {
	s.eachTile(func(buf []float32, r0, r1 int) {
		matMul2(dx, s.cols, mat(dy[r0:], s.rows, false), mat(buf, s.cols, false), T, s.cols, r1-r0, true)
	})
}

// eachTile dequantizes the rows a tile at a time, in order, and calls f
// with each tile (rows r0..r1, row-major).
func (s *storedMat) eachTile(f func(buf []float32, r0, r1 int)) {
	n := s.tile()
	buf := getTile(n * s.cols)
	defer tiles.Put(buf)
	for r0 := 0; r0 < s.rows; r0 += n {
		r1 := min(r0+n, s.rows)
		s.decode(*buf, r0, r1)
		f(*buf, r0, r1)
	}
}

// tiles recycles the float32 tiles of the products (about a megabyte
// each), sparing the garbage collector one per product.
var tiles sync.Pool

// getTile returns a tile of at least n floats from the pool.
func getTile(n int) *[]float32 {
	if b, ok := tiles.Get().(*[]float32); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]float32, max(n, 1<<18))[:n]
	return &b
}

// row dequantizes row r into dst (an embedding lookup).
func (s *storedMat) row(dst []float32, r int) {
	_ = decodeRow(s.typ, dst[:s.cols], s.raw[r*s.rowBytes:(r+1)*s.rowBytes])
}

// all returns the whole matrix as float32 (for writing it out).
func (s *storedMat) all() []float32 {
	w := make([]float32, s.rows*s.cols)
	s.decode(w, 0, s.rows)
	return w
}

// matMul2 is matMul with an explicit row stride ldc of C.
func matMul2(c []float32, ldc int, a, b kernel.Mat, m, n, k int, acc bool) {
	kernel.Active().MatMulF32(m, n, k, a, b, c, ldc, acc, threads)
}

// fwd computes y (T×out) = x (T×in)·Wᵀ for the weight p: its float32
// values, or its stored base plus, when adapted, Scale·(x·Aᵀ)·Bᵀ.
func (p *Param) fwd(y, x []float32, T, in, out int) {
	if p.stored == nil {
		linFwd(y, x, p.W, T, in, out)
		return
	}
	p.stored.mulT(y, x, T)
	l := p.LoRA
	if l == nil {
		return
	}
	xa := l.project(x, T)
	matMul(y, mat(xa, l.Rank, false), mat(l.B.W, l.Rank, true), T, out, l.Rank, true)
}

// project returns Scale·x·Aᵀ (T×Rank).
func (l *LoRA) project(x []float32, T int) []float32 {
	xa := make([]float32, T*l.Rank)
	matMul(xa, mat(x, l.in, false), mat(l.A.W, l.in, true), T, l.Rank, l.in, false)
	for i := range xa {
		xa[i] *= l.Scale
	}
	return xa
}

// bwd adds the gradients of fwd: dy·W to dx (when not nil) and the
// weight's gradient, or with a stored base the adapters' (dB += dyᵀ·xa,
// dA += uᵀ·x and dx += u·A, xa = Scale·x·Aᵀ, u = Scale·dy·B).
func (p *Param) bwd(dx, dy, x []float32, T, in, out int) {
	if p.stored == nil {
		linBwd(dx, gradOf(p), dy, x, p.W, T, in, out)
		return
	}
	if dx != nil {
		p.stored.mulAcc(dx, dy, T)
	}
	l := p.LoRA
	if l == nil {
		return
	}
	r := l.Rank
	xa := l.project(x, T)
	matMul(l.B.G, mat(dy, out, true), mat(xa, r, false), out, r, T, true)
	u := make([]float32, T*r)
	matMul(u, mat(dy, out, false), mat(l.B.W, r, false), T, r, out, false)
	for i := range u {
		u[i] *= l.Scale
	}
	matMul(l.A.G, mat(u, r, true), mat(x, in, false), r, in, T, true)
	if dx != nil {
		matMul(dx, mat(u, r, false), mat(l.A.W, in, false), T, in, r, true)
	}
}

// embed copies the embedding row of token id into dst.
func (p *Param) embed(dst []float32, id int) {
	D := len(dst)
	if p.stored != nil {
		p.stored.row(dst, id)
		return
	}
	copy(dst, p.W[id*D:(id+1)*D])
}

// values returns the weight's float32 values: W, or for a stored base its
// dequantization with the adapter merged (a fresh slice).
func (p *Param) values() []float32 {
	if p.stored == nil {
		return p.W
	}
	w := p.stored.all()
	if l := p.LoRA; l != nil {
		tmp := make([]float32, l.on*l.in)
		matMul(tmp, mat(l.B.W, l.Rank, false), mat(l.A.W, l.in, false), l.on, l.in, l.Rank, false)
		for i, v := range tmp {
			w[i] += float32(l.Scale * v)
		}
	}
	return w
}

// numel returns the number of values of the parameter.
func (p *Param) numel() int64 {
	n := int64(1)
	for _, d := range p.Shape {
		n *= d
	}
	return n
}
