package quantize

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/linalg"
)

// gptqLayer builds a synthetic linear layer: rows×cols weights (Gaussian,
// a few outliers) and T correlated inputs of cols channels (low-rank mixing
// of Gaussian factors plus noise, per-channel scales spread over two
// decades), as real transformer activations are.
func gptqLayer(seed uint64, rows, cols, T int) (w, x []float32) {
	rng := rand.New(rand.NewPCG(seed, 7))
	w = make([]float32, rows*cols)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.05)
		if rng.IntN(200) == 0 {
			w[i] *= 6
		}
	}
	const k = 16
	mix := make([]float64, k*cols)
	for i := range mix {
		mix[i] = rng.NormFloat64()
	}
	scale := make([]float64, cols)
	for j := range scale {
		scale[j] = math.Pow(10, rng.Float64()*2-1)
	}
	x = make([]float32, T*cols)
	z := make([]float64, k)
	for t := 0; t < T; t++ {
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		for j := 0; j < cols; j++ {
			var s float64
			for i := 0; i < k; i++ {
				s += z[i] * mix[i*cols+j]
			}
			x[t*cols+j] = float32(scale[j] * (s/4 + 0.3*rng.NormFloat64()))
		}
	}
	return w, x
}

// outputError is Σ_t ‖W x_t − Ŵ x_t‖² / Σ_t ‖W x_t‖².
func outputError(w, wq, x []float32, rows, cols int) float64 {
	T := len(x) / cols
	var num, den float64
	for t := 0; t < T; t++ {
		xt := x[t*cols : (t+1)*cols]
		for r := 0; r < rows; r++ {
			var a, b float64
			for j, v := range xt {
				a += float64(w[r*cols+j]) * float64(v)
				b += float64(wq[r*cols+j]) * float64(v)
			}
			num += (a - b) * (a - b)
			den += a * a
		}
	}
	return num / den
}

func decodeAll(t *testing.T, typ format.DType, src []byte, rows, cols int) []float32 {
	t.Helper()
	c, _ := CodecFor(typ)
	out := make([]float32, rows*cols)
	rb := len(src) / rows
	for r := 0; r < rows; r++ {
		c.Decode(out[r*cols:(r+1)*cols], src[r*rb:(r+1)*rb])
	}
	return out
}

func encodeAll(typ format.DType, w []float32, rows, cols int, imp []float32) []byte {
	c, _ := CodecFor(typ)
	rb, _ := typ.RowBytes(int64(cols))
	dst := make([]byte, rows*int(rb))
	for r := 0; r < rows; r++ {
		c.Encode(dst[r*int(rb):(r+1)*int(rb)], w[r*cols:(r+1)*cols], imp)
	}
	return dst
}

var gptqTypes = []format.DType{format.Q8_0, format.Q4_0, format.Q4_1, format.Q5_0, format.Q5_1,
	format.Q2_K, format.Q3_K, format.Q4_K, format.Q5_K, format.Q6_K, format.IQ4_NL, format.IQ4_XS}

// gptqVecTypes are the grid i-quants, which GPTQ writes a group at a time.
var gptqVecTypes = []format.DType{format.IQ3_S, format.IQ3_XXS, format.IQ2_S, format.IQ2_XS,
	format.IQ2_XXS}

