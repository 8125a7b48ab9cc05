//go:build !purego

#include "textflag.h"
#include "avx512_amd64.h"

// The grid i-quants against one Q8_K activation row on AVX-512 (F, BW,
// VL, VBMI) with VNNI: many-row kernels
//
//	func(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *G)
//
// (bs, the activation's 16-code sums, is read by the IQ1 kernels only),
// one 64-element pair of sub-blocks per 512-bit register. The eight
// uint64 grid points of a pair (IQ2_*, IQ1_*) are broadcast from the
// grid, four into each 256-bit half, all but the first of each half by a
// merge-masked VPBROADCASTQ (K1-K3 hold the masks 2, 4, 8), and the
// halves joined by VINSERTI64X4; the sixteen uint32 points of IQ3_XXS and
// IQ3_S likewise by VPBROADCASTD into four 128-bit quarters (a
// VPGATHERDD was slower on this Zen 4). The weights' signs go straight
// into a 64-bit mask (KMOVQ) and onto the activation codes by a masked
// VPSUBB from zero; VPMADDUBSW multiplies the magnitudes with the signed
// codes and VPDPWSSD weights the pair sums by the scales (spread over the
// 128-bit lanes, one scale per 16 elements, by VPERMW from sixteen scale
// words in Z2) into the super-block's int32 sums, which are converted
// and added times d*d8 into Z0. The IQ1 types need no signs: their
// weights 8*point+-1 are taken as 8*point+-1+9 >= 0 and 9 times the
// codes' sums taken off per super-block.
//
// What needs more than a few instructions per super-block (grid indices
// wider than a byte, the 7-bit sign fields completed by their parity,
// scale words, IQ1 shift masks) is built in vector registers one
// super-block ahead and stored in the other half of the stack frame (R12
// = the current super-block's tables, R14 = the next's, swapped per
// super-block): loaded right after their own stores, the narrow loads
// waited for the wide stores (1.25x on IQ2_S).
//
// Registers: R8 = the row, R9 = rows left, R10 = rowBytes, R11 = the next
// result, R13 = the grid; SI = the super-block, DI = the codes, DX = the
// activation scales, BX = the 16-code sums (IQ1; saved at 256(SP) while
// it holds indices), CX = super-blocks left, AX and BX = the indices being
// loaded; Z0 = the float sums, Z8, Z10 = the int32 sums,
// Z30 = zero, Z24-Z27 = the VPERMW indices of the four pairs' scales.

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
	MOVQ   rows+40(FP), R9;     \
	MOVQ   rowBytes+48(FP), R10; \
	MOVQ   out+56(FP), R11;     \
	MOVQ   grid+64(FP), R13;    \
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

// GRIDROW starts a row: SI = its weights, DI = q, DX = d, BX = bs, CX =
// nb, Z0 = 0, R12 and R14 = the two halves of the stack (the current and
// the next super-block's tables).
#define GRIDROW \
	MOVQ   R8, SI;        \
	MOVQ   q+8(FP), DI;   \
	MOVQ   d+16(FP), DX;  \
	MOVQ   bs+24(FP), BX; \
	MOVQ   nb+32(FP), CX; \
	VPXORD Z0, Z0, Z0;    \
	LEAQ   0(SP), R12;    \
	LEAQ   128(SP), R14

// GRIDNEXT(bytes, block) swaps R12 and R14, moves SI on by a super-block
// of bytes, DI, DX and BX by the activation's, and loops to block while
// super-blocks are left.
#define GRIDNEXT(bytes, block) \
	XCHGQ R12, R14;  \
	ADDQ  $bytes, SI; \
	ADDQ  $256, DI;  \
	ADDQ  $4, DX;    \
	ADDQ  $32, BX;   \
	DECQ  CX;        \
	JNZ   block

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

// PT4X(LOAD, EXT, sh, src, off, BCAST, sc, Y) sets Y to the four grid
// points (BCAST: VPBROADCASTQ/D, index scale sc) of the four indices
// packed in the 8 or 4 bytes at off(src): one LOAD, each index taken by
// EXT (MOVWLZX, MOVBLZX) and a shift by sh, all but the first broadcast
// merge-masked (K1-K3); clobbers AX, BX. (One load instead of four: the
// load ports, not the ALUs, were the limit.)
#define PT4X(LOAD, EXT, sh, src, off, BCAST, sc, Y) \
	LOAD  (off)(src), AX;          \
	EXT   AX, BX;                  \
	BCAST (R13)(BX*sc), Y;         \
	SHRQ  $sh, AX;                 \
	EXT   AX, BX;                  \
	BCAST (R13)(BX*sc), K1, Y;     \
	SHRQ  $sh, AX;                 \
	EXT   AX, BX;                  \
	BCAST (R13)(BX*sc), K2, Y;     \
	SHRQ  $sh, AX;                 \
	BCAST (R13)(AX*sc), K3, Y

