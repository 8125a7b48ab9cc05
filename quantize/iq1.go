package quantize

import (
	"encoding/binary"
	"math"
	"sort"
	"sync"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/iqgrid"
)

// IQ1_S (ggml-common.h block_iq1_s, 50 bytes per 256 elements) and IQ1_M
// (block_iq1_m, 56 bytes): each group of eight elements is a point of
// iq1s_grid (2048 points with coordinates -1, 0, 1) plus a shift of
// +-IQ1S_DELTA. IQ1_S has per 32 elements a 3-bit scale and the shift's
// sign in a uint16 (with the three high bits of each of its four grid
// indices) against an f16 super-block scale; IQ1_M has per 16 elements a
// 3-bit scale and a shift sign per group of eight, and spreads the f16
// super-block scale over the top nibbles of its four scale words.
//
// The encoders are ggml's quantize_row_iq1_s_impl and
// quantize_row_iq1_m_impl: the split of a sub-block's elements into the
// three levels is searched exhaustively over the sorted values, the groups
// of eight off the grid are moved to the nearest listed grid point
// (iq1_find_best_neighbour2), and the scale is refit.

// iq1Delta is ggml's IQ1S_DELTA (= IQ1M_DELTA).
const iq1Delta = 0.125

// Group maxima below which a sub-block is left empty (GROUP_MAX_EPS_IQ1_S
// and GROUP_MAX_EPS_IQ1_M).
const (
	iq1SMaxEps = 1e-12
	iq1MMaxEps = 1e-7
)

var (
	iq1Once   sync.Once
	iq1Tables *iq2Tables
)

// iq1Get returns iq2xs_init_impl's tables for the 1-bit grid (three
// neighbour shells).
func iq1Get() *iq2Tables {
	iq1Once.Do(func() { iq1Tables = newIQ2Tables(iqgrid.KGrid1S[:], iqgrid.Grid1S, 3) })
	return iq1Tables
}

// iq1Levels are x_p and x_m of ggml: the three levels shifted by
// +IQ1S_DELTA (index 0) and by -IQ1S_DELTA (index 1).
var iq1Levels = [2][3]float32{{-1 + iq1Delta, iq1Delta, 1 + iq1Delta}, {-1 - iq1Delta, -iq1Delta, 1 - iq1Delta}}

// iq1State is one row's scratch. shifts persists across the row's
// super-blocks as ggml's array does (ggml reads a skipped sub-block's
// stale entry; shrink starts each row with zeros).
type iq1State struct {
	t       *iq2Tables
	weight  [32]float32
	order   [32]int
	L       [32]int8
	index   [4]int
	scales  [16]float32
	shifts  [16]int
	sumx    [33]float32
	sumw    [33]float32
	sumqx4  [4]float32
	sumq2x4 [4]float32
}

// sortByValue sets s.order[:n] to the element indices of xb sorted by
// value (qsort of ggml's pairs; ties keep index order, as glibc's merge
// sort does).
func (s *iq1State) sortByValue(xb []float32) {
	o := s.order[:len(xb)]
	for j := range o {
		o[j] = j
	}
	sort.SliceStable(o, func(a, b int) bool { return xb[o[a]] < xb[o[b]] })
}

// setLevels assigns level 0 to the first i1 sorted elements, 1 up to i2,
// 2 to the rest.
func (s *iq1State) setLevels(n, i1, i2 int) {
	for j := 0; j < n; j++ {
		l := int8(2)
		if j < i1 {
			l = 0
		} else if j < i2 {
			l = 1
		}
		s.L[s.order[j]] = l
	}
}

// iq1BestNeighbour is iq1_find_best_neighbour2: the listed grid point nearest
// (weighted) to xval at scale with levels xg; it sets L and returns the
// point's index.
func (t *iq2Tables) iq1BestNeighbour(u int, xval, w []float32, scale float32, xg *[3]float32, L []int8) int {
	nb := t.neighbours[-t.kmap[u]-1:]
	cand := nb[1 : 1+int(nb[0])]
	best := float32(math.MaxFloat32)
	idx := -1
	score := func(j int) float32 {
		var d2 float32
		for i := 0; i < 8; i++ {
			q := xg[(uint8(t.grid[j]>>(8*i))-1)/2]
			diff := float32(scale*q) - xval[i]
			d2 += float32(float32(w[i]*diff) * diff)
		}
		return d2
	}
	for _, j := range cand {
		if d2 := score(int(j)); d2 < best {
			best, idx = d2, int(j)
		}
	}
	if idx < 0 { // only for non-finite input; ggml asserts
		idx = int(cand[0])
	}
	for i := 0; i < 8; i++ {
		L[i] = int8((uint8(t.grid[idx]>>(8*i)) - 1) / 2)
	}
	return idx
}

