//go:build !purego

#include "textflag.h"

// AVX2 kernels of GPTQ's sub-block refit (gptq_refit.go): eight rows at
// once, one per lane, each lane performing exactly the float32 operations
// of gptqRound and the scalar sums in the same order (separate VMULPS and
// VADDPS, never FMA), so the results are bit-identical.

// REFITROUND rounds lane values Y1 (x) to the grid D·q + C (Y4, Y5),
// q in lo..hi (Y6, Y7), as gptqRound does: Y9 = the grid value.
// Y8 is zero. Clobbers Y2, Y3.
#define REFITROUND \
	VSUBPS    Y5, Y1, Y2     \ // x - C
	VDIVPS    Y4, Y2, Y2     \ // t = (x - C) / D
	VCMPPS    $3, Y2, Y2, Y3 \ // NaN lanes
	VBLENDVPS Y3, Y8, Y2, Y2 \ // NaN -> 0
	VMAXPS    Y6, Y2, Y2     \
	VMINPS    Y7, Y2, Y2     \
	VROUNDPS  $0, Y2, Y2     \ // nearest, ties to even
	VMULPS    Y4, Y2, Y9     \ // D·q
	VADDPS    Y5, Y9, Y9       // + C

// REFITLOAD loads the arguments shared by both kernels.
#define REFITLOAD \
	MOVQ         x+8(FP), SI       \
	MOVQ         stride+16(FP), BX \
	SHLQ         $2, BX            \
	MOVQ         w+24(FP), R8      \
	MOVQ         n+32(FP), CX      \
	MOVQ         D+40(FP), AX      \
	VMOVUPS      (AX), Y4          \
	MOVQ         C+48(FP), AX      \
	VMOVUPS      (AX), Y5          \
	VBROADCASTSS lo+56(FP), Y6     \
	VBROADCASTSS hi+60(FP), Y7     \
	VXORPS       Y0, Y0, Y0        \
	VXORPS       Y8, Y8, Y8

// The AVX-512 forms (refitErr16, refitShift16): sixteen rows at once, the
// same operations per lane (NaN lanes of t replaced by zero under a mask).

// REFITROUND16 is REFITROUND on Z registers; Z8 is zero. Clobbers Z2, K1.
#define REFITROUND16 \
	VSUBPS      Z5, Z1, Z2     \
	VDIVPS      Z4, Z2, Z2     \
	VCMPPS      $3, Z2, Z2, K1 \
	VMOVAPS     Z8, K1, Z2     \
	VMAXPS      Z6, Z2, Z2     \
	VMINPS      Z7, Z2, Z2     \
	VRNDSCALEPS $0, Z2, Z2     \
	VMULPS      Z4, Z2, Z9     \
	VADDPS      Z5, Z9, Z9

#define REFITLOAD16 \
	MOVQ         x+8(FP), SI       \
	MOVQ         stride+16(FP), BX \
	SHLQ         $2, BX            \
	MOVQ         w+24(FP), R8      \
	MOVQ         n+32(FP), CX      \
	MOVQ         D+40(FP), AX      \
	VMOVUPS      (AX), Z4          \
	MOVQ         C+48(FP), AX      \
	VMOVUPS      (AX), Z5          \
	VBROADCASTSS lo+56(FP), Z6     \
	VBROADCASTSS hi+60(FP), Z7     \
	VXORPS       Z0, Z0, Z0        \
	VXORPS       Z8, Z8, Z8

// func refitErr8(e *[8]float32, x *float32, stride int, w *float32, n int, D, C *[8]float32, lo, hi float32)
//
// e[l] = Σ_k w[k]·(x_l - v)·(x_l - v), x_l = x[k·stride + l], v its
// grid value, summed over k = 0..n-1 in order.
TEXT ·refitErr8(SB), NOSPLIT, $0-64
	REFITLOAD

