//go:build !purego

#include "textflag.h"
#include "avx2_amd64.h"

// Steps of the 32-element block unpackers (unpackQ4_0, unpackQ5_0,
// unpackIQ4NL): SI = the block, DI = its 32 codes out, DX = its scale out
// (stepping by 64 bytes: 16 weight rows interleave), CX = blocks left.
// NIBMASK: Y15 = 0x0f in every byte.
#define NIBMASK \
	MOVL         $0x0f0f0f0f, AX; \
	VMOVD        AX, X15;         \
	VPBROADCASTD X15, Y15
// BLOCKSCALE stores the block's binary16 scale at SI as float32 at DX;
// clobbers AX, X0.
#define BLOCKSCALE \
	MOVWLZX   (SI), AX;  \
	VMOVD     AX, X0;    \
	VCVTPH2PS X0, X0;    \
	VMOVSS    X0, (DX)
// NIBBLES32(off): Y1 = the 16 bytes at off(SI) split into their low then
// high nibbles (32 bytes, element order); clobbers X2.
#define NIBBLES32(off) \
	VMOVDQU     off(SI), X1;       \
	VPSRLW      $4, X1, X2;        \
	VINSERTI128 $1, X2, Y1, Y1;    \
	VPAND       Y15, Y1, Y1
// BLOCKNEXT(bytes, loop) moves on to the next block of the given size and
// loops while blocks are left.
#define BLOCKNEXT(bytes, loop) \
	ADDQ $bytes, SI; \
	ADDQ $32, DI;    \
	ADDQ $64, DX;    \
	DECQ CX;         \
	JNZ  loop

// BLOCKMIN stores the block's binary16 minimum at off(SI), times -1/8
// (X13), as float32 at BX: with the activation pack's bias -8*S, the Q4_K
// tile kernel's min term then adds min*S; clobbers AX, X0.
#define BLOCKMIN(off) \
	MOVWLZX   off(SI), AX; \
	VMOVD     AX, X0;      \
	VCVTPH2PS X0, X0;      \
	VMULSS    X13, X0, X0; \
	VMOVSS    X0, (BX)

// MINUS8TH: X13 = -1/8.
#define MINUS8TH \
	MOVL $0xbe000000, AX; \
	VMOVD AX, X13

// KSCATTER: Y4 = the scatter indices 0, 16, ..., 112 (floats) of KSCALES.
#define KSCATTER \
	MOVQ      $0x7060504030201000, AX; \
	VMOVQ     AX, X4;                   \
	VPMOVZXBD X4, Y4

// Q3CODES(q, k, sh, off): the 32 codes of step k of half h of a Q3_K
// super-block: (q >> 2k) & 3 plus 4 times bit sh of hmask (Y6), to off(DI).
// Y15 = 0x03 bytes, Y14 = 0x01 bytes; clobbers Y3, Y7.
#define Q3CODES(q, k2, sh, off) \
	VPSRLW  $k2, q, Y3;   \
	VPAND   Y15, Y3, Y3;  \
	VPSRLW  $sh, Y6, Y7;  \
	VPAND   Y14, Y7, Y7;  \
	VPSLLW  $2, Y7, Y7;   \
	VPOR    Y7, Y3, Y3;   \
	VMOVDQU Y3, off(DI)

// KSCALES writes, for the Q4_K/Q5_K super-block at SI, the float32
// d*scale_j at DX and -dmin*min_j at BX for its eight 32-code sub-blocks j
// (stepping by 64 bytes, through the scatter indices in Y4), and moves DX
// and BX on by 512 bytes; clobbers AX, R8-R10, X0-X3, Y5, K1 and 0-15(SP).
#define KSCALES \
	K4SCALES(R10, R9); \
	MOVWLZX   (SI), AX; \
	VMOVD     AX, X0; \
	VCVTPH2PS X0, X0; \
	MOVWLZX   2(SI), AX; \
	VMOVD     AX, X1; \
	VCVTPH2PS X1, X1; \
	MOVL      $0x80000000, AX; \
	VMOVD     AX, X2; \
	VXORPS    X2, X1, X1; \
	VPMOVZXBD    0(SP), Y3; \
	VCVTDQ2PS    Y3, Y3; \
	VBROADCASTSS X0, Y5; \
	VMULPS       Y5, Y3, Y3; \
	KXNORB       K1, K1, K1; \
	VSCATTERDPS  Y3, K1, (DX)(Y4*4); \
	VPMOVZXBD    8(SP), Y3; \
	VCVTDQ2PS    Y3, Y3; \
	VBROADCASTSS X1, Y5; \
	VMULPS       Y5, Y3, Y3; \
	KXNORB       K1, K1, K1; \
	VSCATTERDPS  Y3, K1, (BX)(Y4*4); \
	ADDQ $512, DX; \
	ADDQ $512, BX


