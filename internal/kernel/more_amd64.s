//go:build !purego

#include "textflag.h"
#include "avx2_amd64.h"

// AVX2 dot products of the remaining 32-element types and Q5_K (same
// register conventions as dot_amd64.s).

#define F16LOAD(mem, X) \
	MOVWLZX   mem, AX; \
	VMOVD     AX, X;   \
	VCVTPH2PS X, X

#define BCAST8(v, Y, X) \
	MOVL         v, AX; \
	VMOVD        AX, X; \
	VPBROADCASTD X, Y

// NIBBLES32(off) leaves the 32 nibbles of the 16 bytes at off(SI) in Y2,
// low nibbles first (elements 0..15), then high (16..31).
#define NIBBLES32(off) \
	VMOVDQU     off(SI), X2;      \
	VPSRLW      $4, X2, X3;       \
	VINSERTI128 $1, X3, Y2, Y2;   \
	VPAND       Y15, Y2, Y2

// SIGNEDDOT: Y6 = the 8 int32 pair sums of signed weight bytes Y4 times
// the activation bytes at (DI).
#define SIGNEDDOT \
	VMOVDQU    (DI), Y5;       \
	VPSIGNB    Y4, Y5, Y5;     \
	VPSIGNB    Y4, Y4, Y4;     \
	VPMADDUBSW Y5, Y4, Y6;     \
	VPMADDWD   Y14, Y6, Y6

// func dotQ4_1AVX2(w *byte, q *int8, d, s *float32, nb int) float32
TEXT ·dotQ4_1AVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ s+24(FP), BX
	MOVQ nb+32(FP), CX
	BCAST8($0x0f0f0f0f, Y15, X15)
	BCAST8($0x00010001, Y14, X14)
	VXORPS Y0, Y0, Y0
	VXORPS X12, X12, X12
	TESTQ  CX, CX
	JEQ    q41done

q41loop:
	PREFETCHT0   2048(SI)
	F16LOAD(2(SI), X1)
	VFMADD231SS  (BX), X1, X12
	F16SCALE((SI), (DX), X1, Y1)
	NIBBLES32(4)
	VPMADDUBSW   (DI), Y2, Y6
	VPMADDWD     Y14, Y6, Y6
	VCVTDQ2PS    Y6, Y6
	VFMADD231PS  Y6, Y1, Y0
	ADDQ $20, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, BX
	DECQ CX
	JNZ  q41loop

q41done:
	HSUM8(Y0, X0, X1)
	VADDSS X12, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// iq4nl<>: kvalues_iq4nl in both 128-bit lanes, for VPSHUFB.
DATA iq4nl<>+0x00(SB)/8, $0xf6eaddcfbfad9881
DATA iq4nl<>+0x08(SB)/8, $0x7159453526190d01
DATA iq4nl<>+0x10(SB)/8, $0xf6eaddcfbfad9881
DATA iq4nl<>+0x18(SB)/8, $0x7159453526190d01
GLOBL iq4nl<>(SB), RODATA|NOPTR, $32

// func dotIQ4NLAVX2(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotIQ4NLAVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	BCAST8($0x0f0f0f0f, Y15, X15)
	BCAST8($0x00010001, Y14, X14)
	VMOVDQU iq4nl<>(SB), Y13
	VXORPS Y0, Y0, Y0
	TESTQ  CX, CX
	JEQ    iq4done

iq4loop:
	PREFETCHT0   2048(SI)
	F16SCALE((SI), (DX), X1, Y1)
	NIBBLES32(2)
	VPSHUFB      Y2, Y13, Y4
	SIGNEDDOT
	VCVTDQ2PS    Y6, Y6
	VFMADD231PS  Y6, Y1, Y0
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  iq4loop

