//go:build !purego

#include "textflag.h"
#include "avx2_amd64.h"

// AVX2 + FMA + F16C kernels. Register conventions: Y15 holds 0x0F in every
// byte, Y14 the int16 value 1 in every word, Y13 0x30 in every byte.

#define CONSTS \
	MOVL         $0x0f0f0f0f, AX; \
	VMOVD         AX, X15;         \
	VPBROADCASTD X15, Y15;        \
	MOVL         $0x00010001, AX; \
	VMOVD         AX, X14;         \
	VPBROADCASTD X14, Y14;        \
	MOVL         $0x30303030, AX; \
	VMOVD         AX, X13;         \
	VPBROADCASTD X13, Y13

// func dotQ8_0AVX2(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	CONSTS
	VXORPS Y0, Y0, Y0
	VXORPS Y8, Y8, Y8
	CMPQ   CX, $2
	JLT    q8tail

q8loop2:
	PREFETCHT0  2048(SI)
	PREFETCHT0  2112(SI)
	F16SCALE((SI), (DX), X1, Y1)
	VMOVDQU    2(SI), Y2
	VMOVDQU    (DI), Y3
	VPSIGNB    Y2, Y2, Y4
	VPSIGNB    Y2, Y3, Y5
	VPMADDUBSW Y5, Y4, Y6
	VPMADDWD   Y14, Y6, Y6
	VCVTDQ2PS  Y6, Y6
	VFMADD231PS Y6, Y1, Y0
	F16SCALE(34(SI), 4(DX), X9, Y9)
	VMOVDQU    36(SI), Y10
	VMOVDQU    32(DI), Y11
	VPSIGNB    Y10, Y10, Y12
	VPSIGNB    Y10, Y11, Y7
	VPMADDUBSW Y7, Y12, Y6
	VPMADDWD   Y14, Y6, Y6
	VCVTDQ2PS  Y6, Y6
	VFMADD231PS Y6, Y9, Y8
	ADDQ $68, SI
	ADDQ $64, DI
	ADDQ $8, DX
	SUBQ $2, CX
	CMPQ CX, $2
	JGE  q8loop2

q8tail:
	TESTQ CX, CX
	JEQ   q8done
	F16SCALE((SI), (DX), X1, Y1)
	VMOVDQU    2(SI), Y2
	VMOVDQU    (DI), Y3
	VPSIGNB    Y2, Y2, Y4
	VPSIGNB    Y2, Y3, Y5
	VPMADDUBSW Y5, Y4, Y6
	VPMADDWD   Y14, Y6, Y6
	VCVTDQ2PS  Y6, Y6
	VFMADD231PS Y6, Y1, Y0