// AMX-INT8 tile kernels. The Go assembler has no AMX mnemonics, so the
// tile instructions are emitted as bytes; they use only rax..rdi so that
// no VEX register-extension bits are needed.

// LDTILECFG (DI)
#define LDTILECFG_DI BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0x07
// TILERELEASE
#define TILERELEASE BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0xc0
// TILELOADD tmm0, (SI)(DX*1)
#define TILELOADD_T0_SI_DX BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x04; BYTE $0x16
// TILELOADD tmm1, (BX)(CX*1)
#define TILELOADD_T1_BX_CX BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x4b; BYTE $0x0c; BYTE $0x0b
// TILEZERO tmm2
#define TILEZERO_T2 BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xd0
// TDPBSSD tmm2, tmm0, tmm1 (signed A x signed B)
#define TDPBSSD_T2_T0_T1 BYTE $0xc4; BYTE $0xe2; BYTE $0x73; BYTE $0x5e; BYTE $0xd0
// TDPBUSD tmm2, tmm0, tmm1 (unsigned A x signed B)
#define TDPBUSD_T2_T0_T1 BYTE $0xc4; BYTE $0xe2; BYTE $0x71; BYTE $0x5e; BYTE $0xd0
// TILESTORED (DI)(CX*1), tmm2
#define TILESTORED_DI_CX_T2 BYTE $0xc4; BYTE $0xe2; BYTE $0x7a; BYTE $0x4b; BYTE $0x14; BYTE $0x0f

// Epilogue of one row i of the 16x16 int32 tile at (DI): convert, scale by
// the activations' block scales (Z16) and, for EPI_BIAS, add the bias (Z17),
// then accumulate times the weight row's block scale into Z(i).
#define EPI_MUL VMULPS Z16, Z18, Z18
#define EPI_BIAS VFMADD213PS Z17, Z16, Z18
#define ROW(i, Zi, EPI) \
	VCVTDQ2PS            (64*i)(DI), Z18; \
	EPI;                                  \
	VFMADD231PS.BCST     (4*i)(R12), Z18, Zi

#define STOREROW(i, Zi) VMOVUPS Zi, (64*i)(AX)

// Arguments (amxArgs): 0 cfg, 8 a, 16 aStride, 24 aStep, 32 b, 40 dx,
// 48 bias, 56 dw, 64 nb, 72 out, 80 cbuf.
#define AMXKERNEL(TDP, EPI) \
	MOVQ 0(R8), DI;    \
	LDTILECFG_DI;      \
	MOVQ 8(R8), SI;    \
	MOVQ 16(R8), DX;   \
	MOVQ 24(R8), R9;   \
	MOVQ 32(R8), BX;   \
	MOVQ $64, CX;      \
	MOVQ 40(R8), R10;  \
	MOVQ 48(R8), R11;  \
	MOVQ 56(R8), R12;  \
	MOVQ 64(R8), R13;  \
	MOVQ 80(R8), DI;   \
	VPXORD Z0, Z0, Z0; VPXORD Z1, Z1, Z1; VPXORD Z2, Z2, Z2; VPXORD Z3, Z3, Z3; \
	VPXORD Z4, Z4, Z4; VPXORD Z5, Z5, Z5; VPXORD Z6, Z6, Z6; VPXORD Z7, Z7, Z7; \
	VPXORD Z8, Z8, Z8; VPXORD Z9, Z9, Z9; VPXORD Z10, Z10, Z10; VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; VPXORD Z13, Z13, Z13; VPXORD Z14, Z14, Z14; VPXORD Z15, Z15, Z15; \
