//go:build !purego

#include "textflag.h"
#include "avx2_amd64.h"

// AVX2 dot products of the grid i-quants IQ3_S, IQ2_S, IQ2_XS, IQ1_S,
// IQ2_XXS and IQ3_XXS with Q8_K activations, after ggml's AVX2 kernels but
// with the per-point scalar work done in vector registers:
//
//   - IQ3_S: the eight 9-bit indices of a sub-block built with
//     VPMOVZXBD/VPSRLVD from the index and qh bytes, its eight grid points
//     fetched with one VPGATHERDD, the scales built per super-block and
//     broadcast from the stack;
//   - IQ1_S and IQ2_S: a super-block's 32 grid indices (with their high
//     bits from qh, moved by VPSHUFB and a per-word VPMULLW) stored as
//     words on the stack, so that each point costs a quarter of a load
//     (PTS4Q), a shift, a broadcast load and a blend; IQ1_S's shifts and scales and IQ2_S's and IQ2_XS's
//     scale pairs likewise built per super-block and broadcast from the
//     stack per sub-block (VPBROADCASTB/W, or VPBROADCASTD and VPSHUFB
//     for the two scales of a sub-block's 16-element halves);
//   - IQ2_XXS and IQ3_XXS: as ggml's (the four groups' points and sign
//     patterns broadcast from the grid and a sign table and blended).
//
// The stack tables are built one super-block ahead, into the other half
// of the frame (R8 = the current half, R9 = the next, swapped per
// super-block): loaded right after their own stores, the narrow index
// loads waited for the wide stores (1.15-1.2x on IQ2_S, IQ1_S, IQ1_M).
//
// Otherwise as ggml's: the points broadcast from the grid and blended
// (no shuffle-port inserts), signs on the codes by VPSIGNB (IQ1_S: the
// weights 8*point+-1 are signed themselves), VPMADDUBSW, scales by
// VPMADDWD, per super-block int32 sums converted and added times d*d8.
// (On this Zen 4 VM a VPGATHERQQ of IQ1_S's four qword points was slower
// than four broadcasts, so only IQ3_S gathers.)
//
// Registers: SI = the weight block, DI = the codes,
// DX = the activation scales, CX = blocks left, R13 = the grid, R11 = the
// sub-block's index words, R12 = 2*sub-block, Y0 = the float accumulator,
// Y8 = the block's int32 sums, Y9 = the scale words, Y1 = the points,
// Y2 = the signs.

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

// EPILOGUES is EPILOGUE for the kernels that also take a sign table.
#define EPILOGUES \
	HSUM8(Y0, X0, X1); \
	VZEROUPPER;        \
	MOVSS X0, ret+48(FP); \
	RET

// SCALE32(Rg) broadcasts 2*Rg+1 (Rg < 16) into every word of Y9.
#define SCALE32(Rg) \
	LEAL         1(Rg)(Rg*1), Rg; \
	VMOVD        Rg, X9;          \
	VPBROADCASTW X9, Y9

// BLOCKEND adds Y8 times the f16 at (SI) times the float at (DX) to Y0.
#define BLOCKEND \
	F16SCALE((SI), (DX), X1, Y1); \
	VCVTDQ2PS   Y8, Y8;           \
	VFMADD231PS Y8, Y1, Y0

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

// PTS4QXS is PTS4Q (avx2_amd64.h) for IQ2_XS, whose indices are the low 9
// bits of each word.
#define PTS4QXS \
	MOVQ         (R11), AX;           \
	MOVWLZX      AX, BX;              \
	ANDL         $511, BX;            \
	VPBROADCASTQ (R13)(BX*8), Y1;     \
	SHRQ         $16, AX;             \
	MOVWLZX      AX, BX;              \
	ANDL         $511, BX;            \
	VPBROADCASTQ (R13)(BX*8), Y3;     \
	VPBLENDD     $0x0c, Y3, Y1, Y1;   \
	SHRQ         $16, AX;             \
	MOVWLZX      AX, BX;              \
	ANDL         $511, BX;            \
	VPBROADCASTQ (R13)(BX*8), Y3;     \
	VPBLENDD     $0x30, Y3, Y1, Y1;   \
	SHRQ         $16, AX;             \
	ANDL         $511, AX;            \
	VPBROADCASTQ (R13)(AX*8), Y3;     \
	VPBLENDD     $0xc0, Y3, Y1, Y1

