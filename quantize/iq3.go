package quantize

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/iqgrid"
)

// IQ3_XXS and IQ3_S (ggml-common.h block_iq3_xxs, 98 bytes, and
// block_iq3_s, 110 bytes, per 256 elements): each group of four elements
// is a point of a lattice grid of 256 (IQ3_XXS) or 512 (IQ3_S) points
// whose coordinates are odd numbers 1..15, times a sign per element and a
// 4-bit scale per 32-element sub-block against an f16 super-block scale.
//
// The encoders are ggml's quantize_row_iq3_xxs_impl (grid 256) and
// quantize_row_iq3_s_impl (grid 512, sub-blocks of 32): per sub-block,
// signs are taken off, 31 (IQ3_XXS) or 19 (IQ3_S) trial scales round each
// group of four to lattice coordinates, groups that fall off the grid are
// replaced by the best of their precomputed nearest grid points
// (iq3xs_init_impl's map and neighbour lists, built here the same way),
// and the weighted least-squares scale of the best trial is kept.

// iq3Tables are iq3xs_init_impl's tables for one grid size.
type iq3Tables struct {
	grid       []uint32 // point k's coordinates 2l+1 as four bytes
	kmap       [4096]int32
	neighbours []uint16
	dgrid      []uint32 // the decoding grid (ggml-common.h iq3xxs_grid / iq3s_grid)
}

var (
	iq3Once     [2]sync.Once
	iq3TableSet [2]*iq3Tables
)

// iq3Get returns the tables of the 256-point (xxs) or 512-point grid.
func iq3Get(xxs bool) *iq3Tables {
	i, kg, dg := 1, iqgrid.KGrid3S[:], iqgrid.Grid3S
	if xxs {
		i, kg, dg = 0, iqgrid.KGrid3XXS[:], iqgrid.Grid3XXS
	}
	iq3Once[i].Do(func() { iq3TableSet[i] = newIQ3Tables(kg, dg, 2+i) })
	return iq3TableSet[i]
}

// newIQ3Tables is iq3xs_init_impl: the grid, the map from every 12-bit
// coordinate code to its grid index (or -(1+offset) of its neighbour list),
// and for each code off the grid the grid points at its nwant smallest
// squared distances, ties ordered by index.
func newIQ3Tables(kgrid []uint16, dgrid []uint32, nwant int) *iq3Tables {
	t := &iq3Tables{grid: make([]uint32, len(kgrid)), dgrid: dgrid}
	for k, g := range kgrid {
		for i := 0; i < 4; i++ {
			l := uint32(g>>(3*i)) & 7
			t.grid[k] |= (2*l + 1) << (8 * i)
		}
	}
	for i := range t.kmap {
		t.kmap[i] = -1
	}
	for k, g := range kgrid {
		t.kmap[g] = int32(k)
	}
	t.neighbours = neighbourLists(t.kmap[:], len(kgrid), nwant,
		func(int) bool { return true },
		func(j, code int) int {
			d2, g := 0, int(kgrid[j])
			for k := 0; k < 4; k++ {
				d := g>>(3*k)&7 - (code>>(3*k))&7
				d2 += 4 * d * d
			}
			return d2
		})
	return t
}

// point returns grid point k's coordinate i (2l+1).
func (t *iq3Tables) point(k, i int) float32 { return float32(uint8(t.grid[k] >> (8 * i))) }

// bestNeighbour is iq3_find_best_neighbour: the grid point among code u's
// neighbours nearest xval (weights w) at the given scale; its coordinates
// l go to L.
func (t *iq3Tables) bestNeighbour(u int, xval, w []float32, scale float32, L []int8) int {
	nb := t.neighbours[-t.kmap[u]-1:]
	best := float32(math.MaxFloat32)
	idx := -1
	for _, j := range nb[1 : 1+int(nb[0])] {
		var d2 float32
		for i := 0; i < 4; i++ {
			diff := float32(scale*t.point(int(j), i)) - xval[i]
			d2 += float32(float32(w[i]*diff) * diff)
		}
		if d2 < best {
			best, idx = d2, int(j)
		}
	}
	if idx < 0 { // only when d2 overflows (|x| near 1e19 and above) or is NaN; ggml asserts
		idx = int(nb[1])
	}
	for i := 0; i < 4; i++ {
		L[i] = int8((uint8(t.grid[idx]>>(8*i)) - 1) / 2)
	}
	return idx
}