amxloop:                   \
	TILELOADD_T0_SI_DX;    \
	TILELOADD_T1_BX_CX;    \
	TILEZERO_T2;           \
	TDP;                   \
	TILESTORED_DI_CX_T2;   \
	VMOVUPS (R10), Z16;    \
	VMOVUPS (R11), Z17;    \
	ROW(0, Z0, EPI); ROW(1, Z1, EPI); ROW(2, Z2, EPI); ROW(3, Z3, EPI);         \
	ROW(4, Z4, EPI); ROW(5, Z5, EPI); ROW(6, Z6, EPI); ROW(7, Z7, EPI);         \
	ROW(8, Z8, EPI); ROW(9, Z9, EPI); ROW(10, Z10, EPI); ROW(11, Z11, EPI);     \
	ROW(12, Z12, EPI); ROW(13, Z13, EPI); ROW(14, Z14, EPI); ROW(15, Z15, EPI); \
	ADDQ R9, SI;           \
	ADDQ $512, BX;         \
	ADDQ $64, R10;         \
	ADDQ $64, R11;         \
	ADDQ $64, R12;         \
	DECQ R13;              \
	JNZ  amxloop;          \
	MOVQ 72(R8), AX;       \
	STOREROW(0, Z0); STOREROW(1, Z1); STOREROW(2, Z2); STOREROW(3, Z3);         \
	STOREROW(4, Z4); STOREROW(5, Z5); STOREROW(6, Z6); STOREROW(7, Z7);         \
	STOREROW(8, Z8); STOREROW(9, Z9); STOREROW(10, Z10); STOREROW(11, Z11);     \
	STOREROW(12, Z12); STOREROW(13, Z13); STOREROW(14, Z14); STOREROW(15, Z15); \
	TILERELEASE;           \
	VZEROUPPER

// func amxQ8(a *amxArgs): signed weight codes, no bias.
TEXT ·amxQ8(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), R8
	AMXKERNEL(TDPBSSD_T2_T0_T1, EPI_MUL)
	RET

// func amxQ4(a *amxArgs): unsigned weight codes (nibbles), with bias.
TEXT ·amxQ4(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), R8
	AMXKERNEL(TDPBUSD_T2_T0_T1, EPI_BIAS)
	RET

// Q4_K: per 32-code sub-block, Z(i) += dw[i] * dx * C[i] + mw[i] * mx,
// with mx (the activations' scaled sub-block sums) at (R11) and the
// weights' min terms mw at (R14).
#define ROWK(i, Zi) \
	VCVTDQ2PS        (64*i)(DI), Z18;      \
	VMULPS           Z16, Z18, Z18;        \
	VFMADD231PS.BCST (4*i)(R12), Z18, Zi;  \
	VFMADD231PS.BCST (4*i)(R14), Z17, Zi

// func amxQ4K(a *amxArgs): unsigned weight codes, one step per sub-block
// (32 codes for Q4_K, 16 for Q6_K, as the tile configuration at 0(a)
// says); mw at 88(a), the activation pack's bytes per step at 96(a).
TEXT ·amxQ4K(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), R8
	MOVQ 0(R8), DI
	LDTILECFG_DI
	MOVQ 8(R8), SI
	MOVQ 16(R8), DX
	MOVQ 24(R8), R9
	MOVQ 32(R8), BX
	MOVQ $64, CX
	MOVQ 40(R8), R10
	MOVQ 48(R8), R11
	MOVQ 56(R8), R12
	MOVQ 64(R8), R13
	MOVQ 88(R8), R14
	MOVQ 96(R8), R15
	MOVQ 80(R8), DI
	VPXORD Z0, Z0, Z0; VPXORD Z1, Z1, Z1; VPXORD Z2, Z2, Z2; VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4; VPXORD Z5, Z5, Z5; VPXORD Z6, Z6, Z6; VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8; VPXORD Z9, Z9, Z9; VPXORD Z10, Z10, Z10; VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12; VPXORD Z13, Z13, Z13; VPXORD Z14, Z14, Z14; VPXORD Z15, Z15, Z15

