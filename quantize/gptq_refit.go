package quantize

import (
	"math"
	"unsafe"
)

// refitLanes is the number of rows refit8 re-chooses at once.
const refitLanes = 8

// refitRows runs refit on sub-block j (elements e0..e0+sub of block blk)
// of every row of a GPTQ sweep: row r's block is dst[r·rowBytes +
// blk·bytes:], its current values Wt[(e0+k)·rows + r] (Wt holds the
// weights column by column), w the sub-block's importances. With the AVX2
// kernels, eight rows at a time go through refit8, which gives refit's
// bytes; the rows left over, and every row without the kernels, through
// refit. xs is scratch of sub values.
func (g *gptqGrid) refitRows(dst []byte, rowBytes, blk int, Wt []float32, rows, c0, j int, w, xs []float32) {
	r := 0
	if useAVX2 {
		var bs [refitLanes][]byte
		for ; r+refitLanes <= rows; r += refitLanes {
			for l := range bs {
				bs[l] = dst[(r+l)*rowBytes+blk*g.bytes:][:g.bytes]
			}
			g.refit8(&bs, j, Wt[c0*rows+r:], rows, w, xs)
		}
	}
	for ; r < rows; r++ {
		g.refitGather(dst[r*rowBytes+blk*g.bytes:][:g.bytes], j, Wt[c0*rows+r:], rows, w, xs)
	}
}

// refitGather runs refit on one row whose values are x[k·stride], k <
// len(w), copied into xs first.
func (g *gptqGrid) refitGather(b []byte, j int, x []float32, stride int, w, xs []float32) {
	xs = xs[:len(w)]
	for k := range xs {
		xs[k] = x[k*stride]
	}
	g.refit(b, j, xs, w)
}

// refitLane is one row's state in refit8.
type refitLane struct {
	live      bool    // the row is refitted here
	d, dmin   float32 // the grid of codes (1, 1)
	sc0, m0   int32   // the stored codes
	bsc, bm   int32   // the best codes so far
	best      float32 // their error
	fallback  bool    // refitted by the scalar refit instead
	candidate bool    // the current scale code is tried
}

// refit8 is refit on sub-block j of the eight blocks bs[l], lane l's
// values x[k·stride + l] (k < len(w)): the same candidates in the same
// order, their errors and offsets summed by refitErr8 and refitShift8
// with refit's float32 operations, so the chosen codes are refit's. (refit
// stops summing an error once it reaches the best; the full sum is then
// no smaller, as the terms are not negative, so the choice is the same.)
// A lane whose stored codes' error is not finite goes through refit.
func (g *gptqGrid) refit8(bs *[refitLanes][]byte, j int, x []float32, stride int, w, xs []float32) {
	var ln [refitLanes]refitLane
	var D, C, out [refitLanes]float32
	n := len(w)
	_ = x[(n-1)*stride+refitLanes-1]
	xp := unsafe.SliceData(x)
	wp := unsafe.SliceData(w)
	e0 := j * g.sub
	var lo, hi int32
	any := false
	for l := range ln {
		a := &ln[l]
		b := bs[l]
		a.sc0, a.m0 = g.param(b, j)
		g.setParam(b, j, 1, 1)
		var c1 float32
		a.d, c1, lo, hi = g.grid(b, e0)
		a.dmin = -c1
		g.setParam(b, j, a.sc0, a.m0)
		a.live = !(a.d == 0 || a.d != a.d || a.dmin != a.dmin)
		a.bsc, a.bm = a.sc0, a.m0
		D[l] = a.d * float32(a.sc0)
		C[l] = -(a.dmin * float32(a.m0))
		any = any || a.live
	}
	if !any {
		return
	}
	flo, fhi := float32(lo), float32(hi)
	refitErr8(&out, xp, stride, wp, n, &D, &C, flo, fhi)
	for l := range ln {
		a := &ln[l]
		a.best = out[l]
		if a.live && (math.IsInf(float64(a.best), 0) || a.best != a.best) {
			a.live, a.fallback = false, true
		}
	}
	var sw float32
	for _, v := range w {
		sw += v
	}
	for off := -g.win; off <= g.win; off++ {
		g.refit8Scale(&ln, off, xp, stride, wp, n, sw, flo, fhi)
	}
	for l := range ln {
		switch a := &ln[l]; {
		case a.live:
			g.setParam(bs[l], j, a.bsc, a.bm)
		case a.fallback:
			g.refitGather(bs[l], j, x[l:], stride, w, xs)
		}
	}
}

// refit8Scale tries scale code sc0+off in every lane that has it (refit's
// loop body).
func (g *gptqGrid) refit8Scale(ln *[refitLanes]refitLane, off int32, xp *float32, stride int, wp *float32, n int, sw, flo, fhi float32) {
	var D, C, M, out [refitLanes]float32
	any := false
	for l := range ln {
		a := &ln[l]
		sc := a.sc0 + off
		a.candidate = a.live && sc >= g.plo && sc <= g.phi && (!g.mins || a.dmin != 0)
		D[l] = a.d * float32(sc)
		any = any || a.candidate
	}
	if !any {
		return
	}
	if !g.mins {
		refitErr8(&out, xp, stride, wp, n, &D, &C, flo, fhi)
		for l := range ln {
			if a := &ln[l]; a.candidate && out[l] < a.best {
				a.best, a.bsc = out[l], a.sc0+off
			}
		}
		return
	}
	for l := range ln {
		M[l] = ln[l].dmin * float32(ln[l].bm)
	}
	for it := 0; it < 2; it++ {
		for l := range C {
			C[l] = -M[l]
		}
		refitShift8(&out, xp, stride, wp, n, &D, &C, flo, fhi)
		if sw > 0 {
			for l := range M {
				M[l] += out[l] / sw
			}
		}
	}
	var mc [refitLanes]int32
	for l := range ln {
		a := &ln[l]
		t := M[l] / a.dmin
		if !(t > float32(g.plo)-2 && t < float32(g.phi)+2) {
			a.candidate = false
			continue
		}
		mc[l] = nearestInt(t)
	}
	for dm := int32(-1); dm <= 1; dm++ {
		g.refit8Min(ln, off, dm, &mc, &D, xp, stride, wp, n, flo, fhi)
	}
}

// refit8Min tries min code mc[l]+dm with scale code sc0+off in every
// candidate lane where it is in range.
func (g *gptqGrid) refit8Min(ln *[refitLanes]refitLane, off, dm int32, mc *[refitLanes]int32, D *[refitLanes]float32, xp *float32, stride int, wp *float32, n int, flo, fhi float32) {
	var C, out [refitLanes]float32
	var try [refitLanes]bool
	any := false
	for l := range ln {
		a := &ln[l]
		m := mc[l] + dm
		try[l] = a.candidate && m >= g.plo && m <= g.phi
		C[l] = -(a.dmin * float32(m))
		any = any || try[l]
	}
	if !any {
		return
	}
	refitErr8(&out, xp, stride, wp, n, D, &C, flo, fhi)
	for l := range ln {
		if a := &ln[l]; try[l] && out[l] < a.best {
			a.best, a.bsc, a.bm = out[l], a.sc0+off, mc[l]+dm
		}
	}
}
