//go:build !purego

#include "textflag.h"
#include "avx512_amd64.h"

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
	ROWARGS(40, 48, 56)

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

	HSUM16(Z0, Y0, X0, Y1, X1)
	MOVL          $0x3b800000, AX // 1/256
	VMOVD         AX, X1
	VMULSS        X1, X0, X0
	ROWNEXT(dotq6_kx1vnnirow)
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

// Q5_K against one activation row, one 64-code chunk c per register: the
// 32 qs bytes of the chunk broadcast to both halves and shifted by
// VPSRLVW (0 in the low half, 4 in the high half) give its low then high
// nibbles, GF2P8AFFINEQB takes bits 2c and 2c+1 of the broadcast qh bytes
// to bit 4 of each half, and a VPTERNLOGD bit select joins them. The
// 5-bit codes multiply the activation codes by VPMADDUBSW and the
// sub-block scales (unpacked as in dotQ4_Kx1VNNI, spread by VPSHUFB) are
// applied by VPDPWSSD; the mins take the activation's 16-code sums.

// q5kvgf<>: for chunk c, the GF2P8AFFINEQB matrices taking bit 2c (low
// half) and bit 2c+1 (high half) of each byte to bit 4.
DATA q5kvgf<>+0x00(SB)/8, $0x0000000001000000
DATA q5kvgf<>+0x08(SB)/8, $0x0000000001000000
DATA q5kvgf<>+0x10(SB)/8, $0x0000000001000000
DATA q5kvgf<>+0x18(SB)/8, $0x0000000001000000
DATA q5kvgf<>+0x20(SB)/8, $0x0000000002000000
DATA q5kvgf<>+0x28(SB)/8, $0x0000000002000000
DATA q5kvgf<>+0x30(SB)/8, $0x0000000002000000
DATA q5kvgf<>+0x38(SB)/8, $0x0000000002000000
DATA q5kvgf<>+0x40(SB)/8, $0x0000000004000000
DATA q5kvgf<>+0x48(SB)/8, $0x0000000004000000
DATA q5kvgf<>+0x50(SB)/8, $0x0000000004000000
DATA q5kvgf<>+0x58(SB)/8, $0x0000000004000000
DATA q5kvgf<>+0x60(SB)/8, $0x0000000008000000
DATA q5kvgf<>+0x68(SB)/8, $0x0000000008000000
DATA q5kvgf<>+0x70(SB)/8, $0x0000000008000000
DATA q5kvgf<>+0x78(SB)/8, $0x0000000008000000
DATA q5kvgf<>+0x80(SB)/8, $0x0000000010000000
DATA q5kvgf<>+0x88(SB)/8, $0x0000000010000000
DATA q5kvgf<>+0x90(SB)/8, $0x0000000010000000
DATA q5kvgf<>+0x98(SB)/8, $0x0000000010000000
DATA q5kvgf<>+0xa0(SB)/8, $0x0000000020000000
DATA q5kvgf<>+0xa8(SB)/8, $0x0000000020000000
DATA q5kvgf<>+0xb0(SB)/8, $0x0000000020000000
DATA q5kvgf<>+0xb8(SB)/8, $0x0000000020000000
DATA q5kvgf<>+0xc0(SB)/8, $0x0000000040000000
DATA q5kvgf<>+0xc8(SB)/8, $0x0000000040000000
DATA q5kvgf<>+0xd0(SB)/8, $0x0000000040000000
DATA q5kvgf<>+0xd8(SB)/8, $0x0000000040000000
DATA q5kvgf<>+0xe0(SB)/8, $0x0000000080000000
DATA q5kvgf<>+0xe8(SB)/8, $0x0000000080000000
DATA q5kvgf<>+0xf0(SB)/8, $0x0000000080000000
DATA q5kvgf<>+0xf8(SB)/8, $0x0000000080000000
GLOBL q5kvgf<>(SB), RODATA|NOPTR, $256

