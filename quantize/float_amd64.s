//go:build !purego

#include "textflag.h"

// func cpuidF16C() bool
TEXT ·cpuidF16C(SB), NOSPLIT, $0-1
	MOVB $0, ret+0(FP)
	MOVL $1, AX
	MOVL $0, CX
	CPUID
	MOVL CX, R8
	ANDL $0x38000000, R8 // OSXSAVE (27), AVX (28), F16C (29)
	CMPL R8, $0x38000000
	JNE  no
	MOVL $0, CX
	XGETBV
	ANDL $6, AX
	CMPL AX, $6
	JNE  no
	MOVB $1, ret+0(FP)
no:
	RET

// func f16ToF32x8(dst *float32, src *byte, n int) bool
//
// Converts n (a multiple of 8) little-endian binary16 values with
// VCVTPH2PS; reports whether any of them is NaN.
TEXT ·f16ToF32x8(SB), NOSPLIT, $0-25
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VPXOR Y2, Y2, Y2
	XORQ BX, BX

hloop:
	CMPQ BX, CX
	JGE  hdone
	VCVTPH2PS (SI)(BX*2), Y0
	VCMPPS $3, Y0, Y0, Y1
	VPOR Y1, Y2, Y2
	VMOVUPS Y0, (DI)(BX*4)
	ADDQ $8, BX
	JMP  hloop

hdone:
	VPTEST Y2, Y2
	SETNE ret+24(FP)
	VZEROUPPER
	RET
