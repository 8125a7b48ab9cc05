package kernel

import (
	"sync"
	"sync/atomic"
)

// Float32 matrix products for training (distill): C (+)= op(A)·op(B) with
// op the identity or the transpose, read in place through leading
// dimensions (no transposed copy of either operand is made). They are
// blocked as in Goto and van de Geijn, "Anatomy of high-performance matrix
// multiplication" (ACM TOMS 34(3), 2008): both operands are packed into
// panels of MR rows of A and NR columns of B, each K-major, and an MR×NR
// register tile (GemmKernel) runs over KC values of the inner dimension at
// a time, a micro-panel of B staying in L1 while the panels of A stream
// through it. Output tiles are spread over goroutines; every element of C
// is summed by one goroutine in one fixed order (the K blocks in turn,
// each block's sum added to C), so the result does not depend on the
// number of threads.

// GemmKernel is one implementation's register tile.
type GemmKernel struct {
	// MR and NR are the tile's rows and columns; KC the inner-dimension
	// block it is given at a time.
	MR, NR, KC int
	// Kern sets (acc false) or adds to (acc true) c[i*ldc+j], i < MR,
	// j < NR, the sum over p < k of a[p*MR+i]·b[p*NR+j], each element
	// summed in increasing p and then added to c.
	Kern func(k int, a, b, c []float32, ldc int, acc bool)
}

// genericGemm is Generic's tile: 4×4 scalar accumulators.
var genericGemm = &GemmKernel{MR: 4, NR: 4, KC: 256, Kern: gemm4x4Generic}

func gemm4x4Generic(k int, a, b, c []float32, ldc int, acc bool) {
	a, b = a[:4*k], b[:4*k]
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p := 0; p < k; p++ {
		ap, bp := a[4*p:4*p+4], b[4*p:4*p+4]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		x := ap[0]
		c00, c01, c02, c03 = c00+float32(x*b0), c01+float32(x*b1), c02+float32(x*b2), c03+float32(x*b3)
		x = ap[1]
		c10, c11, c12, c13 = c10+float32(x*b0), c11+float32(x*b1), c12+float32(x*b2), c13+float32(x*b3)
		x = ap[2]
		c20, c21, c22, c23 = c20+float32(x*b0), c21+float32(x*b1), c22+float32(x*b2), c23+float32(x*b3)
		x = ap[3]
		c30, c31, c32, c33 = c30+float32(x*b0), c31+float32(x*b1), c32+float32(x*b2), c33+float32(x*b3)
	}
	rows := [4][4]float32{{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}}
	for i, r := range rows {
		cr := c[i*ldc : i*ldc+4]
		if acc {
			cr[0], cr[1], cr[2], cr[3] = cr[0]+r[0], cr[1]+r[1], cr[2]+r[2], cr[3]+r[3]
		} else {
			copy(cr, r[:])
		}
	}
}

// Mat is a row-major float32 matrix operand of MatMulF32: element (i, j) of
// the stored matrix is Data[i*Stride+j]; with T the operand is its
// transpose.
type Mat struct {
	Data   []float32
	Stride int
	T      bool
}

// at returns element (i, j) of the operand (after the transpose, if any).
func (x Mat) at(i, j int) float32 {
	if x.T {
		return x.Data[j*x.Stride+i]
	}
	return x.Data[i*x.Stride+j]
}

