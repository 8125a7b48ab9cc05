// Package kernel holds the hot loops of shrink's reference runtime: dot
// products of one stored weight row (F32, F16, BF16 or a GGML block type)
// with one activation row, activation quantization to 8-bit blocks, and the
// float vector primitives attention needs.
//
// As in llama.cpp's CPU backend (ggml/src/ggml-cpu, type_traits_cpu), weights
// of an integer-dot-product type multiply against activations quantized to
// 8-bit blocks: the 32-element types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL)
// against Q8_0-style blocks (an f16-rounded scale, 32 int8 codes and, for the
// types with a minimum, the block's scaled code sum as in Q8_1), the K-quants
// (Q2_K..Q6_K) and the 256-element i-quants (IQ4_XS, IQ3_XXS, IQ3_S, IQ2_XXS,
// IQ2_XS, IQ2_S, IQ1_S, IQ1_M) against
// Q8_K-style super-blocks (a float32 scale, 256 int8
// codes and the sums of each 16 codes). Float weights multiply against the
// float activations directly.
//
// Implementations are kept in a small registry, in the style of the standard
// library's crypto/internal/impl: a pure-Go implementation of every kernel
// (Generic) is always built and registered; architecture-specific versions
// register themselves from files with build tags, report whether the running
// CPU supports them, and may leave entries nil, which fall back to the
// generic kernel. Active returns the merged table that the runtime uses;
// Impls lists every registered implementation so tests can run each of them.
//
// The implementations, chosen at run time from the CPU's features (read
// with a CPUID/XGETBV stub on amd64 and the auxiliary vector on arm64):
//
//   - avx2 (AVX2+FMA+F16C): dot products of every weight type following
//     ggml's AVX2 kernels (VPMADDUBSW/VPMADDWD per block; IQ4_NL and IQ4_XS
//     through a VPSHUFB table; the grid i-quants IQ3_XXS, IQ3_S, IQ2_XXS,
//     IQ2_XS, IQ2_S, IQ1_S and IQ1_M through broadcast loads from their
//     grids per group of eight, see iqgrid_amd64.s; IQ3_S by VPGATHERDD and
//     IQ1_S, IQ1_M, IQ2_S, IQ2_XS with indices and scales built per
//     super-block in vector registers, one super-block ahead, see
//     iqgridvec_amd64.s), DotF32 and Axpy, and four-row matrix kernels
//     (MatMul4: Q8_0, Q4_0, Q4_K, Q6_K, F16) that unpack each weight block
//     once for four activation rows; register-tiled prefill kernels
//     (MatMul16: Q8_0, Q4_0) of 8 weight rows x 4 activation rows, each
//     16-row weight tile unpacked once to bytes for all the activations
//     (see tile_amd64.go); the grid i-quants' prefill (MatMul16: each weight
//     row unpacked once to signed bytes and scale words, then multiplied
//     with four activation rows per step by VPSIGNB/VPMADDUBSW/VPMADDWD,
//     see iqunpack.go; the AVX-512 VNNI implementation uses it too); the 6x16 FMA register tile of the
//     training products (GemmTile, see gemm.go).
//   - avx512vnni (AVX-512 F/BW/VL/VBMI + VNNI): many-row matrix-vector
//     kernels (MatVec, the decode path; Dot through them) for every
//     integer type (IQ4_XS a super-block per step:
//     VPERMB table, VPDPBUSD, scales by VPERMD/VPMULLD; the grid i-quants
//     a 64-element pair of sub-blocks per register: the points broadcast
//     by merge-masked VPBROADCASTQ/D, the signs loaded into a mask for a
//     masked VPSUBB on the codes, VPMADDUBSW and VPDPWSSD with the scales
//     spread by VPERMW, index words, sign bytes and shift masks built one
//     super-block ahead, see vnni_iqgrid_amd64.s):
//     Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and IQ4_NL four blocks per
//     step (VPDPBUSD; scales and codes gathered with VPERMW/VPERMT2B/VPERMB),
//     Q2_K..Q6_K a 64-code chunk per register (Q5_K and Q6_K with GFNI's
//     GF2P8AFFINEQB for the high bits, where present), BF16 widened
//     to float32 for FMA; four-row kernels (MatMul4) for Q4_0,
//     Q4_K, and 4x4 register tiles for F16 and BF16; the prefill tiles
//     (MatMul16) of Q8_0 and Q4_0 as AVX2's but 16 weight rows x 8
//     activation rows by VPDPBUSD, the path of CPUs without AMX; and the activation
//     quantizations (bit-identical to the generic ones); the 8x32 register
//     tile of the training products (GemmTile, A broadcast by the FMA
//     itself). Entries are added from files of their own through addVNNI.
//   - amx (AMX-INT8, Linux): batches of sixteen activation rows against
//     weights of every integer type but the 256-element i-quants (IQ4_XS
//     and the grid types) on the tile unit (MatMul16): each
//     group of sixteen weight rows unpacked once to bytes with per-block
//     (or per-group) scale and minimum terms, then multiplied against every
//     activation batch; the activations packed once per batch (Pack,
//     through Impl.Prepare).
//   - neon and neondot (arm64; SDOT where FEAT_DotProd is present): dot
//     products of the integer types Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL,
//     Q2_K..Q6_K and the 256-element i-quants (IQ4_XS by TBL; the grid
//     types IQ3_XXS, IQ3_S, IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S and IQ1_M with
//     each group of eight built from its grid point and a sign mask or
//     IQ1's shift, see neon_iq_arm64.s) and of F16 weights, DotF32 and
//     Axpy, mirroring the generic code step by step (SMULL/SADALP or SDOT
//     per block); the 8x12 register tile of the training products
//     (GemmTile, FMLA by element); SiLUMul and ExpShift with the
//     exponential of silu.go four lanes at a time (see silu_arm64.s);
//     DotRows and AxpyRows through DotF32 and Axpy. Entries are added
//     from files of their own through addNEON.
//
// The purego build tag (or an architecture without assembly) leaves only
// Generic.
package kernel

