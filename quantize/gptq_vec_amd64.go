//go:build !purego

package quantize

// vecSums8x8 sets sums[p] to Σ_j cost[j·nl + lev(p, j)], j = 0..7 in
// order, for nblk blocks of eight grid points: lev holds each block's
// level indices coordinate-major (block, then coordinate, then the eight
// points). cost must be readable for 8 floats past each row start
// (nl ≤ 8). Each lane adds in the order of gptqVec.search's scalar sum
// (separate VADDPS from zero), so the sums are bit-identical.
//
//go:noescape
func vecSums8x8(sums *float32, lev *uint8, nblk int, cost *float32, nl int)

// vecSums8x4 is vecSums8x8 for four coordinates per point.
//
//go:noescape
func vecSums8x4(sums *float32, lev *uint8, nblk int, cost *float32, nl int)