// PTS8W(off) sets Z1 to the eight grid qwords of the index words at
// off(R12); clobbers Y7.
#define PTS8W(off) \
	PT4X(MOVQ, MOVWLZX, 16, R12, off, VPBROADCASTQ, 8, Y1);   \
	PT4X(MOVQ, MOVWLZX, 16, R12, off+8, VPBROADCASTQ, 8, Y7); \
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

// SCALES16(off) sets Y2 (Z2's upper half zero) to the sixteen scales
// 2*(s&15)+1, 2*(s>>4)+1 of the eight scale bytes s at off(SI), with
// Y23 = 0x1e words and Y19 = 1 words; clobbers Y4-Y7.
#define SCALES16(off) \
	VPMOVZXBW   off(SI), X4;     \
	VPSRLW      $4, X4, X6;      \
	VPUNPCKLWD  X6, X4, X5;      \
	VPUNPCKHWD  X6, X4, X7;      \
	VINSERTI128 $1, X7, Y5, Y5;  \
	VPSLLW      $1, Y5, Y5;      \
	VPANDD      Y23, Y5, Y5;     \
	VPORD       Y19, Y5, Y2

// SCALECONST sets Y23 = 0x1e words and Y19 = 1 words; clobbers AX.
#define SCALECONST \
	MOVL         $0x1e, AX;  \
	VPBROADCASTW AX, Y23;    \
	MOVL         $1, AX;     \
	VPBROADCASTW AX, Y19

// IQ2S_IDX(off, R) stores at (R) the 32 grid indices of the IQ2_S
// super-block at off(SI).
#define IQ2S_IDX(off, R) \
	VPMOVZXBW    (off+2)(SI), Z3;  \
	VPBROADCASTQ (off+66)(SI), Z4; \
	VPSHUFB      Z20, Z4, Z4;      \
	VPSRLVW      Z21, Z4, Z4;      \
	VPANDD       Z22, Z4, Z4;      \
	VPORD        Z3, Z4, Z4;       \
	VMOVDQU64    Z4, (R)

// IQ2_S: per super-block the 32 ten-bit grid indices (qs | two qh bits
// << 8: qh byte i/4 put in the high byte of word i by VPSHUFB, shifted
// right by 2(i%4) by VPSRLVW, masked) stored at 0(SP), and the sixteen
// scales 2*s+1 as words in Z2.
//
// func dotIQ2Sx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *uint64)
TEXT ·dotIQ2Sx1VNNI(SB), NOSPLIT, $256-72
	GRIDARGS
	SCIDX(4)
	VMOVDQU64    iq2sQhShuf<>(SB), Z20
	VMOVDQU64    iq2sQhShift<>(SB), Z21
	MOVL         $0x0300, AX
	VPBROADCASTW AX, Z22
	SCALECONST

iq2srow:
	GRIDROW
	IQ2S_IDX(0, R12)
	SCALES16(74)
	VMOVDQU Y2, 64(R12)

iq2sblock:
	// The next super-block's grid indices.
	CMPQ CX, $1
	JEQ  iq2slast
	IQ2S_IDX(82, R14)
	SCALES16(82+74)
	VMOVDQU Y2, 64(R14)

iq2slast:
	VMOVDQU 64(R12), Y2

	IQ2S_PAIR(0, Z24, VPMADDWD, Z8)
	IQ2S_PAIR(1, Z25, VPMADDWD, Z10)
	IQ2S_PAIR(2, Z26, VPDPWSSD, Z8)
	IQ2S_PAIR(3, Z27, VPDPWSSD, Z10)

	GRIDBLOCKEND
	GRIDNEXT(82, iq2sblock)

	GRIDROWEND(0x3e000000, iq2srow)
	VZEROUPPER
	RET

// The 7-bit sign fields of IQ2_XXS and IQ3_XXS, completed to eight bits
// by their parity as ksigns_iq2xs does: VPMULTISHIFTQB takes the four
// fields of each of a qword's two aux words (bits 0, 7, 14, 21 and 32, 39,
// 46, 53), and the parity of a field (of its nibbles' xor) is looked up
// by VPSHUFB as 0x80.
DATA iqSignShift<>+0x00(SB)/8, $0x352e2720150e0700
DATA iqSignShift<>+0x08(SB)/8, $0x352e2720150e0700
DATA iqSignShift<>+0x10(SB)/8, $0x352e2720150e0700
DATA iqSignShift<>+0x18(SB)/8, $0x352e2720150e0700
GLOBL iqSignShift<>(SB), RODATA|NOPTR, $32

