//go:build !purego

#include "textflag.h"
#include "avx2_amd64.h"

// Four-row kernels: one weight row against four activation rows, the
// weight blocks unpacked once. The act4 argument (see mat_amd64.go) holds
// the activations' code pointers at 0, scale pointers at 32, sum or bsums
// pointers at 64, and receives the four results at 96 (K-quants use 112..175
// as scratch for the min terms).

#define MASK0F(Y, X) \
	MOVL         $0x0f0f0f0f, AX; \
	VMOVD        AX, X;           \
	VPBROADCASTD X, Y

#define ONES16(Y, X) \
	MOVL         $0x00010001, AX; \
	VMOVD        AX, X;           \
	VPBROADCASTD X, Y

// LOADPTRS: R8-R11 = the act4's code pointers, R12-R15 its scale pointers.
#define LOADPTRS ACTPTRS; ACTSCALES

// OUT4 stores the sums of the 8 floats of each of Y0-Y3 (HSUM8) as the
// four results at 96(BX)..108(BX); clobbers Y0-Y3 and X10.
#define OUT4 \
	HSUM8(Y0, X0, X10);  \
	VMOVSS X0, 96(BX);   \
	HSUM8(Y1, X1, X10);  \
	VMOVSS X1, 100(BX);  \
	HSUM8(Y2, X2, X10);  \
	VMOVSS X2, 104(BX);  \
	HSUM8(Y3, X3, X10);  \
	VMOVSS X3, 108(BX)

// Q4_0: X8 = weight scale, Y9 = the 32 nibbles.
#define Q40ACT(Rq, Rd, soff, ACC, SACC) \
	VMULSS       (Rd)(DX*1), X8, X10;   \
	VBROADCASTSS X10, Y10;              \
	VPMADDUBSW   (Rq)(DI*1), Y9, Y11;   \
	VPMADDWD     Y14, Y11, Y11;         \
	VCVTDQ2PS    Y11, Y11;              \
	VFMADD231PS  Y11, Y10, ACC;         \
	MOVQ         soff(BX), AX;          \
	VFMADD231SS  (AX)(DX*1), X8, SACC

#define Q40OUT(ACC, XACC, SACC, off) \
	HSUM8(ACC, XACC, X10);     \
	VMULSS X12, SACC, SACC;    \
	VSUBSS SACC, XACC, XACC;   \
	VMOVSS XACC, off(BX)

// func dotQ4_0x4AVX2(w *byte, a *act4, nb int)
TEXT ·dotQ4_0x4AVX2(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), BX
	MOVQ nb+16(FP), CX
	LOADPTRS
	MASK0F(Y15, X15)
	ONES16(Y14, X14)
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ   DI, DI
	XORQ   DX, DX

q40x4loop:
	MOVWLZX     (SI), AX
	VMOVD       AX, X8
	VCVTPH2PS   X8, X8
	VMOVDQU     2(SI), X9
	VPSRLW      $4, X9, X10
	VINSERTI128 $1, X10, Y9, Y9
	VPAND       Y15, Y9, Y9
	Q40ACT(R8, R12, 64, Y0, X4)
	Q40ACT(R9, R13, 72, Y1, X5)
	Q40ACT(R10, R14, 80, Y2, X6)
	Q40ACT(R11, R15, 88, Y3, X7)
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  q40x4loop

	MOVL  $0x41000000, AX
	VMOVD AX, X12
	Q40OUT(Y0, X0, X4, 96)
	Q40OUT(Y1, X1, X5, 100)
	Q40OUT(Y2, X2, X6, 104)
	Q40OUT(Y3, X3, X7, 108)
	VZEROUPPER
	RET

// Q8_0: X8 = weight scale, Y9 = the weight codes, Y12 = their magnitudes.
#define Q80ACT(Rq, Rd, ACC) \
	VMULSS       (Rd)(DX*1), X8, X10;   \
	VBROADCASTSS X10, Y10;              \
	VMOVDQU      (Rq)(DI*1), Y11;       \
	VPSIGNB      Y9, Y11, Y11;          \
	VPMADDUBSW   Y11, Y12, Y11;         \
	VPMADDWD     Y14, Y11, Y11;         \
	VCVTDQ2PS    Y11, Y11;              \
	VFMADD231PS  Y11, Y10, ACC

// func dotQ8_0x4AVX2(w *byte, a *act4, nb int)
TEXT ·dotQ8_0x4AVX2(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), BX
	MOVQ nb+16(FP), CX
	LOADPTRS
	ONES16(Y14, X14)
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   DI, DI
	XORQ   DX, DX

q80x4loop:
	MOVWLZX   (SI), AX
	VMOVD     AX, X8
	VCVTPH2PS X8, X8
	VMOVDQU   2(SI), Y9
	VPSIGNB   Y9, Y9, Y12
	Q80ACT(R8, R12, Y0)
	Q80ACT(R9, R13, Y1)
	Q80ACT(R10, R14, Y2)
	Q80ACT(R11, R15, Y3)
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  q80x4loop

	OUT4
	VZEROUPPER
	RET

