package quantize

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/iqgrid"
)

// IQ2_XXS and IQ2_XS (ggml-common.h block_iq2_xxs, 66 bytes, and
// block_iq2_xs, 74 bytes, per 256 elements): each group of eight elements
// is a point of a lattice grid of 256 (IQ2_XXS) or 512 (IQ2_XS) points
// with coordinates 1, 3 or 5, times seven explicit signs (the eighth
// makes their number even), with a 4-bit scale per 32 (IQ2_XXS) or 16
// (IQ2_XS) elements against an f16 super-block scale.
//
// The encoders are ggml's quantize_row_iq2_xxs_impl and
// quantize_row_iq2_xs_impl, which need importances (ggml asserts them):
// as the IQ3 search (iq3.go) with groups of eight, 13 trial scales around
// make_qp_quants' (IQ2_XXS) or 19 around max/5 (IQ2_XS).

// iq2Tables are iq2xs_init_impl's tables for one grid. Neighbour lists are
// built only for the codes the encoders can reach (coordinates 0..2);
// ggml's lists for the others are never read.
type iq2Tables struct {
	grid       []uint64 // point k's coordinates 2l+1 as eight bytes
	kmap       []int32  // code -> grid index, or -(1+offset) of its neighbour list
	neighbours []uint16
	dgrid      []uint64
}

// The 2-bit kinds, in the order of their tables.
const (
	iq2KindXXS = iota
	iq2KindXS
	iq2KindS
)

var (
	iq2Once     [3]sync.Once
	iq2TableSet [3]*iq2Tables
)

// iq2Get returns the tables of kind k (iq2Kind*).
func iq2Get(k int) *iq2Tables {
	iq2Once[k].Do(func() {
		switch k {
		case iq2KindXXS:
			iq2TableSet[k] = newIQ2Tables(iqgrid.KGrid2XXS[:], iqgrid.Grid2XXS, 2)
		case iq2KindXS:
			iq2TableSet[k] = newIQ2Tables(iqgrid.KGrid2XS[:], iqgrid.Grid2XS, 2)
		default:
			iq2TableSet[k] = newIQ2Tables(iqgrid.KGrid2S[:], iqgrid.Grid2S, 1)
		}
	})
	return iq2TableSet[k]
}

// newIQ2Tables is iq2xs_init_impl for IQ2_XXS, IQ2_XS (nwant = 2) and
// IQ2_S (nwant = 1).
func newIQ2Tables(kgrid []uint16, dgrid []uint64, nwant int) *iq2Tables {
	t := &iq2Tables{grid: make([]uint64, len(kgrid)), kmap: make([]int32, 1<<16), dgrid: dgrid}
	for k, g := range kgrid {
		for i := 0; i < 8; i++ {
			t.grid[k] |= (2*uint64(g>>(2*i)&3) + 1) << (8 * i)
		}
	}
	for i := range t.kmap {
		t.kmap[i] = -1
	}
	for k, g := range kgrid {
		t.kmap[g] = int32(k)
	}
	t.neighbours = neighbourLists(t.kmap, len(kgrid), nwant,
		func(code int) bool { return code&(code>>1)&0x5555 == 0 }, // no coordinate 3
		func(j, code int) int {
			d2, g := 0, int(kgrid[j])
			for k := 0; k < 8; k++ {
				d := g>>(2*k)&3 - (code>>(2*k))&3
				d2 += 4 * d * d
			}
			return d2
		})
	return t
}

// neighbourLists is the part of iq2xs_init_impl and iq3xs_init_impl that
// builds the neighbour lists: for every code off the grid (kmap < 0) that
// reach accepts, it appends the list of the grid points (of n) in the
// nwant nearest shells of distance d2(point, code), nearest first and by
// index within a shell, after their count, and sets kmap[code] to
// -(1+offset) of the list. It returns the lists.
func neighbourLists(kmap []int32, n, nwant int, reach func(code int) bool, d2 func(j, code int) int) []uint16 {
	var neighbours []uint16
	dist := make([]int, n)
	for code := range kmap {
		if kmap[code] >= 0 || !reach(code) {
			continue
		}
		for j := range dist {
			dist[j] = d2(j, code)
		}
		kmap[code] = -int32(len(neighbours) + 1)
		start := len(neighbours)
		neighbours = append(neighbours, 0)
		// The shells in increasing distance, each by index: the order of
		// ggml's qsort by (distance, index), cut after nwant shells.
		prev := -1
		for shell := 0; shell < nwant; shell++ {
			next := -1
			for _, d := range dist {
				if d > prev && (next < 0 || d < next) {
					next = d
				}
			}
			if next < 0 {
				break
			}
			for j, d := range dist {
				if d == next {
					neighbours = append(neighbours, uint16(j))
				}
			}
			prev = next
		}
		neighbours[start] = uint16(len(neighbours) - start - 1)
	}
	return neighbours
}

