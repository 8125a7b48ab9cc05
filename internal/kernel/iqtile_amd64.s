//go:build !purego

#include "textflag.h"

// The prefill kernel of the grid i-quants (see iqunpack.go): one unpacked
// weight row (signed bytes, scale words, super-block scales) against four
// Q8_K activation rows. Per 32 elements the weight bytes, their absolute
// values and the scale words are loaded once; for each activation row the
// weights' signs are moved onto its codes (VPSIGNB), the magnitudes
// multiplied with them (VPMADDUBSW: at most 2*62*127, no saturation) and
// the pair sums by the scales (VPMADDWD) added to that row's int32 lanes.
// At each super-block's end each row's lanes are summed exactly, converted
// and added as the generic dot products do: sum += (d*d8)*float(bsum), in
// scalar single precision, in order.
//
// Registers: SI = weight bytes, BX = scale words, DI = the element offset,
// R8-R11 = the four rows' codes, R12 = their scale pointers (an array of
// four), R13 = the super-block scales, DX = 4*super-block, CX = super-blocks
// left, Y8-Y11 = the rows' int32 lanes, X12-X15 = their float sums.

// ROWMAC(Rq, Yacc) adds row Rq's products of the 32 elements at DI to Yacc.
#define ROWMAC(Rq, Yacc) \
	VMOVDQU    (Rq)(DI*1), Y4; \
	VPSIGNB    Y1, Y4, Y4;     \
	VPMADDUBSW Y4, Y2, Y4;     \
	VPMADDWD   Y3, Y4, Y4;     \
	VPADDD     Y4, Yacc, Yacc

// ROWEND(t, Yacc, Xacc, Xsum) adds (d*d8[t])*float(sum of Yacc's lanes)
// to Xsum; clobbers AX, X4, X5.
#define ROWEND(t, Yacc, Xacc, Xsum) \
	VEXTRACTI128 $1, Yacc, X4;      \
	VPADDD       X4, Xacc, X4;      \
	VPSHUFD      $0x4e, X4, X5;     \
	VPADDD       X5, X4, X4;        \
	VPSHUFD      $0xb1, X4, X5;     \
	VPADDD       X5, X4, X4;        \
	VCVTDQ2PS    X4, X4;            \
	MOVQ         (8*t)(R12), AX;    \
	VMOVSS       (R13)(DX*1), X5;   \
	VMULSS       (AX)(DX*1), X5, X5; \
	VMULSS       X4, X5, X5;        \
	VADDSS       X5, Xsum, Xsum

// func iqUnpackedDot4AVX2(w, sc *byte, dw *float32, nb int, q *[4]*int8, d *[4]*float32, out *[4]float32)
TEXT ·iqUnpackedDot4AVX2(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ sc+8(FP), BX
	MOVQ dw+16(FP), R13
	MOVQ nb+24(FP), CX
	MOVQ q+32(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ 24(AX), R11
	MOVQ d+40(FP), R12
	VXORPS X12, X12, X12
	VXORPS X13, X13, X13
	VXORPS X14, X14, X14
	VXORPS X15, X15, X15
	XORQ  DI, DI
	XORQ  DX, DX
	TESTQ CX, CX
	JEQ   done

block:
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11
	LEAQ  256(DI), R14

chunk:
	VMOVDQU (SI)(DI*1), Y1
	VPABSB  Y1, Y2
	VMOVDQU (BX)(DI*1), Y3
	ROWMAC(R8, Y8)
	ROWMAC(R9, Y9)
	ROWMAC(R10, Y10)
	ROWMAC(R11, Y11)
	ADDQ    $32, DI
	CMPQ    DI, R14
	JNE     chunk

	ROWEND(0, Y8, X8, X12)
	ROWEND(1, Y9, X9, X13)
	ROWEND(2, Y10, X10, X14)
	ROWEND(3, Y11, X11, X15)
	ADDQ $4, DX
	DECQ CX
	JNZ  block

done:
	MOVQ   out+48(FP), AX
	VMOVSS X12, 0(AX)
	VMOVSS X13, 4(AX)
	VMOVSS X14, 8(AX)
	VMOVSS X15, 12(AX)
	VZEROUPPER
	RET
