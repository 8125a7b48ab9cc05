//go:build !purego

#include "textflag.h"
#include "avx2_amd64.h"

// The AVX2 dot product of IQ1_M with Q8_K activations, after ggml's AVX2
// kernel (the other grid types' kernels are in iqgridvec_amd64.s): per
// super-block the 32 grid indices and the sixteen scales are built in
// vector registers and stored on the stack, one super-block ahead (R8 =
// the current table, R9 = the next); per 32-element sub-block the
// four groups of eight (8*point, a uint64 each) are broadcast from the
// grid and blended into one register (no shuffle-port inserts), the
// groups' shifts (+-1, from qh bits 3 and 7) expanded in registers
// (VSIGNS) and added. The weights' signs are moved onto the activation
// codes with VPSIGNB, the magnitudes multiplied with them by VPMADDUBSW
// and the pair sums by the scales of the two 16-element halves with
// VPMADDWD; each super-block's int32 sums are converted and added times
// d*d8. The Go wrapper applies the factor 1/8.
//
// Registers: SI = the weight block, DI = the activation codes, DX = the
// activation scales, CX = blocks left, R13 = the grid, R10 = the
// sub-block, R11 = its index words, Y0 = the float accumulator, Y8 = the
// block's int32 sums, Y1/Y2 = the weights and shifts being built (Y3 the
// broadcast loads), Y9 = the scale words.

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

// IQ1_M's index words: word i of a 16-index vector (sub-block i/4, group
// l = i%4) takes qh byte i/2 of the broadcast qword and is multiplied by
// 2^13 (l even: bits 0-2) or 2^9 (l odd: bits 4-6) to move its high index
// bits to bits 13-15.
DATA iq1mIdxShuf<>+0x00(SB)/8, $0x8001800180008000
DATA iq1mIdxShuf<>+0x08(SB)/8, $0x8003800380028002
DATA iq1mIdxShuf<>+0x10(SB)/8, $0x8005800580048004
DATA iq1mIdxShuf<>+0x18(SB)/8, $0x8007800780068006
GLOBL iq1mIdxShuf<>(SB), RODATA|NOPTR, $32

DATA iq1mIdxMul<>+0x00(SB)/8, $0x0200200002002000
DATA iq1mIdxMul<>+0x08(SB)/8, $0x0200200002002000
DATA iq1mIdxMul<>+0x10(SB)/8, $0x0200200002002000
DATA iq1mIdxMul<>+0x18(SB)/8, $0x0200200002002000
GLOBL iq1mIdxMul<>(SB), RODATA|NOPTR, $32

// IQ1_M's sixteen 3-bit scales: word i takes scale word i/4 and is
// multiplied by 2^(13-3(i%4)) to move its bits 3(i%4).. to bits 13-15.
DATA iq1mScShuf<>+0x00(SB)/8, $0x0100010001000100
DATA iq1mScShuf<>+0x08(SB)/8, $0x0302030203020302
DATA iq1mScShuf<>+0x10(SB)/8, $0x0504050405040504
DATA iq1mScShuf<>+0x18(SB)/8, $0x0706070607060706
GLOBL iq1mScShuf<>(SB), RODATA|NOPTR, $32

DATA iq1mScMul<>+0x00(SB)/8, $0x0010008004002000
DATA iq1mScMul<>+0x08(SB)/8, $0x0010008004002000
DATA iq1mScMul<>+0x10(SB)/8, $0x0010008004002000
DATA iq1mScMul<>+0x18(SB)/8, $0x0010008004002000
GLOBL iq1mScMul<>(SB), RODATA|NOPTR, $32

DATA iq1mWord1<>+0x00(SB)/8, $0x0001000100010001
DATA iq1mWord1<>+0x08(SB)/8, $0x0001000100010001
DATA iq1mWord1<>+0x10(SB)/8, $0x0001000100010001
DATA iq1mWord1<>+0x18(SB)/8, $0x0001000100010001
GLOBL iq1mWord1<>(SB), RODATA|NOPTR, $32