// bestNeighbour is iq2_find_best_neighbour for the group of eight at xval.
func (t *iq2Tables) bestNeighbour(u int, xval, w []float32, scale float32, L []int8) int {
	nb := t.neighbours[-t.kmap[u]-1:]
	best := float32(math.MaxFloat32)
	idx := -1
	for _, j := range nb[1 : 1+int(nb[0])] {
		var d2 float32
		for i := 0; i < 8; i++ {
			diff := float32(scale*float32(uint8(t.grid[j]>>(8*i)))) - xval[i]
			d2 += float32(float32(w[i]*diff) * diff)
		}
		if d2 < best {
			best, idx = d2, int(j)
		}
	}
	if idx < 0 { // only when d2 overflows (|x| near 1e19 and above) or is NaN; ggml asserts
		idx = int(nb[1])
	}
	for i := 0; i < 8; i++ {
		L[i] = int8((uint8(t.grid[idx]>>(8*i)) - 1) / 2)
	}
	return idx
}

func iq2Code(L []int8) int {
	u := 0
	for i := 0; i < 8; i++ {
		u |= int(L[i]) << (2 * i)
	}
	return u
}

// iq2State is one row's search scratch (n = 32 for IQ2_XXS, 16 for IQ2_XS).
type iq2State struct {
	t                  *iq2Tables
	xxs                bool
	kind               int // iq2Kind*
	n                  int
	weight, waux, xval [32]float32
	L, Laux            [32]int8
	onGrid, onGridAux  [4]bool
	signs              [4]uint8
	idx                [4]int
}

// quantGroups is quantGroups of iq3.go for groups of eight.
func (s *iq2State) quantGroups(id, scale float32, L []int8, onGrid []bool, skip []bool) {
	for k := 0; k < s.n/8; k++ {
		if skip != nil && skip[k] {
			continue
		}
		for i := 0; i < 8; i++ {
			l := nearestInt(0.5 * (float32(id*s.xval[8*k+i]) - 1))
			L[8*k+i] = int8(clampInt32(l, 0, 2))
		}
		u := iq2Code(L[8*k : 8*k+8])
		on := s.t.kmap[u] >= 0
		if !on {
			s.t.bestNeighbour(u, s.xval[8*k:8*k+8], s.waux[8*k:8*k+8], scale, L[8*k:8*k+8])
		}
		if onGrid != nil {
			onGrid[k] = on
		}
	}
}

func (s *iq2State) sums(L []int8) (sumqx, sumq2 float32) {
	for i, w := range s.weight[:s.n] {
		q := float32(2*int32(L[i]) + 1)
		sumqx += float32(float32(w*s.xval[i]) * q)
		sumq2 += float32(float32(w*q) * q)
	}
	return sumqx, sumq2
}