// TestGPTQBeatsRTN checks, for every supported type (the grid i-quants
// included), that GPTQ's output
// error on held-out inputs is below both plain rounding and imatrix-
// weighted rounding, and that its bytes decode with the standard codec.
func TestGPTQBeatsRTN(t *testing.T) {
	const rows, cols = 24, 512
	w, x := gptqLayer(1, rows, cols, 1024)
	calib, eval := x[:768*cols], x[768*cols:]
	h := NewHessian(cols)
	h.Add(calib, 768)
	H, imp := h.Matrix(), h.Diag()
	for _, typ := range append(gptqTypes[:len(gptqTypes):len(gptqTypes)], gptqVecTypes...) {
		if !GPTQSupported(typ) {
			t.Fatalf("%s not supported", typ)
		}
		rtn := outputError(w, decodeAll(t, typ, encodeAll(typ, w, rows, cols, nil), rows, cols), eval, rows, cols)
		imx := outputError(w, decodeAll(t, typ, encodeAll(typ, w, rows, cols, imp), rows, cols), eval, rows, cols)
		rb, _ := typ.RowBytes(cols)
		dst := make([]byte, rows*int(rb))
		if err := GPTQ(typ, dst, w, rows, cols, H, GPTQOptions{Threads: 2}); err != nil {
			t.Fatal(err)
		}
		gq := outputError(w, decodeAll(t, typ, dst, rows, cols), eval, rows, cols)
		t.Logf("%-5s rtn %.3e imatrix %.3e gptq %.3e (%.0f%% of imatrix)", typ, rtn, imx, gq, 100*gq/imx)
		if !(gq < imx && gq < rtn) {
			t.Errorf("%s: gptq %.3e not below rtn %.3e and imatrix %.3e", typ, gq, rtn, imx)
		}
		if typ != format.Q8_0 && !(gq < 0.8*imx) {
			t.Errorf("%s: gptq %.3e is not 20%% below imatrix %.3e", typ, gq, imx)
		}
	}
}

// TestGPTQGridRoundTrip checks each fixed-scale encoder against the
// codec's decoder: writing every code of every element and decoding gives
// the grid's value.
func TestGPTQGridRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, typ := range gptqTypes {
		g := gptqGrids[typ]
		c, _ := CodecFor(typ)
		x := make([]float32, g.block)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		b := make([]byte, g.bytes)
		c.Encode(b, x, nil)
		y := make([]float32, g.block)
		for e := 0; e < g.block; e++ {
			d, off, lo, hi := g.grid(b, e)
			for q := lo; q <= hi; q++ {
				g.put(b, e, q)
				c.Decode(y, b)
				if want := g.value(d, off, lo, q); y[e] != want {
					t.Fatalf("%s element %d code %d: decodes to %v, grid says %v", typ, e, q, y[e], want)
				}
			}
			// Leave a random code, so neighbours see mixed bits.
			g.put(b, e, lo+int32(rng.IntN(int(hi-lo+1))))
		}
		// Sub-block parameters: every code written reads back, leaves
		// the other sub-blocks' alone, and the grid follows it.
		if g.sub > 0 {
			for j := 0; j < g.block/g.sub; j++ {
				for _, sc := range []int32{g.plo, g.phi, (g.plo + g.phi) / 2, g.plo + 1} {
					for _, m := range []int32{g.plo, g.phi, 1, 0} {
						if !g.mins {
							m = 0
						}
						before := append([]byte(nil), b...)
						osc, om := g.param(b, j)
						g.setParam(b, j, sc, m)
						if gs, gm := g.param(b, j); gs != sc || gm != m {
							t.Fatalf("%s sub-block %d: set %d/%d, read %d/%d", typ, j, sc, m, gs, gm)
						}
						for k := 0; k < g.block/g.sub; k++ {
							if k == j {
								continue
							}
							s1, m1 := g.param(b, k)
							s0, m0 := g.param(before, k)
							if s1 != s0 || m1 != m0 {
								t.Fatalf("%s: setting sub-block %d changed sub-block %d", typ, j, k)
							}
						}
						c.Decode(y, b)
						e := j*g.sub + 1
						d, off, lo, hi := g.grid(b, e)
						if g.levels == nil {
							lo, hi = -1<<20, 1<<20
						}
						if _, v := g.round(y[e], d, off, lo, hi); v != y[e] {
							t.Fatalf("%s sub-block %d: decoded %v off the grid", typ, j, y[e])
						}
						g.setParam(b, j, osc, om)
						if !bytes.Equal(b, before) {
							t.Fatalf("%s sub-block %d: restoring the parameters left other bytes changed", typ, j)
						}
					}
				}
			}
		}
		// The codes of the other elements survive.
		c.Decode(y, b)
		for e := 0; e < g.block; e++ {
			d, off, lo, hi := g.grid(b, e)
			q, v := g.round(y[e], d, off, lo, hi)
			if v != y[e] || q < lo || q > hi {
				t.Fatalf("%s element %d: %v re-rounds to %v", typ, e, y[e], v)
			}
		}
	}
}

