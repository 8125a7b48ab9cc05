package quantize

import (
	"encoding/binary"
	"math"
	"sort"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/iqgrid"
)

// Vector GPTQ for the grid i-quants IQ3_S, IQ3_XXS, IQ2_S, IQ2_XS and
// IQ2_XXS. Their elements are not rounded one at a time: each group of
// four (IQ3) or eight (IQ2) consecutive elements is one point of a fixed
// lattice grid, times a per-element sign, at the sub-block's scale. Once a
// block's scales are fixed by the codec's importance-weighted search, GPTQ
// chooses a whole group at once when its sweep reaches the group's first
// column (as GPTVQ, van Baalen et al.
// 2024, arXiv:2402.15319, quantizes a group of columns jointly): the grid
// point and signs nearest the group's current values, in the metric
// Σ_j (x_j − q_j)² / [U]_jj², U the upper Cholesky factor of H⁻¹ (GPTQ's
// per-column error weights), exhaustively over the grid. The grid values
// are then fixed and the sweep goes on column by column within the group,
// each column's error divided by [U]_jj fed back as GPTQ does, which is
// exactly GPTVQ's feedback of the group's error through the inverse-
// Hessian factor.
//
// The sub-block scale codes stay the codec's. Re-choosing them when the
// sweep reaches a sub-block (as for the K-quants and IQ4_XS) lowered the
// output error of synthetic layers by 19-56%, but on dev-llama-3m (iq2_xs,
// iq3_s presets, calibrated on Go source) it raised the KLD on Shakespeare
// and TinyStories (iq2_xs 0.140 -> 0.145, 0.150 -> 0.161) with held-out Go
// level, with either weighting (1/U_jj² or H's diagonal), so it was taken
// out.
//
// Signs: IQ3_S and IQ2_S store one per element (free). IQ3_XXS, IQ2_XXS
// and IQ2_XS store seven per eight elements and the eighth is their
// parity (ksigns_iq2xs): the number of negative elements is even, so the
// search finds the best point with free signs and the best with one sign
// flipped against the value's, and keeps the better allowed one.
//
// IQ1_S and IQ1_M (no signs; coordinates −1, 0, 1 plus a delta ±1/8 shared
// by the sub-block) stay on the importance-weighted search: written the
// same way on dev-llama-3m (iq1_s and iq1_m presets, calibrated on Go
// source) their KLD was lower on held-out Go but higher on Shakespeare
// and TinyStories (iq1_m: Shakespeare 0.332 against the search's 0.297,
// TinyStories 0.356 against 0.336; iq1_s: 0.371 against 0.361, 0.418
// against 0.417).

// gptqVec is the fixed-scale view of a grid i-quant block.
type gptqVec struct {
	group  int       // elements chosen together (a multiple of dim)
	dim    int       // elements per grid point
	levels []float32 // the coordinates' distinct values, ascending
	lev    []uint8   // lev[p·dim + j]: index in levels of point p's coordinate j
	npts   int       // grid points
	blk    []uint8   // lev in blocks of eight points for the AVX2 sums (nil: scalar search)
	parity bool      // the number of negative elements of a group is even
	// scale returns the scale s of the group at element e of block b:
	// element j's value is ±float32(s·levels[...]), as the decoder
	// computes it.
	scale func(b []byte, e int) float32
	// put stores the group at element e: its points' indices (group/dim
	// of them) and its sign mask (bit j: element e+j is negative; even
	// for parity types).
	put func(b []byte, e int, idx []int, sign uint8)
}

// newGPTQVec builds the point tables of a grid of n points of dim
// coordinates, coord(p, j) being point p's coordinate j as the decoder
// reads it.
func newGPTQVec(group, dim, n int, parity bool, coord func(p, j int) float32) *gptqVec {
	v := &gptqVec{group: group, dim: dim, npts: n, parity: parity, lev: make([]uint8, n*dim)}
	seen := map[float32]bool{}
	for p := 0; p < n; p++ {
		for j := 0; j < dim; j++ {
			if c := coord(p, j); !seen[c] {
				seen[c] = true
				v.levels = append(v.levels, c)
			}
		}
	}
	sort.Slice(v.levels, func(a, b int) bool { return v.levels[a] < v.levels[b] })
	for p := 0; p < n; p++ {
		for j := 0; j < dim; j++ {
			c := coord(p, j)
			v.lev[p*dim+j] = uint8(sort.Search(len(v.levels), func(i int) bool { return v.levels[i] >= c }))
		}
	}
	v.initFast()
	return v
}

// gptqVecScratch is the per-goroutine scratch of gptqVec.assign.
type gptqVecScratch struct {
	cost, flip []float32 // per element and level: cost of the value, extra cost of its sign flipped
	sums       []float32 // per grid point: its cost (searchPart)
	idx        [2]int
	out        []float32
}

// vecPart is the best point of one dim-element part of a group: with the
// signs of the values (cost a, point pa) and with one sign flipped against
// them (cost b, point pb, element fb); b is +Inf when not searched.
type vecPart struct {
	a, b   float32
	pa, pb int
	fb     int
}