// IQ3_S's high index bits: bit l of qh for point l.
DATA iq3sShifts<>+0x00(SB)/8, $0x0000000100000000
DATA iq3sShifts<>+0x08(SB)/8, $0x0000000300000002
DATA iq3sShifts<>+0x10(SB)/8, $0x0000000500000004
DATA iq3sShifts<>+0x18(SB)/8, $0x0000000700000006
GLOBL iq3sShifts<>(SB), RODATA|NOPTR, $32

DATA iqSignShufG<>+0x00(SB)/8, $0x0000000000000000
DATA iqSignShufG<>+0x08(SB)/8, $0x0101010101010101
DATA iqSignShufG<>+0x10(SB)/8, $0x0202020202020202
DATA iqSignShufG<>+0x18(SB)/8, $0x0303030303030303
GLOBL iqSignShufG<>(SB), RODATA|NOPTR, $32

DATA iqSignBitsG<>+0x00(SB)/8, $0x8040201008040201
DATA iqSignBitsG<>+0x08(SB)/8, $0x8040201008040201
DATA iqSignBitsG<>+0x10(SB)/8, $0x8040201008040201
DATA iqSignBitsG<>+0x18(SB)/8, $0x8040201008040201
GLOBL iqSignBitsG<>(SB), RODATA|NOPTR, $32

// VSIGNS(mem) sets Y2 to the +-1 bytes of the four sign bytes at mem,
// with Y11 = the shuffle, Y12 = the bits, Y13 = 0x01 bytes.
#define VSIGNS(mem) \
	VPBROADCASTD mem, Y2;      \
	VPSHUFB      Y11, Y2, Y2;  \
	VPAND        Y12, Y2, Y2;  \
	VPCMPEQB     Y12, Y2, Y2;  \
	VPOR         Y13, Y2, Y2

// X3SCALES(off, R) stores at (R) the eight sub-blocks' scales 2*ls+1 of
// the IQ3_S super-block at off(SI) as words.
#define X3SCALES(off, R) \
	VMOVD      (off+106)(SI), X4;      \
	VPMOVZXBW  X4, X4;                 \
	VPAND      iqWord15<>(SB), X4, X5; \
	VPSRLW     $4, X4, X6;             \
	VPUNPCKLWD X6, X5, X4;             \
	VPADDW     X4, X4, X4;             \
	VPOR       iqWord1<>(SB), X4, X4;  \
	VMOVDQU    X4, (R)

// func dotIQ3SAVX2(w *byte, q *int8, d *float32, nb int, grid *uint32) float32
TEXT ·dotIQ3SAVX2(SB), NOSPLIT, $32-44
	PROLOGUE
	VMOVDQU      iq3sShifts<>(SB), Y14
	MOVL         $1, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	VMOVDQU      iqSignShufG<>(SB), Y11
	VMOVDQU      iqSignBitsG<>(SB), Y12
	MOVL         $0x01010101, AX
	VMOVD        AX, X13
	VPBROADCASTD X13, Y13
	TESTQ        CX, CX
	JEQ          x3done
	LEAQ         0(SP), R8
	LEAQ         16(SP), R9
	X3SCALES(0, R8)

x3block:
	// The next super-block's scales.
	CMPQ CX, $1
	JEQ  x3last
	X3SCALES(110, R9)

x3last:
	VPXOR Y8, Y8, Y8
	XORQ  R10, R10