// TestGPTQRoundClamp checks rounding at the grid's edges and for odd
// inputs.
func TestGPTQRoundClamp(t *testing.T) {
	for _, tc := range []struct {
		x, d, c float32
		q       int32
		v       float32
	}{
		{0.26, 0.1, 0, 3, 0.3},
		{100, 0.1, 0, 7, 0.7},
		{-100, 0.1, 0, -8, -0.8},
		{float32(math.NaN()), 0.1, 0, 0, 0},
		{5, 0, 0.5, 0, 0.5},
		{0.54, 0.1, 0.5, 0, 0.5},
		{-0.1, 1, 2, -2, 0},
	} {
		q, v := gptqRound(tc.x, tc.d, tc.c, -8, 7)
		if q != tc.q || math.Abs(float64(v-tc.v)) > 1e-6 {
			t.Errorf("gptqRound(%v, %v, %v) = %d, %v; want %d, %v", tc.x, tc.d, tc.c, q, v, tc.q, tc.v)
		}
	}
}

func TestGPTQErrors(t *testing.T) {
	w := make([]float32, 2*32)
	h := make([]float64, 32*32)
	dst := make([]byte, 2*18)
	if err := GPTQ(format.Q8_K, dst, w, 2, 32, h, GPTQOptions{}); err == nil {
		t.Error("Q8_K accepted")
	}
	// IQ1_S and IQ1_M are left to the importance-weighted search.
	if GPTQSupported(format.IQ1_S) || GPTQSupported(format.IQ1_M) {
		t.Error("GPTQ claims IQ1_S or IQ1_M")
	}
	if err := GPTQ(format.Q4_0, dst[:10], w, 2, 32, h, GPTQOptions{}); err == nil {
		t.Error("short dst accepted")
	}
	if err := GPTQ(format.Q4_0, dst, w, 2, 32, h[:10], GPTQOptions{}); err == nil {
		t.Error("short Hessian accepted")
	}
	if err := GPTQ(format.Q4_K, make([]byte, 2*144), w, 2, 32, h, GPTQOptions{}); err == nil {
		t.Error("32 columns accepted for Q4_K")
	}
	// An all-zero Hessian (dead inputs) still quantizes: like RTN.
	for i := range w {
		w[i] = float32(i%7) - 3
	}
	if err := GPTQ(format.Q4_0, dst, w, 2, 32, h, GPTQOptions{}); err != nil {
		t.Fatal(err)
	}
	got := decodeAll(t, format.Q4_0, dst, 2, 32)
	for i, v := range got {
		if math.Abs(float64(v-w[i])) > 0.5 {
			t.Fatalf("element %d: %v for %v", i, v, w[i])
		}
	}
	// NaN Hessians are refused.
	h[0] = math.NaN()
	if err := GPTQ(format.Q4_0, dst, w, 2, 32, h, GPTQOptions{}); err == nil {
		t.Error("NaN Hessian accepted")
	}
}

// TestHessianChunked checks that accumulating in one call or token by
// token gives the same matrix, and the values against a direct sum.
func TestHessianChunked(t *testing.T) {
	const cols, T = 42, 300
	_, x := gptqLayer(2, 1, cols, T)
	a, b := NewHessian(cols), NewHessian(cols)
	a.Add(x, T)
	for i := 0; i < T; i++ {
		b.Add(x[i*cols:(i+1)*cols], 1)
	}
	ma, mb := a.Matrix(), b.Matrix()
	for _, p := range [][2]int{{0, 0}, {3, 17}, {17, 3}, {41, 41}, {40, 2}, {12, 30}} {
		var want, mag float64
		for t := 0; t < T; t++ {
			p := float64(x[t*cols+p[0]]) * float64(x[t*cols+p[1]])
			want += p
			mag += math.Abs(p)
		}
		want, mag = want/T, mag/T
		got := ma[p[0]*cols+p[1]]
		// Chunks are summed in float32 tiles: relative to the magnitude.
		if tol := 1e-6*mag + 1e-12; math.Abs(got-want) > tol || math.Abs(mb[p[0]*cols+p[1]]-want) > tol {
			t.Errorf("H[%d][%d] = %v / %v, want %v", p[0], p[1], got, mb[p[0]*cols+p[1]], want)
		}
	}
	if d := a.Diag(); math.Abs(float64(d[5])-ma[5*cols+5]) > 1e-6*ma[5*cols+5] {
		t.Errorf("Diag[5] = %v, matrix %v", d[5], ma[5*cols+5])
	}
}

