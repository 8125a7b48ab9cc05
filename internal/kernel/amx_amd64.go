//go:build !purego

package kernel

import (
	"encoding/binary"
	"sync"
	"unsafe"

	"github.com/shrink-llm/shrink/format"
)

// AMX is the amd64 implementation for CPUs with Advanced Matrix Extensions
// (AMX-INT8: Sapphire Rapids and later Xeons). Batches of sixteen
// activation rows (prefill) multiply Q8_0, Q4_0, Q4_K and Q6_K weights on
// the tile unit: for each 32-code block or sub-block, a 16x32 tile of weight
// codes (Q8_0 read in place with the row stride, the others unpacked to
// bytes once per 16-row tile; Q6_K in 16-code steps) times a 32x16 tile of activation codes (packed once per batch in
// the four-bytes-per-column layout TDPBSSD/TDPBUSD read) gives the 16x16
// block dot products, which AVX-512 scales by the weight and activation
// block scales (and, for Q4_0, the -8 offset through the activation code
// sums; for Q4_K, the sub-block scales, and the mins through the
// activations' sub-block sums) into float32 accumulators. Every other
// entry is AVX512VNNI's.
var AMX = &Impl{Name: "amx"}

// amxArgs is the argument block of amxQ8 and amxQ4 (amx_amd64.s).
type amxArgs struct {
	cfg             *[64]byte
	a               unsafe.Pointer // weight codes of block 0, row 0 of the tile
	aStride, aStep  int            // bytes between rows, between blocks
	b, dx, bias, dw unsafe.Pointer // packed activations, their scales and biases, weight scales
	nb              int
	out             unsafe.Pointer // 16x16 float32, [row][activation]
	cbuf            unsafe.Pointer // 1 KiB scratch for the int32 tile
	mw              unsafe.Pointer // Q4_K, Q6_K: the weights' min or offset terms, [step][16]
	bStep           int            // bytes of the activation pack per step (amxQ4K)
}

//go:noescape
func amxQ8(a *amxArgs)

//go:noescape
func amxQ4(a *amxArgs)

//go:noescape
func amxQ4K(a *amxArgs)

//go:noescape
func unpackQ4_K(dst *byte, w *byte, dw, mw *float32, nb int)

//go:noescape
func unpackQ4_1(dst *byte, w *byte, dw, mw *float32, nb int)

//go:noescape
func unpackQ5_1(dst *byte, w *byte, dw, mw *float32, nb int)

//go:noescape
func unpackQ3_K(dst *byte, w *byte, dw, mw *float32, nb int)

//go:noescape
func unpackQ2_K(dst *byte, w *byte, dw, mw *float32, nb int)

//go:noescape
func unpackQ5_0(dst *byte, w *byte, dw *float32, nb int)

//go:noescape
func unpackIQ4NL(dst *byte, w *byte, dw *float32, nb int)

//go:noescape
func unpackQ5_K(dst *byte, w *byte, dw, mw *float32, nb int)

//go:noescape
func unpackQ6_K(dst *byte, w *byte, dw, mw *float32, nb int)

//go:noescape
func unpackQ4_0(dst *byte, w *byte, dw *float32, nb int)

//go:noescape
func scalesF16(w *byte, step int, dw *float32, nb int)

// amxCfg is the tile configuration (palette 1): tmm0 16 rows x 32 bytes
// (weights), tmm1 8 rows x 64 bytes (activations), tmm2 16 x 64 (int32
// results).
var amxCfg = func() (c [64]byte) {
	c[0] = 1
	binary.LittleEndian.PutUint16(c[16:], 32)
	binary.LittleEndian.PutUint16(c[18:], 64)
	binary.LittleEndian.PutUint16(c[20:], 64)
	c[48], c[49], c[50] = 16, 8, 16
	return
}()