DATA iqParity<>+0x00(SB)/8, $0x8000008000808000
DATA iqParity<>+0x08(SB)/8, $0x0080800080000080
DATA iqParity<>+0x10(SB)/8, $0x8000008000808000
DATA iqParity<>+0x18(SB)/8, $0x0080800080000080
GLOBL iqParity<>(SB), RODATA|NOPTR, $32

// IQ2_XXS's aux words: dwords 1, 3, ..., 15 of a super-block's 64 bytes
// after the scale.
DATA iqAuxIdx<>+0x00(SB)/8, $0x0000000300000001
DATA iqAuxIdx<>+0x08(SB)/8, $0x0000000700000005
DATA iqAuxIdx<>+0x10(SB)/8, $0x0000000b00000009
DATA iqAuxIdx<>+0x18(SB)/8, $0x0000000f0000000d
GLOBL iqAuxIdx<>(SB), RODATA|NOPTR, $32

// PARITYCONST sets Y16 = the parity table, Y17 = 0x0f bytes and Y18 =
// 0x7f bytes; clobbers AX.
#define PARITYCONST \
	VMOVDQU64    iqParity<>(SB), Y16; \
	MOVL         $0x0f0f0f0f, AX;     \
	VPBROADCASTD AX, Y17;             \
	MOVL         $0x7f7f7f7f, AX;     \
	VPBROADCASTD AX, Y18

// PARITY sets bit 7 of each of the 32 bytes of Y5 (7-bit fields) to the
// parity of its low seven bits; clobbers Y6.
#define PARITY \
	VPSRLW  $4, Y5, Y6;  \
	VPXORD  Y5, Y6, Y6;  \
	VPANDD  Y17, Y6, Y6; \
	VPSHUFB Y6, Y16, Y6; \
	VPORD   Y6, Y5, Y5

// XXS_AUX(R) stores at (R) the 32 sign bytes and at 32(R) the sixteen
// scale words (2*(aux>>28)+1, two per sub-block) of the eight aux words
// in Y4, with Y15 = the VPMULTISHIFTQB control and Y13 = 1 dwords;
// clobbers Y5-Y7.
#define XXS_AUX(R) \
	VPMULTISHIFTQB Y4, Y15, Y5; \
	VPANDD         Y18, Y5, Y5; \
	PARITY;                     \
	VMOVDQU        Y5, (R);     \
	VPSRLD         $28, Y4, Y6; \
	VPSLLD         $1, Y6, Y6;  \
	VPORD          Y13, Y6, Y6; \
	VPSLLD         $16, Y6, Y7; \
	VPORD          Y7, Y6, Y6;  \
	VMOVDQU        Y6, 32(R)

// XXSCONST sets the constants of XXS_AUX and PARITY; clobbers AX.
#define XXSCONST \
	PARITYCONST;                        \
	VMOVDQU      iqSignShift<>(SB), Y15; \
	MOVL         $1, AX;                 \
	VPBROADCASTD AX, Y13

// PTS8B(off) sets Z1 to the eight grid qwords of the index bytes at
// off..off+3 and off+8..off+11 of SI (IQ2_XXS); clobbers Y7.
#define PTS8B(off) \
	PT4X(MOVL, MOVBLZX, 8, SI, off, VPBROADCASTQ, 8, Y1);   \
	PT4X(MOVL, MOVBLZX, 8, SI, off+8, VPBROADCASTQ, 8, Y7); \
	VINSERTI64X4 $1, Y7, Z1, Z1

// IQ2XXS_PREP(off, R): the signs and scales of the IQ2_XXS super-block at
// off(SI) to (R) (XXS_AUX); Z14 = the aux dword indices.
#define IQ2XXS_PREP(off, R) \
	VMOVDQU64 (off+2)(SI), Z3; \
	VPERMD    Z3, Z14, Z4;     \
	XXS_AUX(R)

// SIGNED_PAIR(p, IDX, OP, ACC): the points Z1 of pair p against its 64
// codes, signed by the sign bytes at 8p(R12), the pair sums weighted by
// the scales of Z2 (VPERMW by IDX) into ACC by OP.
#define SIGNED_PAIR(p, soff, IDX, OP, ACC) \
	KMOVQ  (soff+8*p)(R12), K4; \
	SIGNMUL(K4, 64*p);          \
	VPERMW Z2, IDX, Z9;         \
	OP     Z9, Z6, ACC