// TestHessianCollectorShares checks that consecutive weights with the
// same input share one Hessian accumulated once, and the memory budget.
func TestHessianCollectorShares(t *testing.T) {
	c := NewHessianCollector(2 * 8 * 16 * 16)
	x := make([]float32, 3*16)
	y := make([]float32, 3*16)
	for chunk := 0; chunk < 2; chunk++ {
		for i := range x {
			x[i] = float32(i + chunk)
			y[i] = float32(-i)
		}
		c.Add("q", x, 3, 16)
		c.Add("k", x, 3, 16)
		c.Add("o", y, 3, 16)
		c.Add("big", make([]float32, 2*32), 2, 32) // over budget
	}
	q, k, o := c.Hessian("q"), c.Hessian("k"), c.Hessian("o")
	if q == nil || q != k || o == nil || o == q {
		t.Fatalf("q %p k %p o %p", q, k, o)
	}
	if q.Count != 6 || o.Count != 6 {
		t.Errorf("counts %d %d, want 6", q.Count, o.Count)
	}
	if c.Hessian("big") != nil {
		t.Error("Hessian over the budget")
	}
	if n := c.Names(); len(n) != 3 {
		t.Errorf("names %v", n)
	}
}

// TestGPTQRefit: re-choosing a sub-block's parameters for perturbed
// values never increases the weighted rounding error, and lowers it in
// aggregate.
func TestGPTQRefit(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, typ := range gptqTypes {
		g := gptqGrids[typ]
		if g.sub == 0 {
			continue
		}
		c, _ := CodecFor(typ)
		var before, after float64
		for trial := 0; trial < 20; trial++ {
			x := make([]float32, g.block)
			w := make([]float32, g.block)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				w[i] = float32(rng.ExpFloat64())
			}
			b := make([]byte, g.bytes)
			c.Encode(b, x, w)
			for i := range x {
				x[i] += float32(0.3 * rng.NormFloat64())
			}
			werr := func(j int) float64 {
				var s float64
				for k := j * g.sub; k < (j+1)*g.sub; k++ {
					d, off, lo, hi := g.grid(b, k)
					_, v := g.round(x[k], d, off, lo, hi)
					s += float64(w[k] * (x[k] - v) * (x[k] - v))
				}
				return s
			}
			for j := 0; j < g.block/g.sub; j++ {
				e0 := werr(j)
				g.refit(b, j, x[j*g.sub:(j+1)*g.sub], w[j*g.sub:(j+1)*g.sub])
				e1 := werr(j)
				if e1 > e0*(1+1e-5) {
					t.Fatalf("%s sub-block %d: error %v -> %v", typ, j, e0, e1)
				}
				before += e0
				after += e1
			}
		}
		if !(after < before) {
			t.Errorf("%s: refit error %v, before %v", typ, after, before)
		}
	}
}

// TestGPTQThreadsAgree checks that the Hessian and GPTQ's output bytes do
// not depend on the thread count.
func TestGPTQThreadsAgree(t *testing.T) {
	const rows, cols, T = 70, 512, 600
	w, x := gptqLayer(9, rows, cols, T)
	var outs [][]byte
	for _, th := range []int{1, 3} {
		linalg.SetThreads(th)
		h := NewHessian(cols)
		h.Add(x, T)
		dst := make([]byte, rows*(cols/256)*144)
		if err := GPTQ(format.Q4_K, dst, w, rows, cols, h.Matrix(), GPTQOptions{Threads: th, Batch: 64}); err != nil {
			t.Fatal(err)
		}
		outs = append(outs, dst)
	}
	linalg.SetThreads(0)
	if !bytes.Equal(outs[0], outs[1]) {
		t.Error("GPTQ output differs between 1 and 3 threads")
	}
}

