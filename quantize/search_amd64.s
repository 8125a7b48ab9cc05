//go:build !purego

#include "textflag.h"

// AVX2 kernels of the scale searches (search_amd64.go): eight trial
// scales at once, one per lane. Each lane performs exactly the float32
// operations of the scalar code, in the same order (separate VMULPS and
// VADDPS, never FMA), so the results are bit-identical.

// Y1 = 1.5*2^23, Y2 = 0x007fffff, Y3 = 0x00400000: nearest_int.
#define NEARESTCONSTS \
	MOVL $0x4B400000, DX \
	VMOVD DX, X1 \
	VPBROADCASTD X1, Y1 \
	MOVL $0x007FFFFF, DX \
	VMOVD DX, X2 \
	VPBROADCASTD X2, Y2 \
	MOVL $0x00400000, DX \
	VMOVD DX, X3 \
	VPBROADCASTD X3, Y3

// func cpuidAVX2() bool
TEXT ·cpuidAVX2(SB), NOSPLIT, $0-1
	MOVB $0, ret+0(FP)
	MOVL $0, AX
	MOVL $0, CX
	CPUID
	CMPL AX, $7
	JLT  no
	MOVL $1, AX
	MOVL $0, CX
	CPUID
	MOVL CX, R8
	ANDL $0x18000000, R8 // OSXSAVE (27) and AVX (28)
	CMPL R8, $0x18000000
	JNE  no
	MOVL $0, CX
	XGETBV
	ANDL $6, AX          // XMM and YMM state enabled by the OS
	CMPL AX, $6
	JNE  no
	MOVL $7, AX
	MOVL $0, CX
	CPUID
	ANDL $0x20, BX       // AVX2
	JZ   no
	MOVB $1, ret+0(FP)
no:
	RET

// func kxTrial8(x, xm, w *float32, n int, num *float32, den, sumW, sumX float32, nmax int32, x3, mad bool, out *float32, codes *int32)
//
// Lane j: iscale = num[j]/den; codes l_i (qkx2 or qkx3 rounding) stored
// at codes[8i+j]; sums Σw·l, Σw·l², Σw·l·x; the least-squares fit
// (scale, offset, ok = D > 0); the weighted error. out[0:8] = scale,
// out[8:16] = offset, out[16:24] = error, out[24:32] = ok mask.
TEXT ·kxTrial8(SB), NOSPLIT, $0-80
	MOVQ x+0(FP), SI
	MOVQ xm+8(FP), DI
	MOVQ w+16(FP), R8
	MOVQ n+24(FP), CX
	MOVQ num+32(FP), AX
	VMOVUPS (AX), Y0
	VBROADCASTSS den+40(FP), Y10
	VDIVPS Y10, Y0, Y0
	NEARESTCONSTS
	VPXOR Y4, Y4, Y4
	MOVL nmax+52(FP), DX
	VMOVD DX, X5
	VPBROADCASTD X5, Y5
	VCVTDQ2PS Y5, Y9
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	MOVBQZX x3+56(FP), R9
	MOVQ codes+72(FP), R11
	XORQ BX, BX

tloop:
	CMPQ BX, CX
	JGE  tfit
	VBROADCASTSS (DI)(BX*4), Y10
	VMULPS Y10, Y0, Y10
	TESTQ R9, R9
	JNZ  tx3
	VADDPS Y1, Y10, Y10
	VPAND Y2, Y10, Y10
	VPSUBD Y3, Y10, Y10
	VPMAXSD Y4, Y10, Y10
	VPMINSD Y5, Y10, Y10
	JMP  tsum

tx3:
	VCMPPS $0x1E, Y4, Y10, Y13
	VMINPS Y9, Y10, Y10
	VADDPS Y1, Y10, Y10
	VPAND Y2, Y10, Y10
	VPSUBD Y3, Y10, Y10
	VPAND Y13, Y10, Y10

tsum:
	VMOVDQU Y10, (R11)
	ADDQ $32, R11
	VCVTDQ2PS Y10, Y11
	VBROADCASTSS (R8)(BX*4), Y12
	VMULPS Y11, Y12, Y12
	VADDPS Y12, Y6, Y6
	VMULPS Y11, Y12, Y13
	VADDPS Y13, Y7, Y7
	VBROADCASTSS (SI)(BX*4), Y13
	VMULPS Y13, Y12, Y13
	VADDPS Y13, Y8, Y8
	INCQ BX
	JMP  tloop

tfit:
	// Y6 = ΣwL, Y7 = ΣwL², Y8 = ΣwLx.
	VBROADCASTSS sumW+44(FP), Y10
	VBROADCASTSS sumX+48(FP), Y11
	VMULPS Y7, Y10, Y12 // sumW*sumL2
	VMULPS Y6, Y6, Y13  // sumL*sumL
	VSUBPS Y13, Y12, Y12 // D
	VCMPPS $0x1E, Y4, Y12, Y15 // ok = D > 0
	VMULPS Y8, Y10, Y13 // sumW*sumXL
	VMULPS Y6, Y11, Y14 // sumX*sumL
	VSUBPS Y14, Y13, Y13
	VDIVPS Y12, Y13, Y13 // scale
	VMULPS Y11, Y7, Y14 // sumL2*sumX
	VMULPS Y8, Y6, Y1   // sumL*sumXL
	VSUBPS Y1, Y14, Y14
	VDIVPS Y12, Y14, Y14 // offset
	VCMPPS $0x1E, Y4, Y14, Y2 // offset > 0
	VDIVPS Y7, Y8, Y3 // sumXL/sumL2
	VBLENDVPS Y2, Y3, Y13, Y13
	VANDNPS Y14, Y2, Y14

	MOVL $0x7FFFFFFF, DX
	VMOVD DX, X5
	VPBROADCASTD X5, Y5
	VXORPS Y6, Y6, Y6
	MOVBQZX mad+57(FP), R10
	MOVQ codes+72(FP), R11
	XORQ BX, BX