// func dotIQ2XXSx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *uint64)
// Per super-block the 32 sign bytes and the scales are built from the
// aux words (XXS_AUX) one super-block ahead; the grid indices are bytes
// read from the block.
TEXT ·dotIQ2XXSx1VNNI(SB), NOSPLIT, $256-72
	GRIDARGS
	SCIDX(4)
	XXSCONST
	VMOVDQU iqAuxIdx<>(SB), Y14

xxsrow:
	GRIDROW
	IQ2XXS_PREP(0, R12)

xxsblock:
	CMPQ CX, $1
	JEQ  xxslast
	IQ2XXS_PREP(66, R14)

xxslast:
	VMOVDQU 32(R12), Y2
	PTS8B(2)
	SIGNED_PAIR(0, 0, Z24, VPMADDWD, Z8)
	PTS8B(18)
	SIGNED_PAIR(1, 0, Z25, VPMADDWD, Z10)
	PTS8B(34)
	SIGNED_PAIR(2, 0, Z26, VPDPWSSD, Z8)
	PTS8B(50)
	SIGNED_PAIR(3, 0, Z27, VPDPWSSD, Z10)

	GRIDBLOCKEND
	GRIDNEXT(66, xxsblock)

	GRIDROWEND(0x3e000000, xxsrow)
	VZEROUPPER
	RET

// IQ2XS_PREP(off, R): the grid indices (low 9 bits of each uint16) of the
// IQ2_XS super-block at off(SI) as words at (R), its 32 sign bytes (the
// top 7 bits and their parity) at 64(R); Z12 = 511 words.
#define IQ2XS_PREP(off, R) \
	VMOVDQU64 (off+2)(SI), Z3; \
	VPANDD    Z12, Z3, Z4;     \
	VMOVDQU64 Z4, (R);         \
	VPSRLW    $9, Z3, Z5;      \
	VPMOVWB   Z5, Y5;          \
	PARITY;                    \
	VMOVDQU   Y5, 64(R)

// func dotIQ2XSx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *uint64)
TEXT ·dotIQ2XSx1VNNI(SB), NOSPLIT, $256-72
	GRIDARGS
	SCIDX(4)
	PARITYCONST
	SCALECONST
	MOVL         $511, AX
	VPBROADCASTW AX, Z12

xsrow:
	GRIDROW
	IQ2XS_PREP(0, R12)
	SCALES16(66)
	VMOVDQU Y2, 96(R12)

xsblock:
	CMPQ CX, $1
	JEQ  xslast
	IQ2XS_PREP(74, R14)
	SCALES16(74+66)
	VMOVDQU Y2, 96(R14)

xslast:
	VMOVDQU 96(R12), Y2
	PTS8W(0)
	SIGNED_PAIR(0, 64, Z24, VPMADDWD, Z8)
	PTS8W(16)
	SIGNED_PAIR(1, 64, Z25, VPMADDWD, Z10)
	PTS8W(32)
	SIGNED_PAIR(2, 64, Z26, VPDPWSSD, Z8)
	PTS8W(48)
	SIGNED_PAIR(3, 64, Z27, VPDPWSSD, Z10)

	GRIDBLOCKEND
	GRIDNEXT(74, xsblock)

	GRIDROWEND(0x3e000000, xsrow)
	VZEROUPPER
	RET

// IQ1_S's word g takes qh word g/4, shifted right by 3(g%4) for its high
// index bits; its scales (two words per sub-block) take qh word k/2.
DATA iq1sQhIdx<>+0x00(SB)/8, $0x0000000000000000
DATA iq1sQhIdx<>+0x08(SB)/8, $0x0001000100010001
DATA iq1sQhIdx<>+0x10(SB)/8, $0x0002000200020002
DATA iq1sQhIdx<>+0x18(SB)/8, $0x0003000300030003
DATA iq1sQhIdx<>+0x20(SB)/8, $0x0004000400040004
DATA iq1sQhIdx<>+0x28(SB)/8, $0x0005000500050005
DATA iq1sQhIdx<>+0x30(SB)/8, $0x0006000600060006
DATA iq1sQhIdx<>+0x38(SB)/8, $0x0007000700070007
GLOBL iq1sQhIdx<>(SB), RODATA|NOPTR, $64

DATA iq1sQhShift<>+0x00(SB)/8, $0x0009000600030000
DATA iq1sQhShift<>+0x08(SB)/8, $0x0009000600030000
DATA iq1sQhShift<>+0x10(SB)/8, $0x0009000600030000
DATA iq1sQhShift<>+0x18(SB)/8, $0x0009000600030000
DATA iq1sQhShift<>+0x20(SB)/8, $0x0009000600030000
DATA iq1sQhShift<>+0x28(SB)/8, $0x0009000600030000
DATA iq1sQhShift<>+0x30(SB)/8, $0x0009000600030000
DATA iq1sQhShift<>+0x38(SB)/8, $0x0009000600030000
GLOBL iq1sQhShift<>(SB), RODATA|NOPTR, $64

