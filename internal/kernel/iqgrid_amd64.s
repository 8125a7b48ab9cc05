//go:build !purego

#include "textflag.h"
#include "avx2_amd64.h"

// The AVX2 dot product of IQ1_M with Q8_K activations, after ggml's AVX2
// kernel (the other grid types' kernels are in iqgridvec_amd64.s): per
// 32-element sub-block the four groups of eight are loaded from the grid
// (8*point, a uint64 each) with VPBROADCASTQ straight from the table and
// blended into one register (no shuffle-port inserts); the groups' shifts
// (+-1, from qh bits 3 and 7) are expanded in registers (VSIGNS) and added.
// The weights' signs are moved onto the activation codes with VPSIGNB, the
// magnitudes multiplied with them by VPMADDUBSW and the pair sums by the
// scales of the two 16-element halves with VPMADDWD; each super-block's
// int32 sums are converted and added times d*d8. The Go wrapper applies
// the factor 1/8.
//
// Registers: SI = the weight block, DI = the activation codes, DX = the
// activation scales, CX = blocks left, R13 = the grid, R11/R12 = the
// sub-block's pointers, Y0 = the float accumulator, Y8 = the block's int32
// sums, Y1/Y2 = the weights and shifts being built (Y3 the broadcast
// loads), Y9 = the scale words.

// IQ1_M's shift bits: bit 3 (group 0) and 7 (group 1) of qh byte 0, the
// same of qh byte 1 (groups 2 and 3).
DATA iq1mShuf<>+0x00(SB)/8, $0x0000000000000000
DATA iq1mShuf<>+0x08(SB)/8, $0x0000000000000000
DATA iq1mShuf<>+0x10(SB)/8, $0x0101010101010101
DATA iq1mShuf<>+0x18(SB)/8, $0x0101010101010101
GLOBL iq1mShuf<>(SB), RODATA|NOPTR, $32

DATA iq1mBits<>+0x00(SB)/8, $0x0808080808080808
DATA iq1mBits<>+0x08(SB)/8, $0x8080808080808080
DATA iq1mBits<>+0x10(SB)/8, $0x0808080808080808
DATA iq1mBits<>+0x18(SB)/8, $0x8080808080808080
GLOBL iq1mBits<>(SB), RODATA|NOPTR, $32

// VSIGNS(mem) sets Y2 to the +-1 bytes of the four sign bytes at mem
// (-1 where a bit is set), with Y11 = the shuffle, Y12 = the bits and
// Y13 = 0x01 bytes: broadcast, VPSHUFB, VPAND, VPCMPEQB, VPOR, in place of
// four table loads and inserts.
#define VSIGNS(mem) \
	VPBROADCASTD mem, Y2;      \
	VPSHUFB      Y11, Y2, Y2;  \
	VPAND        Y12, Y2, Y2;  \
	VPCMPEQB     Y12, Y2, Y2;  \
	VPOR         Y13, Y2, Y2

// SIGNCONST loads Y11 and Y12 from shuf and bits and sets Y13 to 0x01
// bytes.
#define SIGNCONST(shuf, bits) \
	VMOVDQU      shuf, Y11;  \
	VMOVDQU      bits, Y12;  \
	MOVL         $0x01010101, AX; \
	VMOVD        AX, X13;    \
	VPBROADCASTD X13, Y13

// PUTG0_A .. PUTG1_B blend only the grid qword (broadcast in Y3) into Y1
// (the signs come from VSIGNS).
#define PUTG0_A VPBLENDD $0x03, Y3, Y1, Y1
#define PUTG1_A VPBLENDD $0x0c, Y3, Y1, Y1
#define PUTG0_B VPBLENDD $0x30, Y3, Y1, Y1
#define PUTG1_B VPBLENDD $0xc0, Y3, Y1, Y1

// SCALE16(Ra, Rb) puts 2*Ra+1 into the words of Y9's low lane and 2*Rb+1
// into its high lane; clobbers X10.
#define SCALE16(Ra, Rb) \
	LEAL         1(Ra)(Ra*1), Ra;     \
	LEAL         1(Rb)(Rb*1), Rb;     \
	VMOVD        Ra, X9;              \
	VPBROADCASTW X9, X9;              \
	VMOVD        Rb, X10;             \
	VPBROADCASTW X10, X10;            \
	VINSERTI128  $1, X10, Y9, Y9

// BLOCKEND adds Y8 times the f16 at (SI) times the float at (DX) to Y0.
#define BLOCKEND \
	F16SCALE((SI), (DX), X1, Y1); \
	VCVTDQ2PS   Y8, Y8;           \
	VFMADD231PS Y8, Y1, Y0