terr:
	CMPQ BX, CX
	JGE  tdone
	VCVTDQ2PS (R11), Y11
	ADDQ $32, R11
	VMULPS Y11, Y13, Y12
	VADDPS Y14, Y12, Y12
	VBROADCASTSS (SI)(BX*4), Y10
	VSUBPS Y10, Y12, Y12
	TESTQ R10, R10
	JNZ  tmad
	VMULPS Y12, Y12, Y12
	JMP  tacc

tmad:
	VANDPS Y5, Y12, Y12

tacc:
	VBROADCASTSS (R8)(BX*4), Y10
	VMULPS Y12, Y10, Y12
	VADDPS Y12, Y6, Y6
	INCQ BX
	JMP  terr

tdone:
	MOVQ out+64(FP), AX
	VMOVUPS Y13, (AX)
	VMOVUPS Y14, 32(AX)
	VMOVUPS Y6, 64(AX)
	VMOVUPS Y15, 96(AX)
	VZEROUPPER
	RET

// func qxTrials24(x, w, wx *float32, n int, negnum *float32, max float32, lo, hi int32, out *float32)
//
// Lane j (0..23): iscale = negnum[j]/max into out[j]; codes
// l = clamp(nearest_int(iscale·x), lo, hi); out[24+j] = Σ(w·x)·l and
// out[48+j] = Σ(w·l)·l.
TEXT ·qxTrials24(SB), NOSPLIT, $0-64
	MOVQ x+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ wx+16(FP), R8
	MOVQ n+24(FP), CX
	MOVQ negnum+32(FP), AX
	MOVQ out+56(FP), R12
	VBROADCASTSS max+40(FP), Y10
	VMOVUPS (AX), Y11
	VDIVPS Y10, Y11, Y11
	VMOVUPS Y11, (R12)
	VMOVUPS 32(AX), Y11
	VDIVPS Y10, Y11, Y11
	VMOVUPS Y11, 32(R12)
	VMOVUPS 64(AX), Y11
	VDIVPS Y10, Y11, Y11
	VMOVUPS Y11, 64(R12)
	NEARESTCONSTS
	MOVL lo+44(FP), DX
	VMOVD DX, X4
	VPBROADCASTD X4, Y4
	MOVL hi+48(FP), DX
	VMOVD DX, X5
	VPBROADCASTD X5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	XORQ BX, BX

qloop:
	CMPQ BX, CX
	JGE  qdone
	VBROADCASTSS (SI)(BX*4), Y10
	VBROADCASTSS (DI)(BX*4), Y0
	VBROADCASTSS (R8)(BX*4), Y12

	VMULPS (R12), Y10, Y11
	VADDPS Y1, Y11, Y11
	VPAND Y2, Y11, Y11
	VPSUBD Y3, Y11, Y11
	VPMAXSD Y4, Y11, Y11
	VPMINSD Y5, Y11, Y11
	VCVTDQ2PS Y11, Y11
	VMULPS Y11, Y12, Y15
	VADDPS Y15, Y6, Y6
	VMULPS Y11, Y0, Y15
	VMULPS Y11, Y15, Y15
	VADDPS Y15, Y7, Y7

	VMULPS 32(R12), Y10, Y11
	VADDPS Y1, Y11, Y11
	VPAND Y2, Y11, Y11
	VPSUBD Y3, Y11, Y11
	VPMAXSD Y4, Y11, Y11
	VPMINSD Y5, Y11, Y11
	VCVTDQ2PS Y11, Y11
	VMULPS Y11, Y12, Y15
	VADDPS Y15, Y8, Y8
	VMULPS Y11, Y0, Y15
	VMULPS Y11, Y15, Y15
	VADDPS Y15, Y9, Y9

	VMULPS 64(R12), Y10, Y11
	VADDPS Y1, Y11, Y11
	VPAND Y2, Y11, Y11
	VPSUBD Y3, Y11, Y11
	VPMAXSD Y4, Y11, Y11
	VPMINSD Y5, Y11, Y11
	VCVTDQ2PS Y11, Y11
	VMULPS Y11, Y12, Y15
	VADDPS Y15, Y13, Y13
	VMULPS Y11, Y0, Y15
	VMULPS Y11, Y15, Y15
	VADDPS Y15, Y14, Y14

	INCQ BX
	JMP  qloop

qdone:
	VMOVUPS Y6, 96(R12)
	VMOVUPS Y8, 128(R12)
	VMOVUPS Y13, 160(R12)
	VMOVUPS Y7, 192(R12)
	VMOVUPS Y9, 224(R12)
	VMOVUPS Y14, 256(R12)
	VZEROUPPER
	RET
