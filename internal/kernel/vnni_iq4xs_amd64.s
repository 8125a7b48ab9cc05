//go:build !purego

#include "textflag.h"
#include "avx512_amd64.h"

// IQ4_XS against one Q8_K activation row, one 256-element super-block per
// step. The 128 nibble bytes are two registers of four 32-element
// sub-blocks (16 bytes each: low nibbles elements 0-15, high nibbles
// 16-31); VPERMB looks both nibbles up in kvalues_iq4nl plus 128 (the
// table broadcast to the four 128-bit lanes, so that VPERMB's six index
// bits need no mask). VSHUFI64X2 gathers the matching activation halves
// (lanes 0 and 2, or 1 and 3, of each pair of sub-blocks), and VPDPBUSD
// (unsigned codes, signed activations) leaves sub-block k's four partial
// sums in 128-bit lane k%4 of Z2 (k < 4) or Z3. They are multiplied by
// ls_k - 32 (the 6-bit scales spread over the lanes by VPERMD), the offset
// 128*(ls_k-32)*bsum_k (the 16-code sums paired by VPMADDWD) is taken off,
// and the integers are converted and added into Z0 times d*d8.
//
// func dotIQ4_XSx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32)
//
// Registers: Z24 = the table, Y23/Y22 = the shifts of scales_l/scales_h,
// Y21 = 15, Y20 = 3, Y19 = 32 (dwords), Z18/Z17 = the VPERMD indices of
// sub-blocks 0-3/4-7, Y15 = int16 ones.

DATA iq4xsTab<>+0x00(SB)/8, $0x766a5d4f3f2d1801
DATA iq4xsTab<>+0x08(SB)/8, $0xf1d9c5b5a6998d81
GLOBL iq4xsTab<>(SB), RODATA|NOPTR, $16

DATA iq4xsShL<>+0x00(SB)/8, $0x0000000400000000
DATA iq4xsShL<>+0x08(SB)/8, $0x0000000c00000008
DATA iq4xsShL<>+0x10(SB)/8, $0x0000001400000010
DATA iq4xsShL<>+0x18(SB)/8, $0x0000001c00000018
GLOBL iq4xsShL<>(SB), RODATA|NOPTR, $32

DATA iq4xsShH<>+0x00(SB)/8, $0x0000000200000000
DATA iq4xsShH<>+0x08(SB)/8, $0x0000000600000004
DATA iq4xsShH<>+0x10(SB)/8, $0x0000000a00000008
DATA iq4xsShH<>+0x18(SB)/8, $0x0000000e0000000c
GLOBL iq4xsShH<>(SB), RODATA|NOPTR, $32

DATA iq4xsP0<>+0x00(SB)/8, $0x0000000000000000
DATA iq4xsP0<>+0x08(SB)/8, $0x0000000000000000
DATA iq4xsP0<>+0x10(SB)/8, $0x0000000100000001
DATA iq4xsP0<>+0x18(SB)/8, $0x0000000100000001
DATA iq4xsP0<>+0x20(SB)/8, $0x0000000200000002
DATA iq4xsP0<>+0x28(SB)/8, $0x0000000200000002
DATA iq4xsP0<>+0x30(SB)/8, $0x0000000300000003
DATA iq4xsP0<>+0x38(SB)/8, $0x0000000300000003
GLOBL iq4xsP0<>(SB), RODATA|NOPTR, $64

DATA iq4xsP1<>+0x00(SB)/8, $0x0000000400000004
DATA iq4xsP1<>+0x08(SB)/8, $0x0000000400000004
DATA iq4xsP1<>+0x10(SB)/8, $0x0000000500000005
DATA iq4xsP1<>+0x18(SB)/8, $0x0000000500000005
DATA iq4xsP1<>+0x20(SB)/8, $0x0000000600000006
DATA iq4xsP1<>+0x28(SB)/8, $0x0000000600000006
DATA iq4xsP1<>+0x30(SB)/8, $0x0000000700000007
DATA iq4xsP1<>+0x38(SB)/8, $0x0000000700000007
GLOBL iq4xsP1<>(SB), RODATA|NOPTR, $64

