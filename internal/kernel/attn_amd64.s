//go:build !purego

#include "textflag.h"
#include "avx512_amd64.h"

// func dotRowsAVX512(x *float32, k int, m *float32, stride, n int, out *float32)
// out[p] = x[0:16k] · m[p*stride/4 : ...] for p < n (stride in bytes; k >= 1).
TEXT ·dotRowsAVX512(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), R8
	MOVQ k+8(FP), R9
	MOVQ m+16(FP), SI
	MOVQ stride+24(FP), R10
	MOVQ n+32(FP), CX
	MOVQ out+40(FP), DX
	TESTQ CX, CX
	JEQ   drdone

drrow:
	VPXORD Z0, Z0, Z0
	MOVQ   SI, AX
	MOVQ   R8, BX
	MOVQ   R9, DI

drvec:
	VMOVUPS     (AX), Z2
	VFMADD231PS (BX), Z2, Z0
	ADDQ $64, AX
	ADDQ $64, BX
	DECQ DI
	JNZ  drvec
	HSUM16(Z0, Y0, X0, Y1, X1)
	VMOVSS X0, (DX)
	ADDQ   R10, SI
	ADDQ   $4, DX
	DECQ   CX
	JNZ    drrow

drdone:
	VZEROUPPER
	RET

// func axpyRowsAVX512(w *float32, n int, m *float32, stride int, y *float32, k int)
// y[0:16k] += w[p] * m[p*stride/4 : ...] for p < n (stride in bytes; k >= 1).
TEXT ·axpyRowsAVX512(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), R8
	MOVQ n+8(FP), CX
	MOVQ m+16(FP), SI
	MOVQ stride+24(FP), R10
	MOVQ y+32(FP), DX
	MOVQ k+40(FP), R9
	TESTQ CX, CX
	JEQ   ardone

arrow:
	VBROADCASTSS (R8), Z31
	MOVQ SI, AX
	MOVQ DX, BX
	MOVQ R9, DI

arvec:
	VMOVUPS     (BX), Z0
	VFMADD231PS (AX), Z31, Z0
	VMOVUPS     Z0, (BX)
	ADDQ $64, AX
	ADDQ $64, BX
	DECQ DI
	JNZ  arvec
	ADDQ $4, R8
	ADDQ R10, SI
	DECQ CX
	JNZ  arrow

ardone:
	VZEROUPPER
	RET