// placeGroups maps each group of eight of the n levels in s.L to its grid
// index (or its best listed neighbour, with levels xg(k) for group k) and
// reports whether all were on the grid.
func (s *iq1State) placeGroups(n int, xb []float32, scale float32, xg func(k int) *[3]float32) bool {
	all := true
	for k := 0; k < n/8; k++ {
		u := iq2Code(s.L[8*k : 8*k+8])
		gi := int(s.t.kmap[u])
		if gi < 0 {
			all = false
			gi = s.t.iq1BestNeighbour(u, xb[8*k:8*k+8], s.weight[8*k:8*k+8], scale, xg(k), s.L[8*k:8*k+8])
		}
		s.index[k] = gi
	}
	return all
}

// refit returns the least-squares scale of the placed groups, or scale
// when it is not positive.
func (s *iq1State) refit(n int, xb []float32, scale float32, xg func(k int) *[3]float32) float32 {
	var sumqx, sumq2 float32
	for k := 0; k < n/8; k++ {
		p := s.t.grid[s.index[k]]
		for j := 0; j < 8; j++ {
			w := s.weight[8*k+j]
			q := xg(k)[(uint8(p>>(8*j))-1)/2]
			sumqx += float32(float32(w*q) * xb[8*k+j])
			sumq2 += float32(float32(w*q) * q)
		}
	}
	if sumqx > 0 && sumq2 > 0 {
		return sumqx / sumq2
	}
	return scale
}

// fmax is ggml's MAX(a, b).
func fmax(a, b float32) float32 {
	if a > b {
		return a
	}
	return b
}

func absMax(xb []float32) float32 {
	m := float32(math.Abs(float64(xb[0])))
	for _, v := range xb[1:] {
		m = fmax(m, float32(math.Abs(float64(v))))
	}
	return m
}

func sumSquares(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return s
}

func init() {
	register(iq1Codec{format.IQ1_S})
	register(iq1Codec{format.IQ1_M})
}

type iq1Codec struct{ typ format.DType }

func (c iq1Codec) Type() format.DType { return c.typ }

// Encode quantizes src with the importances imp. IQ1_S requires them
// (EncodeRow returns ErrNeedsImatrix without them; called directly with
// imp == nil, Encode uses unit importances); IQ1_M without them weights
// each element by x^2, as ggml does.
func (c iq1Codec) Encode(dst []byte, src, imp []float32) {
	s := &iq1State{t: iq1Get()}
	bytes := c.typ.BlockBytes()
	if imp == nil && c.typ == format.IQ1_S {
		imp = make([]float32, len(src))
		for i := range imp {
			imp[i] = 1
		}
	}
	for ibl := 0; ibl < len(src)/kqSuper; ibl++ {
		x := src[ibl*kqSuper : (ibl+1)*kqSuper]
		var qw []float32
		if imp != nil {
			qw = imp[ibl*kqSuper : (ibl+1)*kqSuper]
		}
		b := dst[ibl*bytes : (ibl+1)*bytes]
		clear(b)
		if c.typ == format.IQ1_S {
			s.encodeS(b, x, qw)
		} else {
			s.encodeM(b, x, qw)
		}
	}
}

// weights fills s.weight[:len(xb)] as ggml does: qw*sqrt(sigma2+x^2), or
// x^2 without importances.
func (s *iq1State) weights(xb, qw []float32, sigma2 float32) {
	if qw != nil {
		lgImpWeights(s.weight[:len(xb)], xb, qw, sigma2)
		return
	}
	for i, v := range xb {
		s.weight[i] = float32(v * v)
	}
}