TEXT ·dotIQ4_XSx1VNNI(SB), NOSPLIT, $0-64
	ROWARGS(40, 48, 56)
	VBROADCASTI32X4 iq4xsTab<>(SB), Z24
	VMOVDQU32       iq4xsShL<>(SB), Y23
	VMOVDQU32       iq4xsShH<>(SB), Y22
	MOVL            $15, AX
	VPBROADCASTD    AX, Y21
	MOVL            $3, AX
	VPBROADCASTD    AX, Y20
	MOVL            $32, AX
	VPBROADCASTD    AX, Y19
	VMOVDQU64       iq4xsP0<>(SB), Z18
	VMOVDQU64       iq4xsP1<>(SB), Z17
	MOVL            $0x00010001, AX
	VPBROADCASTD    AX, Y15

iq4xsrow:
	ROWHEAD(bs, nb)

iq4xsloop:
	// Y1 = ls - 32 of the eight sub-blocks.
	VPBROADCASTD 4(SI), Y1
	VPSRLVD      Y23, Y1, Y1
	VPANDD       Y21, Y1, Y1
	VPBROADCASTD 2(SI), Y2
	VPSRLVD      Y22, Y2, Y2
	VPANDD       Y20, Y2, Y2
	VPSLLD       $4, Y2, Y2
	VPORD        Y2, Y1, Y1
	VPSUBD       Y19, Y1, Y1

	// Y14 = 128 * (ls-32) * (bsum[2k] + bsum[2k+1]).
	VMOVDQU  (BX), Y14
	VPMADDWD Y15, Y14, Y14
	VPMULLD  Y1, Y14, Y14
	VPSLLD   $7, Y14, Y14

	// Z4, Z5 = the scales over the lanes of sub-blocks 0-3 and 4-7.
	VPERMD Z1, Z18, Z4
	VPERMD Z1, Z17, Z5

	// Weight codes: Z6/Z8 low/high nibbles of sub-blocks 0-3, Z7/Z9 of 4-7.
	VMOVDQU64 8(SI), Z6
	VMOVDQU64 72(SI), Z7
	VPSRLW    $4, Z6, Z8
	VPSRLW    $4, Z7, Z9
	VPERMB    Z24, Z6, Z6
	VPERMB    Z24, Z8, Z8
	VPERMB    Z24, Z7, Z7
	VPERMB    Z24, Z9, Z9

	// Activations in the same order.
	VMOVDQU64  (DI), Z10
	VMOVDQU64  64(DI), Z11
	VMOVDQU64  128(DI), Z12
	VMOVDQU64  192(DI), Z13
	VSHUFI64X2 $0x88, Z11, Z10, Z26
	VSHUFI64X2 $0xdd, Z11, Z10, Z27
	VSHUFI64X2 $0x88, Z13, Z12, Z28
	VSHUFI64X2 $0xdd, Z13, Z12, Z29

	VPXORD   Z2, Z2, Z2
	VPXORD   Z3, Z3, Z3
	VPDPBUSD Z26, Z6, Z2
	VPDPBUSD Z27, Z8, Z2
	VPDPBUSD Z28, Z7, Z3
	VPDPBUSD Z29, Z9, Z3
	VPMULLD  Z4, Z2, Z2
	VPMULLD  Z5, Z3, Z3
	VPADDD   Z3, Z2, Z2
	VPSUBD   Z14, Z2, Z2
	VCVTDQ2PS Z2, Z2

	// Z31 = d * d8 in every lane.
	MOVWLZX      (SI), AX
	VMOVD        AX, X31
	VCVTPH2PS    X31, X31
	VMULSS       (DX), X31, X31
	VBROADCASTSS X31, Z31
	VFMADD231PS  Z31, Z2, Z0

	ADDQ $136, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  iq4xsloop

	HSUM16(Z0, Y0, X0, Y1, X1)
	ROWNEXT(iq4xsrow)
	VZEROUPPER
	RET
