//go:build !purego

#include "textflag.h"
#include "avx512_amd64.h"

// Constants of siluMulGeneric (silu.go), one float32 each.
DATA silucon<>+0x00(SB)/4, $0x80000000 // sign bit
DATA silucon<>+0x04(SB)/4, $-87.3365447504019
DATA silucon<>+0x08(SB)/4, $88.72
DATA silucon<>+0x0c(SB)/4, $1.44269504088896341
DATA silucon<>+0x10(SB)/4, $0.5
DATA silucon<>+0x14(SB)/4, $0.693359375
DATA silucon<>+0x18(SB)/4, $-2.12194440e-4
DATA silucon<>+0x1c(SB)/4, $1.9875691500e-4
DATA silucon<>+0x20(SB)/4, $1.3981999507e-3
DATA silucon<>+0x24(SB)/4, $8.3334519073e-3
DATA silucon<>+0x28(SB)/4, $4.1665795894e-2
DATA silucon<>+0x2c(SB)/4, $1.6666665459e-1
DATA silucon<>+0x30(SB)/4, $5.0000001201e-1
DATA silucon<>+0x34(SB)/4, $1.0
GLOBL silucon<>(SB), RODATA|NOPTR, $56

// EXPCONST broadcasts the constants EXP16 (avx512_amd64.h) takes into
// Z17-Z29.
#define EXPCONST \
	VBROADCASTSS silucon<>+0x04(SB), Z17; \
	VBROADCASTSS silucon<>+0x08(SB), Z18; \
	VBROADCASTSS silucon<>+0x0c(SB), Z19; \
	VBROADCASTSS silucon<>+0x10(SB), Z20; \
	VBROADCASTSS silucon<>+0x14(SB), Z21; \
	VBROADCASTSS silucon<>+0x18(SB), Z22; \
	VBROADCASTSS silucon<>+0x1c(SB), Z23; \
	VBROADCASTSS silucon<>+0x20(SB), Z24; \
	VBROADCASTSS silucon<>+0x24(SB), Z25; \
	VBROADCASTSS silucon<>+0x28(SB), Z26; \
	VBROADCASTSS silucon<>+0x2c(SB), Z27; \
	VBROADCASTSS silucon<>+0x30(SB), Z28; \
	VBROADCASTSS silucon<>+0x34(SB), Z29

// func siluMulAVX512(gp, up *float32, n int): gp[i] = silu(gp[i]) * up[i] for
// i < n, sixteen at a time and the rest under a mask, with the exponential of
// siluMulGeneric: the same clamping, reduction and polynomial, with fused
// multiply-adds, and 2**n applied by VSCALEFPS (SILU16, avx512_amd64.h).
TEXT ·siluMulAVX512(SB), NOSPLIT, $0-24
	MOVQ gp+0(FP), SI
	MOVQ up+8(FP), DI
	MOVQ n+16(FP), CX
	VBROADCASTSS silucon<>+0x00(SB), Z16
	EXPCONST
siluloop:
	CMPQ CX, $16
	JLT  silutail
	VMOVUPS      (SI), Z0
	SILU16
	VMULPS       (DI), Z0, Z0
	VMOVUPS      Z0, (SI)
	ADDQ         $64, SI
	ADDQ         $64, DI
	SUBQ         $16, CX
	JMP          siluloop

silutail:
	// The last n%16 values through the same instructions under a mask,
	// so that every value's result is independent of where it lies.
	TESTQ   CX, CX
	JEQ     siludone
	MOVL    $1, AX
	SHLL    CX, AX
	DECL    AX
	KMOVW   AX, K1
	VMOVUPS.Z (SI), K1, Z0
	SILU16
	VMOVUPS.Z (DI), K1, Z6
	VMULPS    Z6, Z0, Z0
	VMOVUPS   Z0, K1, (SI)

siludone:
	VZEROUPPER
	RET

// func expShiftAVX512(x *float32, n int, s float32) float32
// x[i] = e**(x[i]-s) for i < n through EXP16 (the last n%16 under a mask);
// returns their sum.
TEXT ·expShiftAVX512(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Z30
	EXPCONST
	VPXORD Z6, Z6, Z6

esloop:
	CMPQ CX, $16
	JLT  estail
	VMOVUPS (SI), Z1
	VSUBPS  Z30, Z1, Z1
	EXP16
	VMOVUPS Z4, (SI)
	VADDPS  Z4, Z6, Z6
	ADDQ    $64, SI
	SUBQ    $16, CX
	JMP     esloop

estail:
	TESTQ CX, CX
	JEQ   esdone
	MOVL  $1, AX
	SHLL  CX, AX
	DECL  AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z1
	VSUBPS    Z30, Z1, Z1
	EXP16
	VMOVUPS   Z4, K1, (SI)
	VMOVAPS.Z Z4, K1, Z4
	VADDPS    Z4, Z6, Z6

esdone:
	HSUM16(Z6, Y6, X6, Y7, X7)
	VMOVSS X6, ret+24(FP)
	VZEROUPPER
	RET