import (
	"fmt"
	"sync"

	"github.com/shrink-llm/shrink/format"
)

// ActKind is the activation format a weight type's dot product consumes.
type ActKind uint8

const (
	// ActFloat: float32 activations (weights F32, F16, BF16).
	ActFloat ActKind = iota
	// ActQ8: Q8_0-style 32-element blocks (legacy types and IQ4_NL).
	ActQ8
	// ActQ8K: Q8_K-style 256-element super-blocks (K-quants, IQ4_XS,
	// IQ3_XXS, IQ3_S, IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S, IQ1_M).
	ActQ8K
	// ActNone: the type has no kernel.
	ActNone
)

// KindOf returns the activation format that weights of type t multiply
// against, or ActNone when the type has no kernel.
func KindOf(t format.DType) ActKind {
	switch t {
	case format.F32, format.F16, format.BF16:
		return ActFloat
	case format.Q8_0, format.Q4_0, format.Q4_1, format.Q5_0, format.Q5_1, format.IQ4_NL:
		return ActQ8
	case format.Q2_K, format.Q3_K, format.Q4_K, format.Q5_K, format.Q6_K, format.IQ4_XS, format.IQ3_XXS, format.IQ3_S,
		format.IQ2_XXS, format.IQ2_XS, format.IQ2_S, format.IQ1_S, format.IQ1_M:
		return ActQ8K
	}
	return ActNone
}

// Supported reports whether weights of type t have a dot-product kernel.
func Supported(t format.DType) bool { return KindOf(t) != ActNone }

// Vec is one activation row in the forms the kernels consume. F always holds
// the float values; Q, D, S and BSums hold its quantization when the row was
// prepared with Quantize for ActQ8 or ActQ8K.
type Vec struct {
	F     []float32 // float values, n elements
	Q     []int8    // n codes
	D     []float32 // one scale per block (32 or 256 elements)
	S     []float32 // ActQ8: D[b] times the sum of block b's codes (Q8_1's s)
	BSums []int16   // ActQ8K: sum of each 16 consecutive codes

	// pack is an implementation's packed form of the group of activation
	// rows starting at this one (see Impl.Pack); packed reports whether it
	// is current (Quantize clears it); packFmt says whose layout it is.
	pack    []byte
	packed  bool
	packFmt uint8
}

// The layouts of Vec.pack.
const (
	packAMX  = 1 + iota // amxPack's, for the AMX tile kernels
	packVNNI            // tilePack's, for the AVX-512 VNNI and AVX2 tile kernels
)

// Block returns the activation block size of kind k (1 for ActFloat).
func Block(k ActKind) int {
	switch k {
	case ActQ8:
		return 32
	case ActQ8K:
		return 256
	}
	return 1
}

// DotFunc is the dot product of one stored weight row w (exactly the bytes of
// len(x.F) elements of its type) with the activation row x, prepared in the
// weight type's ActKind.
type DotFunc func(w []byte, x *Vec) float32

// Impl is one implementation of the kernels. Entries left nil are taken from
// Generic.
type Impl struct {
	// Name identifies the implementation ("generic", "avx2", ...).
	Name string
	// Available reports whether the running CPU can execute it.
	Available bool
	// Dot holds the weight-row dot product of each weight type.
	Dot [format.NumDTypes]DotFunc
	// QuantQ8 quantizes x (len a multiple of 32) into v.Q, v.D, v.S.
	QuantQ8 func(v *Vec, x []float32)
	// QuantQ8K quantizes x (len a multiple of 256) into v.Q, v.D, v.BSums.
	QuantQ8K func(v *Vec, x []float32)
	// DotF32 returns the dot product of two float32 vectors of equal length.
	DotF32 func(a, b []float32) float32
	// Axpy adds a*x to y (len(y) >= len(x)).
	Axpy func(a float32, x, y []float32)
	// SiLUMul sets g[i] = silu(g[i]) * u[i] (len(u) >= len(g)): the
	// SwiGLU activation (see silu.go).
	SiLUMul func(g, u []float32)
	// DotRows sets out[p] = x · m[p*stride : p*stride+len(x)] for
	// p < len(out): attention scores of one head (see attn.go).
	DotRows func(x, m []float32, stride int, out []float32)
	// AxpyRows adds w[p] * m[p*stride : p*stride+len(y)] to y for
	// p < len(w): attention's weighted sum of values.
	AxpyRows func(w, m []float32, stride int, y []float32)
	// ExpShift sets x[i] = e**(x[i]-s) and returns their sum (softmax).
	ExpShift func(x []float32, s float32) float32
	// MatMul4 holds, for some weight types, a matrix product of weight rows
	// against exactly four activation rows that unpacks each weight block
	// once for the four (see MatMul4Func).
	MatMul4 [format.NumDTypes]MatMul4Func
	// MatVec holds, for some weight types, a matrix-vector product (xs of
	// length 1) done in one call for all the rows r0..r1.
	MatVec [format.NumDTypes]MatMul4Func
	// MatMul16 holds, for some weight types, a matrix product against
	// groups of sixteen activation rows (len(xs) a multiple of 16), for
	// matrix engines such as AMX and for register-tiled kernels that
	// unpack each weight tile once for the batch; same contract as
	// MatMul4Func otherwise.
	MatMul16 [format.NumDTypes]MatMul4Func
	// Pack, when set, stores in xs[16g] a packed form of each complete
	// group of sixteen activation rows xs[16g:16g+16] of kind k, which
	// MatMul16 uses instead of packing them itself at every call.
	Pack func(xs []Vec, k ActKind)
	// GemmTile is the register-tiled float32 micro-kernel of the training
	// matrix products (see gemm.go and MatMulF32).
	GemmTile *GemmKernel
}

// MatMul4Func computes, for weight rows r0 <= r < r1 of w (rows of rowBytes
// bytes) and the four activation rows xs[0:4], out[j*stride+r] = dot(row r,
// xs[j]), as Dot would.
type MatMul4Func func(w []byte, rowBytes, r0, r1 int, xs []Vec, out []float32, stride int)

var (
	mu     sync.Mutex
	impls  []*Impl
	active *Impl
)

// Register adds an implementation. It is meant to be called from init
// functions; Generic is always registered first.
func Register(i *Impl) {
	mu.Lock()
	defer mu.Unlock()
	for _, o := range impls {
		if o.Name == i.Name {
			panic("kernel: implementation " + i.Name + " registered twice")
		}
	}
	impls = append(impls, i)
	active = nil
}

// Impls returns every registered implementation, Generic first, including
// those the CPU cannot run (check Available).
func Impls() []*Impl {
	mu.Lock()
	defer mu.Unlock()
	return append([]*Impl(nil), impls...)
}

// Active returns the kernel table the runtime uses: for each entry, the last
// registered available implementation that provides it, else Generic's.
func Active() *Impl {
	mu.Lock()
	defer mu.Unlock()
	if active == nil {
		active = merge(impls)
	}
	return active
}

// Select makes the named implementation (merged over Generic) the active one,
// or restores the default choice for name "". It is meant for tests and
// benchmarks.
func Select(name string) error {
	mu.Lock()
	defer mu.Unlock()
	if name == "" {
		active = merge(impls)
		return nil
	}
	for _, i := range impls {
		if i.Name == name {
			if !i.Available {
				return fmt.Errorf("kernel: implementation %s not supported by this CPU", name)
			}
			active = merge([]*Impl{impls[0], i})
			return nil
		}
	}
	return fmt.Errorf("kernel: no implementation %q", name)
}

