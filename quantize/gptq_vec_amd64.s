//go:build !purego

#include "textflag.h"

// AVX2 kernels of the grid i-quants' GPTQ point search (gptq_vec_fast.go):
// the costs of eight grid points at once, one per lane. The per-
// coordinate cost rows (at most eight levels) sit in registers; VPERMPS
// picks each lane's cost by its level index and VADDPS adds them from
// zero in coordinate order, exactly the scalar sum's float32 additions.

// VECSTEP adds coordinate off/8's cost row Yt, picked by the eight level
// bytes at off(SI), to the sums in Y2.
#define VECSTEP(off, Yt) \
	VPMOVZXBD off(SI), Y0 \
	VPERMPS   Yt, Y0, Y1  \
	VADDPS    Y1, Y2, Y2

// VECARGS loads the arguments shared by both kernels: DI sums, SI levels,
// CX blocks, DX the cost rows, BX their stride in bytes.
#define VECARGS \
	MOVQ sums+0(FP), DI \
	MOVQ lev+8(FP), SI  \
	MOVQ nblk+16(FP), CX \
	MOVQ cost+24(FP), DX \
	MOVQ nl+32(FP), BX  \
	SHLQ $2, BX

// COSTROW loads the cost row at DX into Yn and steps DX to the next.
#define COSTROW(Yn) \
	VMOVUPS (DX), Yn \
	ADDQ    BX, DX

// COSTROWS4 loads coordinates 0-3's cost rows into Y8-Y11 (both kernels).
#define COSTROWS4 \
	COSTROW(Y8)  \
	COSTROW(Y9)  \
	COSTROW(Y10) \
	COSTROW(Y11)

// SUMS4 starts eight points' sums in Y2 with coordinates 0-3's costs.
#define SUMS4 \
	VXORPS Y2, Y2, Y2 \
	VECSTEP(0, Y8)    \
	VECSTEP(8, Y9)    \
	VECSTEP(16, Y10)  \
	VECSTEP(24, Y11)

// func vecSums8x8(sums *float32, lev *uint8, nblk int, cost *float32, nl int)
TEXT ·vecSums8x8(SB), NOSPLIT, $0-40
	VECARGS
	COSTROWS4
	COSTROW(Y12)
	COSTROW(Y13)
	COSTROW(Y14)
	COSTROW(Y15)
	TESTQ CX, CX
	JZ    done8

loop8:
	SUMS4
	VECSTEP(32, Y12)
	VECSTEP(40, Y13)
	VECSTEP(48, Y14)
	VECSTEP(56, Y15)
	VMOVUPS Y2, (DI)
	ADDQ    $64, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop8

done8:
	VZEROUPPER
	RET

// func vecSums8x4(sums *float32, lev *uint8, nblk int, cost *float32, nl int)
TEXT ·vecSums8x4(SB), NOSPLIT, $0-40
	VECARGS
	COSTROWS4
	TESTQ CX, CX
	JZ    done4

loop4:
	SUMS4
	VMOVUPS Y2, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop4

done4:
	VZEROUPPER
	RET