// q5kvsh<>: for chunk c, the VPSHUFB indices of its two sub-block scales
// (bytes 2c, 2c+1 of the unpacked scales) as words, 16 each; then those of
// the 8 mins as words, each twice (bytes 8..15).
DATA q5kvsh<>+0x00(SB)/8, $0x8000800080008000
DATA q5kvsh<>+0x08(SB)/8, $0x8000800080008000
DATA q5kvsh<>+0x10(SB)/8, $0x8000800080008000
DATA q5kvsh<>+0x18(SB)/8, $0x8000800080008000
DATA q5kvsh<>+0x20(SB)/8, $0x8001800180018001
DATA q5kvsh<>+0x28(SB)/8, $0x8001800180018001
DATA q5kvsh<>+0x30(SB)/8, $0x8001800180018001
DATA q5kvsh<>+0x38(SB)/8, $0x8001800180018001
DATA q5kvsh<>+0x40(SB)/8, $0x8002800280028002
DATA q5kvsh<>+0x48(SB)/8, $0x8002800280028002
DATA q5kvsh<>+0x50(SB)/8, $0x8002800280028002
DATA q5kvsh<>+0x58(SB)/8, $0x8002800280028002
DATA q5kvsh<>+0x60(SB)/8, $0x8003800380038003
DATA q5kvsh<>+0x68(SB)/8, $0x8003800380038003
DATA q5kvsh<>+0x70(SB)/8, $0x8003800380038003
DATA q5kvsh<>+0x78(SB)/8, $0x8003800380038003
DATA q5kvsh<>+0x80(SB)/8, $0x8004800480048004
DATA q5kvsh<>+0x88(SB)/8, $0x8004800480048004
DATA q5kvsh<>+0x90(SB)/8, $0x8004800480048004
DATA q5kvsh<>+0x98(SB)/8, $0x8004800480048004
DATA q5kvsh<>+0xa0(SB)/8, $0x8005800580058005
DATA q5kvsh<>+0xa8(SB)/8, $0x8005800580058005
DATA q5kvsh<>+0xb0(SB)/8, $0x8005800580058005
DATA q5kvsh<>+0xb8(SB)/8, $0x8005800580058005
DATA q5kvsh<>+0xc0(SB)/8, $0x8006800680068006
DATA q5kvsh<>+0xc8(SB)/8, $0x8006800680068006
DATA q5kvsh<>+0xd0(SB)/8, $0x8006800680068006
DATA q5kvsh<>+0xd8(SB)/8, $0x8006800680068006
DATA q5kvsh<>+0xe0(SB)/8, $0x8007800780078007
DATA q5kvsh<>+0xe8(SB)/8, $0x8007800780078007
DATA q5kvsh<>+0xf0(SB)/8, $0x8007800780078007
DATA q5kvsh<>+0xf8(SB)/8, $0x8007800780078007
DATA q5kvsh<>+0x100(SB)/8, $0x8009800980088008
DATA q5kvsh<>+0x108(SB)/8, $0x800b800b800a800a
DATA q5kvsh<>+0x110(SB)/8, $0x800d800d800c800c
DATA q5kvsh<>+0x118(SB)/8, $0x800f800f800e800e
GLOBL q5kvsh<>(SB), RODATA|NOPTR, $288

// q5kvsm<>: the shuffles and masks of dotQ4_Kx1VNNI's q4ksm<> (the 12
// packed bytes of scales and mins into 8 scales then 8 mins).
DATA q5kvsm<>+0x00(SB)/8, $0x0b0a090803020100
DATA q5kvsm<>+0x08(SB)/8, $0x0b0a090807060504
DATA q5kvsm<>+0x10(SB)/8, $0x0302010080808080
DATA q5kvsm<>+0x18(SB)/8, $0x0706050480808080
DATA q5kvsm<>+0x20(SB)/8, $0x0f0f0f0f3f3f3f3f
DATA q5kvsm<>+0x28(SB)/8, $0x000000003f3f3f3f
DATA q5kvsm<>+0x30(SB)/8, $0x0000000000000000
DATA q5kvsm<>+0x38(SB)/8, $0x0f0f0f0f00000000
GLOBL q5kvsm<>(SB), RODATA|NOPTR, $64