q8done:
	VADDPS Y8, Y0, Y0
	HSUM8(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func dotQ4_0AVX2(w *byte, q *int8, d, s *float32, nb int) float32
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ s+24(FP), BX
	MOVQ nb+32(FP), CX
	CONSTS
	VXORPS Y0, Y0, Y0
	VXORPS Y8, Y8, Y8
	VXORPS X12, X12, X12
	TESTQ  CX, CX
	JEQ    q4done

q4loop:
	PREFETCHT0   2048(SI)
	MOVWLZX      (SI), AX
	VMOVD         AX, X1
	VCVTPH2PS    X1, X1
	VFMADD231SS  (BX), X1, X12
	VMULSS       (DX), X1, X1
	VBROADCASTSS X1, Y1
	VMOVDQU      2(SI), X2
	VPSRLW       $4, X2, X3
	VINSERTI128  $1, X3, Y2, Y2
	VPAND        Y15, Y2, Y2
	VPMADDUBSW   (DI), Y2, Y6
	VPMADDWD     Y14, Y6, Y6
	VCVTDQ2PS    Y6, Y6
	VFMADD231PS  Y6, Y1, Y0
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, BX
	DECQ CX
	JNZ  q4loop

q4done:
	HSUM8(Y0, X0, X1)
	MOVL  $0x41000000, AX // 8.0
	VMOVD  AX, X2
	VMULSS X2, X12, X12
	VSUBSS X12, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// Q4_K super-block: d, dmin (f16), 12 bytes of packed 6-bit scales and
// mins, 128 bytes of nibbles. The scales and mins are unpacked into 16
// bytes of stack: scales at 0(SP), mins at 8(SP).
#define Q4K_CHUNK(c) \
	NIBSPLIT((16+32*c)(SI), Y2, Y3); \
	KCHUNKDOT(c)

// func dotQ4_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32
TEXT ·dotQ4_KAVX2(SB), NOSPLIT, $16-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs+24(FP), BX
	MOVQ nb+32(FP), CX
	CONSTS
	VXORPS Y0, Y0, Y0
	VXORPS X9, X9, X9
	TESTQ  CX, CX
	JEQ    q4kdone

q4kloop:
	PREFETCHT0  2048(SI)
	PREFETCHT0  2112(SI)
	PREFETCHT0  2176(SI)
	K4SCALES(R10, R9)

	// mins against the pair sums of bsums
	F16SCALE(2(SI), (DX), X10, X10)
	VPMOVZXBW   8(SP), X4
	VMOVDQU     (BX), X5
	VMOVDQU     16(BX), X6
	VPHADDW     X6, X5, X5
	VPMADDWD    X5, X4, X4
	VCVTDQ2PS   X4, X4
	VFMADD231PS X4, X10, X9

	F16SCALE((SI), (DX), X1, Y1)
	VPXOR Y7, Y7, Y7
	Q4K_CHUNK(0)
	Q4K_CHUNK(1)
	Q4K_CHUNK(2)
	Q4K_CHUNK(3)
	VCVTDQ2PS   Y7, Y7
	VFMADD231PS Y7, Y1, Y0

	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  q4kloop

q4kdone:
	HSUM8(Y0, X0, X1)
	VHADDPS X9, X9, X9
	VHADDPS X9, X9, X9
	VSUBSS  X9, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// q6shuf<>: for each 32-code quarter m of a Q6_K super-block, the byte
// shuffle that spreads its two 16-code group scales (2m, 2m+1) over 8 lanes
// each.
DATA q6shuf<>+0x00(SB)/8, $0x0000000000000000
DATA q6shuf<>+0x08(SB)/8, $0x0101010101010101
DATA q6shuf<>+0x10(SB)/8, $0x0202020202020202
DATA q6shuf<>+0x18(SB)/8, $0x0303030303030303
DATA q6shuf<>+0x20(SB)/8, $0x0404040404040404
DATA q6shuf<>+0x28(SB)/8, $0x0505050505050505
DATA q6shuf<>+0x30(SB)/8, $0x0606060606060606
DATA q6shuf<>+0x38(SB)/8, $0x0707070707070707
DATA q6shuf<>+0x40(SB)/8, $0x0808080808080808
DATA q6shuf<>+0x48(SB)/8, $0x0909090909090909
DATA q6shuf<>+0x50(SB)/8, $0x0a0a0a0a0a0a0a0a
DATA q6shuf<>+0x58(SB)/8, $0x0b0b0b0b0b0b0b0b
DATA q6shuf<>+0x60(SB)/8, $0x0c0c0c0c0c0c0c0c
DATA q6shuf<>+0x68(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA q6shuf<>+0x70(SB)/8, $0x0e0e0e0e0e0e0e0e
DATA q6shuf<>+0x78(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL q6shuf<>(SB), RODATA|NOPTR, $128

// Q6K_QUARTER multiplies the 6-bit codes in Y5 with 32 activation codes at
// act and scale shuffle m, accumulating into Y7.
#define Q6K_QUARTER(act, m) \
	VPMADDUBSW act, Y5, Y5;                 \
	VPSHUFB    (16*m)(R11), X10, X6;        \
	VPMOVSXBW  X6, Y6;                      \
	VPMADDWD   Y6, Y5, Y5;                  \
	VPADDD     Y5, Y7, Y7

#define Q6K_HALF(h) \
	VMOVDQU (64*h)(SI), Y2;         \
	VMOVDQU (64*h+32)(SI), Y3;      \
	VMOVDQU (128+32*h)(SI), Y4;     \
	VPAND   Y15, Y2, Y5;            \
	VPSLLW  $4, Y4, Y6;             \
	VPAND   Y13, Y6, Y6;            \
	VPOR    Y6, Y5, Y5;             \
	Q6K_QUARTER((128*h)(DI), (4*h));     \
	VPAND   Y15, Y3, Y5;            \
	VPSLLW  $2, Y4, Y6;             \
	VPAND   Y13, Y6, Y6;            \
	VPOR    Y6, Y5, Y5;             \
	Q6K_QUARTER((128*h+32)(DI), (4*h+1)); \
	VPSRLW  $4, Y2, Y5;             \
	VPAND   Y15, Y5, Y5;            \
	VPAND   Y13, Y4, Y6;            \
	VPOR    Y6, Y5, Y5;             \
	Q6K_QUARTER((128*h+64)(DI), (4*h+2)); \
	VPSRLW  $4, Y3, Y5;             \
	VPAND   Y15, Y5, Y5;            \
	VPSRLW  $2, Y4, Y6;             \
	VPAND   Y13, Y6, Y6;            \
	VPOR    Y6, Y5, Y5;             \
	Q6K_QUARTER((128*h+96)(DI), (4*h+3))

// func dotQ6_KAVX2(w *byte, q *int8, d *float32, bs *int16, nb int) float32
TEXT ·dotQ6_KAVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ bs+24(FP), BX
	MOVQ nb+32(FP), CX
	LEAQ q6shuf<>(SB), R11
	CONSTS
	VXORPS Y0, Y0, Y0
	TESTQ  CX, CX
	JEQ    q6kdone

q6kloop:
	PREFETCHT0  2048(SI)
	PREFETCHT0  2112(SI)
	PREFETCHT0  2176(SI)
	PREFETCHT0  2240(SI)
	F16SCALE(208(SI), (DX), X1, Y1)
	VMOVDQU   192(SI), X10
	VPMOVSXBW X10, Y11
	VPMADDWD  (BX), Y11, Y12
	VPSLLD    $5, Y12, Y12
	VPXOR     Y7, Y7, Y7
	VPSUBD    Y12, Y7, Y7
	Q6K_HALF(0)
	Q6K_HALF(1)
	VCVTDQ2PS   Y7, Y7
	VFMADD231PS Y7, Y1, Y0
	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  q6kloop

q6kdone:
	HSUM8(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET

// func dotF16AVX2(w *uint16, f *float32, n int) float32 (n a multiple of 8)
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ f+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ   CX, $32
	JLT    f16tail

f16loop:
	PREFETCHT0  2048(SI)
	VCVTPH2PS   (SI), Y4
	VCVTPH2PS   16(SI), Y5
	VCVTPH2PS   32(SI), Y6
	VCVTPH2PS   48(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $32, CX
	CMPQ CX, $32
	JGE  f16loop

f16tail:
	CMPQ CX, $8
	JLT  f16done
	VCVTPH2PS   (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $16, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  f16tail

f16done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM8(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotBF16AVX2(w *uint16, f *float32, n int) float32 (n a multiple of 8)
TEXT ·dotBF16AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ f+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	CMPQ   CX, $16
	JLT    bf16tail

bf16loop:
	PREFETCHT0  2048(SI)
	VPMOVZXWD   (SI), Y4
	VPMOVZXWD   16(SI), Y5
	VPSLLD      $16, Y4, Y4
	VPSLLD      $16, Y5, Y5
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	ADDQ $32, SI
	ADDQ $64, DI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE  bf16loop

bf16tail:
	CMPQ CX, $8
	JLT  bf16done
	VPMOVZXWD   (SI), Y4
	VPSLLD      $16, Y4, Y4
	VFMADD231PS (DI), Y4, Y0

bf16done:
	VADDPS Y1, Y0, Y0
	HSUM8(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotF32AVX2(a, b *float32, n int) float32 (n a multiple of 8)
TEXT ·dotF32AVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ   CX, $32
	JLT    f32tail

f32loop:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	CMPQ CX, $32
	JGE  f32loop

f32tail:
	CMPQ CX, $8
	JLT  f32done
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  f32tail

f32done:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM8(Y0, X0, X1)
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func axpyAVX2(a float32, x, y *float32, n int) (n a multiple of 8)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Y0
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
	TESTQ CX, CX
	JEQ   axdone

axloop:
	VMOVUPS     (DI), Y1
	VFMADD231PS (SI), Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ  axloop

axdone:
	VZEROUPPER
	RET