x3sub:
	VPBROADCASTB 66(SI)(R10*1), Y4
	VPSRLVD      Y14, Y4, Y4
	VPAND        Y15, Y4, Y4
	VPSLLD       $8, Y4, Y4
	VPMOVZXBD    2(SI)(R10*8), Y3
	VPOR         Y3, Y4, Y4
	VPCMPEQD     Y6, Y6, Y6
	VPGATHERDD   Y6, (R13)(Y4*4), Y1
	VSIGNS(74(SI)(R10*4))
	VPBROADCASTW (R8)(R10*2), Y9
	VMOVDQU      (DI), Y5
	VPSIGNB      Y2, Y5, Y5
	VPMADDUBSW   Y5, Y1, Y6
	VPMADDWD     Y9, Y6, Y6
	VPADDD       Y6, Y8, Y8
	ADDQ         $32, DI
	INCQ         R10
	CMPQ         R10, $8
	JNE          x3sub

	BLOCKEND
	XCHGQ R8, R9
	ADDQ $110, SI
	ADDQ $4, DX
	DECQ CX
	JNZ  x3block

x3done:
	EPILOGUE

// IQ1_S's index words: word i of a 16-index vector takes qh word i/4
// (bytes 2(i/4), 2(i/4)+1 of the broadcast qword), is multiplied by
// 2^(13-3(i%4)) so that its bits 3l..3l+2 end in bits 13-15.
DATA iq1sWordShuf<>+0x00(SB)/8, $0x0100010001000100
DATA iq1sWordShuf<>+0x08(SB)/8, $0x0302030203020302
DATA iq1sWordShuf<>+0x10(SB)/8, $0x0504050405040504
DATA iq1sWordShuf<>+0x18(SB)/8, $0x0706070607060706
GLOBL iq1sWordShuf<>(SB), RODATA|NOPTR, $32

DATA iq1sWordMul<>+0x00(SB)/8, $0x0010008004002000
DATA iq1sWordMul<>+0x08(SB)/8, $0x0010008004002000
DATA iq1sWordMul<>+0x10(SB)/8, $0x0010008004002000
DATA iq1sWordMul<>+0x18(SB)/8, $0x0010008004002000
GLOBL iq1sWordMul<>(SB), RODATA|NOPTR, $32

// IQ1S_IDX16(off, k, R) stores the 16 grid indices of sub-blocks
// 4k..4k+3 of the super-block at off(SI) as words at 32k(R): index byte |
// bits 3l.. of the sub-block's qh << 8.
#define IQ1S_IDX16(off, k, R) \
	VPMOVZXBW    (off+2+16*k)(SI), Y3;  \
	VPBROADCASTQ (off+34+8*k)(SI), Y4;  \
	VPSHUFB      Y14, Y4, Y4;       \
	VPMULLW      Y15, Y4, Y4;       \
	VPSRLW       $13, Y4, Y4;       \
	VPSLLW       $8, Y4, Y4;        \
	VPOR         Y3, Y4, Y4;        \
	VMOVDQU      Y4, (32*k)(R)

// IQ1S_PREP(off, R) stores at (R) the 32 grid indices of the IQ1_S
// super-block at off(SI) (IQ1S_IDX16), its sub-blocks' shifts (words +-1)
// at 64(R) and their scales 2*ls+1 at 80(R).
#define IQ1S_PREP(off, R) \
	IQ1S_IDX16(off, 0, R);      \
	IQ1S_IDX16(off, 1, R);      \
	VMOVDQU (off+34)(SI), X4;   \
	VPSRAW  $15, X4, X5;        \
	VPOR    X12, X5, X5;        \
	VMOVDQU X5, 64(R);          \
	VPSRLW  $12, X4, X6;        \
	VPAND   X13, X6, X6;        \
	VPADDW  X6, X6, X6;         \
	VPOR    X12, X6, X6;        \
	VMOVDQU X6, 80(R)