DATA iq1sScIdx<>+0x00(SB)/8, $0x0001000100000000
DATA iq1sScIdx<>+0x08(SB)/8, $0x0003000300020002
DATA iq1sScIdx<>+0x10(SB)/8, $0x0005000500040004
DATA iq1sScIdx<>+0x18(SB)/8, $0x0007000700060006
GLOBL iq1sScIdx<>(SB), RODATA|NOPTR, $32

// The IQ1 types take their weights 8*point+-1 (-9..9) as the unsigned
// 8*point+-1+9 from a grid of 8*point+10 less 2 where the shift is
// negative (a qword-masked VPSUBQ of 0x02 bytes, one mask bit per group
// of eight), and take 9 times the codes' sums (the activation's 16-code
// sums weighted by the scales, VPMADDWD) off each super-block's sums.

// IQ1S_PREP(off, R): the grid indices of the IQ1_S super-block at
// off(SI) as words at (R) and its groups' shift signs (bit 15 of the
// sub-block's qh word) as a 32-bit mask at 64(R); Z20 = iq1sQhIdx, Z21 =
// iq1sQhShift, Z22 = 7 words.
#define IQ1S_PREP(off, R) \
	VPMOVZXBW       (off+2)(SI), Z3;  \
	VBROADCASTI32X4 (off+34)(SI), Z4; \
	VPERMW          Z4, Z20, Z5;      \
	VPMOVW2M        Z5, K5;           \
	KMOVQ           K5, 64(R);        \
	VPSRLVW         Z21, Z5, Z6;      \
	VPANDD          Z22, Z6, Z6;      \
	VPSLLW          $8, Z6, Z6;       \
	VPORD           Z3, Z6, Z6;       \
	VMOVDQU64       Z6, (R)

// IQ1_PAIR(p, IDX, OP, ACC): pair p of an IQ1 super-block: the points of
// its index words at 16p(R12) less the negative shifts (mask byte
// 64+p(R12)) times its 64 codes, the pair sums weighted by the scales of
// Z2 (VPERMW by IDX) into ACC by OP; Z23 = 0x02 bytes.
#define IQ1_PAIR(p, IDX, OP, ACC) \
	PTS8W(16*p);                   \
	KMOVW      (64+p)(R12), K5;    \
	VPSUBQ     Z23, Z1, K5, Z1;    \
	VPMADDUBSW (64*p)(DI), Z1, Z6; \
	VPERMW     Z2, IDX, Z9;        \
	OP         Z9, Z6, ACC

// IQ1CORR sets Z11 (upper half zero) to 9 times the activation's 16-code
// sums at (BX) weighted by the scales Y2; clobbers Y28.
#define IQ1CORR \
	VPMADDWD (BX), Y2, Y11;    \
	VPSLLD   $3, Y11, Y28;     \
	VPADDD   Y28, Y11, Y11

// IQ1CONST sets Z20-Z23 and Y12 = iq1sScIdx for the IQ1_S kernel, Y19 =
// 1 words; clobbers AX.
#define IQ1CONST \
	VMOVDQU64    iq1sQhIdx<>(SB), Z20;   \
	VMOVDQU64    iq1sQhShift<>(SB), Z21; \
	MOVL         $7, AX;                 \
	VPBROADCASTW AX, Z22;                \
	MOVL         $0x02020202, AX;        \
	VPBROADCASTD AX, Z23;                \
	MOVL         $1, AX;                 \
	VPBROADCASTW AX, Y19

// func dotIQ1Sx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *uint64)
// grid is iq1s_grid as 8*point+10 bytes. The scales 2*ls+1 (bits 12-14 of
// the qh words), two words per sub-block, are built per super-block in Y2.
TEXT ·dotIQ1Sx1VNNI(SB), NOSPLIT, $264-72
	GRIDARGS
	SCIDX(4)
	IQ1CONST
	VMOVDQU iq1sScIdx<>(SB), Y12

x1srow:
	GRIDROW
	IQ1S_PREP(0, R12)

x1sblock:
	CMPQ CX, $1
	JEQ  x1slast
	IQ1S_PREP(50, R14)

