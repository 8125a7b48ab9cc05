//go:build !purego

#include "textflag.h"

// Q6_K against one activation row with AVX-512 BW + VNNI + VBMI + GFNI.
//
// A super-block (210 bytes: ql[128], qh[64], 16 int8 scales, f16 d) is
// four 64-code registers in the activation's element order: for half h,
// the 64 ql bytes at 64h hold codes 128h+[0,64) in their low nibbles and
// 128h+[64,128) in their high nibbles, the two top bits of code
// 128h+32j+l being bits 2j, 2j+1 of qh[32h+l]. With qh broadcast to both
// 256-bit halves of a register, one GF2P8AFFINEQB per register moves the
// right two bits of each byte (0-1 | 2-3, or 4-5 | 6-7) to bits 4-5 and
// clears the rest, and a VPTERNLOGD bit select puts the nibble under them.
//
// VPDPBUSD multiplies the 6-bit codes (unsigned) with the activation codes
// into dwords of four products, each dword starting from -32 times the sum
// of its four activation codes (made once per call into the c scratch), so
// that it holds sum (code-32)*a, within +-16384. VPACKSSDW packs two
// registers' dwords into words (no saturation at that range), lane j of
// the result holding groups 4k+j and 4k+4+j, and VPMADDWD/VPDPWSSD apply
// the group scales, spread by VPSHUFB as 256*scale words (exact int16;
// the block's dword sums stay within 2^31). The 256 is taken off each
// row's sum at the end.

// q6kvsh<>: VPSHUFB indices, from the 16 scale bytes in every 128-bit lane,
// of the words 256*scale for registers 0,1 (lane j: scale j x4, scale 4+j
// x4) and for registers 2,3 (scales 8+j, 12+j).
DATA q6kvsh<>+0x00(SB)/8, $0x0080008000800080
DATA q6kvsh<>+0x08(SB)/8, $0x0480048004800480
DATA q6kvsh<>+0x10(SB)/8, $0x0180018001800180
DATA q6kvsh<>+0x18(SB)/8, $0x0580058005800580
DATA q6kvsh<>+0x20(SB)/8, $0x0280028002800280
DATA q6kvsh<>+0x28(SB)/8, $0x0680068006800680
DATA q6kvsh<>+0x30(SB)/8, $0x0380038003800380
DATA q6kvsh<>+0x38(SB)/8, $0x0780078007800780
DATA q6kvsh<>+0x40(SB)/8, $0x0880088008800880
DATA q6kvsh<>+0x48(SB)/8, $0x0c800c800c800c80
DATA q6kvsh<>+0x50(SB)/8, $0x0980098009800980
DATA q6kvsh<>+0x58(SB)/8, $0x0d800d800d800d80
DATA q6kvsh<>+0x60(SB)/8, $0x0a800a800a800a80
DATA q6kvsh<>+0x68(SB)/8, $0x0e800e800e800e80
DATA q6kvsh<>+0x70(SB)/8, $0x0b800b800b800b80
DATA q6kvsh<>+0x78(SB)/8, $0x0f800f800f800f80
GLOBL q6kvsh<>(SB), RODATA|NOPTR, $128

// q6kvgf<>: GF2P8AFFINEQB bit matrices (output bit i takes the input bits
// set in matrix byte 7-i): qh bits 0-1 to bits 4-5 in the low half of the
// register, bits 2-3 in the high half; then bits 4-5 and bits 6-7.
DATA q6kvgf<>+0x00(SB)/8, $0x0000000001020000
DATA q6kvgf<>+0x08(SB)/8, $0x0000000001020000
DATA q6kvgf<>+0x10(SB)/8, $0x0000000001020000
DATA q6kvgf<>+0x18(SB)/8, $0x0000000001020000
DATA q6kvgf<>+0x20(SB)/8, $0x0000000004080000
DATA q6kvgf<>+0x28(SB)/8, $0x0000000004080000
DATA q6kvgf<>+0x30(SB)/8, $0x0000000004080000
DATA q6kvgf<>+0x38(SB)/8, $0x0000000004080000
DATA q6kvgf<>+0x40(SB)/8, $0x0000000010200000
DATA q6kvgf<>+0x48(SB)/8, $0x0000000010200000
DATA q6kvgf<>+0x50(SB)/8, $0x0000000010200000
DATA q6kvgf<>+0x58(SB)/8, $0x0000000010200000
DATA q6kvgf<>+0x60(SB)/8, $0x0000000040800000
DATA q6kvgf<>+0x68(SB)/8, $0x0000000040800000
DATA q6kvgf<>+0x70(SB)/8, $0x0000000040800000
DATA q6kvgf<>+0x78(SB)/8, $0x0000000040800000
GLOBL q6kvgf<>(SB), RODATA|NOPTR, $128

