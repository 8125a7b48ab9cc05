package quantize

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/linalg"
)

// TestRefitRowsMatchesScalar checks the sixteen-row refit (the AVX-512
// kernels, or the AVX2 ones twice) against the scalar refit, row by row, on every K-quant: the same bytes
// for random blocks and values, including dead rows, zero and huge values,
// stored codes at the ends of their ranges and non-finite values.
func TestRefitRowsMatchesScalar(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2 kernels on this CPU or build")
	}
	defer func(v bool) { useAVX512 = v }(useAVX512)
	for _, wide := range []bool{false, true} {
		useAVX512 = wide && linalg.Accelerated()
		refitRowsCase(t)
	}
}

// refitRowsCase is one run of TestRefitRowsMatchesScalar.
func refitRowsCase(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const rows = refitLanes*3 + 3
	for _, typ := range gptqTypes {
		g := gptqGrids[typ]
		if g.sub == 0 || g.levels != nil {
			continue // no sub-blocks, or no sixteen-row refit
		}
		c, _ := CodecFor(typ)
		for trial := 0; trial < 30; trial++ {
			w := make([]float32, g.block)
			for i := range w {
				w[i] = float32(rng.ExpFloat64())
				if trial%7 == 3 && i%5 == 0 {
					w[i] = 0
				}
			}
			Wt := make([]float32, g.block*rows)
			dst := make([]byte, rows*g.bytes)
			for r := 0; r < rows; r++ {
				x := refitTestRow(rng, g.block, r, trial)
				c.Encode(dst[r*g.bytes:(r+1)*g.bytes], x, w)
				refitTestEdit(rng, g, dst[r*g.bytes:(r+1)*g.bytes], r)
				for k := range x {
					Wt[k*rows+r] = x[k] + float32(0.3*rng.NormFloat64())
				}
				if r%17 == 5 {
					Wt[3*rows+r] = float32(math.NaN())
				}
				if r%19 == 7 {
					Wt[5*rows+r] = float32(math.Inf(1))
				}
			}
			want := bytes.Clone(dst)
			xs := make([]float32, g.sub)
			for j := 0; j < g.block/g.sub; j++ {
				sw := w[j*g.sub : (j+1)*g.sub]
				g.refitRows(dst, g.bytes, 0, Wt, rows, j*g.sub, j, sw, xs)
				for r := 0; r < rows; r++ {
					g.refitGather(want[r*g.bytes:][:g.bytes], j, Wt[j*g.sub*rows+r:], rows, sw, xs)
				}
				if !bytes.Equal(dst, want) {
					for r := 0; r < rows; r++ {
						if !bytes.Equal(dst[r*g.bytes:][:g.bytes], want[r*g.bytes:][:g.bytes]) {
							t.Fatalf("%s trial %d sub-block %d row %d (AVX-512 %v): 16-row refit differs from refit", typ, trial, j, r, useAVX512)
						}
					}
				}
			}
		}
	}
}

// refitTestRow returns the values of test row r: Gaussian at a scale that
// varies by row, a dead (all zero) row, or one with a huge value.
func refitTestRow(rng *rand.Rand, n, r, trial int) []float32 {
	x := make([]float32, n)
	scale := math.Pow(10, float64(r%5)-2)
	for i := range x {
		x[i] = float32(scale * rng.NormFloat64())
	}
	switch (r + trial) % 11 {
	case 4:
		clear(x)
	case 8:
		x[n/2] = 3e30
	}
	return x
}

// refitTestEdit moves some rows' stored sub-block codes to the ends of
// their ranges, or zeroes a super-scale, so the candidate windows clip.
func refitTestEdit(rng *rand.Rand, g gptqGrid, b []byte, r int) {
	switch r % 6 {
	case 1:
		for j := 0; j < g.block/g.sub; j++ {
			g.setParam(b, j, g.plo, max(0, g.plo))
		}
	case 2:
		for j := 0; j < g.block/g.sub; j++ {
			m := g.plo + int32(rng.IntN(int(g.phi-g.plo+1)))
			if !g.mins {
				m = 0
			}
			g.setParam(b, j, g.phi, m)
		}
	case 3:
		// A zero super-scale: the min's (rows 3, 15, ...) or the scale's.
		at := map[int]int{q2KBytes: 82, q3KBytes: 108, q4KBytes: 2, q5KBytes: 2, q6KBytes: 208}[g.bytes]
		if r%4 == 1 && g.bytes != q3KBytes && g.bytes != q6KBytes {
			at -= 2 // the scale before the min
		}
		b[at], b[at+1] = 0, 0
	}
}

// TestGPTQKernelsAgree checks that GPTQ writes the same bytes with the
// SIMD kernels (refit16, axpy8) as with the scalar code, for every K-quant
// (37 rows: axpy8's tail and refit's leftover rows included).
func TestGPTQKernelsAgree(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2 kernels on this CPU or build")
	}
	const rows, cols, T = 37, 512, 300
	w, x := gptqLayer(11, rows, cols, T)
	h := NewHessian(cols)
	h.Add(x, T)
	H := h.Matrix()
	for _, typ := range []format.DType{format.Q2_K, format.Q3_K, format.Q4_K, format.Q5_K, format.Q6_K} {
		rb, _ := typ.RowBytes(cols)
		var outs [2][]byte
		for i, simd := range []bool{true, false} {
			useAVX2 = simd
			outs[i] = make([]byte, rows*int(rb))
			err := GPTQ(typ, outs[i], w, rows, cols, H, GPTQOptions{Threads: 2})
			useAVX2 = true
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(outs[0], outs[1]) {
			t.Errorf("%s: GPTQ bytes differ between the SIMD kernels and the scalar code", typ)
		}
	}
}

// BenchmarkRefitRows re-chooses the sub-block codes of 512 rows of one
// Q4_K block (eight sub-blocks) with the scalar refit, the AVX2 kernels
// (two passes of eight rows) and the AVX-512 ones (one of sixteen).
func BenchmarkRefitRows(b *testing.B) {
	const rows = 512
	g := gptqGrids[format.Q4_K]
	c, _ := CodecFor(format.Q4_K)
	rng := rand.New(rand.NewPCG(3, 4))
	w := make([]float32, g.block)
	for i := range w {
		w[i] = float32(rng.ExpFloat64())
	}
	Wt := make([]float32, g.block*rows)
	dst := make([]byte, rows*g.bytes)
	for r := 0; r < rows; r++ {
		x := refitTestRow(rng, g.block, 2, 0)
		c.Encode(dst[r*g.bytes:(r+1)*g.bytes], x, w)
		for k := range x {
			Wt[k*rows+r] = x[k] + float32(0.3*rng.NormFloat64())
		}
	}
	has2, has512 := useAVX2, useAVX2 && linalg.Accelerated()
	defer func(a, b bool) { useAVX2, useAVX512 = a, b }(useAVX2, useAVX512)
	for _, k := range []struct {
		name      string
		avx2, avx bool
	}{{"scalar", false, false}, {"avx2", true, false}, {"avx512", true, true}} {
		if k.avx2 && !has2 || k.avx && !has512 {
			continue
		}
		b.Run(k.name, func(b *testing.B) {
			useAVX2, useAVX512 = k.avx2, k.avx
			xs := make([]float32, g.sub)
			buf := bytes.Clone(dst)
			for i := 0; i < b.N; i++ {
				copy(buf, dst)
				for j := 0; j < g.block/g.sub; j++ {
					g.refitRows(buf, g.bytes, 0, Wt, rows, j*g.sub, j, w[j*g.sub:(j+1)*g.sub], xs)
				}
			}
		})
	}
}