// setSigns takes the signs off, seven per eight with even parity (the
// element of least weighted square flipped back when needed).
func (s *iq2State) setSigns(xb []float32) {
	for k := 0; k < s.n/8; k++ {
		var sg uint8
		nflip := 0
		for i := 0; i < 8; i++ {
			if v := xb[8*k+i]; v >= 0 {
				s.xval[8*k+i] = v
			} else {
				s.xval[8*k+i] = -v
				nflip++
				sg |= 1 << i
			}
		}
		if s.kind == iq2KindS {
			s.signs[k] = sg // IQ2_S keeps all eight signs
			continue
		}
		if nflip%2 == 1 {
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
		s.signs[k] = sg & 127
	}
}

// sub searches one sub-block xb of s.n elements (weights in s.weight).
func (s *iq2State) sub(xb []float32) (scale float32, ok bool) {
	n := s.n
	for i, w := range s.weight[:n] {
		s.waux[i] = sqrtf32(w)
	}
	s.setSigns(xb)
	max := s.xval[0]
	for _, v := range s.xval[1:n] {
		if !(max > v) {
			max = v
		}
	}
	if s.kind == iq2KindS && max < 1e-8 { // GROUP_MAX_EPS_IQ2_S
		return 0, false
	}
	if max < groupMaxEps {
		s.L = [32]int8{}
		return 0, false
	}
	var best float32
	var effMax float32
	tries := 9
	var skip []bool
	if s.xxs {
		var Lq [32]uint8
		scale = makeQPQuants(n, 4, s.xval[:n], Lq[:n], s.weight[:n])
		for i := range Lq[:n] {
			s.L[i] = int8(Lq[i])
		}
		effMax, tries = scale*3, 6
	} else {
		effMax, scale = max, max/5
		s.onGrid = [4]bool{true, true, true, true}
	}
	for is := -tries; is <= tries; is++ {
		id := (5 + float32(float32(is)*0.1)) / effMax
		s.quantGroups(id, 1/id, s.Laux[:], s.onGridAux[:], nil)
		sumqx, sumq2 := s.sums(s.Laux[:])
		if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
			scale = sumqx / sumq2
			best = scale * sumqx
			s.L, s.onGrid = s.Laux, s.onGridAux
		}
	}
	requant := scale > 0
	if !s.xxs {
		skip = s.onGrid[:]
		off := false
		for _, on := range s.onGrid[:n/8] {
			off = off || !on
		}
		requant = requant && off
	}
	if requant {
		s.quantGroups(1/scale, scale, s.L[:], nil, skip)
		if sumqx, sumq2 := s.sums(s.L[:]); sumq2 > 0 {
			scale = sumqx / sumq2
		}
	}
	if scale < 0 {
		scale = -scale
		for k := range s.signs {
			s.signs[k] = ^s.signs[k]
			if s.kind != iq2KindS {
				s.signs[k] &= 127
			}
		}
	}
	for k := 0; k < n/8; k++ {
		s.idx[k] = int(s.t.kmap[iq2Code(s.L[8*k:8*k+8])])
	}
	return scale, true
}

func init() {
	register(iq2Codec{format.IQ2_XXS, 66, iq2KindXXS})
	register(iq2Codec{format.IQ2_XS, 74, iq2KindXS})
	register(iq2Codec{format.IQ2_S, 82, iq2KindS})
}

type iq2Codec struct {
	typ   format.DType
	bytes int
	kind  int
}

func (c iq2Codec) Type() format.DType { return c.typ }

// Encode quantizes src with the importances imp, which IQ2_XXS and IQ2_XS
// require (EncodeRow returns ErrNeedsImatrix without them; called directly
// with imp == nil, Encode uses unit importances for them).
func (c iq2Codec) Encode(dst []byte, src, imp []float32) {
	s := &iq2State{xxs: c.kind == iq2KindXXS, kind: c.kind, n: 16}
	if s.xxs {
		s.n = 32
	}
	s.t = iq2Get(c.kind)
	var ones []float32
	if imp == nil && c.kind != iq2KindS {
		ones = make([]float32, kqSuper)
		for i := range ones {
			ones[i] = 1
		}
	}
	var clamped []float32
	for ibl := 0; ibl < len(src)/kqSuper; ibl++ {
		x := clampHuge(src[ibl*kqSuper:(ibl+1)*kqSuper], &clamped)
		qw := ones // nil for IQ2_S without importances
		if imp != nil {
			qw = imp[ibl*kqSuper : (ibl+1)*kqSuper]
		}
		b := dst[ibl*c.bytes : (ibl+1)*c.bytes]
		clear(b)
		s.encode(b, x, qw)
	}
}