// iq3State is the scratch of one row's search; L and onGrid carry over
// from one sub-block to the next as ggml's arrays do.
type iq3State struct {
	t                  *iq3Tables
	xxs                bool
	weight, waux, xval [32]float32
	L, Laux            [32]int8
	onGrid, onGridAux  [8]bool
	signs              [4]uint8
	idx                [8]int
}

// code returns the 12-bit code of the group of four at L.
func iq3Code(L []int8) int {
	return int(L[0]) | int(L[1])<<3 | int(L[2])<<6 | int(L[3])<<9
}

// quantGroups rounds xval to coordinates at inverse scale id into L,
// replacing off-grid groups by their best neighbour at scale; onGrid (if
// not nil) records which groups were on the grid.
func (s *iq3State) quantGroups(id, scale float32, L []int8, onGrid []bool, skip []bool) {
	for k := 0; k < 8; k++ {
		if skip != nil && skip[k] {
			continue
		}
		for i := 0; i < 4; i++ {
			l := nearestInt(0.5 * (float32(id*s.xval[4*k+i]) - 1))
			L[4*k+i] = int8(clampInt32(l, 0, 7))
		}
		u := iq3Code(L[4*k : 4*k+4])
		on := s.t.kmap[u] >= 0
		if !on {
			s.t.bestNeighbour(u, s.xval[4*k:4*k+4], s.waux[4*k:4*k+4], scale, L[4*k:4*k+4])
		}
		if onGrid != nil {
			onGrid[k] = on
		}
	}
}

// sums returns the weighted sums of xval*q and q*q for codes L (q = 2l+1).
func (s *iq3State) sums(L []int8) (sumqx, sumq2 float32) {
	for i, w := range s.weight {
		q := float32(2*int32(L[i]) + 1)
		sumqx += float32(float32(w*s.xval[i]) * q)
		sumq2 += float32(float32(w*q) * q)
	}
	return sumqx, sumq2
}

// setSigns takes the signs off xb into xval and s.signs: IQ3_S keeps one
// bit per element; IQ3_XXS keeps seven per eight, making the number of
// flips even by flipping back the element of least weighted square.
func (s *iq3State) setSigns(xb []float32) {
	for k := 0; k < 4; k++ {
		var sg uint8
		nflip := 0
		for i := 0; i < 8; i++ {
			v := xb[8*k+i]
			if v >= 0 {
				s.xval[8*k+i] = v
			} else {
				s.xval[8*k+i] = -v
				nflip++
				sg |= 1 << i
			}
		}
		if s.xxs && nflip%2 == 1 {
			imin := 0
			min := float32(s.weight[8*k]*xb[8*k]) * xb[8*k]
			for i := 1; i < 8; i++ {
				if ax := float32(s.weight[8*k+i]*xb[8*k+i]) * xb[8*k+i]; ax < min {
					min, imin = ax, i
				}
			}
			s.xval[8*k+imin] = -s.xval[8*k+imin]
			sg ^= 1 << imin
		}
		if s.xxs {
			sg &= 127
		}
		s.signs[k] = sg
	}
}