// amxCfg16 is the configuration for 16-code steps (Q6_K): tmm0 16 rows x
// 16 bytes, tmm1 4 rows x 64 bytes, tmm2 16 x 64.
var amxCfg16 = func() (c [64]byte) {
	c[0] = 1
	binary.LittleEndian.PutUint16(c[16:], 16)
	binary.LittleEndian.PutUint16(c[18:], 64)
	binary.LittleEndian.PutUint16(c[20:], 64)
	c[48], c[49], c[50] = 16, 4, 16
	return
}()

func initAMX() {
	AMX.Available = AVX512VNNI.Available && x86.HasAMXInt8 && amxPermit()
	AMX.Dot = AVX512VNNI.Dot
	AMX.MatMul4 = AVX512VNNI.MatMul4
	AMX.MatVec = AVX512VNNI.MatVec
	AMX.DotF32, AMX.Axpy = AVX512VNNI.DotF32, AVX512VNNI.Axpy
	AMX.QuantQ8, AMX.QuantQ8K = AVX512VNNI.QuantQ8, AVX512VNNI.QuantQ8K
	for t := range amxTypes {
		AMX.MatMul16[t] = amxMatMul(t)
	}
	AMX.Pack = amxPack
	Register(AMX)
}

// amxPackBytes is the size of one group's pack of steps 32-code steps:
// per step, 512 bytes of codes, 16 scales and 16 biases; for Q8K rows
// (k == ActQ8K) also 16 scales and 16 biases per 16-code half step.
func amxPackBytes(steps int, k ActKind) int {
	if k == ActQ8K {
		return steps * (512 + 64 + 64 + 128 + 128)
	}
	return steps * (512 + 64 + 64)
}

// packQ8Group packs sixteen Q8 activation rows of nb blocks into p: the
// codes of block b at p[512b:], row k4 (codes 4k4..4k4+3) of activation j
// at 64*k4 + 4*j; then the scales D and the biases -8*S, [b][j].
func packQ8Group(p []byte, xs []Vec, nb int) {
	p = p[:amxPackBytes(nb, ActQ8)]
	p8 := unsafe.Slice((*int8)(unsafe.Pointer(&p[0])), len(p))
	dx := unsafe.Slice((*float32)(unsafe.Pointer(&p[nb*512])), nb*16)
	bias := unsafe.Slice((*float32)(unsafe.Pointer(&p[nb*576])), nb*16)
	for j := 0; j < 16; j++ {
		x := &xs[j]
		q, d, s := x.Q[:nb*32], x.D[:nb], x.S[:nb]
		for b := 0; b < nb; b++ {
			src := q[b*32 : b*32+32]
			dst := p8[b*512+4*j:]
			for k4 := 0; k4 < 8; k4++ {
				copy(dst[64*k4:64*k4+4], src[4*k4:4*k4+4])
			}
			dx[b*16+j] = d[b]
			bias[b*16+j] = -8 * s[b]
		}
	}
}

// packQ8KGroup packs sixteen Q8K activation rows of nb super-blocks into
// p as packQ8Group does, one step per 32-code sub-block s = 8b+j, with the
// super-block scale D[b] and, as bias, D[b] times the sub-block's code sum;
// then the same two for each 16-code group (Q6_K's steps, whose codes are
// the same bytes: four of the eight rows of a 32-code step).
func packQ8KGroup(p []byte, xs []Vec, nb int) {
	steps := 8 * nb
	p = p[:amxPackBytes(steps, ActQ8K)]
	p8 := unsafe.Slice((*int8)(unsafe.Pointer(&p[0])), len(p))
	dx := unsafe.Slice((*float32)(unsafe.Pointer(&p[steps*512])), steps*16)
	mx := unsafe.Slice((*float32)(unsafe.Pointer(&p[steps*576])), steps*16)
	dx16 := unsafe.Slice((*float32)(unsafe.Pointer(&p[steps*640])), 2*steps*16)
	mx16 := unsafe.Slice((*float32)(unsafe.Pointer(&p[steps*768])), 2*steps*16)
	for j := 0; j < 16; j++ {
		x := &xs[j]
		q, d, bs := x.Q[:nb*256], x.D[:nb], x.BSums[:nb*16]
		for st := 0; st < steps; st++ {
			src := q[st*32 : st*32+32]
			dst := p8[st*512+4*j:]
			for k4 := 0; k4 < 8; k4++ {
				copy(dst[64*k4:64*k4+4], src[4*k4:4*k4+4])
			}
			db := d[st/8]
			dx[st*16+j] = db
			mx[st*16+j] = db * float32(int32(bs[2*st])+int32(bs[2*st+1]))
			dx16[2*st*16+j], dx16[(2*st+1)*16+j] = db, db
			mx16[2*st*16+j] = db * float32(bs[2*st])
			mx16[(2*st+1)*16+j] = db * float32(bs[2*st+1])
		}
	}
}