// Q5KX1CHUNK: chunk c with matrix GF, scale shuffle SH; OP (VPMADDWD to
// start Z7, VPDPWSSD to add).
#define Q5KX1CHUNK(c, GF, SH, OP) \
	VBROADCASTI64X4 (48+32*c)(SI), Z1;  \
	VPSRLVW         Z19, Z1, Z1;        \
	VGF2P8AFFINEQB  $0, GF, Z2, Z3;     \
	VPTERNLOGD      $0xb8, Z1, Z31, Z3; \
	VPSHUFB         SH, Z15, Z5;        \
	VPMADDUBSW      (64*c)(DI), Z3, Z3; \
	OP              Z5, Z3, Z7

// func dotQ5_Kx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32)
// (nb super-blocks per row; rows rows as dotQ6_Kx1VNNI)
TEXT ·dotQ5_Kx1VNNI(SB), NOSPLIT, $16-64
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	MOVL         $0x03030303, AX
	VPBROADCASTD AX, Z30
	MOVL         $0x00040004, AX
	VPBROADCASTD AX, Y19
	VPXORD       Y18, Y18, Y18
	VINSERTI64X4 $1, Y19, Z18, Z19
	LEAQ         q5kvgf<>(SB), AX
	VMOVDQU64    0(AX), Z20
	VMOVDQU64    64(AX), Z21
	VMOVDQU64    128(AX), Z22
	VMOVDQU64    192(AX), Z23
	LEAQ         q5kvsh<>(SB), AX
	VMOVDQU64    0(AX), Z24
	VMOVDQU64    64(AX), Z25
	VMOVDQU64    128(AX), Z26
	VMOVDQU64    192(AX), Z27
	VMOVDQU64    256(AX), Y28
	LEAQ         q5kvsm<>(SB), AX
	VMOVDQU64    0(AX), X16
	VMOVDQU64    16(AX), X17
	VMOVDQU64    32(AX), X18
	VMOVDQU64    48(AX), X29
	MOVL         $3, AX
	KMOVW        AX, K1
	ROWARGS(40, 48, 56)
	TESTQ R9, R9
	JEQ   q5kx1ret

dotq5_kx1vnnirow:
	ROWHEAD(bs, nb)
	VPXORD Y9, Y9, Y9
	TESTQ  CX, CX
	JEQ    q5kx1done

q5kx1loop:
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	PREFETCHT0 2176(SI)
	VMOVDQU    4(SI), X13
	VPSHUFB    X16, X13, X14
	VPSHUFB    X17, X13, X13
	VPANDD     X18, X14, X15
	VPSRLW     $4, X14, X14
	VPANDD     X29, X14, X14
	VPORD      X14, X15, X15
	VPSRLW     $6, X13, X13
	VPANDD     X30, X13, X13
	VPSLLW     $4, X13, X13
	VPORD      X13, X15, X15          // 8 scales, 8 mins
	VSHUFI32X4 $0, Z15, Z15, Z15      // in every lane

	VCVTPH2PS.Z      0(SI), K1, X12   // d, dmin
	VMULPS.BCST      (DX), X12, X12
	VMOVUPS          X12, 0(SP)
	VPSHUFB          Y28, Y15, Y4     // mins as words, each twice
	VPMADDWD         (BX), Y4, Y4
	VCVTDQ2PS        Y4, Y4
	VFMADD231PS.BCST 4(SP), Y4, Y9

	VBROADCASTI64X4 16(SI), Z2        // qh in both halves
	Q5KX1CHUNK(0, Z20, Z24, VPMADDWD)
	Q5KX1CHUNK(1, Z21, Z25, VPDPWSSD)
	Q5KX1CHUNK(2, Z22, Z26, VPDPWSSD)
	Q5KX1CHUNK(3, Z23, Z27, VPDPWSSD)
	VCVTDQ2PS        Z7, Z7
	VFMADD231PS.BCST 0(SP), Z7, Z0
	ADDQ $176, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  q5kx1loop

q5kx1done:
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VSUBPS        Y9, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VHADDPS       X0, X0, X0
	VHADDPS       X0, X0, X0
	ROWNEXT(dotq5_kx1vnnirow)

q5kx1ret:
	VZEROUPPER
	RET