// TestGPTQFactorChunks checks that GPTQ with the Hessian's in-place factor,
// a few rows at a time and with any thread count, writes the bytes of one
// GPTQ call over the whole tensor, and that Factor releases the sum.
func TestGPTQFactorChunks(t *testing.T) {
	const rows, cols, T = 70, 512, 600
	w, x := gptqLayer(11, rows, cols, T)
	for _, typ := range []format.DType{format.Q4_K, format.Q6_K, format.Q4_0} {
		h := NewHessian(cols)
		h.Add(x, T)
		g := gptqGrids[typ]
		rb := cols / g.block * g.bytes
		want := make([]byte, rows*rb)
		if err := GPTQ(typ, want, w, rows, cols, h.Matrix(), GPTQOptions{Threads: 2}); err != nil {
			t.Fatal(err)
		}
		diag := h.Diag()
		f, err := h.Factor(0)
		if err != nil {
			t.Fatal(err)
		}
		if f2, _ := h.Factor(0); f2 != f {
			t.Error("Factor made twice")
		}
		if h.Matrix() != nil {
			t.Error("Matrix after Factor is not nil")
		}
		if d := h.Diag(); d[7] != diag[7] || d[300] != diag[300] {
			t.Errorf("Diag after Factor %v %v, want %v %v", d[7], d[300], diag[7], diag[300])
		}
		for _, c := range []struct{ chunk, threads int }{{rows, 1}, {16, 3}, {33, 2}, {1, 1}} {
			got := make([]byte, rows*rb)
			for r0 := 0; r0 < rows; r0 += c.chunk {
				n := min(c.chunk, rows-r0)
				if err := GPTQWithFactor(typ, got[r0*rb:(r0+n)*rb], w[r0*cols:(r0+n)*cols], n, cols, f, GPTQOptions{Threads: c.threads}); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: chunks of %d rows, %d threads: bytes differ from one GPTQ call", typ, c.chunk, c.threads)
			}
		}
		if err := GPTQWithFactor(typ, want[:rb], w[:cols-g.block], 1, cols-g.block, f, GPTQOptions{}); err == nil {
			t.Errorf("%s: factor of %d columns used for %d: no error", typ, cols, cols-g.block)
		}
	}
}

// TestHessianFactorRetry checks the in-place factor of a Hessian that is
// not positive definite at the first dampening: the retry must see the sum
// as it was, and give the factor NewGPTQFactor gives from the matrix.
func TestHessianFactorRetry(t *testing.T) {
	const cols = 64
	h := NewHessian(cols)
	// Columns 0 and 1 hold the same large values and column 2 their
	// negation: H is singular with a huge diagonal, so that the 1%
	// dampening of the mean diagonal is lost in rounding until the
	// third retry.
	x := make([]float32, 4*cols)
	for t := 0; t < 4; t++ {
		v := float32(1e15 * float64(t+1))
		x[t*cols], x[t*cols+1], x[t*cols+2] = v, v, -v
	}
	h.Add(x, 4)
	m := h.Matrix()
	want, werr := NewGPTQFactor(m, cols, 1e-17)
	got, gerr := h.Factor(1e-17)
	if werr != nil || gerr != nil {
		t.Fatalf("errors: %v / %v (the third retry factors this H)", werr, gerr)
	}
	for i := range want.u {
		if want.u[i] != got.u[i] {
			t.Fatalf("U[%d] = %v in place, %v from the matrix", i, got.u[i], want.u[i])
		}
	}
}

