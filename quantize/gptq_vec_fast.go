package quantize

import (
	"math"
)

// The fast point search: on amd64 with AVX2 (gptq_vec_amd64.s) the cost
// of every grid point of a part is summed eight points at a time, the
// per-coordinate cost rows in registers and each lane's costs picked by
// its level indices, adding in coordinate order from zero exactly as
// search does. A scalar scan over those sums then makes search's choices
// in point order: the same first minimum, the same sign flip, ties
// included. search's early exit only skips points that cannot win (the
// costs are not negative), so scanning the full sums chooses the same
// points, and the output bytes do not change. search stays as the
// pure-Go path (purego build tag, other architectures, grids with more
// than eight levels).

// initFast lays out the level indices for the AVX2 kernels (blocks of
// eight points, coordinate-major within a block) when the grid suits
// them.
func (v *gptqVec) initFast() {
	if len(v.levels) > 8 || v.npts%8 != 0 || (v.dim != 4 && v.dim != 8) {
		return
	}
	v.blk = make([]uint8, v.npts*v.dim)
	for p := 0; p < v.npts; p++ {
		for j := 0; j < v.dim; j++ {
			v.blk[(p/8*v.dim+j)*8+p%8] = v.lev[p*v.dim+j]
		}
	}
}

// searchPart is search, through the AVX2 point sums where available.
// cost must be readable for 8 floats past each of its dim row starts.
func (v *gptqVec) searchPart(cost, flip []float32, withFlip bool, s *gptqVecScratch) vecPart {
	if !useAVX2 || v.blk == nil {
		return v.search(cost, flip, withFlip)
	}
	if len(s.sums) < v.npts {
		s.sums = make([]float32, v.npts)
	}
	sums := s.sums[:v.npts]
	nl := len(v.levels)
	_ = cost[(v.dim-1)*nl+7]
	if v.dim == 8 {
		vecSums8x8(&sums[0], &v.blk[0], v.npts/8, &cost[0], nl)
	} else {
		vecSums8x4(&sums[0], &v.blk[0], v.npts/8, &cost[0], nl)
	}
	if !withFlip {
		return scanMin(sums)
	}
	return v.scanFlip(sums, cost, flip)
}

// scanMin is the part's best point from its full sums, as search chooses
// it without flips: the first minimum (none: point 0 at +Inf).
func scanMin(sums []float32) vecPart {
	inf := float32(math.Inf(1))
	r := vecPart{a: inf, b: inf}
	for p, c := range sums {
		if c < r.a {
			r.a, r.pa = c, p
		}
	}
	return r
}

// scanFlip is search's scan with flips over the full sums.
func (v *gptqVec) scanFlip(sums, cost, flip []float32) vecPart {
	nl, dim := len(v.levels), v.dim
	inf := float32(math.Inf(1))
	r := vecPart{a: inf, b: inf}
	for p, c := range sums {
		bound := r.a
		if r.b > bound {
			bound = r.b
		}
		if c >= bound {
			continue
		}
		if c < r.a {
			r.a, r.pa = c, p
		}
		if mf, jf := bestFlip(flip, v.lev[p*dim:(p+1)*dim], nl); c+mf < r.b {
			r.b, r.pb, r.fb = c+mf, p, jf
		}
	}
	return r
}