// assign chooses the group at element e of block b for the values x with
// weights w (group values each), writes it, and returns in out the values
// the decoder gives.
func (v *gptqVec) assign(b []byte, e int, x, w, out []float32, s *gptqVecScratch) {
	nl := len(v.levels)
	if len(s.cost) < v.group*nl+8 {
		// Padded: the AVX2 sums load eight levels from each row start.
		s.cost = make([]float32, v.group*nl+8)
		s.flip = make([]float32, v.group*nl+8)
	}
	sc := v.scale(b, e)
	var neg uint8
	for j, xv := range x {
		t := xv
		if xv < 0 {
			t = -xv
			neg |= 1 << j
		}
		for l, lv := range v.levels {
			q := float32(sc * lv)
			c := float32(w[j]*(t-q)) * (t - q)
			s.cost[j*nl+l] = c
			if v.parity {
				s.flip[j*nl+l] = float32(w[j]*(t+q))*(t+q) - c
			}
		}
	}
	odd := v.parity && countBits8(neg)%2 == 1
	var parts [2]vecPart
	np := v.group / v.dim
	for k := 0; k < np; k++ {
		parts[k] = v.searchPart(s.cost[k*v.dim*nl:], s.flip[k*v.dim*nl:], odd, s)
	}
	sign := neg
	switch {
	case !odd:
		for k := 0; k < np; k++ {
			s.idx[k] = parts[k].pa
		}
	case np == 1 || parts[0].b+parts[1].a <= parts[0].a+parts[1].b:
		s.idx[0], sign = parts[0].pb, neg^1<<parts[0].fb
		if np == 2 {
			s.idx[1] = parts[1].pa
		}
	default:
		s.idx[0], s.idx[1], sign = parts[0].pa, parts[1].pb, neg^1<<(v.dim+parts[1].fb)
	}
	v.put(b, e, s.idx[:np], sign)
	for k := 0; k < np; k++ {
		p := s.idx[k]
		for j := 0; j < v.dim; j++ {
			q := float32(sc * v.levels[v.lev[p*v.dim+j]])
			if sign>>(k*v.dim+j)&1 != 0 {
				q = -q
			}
			out[k*v.dim+j] = q
		}
	}
}

// search returns the best points of a part whose per-coordinate costs are
// cost (dim rows of len(levels)), and when flip, the best with one sign
// flipped (its extra costs in flip).
func (v *gptqVec) search(cost, flip []float32, withFlip bool) vecPart {
	nl, dim := len(v.levels), v.dim
	inf := float32(math.Inf(1))
	r := vecPart{a: inf, b: inf}
	for p := 0; p < v.npts; p++ {
		lv := v.lev[p*dim : (p+1)*dim]
		// The costs are not negative (nor the flips' extra costs): a
		// partial sum at the bound cannot win.
		bound := r.a
		if withFlip && r.b > bound {
			bound = r.b
		}
		var c float32
		for j, l := range lv {
			if c += cost[j*nl+int(l)]; c >= bound {
				break
			}
		}
		if c >= bound {
			continue
		}
		if c < r.a {
			r.a, r.pa = c, p
		}
		if !withFlip {
			continue
		}
		if mf, jf := bestFlip(flip, lv, nl); c+mf < r.b {
			r.b, r.pb, r.fb = c+mf, p, jf
		}
	}
	return r
}

// bestFlip returns the least extra cost of flipping one sign of a point
// with level indices lv (flip rows of nl levels) and the coordinate
// flipped (the first at a tie).
func bestFlip(flip []float32, lv []uint8, nl int) (float32, int) {
	mf, jf := float32(math.Inf(1)), 0
	for j, l := range lv {
		if f := flip[j*nl+int(l)]; f < mf {
			mf, jf = f, j
		}
	}
	return mf, jf
}

// countBits8 is the number of set bits of u.
func countBits8(u uint8) int {
	n := 0
	for ; u != 0; u &= u - 1 {
		n++
	}
	return n
}

// gptqVecs are the grid types' fixed-scale views (GPTQSupported).
var gptqVecs = map[format.DType]*gptqVec{
	format.IQ3_S:   gptqVecIQ3S(),
	format.IQ3_XXS: gptqVecIQ3XXS(),
	format.IQ2_XXS: gptqVecIQ2XXS(),
	format.IQ2_XS:  gptqVecIQ2XS(),
	format.IQ2_S:   gptqVecIQ2S(),
}

// grid4 and grid8 read coordinate j of point p of a decoding grid.
func grid4(g []uint32) func(p, j int) float32 {
	return func(p, j int) float32 { return float32(uint8(g[p] >> (8 * j))) }
}

func grid8(g []uint64) func(p, j int) float32 {
	return func(p, j int) float32 { return float32(uint8(g[p] >> (8 * j))) }
}

// iq2Scale is the scale of the 2-bit types' half sub-block l (of four
// groups) with 4-bit code byte sc at super-scale d.
func iq2Scale(d float32, sc byte, l int) float32 {
	return float32(d*(0.5+float32(sc>>(4*(l/2))&15))) * 0.25
}