x1slast:
	VMOVDQU 34(SI), X4
	VPSRLW  $12, X4, X4
	VPANDD  X22, X4, X4
	VPADDW  X4, X4, X4
	VPORD   X19, X4, X4
	VPERMW  Y4, Y12, Y2
	IQ1CORR
	MOVQ BX, 256(SP)
	IQ1_PAIR(0, Z24, VPMADDWD, Z8)
	IQ1_PAIR(1, Z25, VPMADDWD, Z10)
	IQ1_PAIR(2, Z26, VPDPWSSD, Z8)
	IQ1_PAIR(3, Z27, VPDPWSSD, Z10)
	MOVQ 256(SP), BX
	VPSUBD Z11, Z8, Z8

	GRIDBLOCKEND
	GRIDNEXT(50, x1sblock)

	GRIDROWEND(0x3e000000, x1srow)
	VZEROUPPER
	RET

// The IQ3 types' sixteen uint32 points of a pair are broadcast into four
// 128-bit quarters (a VPGATHERDD was slower on this Zen 4), all but the
// first of each by a merge-masked VPBROADCASTD (K1-K3 as dword masks).

// PTS16(LOAD, EXT, sh, src, off, n) sets Z1 to the sixteen grid dwords
// of the indices at off(src), four in each n bytes (PT4X); clobbers Z7,
// Z28, Z29.
#define PTS16(LOAD, EXT, sh, src, off, n) \
	PT4X(LOAD, EXT, sh, src, off, VPBROADCASTD, 4, X1);       \
	PT4X(LOAD, EXT, sh, src, off+n, VPBROADCASTD, 4, X7);     \
	PT4X(LOAD, EXT, sh, src, off+2*n, VPBROADCASTD, 4, X28);  \
	PT4X(LOAD, EXT, sh, src, off+3*n, VPBROADCASTD, 4, X29);  \
	VINSERTI128  $1, X7, Y1, Y1;                               \
	VINSERTI32X4 $1, X29, Y28, Y28;                            \
	VINSERTI64X4 $1, Y28, Z1, Z1

// func dotIQ3XXSx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *uint32)
// As dotIQ2XXSx1VNNI with the aux words after the 64 index bytes and
// sixteen uint32 grid points per pair.
TEXT ·dotIQ3XXSx1VNNI(SB), NOSPLIT, $256-72
	GRIDARGS
	SCIDX(4)
	XXSCONST

x3xxsrow:
	GRIDROW
	VMOVDQU (66)(SI), Y4
	XXS_AUX(R12)

x3xxsblock:
	CMPQ    CX, $1
	JEQ     x3xxslast
	VMOVDQU (98+66)(SI), Y4
	XXS_AUX(R14)

x3xxslast:
	VMOVDQU 32(R12), Y2
	PTS16(MOVL, MOVBLZX, 8, SI, 2, 4)
	SIGNED_PAIR(0, 0, Z24, VPMADDWD, Z8)
	PTS16(MOVL, MOVBLZX, 8, SI, 18, 4)
	SIGNED_PAIR(1, 0, Z25, VPMADDWD, Z10)
	PTS16(MOVL, MOVBLZX, 8, SI, 34, 4)
	SIGNED_PAIR(2, 0, Z26, VPDPWSSD, Z8)
	PTS16(MOVL, MOVBLZX, 8, SI, 50, 4)
	SIGNED_PAIR(3, 0, Z27, VPDPWSSD, Z10)

	GRIDBLOCKEND
	GRIDNEXT(98, x3xxsblock)

	GRIDROWEND(0x3e800000, x3xxsrow)
	VZEROUPPER
	RET

// IQ3S_PREP(off, R): the 64 nine-bit grid indices of the IQ3_S
// super-block at off(SI) as words at (R) (the index bytes, 256 added by a
// word-masked VPADDW where the qh bit is set); Z12 = 256 words.
#define IQ3S_PREP(off, R) \
	VPMOVZXBW (off+2)(SI), Z3;    \
	VPMOVZXBW (off+34)(SI), Z4;   \
	KMOVQ     (off+66)(SI), K6;   \
	KSHIFTRQ  $32, K6, K7;        \
	VPADDW    Z12, Z3, K6, Z3;    \
	VPADDW    Z12, Z4, K7, Z4;    \
	VMOVDQU64 Z3, (R);            \
	VMOVDQU64 Z4, 64(R)

// IQ3S_PAIR(p, IDX, OP, ACC): pair p of an IQ3_S super-block: the points
// of its index words at 32p(R12), signed by the sign bytes at
// 74+8p(SI), weighted by the scales of Z2 (VPERMW by IDX).
#define IQ3S_PAIR(p, IDX, OP, ACC) \
	PTS16(MOVQ, MOVWLZX, 16, R12, 32*p, 8); \
	KMOVQ   (74+8*p)(SI), K4;     \
	SIGNMUL(K4, 64*p);            \
	VPERMW  Z2, IDX, Z9;          \
	OP      Z9, Z6, ACC

