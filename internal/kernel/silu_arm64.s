//go:build !purego

#include "textflag.h"
#include "neon_f32_arm64.h"

// Constants of expClamped (silu.go), one float32 each (the last the int32
// exponent bias), loaded into V16..V29 by EXPCONST.
DATA neonexp<>+0x00(SB)/4, $-87.3365447504019
DATA neonexp<>+0x04(SB)/4, $88.72
DATA neonexp<>+0x08(SB)/4, $1.44269504088896341
DATA neonexp<>+0x0c(SB)/4, $0.5
DATA neonexp<>+0x10(SB)/4, $0.693359375
DATA neonexp<>+0x14(SB)/4, $-2.12194440e-4
DATA neonexp<>+0x18(SB)/4, $1.9875691500e-4
DATA neonexp<>+0x1c(SB)/4, $1.3981999507e-3
DATA neonexp<>+0x20(SB)/4, $8.3334519073e-3
DATA neonexp<>+0x24(SB)/4, $4.1665795894e-2
DATA neonexp<>+0x28(SB)/4, $1.6666665459e-1
DATA neonexp<>+0x2c(SB)/4, $5.0000001201e-1
DATA neonexp<>+0x30(SB)/4, $1.0
DATA neonexp<>+0x34(SB)/4, $127
GLOBL neonexp<>(SB), RODATA|NOPTR, $56

// EXPCONST replicates the constants into every lane: V16/V17 = clamp
// low/high, V18 = log2(e), V19 = 1/2, V20/V21 = ln2 high/low, V22..V27 =
// the polynomial's coefficients c0..c5, V28 = 1, V29 = 127 (int32).
// Clobbers R10.
#define EXPCONST \
	MOVD     $neonexp<>(SB), R10;   \
	VLD1R.P  4(R10), [V16.S4];      \
	VLD1R.P  4(R10), [V17.S4];      \
	VLD1R.P  4(R10), [V18.S4];      \
	VLD1R.P  4(R10), [V19.S4];      \
	VLD1R.P  4(R10), [V20.S4];      \
	VLD1R.P  4(R10), [V21.S4];      \
	VLD1R.P  4(R10), [V22.S4];      \
	VLD1R.P  4(R10), [V23.S4];      \
	VLD1R.P  4(R10), [V24.S4];      \
	VLD1R.P  4(R10), [V25.S4];      \
	VLD1R.P  4(R10), [V26.S4];      \
	VLD1R.P  4(R10), [V27.S4];      \
	VLD1R.P  4(R10), [V28.S4];      \
	VLD1R    (R10), [V29.S4]

// EXP4: V4 = e**V1 on four floats with the exponential of expClamped: V1
// clamped to [lo, hi] (NaN to lo), n = floor(y*log2(e) + 1/2), r = y -
// n*ln2 in two parts, the polynomial by fused multiply-adds, and 2**n
// applied as 2**floor(n/2) * 2**(n-floor(n/2)), two exact scalings by
// normal powers of two (n reaches -126 and 128). Takes EXPCONST's
// constants; clobbers V1..V7.
#define EXP4 \
	FMAXNM4(1, 1, 16);        \
	FMIN4(1, 1, 17);          \
	VMOV    V19.B16, V2.B16;  \
	FMLA4(2, 1, 18);          \
	FRINTM4(2, 2);            \
	VMOV    V1.B16, V3.B16;   \
	FMLS4(3, 2, 20);          \
	FMLS4(3, 2, 21);          \
	VMOV    V23.B16, V4.B16;  \
	FMLA4(4, 22, 3);          \
	VMOV    V24.B16, V5.B16;  \
	FMLA4(5, 4, 3);           \
	VMOV    V25.B16, V4.B16;  \
	FMLA4(4, 5, 3);           \
	VMOV    V26.B16, V5.B16;  \
	FMLA4(5, 4, 3);           \
	VMOV    V27.B16, V4.B16;  \
	FMLA4(4, 5, 3);           \
	FMUL4(5, 3, 3);           \
	VMOV    V3.B16, V6.B16;   \
	FMLA4(6, 4, 5);           \
	FADD4(4, 6, 28);          \
	FMUL4(5, 2, 19);          \
	FRINTM4(5, 5);            \
	FSUB4(6, 2, 5);           \
	FCVTZS4(5, 5);            \
	FCVTZS4(6, 6);            \
	VADD    V29.S4, V5.S4, V5.S4; \
	VADD    V29.S4, V6.S4, V6.S4; \
	VSHL    $23, V5.S4, V5.S4; \
	VSHL    $23, V6.S4, V6.S4; \
	FMUL4(4, 4, 5);           \
	FMUL4(4, 4, 6)

// func siluMulNEON(gp, up *float32, n int): gp[i] = silu(gp[i]) * up[i] =
// gp[i] / (1 + e**-gp[i]) * up[i] for i < n, n a multiple of four.
TEXT ·siluMulNEON(SB), NOSPLIT, $0-24
	MOVD gp+0(FP), R0
	MOVD up+8(FP), R1
	MOVD n+16(FP), R2
	EXPCONST
	LSR  $2, R2, R2
	CBZ  R2, silidone

siluloop:
	VLD1   (R0), [V0.S4]
	VLD1.P 16(R1), [V8.S4]
	FNEG4(1, 0)
	EXP4
	FADD4(4, 4, 28)
	FDIV4(0, 0, 4)
	FMUL4(0, 0, 8)
	VST1.P [V0.S4], 16(R0)
	SUBS   $1, R2, R2
	BNE    siluloop

silidone:
	RET

// func expShiftNEON(x *float32, n int, s float32) float32: x[i] =
// e**(x[i]-s) for i < n, n a multiple of four; returns their sum (four
// lane sums, then added pairwise).
TEXT ·expShiftNEON(SB), NOSPLIT, $0-28
	MOVD  x+0(FP), R0
	MOVD  n+8(FP), R2
	FMOVS s+16(FP), F9
	VDUP  V9.S[0], V9.S4
	EXPCONST
	VEOR  V8.B16, V8.B16, V8.B16
	LSR   $2, R2, R2
	CBZ   R2, esdone

esloop:
	VLD1   (R0), [V1.S4]
	FSUB4(1, 1, 9)
	EXP4
	VST1.P [V4.S4], 16(R0)
	FADD4(8, 8, 4)
	SUBS   $1, R2, R2
	BNE    esloop

esdone:
	FADDP4(8, 8, 8)
	FADDP4(8, 8, 8)
	FMOVS F8, ret+24(FP)
	RET
