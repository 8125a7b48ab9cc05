//go:build !purego

package kernel

import (
	"sync"
	"unsafe"

	"github.com/shrink-llm/shrink/format"
)

// The register-tiled prefill kernels of AVX512VNNI and AVX2 (MatMul16 for
// Q8_0 and Q4_0, the path of CPUs without AMX): each tile of 16 weight rows is
// unpacked once (unpackQ8_0x16Rows, unpackQ4_0x16Rows: codes as unsigned bytes,
// four codes of each row in one dword lane, and float32 scales), then
// multiplied against every group of 16 activation rows, packed once per
// batch (tilePack), by tileQ8_0x16x8 / tileQ4_0x16x8: 16 rows x 8
// activations of VPDPBUSD per weight vector, the integer block sums exact
// and scaled into float32 accumulators (AVX2: unpackQ8_0x16AVX2 etc. and
// 8 rows x 4 activations of VPMADDUBSW, tile_avx2_amd64.s). The layouts
// are described in vnni_tile_amd64.s; the pure-Go twins are in tile_amd64_test.go.

// tileArgs is the argument block of the tile kernels.
type tileArgs struct {
	w      unsafe.Pointer // unpacked weights, block 0
	x      unsafe.Pointer // packed activation codes of the 8 rows, block 0
	s      unsafe.Pointer // their negated code sums (scales 64 bytes on)
	nb     int
	out    unsafe.Pointer // output of activation row 0, weight row 0
	stride int            // bytes between the output rows
}

//go:noescape
func tileQ8_0x16x8(a *tileArgs)

//go:noescape
func tileQ4_0x16x8(a *tileArgs)

//go:noescape
func unpackQ8_0x16Rows(dst *byte, w *byte, idx *[16]int32, nb int)

//go:noescape
func unpackQ4_0x16Rows(dst *byte, w *byte, idx *[16]int32, nb int)

//go:noescape
func prefetchT1(p *byte, n int)

//go:noescape
func unpackQ8_0x16AVX2(dst *byte, w *byte, idx *[16]int32, nb int)

//go:noescape
func unpackQ4_0x16AVX2(dst *byte, w *byte, idx *[16]int32, nb int)

//go:noescape
func tileQ8_0x8x4AVX2(a *tileArgs)

//go:noescape
func tileQ4_0x8x4AVX2(a *tileArgs)

// tileKernel is one implementation's tile kernel: the weight rows and
// activation rows it takes per call (dividing 16), and the call.
type tileKernel struct {
	rows, acts int
	kern       func(*tileArgs)
}

// unpacker unpacks sixteen weight rows (at idx's byte offsets from w) of
// nb blocks into the tile layout at dst.
type unpacker func(dst, w *byte, idx *[16]int32, nb int)

// Sizes of the tile layouts, per 32-element block.
const (
	tileWBytes = 576 // 16 rows x 32 codes, 16 float32 scales
	tilePBytes = 640 // 16 activations x 32 codes, 16 int32 sums, 16 scales
)

var _ = addVNNI(func(im *Impl) {
	im.MatMul16[format.Q8_0] = tileMatMul(im, format.Q8_0, unpackQ8_0x16Rows, tileKernel{16, 8, tileQ8_0x16x8})
	im.MatMul16[format.Q4_0] = tileMatMul(im, format.Q4_0, unpackQ4_0x16Rows, tileKernel{16, 8, tileQ4_0x16x8})
	im.Pack = tilePack
})

// initTileAVX2 sets AVX2's tile entries (the same layouts, 8 weight rows x
// 4 activation rows a call).
func initTileAVX2() {
	AVX2.MatMul16[format.Q8_0] = tileMatMul(AVX2, format.Q8_0, unpackQ8_0x16AVX2, tileKernel{8, 4, tileQ8_0x8x4AVX2})
	AVX2.MatMul16[format.Q4_0] = tileMatMul(AVX2, format.Q4_0, unpackQ4_0x16AVX2, tileKernel{8, 4, tileQ4_0x8x4AVX2})
	AVX2.Pack = tilePack
}

// tilePack packs each complete group of sixteen ActQ8 activation rows
// into xs[16g].pack for the tile kernels (other kinds are left alone).
func tilePack(xs []Vec, k ActKind) {
	if k != ActQ8 {
		return
	}
	for g := 0; g+16 <= len(xs); g += 16 {
		nb := len(xs[g].F) / 32
		if nb == 0 {
			continue
		}
		v := &xs[g]
		v.pack = grow(v.pack, nb*tilePBytes)
		packTile(v.pack, xs[g:g+16], nb)
		v.packed, v.packFmt = true, packVNNI
	}
}

