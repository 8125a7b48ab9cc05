//go:build !purego

#include "textflag.h"
#include "avx512_amd64.h"

// The grid i-quants against one Q8_K activation row on AVX-512 (F, BW,
// VL, VBMI) with VNNI: many-row kernels
//
//	func(w *byte, q *int8, d *float32, nb, rows, rowBytes int, out *float32, grid *G)
//
// one 64-element pair of sub-blocks per 512-bit register. The eight grid
// points of a pair are broadcast from the grid, four into each 256-bit
// half, all but the first of each half by a merge-masked VPBROADCASTQ
// (K1-K3 hold the qword masks 2, 4, 8), and the halves joined by
// VINSERTI64X4. The weights' signs go straight into a 64-bit mask (KMOVQ)
// and onto the activation codes by a masked VPSUBB from zero; VPMADDUBSW
// multiplies the magnitudes with the signed codes and VPDPWSSD weights
// the pair sums by the scales (spread over the 128-bit lanes, one scale
// per 16 elements, by VPERMW) into the super-block's int32 sums, which
// are converted and added times d*d8 into Z0. Grid indices wider than a
// byte are built for the whole super-block in vector registers and
// stored as words on the stack.
//
// Registers: R8 = the row, R9 = rows left, R10 = rowBytes, R11 = the next
// result, R13 = the grid; SI = the super-block, DI = the codes, DX = the
// activation scales, CX = super-blocks left; Z0 = the float sums, Z8, Z10
// = the int32 sums, Z30 = zero, Z24-Z27 = the VPERMW indices of the four
// pairs' scales.

DATA iq2sQhShuf<>+0x00(SB)/8, $0x0080008000800080
DATA iq2sQhShuf<>+0x08(SB)/8, $0x0180018001800180
DATA iq2sQhShuf<>+0x10(SB)/8, $0x0280028002800280
DATA iq2sQhShuf<>+0x18(SB)/8, $0x0380038003800380
DATA iq2sQhShuf<>+0x20(SB)/8, $0x0480048004800480
DATA iq2sQhShuf<>+0x28(SB)/8, $0x0580058005800580
DATA iq2sQhShuf<>+0x30(SB)/8, $0x0680068006800680
DATA iq2sQhShuf<>+0x38(SB)/8, $0x0780078007800780
GLOBL iq2sQhShuf<>(SB), RODATA|NOPTR, $64

DATA iq2sQhShift<>+0x00(SB)/8, $0x0006000400020000
DATA iq2sQhShift<>+0x08(SB)/8, $0x0006000400020000
DATA iq2sQhShift<>+0x10(SB)/8, $0x0006000400020000
DATA iq2sQhShift<>+0x18(SB)/8, $0x0006000400020000
DATA iq2sQhShift<>+0x20(SB)/8, $0x0006000400020000
DATA iq2sQhShift<>+0x28(SB)/8, $0x0006000400020000
DATA iq2sQhShift<>+0x30(SB)/8, $0x0006000400020000
DATA iq2sQhShift<>+0x38(SB)/8, $0x0006000400020000
GLOBL iq2sQhShift<>(SB), RODATA|NOPTR, $64

// The VPERMW indices of the first pair's scales: lane j of the register
// takes scale word j (the next pair's are these plus 4).
DATA iqScIdx16<>+0x00(SB)/8, $0x0000000000000000
DATA iqScIdx16<>+0x08(SB)/8, $0x0000000000000000
DATA iqScIdx16<>+0x10(SB)/8, $0x0001000100010001
DATA iqScIdx16<>+0x18(SB)/8, $0x0001000100010001
DATA iqScIdx16<>+0x20(SB)/8, $0x0002000200020002
DATA iqScIdx16<>+0x28(SB)/8, $0x0002000200020002
DATA iqScIdx16<>+0x30(SB)/8, $0x0003000300030003
DATA iqScIdx16<>+0x38(SB)/8, $0x0003000300030003
GLOBL iqScIdx16<>(SB), RODATA|NOPTR, $64

// GRIDARGS loads R8-R11 and R13 from the arguments, the point masks
// K1-K3, Z30 = 0; clobbers AX.
#define GRIDARGS \
	MOVQ   w+0(FP), R8;         \
	MOVQ   rows+32(FP), R9;     \
	MOVQ   rowBytes+40(FP), R10; \
	MOVQ   out+48(FP), R11;     \
	MOVQ   grid+56(FP), R13;    \
	MOVL   $2, AX;              \
	KMOVW  AX, K1;              \
	MOVL   $4, AX;              \
	KMOVW  AX, K2;              \
	MOVL   $8, AX;              \
	KMOVW  AX, K3;              \
	VPXORD Z30, Z30, Z30

// SCIDX(step) sets Z24-Z27 to the VPERMW indices of the four pairs'
// scales, the pair's first scale word advancing by step; clobbers AX.
#define SCIDX(step) \
	VMOVDQU64    iqScIdx16<>(SB), Z24; \
	MOVL         $step, AX;            \
	VPBROADCASTW AX, Z29;              \
	VPADDW       Z29, Z24, Z25;        \
	VPADDW       Z29, Z25, Z26;        \
	VPADDW       Z29, Z26, Z27

// GRIDROW starts a row: SI = its weights, DI = q, DX = d, CX = nb, Z0 = 0.
#define GRIDROW \
	MOVQ   R8, SI;       \
	MOVQ   q+8(FP), DI;  \
	MOVQ   d+16(FP), DX; \
	MOVQ   nb+24(FP), CX; \
	VPXORD Z0, Z0, Z0