// amxSteps returns the number of 32-code steps of a row of n elements for
// kind k.
func amxSteps(n int, k ActKind) int {
	if k == ActQ8K {
		return n / 256 * 8
	}
	return n / 32
}

func amxPack(xs []Vec, k ActKind) {
	if k != ActQ8 && k != ActQ8K {
		return
	}
	for g := 0; g+16 <= len(xs); g += 16 {
		n := len(xs[g].F)
		steps := amxSteps(n, k)
		if steps == 0 {
			continue
		}
		v := &xs[g]
		v.pack = grow(v.pack, amxPackBytes(steps, k))
		if k == ActQ8 {
			packQ8Group(v.pack, xs[g:g+16], steps)
		} else {
			packQ8KGroup(v.pack, xs[g:g+16], n/256)
		}
		v.packed, v.packFmt = true, packAMX
	}
}

type amxScratch struct {
	a     []byte           // unpacked weight tile
	dw    []float32        // weight scales, [step][16]
	mw    []float32        // weight min or offset terms, [step][16]
	pack  []byte           // activation packs made here
	packs []unsafe.Pointer // each activation group's pack
	out   [256]float32
	cbuf  [256]int32
	args  amxArgs
}

var amxPool = sync.Pool{New: func() any { return new(amxScratch) }}

// amxType says how amxMatMul brings weights of one type to the tile unit:
// unpack turns a row into codes (one byte each, element order) with the
// per-step scales at dw and min or offset terms at mw (both stepping by 64
// bytes: sixteen rows interleave), or is nil for Q8_0, whose codes are
// used in place; step is the codes per kernel step (16 for the types with
// 16-code groups); kernel is the tile kernel.
type amxType struct {
	unpack func(dst, w *byte, dw, mw *float32, nb int)
	step   int
	kernel func(*amxArgs)
}

// noMin adapts an unpacker of a type without minimum terms.
func noMin(f func(dst, w *byte, dw *float32, nb int)) func(dst, w *byte, dw, mw *float32, nb int) {
	return func(dst, w *byte, dw, _ *float32, nb int) { f(dst, w, dw, nb) }
}

// amxTypes are the weight types with a tile kernel.
var amxTypes = map[format.DType]amxType{
	format.Q8_0:   {nil, 32, amxQ8},
	format.Q4_0:   {noMin(unpackQ4_0), 32, amxQ4},
	format.Q5_0:   {noMin(unpackQ5_0), 32, amxQ8}, // signed codes, as Q8_0's
	format.IQ4_NL: {noMin(unpackIQ4NL), 32, amxQ8},
	format.Q4_1:   {unpackQ4_1, 32, amxQ4K}, // codes and min terms, as Q4_K's
	format.Q5_1:   {unpackQ5_1, 32, amxQ4K},
	format.Q4_K:   {unpackQ4_K, 32, amxQ4K},
	format.Q5_K:   {unpackQ5_K, 32, amxQ4K}, // codes 0..31 fit the same kernel
	format.Q6_K:   {unpackQ6_K, 16, amxQ4K},
	format.Q2_K:   {unpackQ2_K, 16, amxQ4K},
	format.Q3_K:   {unpackQ3_K, 16, amxQ4K},
}

