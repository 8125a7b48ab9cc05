//go:build !purego

#include "textflag.h"

// iq4xsT<>: kvalues_iq4nl in both 128-bit lanes, for VPSHUFB.
DATA iq4xsT<>+0x00(SB)/8, $0xf6eaddcfbfad9881
DATA iq4xsT<>+0x08(SB)/8, $0x7159453526190d01
DATA iq4xsT<>+0x10(SB)/8, $0xf6eaddcfbfad9881
DATA iq4xsT<>+0x18(SB)/8, $0x7159453526190d01
GLOBL iq4xsT<>(SB), RODATA|NOPTR, $32

// func dotIQ4_XSAVX2(w *byte, q *int8, d *float32, nb int) float32
// Registers: Y15 = 0x0F bytes, Y13 = the table, Y0 = the float
// accumulator, Y8 = a super-block's int32 sums; R9 = scales_h and R10 =
// scales_l, shifted down as the sub-blocks are consumed; R11 = the nibbles;
// BX counts the sub-blocks.
TEXT ·dotIQ4_XSAVX2(SB), NOSPLIT, $0-36
	MOVQ         w+0(FP), SI
	MOVQ         q+8(FP), DI
	MOVQ         d+16(FP), DX
	MOVQ         nb+24(FP), CX
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	VMOVDQU      iq4xsT<>(SB), Y13
	VXORPS       Y0, Y0, Y0
	TESTQ        CX, CX
	JEQ          iq4xsdone

iq4xsloop:
	VPXOR   Y8, Y8, Y8
	MOVWLZX 2(SI), R9
	MOVL    4(SI), R10
	LEAQ    8(SI), R11
	XORQ    BX, BX

iq4xssub:
	// Y9 = ls - 32 in every word.
	MOVL         R10, AX
	ANDL         $15, AX
	MOVL         R9, R12
	ANDL         $3, R12
	SHLL         $4, R12
	ORL          R12, AX
	SUBL         $32, AX
	VMOVD        AX, X9
	VPBROADCASTW X9, Y9
	SHRL         $4, R10
	SHRL         $2, R9

	// Y4 = the 32 signed weights (low nibbles, then high).
	VMOVDQU     (R11), X2
	VPSRLW      $4, X2, X3
	VINSERTI128 $1, X3, Y2, Y2
	VPAND       Y15, Y2, Y2
	VPSHUFB     Y2, Y13, Y4

	VMOVDQU    (DI), Y5
	VPSIGNB    Y4, Y5, Y5
	VPSIGNB    Y4, Y4, Y4
	VPMADDUBSW Y5, Y4, Y6
	VPMADDWD   Y9, Y6, Y6
	VPADDD     Y6, Y8, Y8

	ADDQ $16, R11
	ADDQ $32, DI
	INCQ BX
	CMPQ BX, $8
	JNE  iq4xssub

	MOVWLZX      (SI), AX
	VMOVD        AX, X1
	VCVTPH2PS    X1, X1
	VMULSS       (DX), X1, X1
	VBROADCASTSS X1, Y1
	VCVTDQ2PS    Y8, Y8
	VFMADD231PS  Y8, Y1, Y0

	ADDQ $136, SI
	ADDQ $4, DX
	DECQ CX
	JNZ  iq4xsloop

iq4xsdone:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VZEROUPPER
	MOVSS        X0, ret+32(FP)
	RET