amxkloop:
	TILELOADD_T0_SI_DX
	TILELOADD_T1_BX_CX
	TILEZERO_T2
	TDPBUSD_T2_T0_T1
	TILESTORED_DI_CX_T2
	VMOVUPS (R10), Z16
	VMOVUPS (R11), Z17
	ROWK(0, Z0); ROWK(1, Z1); ROWK(2, Z2); ROWK(3, Z3)
	ROWK(4, Z4); ROWK(5, Z5); ROWK(6, Z6); ROWK(7, Z7)
	ROWK(8, Z8); ROWK(9, Z9); ROWK(10, Z10); ROWK(11, Z11)
	ROWK(12, Z12); ROWK(13, Z13); ROWK(14, Z14); ROWK(15, Z15)
	ADDQ R9, SI
	ADDQ R15, BX
	ADDQ $64, R10
	ADDQ $64, R11
	ADDQ $64, R12
	ADDQ $64, R14
	DECQ R13
	JNZ  amxkloop

	MOVQ 72(R8), AX
	STOREROW(0, Z0); STOREROW(1, Z1); STOREROW(2, Z2); STOREROW(3, Z3)
	STOREROW(4, Z4); STOREROW(5, Z5); STOREROW(6, Z6); STOREROW(7, Z7)
	STOREROW(8, Z8); STOREROW(9, Z9); STOREROW(10, Z10); STOREROW(11, Z11)
	STOREROW(12, Z12); STOREROW(13, Z13); STOREROW(14, Z14); STOREROW(15, Z15)
	TILERELEASE
	VZEROUPPER
	RET

// func unpackQ4_K(dst *byte, w *byte, dw, mw *float32, nb int): the
// nibbles of nb Q4_K super-blocks as bytes in element order, and for each
// 32-code sub-block j the float32 d*scale_j at dw and -dmin*min_j at mw
// (stepping by 64 bytes).
TEXT ·unpackQ4_K(SB), NOSPLIT, $16-40
	MOVQ dst+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ dw+16(FP), DX
	MOVQ mw+24(FP), BX
	MOVQ nb+32(FP), CX
	NIBMASK
	KSCATTER
	TESTQ CX, CX
	JEQ   unpkdone

unpkloop:
	KSCALES

	VMOVDQU 16(SI), Y1
	VPSRLW  $4, Y1, Y2
	VPAND   Y15, Y1, Y1
	VPAND   Y15, Y2, Y2
	VMOVDQU Y1, (DI)
	VMOVDQU Y2, 32(DI)
	VMOVDQU 48(SI), Y1
	VPSRLW  $4, Y1, Y2
	VPAND   Y15, Y1, Y1
	VPAND   Y15, Y2, Y2
	VMOVDQU Y1, 64(DI)
	VMOVDQU Y2, 96(DI)
	VMOVDQU 80(SI), Y1
	VPSRLW  $4, Y1, Y2
	VPAND   Y15, Y1, Y1
	VPAND   Y15, Y2, Y2
	VMOVDQU Y1, 128(DI)
	VMOVDQU Y2, 160(DI)
	VMOVDQU 112(SI), Y1
	VPSRLW  $4, Y1, Y2
	VPAND   Y15, Y1, Y1
	VPAND   Y15, Y2, Y2
	VMOVDQU Y1, 192(DI)
	VMOVDQU Y2, 224(DI)
	ADDQ $144, SI
	ADDQ $256, DI
	DECQ CX
	JNZ  unpkloop

unpkdone:
	VZEROUPPER
	RET

// Q5CHUNK unpacks the 64 codes of chunk c of a Q5_K super-block at SI: the
// nibbles at qs (low then high) with the qh bits sh0 and sh1 (from Y6) as
// their fifth bit, to off(DI) and off+32(DI). Y15 = 0x0f bytes, Y14 = 0x01
// bytes; clobbers Y1, Y2, Y7.
#define Q5CHUNK(qs, sh0, sh1, off) \
	Q5SPLIT(qs(SI), sh0, sh1, Y1, Y2, Y6, Y14, Y7); \
	VMOVDQU Y1, off(DI);   \
	VMOVDQU Y2, off+32(DI)

