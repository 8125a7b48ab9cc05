//go:build !purego

package kernel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/iqgrid"
)

// TestIQUnpackedExact checks the grid i-quants' prefill path bit for bit:
// the AVX2 kernel against its pure-Go twin (iqUnpackedDotGo) and both
// against the generic dot products, on raw random blocks (every grid
// index, sign and scale pattern) and activation rows with codes of both
// extremes, for 1 to 9 activation rows and 1, 2 and 11 super-blocks.
func TestIQUnpackedExact(t *testing.T) {
	if !AVX2.Available {
		t.Skip("no AVX2")
	}
	r := rand.New(rand.NewPCG(21, 22))
	for dt, info := range iqUnpackers {
		for _, nb := range []int{1, 2, 11} {
			n := 256 * nb
			const rows = 5
			var w []byte
			for i := 0; i < rows; i++ {
				w = append(w, rawRow(r, dt, n, i%4)...)
			}
			for T := 1; T <= 9; T++ {
				xs := make([]Vec, T)
				for j := range xs {
					x := randRow(r, n)
					if j == 0 {
						for e := range x {
							x[e] = float32(1 - 2*(e%2)) // codes +-127
						}
					}
					Generic.Quantize(&xs[j], x, ActQ8K)
				}
				out := make([]float32, T*rows)
				matIQUnpacked(dt)(w, info.bytes*nb, 0, rows, xs, out, rows)
				var row iqRow
				row.resize(nb)
				for i := 0; i < rows; i++ {
					wr := w[i*info.bytes*nb : (i+1)*info.bytes*nb]
					unpackRow(info, wr, &row, nb)
					for j := range xs {
						got, twin, want := out[j*rows+i], iqUnpackedDotGo(&row, &xs[j], nb, info.factor), Generic.Dot[dt](wr, &xs[j])
						if math.Float32bits(got) != math.Float32bits(twin) || math.Float32bits(twin) != math.Float32bits(want) {
							t.Fatalf("%s nb=%d T=%d row %d act %d: avx2 %g, twin %g, generic %g", dt, nb, T, i, j, got, twin, want)
						}
					}
				}
			}
		}
	}
}

// TestIQUnpackRow checks the unpacked bytes of an IQ3_S and an IQ1_S
// super-block built by hand: grid point, sign, high index bit, shift and
// scale land where the format puts them.
func TestIQUnpackRow(t *testing.T) {
	var row iqRow
	row.resize(1)
	// IQ3_S: d = 1.0 (f16 0x3c00); group 0 point 0x101 (qh bit 0) and
	// point 2, signs 0x81; sub-block 1's scale nibble 5.
	blk := make([]byte, 110)
	blk[0], blk[1] = 0x00, 0x3c
	blk[2], blk[3], blk[66], blk[74], blk[106] = 0x01, 2, 1, 0x81, 0x50
	d := unpackIQ3S(blk, row.w, new([16]int16))
	unpackRow(iqUnpackers[format.IQ3_S], blk, &row, 1)
	if d != 1 || row.d[0] != 1 {
		t.Fatalf("IQ3_S scale %g, %g, want 1", d, row.d[0])
	}
	p1, p2 := gridBytes3S(0x101), gridBytes3S(2)
	want := []int8{-p1[0], p1[1], p1[2], p1[3], p2[0], p2[1], p2[2], -p2[3]}
	for j, v := range want {
		if int8(row.w[j]) != v {
			t.Fatalf("IQ3_S byte %d = %d, want %d", j, int8(row.w[j]), v)
		}
	}
	if got := int16(uint16(row.sc[0]) | uint16(row.sc[1])<<8); got != 1 {
		t.Fatalf("IQ3_S sub-block 0 scale %d, want 1", got)
	}
	if got := int16(uint16(row.sc[32]) | uint16(row.sc[33])<<8); got != 11 {
		t.Fatalf("IQ3_S sub-block 1 scale %d, want 11", got)
	}
	// IQ1_S: sub-block 0 with qh = 0x8000 | 3<<12 | 1 (point 0x100+qs[0],
	// shift -1, scale 7).
	blk = make([]byte, 50)
	blk[0], blk[1] = 0x00, 0x3c
	blk[2], blk[34], blk[35] = 7, 0x01, 0xb0
	unpackRow(iqUnpackers[format.IQ1_S], blk, &row, 1)
	p := grid1S8[0x107]
	for j := 0; j < 8; j++ {
		if want := int8(p>>(8*j)) - 1; int8(row.w[j]) != want {
			t.Fatalf("IQ1_S byte %d = %d, want %d", j, int8(row.w[j]), want)
		}
	}
	if got := int16(uint16(row.sc[16]) | uint16(row.sc[17])<<8); got != 7 {
		t.Fatalf("IQ1_S scale %d, want 7", got)
	}
}

// gridBytes3S returns the four magnitudes of IQ3_S grid point g.
func gridBytes3S(g int) (b [4]int8) {
	p := iqgrid.Grid3S[g]
	for j := range b {
		b[j] = int8(p >> (8 * j))
	}
	return b
}
