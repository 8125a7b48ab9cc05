package quantize

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/iqgrid"
)

// The FNV-1a hashes (over the little-endian bytes) of ggml-common.h's
// iq3xxs_grid, iq3s_grid and ksigns_iq2xs tables, the i-quants' published
// decoding grids and sign table, computed from the header with gcc.
const (
	iq3xxsGridFNV = "dfa5dc83d6a155d5"
	iq3sGridFNV   = "fa37020c25b44829"
	iq2SignsFNV   = "f19ba8f8c3292ba5"
)

func u32FNV(t []uint32) string {
	b := make([]byte, 4*len(t))
	for i, v := range t {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return kqFNVBytes(b)
}

// TestIQ3Grids checks the grids built from the kgrid lists against
// ggml-common.h's tables (hashes and a few entries) and the lattice
// definition: every point has odd coordinates 1..15, the points are
// distinct, the map sends each point's code to its index, and every code off
// the grid has a non-empty neighbour list of grid points no farther than
// any point not listed.
func TestIQ3Grids(t *testing.T) {
	for _, tc := range []struct {
		xxs     bool
		n       int
		fnv     string
		entries map[int]uint32
	}{
		{true, 256, iq3xxsGridFNV, map[int]uint32{0: 0x04040404, 1: 0x04040414, 5: 0x04040c3e, 255: 0x3e341c04}},
		{false, 512, iq3sGridFNV, map[int]uint32{0: 0x01010101, 4: 0x0101010f, 300: 0x07030503, 511: 0x0f0f0101}},
	} {
		g := iq3Get(tc.xxs)
		if len(g.grid) != tc.n || len(g.dgrid) != tc.n {
			t.Fatalf("grid of %d points, want %d", len(g.grid), tc.n)
		}
		if h := u32FNV(g.dgrid); h != tc.fnv {
			t.Errorf("%d-point decoding grid hashes to %s, ggml-common.h's to %s", tc.n, h, tc.fnv)
		}
		for k, want := range tc.entries {
			if g.dgrid[k] != want {
				t.Errorf("%d-point grid[%d] = %#08x, want %#08x", tc.n, k, g.dgrid[k], want)
			}
		}
		seen := map[uint32]bool{}
		for k, p := range g.grid {
			code := 0
			for i := 0; i < 4; i++ {
				c := int(uint8(p >> (8 * i)))
				if c%2 != 1 || c > 15 {
					t.Fatalf("point %d coordinate %d is %d", k, i, c)
				}
				code |= (c - 1) / 2 << (3 * i)
			}
			if seen[p] || g.kmap[code] != int32(k) {
				t.Fatalf("point %d (code %d) is repeated or mapped to %d", k, code, g.kmap[code])
			}
			seen[p] = true
		}
		dist := func(code int, p uint32) int {
			d2 := 0
			for i := 0; i < 4; i++ {
				d := int(uint8(p>>(8*i))) - (2*(code>>(3*i)&7) + 1)
				d2 += d * d
			}
			return d2
		}
		for code, m := range g.kmap {
			if m >= 0 {
				continue
			}
			nb := g.neighbours[-m-1:]
			list := nb[1 : 1+int(nb[0])]
			if len(list) == 0 {
				t.Fatalf("code %d has no neighbours", code)
			}
			in := map[uint16]bool{}
			far := 0
			for _, j := range list {
				in[j] = true
				far = max(far, dist(code, g.grid[j]))
			}
			for j, p := range g.grid {
				if !in[uint16(j)] && dist(code, p) < far {
					t.Fatalf("code %d: point %d at %d is nearer than a listed one at %d", code, j, dist(code, p), far)
				}
			}
		}
	}
	if h := kqFNVBytes(iqgrid.Signs[:]); h != iq2SignsFNV {
		t.Errorf("ksigns_iq2xs hashes to %s, ggml-common.h's to %s", h, iq2SignsFNV)
	}
}

// TestIQ2Grids checks IQ2_XXS's, IQ2_XS's and IQ2_S's grids against
// ggml-common.h's iq2xxs_grid, iq2xs_grid and iq2s_grid (hashes) and the lattice definition: distinct
// points with coordinates 1, 3 or 5 mapped to their index, and every
// reachable code off the grid listing its nearest points.
func TestIQ2Grids(t *testing.T) {
	for _, tc := range []struct {
		kind int
		n    int
		fnv  string
	}{{iq2KindXXS, 256, "bb4ee025b5ac6e8e"}, {iq2KindXS, 512, "c9b1ee61e79909bd"}, {iq2KindS, 1024, "123edd38a3b62b90"}} {
		g := iq2Get(tc.kind)
		b := make([]byte, 8*len(g.dgrid))
		for i, v := range g.dgrid {
			binary.LittleEndian.PutUint64(b[8*i:], v)
		}
		if len(g.grid) != tc.n || kqFNVBytes(b) != tc.fnv {
			t.Errorf("%d-point grid: %d points, hash %s, ggml-common.h's %s", tc.n, len(g.grid), kqFNVBytes(b), tc.fnv)
		}
		for k, p := range g.grid {
			code := 0
			for i := 0; i < 8; i++ {
				c := int(uint8(p >> (8 * i)))
				if c != 1 && c != 3 && c != 5 {
					t.Fatalf("point %d coordinate %d is %d", k, i, c)
				}
				code |= (c - 1) / 2 << (2 * i)
			}
			if g.kmap[code] != int32(k) {
				t.Fatalf("point %d (code %d) mapped to %d", k, code, g.kmap[code])
			}
		}
		dist := func(code int, p uint64) int {
			d2 := 0
			for i := 0; i < 8; i++ {
				d := int(uint8(p>>(8*i))) - (2*(code>>(2*i)&3) + 1)
				d2 += d * d
			}
			return d2
		}
		for code := 0; code < 1<<16; code += 7 { // a sample of the codes
			m := g.kmap[code]
			if m >= 0 || code&(code>>1)&0x5555 != 0 {
				continue
			}
			nb := g.neighbours[-m-1:]
			list := nb[1 : 1+int(nb[0])]
			near := dist(code, g.grid[list[0]])
			for _, p := range g.grid {
				if dist(code, p) < near {
					t.Fatalf("code %d: a point at %d is nearer than its first neighbour at %d", code, dist(code, p), near)
				}
			}
		}
	}
}

// iq1sGridFNV is the FNV-1a hash of ggml-common.h's iq1s_grid (2048
// little-endian uint64s), computed from the header with gcc.
const iq1sGridFNV = "6703ed863501ae2e"

// TestIQ1Grid checks IQ1_S's and IQ1_M's grid against ggml-common.h's
// iq1s_grid (hash and a few entries) and the lattice definition: 2048
// distinct points with coordinates -1, 0, 1 mapped to their index, and
// every code off the grid with coordinates 0..2 listing exactly the grid
// points of the three nearest distance shells, nearest first.
func TestIQ1Grid(t *testing.T) {
	g := iq1Get()
	b := make([]byte, 8*len(iqgrid.Grid1S))
	for i, v := range iqgrid.Grid1S {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	if len(g.grid) != 2048 || kqFNVBytes(b) != iq1sGridFNV {
		t.Errorf("1-bit grid: %d points, hash %s, ggml-common.h's %s", len(g.grid), kqFNVBytes(b), iq1sGridFNV)
	}
	for k, want := range map[int]uint64{0: 0xffffffffffffffff, 1: 0xffffffffffffff01, 1000: 0x00000000ffff00ff, 2047: 0x0101010101010101} {
		if iqgrid.Grid1S[k] != want {
			t.Errorf("iq1s_grid[%d] = %#016x, want %#016x", k, iqgrid.Grid1S[k], want)
		}
	}
	for k, p := range g.grid {
		code := 0
		for i := 0; i < 8; i++ {
			c := int(uint8(p >> (8 * i)))
			v := int8(iqgrid.Grid1S[k] >> (8 * i))
			if c != 1 && c != 3 && c != 5 || int(v) != (c-1)/2-1 {
				t.Fatalf("point %d coordinate %d is %d (decoded %d)", k, i, c, v)
			}
			code |= (c - 1) / 2 << (2 * i)
		}
		if g.kmap[code] != int32(k) {
			t.Fatalf("point %d (code %d) is repeated or mapped to %d", k, code, g.kmap[code])
		}
	}
	dist := func(code int, p uint64) int {
		d2 := 0
		for i := 0; i < 8; i++ {
			d := int(uint8(p>>(8*i))) - (2*(code>>(2*i)&3) + 1)
			d2 += d * d
		}
		return d2
	}
	for code := 0; code < 1<<16; code += 5 { // a sample of the codes
		if g.kmap[code] >= 0 || code&(code>>1)&0x5555 != 0 {
			continue
		}
		nb := g.neighbours[-g.kmap[code]-1:]
		list := nb[1 : 1+int(nb[0])]
		shells := map[int]bool{}
		in := map[uint16]bool{}
		prev := 0
		for _, j := range list {
			d := dist(code, g.grid[j])
			if d < prev {
				t.Fatalf("code %d: neighbours not nearest first", code)
			}
			prev, shells[d], in[j] = d, true, true
		}
		if len(shells) != 3 {
			t.Fatalf("code %d: %d distance shells listed, want 3", code, len(shells))
		}
		for j, p := range g.grid {
			if !in[uint16(j)] && dist(code, p) <= prev {
				t.Fatalf("code %d: point %d at %d is missing from its list (farthest listed %d)", code, j, dist(code, p), prev)
			}
		}
	}
}

// TestNeedsImatrix checks that EncodeRow refuses the types ggml encodes
// only with importances when none are given, in one line naming the flags.
func TestNeedsImatrix(t *testing.T) {
	x := make([]float32, 256)
	for _, typ := range []format.DType{format.IQ2_XXS, format.IQ2_XS, format.IQ1_S} {
		err := EncodeRow(typ, make([]byte, typ.BlockBytes()), x, nil)
		if !errors.Is(err, ErrNeedsImatrix) || !strings.Contains(err.Error(), "--imatrix") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s without importances: %v", typ, err)
		}
	}
	if RequiresImatrix(format.IQ3_S) || RequiresImatrix(format.IQ4_XS) || RequiresImatrix(format.IQ1_M) {
		t.Error("ggml encodes IQ3_S, IQ4_XS and IQ1_M without importances")
	}
}

// TestIQHugeValues: finite values whose squares overflow float32 (ggml
// asserts there) give every i-quant encoder bytes, not a panic, with and
// without importances.
func TestIQHugeValues(t *testing.T) {
	src := make([]float32, 256)
	for i := range src {
		src[i] = float32(i%7-3) * 1e20
	}
	imp := make([]float32, 256)
	for i := range imp {
		imp[i] = 1
	}
	for _, typ := range []format.DType{format.IQ4_XS, format.IQ4_NL, format.IQ3_S, format.IQ3_XXS, format.IQ2_S,
		format.IQ2_XS, format.IQ2_XXS, format.IQ1_S, format.IQ1_M} {
		rb, _ := typ.RowBytes(256)
		for _, w := range [][]float32{nil, imp} {
			if RequiresImatrix(typ) && w == nil {
				continue
			}
			if err := EncodeRow(typ, make([]byte, rb), src, w); err != nil {
				t.Errorf("%s: %v", typ, err)
			}
		}
	}
}