// func dotIQ1SAVX2(w *byte, q *int8, d *float32, nb int, grid *uint64) float32
// Per super-block the 32 grid indices are built with vector operations
// (IQ1S_IDX16) and stored at 0(SP), the eight sub-blocks' shifts (words
// +-1) at 64(SP) and their scales 2*ls+1 at 80(SP); per sub-block the
// points are broadcast from the grid and blended, the shift byte and the
// scale word broadcast from the stack.
TEXT ·dotIQ1SAVX2(SB), NOSPLIT, $192-44
	PROLOGUE
	VMOVDQU      iq1sWordShuf<>(SB), Y14
	VMOVDQU      iq1sWordMul<>(SB), Y15
	MOVL         $0x00010001, AX
	VMOVD        AX, X12
	VPBROADCASTD X12, X12
	MOVL         $0x00070007, AX
	VMOVD        AX, X13
	VPBROADCASTD X13, X13
	TESTQ        CX, CX
	JEQ          sdone
	LEAQ         0(SP), R8
	LEAQ         96(SP), R9
	IQ1S_PREP(0, R8)

sblock:
	// The next super-block's tables.
	CMPQ CX, $1
	JEQ  slast
	IQ1S_PREP(50, R9)

slast:
	VPXOR Y8, Y8, Y8
	XORQ  R12, R12

ssub:
	LEAQ (R8)(R12*4), R11
	PTS4Q
	VPBROADCASTB 64(R8)(R12*1), Y2
	VPADDB       Y2, Y1, Y1
	VPBROADCASTW 80(R8)(R12*1), Y9
	SIGNED_MULADD
	ADDQ $2, R12
	CMPQ R12, $16
	JNE  ssub

	BLOCKEND
	XCHGQ R8, R9
	ADDQ $50, SI
	ADDQ $4, DX
	DECQ CX
	JNZ  sblock

sdone:
	EPILOGUE

// IQ2_S's index words: word i of a 16-index vector takes qh byte i/4 of
// the broadcast dword and is multiplied by 2^(14-2(i%4)) so that its bits
// 2l, 2l+1 end in bits 14-15.
DATA iq2sWordShuf<>+0x00(SB)/8, $0x8000800080008000
DATA iq2sWordShuf<>+0x08(SB)/8, $0x8001800180018001
DATA iq2sWordShuf<>+0x10(SB)/8, $0x8002800280028002
DATA iq2sWordShuf<>+0x18(SB)/8, $0x8003800380038003
GLOBL iq2sWordShuf<>(SB), RODATA|NOPTR, $32

DATA iq2sWordMul<>+0x00(SB)/8, $0x0100040010004000
DATA iq2sWordMul<>+0x08(SB)/8, $0x0100040010004000
DATA iq2sWordMul<>+0x10(SB)/8, $0x0100040010004000
DATA iq2sWordMul<>+0x18(SB)/8, $0x0100040010004000
GLOBL iq2sWordMul<>(SB), RODATA|NOPTR, $32

// The scale pair (word 0 for the low lane, word 1 for the high) of a
// broadcast dword spread over each lane's eight words.
DATA iqScalePair<>+0x00(SB)/8, $0x0100010001000100
DATA iqScalePair<>+0x08(SB)/8, $0x0100010001000100
DATA iqScalePair<>+0x10(SB)/8, $0x0302030203020302
DATA iqScalePair<>+0x18(SB)/8, $0x0302030203020302
GLOBL iqScalePair<>(SB), RODATA|NOPTR, $32

DATA iqWord15<>+0x00(SB)/8, $0x000f000f000f000f
DATA iqWord15<>+0x08(SB)/8, $0x000f000f000f000f
GLOBL iqWord15<>(SB), RODATA|NOPTR, $16

DATA iqWord1<>+0x00(SB)/8, $0x0001000100010001
DATA iqWord1<>+0x08(SB)/8, $0x0001000100010001
GLOBL iqWord1<>(SB), RODATA|NOPTR, $16