// sub searches one 32-element sub-block xb (weights in s.weight): its scale,
// signs and grid indices (s.signs, s.idx); ok is false for a block ggml
// skips as zero.
func (s *iq3State) sub(xb []float32) (scale float32, ok bool) {
	for i, w := range s.weight {
		s.waux[i] = sqrtf32(w)
	}
	s.setSigns(xb)
	max := s.xval[0]
	for _, v := range s.xval[1:] {
		if !(max > v) {
			max = v
		}
	}
	tries := 9
	if s.xxs {
		tries = 15
		if max < 1e-8 {
			s.L = [32]int8{}
			return 0, false
		}
	} else {
		if max == 0 {
			return 0, false
		}
		s.onGrid = [8]bool{}
	}
	var best float32
	scale = max / 15
	for is := -tries; is <= tries; is++ {
		id := (15 + float32(float32(is)*0.2)) / max
		s.quantGroups(id, 1/id, s.Laux[:], s.onGridAux[:], nil)
		sumqx, sumq2 := s.sums(s.Laux[:])
		if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
			scale = sumqx / sumq2
			best = scale * sumqx
			s.L, s.onGrid = s.Laux, s.onGridAux
		}
	}
	off := false
	for _, on := range s.onGrid {
		off = off || !on
	}
	if off && scale > 0 {
		var skip []bool
		if s.xxs {
			skip = s.onGrid[:]
		}
		s.quantGroups(1/scale, scale, s.L[:], nil, skip)
		if sumqx, sumq2 := s.sums(s.L[:]); sumq2 > 0 {
			scale = sumqx / sumq2
		}
	}
	if scale < 0 {
		scale = -scale
		for k := range s.signs {
			s.signs[k] = ^s.signs[k]
			if s.xxs {
				s.signs[k] &= 127
			}
		}
	}
	for k := 0; k < 8; k++ {
		s.idx[k] = int(s.t.kmap[iq3Code(s.L[4*k:4*k+4])])
	}
	return scale, true
}

// weights fills s.weight for sub-block ib of the super-block x.
func (s *iq3State) weights(x, qw []float32, ib int, sigma2 float32) {
	xb := x[32*ib : 32*ib+32]
	if qw != nil {
		lgImpWeights(s.weight[:], xb, qw[32*ib:32*ib+32], sigma2)
		return
	}
	for i, v := range xb {
		s.weight[i] = v * v
	}
}

func iq3Sigma2(x []float32) float32 {
	var sumx2 float32
	for _, v := range x {
		sumx2 += float32(v * v)
	}
	return 2 * sumx2 / kqSuper
}

// iq3SubScale is ggml's 4-bit sub-block scale code for scale s against id.
func iq3SubScale(id, s float32) uint32 {
	return uint32(clampInt32(nearestInt(0.5*(float32(id*s)-1)), 0, 15))
}

func init() {
	register(iq3Codec{format.IQ3_XXS, 98})
	register(iq3Codec{format.IQ3_S, 110})
}

type iq3Codec struct {
	typ   format.DType
	bytes int
}

func (c iq3Codec) Type() format.DType { return c.typ }

func (c iq3Codec) Encode(dst []byte, src, imp []float32) {
	s := &iq3State{xxs: c.typ == format.IQ3_XXS}
	s.t = iq3Get(s.xxs)
	var clamped []float32
	for ibl := 0; ibl < len(src)/kqSuper; ibl++ {
		x := clampHuge(src[ibl*kqSuper:(ibl+1)*kqSuper], &clamped)
		var qw []float32
		if imp != nil {
			qw = imp[ibl*kqSuper : (ibl+1)*kqSuper]
		}
		b := dst[ibl*c.bytes : (ibl+1)*c.bytes]
		clear(b)
		if s.xxs {
			s.encodeXXS(b, x, qw)
		} else {
			s.encodeS(b, x, qw)
		}
	}
}