// Q6KX1HALF does half h of a super-block: ql at QL(SI), qh at QH(SI),
// activation codes at A(DI) and their offsets at A(R12), scale words SC;
// the two registers' products go to Z5 then, scaled, into ACC by OP
// (VPMADDWD to start it, VPDPWSSD to add).
#define Q6KX1HALF(QL, QH, A, SC, OP, ACC) \
	VMOVDQU64       QL(SI), Z1;           \
	VBROADCASTI64X4 QH(SI), Z2;           \
	VGF2P8AFFINEQB  $0, Z30, Z2, Z3;      \
	VPTERNLOGD      $0xb8, Z1, Z31, Z3;   \
	VGF2P8AFFINEQB  $0, Z29, Z2, Z4;      \
	VPSRLW          $4, Z1, Z1;           \
	VPTERNLOGD      $0xb8, Z1, Z31, Z4;   \
	VMOVDQU64       A(R12), Z5;           \
	VPDPBUSD        A(DI), Z3, Z5;        \
	VMOVDQU64       (A+64)(R12), Z6;      \
	VPDPBUSD        (A+64)(DI), Z4, Z6;   \
	VPACKSSDW       Z6, Z5, Z5;           \
	OP              SC, Z5, ACC

// func dotQ6_Kx1VNNI(w *byte, q *int8, d *float32, c *int32, nb, rows, rowBytes int, out *float32)
// (nb super-blocks per row; rows consecutive rows, rowBytes apart, results
// to out[0:rows]; c is scratch for 64*nb int32)
TEXT ·dotQ6_Kx1VNNI(SB), NOSPLIT, $16-64
	MOVQ  rows+40(FP), R9
	TESTQ R9, R9
	JEQ   q6kx1ret
	MOVQ  nb+32(FP), CX
	TESTQ CX, CX
	JEQ   q6kx1zero

	// c[i] = -32 * (q[4i] + q[4i+1] + q[4i+2] + q[4i+3])
	MOVL         $0x20202020, AX
	VPBROADCASTD AX, Z26
	VPXORD       Z25, Z25, Z25
	MOVQ         q+8(FP), DI
	MOVQ         c+24(FP), R12
	SHLQ         $2, CX

q6kx1pre:
	VPXORD    Z1, Z1, Z1
	VPDPBUSD  (DI), Z26, Z1
	VPSUBD    Z1, Z25, Z1
	VMOVDQU64 Z1, (R12)
	ADDQ $64, DI
	ADDQ $64, R12
	DECQ CX
	JNZ  q6kx1pre

	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	LEAQ         q6kvgf<>(SB), AX
	VMOVDQU64    0(AX), Z30
	VMOVDQU64    64(AX), Z29
	LEAQ         q6kvsh<>(SB), AX
	VMOVDQU64    0(AX), Z28
	VMOVDQU64    64(AX), Z27
	MOVL         $8, AX
	KMOVW        AX, K1
	MOVQ w+0(FP), R8
	MOVQ rows+40(FP), R9
	MOVQ rowBytes+48(FP), R10
	MOVQ out+56(FP), R11

dotq6_kx1vnnirow:
	MOVQ R8, SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ c+24(FP), R12
	MOVQ nb+32(FP), CX
	VPXORD Z0, Z0, Z0

q6kx1loop:
	PREFETCHT0      2048(SI)
	PREFETCHT0      2112(SI)
	PREFETCHT0      2176(SI)
	PREFETCHT0      2240(SI)
	VBROADCASTI32X4 192(SI), Z9
	VPSHUFB         Z28, Z9, Z10
	VPSHUFB         Z27, Z9, Z9
	Q6KX1HALF(0, 128, 0, Z10, VPMADDWD, Z7)
	Q6KX1HALF(64, 160, 128, Z9, VPDPWSSD, Z7)
	VCVTPH2PS.Z      202(SI), K1, X12 // the block's d in lane 3, the rest zeroed
	VMULPS.BCST      (DX), X12, X12
	VMOVUPS          X12, 0(SP)
	VCVTDQ2PS        Z7, Z7
	VFMADD231PS.BCST 12(SP), Z7, Z0
	ADDQ $210, SI
	ADDQ $256, DI
	ADDQ $256, R12
	ADDQ $4, DX
	DECQ CX
	JNZ  q6kx1loop

	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VHADDPS       X0, X0, X0
	VHADDPS       X0, X0, X0
	MOVL          $0x3b800000, AX // 1/256
	VMOVD         AX, X1
	VMULSS        X1, X0, X0
	VMOVSS X0, (R11)
	ADDQ   R10, R8
	ADDQ   $4, R11
	DECQ   R9
	JNZ    dotq6_kx1vnnirow
	VZEROUPPER
	RET

q6kx1zero:
	MOVQ out+56(FP), R11

q6kx1zloop:
	MOVL $0, (R11)
	ADDQ $4, R11
	DECQ R9
	JNZ  q6kx1zloop

q6kx1ret:
	RET