// IQ2S_IDX16(off, k, R) stores the 16 grid indices of sub-blocks
// 4k..4k+3 of the super-block at off(SI) as words at 32k(R): index byte |
// bits 2l, 2l+1 of the sub-block's qh << 8.
#define IQ2S_IDX16(off, k, R) \
	VPMOVZXBW    (off+2+16*k)(SI), Y3;  \
	VPBROADCASTD (off+66+4*k)(SI), Y4;  \
	VPSHUFB      Y14, Y4, Y4;       \
	VPMULLW      Y15, Y4, Y4;       \
	VPSRLW       $14, Y4, Y4;       \
	VPSLLW       $8, Y4, Y4;        \
	VPOR         Y3, Y4, Y4;        \
	VMOVDQU      Y4, (32*k)(R)

// SCALEPAIRS(off, R) stores at 64(R) the eight sub-blocks' scale pairs
// 2*(s&15)+1, 2*(s>>4)+1 of the scale bytes s at off(SI), a dword each.
#define SCALEPAIRS(off, R) \
	VPMOVZXBW  (off)(SI), X4;          \
	VPAND      iqWord15<>(SB), X4, X5; \
	VPSRLW     $4, X4, X6;             \
	VPUNPCKLWD X6, X5, X4;             \
	VPUNPCKHWD X6, X5, X5;             \
	VPADDW     X4, X4, X4;             \
	VPADDW     X5, X5, X5;             \
	VPOR       iqWord1<>(SB), X4, X4;  \
	VPOR       iqWord1<>(SB), X5, X5;  \
	VMOVDQU    X4, 64(R);              \
	VMOVDQU    X5, 80(R)


// MULADD multiplies the magnitudes Y1, signed by Y2, with the next 32
// codes, weights the pair sums by Y9 and adds them to Y8; advances DI.
#define MULADD \
	VMOVDQU     (DI), Y5;       \
	VPSIGNB     Y2, Y5, Y5;     \
	VPMADDUBSW  Y5, Y1, Y6;     \
	VPMADDWD    Y9, Y6, Y6;     \
	VPADDD      Y6, Y8, Y8;     \
	ADDQ        $32, DI

// func dotIQ2SAVX2(w *byte, q *int8, d *float32, nb int, grid *uint64) float32
// As dotIQ1SAVX2: the 32 grid indices built per super-block at
// 0(SP), the scale pairs at 64(SP); signs expanded from the sign bytes.
TEXT ·dotIQ2SAVX2(SB), NOSPLIT, $192-44
	PROLOGUE
	VMOVDQU      iq2sWordShuf<>(SB), Y14
	VMOVDQU      iq2sWordMul<>(SB), Y15
	VMOVDQU      iqScalePair<>(SB), Y10
	VMOVDQU      iqSignShufG<>(SB), Y11
	VMOVDQU      iqSignBitsG<>(SB), Y12
	MOVL         $0x01010101, AX
	VMOVD        AX, X13
	VPBROADCASTD X13, Y13
	TESTQ        CX, CX
	JEQ          s2done
	LEAQ         0(SP), R8
	LEAQ         96(SP), R9
	IQ2S_IDX16(0, 0, R8)
	IQ2S_IDX16(0, 1, R8)
	SCALEPAIRS(74, R8)

s2block:
	// The next super-block's tables.
	CMPQ CX, $1
	JEQ  s2last
	IQ2S_IDX16(82, 0, R9)
	IQ2S_IDX16(82, 1, R9)
	SCALEPAIRS(82+74, R9)

s2last:
	VPXOR Y8, Y8, Y8
	XORQ  R12, R12

s2sub:
	LEAQ (R8)(R12*4), R11
	PTS4Q
	VSIGNS(34(SI)(R12*2))
	VPBROADCASTD 64(R8)(R12*2), Y9
	VPSHUFB      Y10, Y9, Y9
	MULADD
	ADDQ $2, R12
	CMPQ R12, $16
	JNE  s2sub

	BLOCKEND
	XCHGQ R8, R9
	ADDQ $82, SI
	ADDQ $4, DX
	DECQ CX
	JNZ  s2block