// BenchmarkGPTQWithFactor quantizes 512 rows of 2048 columns (a TinyLlama
// attention projection's chunk) to Q4_K with a ready factor, on 1 and 2
// goroutines (row slabs).
func BenchmarkGPTQWithFactor(b *testing.B) {
	const rows, cols, T = 512, 2048, 256
	w, x := gptqLayer(5, rows, cols, T)
	h := NewHessian(cols)
	h.Add(x, T)
	f, err := h.Factor(0)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, rows*(cols/256)*144)
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", th), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := GPTQWithFactor(format.Q4_K, dst, w, rows, cols, f, GPTQOptions{Threads: th}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestGPTQLevelsRound checks nearest-level rounding on IQ4_NL's table
// against the codec's own index search (ggml's best_index_int8: ties go to
// the upper level) and the decoded value, at the midpoints, beyond the
// ends, for a negative step and for NaN.
func TestGPTQLevelsRound(t *testing.T) {
	l := iq4Levels
	ts := []float32{-1e30, -127, -128, 113, 200, 0, 0.5, -0.5, 7, 19, 1e30}
	for i := range l.mid {
		ts = append(ts, l.mid[i], l.mid[i]-0.01, l.mid[i]+0.01)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1000; i++ {
		ts = append(ts, float32(rng.NormFloat64()*80))
	}
	for _, tv := range ts {
		if got, want := l.index(tv), iq4nlIndex(tv); got != want {
			t.Errorf("index(%v) = %d, codec %d", tv, got, want)
		}
		for _, d := range []float32{0.01, -0.02} {
			x := tv * d
			q, v := l.round(x, d, 0, 0)
			i := iq4nlIndex(x / d)
			if q != int32(i) || v != d*float32(iq4nlValues[i]) {
				t.Errorf("round(%v, d %v) = %d, %v; want %d, %v", x, d, q, v, i, d*float32(iq4nlValues[i]))
			}
		}
	}
	if q, v := l.round(float32(math.NaN()), 0.1, 0, 0); q != 8 || v != float32(0.1) {
		t.Errorf("round(NaN) = %d, %v; want 8 (level 1), 0.1", q, v)
	}
	if q, v := l.round(3, 0, 0.5, 0); q != 8 || v != 0.5 {
		t.Errorf("round with step 0 = %d, %v; want 8, 0.5", q, v)
	}
}

// BenchmarkGPTQTypes quantizes the rows of BenchmarkGPTQWithFactor (512
// rows of 2048 columns, ready factor, one goroutine) to Q4_K and to the
// i-quants GPTQ writes: the cost of IQ4_XS's level rounding and of the
// grid types' exhaustive group search beside Q4_K's.
func BenchmarkGPTQTypes(b *testing.B) {
	const rows, cols, T = 512, 2048, 256
	w, x := gptqLayer(5, rows, cols, T)
	h := NewHessian(cols)
	h.Add(x, T)
	f, err := h.Factor(0)
	if err != nil {
		b.Fatal(err)
	}
	for _, typ := range []format.DType{format.Q4_K, format.IQ4_XS, format.IQ3_S, format.IQ2_XS, format.IQ2_S} {
		rb, _ := typ.RowBytes(cols)
		dst := make([]byte, rows*int(rb))
		b.Run(typ.String(), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := GPTQWithFactor(typ, dst, w, rows, cols, f, GPTQOptions{Threads: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestGPTQLevelsIndexGeneric checks the binary search of tables other than
// sixteen levels against the nearest level found by a scan.
func TestGPTQLevelsIndexGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	for _, tab := range [][]int8{{-3, 0, 2, 9, 20}, {1, 5}, {-100, -50, -1, 0, 1, 7, 60}} {
		l := newGPTQLevels(tab)
		for i := 0; i < 500; i++ {
			x := float32(rng.NormFloat64() * 40)
			if i < len(l.mid) {
				x = l.mid[i] // ties go to the upper level
			}
			want := 0
			for j := range l.v {
				if d, b := math.Abs(float64(x-l.v[j])), math.Abs(float64(x-l.v[want])); d < b || d == b {
					want = j
				}
			}
			if got := l.index(x); got != want {
				t.Fatalf("levels %v: index(%v) = %d, want %d", tab, x, got, want)
			}
		}
	}
}