// GRIDBLOCKEND adds Z8+Z10 times the f16 at (SI) times the float at (DX)
// to Z0; clobbers AX, Z31.
#define GRIDBLOCKEND \
	VPADDD       Z10, Z8, Z8; \
	VCVTDQ2PS    Z8, Z8;      \
	MOVWLZX      (SI), AX;    \
	VMOVD        AX, X31;     \
	VCVTPH2PS    X31, X31;    \
	VMULSS       (DX), X31, X31; \
	VBROADCASTSS X31, Z31;    \
	VFMADD231PS  Z31, Z8, Z0

// GRIDROWEND sums Z0 times the float32 with bits f into X0 and stores it
// to the row's result, and loops to row while rows are left.
#define GRIDROWEND(f, row) \
	HSUM16(Z0, Y0, X0, Y1, X1); \
	MOVL   $f, AX;              \
	VMOVD  AX, X1;              \
	VMULSS X1, X0, X0;          \
	ROWNEXT(row)

// PTS8W(off) sets Z1 to the eight grid qwords of the index words at
// off(SP).
#define PTS8W(off) \
	MOVWLZX      (off)(SP), AX;         \
	VPBROADCASTQ (R13)(AX*8), Y1;       \
	MOVWLZX      (off+2)(SP), BX;       \
	VPBROADCASTQ (R13)(BX*8), K1, Y1;   \
	MOVWLZX      (off+4)(SP), R12;      \
	VPBROADCASTQ (R13)(R12*8), K2, Y1;  \
	MOVWLZX      (off+6)(SP), R14;      \
	VPBROADCASTQ (R13)(R14*8), K3, Y1;  \
	MOVWLZX      (off+8)(SP), AX;       \
	VPBROADCASTQ (R13)(AX*8), Y7;       \
	MOVWLZX      (off+10)(SP), BX;      \
	VPBROADCASTQ (R13)(BX*8), K1, Y7;   \
	MOVWLZX      (off+12)(SP), R12;     \
	VPBROADCASTQ (R13)(R12*8), K2, Y7;  \
	MOVWLZX      (off+14)(SP), R14;     \
	VPBROADCASTQ (R13)(R14*8), K3, Y7;  \
	VINSERTI64X4 $1, Y7, Z1, Z1

// SIGNMUL(k, qoff) moves the signs in K(k) (a bit per code) onto the 64
// codes at qoff(DI) and multiplies them with the magnitudes Z1: Z6 = the
// 32 pair sums.
#define SIGNMUL(kreg, qoff) \
	VMOVDQU64  (qoff)(DI), Z5;     \
	VPSUBB     Z5, Z30, kreg, Z5;  \
	VPMADDUBSW Z5, Z1, Z6

// IQ2S_PAIR(p, IDX, OP, ACC): pair p of an IQ2_S super-block, the pair
// sums weighted by the scales of Z2 (VPERMW by IDX) into ACC by OP
// (VPMADDWD for the first pair of an accumulator, VPDPWSSD after).
#define IQ2S_PAIR(p, IDX, OP, ACC) \
	PTS8W(16*p);                   \
	KMOVQ   (34+8*p)(SI), K4;      \
	SIGNMUL(K4, 64*p);             \
	VPERMW  Z2, IDX, Z9;           \
	OP      Z9, Z6, ACC

// IQ2_S: per super-block the 32 ten-bit grid indices (qs | two qh bits
// << 8: qh byte i/4 put in the high byte of word i by VPSHUFB, shifted
// right by 2(i%4) by VPSRLVW, masked) stored at 0(SP), and the sixteen
// scales 2*s+1 as words in Z2.
//
// func dotIQ2Sx1VNNI(w *byte, q *int8, d *float32, nb, rows, rowBytes int, out *float32, grid *uint64)
TEXT ·dotIQ2Sx1VNNI(SB), NOSPLIT, $64-64
	GRIDARGS
	SCIDX(4)
	VMOVDQU64    iq2sQhShuf<>(SB), Z20
	VMOVDQU64    iq2sQhShift<>(SB), Z21
	MOVL         $0x0300, AX
	VPBROADCASTW AX, Z22
	MOVL         $0x1e, AX
	VPBROADCASTW AX, Y23
	MOVL         $1, AX
	VPBROADCASTW AX, Y19

iq2srow:
	GRIDROW

iq2sblock:
	// The grid indices.
	VPMOVZXBW    2(SI), Z3
	VPBROADCASTQ 66(SI), Z4
	VPSHUFB      Z20, Z4, Z4
	VPSRLVW      Z21, Z4, Z4
	VPANDD       Z22, Z4, Z4
	VPORD        Z3, Z4, Z4
	VMOVDQU64    Z4, 0(SP)

	// The scales: words 2*(s&15)+1, 2*(s>>4)+1 of each scale byte s.
	VPMOVZXBW    74(SI), X4
	VPSRLW       $4, X4, X6
	VPUNPCKLWD   X6, X4, X5
	VPUNPCKHWD   X6, X4, X7
	VINSERTI128  $1, X7, Y5, Y5
	VPSLLW       $1, Y5, Y5
	VPANDD       Y23, Y5, Y5
	VPORD        Y19, Y5, Y2

	IQ2S_PAIR(0, Z24, VPMADDWD, Z8)
	IQ2S_PAIR(1, Z25, VPMADDWD, Z10)
	IQ2S_PAIR(2, Z26, VPDPWSSD, Z8)
	IQ2S_PAIR(3, Z27, VPDPWSSD, Z10)

	GRIDBLOCKEND
	ADDQ $82, SI
	ADDQ $256, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  iq2sblock

	GRIDROWEND(0x3e000000, iq2srow)
	VZEROUPPER
	RET