s2done:
	EPILOGUE

// IQ2_XS's sign expansion: the byte of word l (0, 2, 4, 6) repeated over
// group l, and the parity bit (0x80) of each nibble.
DATA iq2xsShuf<>+0x00(SB)/8, $0x0000000000000000
DATA iq2xsShuf<>+0x08(SB)/8, $0x0202020202020202
DATA iq2xsShuf<>+0x10(SB)/8, $0x0404040404040404
DATA iq2xsShuf<>+0x18(SB)/8, $0x0606060606060606
GLOBL iq2xsShuf<>(SB), RODATA|NOPTR, $32

DATA iq2xsParity<>+0x00(SB)/8, $0x8000008000808000
DATA iq2xsParity<>+0x08(SB)/8, $0x0080800080000080
GLOBL iq2xsParity<>(SB), RODATA|NOPTR, $16

// XS_SIGNS sets Y2 to the +-1 bytes of the sub-block's four 7-bit sign
// fields (bits 9-15 of the uint16s at R11), each completed to eight bits
// by its parity as ksigns_iq2xs does: the parity of the field is that of
// the nibble (s ^ s>>4), looked up in X14.
#define XS_SIGNS \
	VMOVQ        (R11), X2;      \
	VPSRLW       $9, X2, X4;     \
	VPSRLW       $13, X2, X7;    \
	VPXOR        X7, X4, X7;     \
	VPSHUFB      X7, X14, X7;    \
	VPOR         X7, X4, X4;     \
	VPBROADCASTQ X4, Y2;         \
	VPSHUFB      Y11, Y2, Y2;    \
	VPAND        Y12, Y2, Y2;    \
	VPCMPEQB     Y12, Y2, Y2;    \
	VPOR         Y13, Y2, Y2

// func dotIQ2XSAVX2(w *byte, q *int8, d *float32, nb int, grid *uint64) float32
// The scale pairs are built per super-block at 64(SP) (SCALEPAIRS).
TEXT ·dotIQ2XSAVX2(SB), NOSPLIT, $192-44
	PROLOGUE
	VMOVDQU      iq2xsShuf<>(SB), Y11
	VMOVDQU      iqSignBitsG<>(SB), Y12
	MOVL         $0x01010101, AX
	VMOVD        AX, X13
	VPBROADCASTD X13, Y13
	VMOVDQU      iq2xsParity<>(SB), X14
	VMOVDQU      iqScalePair<>(SB), Y10
	TESTQ        CX, CX
	JEQ          xsdone
	LEAQ         0(SP), R8
	LEAQ         96(SP), R9
	SCALEPAIRS(66, R8)

xsblock:
	// The next super-block's scale pairs.
	CMPQ CX, $1
	JEQ  xslast
	SCALEPAIRS(74+66, R9)

xslast:
	VPXOR Y8, Y8, Y8
	LEAQ  2(SI), R11
	XORQ  R12, R12

xssub:
	PTS4QXS
	XS_SIGNS
	VPBROADCASTD 64(R8)(R12*2), Y9
	VPSHUFB      Y10, Y9, Y9
	MULADD
	ADDQ $8, R11
	ADDQ $2, R12
	CMPQ R12, $16
	JNE  xssub

	BLOCKEND
	XCHGQ R8, R9
	ADDQ $74, SI
	ADDQ $4, DX
	DECQ CX
	JNZ  xsblock

xsdone:
	EPILOGUE

// The XXS types take their signs, as ggml's kernels do, from a table of
// the 128 sign patterns (+-1 bytes, R14), a broadcast load per group of
// eight: completing the 7-bit fields by their parity in registers was not
// faster on this machine.