iq4done:
	HSUM8(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// BITS32(mem): Y7 = 0xFF in byte j where bit j of the 32 bits at mem is
// set (ggml's bytes_from_bits_32). Y11 holds the byte shuffle, Y12 the
// complementary bit masks.
#define BITS32(mem) \
	VPBROADCASTD mem, Y7;      \
	VPSHUFB      Y11, Y7, Y7;  \
	VPOR         Y12, Y7, Y7;  \
	VPCMPEQB     Y10, Y7, Y7

DATA bits32<>+0x00(SB)/8, $0x0000000000000000
DATA bits32<>+0x08(SB)/8, $0x0101010101010101
DATA bits32<>+0x10(SB)/8, $0x0202020202020202
DATA bits32<>+0x18(SB)/8, $0x0303030303030303
DATA bits32<>+0x20(SB)/8, $0x7fbfdfeff7fbfdfe
DATA bits32<>+0x28(SB)/8, $0x7fbfdfeff7fbfdfe
DATA bits32<>+0x30(SB)/8, $0x7fbfdfeff7fbfdfe
DATA bits32<>+0x38(SB)/8, $0x7fbfdfeff7fbfdfe
GLOBL bits32<>(SB), RODATA|NOPTR, $64

#define BITSCONSTS \
	LEAQ     bits32<>(SB), AX; \
	VMOVDQU  (AX), Y11;        \
	VMOVDQU  32(AX), Y12;      \
	VPCMPEQB Y10, Y10, Y10

// func dotQ5_0AVX2(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotQ5_0AVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	BCAST8($0x0f0f0f0f, Y15, X15)
	BCAST8($0x00010001, Y14, X14)
	BCAST8($0xf0f0f0f0, Y13, X13)
	BITSCONSTS
	VXORPS Y0, Y0, Y0
	TESTQ  CX, CX
	JEQ    q50done

q50loop:
	PREFETCHT0   2048(SI)
	F16SCALE((SI), (DX), X1, Y1)
	NIBBLES32(6)
	BITS32(2(SI))
	VPANDN       Y13, Y7, Y7 // 0xF0 where the bit is clear: code-16 as int8
	VPOR         Y7, Y2, Y4
	SIGNEDDOT
	VCVTDQ2PS    Y6, Y6
	VFMADD231PS  Y6, Y1, Y0
	ADDQ $22, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  q50loop

q50done:
	HSUM8(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func dotQ5_1AVX2(w *byte, q *int8, d, s *float32, nb int) float32
TEXT ·dotQ5_1AVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ s+24(FP), BX
	MOVQ nb+32(FP), CX
	BCAST8($0x0f0f0f0f, Y15, X15)
	BCAST8($0x00010001, Y14, X14)
	BCAST8($0x10101010, Y13, X13)
	BITSCONSTS
	VXORPS Y0, Y0, Y0
	VXORPS X9, X9, X9
	TESTQ  CX, CX
	JEQ    q51done

q51loop:
	PREFETCHT0   2048(SI)
	F16LOAD(2(SI), X1)
	VFMADD231SS  (BX), X1, X9
	F16SCALE((SI), (DX), X1, Y1)
	NIBBLES32(8)
	BITS32(4(SI))
	VPAND        Y13, Y7, Y7
	VPOR         Y7, Y2, Y2
	VPMADDUBSW   (DI), Y2, Y6
	VPMADDWD     Y14, Y6, Y6
	VCVTDQ2PS    Y6, Y6
	VFMADD231PS  Y6, Y1, Y0
	ADDQ $24, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, BX
	DECQ CX
	JNZ  q51loop

q51done:
	HSUM8(Y0, X0, X1)
	VADDSS X9, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// Q5_K: as Q4_K (dot_amd64.s) with the fifth bits of chunk c's low and
// high codes taken from bits 2c and 2c+1 of the 32 qh bytes (Y8); Y12
// holds 0x01 bytes.
#define Q5K_CHUNK(c) \
	Q5SPLIT((48+32*c)(SI), (2*c), (2*c+1), Y2, Y3, Y8, Y12, Y6); \
	KCHUNKDOT(c)

// func dotQ5_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32
TEXT ·dotQ5_KAVX2(SB), NOSPLIT, $16-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs+24(FP), BX
	MOVQ nb+32(FP), CX
	BCAST8($0x0f0f0f0f, Y15, X15)
	BCAST8($0x01010101, Y12, X12)
	VXORPS Y0, Y0, Y0
	VXORPS X9, X9, X9
	TESTQ  CX, CX
	JEQ    q5kdone

q5kloop:
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	PREFETCHT0 2176(SI)
	K4SCALES(R10, R9)

	F16SCALE(2(SI), (DX), X10, X10)
	VPMOVZXBW   8(SP), X4
	VMOVDQU     (BX), X5
	VMOVDQU     16(BX), X6
	VPHADDW     X6, X5, X5
	VPMADDWD    X5, X4, X4
	VCVTDQ2PS   X4, X4
	VFMADD231PS X4, X10, X9

	F16SCALE((SI), (DX), X1, Y1)
	VMOVDQU 16(SI), Y8
	VPXOR   Y7, Y7, Y7
	Q5K_CHUNK(0)
	Q5K_CHUNK(1)
	Q5K_CHUNK(2)
	Q5K_CHUNK(3)
	VCVTDQ2PS   Y7, Y7
	VFMADD231PS Y7, Y1, Y0

	ADDQ $176, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  q5kloop

q5kdone:
	HSUM8(Y0, X0, X1)
	VHADDPS X9, X9, X9
	VHADDPS X9, X9, X9
	VSUBSS  X9, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// kshuf<>: for each pair of 16-code groups m, the byte shuffle that
// spreads group scales 2m and 2m+1 over 8 bytes each.
DATA kshuf<>+0x00(SB)/8, $0x0000000000000000
DATA kshuf<>+0x08(SB)/8, $0x0101010101010101
DATA kshuf<>+0x10(SB)/8, $0x0202020202020202
DATA kshuf<>+0x18(SB)/8, $0x0303030303030303
DATA kshuf<>+0x20(SB)/8, $0x0404040404040404
DATA kshuf<>+0x28(SB)/8, $0x0505050505050505
DATA kshuf<>+0x30(SB)/8, $0x0606060606060606
DATA kshuf<>+0x38(SB)/8, $0x0707070707070707
DATA kshuf<>+0x40(SB)/8, $0x0808080808080808
DATA kshuf<>+0x48(SB)/8, $0x0909090909090909
DATA kshuf<>+0x50(SB)/8, $0x0a0a0a0a0a0a0a0a
DATA kshuf<>+0x58(SB)/8, $0x0b0b0b0b0b0b0b0b
DATA kshuf<>+0x60(SB)/8, $0x0c0c0c0c0c0c0c0c
DATA kshuf<>+0x68(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA kshuf<>+0x70(SB)/8, $0x0e0e0e0e0e0e0e0e
DATA kshuf<>+0x78(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL kshuf<>(SB), RODATA|NOPTR, $128

// Q2_K: codes (qs >> 2k) & 3 of 32 consecutive elements times their
// activations, each 16 weighted by its group scale (low nibbles of the
// scales, X10); Y2 holds qs[32h:32h+32].
#define Q2K_STEP(h, k) \
	VPSRLW     $(2*k), Y2, Y3;               \
	VPAND      Y13, Y3, Y3;                  \
	VPMADDUBSW (128*h+32*k)(DI), Y3, Y3;     \
	VPSHUFB    (16*(4*h+k))(R11), X10, X4;   \
	VPMOVZXBW  X4, Y4;                       \
	VPMADDWD   Y4, Y3, Y3;                   \
	VPADDD     Y3, Y7, Y7

// func dotQ2_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32
TEXT ·dotQ2_KAVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs+24(FP), BX
	MOVQ nb+32(FP), CX
	LEAQ kshuf<>(SB), R11
	BCAST8($0x0f0f0f0f, Y15, X15)
	BCAST8($0x03030303, Y13, X13)
	VXORPS Y0, Y0, Y0
	VXORPS Y9, Y9, Y9
	TESTQ  CX, CX
	JEQ    q2kdone

q2kloop:
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	VMOVDQU      (SI), X11
	VPAND        X15, X11, X10     // group scales
	VPSRLW       $4, X11, X11
	VPAND        X15, X11, X11     // group mins
	VPMOVZXBW    X11, Y11
	VPMADDWD     (BX), Y11, Y11
	VCVTDQ2PS    Y11, Y11
	F16SCALE(82(SI), (DX), X12, Y12)
	VFMADD231PS  Y11, Y12, Y9      // dmin*dx*sum(min*bsum)
	VPXOR        Y7, Y7, Y7
	VMOVDQU      16(SI), Y2
	Q2K_STEP(0, 0)
	Q2K_STEP(0, 1)
	Q2K_STEP(0, 2)
	Q2K_STEP(0, 3)
	VMOVDQU      48(SI), Y2
	Q2K_STEP(1, 0)
	Q2K_STEP(1, 1)
	Q2K_STEP(1, 2)
	Q2K_STEP(1, 3)
	F16SCALE(80(SI), (DX), X1, Y1)
	VCVTDQ2PS    Y7, Y7
	VFMADD231PS  Y7, Y1, Y0
	ADDQ $84, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  q2kloop

q2kdone:
	VSUBPS Y9, Y0, Y0
	HSUM8(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// Q3_K: unsigned codes ((qs >> 2k) & 3) | (hmask bit 4h+k) << 2, which are
// the generic codes plus 4; the 4 comes off through the activations' group
// sums. X10 holds the 16 signed group scales.
#define Q3K_STEP(h, k) \
	VPSRLW     $(2*k), Y2, Y3;               \
	VPAND      Y13, Y3, Y3;                  \
	VPSRLW     $(4*h+k), Y8, Y4;             \
	VPAND      Y12, Y4, Y4;                  \
	VPSLLW     $2, Y4, Y4;                   \
	VPOR       Y4, Y3, Y3;                   \
	VPMADDUBSW (128*h+32*k)(DI), Y3, Y3;     \
	VPSHUFB    (16*(4*h+k))(R11), X10, X4;   \
	VPMOVSXBW  X4, Y4;                       \
	VPMADDWD   Y4, Y3, Y3;                   \
	VPADDD     Y3, Y7, Y7

// func dotQ3_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32
TEXT ·dotQ3_KAVX2(SB), NOSPLIT, $16-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs+24(FP), BX
	MOVQ nb+32(FP), CX
	LEAQ kshuf<>(SB), R11
	BCAST8($0x03030303, Y13, X13)
	BCAST8($0x01010101, Y12, X12)
	BCAST8($0x20202020, Y14, X14)
	VXORPS Y0, Y0, Y0
	TESTQ  CX, CX
	JEQ    q3kdone

q3kloop:
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	// the 16 six-bit scales (ggml's aux trick), minus 32
	K3SCALES(AX, R8, R9, R10, R12)
	VMOVDQU   0(SP), X10
	VPSUBB    X14, X10, X10
	// -4 * sum(scale * bsum) starts the integer sum
	VPMOVSXBW X10, Y11
	VPMADDWD  (BX), Y11, Y11
	VPSLLD    $2, Y11, Y11
	VPXOR     Y7, Y7, Y7
	VPSUBD    Y11, Y7, Y7
	VMOVDQU   (SI), Y8 // hmask
	VMOVDQU   32(SI), Y2
	Q3K_STEP(0, 0)
	Q3K_STEP(0, 1)
	Q3K_STEP(0, 2)
	Q3K_STEP(0, 3)
	VMOVDQU   64(SI), Y2
	Q3K_STEP(1, 0)
	Q3K_STEP(1, 1)
	Q3K_STEP(1, 2)
	Q3K_STEP(1, 3)
	F16SCALE(108(SI), (DX), X1, Y1)
	VCVTDQ2PS    Y7, Y7
	VFMADD231PS  Y7, Y1, Y0
	ADDQ $110, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  q3kloop

q3kdone:
	HSUM8(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET
