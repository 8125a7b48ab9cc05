//go:build !purego

#include "textflag.h"
#include "neon_f32_arm64.h"

// The register tile of MatMulF32 (gemm.go) on NEON: c[i*ldc+j] (+)=
// Σ_p a[p*8+i]·b[p*12+j] for i < 8, j < 12, each element's products added
// in increasing p with FMLA (by element: the B row times one lane of A)
// into an accumulator that starts at zero, then added to c when acc. Row i
// of the tile lives in V(8+3i)..V(10+3i); A's eight values of step p in V0,
// V1 and B's twelve in V2..V4.

#define ROW(acc, a, lane) \
	FMLAE(acc, 2, a, lane);   \
	FMLAE(acc+1, 3, a, lane); \
	FMLAE(acc+2, 4, a, lane)

#define ZERO3(a, b, c) \
	VEOR a.B16, a.B16, a.B16; \
	VEOR b.B16, b.B16, b.B16; \
	VEOR c.B16, c.B16, c.B16

// func gemm8x12NEON(k int, a, b, c *float32, ldc int, acc bool)
TEXT ·gemm8x12NEON(SB), NOSPLIT, $0-41
	MOVD k+0(FP), R0
	MOVD a+8(FP), R1
	MOVD b+16(FP), R2
	MOVD c+24(FP), R3
	MOVD ldc+32(FP), R4
	LSL  $2, R4, R4
	ZERO3(V8, V9, V10)
	ZERO3(V11, V12, V13)
	ZERO3(V14, V15, V16)
	ZERO3(V17, V18, V19)
	ZERO3(V20, V21, V22)
	ZERO3(V23, V24, V25)
	ZERO3(V26, V27, V28)
	ZERO3(V29, V30, V31)
	CBZ  R0, store

loop:
	VLD1.P 32(R1), [V0.S4, V1.S4]
	VLD1.P 48(R2), [V2.S4, V3.S4, V4.S4]
	ROW(8, 0, 0)
	ROW(11, 0, 1)
	ROW(14, 0, 2)
	ROW(17, 0, 3)
	ROW(20, 1, 0)
	ROW(23, 1, 1)
	ROW(26, 1, 2)
	ROW(29, 1, 3)
	SUBS $1, R0, R0
	BNE  loop

store:
	MOVBU acc+40(FP), R5
	CBZ   R5, set

#define ADDROW(v0, v1, v2, n0) \
	VLD1   (R3), [V0.S4, V1.S4, V2.S4]; \
	FADD4(n0, n0, 0);                   \
	FADD4(n0+1, n0+1, 1);               \
	FADD4(n0+2, n0+2, 2);               \
	VST1   [v0.S4, v1.S4, v2.S4], (R3); \
	ADD    R4, R3, R3

	ADDROW(V8, V9, V10, 8)
	ADDROW(V11, V12, V13, 11)
	ADDROW(V14, V15, V16, 14)
	ADDROW(V17, V18, V19, 17)
	ADDROW(V20, V21, V22, 20)
	ADDROW(V23, V24, V25, 23)
	ADDROW(V26, V27, V28, 26)
	ADDROW(V29, V30, V31, 29)
	RET

#define SETROW(v0, v1, v2) \
	VST1 [v0.S4, v1.S4, v2.S4], (R3); \
	ADD  R4, R3, R3

set:
	SETROW(V8, V9, V10)
	SETROW(V11, V12, V13)
	SETROW(V14, V15, V16)
	SETROW(V17, V18, V19)
	SETROW(V20, V21, V22)
	SETROW(V23, V24, V25)
	SETROW(V26, V27, V28)
	SETROW(V29, V30, V31)
	RET