func merge(list []*Impl) *Impl {
	m := &Impl{Name: "generic", Available: true}
	names := ""
	for _, i := range list {
		if !i.Available {
			continue
		}
		if names != "" {
			names += "+"
		}
		names += i.Name
		for t, f := range i.Dot {
			if f != nil {
				m.Dot[t] = f
			}
		}
		for t, f := range i.MatMul4 {
			if f != nil {
				m.MatMul4[t] = f
			}
		}
		for t, f := range i.MatMul16 {
			if f != nil {
				m.MatMul16[t] = f
			}
		}
		for t, f := range i.MatVec {
			if f != nil {
				m.MatVec[t] = f
			}
		}
		if i.Pack != nil {
			m.Pack = i.Pack
		}
		if i.GemmTile != nil {
			m.GemmTile = i.GemmTile
		}
		if i.QuantQ8 != nil {
			m.QuantQ8 = i.QuantQ8
		}
		if i.QuantQ8K != nil {
			m.QuantQ8K = i.QuantQ8K
		}
		if i.DotF32 != nil {
			m.DotF32 = i.DotF32
		}
		if i.Axpy != nil {
			m.Axpy = i.Axpy
		}
		if i.SiLUMul != nil {
			m.SiLUMul = i.SiLUMul
		}
		if i.DotRows != nil {
			m.DotRows = i.DotRows
		}
		if i.AxpyRows != nil {
			m.AxpyRows = i.AxpyRows
		}
		if i.ExpShift != nil {
			m.ExpShift = i.ExpShift
		}
	}
	m.Name = names
	return m
}

// Quantize prepares v for kind k from the float row x: v.F is set to x and,
// for ActQ8 and ActQ8K, the codes and scales are computed into v's buffers
// (grown as needed). len(x) must be a multiple of Block(k).
func (im *Impl) Quantize(v *Vec, x []float32, k ActKind) {
	v.F = x
	v.packed = false
	n := len(x)
	switch k {
	case ActQ8:
		v.Q = grow(v.Q, n)
		v.D = grow(v.D, n/32)
		v.S = grow(v.S, n/32)
		im.QuantQ8(v, x)
	case ActQ8K:
		v.Q = grow(v.Q, n)
		v.D = grow(v.D, n/256)
		v.BSums = grow(v.BSums, n/16)
		im.QuantQ8K(v, x)
	}
}

// Prepare packs the activation rows xs (quantized for kind k) for the
// implementation's MatMul16 kernels, when it has any; call it once after
// quantizing a batch that several matrix products will use.
func (im *Impl) Prepare(xs []Vec, k ActKind) {
	if im.Pack != nil && len(xs) >= 16 {
		im.Pack(xs, k)
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// MatMulRows computes, for weight rows r0 <= r < r1 of the matrix w (rows of
// rowBytes bytes of type t) and every activation row xs[j], out[j*stride+r] =
// dot(row r, xs[j]). Groups of sixteen activation rows go through
// MatMul16 and groups of four through MatMul4
// when the type has one (each weight block unpacked once per group, the
// rows r0..r1 staying in cache from one group to the next); the rest take
// each weight row once for all remaining activation rows.
func (im *Impl) MatMulRows(t format.DType, w []byte, rowBytes, r0, r1 int, xs []Vec, out []float32, stride int) {
	if mm16 := im.MatMul16[t]; mm16 != nil && len(xs) >= 16 {
		g := len(xs) &^ 15
		mm16(w, rowBytes, r0, r1, xs[:g], out, stride)
		xs = xs[g:]
		out = out[min(len(out), g*stride):]
	}
	if mm4 := im.MatMul4[t]; mm4 != nil {
		for len(xs) >= 4 {
			mm4(w, rowBytes, r0, r1, xs[:4], out, stride)
			xs = xs[4:]
			out = out[min(len(out), 4*stride):]
		}
	}
	if len(xs) == 0 {
		return
	}
	if mv := im.MatVec[t]; mv != nil {
		for j := range xs {
			mv(w, rowBytes, r0, r1, xs[j:j+1], out[min(len(out), j*stride):], stride)
		}
		return
	}
	dot := im.Dot[t]
	for r := r0; r < r1; r++ {
		row := w[r*rowBytes : (r+1)*rowBytes]
		for j := range xs {
			out[j*stride+r] = dot(row, &xs[j])
		}
	}
}