// Q4_K. Scales and mins unpacked to 0(SP) and 8(SP) by K4SCALES; X14 =
// dmin (for Q4KMIN, avx2_amd64.h) then d.
#define Q4KACT(c, Rq, ISUM) \
	VPMADDUBSW (64*c)(Rq)(DI*1), Y8, Y12;    \
	VPMADDWD   Y10, Y12, Y12;                \
	VPADDD     Y12, ISUM, ISUM;              \
	VPMADDUBSW (64*c+32)(Rq)(DI*1), Y9, Y13; \
	VPMADDWD   Y11, Y13, Y13;                \
	VPADDD     Y13, ISUM, ISUM

#define Q4KCHUNK(c) \
	NIBSPLIT((16+32*c)(SI), Y8, Y9);  \
	KSCALEW(c, Y10, X10, Y11, X11);   \
	Q4KACT(c, R8, Y4);              \
	Q4KACT(c, R9, Y5);              \
	Q4KACT(c, R10, Y6);             \
	Q4KACT(c, R11, Y7)

#define Q4KFOLD(Rd, ISUM, ACC) \
	VMULSS       (Rd)(DX*1), X14, X13; \
	VBROADCASTSS X13, Y13;             \
	VCVTDQ2PS    ISUM, ISUM;           \
	VFMADD231PS  ISUM, Y13, ACC

#define KOUT(ACC, XACC, macc, off) \
	HSUM8(ACC, XACC, X10);       \
	VMOVUPS macc(BX), X11;       \
	VHADDPS X11, X11, X11;       \
	VHADDPS X11, X11, X11;       \
	VSUBSS  X11, XACC, XACC;     \
	VMOVSS  XACC, off(BX)

// func dotQ4_Kx4AVX2(w *byte, a *act4, nb int)
TEXT ·dotQ4_Kx4AVX2(SB), NOSPLIT, $16-24
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), BX
	MOVQ nb+16(FP), CX
	LOADPTRS
	MASK0F(Y15, X15)
	VXORPS  Y0, Y0, Y0
	VXORPS  Y1, Y1, Y1
	VXORPS  Y2, Y2, Y2
	VXORPS  Y3, Y3, Y3
	VMOVUPS Y0, 112(BX)
	VMOVUPS Y0, 144(BX)
	XORQ    DI, DI
	XORQ    DX, DX

q4kx4loop:
	K4SCALES(R9, R10)
	MOVQ 0(BX), R8
	MOVQ 8(BX), R9
	MOVQ 16(BX), R10

	MOVWLZX   2(SI), AX
	VMOVD     AX, X14
	VCVTPH2PS X14, X14
	VPMOVZXBW 8(SP), X4
	Q4KMIN(R12, 64, 112)
	Q4KMIN(R13, 72, 128)
	Q4KMIN(R14, 80, 144)
	Q4KMIN(R15, 88, 160)

	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	Q4KCHUNK(0)
	Q4KCHUNK(1)
	Q4KCHUNK(2)
	Q4KCHUNK(3)
	MOVWLZX   (SI), AX
	VMOVD     AX, X14
	VCVTPH2PS X14, X14
	Q4KFOLD(R12, Y4, Y0)
	Q4KFOLD(R13, Y5, Y1)
	Q4KFOLD(R14, Y6, Y2)
	Q4KFOLD(R15, Y7, Y3)

	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  q4kx4loop

	KOUT(Y0, X0, 112, 96)
	KOUT(Y1, X1, 128, 100)
	KOUT(Y2, X2, 144, 104)
	KOUT(Y3, X3, 160, 108)
	VZEROUPPER
	RET

// q6shuf<>: as in dot_amd64.s.
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

// Q6_K. Y8, Y9 = low code bytes, Y10 = high bits, Y11 = one quarter's
// codes, Y12 = its group scales, Y14 = 0x30 bytes, Y15 = 0x0F bytes.
#define Q6KACT(act, Rq, ISUM) \
	VPMADDUBSW act(Rq)(DI*1), Y11, Y13; \
	VPMADDWD   Y12, Y13, Y13;           \
	VPADDD     Y13, ISUM, ISUM

#define Q6KQUARTER(act, m) \
	VMOVDQU   192(SI), X12;                 \
	VPSHUFB   q6shuf<>+(16*m)(SB), X12, X12; \
	VPMOVSXBW X12, Y12;                     \
	Q6KACT(act, R8, Y4);                    \
	Q6KACT(act, R9, Y5);                    \
	Q6KACT(act, R10, Y6);                   \
	Q6KACT(act, R11, Y7)