// encodeXXS is one super-block of quantize_row_iq3_xxs_impl: 64 grid
// indices, then per sub-block a uint32 of four 7-bit sign groups and the
// 4-bit scale.
func (s *iq3State) encodeXXS(b []byte, x, qw []float32) {
	var scales [8]float32
	var maxScale float32
	sigma2 := iq3Sigma2(x)
	q3 := b[2:]
	for ib := 0; ib < 8; ib++ {
		s.weights(x, qw, ib, sigma2)
		scale, ok := s.sub(x[32*ib : 32*ib+32])
		if !ok {
			continue
		}
		for k, g := range s.idx {
			q3[8*ib+k] = uint8(g)
		}
		sg := uint32(s.signs[0]) | uint32(s.signs[1])<<7 | uint32(s.signs[2])<<14 | uint32(s.signs[3])<<21
		binary.LittleEndian.PutUint32(q3[64+4*ib:], sg)
		scales[ib] = scale
		if !(maxScale > scale) {
			maxScale = scale
		}
	}
	if maxScale == 0 {
		clear(b)
		return
	}
	d := maxScale / 31
	putF16(b, d*1.0125)
	id := 1 / d
	for ib, sc := range scales {
		o := q3[64+4*ib:]
		binary.LittleEndian.PutUint32(o, binary.LittleEndian.Uint32(o)|iq3SubScale(id, sc)<<28)
	}
}

// encodeS is one super-block of quantize_row_iq3_s_impl: grid indices'
// low bytes (qs), their ninth bits (qh), sign bytes, and 4-bit scales. As
// in ggml, a zero sub-block writes no qs or sign bytes and the following
// sub-blocks' bytes move up to take its place.
func (s *iq3State) encodeS(b []byte, x, qw []float32) {
	qs, qh, signs, sc := b[2:66], b[66:74], b[74:106], b[106:110]
	var scales [8]float32
	var maxScale float32
	sigma2 := iq3Sigma2(x)
	nq, ns := 0, 0
	for ib := 0; ib < 8; ib++ {
		s.weights(x, qw, ib, sigma2)
		scale, ok := s.sub(x[32*ib : 32*ib+32])
		if !ok {
			continue
		}
		for k, g := range s.idx {
			qs[nq+k] = uint8(g)
			qh[ib] |= uint8(g>>8) << k
		}
		nq += 8
		copy(signs[ns:], s.signs[:])
		ns += 4
		scales[ib] = scale
		if !(maxScale > scale) {
			maxScale = scale
		}
	}
	if maxScale == 0 {
		return
	}
	d := maxScale / 31
	putF16(b, d*1.033)
	id := 1 / d
	for ib := 0; ib < 8; ib += 2 {
		sc[ib/2] = uint8(iq3SubScale(id, scales[ib]) | iq3SubScale(id, scales[ib+1])<<4)
	}
}

func (c iq3Codec) Decode(dst []float32, src []byte) {
	t := iq3Get(c.typ == format.IQ3_XXS)
	for i := 0; i < len(dst)/kqSuper; i++ {
		b := src[i*c.bytes : (i+1)*c.bytes]
		y := dst[i*kqSuper : (i+1)*kqSuper]
		d := f16(b)
		for ib := 0; ib < 8; ib++ {
			var db float32
			var idx [8]int
			var sg [4]uint8
			if c.typ == format.IQ3_XXS {
				aux := binary.LittleEndian.Uint32(b[2+64+4*ib:])
				db = float32(d*(0.5+float32(aux>>28))) * 0.5
				for k := range idx {
					idx[k] = int(b[2+8*ib+k])
				}
				for l := range sg {
					sg[l] = iqgrid.Signs[(aux>>(7*l))&127]
				}
			} else {
				db = d * float32(1+2*int32(b[106+ib/2]>>(4*(ib%2))&15))
				for k := range idx {
					idx[k] = int(b[2+8*ib+k]) | int(b[66+ib]>>k&1)<<8
				}
				copy(sg[:], b[74+4*ib:])
			}
			for k, g := range idx {
				for j := 0; j < 4; j++ {
					v := float32(db * float32(uint8(t.dgrid[g]>>(8*j))))
					if sg[k/2]>>(4*(k%2)+j)&1 != 0 {
						v = -v
					}
					y[32*ib+4*k+j] = v
				}
			}
		}
	}
}