// func dotIQ3Sx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *uint32)
// The grid indices are built one super-block ahead (IQ3S_PREP), the
// scales (a nibble per sub-block, 2*s+1 as two words each in Y2) per
// super-block; the signs are read from the block.
TEXT ·dotIQ3Sx1VNNI(SB), NOSPLIT, $256-72
	GRIDARGS
	SCIDX(4)
	SCALECONST
	VMOVDQU      iq1sScIdx<>(SB), Y13
	MOVL         $256, AX
	VPBROADCASTW AX, Z12

x3srow:
	GRIDROW
	IQ3S_PREP(0, R12)

x3sblock:
	CMPQ CX, $1
	JEQ  x3slast
	IQ3S_PREP(110, R14)

x3slast:
	MOVL       106(SI), AX
	VMOVD      AX, X4
	VPMOVZXBW  X4, X4
	VPSRLW     $4, X4, X6
	VPUNPCKLWD X6, X4, X5
	VPSLLW     $1, X5, X5
	VPANDD     X23, X5, X5
	VPORD      X19, X5, X5
	VPERMW     Y5, Y13, Y2
	IQ3S_PAIR(0, Z24, VPMADDWD, Z8)
	IQ3S_PAIR(1, Z25, VPMADDWD, Z10)
	IQ3S_PAIR(2, Z26, VPDPWSSD, Z8)
	IQ3S_PAIR(3, Z27, VPDPWSSD, Z10)

	GRIDBLOCKEND
	GRIDNEXT(110, x3sblock)

	GRIDROWEND(0x3f800000, x3srow)
	VZEROUPPER
	RET

// IQ1_M's word g (sub-block half g/2, group k = g%2) takes qh byte g/2
// in its high byte (VPERMB); shifted left by 4-4k it has the group's
// shift sign in bit 15, right by 4k its three high index bits in bits
// 8-10. Its scale word k takes scale word k/4 shifted right by 3(k%4).
DATA iq1mQhIdx<>+0x00(SB)/8, $0x0101010100000000
DATA iq1mQhIdx<>+0x08(SB)/8, $0x0303030302020202
DATA iq1mQhIdx<>+0x10(SB)/8, $0x0505050504040404
DATA iq1mQhIdx<>+0x18(SB)/8, $0x0707070706060606
DATA iq1mQhIdx<>+0x20(SB)/8, $0x0909090908080808
DATA iq1mQhIdx<>+0x28(SB)/8, $0x0b0b0b0b0a0a0a0a
DATA iq1mQhIdx<>+0x30(SB)/8, $0x0d0d0d0d0c0c0c0c
DATA iq1mQhIdx<>+0x38(SB)/8, $0x0f0f0f0f0e0e0e0e
GLOBL iq1mQhIdx<>(SB), RODATA|NOPTR, $64

DATA iq1mShl<>+0x00(SB)/8, $0x0000000400000004
DATA iq1mShl<>+0x08(SB)/8, $0x0000000400000004
DATA iq1mShl<>+0x10(SB)/8, $0x0000000400000004
DATA iq1mShl<>+0x18(SB)/8, $0x0000000400000004
DATA iq1mShl<>+0x20(SB)/8, $0x0000000400000004
DATA iq1mShl<>+0x28(SB)/8, $0x0000000400000004
DATA iq1mShl<>+0x30(SB)/8, $0x0000000400000004
DATA iq1mShl<>+0x38(SB)/8, $0x0000000400000004
GLOBL iq1mShl<>(SB), RODATA|NOPTR, $64

DATA iq1mShr<>+0x00(SB)/8, $0x0004000000040000
DATA iq1mShr<>+0x08(SB)/8, $0x0004000000040000
DATA iq1mShr<>+0x10(SB)/8, $0x0004000000040000
DATA iq1mShr<>+0x18(SB)/8, $0x0004000000040000
DATA iq1mShr<>+0x20(SB)/8, $0x0004000000040000
DATA iq1mShr<>+0x28(SB)/8, $0x0004000000040000
DATA iq1mShr<>+0x30(SB)/8, $0x0004000000040000
DATA iq1mShr<>+0x38(SB)/8, $0x0004000000040000
GLOBL iq1mShr<>(SB), RODATA|NOPTR, $64