// encodeS is one IQ1_S super-block: d at b[0:2], the index bytes at
// b[2:34], and per 32 elements a uint16 at b[34+2ib] of the four 3-bit
// index tops, the 3-bit scale at bit 12 and the shift sign at bit 15.
func (s *iq1State) encodeS(b []byte, x, qw []float32) {
	const n = 32
	sigma2 := 2 * sumSquares(x) / kqSuper
	var maxScale float32
	for ib := 0; ib < kqSuper/n; ib++ {
		xb := x[n*ib : n*ib+n]
		s.weights(xb, qw[n*ib:n*ib+n], sigma2)
		max := absMax(xb)
		if max < iq1SMaxEps {
			s.scales[ib] = 0
			continue
		}
		scale, shift := s.searchS(xb, max)
		xg := func(int) *[3]float32 { return &iq1Levels[(1-shift)/2] }
		if !s.placeGroups(n, xb, scale, xg) {
			scale = s.refit(n, xb, scale, xg)
		}
		var h uint16
		for k := 0; k < n/8; k++ {
			b[2+4*ib+k] = uint8(s.index[k])
			h |= uint16(s.index[k]>>8) << (3 * k)
		}
		binary.LittleEndian.PutUint16(b[34+2*ib:], h)
		s.scales[ib], s.shifts[ib] = scale, shift
		maxScale = fmax(maxScale, scale)
	}
	if maxScale == 0 {
		return
	}
	d := maxScale / 15
	putF16(b, float32(d*1.125))
	id := 1 / d
	for ib := 0; ib < kqSuper/n; ib++ {
		l := uint16(clampInt32(nearestInt(0.5*(float32(id*s.scales[ib])-1)), 0, 7))
		if s.shifts[ib] == -1 {
			l |= 8
		}
		o := b[34+2*ib:]
		binary.LittleEndian.PutUint16(o, binary.LittleEndian.Uint16(o)|l<<12)
	}
}

// searchS is IQ1_S's exhaustive split search over the 32 sorted values:
// for every pair of boundaries and both shifts, the least-squares scale
// from prefix sums. It sets s.L and returns the scale and shift (+1 or -1),
// the levels mirrored when the scale came out negative.
func (s *iq1State) searchS(xb []float32, max float32) (float32, int) {
	n := len(xb)
	s.sortByValue(xb)
	for j := 0; j < n; j++ {
		i := s.order[j]
		s.sumx[j+1] = s.sumx[j] + float32(s.weight[i]*xb[i])
		s.sumw[j+1] = s.sumw[j] + s.weight[i]
	}
	best, scale := float32(-minNormal32), max
	b1, b2, shift := -1, -1, 0
	for i1 := 0; i1 <= n; i1++ {
		for i2 := i1; i2 <= n; i2++ {
			for _, sh := range [2]int{1, -1} {
				xp := &iq1Levels[(1-sh)/2]
				sx0, sx1, sx2 := s.sumx[i1]-s.sumx[0], s.sumx[i2]-s.sumx[i1], s.sumx[n]-s.sumx[i2]
				sw0, sw1, sw2 := s.sumw[i1]-s.sumw[0], s.sumw[i2]-s.sumw[i1], s.sumw[n]-s.sumw[i2]
				sumqx := float32(float32(float32(sx0*xp[0])+float32(sx1*xp[1])) + float32(sx2*xp[2]))
				sumq2 := float32(float32(float32(float32(sw0*xp[0])*xp[0])+float32(float32(sw1*xp[1])*xp[1])) + float32(float32(sw2*xp[2])*xp[2]))
				if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
					scale = sumqx / sumq2
					best = float32(scale * sumqx)
					b1, b2, shift = i1, i2, sh
				}
			}
		}
	}
	if shift == 0 { // only for non-finite input; ggml asserts
		b1, b2, shift = 0, 0, 1
	}
	s.setLevels(n, b1, b2)
	if scale < 0 {
		for j := range s.L[:n] {
			s.L[j] = 2 - s.L[j]
		}
		scale, shift = -scale, -shift
	}
	return scale, shift
}

// minNormal32 is C's FLT_MIN; ggml's searches start from -FLT_MIN.
const minNormal32 = 0x1p-126