// PUT0_A .. PUT1_B blend group 0 .. 3's grid qword (broadcast in Y3) into
// Y1 and its sign qword (broadcast in Y4) into Y2.
#define PUT0_A VPBLENDD $0x03, Y3, Y1, Y1; VPBLENDD $0x03, Y4, Y2, Y2
#define PUT1_A VPBLENDD $0x0c, Y3, Y1, Y1; VPBLENDD $0x0c, Y4, Y2, Y2
#define PUT0_B VPBLENDD $0x30, Y3, Y1, Y1; VPBLENDD $0x30, Y4, Y2, Y2
#define PUT1_B VPBLENDD $0xc0, Y3, Y1, Y1; VPBLENDD $0xc0, Y4, Y2, Y2

// XXS_GROUP(l, sh): IQ2_XXS group l: grid index byte l(R11), sign index
// bits sh.. of R10.
#define XXS_GROUP(l, sh) \
	MOVBQZX l(R11), AX;      \
	VPBROADCASTQ (R13)(AX*8), Y3; \
	MOVL    R10, AX;         \
	SHRL    $sh, AX;         \
	ANDL    $127, AX;        \
	VPBROADCASTQ (R14)(AX*8), Y4

// func dotIQ2XXSAVX2(w *byte, q *int8, d *float32, nb int, grid, signs *uint64) float32
TEXT ·dotIQ2XXSAVX2(SB), NOSPLIT, $0-52
	PROLOGUE
	MOVQ signs+40(FP), R14
	TESTQ CX, CX
	JEQ   xxsdone

xxsblock:
	VPXOR Y8, Y8, Y8
	LEAQ  2(SI), R11
	LEAQ  66(SI), R12

xxssub:
	MOVL 4(R11), R10
	XXS_GROUP(0, 0)
	PUT0_A
	XXS_GROUP(1, 7)
	PUT1_A
	XXS_GROUP(2, 14)
	PUT0_B
	XXS_GROUP(3, 21)
	PUT1_B
	SHRL $28, R10
	SCALE32(R10)
	MULADD
	ADDQ $8, R11
	CMPQ R11, R12
	JNE  xxssub

	BLOCKEND
	ADDQ $66, SI
	ADDQ $4, DX
	DECQ CX
	JNZ  xxsblock

xxsdone:
	EPILOGUES

// X3XXS_GROUP(l, sh): IQ3_XXS group l: the two uint32 points of bytes
// 2l(R11) and 2l+1(R11), sign index bits sh.. of R10.
#define X3XXS_GROUP(l, sh) \
	MOVBLZX      (2*l)(R11), AX;   \
	VPBROADCASTD (R13)(AX*4), Y3;  \
	MOVBLZX      (2*l+1)(R11), AX; \
	VPBROADCASTD (R13)(AX*4), Y7;  \
	VPBLENDD     $0xaa, Y7, Y3, Y3; \
	MOVL    R10, AX;          \
	SHRL    $sh, AX;          \
	ANDL    $127, AX;         \
	VPBROADCASTQ (R14)(AX*8), Y4

// func dotIQ3XXSAVX2(w *byte, q *int8, d *float32, nb int, grid *uint32, signs *uint64) float32
TEXT ·dotIQ3XXSAVX2(SB), NOSPLIT, $0-52
	PROLOGUE
	MOVQ signs+40(FP), R14
	TESTQ CX, CX
	JEQ   x3xxsdone

x3xxsblock:
	VPXOR Y8, Y8, Y8
	LEAQ  2(SI), R11
	LEAQ  66(SI), R12

x3xxssub:
	MOVL (R12), R10
	X3XXS_GROUP(0, 0)
	PUT0_A
	X3XXS_GROUP(1, 7)
	PUT1_A
	X3XXS_GROUP(2, 14)
	PUT0_B
	X3XXS_GROUP(3, 21)
	PUT1_B
	SHRL $28, R10
	SCALE32(R10)
	MULADD
	ADDQ $8, R11
	ADDQ $4, R12
	LEAQ 98(SI), AX
	CMPQ R12, AX
	JNE  x3xxssub

	BLOCKEND
	ADDQ $98, SI
	ADDQ $4, DX
	DECQ CX
	JNZ  x3xxsblock

x3xxsdone:
	EPILOGUES
