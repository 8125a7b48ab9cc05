package quantize

// K-quants (ggml's "k-quants", llama.cpp PR #1684): 256-element super-blocks
// split into sub-blocks of 16 (Q2_K, Q3_K, Q6_K) or 32 (Q4_K, Q5_K)
// elements. Each sub-block has its own scale (and, for Q2_K, Q4_K and Q5_K,
// its own min); those are themselves quantized to 4, 6 or 8 bits against
// one or two f16 super-block scales d and dmin. Layouts follow
// ggml-common.h (block_q2_K .. block_q6_K); decoding reproduces
// dequantize_row_q2_K .. dequantize_row_q6_K and encoding reproduces
// quantize_row_qN_K_ref (no importance) and quantize_row_qN_K_impl (with an
// importance row) of ggml/src/ggml-quants.c, float32 operation for float32
// operation, so that shrink writes the same bytes llama-quantize does when
// ggml is built without FMA contraction.

import (
	"encoding/binary"
	"fmt"

	"github.com/shrink-llm/shrink/format"
)

// kqSuper is ggml's QK_K, the number of elements in a K-quant super-block.
const kqSuper = 256

// Bytes per super-block (sizeof(block_qN_K) in ggml-common.h).
const (
	q2KBytes = 84
	q3KBytes = 110
	q4KBytes = 144
	q5KBytes = 176
	q6KBytes = 210
)

func init() {
	register(kCodec{format.Q2_K, q2KBytes, encodeQ2KRef, encodeQ2KImpl, decodeQ2K})
	register(kCodec{format.Q3_K, q3KBytes, encodeQ3KRef, encodeQ3KImpl, decodeQ3K})
	register(kCodec{format.Q4_K, q4KBytes, encodeQ4KRef, encodeQ4KImpl, decodeQ4K})
	register(kCodec{format.Q5_K, q5KBytes, encodeQ5KRef, encodeQ5KImpl, decodeQ5K})
	register(kCodec{format.Q6_K, q6KBytes, encodeQ6KRef, encodeQ6KImpl, decodeQ6K})
}

// kCodec is the Codec of one K-quant type: per-super-block functions for
// the reference encoder, the importance-weighted encoder and the decoder.
type kCodec struct {
	typ    format.DType
	bytes  int
	ref    func(dst []byte, x []float32)
	impl   func(dst []byte, x, qw []float32)
	decode func(dst []float32, src []byte)
}

// Type returns the storage type.
func (c kCodec) Type() format.DType { return c.typ }

// Encode quantizes src (a multiple of 256 elements) into dst, super-block
// by super-block, as quantize_row_qN_K_ref (imp == nil) or
// quantize_row_qN_K_impl (imp != nil, len(imp) == len(src)). Mismatched
// lengths are programming errors and panic.
func (c kCodec) Encode(dst []byte, src, imp []float32) {
	nb := c.check(len(src), len(dst))
	if imp != nil && len(imp) != len(src) {
		panic(fmt.Sprintf("quantize: %s: %d importances for %d elements", c.typ, len(imp), len(src)))
	}
	for i := 0; i < nb; i++ {
		x := src[i*kqSuper : (i+1)*kqSuper]
		b := dst[i*c.bytes : (i+1)*c.bytes]
		if imp == nil {
			c.ref(b, x)
		} else {
			c.impl(b, x, imp[i*kqSuper:(i+1)*kqSuper])
		}
	}
}

// Decode dequantizes src into dst (len(dst) a multiple of 256, src exactly
// its bytes) as dequantize_row_qN_K does. Every byte pattern decodes (f16
// NaN/Inf scales give NaN/Inf values, as in ggml); mismatched lengths panic.
func (c kCodec) Decode(dst []float32, src []byte) {
	nb := c.check(len(dst), len(src))
	for i := 0; i < nb; i++ {
		c.decode(dst[i*kqSuper:(i+1)*kqSuper], src[i*c.bytes:(i+1)*c.bytes])
	}
}

// check validates a row of n elements stored in nbytes bytes and returns
// its number of super-blocks.
func (c kCodec) check(n, nbytes int) int {
	if n%kqSuper != 0 {
		panic(fmt.Sprintf("quantize: %s: %d elements is not a multiple of %d", c.typ, n, kqSuper))
	}
	nb := n / kqSuper
	if nbytes != nb*c.bytes {
		panic(fmt.Sprintf("quantize: %s: %d elements need %d bytes, have %d", c.typ, n, nb*c.bytes, nbytes))
	}
	return nb
}

// f16 reads the little-endian f16 at b[0:2] as float32 (GGML_FP16_TO_FP32),
// through f16Table.
func f16(b []byte) float32 { return f16Table()[binary.LittleEndian.Uint16(b)] }

// putF16 stores v at b[0:2] as little-endian f16 (GGML_FP32_TO_FP16) and
// returns the stored value read back, as ggml re-reads it.
func putF16(b []byte, v float32) float32 {
	h := format.F32ToF16(v)
	binary.LittleEndian.PutUint16(b, h)
	return format.F16ToF32(h)
}

// kqScaleMin is ggml's get_scale_min_k4: the 6-bit scale and min of
// sub-block j (0..7) from the 12 packed bytes q of Q4_K/Q5_K.
func kqScaleMin(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return (q[j+4] & 0xF) | ((q[j-4] >> 6) << 4), (q[j+4] >> 4) | ((q[j] >> 6) << 4)
}

// kqPutScaleMin packs the 6-bit scale ls and min lm of sub-block j into q
// (the inverse of kqScaleMin), as the Q4_K/Q5_K quantizers do. For j >= 4
// it ORs into bytes already written for j-4, so j must go 0..7 in order
// over a zeroed q.
func kqPutScaleMin(j int, q []byte, ls, lm uint8) {
	if j < 4 {
		q[j] = ls
		q[j+4] = lm
		return
	}
	q[j+4] = (ls & 0xF) | ((lm & 0xF) << 4)
	q[j-4] |= (ls >> 4) << 6
	q[j] |= (lm >> 4) << 6
}

// kqQ3Scale returns the signed 6-bit scale (-32..31) of group j (0..15)
// from Q3_K's 12 packed scale bytes: low nibble in scales[j] (j < 8) or
// high nibble of scales[j-8], top two bits in scales[8+j%4] at bit 2*(j/4).
func kqQ3Scale(j int, s []byte) int8 {
	var lo uint8
	if j < 8 {
		lo = s[j] & 0xF
	} else {
		lo = s[j-8] >> 4
	}
	return int8(lo|((s[8+j%4]>>(2*(j/4)))&3)<<4) - 32
}

// kqPutQ3Scale ORs the 6-bit code l (0..63) of group j into Q3_K's zeroed
// 12 scale bytes (quantize_row_q3_K_ref's packing).
func kqPutQ3Scale(j int, s []byte, l uint8) {
	if j < 8 {
		s[j] = l & 0xF
	} else {
		s[j-8] |= (l & 0xF) << 4
	}
	s[8+j%4] |= (l >> 4) << (2 * (j / 4))
}

// kqPack2 packs 2-bit codes L[0:256] into qs[0:64] the Q2_K/Q3_K way:
// in each half h, qs[32h+l] holds L[128h+l], L[128h+l+32], L[128h+l+64],
// L[128h+l+96] at bits 0, 2, 4, 6.
func kqPack2(qs []byte, L []uint8) {
	for j := 0; j < kqSuper; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}