// iq1MLevels returns the levels of group k (0 or 1) of an IQ1_M sub-block
// with shift pattern sk: bit 1 of sk negates group 0's shift, bit 0
// group 1's (ggml's best_k: 0 +,+; 1 +,-; 2 -,+; 3 -,-).
func iq1MLevels(sk, k int) *[3]float32 {
	if k == 0 {
		return &iq1Levels[sk>>1]
	}
	return &iq1Levels[sk&1]
}

// iq1MMasks are ggml's masks: the qh bits that negate each group's shift.
var iq1MMasks = [4]uint8{0x00, 0x80, 0x08, 0x88}

// encodeM is one IQ1_M super-block: the index bytes at b[0:32], per 16
// elements a byte b[32+ib] of the two 3-bit index tops (bits 0-2, 4-6)
// and the shift signs (bits 3, 7), and the 3-bit scales in the four
// uint16s at b[48:56], whose top nibbles hold the f16 super-block scale.
func (s *iq1State) encodeM(b []byte, x, qw []float32) {
	const n = 16
	sigma2 := 2 * sumSquares(x) / kqSuper
	var maxScale float32
	for ib := 0; ib < kqSuper/n; ib++ {
		xb := x[n*ib : n*ib+n]
		var w []float32
		if qw != nil {
			w = qw[n*ib : n*ib+n]
		}
		s.weights(xb, w, sigma2)
		max := absMax(xb)
		if max < iq1MMaxEps {
			s.scales[ib] = 0
			continue
		}
		scale, sk := s.searchM(xb, max)
		xg := func(k int) *[3]float32 { return iq1MLevels(sk, k) }
		if !s.placeGroups(n, xb, scale, xg) {
			scale = s.refit(n, xb, scale, xg)
		}
		b[2*ib] = uint8(s.index[0])
		b[2*ib+1] = uint8(s.index[1])
		b[32+ib] = uint8(s.index[0]>>8) | uint8(s.index[1]>>8)<<4
		s.scales[ib], s.shifts[ib] = scale, sk
		maxScale = fmax(maxScale, scale)
	}
	if maxScale == 0 {
		return
	}
	s.finishM(b, x, qw, sigma2, maxScale)
}

// finishM writes IQ1_M's sub-block scales and shift bits and refits the
// super-block scale over the whole block with them, stored times ggml's
// 1.1125.
func (s *iq1State) finishM(b []byte, x, qw []float32, sigma2, maxScale float32) {
	const n = 16
	var sc [4]uint16
	d := maxScale / 15
	id := 1 / d
	var sumqx, sumq2 float32
	for ib := 0; ib < kqSuper/n; ib++ {
		l := clampInt32(nearestInt(0.5*(float32(id*s.scales[ib])-1)), 0, 7)
		sc[ib/4] |= uint16(l) << (3 * (ib % 4))
		b[32+ib] |= iq1MMasks[s.shifts[ib]]
		xb := x[n*ib : n*ib+n]
		var w []float32
		if qw != nil {
			w = qw[n*ib : n*ib+n]
		}
		s.weights(xb, w, sigma2)
		for k := 0; k < 2; k++ {
			xg := iq1MLevels(s.shifts[ib], k)
			p := s.t.grid[int(b[2*ib+k])|int(b[32+ib])<<(8-4*k)&0x700]
			for j := 0; j < 8; j++ {
				wj := s.weight[8*k+j]
				q := float32(xg[(uint8(p>>(8*j))-1)/2] * float32(2*l+1))
				sumqx += float32(float32(wj*q) * xb[8*k+j])
				sumq2 += float32(float32(wj*q) * q)
			}
		}
	}
	if sumq2 > 0 {
		d = sumqx / sumq2
	}
	u := format.F32ToF16(float32(d * 1.1125))
	sc[0] |= u & 0x000f << 12
	sc[1] |= u & 0x00f0 << 8
	sc[2] |= u & 0x0f00 << 4
	sc[3] |= u & 0xf000
	for i, v := range sc {
		binary.LittleEndian.PutUint16(b[48+2*i:], v)
	}
}