#define PROLOGUE \
	MOVQ   w+0(FP), SI;     \
	MOVQ   q+8(FP), DI;     \
	MOVQ   d+16(FP), DX;    \
	MOVQ   nb+24(FP), CX;   \
	MOVQ   grid+32(FP), R13; \
	VXORPS Y0, Y0, Y0

#define EPILOGUE \
	HSUM8(Y0, X0, X1); \
	VZEROUPPER;        \
	MOVSS X0, ret+40(FP); \
	RET

// SIGNED_MULADD moves the signs of the weights Y1 (never zero) onto the
// next 32 codes, makes Y1 their magnitudes, multiplies, weights the pair
// sums by Y9 and adds them to Y8; advances DI.
#define SIGNED_MULADD \
	VMOVDQU    (DI), Y5;   \
	VPSIGNB    Y1, Y5, Y5; \
	VPSIGNB    Y1, Y1, Y1; \
	VPMADDUBSW Y5, Y1, Y6; \
	VPMADDWD   Y9, Y6, Y6; \
	VPADDD     Y6, Y8, Y8; \
	ADDQ       $32, DI

// X1M_GROUP(l, qhoff, sh): Y3 = 8*point of IQ1_M group l: index byte
// l(R11) with bits sh.. of the qh byte qhoff(R12) as bits 8-10.
#define X1M_GROUP(l, qhoff, sh) \
	MOVBLZX l(R11), AX;         \
	MOVBLZX qhoff(R12), R9;     \
	SHRL    $sh, R9;            \
	ANDL    $7, R9;             \
	SHLL    $8, R9;             \
	ORL     R9, AX;             \
	VPBROADCASTQ (R13)(AX*8), Y3

// X1M_SUB(s1, s2): one IQ1_M sub-block of 32 whose two 3-bit scales are
// bits s1.. and s2.. of the scale word in BX.
#define X1M_SUB(s1, s2) \
	X1M_GROUP(0, 0, 0);    \
	PUTG0_A;               \
	X1M_GROUP(1, 0, 4);    \
	PUTG1_A;               \
	X1M_GROUP(2, 1, 0);    \
	PUTG0_B;               \
	X1M_GROUP(3, 1, 4);    \
	PUTG1_B;               \
	VSIGNS((R12));         \
	VPADDB  Y2, Y1, Y1;    \
	MOVL    BX, AX;        \
	SHRL    $s1, AX;       \
	ANDL    $7, AX;        \
	MOVL    BX, R10;       \
	SHRL    $s2, R10;      \
	ANDL    $7, R10;       \
	SCALE16(AX, R10);      \
	SIGNED_MULADD;         \
	ADDQ    $4, R11;       \
	ADDQ    $2, R12

// func dotIQ1MAVX2(w *byte, q *int8, d *float32, nb int, grid *uint64) float32
// As dotIQ1SAVX2 with a shift per group of eight and a scale per 16; the
// f16 super-block scale is gathered from the top nibbles of the four scale
// words.
TEXT ·dotIQ1MAVX2(SB), NOSPLIT, $0-44
	PROLOGUE
	SIGNCONST(iq1mShuf<>(SB), iq1mBits<>(SB))
	TESTQ CX, CX
	JEQ   x1mdone

x1mblock:
	VPXOR Y8, Y8, Y8
	MOVQ  SI, R11
	LEAQ  32(SI), R12

x1msub:
	// R12 - SI - 32 = 2*sub-block; the scale word is at 48 + that/2*2.
	MOVQ    R12, AX
	SUBQ    SI, AX
	SUBQ    $32, AX
	SHRQ    $2, AX
	MOVWLZX 48(SI)(AX*2), BX
	X1M_SUB(0, 3)
	X1M_SUB(6, 9)
	LEAQ    48(SI), AX
	CMPQ    R12, AX
	JNE     x1msub

	// The f16 scale: (w0>>12) | (w1>>8)&0xf0 | (w2>>4)&0xf00 | w3&0xf000.
	MOVWLZX      48(SI), AX
	SHRL         $12, AX
	MOVWLZX      50(SI), R10
	SHRL         $8, R10
	ANDL         $0xf0, R10
	ORL          R10, AX
	MOVWLZX      52(SI), R10
	SHRL         $4, R10
	ANDL         $0xf00, R10
	ORL          R10, AX
	MOVWLZX      54(SI), R10
	ANDL         $0xf000, R10
	ORL          R10, AX
	VMOVD        AX, X1
	VCVTPH2PS    X1, X1
	VMULSS       (DX), X1, X1
	VBROADCASTSS X1, Y1
	VCVTDQ2PS    Y8, Y8
	VFMADD231PS  Y8, Y1, Y0

	ADDQ $56, SI
	ADDQ $4, DX
	DECQ CX
	JNZ  x1mblock

x1mdone:
	EPILOGUE