// func unpackQ5_K(dst *byte, w *byte, dw, mw *float32, nb int): the 5-bit
// codes (0..31) of nb Q5_K super-blocks as bytes in element order, and the
// sub-block scales and mins as unpackQ4_K makes them (same layout of d,
// dmin and the 12 scale bytes; qh at 16, qs at 48, 176 bytes a block).
TEXT ·unpackQ5_K(SB), NOSPLIT, $16-40
	MOVQ dst+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ dw+16(FP), DX
	MOVQ mw+24(FP), BX
	MOVQ nb+32(FP), CX
	NIBMASK
	MOVL         $0x01010101, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	KSCATTER
	TESTQ CX, CX
	JEQ   unpk5done

unpk5loop:
	KSCALES
	VMOVDQU 16(SI), Y6
	Q5CHUNK(48, 0, 1, 0)
	Q5CHUNK(80, 2, 3, 64)
	Q5CHUNK(112, 4, 5, 128)
	Q5CHUNK(144, 6, 7, 192)
	ADDQ $176, SI
	ADDQ $256, DI
	DECQ CX
	JNZ  unpk5loop

unpk5done:
	VZEROUPPER
	RET

// func unpackQ6_K(dst *byte, w *byte, dw, mw *float32, nb int): the 6-bit
// codes (0..63) of nb Q6_K super-blocks as bytes in element order, and for
// each 16-code group g the float32 d*scale_g at dw and -32*d*scale_g at mw
// (stepping by 64 bytes).
#define Q6UNPACKHALF(h) \
	VMOVDQU (64*h)(SI), Y8;        \
	VMOVDQU (64*h+32)(SI), Y9;     \
	VMOVDQU (128+32*h)(SI), Y10;   \
	VPAND   Y15, Y8, Y11;          \
	VPSLLW  $4, Y10, Y13;          \
	VPAND   Y14, Y13, Y13;         \
	VPOR    Y13, Y11, Y11;         \
	VMOVDQU Y11, (128*h)(DI);      \
	VPAND   Y15, Y9, Y11;          \
	VPSLLW  $2, Y10, Y13;          \
	VPAND   Y14, Y13, Y13;         \
	VPOR    Y13, Y11, Y11;         \
	VMOVDQU Y11, (128*h+32)(DI);   \
	VPSRLW  $4, Y8, Y11;           \
	VPAND   Y15, Y11, Y11;         \
	VPAND   Y14, Y10, Y13;         \
	VPOR    Y13, Y11, Y11;         \
	VMOVDQU Y11, (128*h+64)(DI);   \
	VPSRLW  $4, Y9, Y11;           \
	VPAND   Y15, Y11, Y11;         \
	VPSRLW  $2, Y10, Y13;          \
	VPAND   Y14, Y13, Y13;         \
	VPOR    Y13, Y11, Y11;         \
	VMOVDQU Y11, (128*h+96)(DI)