// MatMulF32 computes C = A·B (acc false) or C += A·B (acc true) for A
// (m×k) and B (k×n) as the operands describe them and C (m×n) stored with
// row stride ldc, over up to threads goroutines (results do not depend on
// threads). It panics, as slicing does, when an operand is too short.
func (im *Impl) MatMulF32(m, n, k int, a, b Mat, c []float32, ldc int, acc bool, threads int) {
	if m <= 0 || n <= 0 {
		return
	}
	_ = c[(m-1)*ldc+n-1]
	if k <= 0 {
		if !acc {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	g := im.GemmTile
	if g == nil {
		g = genericGemm
	}
	checkMat(a, m, k)
	checkMat(b, k, n)
	mp, np := (m+g.MR-1)/g.MR, (n+g.NR-1)/g.NR
	bufs := gemmBufs.Get().(*gemmBuf)
	ap := grow(bufs.a, mp*g.MR*k)
	bp := grow(bufs.b, np*g.NR*k)
	threads = max(threads, 1)
	// Pack A's row panels and B's column panels, K-major.
	parallel(mp+np, threads, func(i int) {
		if i < mp {
			packPanel(ap[i*g.MR*k:(i+1)*g.MR*k], a, i*g.MR, min(g.MR, m-i*g.MR), g.MR, k, false)
		} else {
			j := i - mp
			packPanel(bp[j*g.NR*k:(j+1)*g.NR*k], b, j*g.NR, min(g.NR, n-j*g.NR), g.NR, k, true)
		}
	})
	// Output tiles of tm×tn panels.
	tm := max(1, 128/g.MR)
	tn := max(1, 256/g.NR)
	tilesM, tilesN := (mp+tm-1)/tm, (np+tn-1)/tn
	parallel(tilesM*tilesN, threads, func(t int) {
		var tmp [256]float32
		i0, j0 := (t/tilesN)*tm, (t%tilesN)*tn
		i1, j1 := min(i0+tm, mp), min(j0+tn, np)
		for k0 := 0; k0 < k; k0 += g.KC {
			kc := min(g.KC, k-k0)
			add := acc || k0 > 0
			for jp := j0; jp < j1; jp++ {
				bs := bp[jp*g.NR*k+k0*g.NR : jp*g.NR*k+(k0+kc)*g.NR]
				cols := min(g.NR, n-jp*g.NR)
				for ip := i0; ip < i1; ip++ {
					as := ap[ip*g.MR*k+k0*g.MR : ip*g.MR*k+(k0+kc)*g.MR]
					rows := min(g.MR, m-ip*g.MR)
					off := ip*g.MR*ldc + jp*g.NR
					if rows == g.MR && cols == g.NR {
						g.Kern(kc, as, bs, c[off:], ldc, add)
						continue
					}
					g.Kern(kc, as, bs, tmp[:], g.NR, false)
					for r := 0; r < rows; r++ {
						cr, tr := c[off+r*ldc:off+r*ldc+cols], tmp[r*g.NR:r*g.NR+cols]
						if add {
							for j, v := range tr {
								cr[j] += v
							}
						} else {
							copy(cr, tr)
						}
					}
				}
			}
		}
	})
	bufs.a, bufs.b = ap, bp
	gemmBufs.Put(bufs)
}

// checkMat panics when x is too short for r×c.
func checkMat(x Mat, r, c int) {
	if x.T {
		r, c = c, r
	}
	_ = x.Data[(r-1)*x.Stride+c-1]
}

// packPanel writes to dst (k×w, K-major) the w-wide panel of x starting at
// row (cols false) or column (cols true) s0, of which valid are inside the
// matrix (the rest zero): dst[p*w+i] = x(s0+i, p) or x(p, s0+i).
func packPanel(dst []float32, x Mat, s0, valid, w, k int, cols bool) {
	// Contiguous case: the panel's w values at each p are adjacent in x.
	if x.T != cols {
		for p := 0; p < k; p++ {
			d := dst[p*w : p*w+w]
			copy(d, x.Data[p*x.Stride+s0:p*x.Stride+s0+valid])
			clear(d[valid:])
		}
		return
	}
	// Strided case: each of the w lines is contiguous along p; four lines
	// at a time, so that each p writes four adjacent values.
	dst = dst[:k*w]
	i := 0
	for ; i+4 <= valid; i += 4 {
		r0 := x.Data[(s0+i)*x.Stride : (s0+i)*x.Stride+k]
		r1 := x.Data[(s0+i+1)*x.Stride : (s0+i+1)*x.Stride+k]
		r2 := x.Data[(s0+i+2)*x.Stride : (s0+i+2)*x.Stride+k]
		r3 := x.Data[(s0+i+3)*x.Stride : (s0+i+3)*x.Stride+k]
		for p, v := range r0 {
			d := dst[p*w+i : p*w+i+4]
			d[0], d[1], d[2], d[3] = v, r1[p], r2[p], r3[p]
		}
	}
	for ; i < valid; i++ {
		src := x.Data[(s0+i)*x.Stride : (s0+i)*x.Stride+k]
		for p, v := range src {
			dst[p*w+i] = v
		}
	}
	for i := valid; i < w; i++ {
		for p := 0; p < k; p++ {
			dst[p*w+i] = 0
		}
	}
}

type gemmBuf struct{ a, b []float32 }

var gemmBufs = sync.Pool{New: func() any { return new(gemmBuf) }}

// parallel runs f(0..n-1) over up to threads goroutines, each taking the
// next index in turn.
func parallel(n, threads int, f func(i int)) {
	if threads <= 1 || n <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			f(i)
		}
	}
	th := min(threads, n)
	var wg sync.WaitGroup
	for w := 1; w < th; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}