DATA iq1mScShuf<>+0x00(SB)/8, $0x0100010001000100
DATA iq1mScShuf<>+0x08(SB)/8, $0x0302030203020302
DATA iq1mScShuf<>+0x10(SB)/8, $0x0504050405040504
DATA iq1mScShuf<>+0x18(SB)/8, $0x0706070607060706
GLOBL iq1mScShuf<>(SB), RODATA|NOPTR, $32

DATA iq1mScShift<>+0x00(SB)/8, $0x0009000600030000
DATA iq1mScShift<>+0x08(SB)/8, $0x0009000600030000
DATA iq1mScShift<>+0x10(SB)/8, $0x0009000600030000
DATA iq1mScShift<>+0x18(SB)/8, $0x0009000600030000
GLOBL iq1mScShift<>(SB), RODATA|NOPTR, $32

// IQ1M_PREP(off, R): the grid indices of the IQ1_M super-block at
// off(SI) as words at (R) and its groups' shift signs as a 32-bit mask at
// 64(R); Z20 = iq1mQhIdx, Z21 = iq1mShl, Z15 = iq1mShr, Z22 = 0x0700
// words.
#define IQ1M_PREP(off, R) \
	VPMOVZXBW       (off)(SI), Z3;    \
	VBROADCASTI32X4 (off+32)(SI), Z4; \
	VPERMB          Z4, Z20, Z5;      \
	VPSLLVW         Z21, Z5, Z6;      \
	VPMOVW2M        Z6, K5;           \
	KMOVQ           K5, 64(R);        \
	VPSRLVW         Z15, Z5, Z6;      \
	VPANDD          Z22, Z6, Z6;      \
	VPORD           Z3, Z6, Z6;       \
	VMOVDQU64       Z6, (R)

// func dotIQ1Mx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32, grid *uint64)
// As dotIQ1Sx1VNNI with a shift per group of eight and a 3-bit scale per
// 16 elements (2*ls+1 words built per super-block in Y2); the f16
// super-block scale is gathered from the top nibbles of the four scale
// words.
TEXT ·dotIQ1Mx1VNNI(SB), NOSPLIT, $264-72
	GRIDARGS
	SCIDX(4)
	VMOVDQU64    iq1mQhIdx<>(SB), Z20
	VMOVDQU64    iq1mShl<>(SB), Z21
	VMOVDQU64    iq1mShr<>(SB), Z15
	MOVL         $0x0700, AX
	VPBROADCASTW AX, Z22
	MOVL         $0x02020202, AX
	VPBROADCASTD AX, Z23
	MOVL         $1, AX
	VPBROADCASTW AX, Y19
	MOVL         $7, AX
	VPBROADCASTW AX, Y18
	VMOVDQU      iq1mScShuf<>(SB), Y13
	VMOVDQU      iq1mScShift<>(SB), Y12
	MOVL         $0x00100001, AX
	VPBROADCASTD AX, X16
	MOVL         $0x01000001, AX
	VPBROADCASTD AX, X17

x1mrow:
	GRIDROW
	IQ1M_PREP(0, R12)

x1mblock:
	CMPQ CX, $1
	JEQ  x1mlast
	IQ1M_PREP(56, R14)

x1mlast:
	VPBROADCASTQ 48(SI), Y4
	VPSHUFB      Y13, Y4, Y4
	VPSRLVW      Y12, Y4, Y4
	VPANDD       Y18, Y4, Y4
	VPADDW       Y4, Y4, Y4
	VPORD        Y19, Y4, Y2
	IQ1CORR
	MOVQ BX, 256(SP)
	IQ1_PAIR(0, Z24, VPMADDWD, Z8)
	IQ1_PAIR(1, Z25, VPMADDWD, Z10)
	IQ1_PAIR(2, Z26, VPDPWSSD, Z8)
	IQ1_PAIR(3, Z27, VPDPWSSD, Z10)
	MOVQ 256(SP), BX
	VPSUBD Z11, Z8, Z8

	// The f16 scale from the top nibbles n0..n3 of the scale words:
	// n0+16*n1, n2+16*n3 by VPMADDWD with X16, packed to words and
	// joined by VPMADDWD with X17.
	VPADDD       Z10, Z8, Z8
	VCVTDQ2PS    Z8, Z8
	VMOVQ        48(SI), X31
	VPSRLW       $12, X31, X31
	VPMADDWD     X16, X31, X31
	VPACKUSDW    X31, X31, X31
	VPMADDWD     X17, X31, X31
	VCVTPH2PS    X31, X31
	VMULSS       (DX), X31, X31
	VBROADCASTSS X31, Z31
	VFMADD231PS  Z31, Z8, Z0

	GRIDNEXT(56, x1mblock)

	GRIDROWEND(0x3e000000, x1mrow)
	VZEROUPPER
	RET