// searchM is IQ1_M's exhaustive split search over the 16 sorted values
// with the four shift patterns of its two groups of eight. It sets s.L
// and returns the scale and the pattern, mirrored when the scale came out
// negative.
func (s *iq1State) searchM(xb []float32, max float32) (float32, int) {
	n := len(xb)
	s.sortByValue(xb)
	best, scale := float32(-minNormal32), max
	b1, b2, bk := -1, -1, -1
	for i1 := 0; i1 <= n; i1++ {
		for i2 := i1; i2 <= n; i2++ {
			s.sumsM(xb, i1, i2)
			for k := 0; k < 4; k++ {
				sumqx, sumq2 := s.sumqx4[k], s.sumq2x4[k]
				if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
					scale = sumqx / sumq2
					best = float32(scale * sumqx)
					b1, b2, bk = i1, i2, k
				}
			}
		}
	}
	if bk < 0 { // only for non-finite input; ggml asserts
		b1, b2, bk = 0, 0, 0
	}
	s.setLevels(n, b1, b2)
	if scale < 0 {
		for j := range s.L[:n] {
			s.L[j] = 2 - s.L[j]
		}
		scale, bk = -scale, 3-bk
	}
	return scale, bk
}

// sumsM accumulates, in sorted order, the weighted sums of the split
// (i1, i2) for the four shift patterns into s.sumqx4 and s.sumq2x4.
func (s *iq1State) sumsM(xb []float32, i1, i2 int) {
	s.sumqx4, s.sumq2x4 = [4]float32{}, [4]float32{}
	n := len(xb)
	for j := 0; j < n; j++ {
		lv := 2
		if j < i1 {
			lv = 0
		} else if j < i2 {
			lv = 1
		}
		i := s.order[j]
		w := s.weight[i]
		for k := 0; k < 4; k++ {
			sh := k & 1
			if i < n/2 {
				sh = k >> 1
			}
			q := iq1Levels[sh][lv]
			s.sumqx4[k] += float32(float32(w*q) * xb[i])
			s.sumq2x4[k] += float32(float32(w*q) * q)
		}
	}
}

// Decode is ggml's dequantize_row_iq1_s or dequantize_row_iq1_m.
func (c iq1Codec) Decode(dst []float32, src []byte) {
	bytes := c.typ.BlockBytes()
	for i := 0; i < len(dst)/kqSuper; i++ {
		b := src[i*bytes : (i+1)*bytes]
		y := dst[i*kqSuper : (i+1)*kqSuper]
		if c.typ == format.IQ1_S {
			decodeIQ1S(y, b)
		} else {
			decodeIQ1M(y, b)
		}
	}
}

// iq1Group writes the eight values dl*(grid+delta) of grid point g.
func iq1Group(y []float32, g int, dl, delta float32) {
	p := iqgrid.Grid1S[g]
	for j := 0; j < 8; j++ {
		y[j] = dl * (float32(int8(p>>(8*j))) + delta)
	}
}

func decodeIQ1S(y []float32, b []byte) {
	d := f16(b)
	for ib := 0; ib < 8; ib++ {
		qh := binary.LittleEndian.Uint16(b[34+2*ib:])
		dl := d * float32(2*(qh>>12&7)+1)
		delta := float32(iq1Delta)
		if qh&0x8000 != 0 {
			delta = -delta
		}
		for l := 0; l < 4; l++ {
			iq1Group(y[32*ib+8*l:], int(b[2+4*ib+l])|int(qh>>(3*l)&7)<<8, dl, delta)
		}
	}
}

// iq1MScale reads IQ1_M's f16 super-block scale from the top nibbles of
// its four scale words.
func iq1MScale(b []byte) float32 {
	var u uint16
	for i := 0; i < 4; i++ {
		u |= binary.LittleEndian.Uint16(b[48+2*i:]) >> 12 << (4 * i)
	}
	return format.F16ToF32(u)
}

func decodeIQ1M(y []float32, b []byte) {
	d := iq1MScale(b)
	for ib := 0; ib < 16; ib++ {
		sc := binary.LittleEndian.Uint16(b[48+2*(ib/4):])
		dl := d * float32(2*(sc>>(3*(ib%4))&7)+1)
		qh := b[32+ib]
		for k := 0; k < 2; k++ {
			delta := float32(iq1Delta)
			if qh&(0x08<<(4*k)) != 0 {
				delta = -delta
			}
			iq1Group(y[16*ib+8*k:], int(b[2*ib+k])|int(qh)<<(8-4*k)&0x700, dl, delta)
		}
	}
}