errloop:
	TESTQ        CX, CX
	JZ           errdone
	VMOVUPS      (SI), Y1
	REFITROUND
	VSUBPS       Y9, Y1, Y10   // a = x - v
	VBROADCASTSS (R8), Y11
	VMULPS       Y10, Y11, Y12 // w·a
	VMULPS       Y10, Y12, Y12 // ·a
	VADDPS       Y12, Y0, Y0
	ADDQ         BX, SI
	ADDQ         $4, R8
	DECQ         CX
	JMP          errloop

errdone:
	MOVQ    e+0(FP), AX
	VMOVUPS Y0, (AX)
	VZEROUPPER
	RET

// func refitShift8(s *[8]float32, x *float32, stride int, w *float32, n int, D, C *[8]float32, lo, hi float32)
//
// s[l] = Σ_k w[k]·(v - x_l), x_l = x[k·stride + l], v its grid value,
// summed over k = 0..n-1 in order.
TEXT ·refitShift8(SB), NOSPLIT, $0-64
	REFITLOAD

shiftloop:
	TESTQ        CX, CX
	JZ           shiftdone
	VMOVUPS      (SI), Y1
	REFITROUND
	VSUBPS       Y1, Y9, Y10   // v - x
	VBROADCASTSS (R8), Y11
	VMULPS       Y10, Y11, Y12 // w·(v - x)
	VADDPS       Y12, Y0, Y0
	ADDQ         BX, SI
	ADDQ         $4, R8
	DECQ         CX
	JMP          shiftloop

shiftdone:
	MOVQ    s+0(FP), AX
	VMOVUPS Y0, (AX)
	VZEROUPPER
	RET

// func axpy8(y *float32, a float32, x *float32, n int)
//
// y[i] = y[i] + a·x[i] for i < n (a multiple of 8), the product rounded
// before the sum as in axpy32 (no FMA).
TEXT ·axpy8(SB), NOSPLIT, $0-32
	MOVQ         y+0(FP), DI
	VBROADCASTSS a+8(FP), Y0
	MOVQ         x+16(FP), SI
	MOVQ         n+24(FP), CX
	TESTQ        CX, CX
	JZ           axdone

axloop:
	VMULPS  (SI), Y0, Y1
	VADDPS  (DI), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JNZ     axloop

axdone:
	VZEROUPPER
	RET

// func refitErr16(e *[16]float32, x *float32, stride int, w *float32, n int, D, C *[16]float32, lo, hi float32)
TEXT ·refitErr16(SB), NOSPLIT, $0-64
	REFITLOAD16

err16loop:
	TESTQ        CX, CX
	JZ           err16done
	VMOVUPS      (SI), Z1
	REFITROUND16
	VSUBPS       Z9, Z1, Z10
	VBROADCASTSS (R8), Z11
	VMULPS       Z10, Z11, Z12
	VMULPS       Z10, Z12, Z12
	VADDPS       Z12, Z0, Z0
	ADDQ         BX, SI
	ADDQ         $4, R8
	DECQ         CX
	JMP          err16loop

err16done:
	MOVQ    e+0(FP), AX
	VMOVUPS Z0, (AX)
	VZEROUPPER
	RET

// func refitShift16(s *[16]float32, x *float32, stride int, w *float32, n int, D, C *[16]float32, lo, hi float32)
TEXT ·refitShift16(SB), NOSPLIT, $0-64
	REFITLOAD16

shift16loop:
	TESTQ        CX, CX
	JZ           shift16done
	VMOVUPS      (SI), Z1
	REFITROUND16
	VSUBPS       Z1, Z9, Z10
	VBROADCASTSS (R8), Z11
	VMULPS       Z10, Z11, Z12
	VADDPS       Z12, Z0, Z0
	ADDQ         BX, SI
	ADDQ         $4, R8
	DECQ         CX
	JMP          shift16loop

shift16done:
	MOVQ    s+0(FP), AX
	VMOVUPS Z0, (AX)
	VZEROUPPER
	RET