// encode is one super-block: IQ2_XXS packs per 32 elements four grid
// indices, four 7-bit sign groups and the 4-bit scale in two uint32s;
// IQ2_XS packs per group of eight a uint16 of the 9-bit index and 7 sign
// bits, and the 4-bit scales in b[66:74].
func (s *iq2State) encode(b []byte, x, qw []float32) {
	var scales [16]float32
	var maxScale float32
	var sumx2 float32
	for _, v := range x {
		sumx2 += float32(v * v)
	}
	sigma2 := sumx2 / kqSuper
	if s.kind == iq2KindS {
		sigma2 = 2 * sumx2 / kqSuper
	}
	n := s.n
	for ib := 0; ib < kqSuper/n; ib++ {
		xb := x[n*ib : n*ib+n]
		if qw != nil {
			lgImpWeights(s.weight[:n], xb, qw[n*ib:n*ib+n], sigma2)
		} else {
			for i, v := range xb {
				s.weight[i] = float32(0.25*sigma2) + float32(v*v)
			}
		}
		scale, ok := s.sub(xb)
		if !ok {
			continue
		}
		switch {
		case s.kind == iq2KindS:
			for k := 0; k < 2; k++ {
				i8 := 2*ib + k
				b[2+i8] = uint8(s.idx[k])
				b[66+i8/4] |= uint8(s.idx[k]>>8) << (2 * (i8 % 4))
				b[2+32+i8] = s.signs[k]
			}
		case s.xxs:
			var g, sg uint32
			for k := 0; k < 4; k++ {
				g |= uint32(s.idx[k]) << (8 * k)
				sg |= uint32(s.signs[k]) << (7 * k)
			}
			binary.LittleEndian.PutUint32(b[2+8*ib:], g)
			binary.LittleEndian.PutUint32(b[6+8*ib:], sg)
		default:
			for k := 0; k < 2; k++ {
				binary.LittleEndian.PutUint16(b[2+4*ib+2*k:], uint16(s.idx[k])|uint16(s.signs[k])<<9)
			}
		}
		scales[ib] = scale
		if !(maxScale > scale) {
			maxScale = scale
		}
	}
	if maxScale == 0 {
		if s.kind != iq2KindS { // IQ2_S keeps its qs, qh and signs
			clear(b)
		}
		return
	}
	d := maxScale / 31
	sc := b[66:]
	if s.kind == iq2KindS {
		putF16(b, d*0.9875)
		sc = b[74:]
	} else {
		putF16(b, d)
	}
	id := 1 / d
	for ib := 0; ib < kqSuper/n; ib++ {
		l := iq3SubScale(id, scales[ib])
		if s.xxs {
			o := b[6+8*ib:]
			binary.LittleEndian.PutUint32(o, binary.LittleEndian.Uint32(o)|l<<28)
		} else {
			sc[ib/2] |= uint8(l << (4 * (ib % 2)))
		}
	}
}

func (c iq2Codec) Decode(dst []float32, src []byte) {
	t := iq2Get(c.kind)
	for i := 0; i < len(dst)/kqSuper; i++ {
		b := src[i*c.bytes : (i+1)*c.bytes]
		y := dst[i*kqSuper : (i+1)*kqSuper]
		d := f16(b)
		for ib := 0; ib < 8; ib++ {
			var db [4]float32
			var idx [4]int
			var sg [4]uint8
			switch c.kind {
			case iq2KindS:
				sc := b[74+ib]
				for l := 0; l < 4; l++ {
					db[l] = float32(d*(0.5+float32(sc>>(4*(l/2))&15))) * 0.25
					idx[l] = int(b[2+4*ib+l]) | int(b[66+ib])<<(8-2*l)&0x300
					sg[l] = b[2+32+4*ib+l]
				}
			case iq2KindXXS:
				aux := binary.LittleEndian.Uint32(b[6+8*ib:])
				v := float32(d*(0.5+float32(aux>>28))) * 0.25
				for l := 0; l < 4; l++ {
					db[l], idx[l] = v, int(b[2+8*ib+l])
					sg[l] = iqgrid.Signs[(aux>>(7*l))&127]
				}
			default:
				sc := b[66+ib]
				for l := 0; l < 4; l++ {
					q := binary.LittleEndian.Uint16(b[2+8*ib+2*l:])
					db[l] = float32(d*(0.5+float32(sc>>(4*(l/2))&15))) * 0.25
					idx[l], sg[l] = int(q&511), iqgrid.Signs[q>>9]
				}
			}
			for l := 0; l < 4; l++ {
				for j := 0; j < 8; j++ {
					v := float32(db[l] * float32(uint8(t.dgrid[idx[l]]>>(8*j))))
					if sg[l]>>j&1 != 0 {
						v = -v
					}
					y[32*ib+8*l+j] = v
				}
			}
		}
	}
}