// packTile packs sixteen Q8 activation rows of nb blocks into p: for block
// b at p[640b:], the 32 codes of row j at 32j, then the negated code sums
// as int32 at 512+4j and the scales D at 576+4j.
func packTile(p []byte, xs []Vec, nb int) {
	p = p[:nb*tilePBytes]
	for j := 0; j < 16; j++ {
		x := &xs[j]
		q, d := x.Q[:nb*32], x.D[:nb]
		for b := 0; b < nb; b++ {
			blk := p[b*tilePBytes : (b+1)*tilePBytes]
			src := q[b*32 : b*32+32]
			var s int32
			for _, c := range src {
				s += int32(c)
			}
			copy(blk[32*j:32*j+32], unsafe.Slice((*byte)(unsafe.Pointer(&src[0])), 32))
			*(*int32)(unsafe.Pointer(&blk[512+4*j])) = -s
			*(*float32)(unsafe.Pointer(&blk[576+4*j])) = d[b]
		}
	}
}

type tileScratch struct {
	w     []byte           // one unpacked 16-row tile
	pack  []byte           // activation packs made here
	packs []unsafe.Pointer // each activation group's pack
	args  tileArgs
}

var tilePool = sync.Pool{New: func() any { return new(tileScratch) }}

// tileMatMul makes im's MatMul16 entry of weight type t from its unpacker
// and tile kernel. Rows past the last multiple of 16 go through im's
// four-row kernel of t.
func tileMatMul(im *Impl, t format.DType, unpack unpacker, kern tileKernel) MatMul4Func {
	bb := t.BlockBytes()
	return func(w []byte, rowBytes, r0, r1 int, xs []Vec, out []float32, stride int) {
		if r0 >= r1 || len(xs) == 0 {
			return
		}
		nb := len(xs[0].F) / 32
		if !blockOperands(w, rowBytes, r0, r1, nb, bb, xs, out, stride) {
			return
		}
		rEnd := r0 + (r1-r0)&^15
		if rEnd > r0 {
			tileRows(w, rowBytes, r0, rEnd, nb, xs, out, stride, unpack, kern)
		}
		if rEnd < r1 {
			mm4 := im.MatMul4[t]
			for g := 0; g < len(xs); g += 4 {
				mm4(w, rowBytes, rEnd, r1, xs[g:g+4], out[g*stride:], stride)
			}
		}
	}
}

// tileRows runs the tile kernel over the weight rows r0..r1 (a multiple
// of 16 of them, checked by the caller) and the groups of 16 activations.
func tileRows(w []byte, rowBytes, r0, r1, nb int, xs []Vec, out []float32, stride int, unpack unpacker, kern tileKernel) {
	sc := tilePool.Get().(*tileScratch)
	defer tilePool.Put(sc)
	groups := len(xs) / 16
	sc.packs = grow(sc.packs, groups)
	pb := nb * tilePBytes
	for g := 0; g < groups; g++ {
		v := &xs[16*g]
		if v.packed && v.packFmt == packVNNI && len(v.pack) >= pb {
			sc.packs[g] = unsafe.Pointer(&v.pack[0])
			continue
		}
		sc.pack = grow(sc.pack, groups*pb)
		p := sc.pack[g*pb : (g+1)*pb]
		packTile(p, xs[16*g:16*g+16], nb)
		sc.packs[g] = unsafe.Pointer(&p[0])
	}
	var idx [16]int32
	for i := range idx {
		idx[i] = int32(i * rowBytes)
	}
	sc.w = grow(sc.w, nb*tileWBytes)
	a := &sc.args
	a.nb, a.stride = nb, 4*stride
	calls := groups * (16 / kern.rows) * (16 / kern.acts)
	for r := r0; r < r1; r += 16 {
		unpack(&sc.w[0], &w[r*rowBytes], &idx, nb)
		// The next tile's weights, brought into L2 a part at each call
		// while this one is multiplied (the unpacker's gathers would
		// otherwise wait on memory).
		var next []byte
		if r+16 < r1 {
			next = w[(r+16)*rowBytes : min(len(w), (r+32)*rowBytes)]
		}
		part := (len(next)/calls + 63) &^ 63
		for g, pk := range sc.packs[:groups] {
			for i := 0; i < 16; i += kern.rows {
				a.w = unsafe.Pointer(&sc.w[4*i])
				for j := 0; j < 16; j += kern.acts {
					if len(next) > 0 {
						k := min(part, len(next))
						prefetchT1(&next[0], k)
						next = next[k:]
					}
					a.x = unsafe.Add(pk, 32*j)
					a.s = unsafe.Add(pk, 512+4*j)
					a.out = unsafe.Pointer(&out[(16*g+j)*stride+r+i])
					kern.kern(a)
				}
			}
		}
	}
	a.w, a.x, a.s, a.out = nil, nil, nil, nil
	clear(sc.packs[:groups])
}