func gptqVecIQ3S() *gptqVec {
	v := newGPTQVec(4, 4, len(iqgrid.Grid3S), false, grid4(iqgrid.Grid3S))
	v.scale = func(b []byte, e int) float32 {
		ib := e / 32
		return f16(b) * float32(1+2*int32(b[106+ib/2]>>(4*(ib%2))&15))
	}
	v.put = func(b []byte, e int, idx []int, sign uint8) {
		ib, k := e/32, e%32/4
		b[2+8*ib+k] = uint8(idx[0])
		b[66+ib] = b[66+ib]&^(1<<k) | uint8(idx[0]>>8&1)<<k
		sh := 4 * (k % 2)
		o := 74 + 4*ib + k/2
		b[o] = b[o]&^(15<<sh) | (sign&15)<<sh
	}
	return v
}

func gptqVecIQ3XXS() *gptqVec {
	v := newGPTQVec(8, 4, len(iqgrid.Grid3XXS), true, grid4(iqgrid.Grid3XXS))
	v.scale = func(b []byte, e int) float32 {
		aux := binary.LittleEndian.Uint32(b[2+64+4*(e/32):])
		return float32(f16(b)*(0.5+float32(aux>>28))) * 0.5
	}
	v.put = func(b []byte, e int, idx []int, sign uint8) {
		ib, l := e/32, e%32/8
		b[2+8*ib+2*l], b[2+8*ib+2*l+1] = uint8(idx[0]), uint8(idx[1])
		o := b[2+64+4*ib:]
		aux := binary.LittleEndian.Uint32(o)
		aux = aux&^(127<<(7*l)) | uint32(sign&127)<<(7*l)
		binary.LittleEndian.PutUint32(o, aux)
	}
	return v
}

func gptqVecIQ2XXS() *gptqVec {
	v := newGPTQVec(8, 8, len(iqgrid.Grid2XXS), true, grid8(iqgrid.Grid2XXS))
	v.scale = func(b []byte, e int) float32 {
		aux := binary.LittleEndian.Uint32(b[6+8*(e/32):])
		return float32(f16(b)*(0.5+float32(aux>>28))) * 0.25
	}
	v.put = func(b []byte, e int, idx []int, sign uint8) {
		ib, l := e/32, e%32/8
		b[2+8*ib+l] = uint8(idx[0])
		o := b[6+8*ib:]
		aux := binary.LittleEndian.Uint32(o)
		aux = aux&^(127<<(7*l)) | uint32(sign&127)<<(7*l)
		binary.LittleEndian.PutUint32(o, aux)
	}
	return v
}

func gptqVecIQ2XS() *gptqVec {
	v := newGPTQVec(8, 8, len(iqgrid.Grid2XS), true, grid8(iqgrid.Grid2XS))
	v.scale = func(b []byte, e int) float32 {
		return iq2Scale(f16(b), b[66+e/32], e%32/8)
	}
	v.put = func(b []byte, e int, idx []int, sign uint8) {
		ib, l := e/32, e%32/8
		binary.LittleEndian.PutUint16(b[2+8*ib+2*l:], uint16(idx[0])|uint16(sign&127)<<9)
	}
	return v
}

func gptqVecIQ2S() *gptqVec {
	v := newGPTQVec(8, 8, len(iqgrid.Grid2S), false, grid8(iqgrid.Grid2S))
	v.scale = func(b []byte, e int) float32 {
		return iq2Scale(f16(b), b[74+e/32], e%32/8)
	}
	v.put = func(b []byte, e int, idx []int, sign uint8) {
		ib, l := e/32, e%32/8
		b[2+4*ib+l] = uint8(idx[0])
		b[66+ib] = b[66+ib]&^(3<<(2*l)) | uint8(idx[0]>>8&3)<<(2*l)
		b[34+4*ib+l] = sign
	}
	return v
}

// gptqVecRows holds one sweep's group assignments: vals[r·group + i] is
// the value chosen for element i of row r's current group.
type gptqVecRows struct {
	vals []float32
	x, w []float32
	sc   gptqVecScratch
}

// assignRows chooses the group starting at column c (element c mod block
// of block blk) of every row: the rows' current values are Wt's columns
// c.., weighted by 1/U_jj², GPTQ's error weight of column j.
func (vg *gptqVecRows) assignRows(g gptqGrid, dst []byte, rowBytes, blk int, Wt, U []float32, rows, cols, c int) {
	v := g.vec
	n := v.group
	if len(vg.vals) < rows*n {
		vg.vals = make([]float32, rows*n)
		vg.x, vg.w = make([]float32, n), make([]float32, n)
	}
	for i := range vg.w {
		u := U[(c+i)*cols+c+i]
		vg.w[i] = 1 / (u * u)
	}
	e := c % g.block
	for r := 0; r < rows; r++ {
		for i := range vg.x {
			vg.x[i] = Wt[(c+i)*rows+r]
		}
		v.assign(dst[r*rowBytes+blk*g.bytes:][:g.bytes], e, vg.x, vg.w, vg.vals[r*n:(r+1)*n], &vg.sc)
	}
}