// A sub-block's scale pair (word 0 for the low lane, word 1 for the high)
// of a broadcast dword spread over each lane's eight words.
DATA iq1mScalePair<>+0x00(SB)/8, $0x0100010001000100
DATA iq1mScalePair<>+0x08(SB)/8, $0x0100010001000100
DATA iq1mScalePair<>+0x10(SB)/8, $0x0302030203020302
DATA iq1mScalePair<>+0x18(SB)/8, $0x0302030203020302
GLOBL iq1mScalePair<>(SB), RODATA|NOPTR, $32

// X1M_IDX16(off, k, R) stores the 16 grid indices of sub-blocks 4k..4k+3
// of the super-block at off(SI) as words at 32k(R): index byte | the
// group's three qh bits << 8.
#define X1M_IDX16(off, k, R) \
	VPMOVZXBW    (off+16*k)(SI), Y3;    \
	VPBROADCASTQ (off+32+8*k)(SI), Y4;  \
	VPSHUFB      Y14, Y4, Y4;       \
	VPMULLW      Y15, Y4, Y4;       \
	VPSRLW       $13, Y4, Y4;       \
	VPSLLW       $8, Y4, Y4;        \
	VPOR         Y3, Y4, Y4;        \
	VMOVDQU      Y4, (32*k)(R)

// X1M_PREP(off, R) stores at (R) the 32 grid indices of the IQ1_M
// super-block at off(SI) and its sixteen scales 2*ls+1 at 64(R).
#define X1M_PREP(off, R) \
	X1M_IDX16(off, 0, R);                      \
	X1M_IDX16(off, 1, R);                      \
	VPBROADCASTQ (off+48)(SI), Y4;             \
	VPSHUFB      iq1mScShuf<>(SB), Y4, Y4;     \
	VPMULLW      iq1mScMul<>(SB), Y4, Y4;      \
	VPSRLW       $13, Y4, Y4;                  \
	VPADDW       Y4, Y4, Y4;                   \
	VPOR         iq1mWord1<>(SB), Y4, Y4;      \
	VMOVDQU      Y4, 64(R)

// func dotIQ1MAVX2(w *byte, q *int8, d *float32, nb int, grid *uint64) float32
// Weights 8*point+-1 as in dotIQ1SAVX2, a shift per group of eight and a
// scale per 16. Per super-block the 32 grid indices are built in vector
// registers (X1M_IDX16) at 0(SP) and the sixteen scales 2*ls+1 at 64(SP);
// the f16 super-block scale is gathered from the top nibbles of the four
// scale words.
TEXT ·dotIQ1MAVX2(SB), NOSPLIT, $192-44
	PROLOGUE
	SIGNCONST(iq1mShuf<>(SB), iq1mBits<>(SB))
	VMOVDQU iq1mIdxShuf<>(SB), Y14
	VMOVDQU iq1mIdxMul<>(SB), Y15
	VMOVDQU iq1mScalePair<>(SB), Y10
	TESTQ   CX, CX
	JEQ     x1mdone
	LEAQ    0(SP), R8
	LEAQ    96(SP), R9
	X1M_PREP(0, R8)

x1mblock:
	// The next super-block's tables.
	CMPQ CX, $1
	JEQ  x1mlast
	X1M_PREP(56, R9)

x1mlast:
	VPXOR Y8, Y8, Y8
	XORQ  R10, R10

x1msub:
	LEAQ (R8)(R10*8), R11
	PTS4Q
	VSIGNS(32(SI)(R10*2))
	VPADDB       Y2, Y1, Y1
	VPBROADCASTD 64(R8)(R10*4), Y9
	VPSHUFB      Y10, Y9, Y9
	SIGNED_MULADD
	INCQ R10
	CMPQ R10, $8
	JNE  x1msub

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

	XCHGQ R8, R9
	ADDQ  $56, SI
	ADDQ  $4, DX
	DECQ  CX
	JNZ   x1mblock

x1mdone:
	EPILOGUE
