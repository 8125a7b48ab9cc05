package quantize

import (
	"math"
	"unsafe"

	"github.com/shrink-llm/shrink/internal/linalg"
)

// refitLanes is the number of rows refit16 re-chooses at once.
const refitLanes = 16

// useAVX512 selects refitErr16 and refitShift16 (one AVX-512 pass over
// sixteen rows) over two AVX2 passes of eight.
var useAVX512 = useAVX2 && linalg.Accelerated()

// refitErrs is refitErr8 on sixteen lanes.
func refitErrs(e *[refitLanes]float32, x *float32, stride int, w *float32, n int, D, C *[refitLanes]float32, lo, hi float32) {
	if useAVX512 {
		refitErr16(e, x, stride, w, n, D, C, lo, hi)
		return
	}
	refitErr8((*[8]float32)(e[:8]), x, stride, w, n, (*[8]float32)(D[:8]), (*[8]float32)(C[:8]), lo, hi)
	refitErr8((*[8]float32)(e[8:]), (*float32)(unsafe.Add(unsafe.Pointer(x), 32)), stride, w, n, (*[8]float32)(D[8:]), (*[8]float32)(C[8:]), lo, hi)
}

// refitShifts is refitShift8 on sixteen lanes.
func refitShifts(s *[refitLanes]float32, x *float32, stride int, w *float32, n int, D, C *[refitLanes]float32, lo, hi float32) {
	if useAVX512 {
		refitShift16(s, x, stride, w, n, D, C, lo, hi)
		return
	}
	refitShift8((*[8]float32)(s[:8]), x, stride, w, n, (*[8]float32)(D[:8]), (*[8]float32)(C[:8]), lo, hi)
	refitShift8((*[8]float32)(s[8:]), (*float32)(unsafe.Add(unsafe.Pointer(x), 32)), stride, w, n, (*[8]float32)(D[8:]), (*[8]float32)(C[8:]), lo, hi)
}

// refitRows runs refit on sub-block j (elements e0..e0+sub of block blk)
// of every row of a GPTQ sweep: row r's block is dst[r·rowBytes +
// blk·bytes:], its current values Wt[(e0+k)·rows + r] (Wt holds the
// weights column by column), w the sub-block's importances. With the AVX2
// kernels, sixteen rows at a time of a uniform grid go through refit16,
// which gives refit's bytes; the rows left over, every row of a non-linear
// grid (IQ4_XS) and every row without the kernels, through refit. xs is scratch of sub values.
func (g *gptqGrid) refitRows(dst []byte, rowBytes, blk int, Wt []float32, rows, c0, j int, w, xs []float32) {
	r := 0
	if useAVX2 && g.levels == nil {
		var bs [refitLanes][]byte
		for ; r+refitLanes <= rows; r += refitLanes {
			for l := range bs {
				bs[l] = dst[(r+l)*rowBytes+blk*g.bytes:][:g.bytes]
			}
			g.refit16(&bs, j, Wt[c0*rows+r:], rows, w, xs)
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

// refitLane is one row's state in refit16.
type refitLane struct {
	live      bool    // the row is refitted here
	d, dmin   float32 // the grid of codes (1, 1)
	sc0, m0   int32   // the stored codes
	bsc, bm   int32   // the best codes so far
	best      float32 // their error
	fallback  bool    // refitted by the scalar refit instead
	candidate bool    // the current scale code is tried
}

// refit16 is refit on sub-block j of the sixteen blocks bs[l], lane l's
// values x[k·stride + l] (k < len(w)): the same candidates in the same
// order, their errors and offsets summed by refitErrs and refitShifts
// with refit's float32 operations, so the chosen codes are refit's. (refit
// stops summing an error once it reaches the best; the full sum is then
// no smaller, as the terms are not negative, so the choice is the same.)
// A lane whose stored codes' error is not finite goes through refit.
func (g *gptqGrid) refit16(bs *[refitLanes][]byte, j int, x []float32, stride int, w, xs []float32) {
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
	refitErrs(&out, xp, stride, wp, n, &D, &C, flo, fhi)
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
		g.refitScale16(&ln, off, xp, stride, wp, n, sw, flo, fhi)
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

// refitScale16 tries scale code sc0+off in every lane that has it (refit's
// loop body).
func (g *gptqGrid) refitScale16(ln *[refitLanes]refitLane, off int32, xp *float32, stride int, wp *float32, n int, sw, flo, fhi float32) {
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
		refitErrs(&out, xp, stride, wp, n, &D, &C, flo, fhi)
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
		refitShifts(&out, xp, stride, wp, n, &D, &C, flo, fhi)
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
		g.refitMin16(ln, off, dm, &mc, &D, xp, stride, wp, n, flo, fhi)
	}
}

// refitMin16 tries min code mc[l]+dm with scale code sc0+off in every
// candidate lane where it is in range.
func (g *gptqGrid) refitMin16(ln *[refitLanes]refitLane, off, dm int32, mc *[refitLanes]int32, D *[refitLanes]float32, xp *float32, stride int, wp *float32, n int, flo, fhi float32) {
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
	refitErrs(&out, xp, stride, wp, n, D, &C, flo, fhi)
	for l := range ln {
		if a := &ln[l]; try[l] && out[l] < a.best {
			a.best, a.bsc, a.bm = out[l], a.sc0+off, mc[l]+dm
		}
	}
}