#define Q6KHALF(h) \
	VMOVDQU (64*h)(SI), Y8;      \
	VMOVDQU (64*h+32)(SI), Y9;   \
	VMOVDQU (128+32*h)(SI), Y10; \
	VPAND   Y15, Y8, Y11;        \
	VPSLLW  $4, Y10, Y13;        \
	VPAND   Y14, Y13, Y13;       \
	VPOR    Y13, Y11, Y11;       \
	Q6KQUARTER((128*h), (4*h));  \
	VPAND   Y15, Y9, Y11;        \
	VPSLLW  $2, Y10, Y13;        \
	VPAND   Y14, Y13, Y13;       \
	VPOR    Y13, Y11, Y11;       \
	Q6KQUARTER((128*h+32), (4*h+1)); \
	VPSRLW  $4, Y8, Y11;         \
	VPAND   Y15, Y11, Y11;       \
	VPAND   Y14, Y10, Y13;       \
	VPOR    Y13, Y11, Y11;       \
	Q6KQUARTER((128*h+64), (4*h+2)); \
	VPSRLW  $4, Y9, Y11;         \
	VPAND   Y15, Y11, Y11;       \
	VPSRLW  $2, Y10, Y13;        \
	VPAND   Y14, Y13, Y13;       \
	VPOR    Y13, Y11, Y11;       \
	Q6KQUARTER((128*h+96), (4*h+3))

// bsums correction: ISUM = -32 * sum_g scale_g * bsum_g (Y12 = scales).
#define Q6KBS(bsoff, ISUM) \
	MOVQ      bsoff(BX), AX;        \
	VPMADDWD  (AX)(DX*8), Y12, ISUM; \
	VPSLLD    $5, ISUM, ISUM;       \
	VPXOR     Y13, Y13, Y13;        \
	VPSUBD    ISUM, Y13, ISUM

#define Q6KFOLD(doff, ISUM, ACC) \
	MOVQ         doff(BX), AX;        \
	VMULSS       (AX)(DX*1), X8, X13; \
	VBROADCASTSS X13, Y13;            \
	VCVTDQ2PS    ISUM, ISUM;          \
	VFMADD231PS  ISUM, Y13, ACC

// func dotQ6_Kx4AVX2(w *byte, a *act4, nb int)
TEXT ·dotQ6_Kx4AVX2(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), BX
	MOVQ nb+16(FP), CX
	ACTPTRS
	MASK0F(Y15, X15)
	MOVL         $0x30303030, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   DI, DI
	XORQ   DX, DX

q6kx4loop:
	VMOVDQU   192(SI), X12
	VPMOVSXBW X12, Y12
	Q6KBS(64, Y4)
	Q6KBS(72, Y5)
	Q6KBS(80, Y6)
	Q6KBS(88, Y7)
	Q6KHALF(0)
	Q6KHALF(1)
	MOVWLZX   208(SI), AX
	VMOVD     AX, X8
	VCVTPH2PS X8, X8
	Q6KFOLD(32, Y4, Y0)
	Q6KFOLD(40, Y5, Y1)
	Q6KFOLD(48, Y6, Y2)
	Q6KFOLD(56, Y7, Y3)
	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  q6kx4loop

	OUT4
	VZEROUPPER
	RET

// func dotF16x4AVX2(w *byte, a *act4, n int) (n a multiple of 8; a.q
// holds the float rows)
TEXT ·dotF16x4AVX2(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), BX
	MOVQ n+16(FP), CX
	ACTPTRS
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ   DI, DI
	CMPQ   CX, $16
	JLT    f16x4tail

f16x4loop:
	VCVTPH2PS   (SI), Y8
	VCVTPH2PS   16(SI), Y9
	VFMADD231PS (R8)(DI*1), Y8, Y0
	VFMADD231PS (R9)(DI*1), Y8, Y1
	VFMADD231PS (R10)(DI*1), Y8, Y2
	VFMADD231PS (R11)(DI*1), Y8, Y3
	VFMADD231PS 32(R8)(DI*1), Y9, Y4
	VFMADD231PS 32(R9)(DI*1), Y9, Y5
	VFMADD231PS 32(R10)(DI*1), Y9, Y6
	VFMADD231PS 32(R11)(DI*1), Y9, Y7
	ADDQ $32, SI
	ADDQ $64, DI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE  f16x4loop

f16x4tail:
	CMPQ CX, $8
	JLT  f16x4done
	VCVTPH2PS   (SI), Y8
	VFMADD231PS (R8)(DI*1), Y8, Y0
	VFMADD231PS (R9)(DI*1), Y8, Y1
	VFMADD231PS (R10)(DI*1), Y8, Y2
	VFMADD231PS (R11)(DI*1), Y8, Y3

f16x4done:
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	VADDPS Y6, Y2, Y2
	VADDPS Y7, Y3, Y3
	OUT4
	VZEROUPPER
	RET