TEXT ·unpackQ6_K(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ dw+16(FP), DX
	MOVQ mw+24(FP), BX
	MOVQ nb+32(FP), CX
	NIBMASK
	MOVL         $0x30303030, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	MOVL         $16, AX
	VPBROADCASTD AX, Z5
	VPXORD       Z4, Z4, Z4
	MOVL         $0x0000ffff, AX
	KMOVW        AX, K2
	MOVQ         $0x0f0e0d0c0b0a0908, AX
	VMOVQ        AX, X6
	MOVQ         $0x0706050403020100, AX
	VMOVQ        AX, X7
	VPUNPCKLQDQ  X6, X7, X7
	VPMOVZXBD    X7, Z7
	VPMULLD      Z5, Z7, Z4 // scatter indices 0, 16, ..., 240 (floats)
	MOVL         $0xc2000000, AX // -32.0
	VMOVD        AX, X6
	TESTQ CX, CX
	JEQ   unp6done

unp6loop:
	Q6UNPACKHALF(0)
	Q6UNPACKHALF(1)
	MOVWLZX      208(SI), AX
	VMOVD        AX, X0
	VCVTPH2PS    X0, X0
	VPMOVSXBD    192(SI), Z3
	VCVTDQ2PS    Z3, Z3
	VBROADCASTSS X0, Z1
	VMULPS       Z1, Z3, Z3
	KMOVW        K2, K1
	VSCATTERDPS  Z3, K1, (DX)(Z4*4)
	VBROADCASTSS X6, Z1
	VMULPS       Z1, Z3, Z3
	KMOVW        K2, K1
	VSCATTERDPS  Z3, K1, (BX)(Z4*4)
	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $1024, DX
	ADDQ $1024, BX
	DECQ CX
	JNZ  unp6loop

unp6done:
	VZEROUPPER
	RET

// func unpackQ4_0(dst *byte, w *byte, dw *float32, nb int): the nibbles of
// nb Q4_0 blocks as bytes (low nibbles then high, 32 per block) and the
// block scales as float32 at dw, dw+64, ...
TEXT ·unpackQ4_0(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ dw+16(FP), DX
	MOVQ nb+24(FP), CX
	NIBMASK
	TESTQ CX, CX
	JEQ   unpdone

unploop:
	BLOCKSCALE
	NIBBLES32(2)
	VMOVDQU Y1, (DI)
	BLOCKNEXT(18, unploop)

unpdone:
	VZEROUPPER
	RET

// iq4nlb<>: kvalues_iq4nl as int8 in both 128-bit lanes, for VPSHUFB.
DATA iq4nlb<>+0x00(SB)/8, $0xf6eaddcfbfad9881 // -127 -104 -83 -65 -49 -35 -22 -10
DATA iq4nlb<>+0x08(SB)/8, $0x7159453526190d01 // 1 13 25 38 53 69 89 113
DATA iq4nlb<>+0x10(SB)/8, $0xf6eaddcfbfad9881
DATA iq4nlb<>+0x18(SB)/8, $0x7159453526190d01
GLOBL iq4nlb<>(SB), RODATA|NOPTR, $32

// func unpackQ5_0(dst *byte, w *byte, dw *float32, nb int): the codes of nb
// Q5_0 blocks as signed bytes (nibble | fifth bit << 4, minus 16), 32 per
// block in element order, and the block scales as float32 at dw, dw+64, ...
// (AVX-512 BW/VL: the 32 fifth bits through a mask register).
TEXT ·unpackQ5_0(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ dw+16(FP), DX
	MOVQ nb+24(FP), CX
	NIBMASK
	MOVL         $0x10101010, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	TESTQ CX, CX
	JEQ   unp5done

unp5loop:
	BLOCKSCALE
	KMOVD    2(SI), K1
	VPMOVM2B K1, Y3
	VPAND    Y14, Y3, Y3
	NIBBLES32(6)
	VPOR     Y3, Y1, Y1
	VPSUBB   Y14, Y1, Y1
	VMOVDQU  Y1, (DI)
	BLOCKNEXT(22, unp5loop)

unp5done:
	VZEROUPPER
	RET

// func unpackIQ4NL(dst *byte, w *byte, dw *float32, nb int): the codes of
// nb IQ4_NL blocks as signed bytes (kvalues_iq4nl of each nibble), 32 per
// block in element order, and the block scales as float32 at dw, dw+64, ...
TEXT ·unpackIQ4NL(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ dw+16(FP), DX
	MOVQ nb+24(FP), CX
	NIBMASK
	VMOVDQU iq4nlb<>(SB), Y14
	TESTQ CX, CX
	JEQ   unpnldone

unpnlloop:
	BLOCKSCALE
	NIBBLES32(2)
	VPSHUFB Y1, Y14, Y1
	VMOVDQU Y1, (DI)
	BLOCKNEXT(18, unpnlloop)

unpnldone:
	VZEROUPPER
	RET

// func unpackQ4_1(dst *byte, w *byte, dw, mw *float32, nb int): the nibbles
// of nb Q4_1 blocks as bytes (element order), the block scales as float32 at
// dw and -min/8 at mw (both stepping by 64 bytes), for amxQ4K.
TEXT ·unpackQ4_1(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ dw+16(FP), DX
	MOVQ mw+24(FP), BX
	MOVQ nb+32(FP), CX
	NIBMASK
	MINUS8TH
	TESTQ CX, CX
	JEQ   unp41done

unp41loop:
	BLOCKSCALE
	BLOCKMIN(2)
	NIBBLES32(4)
	VMOVDQU Y1, (DI)
	ADDQ    $64, BX
	BLOCKNEXT(20, unp41loop)

unp41done:
	VZEROUPPER
	RET

// func unpackQ5_1(dst *byte, w *byte, dw, mw *float32, nb int): the 5-bit
// codes (0..31) of nb Q5_1 blocks as bytes, with scales and -min/8 as
// unpackQ4_1 makes them.
TEXT ·unpackQ5_1(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ dw+16(FP), DX
	MOVQ mw+24(FP), BX
	MOVQ nb+32(FP), CX
	NIBMASK
	MINUS8TH
	MOVL         $0x10101010, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	TESTQ CX, CX
	JEQ   unp51done

unp51loop:
	BLOCKSCALE
	BLOCKMIN(2)
	KMOVD    4(SI), K1
	VPMOVM2B K1, Y3
	VPAND    Y14, Y3, Y3
	NIBBLES32(8)
	VPOR     Y3, Y1, Y1
	VMOVDQU  Y1, (DI)
	ADDQ     $64, BX
	BLOCKNEXT(24, unp51loop)

unp51done:
	VZEROUPPER
	RET

// q2kidx<>: dword scatter indices 0, 16, ..., 240 (one float per 16-code
// group, 16 weight rows interleaved).
DATA q2kidx<>+0x00(SB)/8, $0x0000001000000000
DATA q2kidx<>+0x08(SB)/8, $0x0000003000000020
DATA q2kidx<>+0x10(SB)/8, $0x0000005000000040
DATA q2kidx<>+0x18(SB)/8, $0x0000007000000060
DATA q2kidx<>+0x20(SB)/8, $0x0000009000000080
DATA q2kidx<>+0x28(SB)/8, $0x000000b0000000a0
DATA q2kidx<>+0x30(SB)/8, $0x000000d0000000c0
DATA q2kidx<>+0x38(SB)/8, $0x000000f0000000e0
GLOBL q2kidx<>(SB), RODATA|NOPTR, $64

// func unpackQ2_K(dst *byte, w *byte, dw, mw *float32, nb int): the 2-bit
// codes (0..3) of nb Q2_K super-blocks as bytes in element order, and for
// each 16-code group g the float32 d*scale_g at dw and -dmin*min_g at mw
// (stepping by 64 bytes), for amxQ4K's 16-code steps.
TEXT ·unpackQ2_K(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ dw+16(FP), DX
	MOVQ mw+24(FP), BX
	MOVQ nb+32(FP), CX
	MOVL         $0x03030303, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	MOVL         $15, AX
	VPBROADCASTD AX, Z14
	VMOVDQU64    q2kidx<>(SB), Z13
	MOVL         $0x80000000, AX
	VMOVD        AX, X12
	TESTQ CX, CX
	JEQ   unp2kdone

unp2kloop:
	MOVWLZX      80(SI), AX
	VMOVD        AX, X0
	VCVTPH2PS    X0, X0
	VBROADCASTSS X0, Z0
	MOVWLZX      82(SI), AX
	VMOVD        AX, X1
	VCVTPH2PS    X1, X1
	VXORPS       X12, X1, X1 // -dmin
	VBROADCASTSS X1, Z1
	VPMOVZXBD    (SI), Z2
	VPANDD       Z14, Z2, Z3
	VCVTDQ2PS    Z3, Z3
	VMULPS       Z0, Z3, Z3
	KXNORW       K1, K1, K1
	VSCATTERDPS  Z3, K1, (DX)(Z13*4)
	VPSRLD       $4, Z2, Z3
	VCVTDQ2PS    Z3, Z3
	VMULPS       Z1, Z3, Z3
	KXNORW       K1, K1, K1
	VSCATTERDPS  Z3, K1, (BX)(Z13*4)
	ADDQ $1024, DX
	ADDQ $1024, BX
	VMOVDQU 16(SI), Y1
	VMOVDQU 48(SI), Y2
	VPAND   Y15, Y1, Y3
	VMOVDQU Y3, 0(DI)
	VPSRLW  $2, Y1, Y3
	VPAND   Y15, Y3, Y3
	VMOVDQU Y3, 32(DI)
	VPSRLW  $4, Y1, Y3
	VPAND   Y15, Y3, Y3
	VMOVDQU Y3, 64(DI)
	VPSRLW  $6, Y1, Y3
	VPAND   Y15, Y3, Y3
	VMOVDQU Y3, 96(DI)
	VPAND   Y15, Y2, Y3
	VMOVDQU Y3, 128(DI)
	VPSRLW  $2, Y2, Y3
	VPAND   Y15, Y3, Y3
	VMOVDQU Y3, 160(DI)
	VPSRLW  $4, Y2, Y3
	VPAND   Y15, Y3, Y3
	VMOVDQU Y3, 192(DI)
	VPSRLW  $6, Y2, Y3
	VPAND   Y15, Y3, Y3
	VMOVDQU Y3, 224(DI)
	ADDQ $84, SI
	ADDQ $256, DI
	DECQ CX
	JNZ  unp2kloop

unp2kdone:
	VZEROUPPER
	RET

// func unpackQ3_K(dst *byte, w *byte, dw, mw *float32, nb int): the 3-bit
// codes plus 4 (0..7) of nb Q3_K super-blocks as bytes in element order, and
// for each 16-code group g the float32 d*scale_g at dw and -4*d*scale_g at
// mw (stepping by 64 bytes), for amxQ4K's 16-code steps. The 6-bit scales
// are unpacked as ggml does (kmask1, kmask2 over three 32-bit words).
TEXT ·unpackQ3_K(SB), NOSPLIT, $16-40
	MOVQ dst+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ dw+16(FP), DX
	MOVQ mw+24(FP), BX
	MOVQ nb+32(FP), CX
	MOVL         $0x03030303, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x01010101, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	VMOVDQU64    q2kidx<>(SB), Z13
	MOVL         $32, AX
	VPBROADCASTD AX, Z12
	MOVL         $0xc0800000, AX // -4.0
	VPBROADCASTD AX, Z11
	TESTQ CX, CX
	JEQ   unp3kdone

unp3kloop:
	K3SCALES(R8, R9, R10, AX, R11)
	MOVWLZX      108(SI), AX
	VMOVD        AX, X0
	VCVTPH2PS    X0, X0
	VBROADCASTSS X0, Z0
	VPMOVZXBD    0(SP), Z2
	VPSUBD       Z12, Z2, Z2
	VCVTDQ2PS    Z2, Z2
	VMULPS       Z0, Z2, Z2
	KXNORW       K1, K1, K1
	VSCATTERDPS  Z2, K1, (DX)(Z13*4)
	VMULPS       Z11, Z2, Z2
	KXNORW       K1, K1, K1
	VSCATTERDPS  Z2, K1, (BX)(Z13*4)
	ADDQ $1024, DX
	ADDQ $1024, BX
	VMOVDQU 0(SI), Y6
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	Q3CODES(Y1, 0, 0, 0)
	Q3CODES(Y1, 2, 1, 32)
	Q3CODES(Y1, 4, 2, 64)
	Q3CODES(Y1, 6, 3, 96)
	Q3CODES(Y2, 0, 4, 128)
	Q3CODES(Y2, 2, 5, 160)
	Q3CODES(Y2, 4, 6, 192)
	Q3CODES(Y2, 6, 7, 224)
	ADDQ $110, SI
	ADDQ $256, DI
	DECQ CX
	JNZ  unp3kloop

unp3kdone:
	VZEROUPPER
	RET

// func scalesF16(w *byte, step int, dw *float32, nb int): the binary16 at
// w, w+step, ... as float32 at dw, dw+64, ...
TEXT ·scalesF16(SB), NOSPLIT, $0-32
	MOVQ w+0(FP), SI
	MOVQ step+8(FP), BX
	MOVQ dw+16(FP), DX
	MOVQ nb+24(FP), CX
	TESTQ CX, CX
	JEQ   scdone

scloop:
	MOVWLZX   (SI), AX
	VMOVD     AX, X0
	VCVTPH2PS X0, X0
	VMOVSS    X0, (DX)
	ADDQ BX, SI
	ADDQ $64, DX
	DECQ CX
	JNZ  scloop

scdone:
	VZEROUPPER
	RET