func amxMatMul(t format.DType) MatMul4Func {
	at := amxTypes[t]
	k := KindOf(t) // activation kind, elements and bytes per block
	bs, bb := Block(k), t.BlockBytes()
	return func(w []byte, rowBytes, r0, r1 int, xs []Vec, out []float32, stride int) {
		if r0 >= r1 || len(xs) == 0 {
			return
		}
		n := len(xs[0].F)
		nb := n / bs
		steps := amxSteps(n, k)
		groups := len(xs) / 16
		if !blockOperands(w, rowBytes, r0, r1, nb, bb, xs, out, stride) {
			return
		}
		sc := amxPool.Get().(*amxScratch)
		defer amxPool.Put(sc)
		// The activation packs, made here when Pack was not called.
		sc.packs = grow(sc.packs, groups)
		pb := amxPackBytes(steps, k)
		for g := 0; g < groups; g++ {
			v := &xs[16*g]
			if v.packed && v.packFmt == packAMX && len(v.pack) >= pb {
				sc.packs[g] = unsafe.Pointer(&v.pack[0])
				continue
			}
			sc.pack = grow(sc.pack, groups*pb)
			p := sc.pack[g*pb : (g+1)*pb]
			if k == ActQ8 {
				packQ8Group(p, xs[16*g:16*g+16], nb)
			} else {
				packQ8KGroup(p, xs[16*g:16*g+16], nb)
			}
			sc.packs[g] = unsafe.Pointer(&p[0])
		}
		ksteps := steps // kernel steps
		a := &sc.args
		a.cfg, a.bStep = &amxCfg, 512
		dxOff, biasOff := steps*512, steps*576 // in the pack
		if at.step == 16 {
			ksteps = 2 * steps
			a.cfg, a.bStep = &amxCfg16, 256
			dxOff, biasOff = steps*640, steps*768
		}
		sc.dw = grow(sc.dw, 16*ksteps)
		sc.mw = grow(sc.mw, 16*ksteps)
		a.nb = ksteps
		a.mw = unsafe.Pointer(&sc.mw[0])
		a.out = unsafe.Pointer(&sc.out[0])
		a.cbuf = unsafe.Pointer(&sc.cbuf[0])
		a.dw = unsafe.Pointer(&sc.dw[0])
		rEnd := r0 + (r1-r0)&^15
		for r := r0; r < rEnd; r += 16 {
			if at.unpack != nil {
				sc.a = grow(sc.a, 16*n)
				for i := 0; i < 16; i++ {
					at.unpack(&sc.a[i*n], &w[(r+i)*rowBytes], &sc.dw[i], &sc.mw[i], nb)
				}
				a.a, a.aStride, a.aStep = unsafe.Pointer(&sc.a[0]), n, at.step
			} else {
				for i := 0; i < 16; i++ {
					scalesF16(&w[(r+i)*rowBytes], bb, &sc.dw[i], nb)
				}
				a.a, a.aStride, a.aStep = unsafe.Pointer(&w[r*rowBytes+2]), rowBytes, bb
			}
			for g, pk := range sc.packs[:groups] {
				a.b, a.dx, a.bias = pk, unsafe.Add(pk, dxOff), unsafe.Add(pk, biasOff)
				at.kernel(a)
				for j := 0; j < 16; j++ {
					o := out[(16*g+j)*stride+r:]
					for i := 0; i < 16; i++ {
						o[i] = sc.out[16*i+j]
					}
				}
			}
		}
		if rEnd < r1 {
			if mm4 := AVX512VNNI.MatMul4[t]; mm4 != nil {
				for g := 0; g < len(xs); g += 4 {
					mm4(w, rowBytes, rEnd, r1, xs[g:g+4], out[g*stride:], stride)
				}
			} else {
				AVX512VNNI.MatMulRows(t, w, rowBytes, rEnd, r1, xs, out, stride)
			}
		}
		a.a, a.b, a.dx, a.bias, a.dw, a.out, a.cbuf, a.mw = nil, nil, nil, nil, nil, nil, nil, nil
		clear(sc.packs[:groups])
	}
}
