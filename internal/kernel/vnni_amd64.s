//go:build !purego

#include "textflag.h"

// AVX-512 (F, BW, VL) + VNNI four-row kernels; act4 layout as in
// mat_amd64.s. Z31 holds 0x0F in every byte.

#define HSUM16(Z, Y, X, T) \
	VEXTRACTF64X4 $1, Z, T; \
	VADDPS        T, Y, Y;  \
	VEXTRACTF128  $1, Y, X15; \
	VADDPS        X15, X, X;  \
	VHADDPS       X, X, X;    \
	VHADDPS       X, X, X

// Q4_0, two blocks per step: X8 = the two weight scales, Z9 = the 64
// nibbles, Z30 = dword indices [0 x8, 1 x8].
#define Q40V(Rq, Rd, soff, ACC, SACC) \
	VPXORD       Z11, Z11, Z11;        \
	VPDPBUSD     (Rq)(DI*1), Z9, Z11;  \
	VCVTDQ2PS    Z11, Z11;             \
	VMOVQ        (Rd)(DX*1), X12;      \
	VMULPS       X8, X12, X12;         \
	VPERMPS      Z12, Z30, Z12;        \
	VFMADD231PS  Z11, Z12, ACC;        \
	MOVQ         soff(BX), AX;         \
	VMOVQ        (AX)(DX*1), X13;      \
	VFMADD231PS  X13, X8, SACC

#define Q40VOUT(ZACC, YACC, XACC, SACC, off) \
	HSUM16(ZACC, YACC, XACC, Y10); \
	VHADDPS SACC, SACC, SACC;      \
	VMULSS  X14, SACC, SACC;       \
	VSUBSS  SACC, XACC, XACC;      \
	VMOVSS  XACC, off(BX)

// func dotQ4_0x4VNNI(w *byte, a *act4, npairs int)
TEXT ·dotQ4_0x4VNNI(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), BX
	MOVQ npairs+16(FP), CX
	MOVQ 0(BX), R8
	MOVQ 8(BX), R9
	MOVQ 16(BX), R10
	MOVQ 24(BX), R11
	MOVQ 32(BX), R12
	MOVQ 40(BX), R13
	MOVQ 48(BX), R14
	MOVQ 56(BX), R15
	MOVL          $0x0f0f0f0f, AX
	VPBROADCASTD  AX, Z31
	MOVL          $1, AX
	VPBROADCASTD  AX, Y29
	VPXORD        Z30, Z30, Z30
	VINSERTI64X4  $1, Y29, Z30, Z30
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VXORPS X4, X4, X4
	VXORPS X5, X5, X5
	VXORPS X6, X6, X6
	VXORPS X7, X7, X7
	XORQ   DI, DI
	XORQ   DX, DX

q40vloop:
	MOVWLZX       (SI), AX
	VMOVD         AX, X8
	VPINSRW       $1, 18(SI), X8, X8
	VCVTPH2PS     X8, X8
	VMOVDQU       2(SI), X9
	VINSERTI128   $1, 20(SI), Y9, Y9
	VPSRLW        $4, Y9, Y10
	VINSERTI64X4  $1, Y10, Z9, Z9
	VSHUFI64X2    $0xd8, Z9, Z9, Z9
	VPANDD        Z31, Z9, Z9
	Q40V(R8, R12, 64, Z0, X4)
	Q40V(R9, R13, 72, Z1, X5)
	Q40V(R10, R14, 80, Z2, X6)
	Q40V(R11, R15, 88, Z3, X7)
	ADDQ $36, SI
	ADDQ $64, DI
	ADDQ $8, DX
	DECQ CX
	JNZ  q40vloop

	MOVL  $0x41000000, AX
	VMOVD AX, X14
	Q40VOUT(Z0, Y0, X0, X4, 96)
	Q40VOUT(Z1, Y1, X1, X5, 100)
	Q40VOUT(Z2, Y2, X2, X6, 104)
	Q40VOUT(Z3, Y3, X3, X7, 108)
	VZEROUPPER
	RET

// Q4_K: as dotQ4_Kx4AVX2, but each 64-code chunk is one register: Z8 =
// [low nibbles | high nibbles], Z10 = [scale 2c x16 | scale 2c+1 x16]
// (int16), multiplied by VPMADDUBSW and accumulated with scales by
// VPDPWSSD.
#define Q4KMIN(Rd, bsoff, macc) \
	MOVQ         bsoff(BX), AX;          \
	VMOVDQU      (AX)(DX*8), X5;         \
	VMOVDQU      16(AX)(DX*8), X6;       \
	VPHADDW      X6, X5, X5;             \
	VPMADDWD     X5, X4, X5;             \
	VCVTDQ2PS    X5, X5;                 \
	VMULSS       (Rd)(DX*1), X14, X6;    \
	VBROADCASTSS X6, X6;                 \
	VMULPS       X6, X5, X5;             \
	VADDPS       macc(BX), X5, X5;       \
	VMOVUPS      X5, macc(BX)

#define Q4KVCHUNK(c) \
	VMOVDQU      (16+32*c)(SI), Y8;   \
	VPSRLW       $4, Y8, Y9;          \
	VINSERTI64X4 $1, Y9, Z8, Z8;      \
	VPANDD       Z31, Z8, Z8;         \
	MOVBLZX      (2*c)(SP), AX;       \
	VPBROADCASTW AX, Y10;             \
	MOVBLZX      (2*c+1)(SP), AX;     \
	VPBROADCASTW AX, Y11;             \
	VINSERTI64X4 $1, Y11, Z10, Z10;   \
	VPMADDUBSW   (64*c)(R8)(DI*1), Z8, Z12;  \
	VPDPWSSD     Z10, Z12, Z4;               \
	VPMADDUBSW   (64*c)(R9)(DI*1), Z8, Z13;  \
	VPDPWSSD     Z10, Z13, Z5;               \
	VPMADDUBSW   (64*c)(R10)(DI*1), Z8, Z12; \
	VPDPWSSD     Z10, Z12, Z6;               \
	VPMADDUBSW   (64*c)(R11)(DI*1), Z8, Z13; \
	VPDPWSSD     Z10, Z13, Z7

#define Q4KVFOLD(Rd, ISUM, ACC) \
	VMULSS       (Rd)(DX*1), X14, X13; \
	VBROADCASTSS X13, Z13;             \
	VCVTDQ2PS    ISUM, ISUM;           \
	VFMADD231PS  ISUM, Z13, ACC

#define KVOUT(ZACC, YACC, XACC, macc, off) \
	HSUM16(ZACC, YACC, XACC, Y10); \
	VMOVUPS macc(BX), X11;         \
	VHADDPS X11, X11, X11;         \
	VHADDPS X11, X11, X11;         \
	VSUBSS  X11, XACC, XACC;       \
	VMOVSS  XACC, off(BX)

// func dotQ4_Kx4VNNI(w *byte, a *act4, nb int)
TEXT ·dotQ4_Kx4VNNI(SB), NOSPLIT, $16-24
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), BX
	MOVQ nb+16(FP), CX
	MOVQ 32(BX), R12
	MOVQ 40(BX), R13
	MOVQ 48(BX), R14
	MOVQ 56(BX), R15
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	VPXORD  Z0, Z0, Z0
	VPXORD  Z1, Z1, Z1
	VPXORD  Z2, Z2, Z2
	VPXORD  Z3, Z3, Z3
	VMOVUPS Y0, 112(BX)
	VMOVUPS Y0, 144(BX)
	XORQ    DI, DI
	XORQ    DX, DX

q4kvloop:
	MOVL 4(SI), AX
	MOVL 8(SI), R9
	MOVL 12(SI), R8
	MOVL AX, R10
	ANDL $0x3f3f3f3f, R10
	MOVL R10, 0(SP)
	MOVL R9, R10
	ANDL $0x3f3f3f3f, R10
	MOVL R10, 8(SP)
	MOVL R8, R10
	ANDL $0x0f0f0f0f, R10
	SHRL $6, AX
	ANDL $0x03030303, AX
	SHLL $4, AX
	ORL  AX, R10
	MOVL R10, 4(SP)
	SHRL $4, R8
	ANDL $0x0f0f0f0f, R8
	SHRL $6, R9
	ANDL $0x03030303, R9
	SHLL $4, R9
	ORL  R9, R8
	MOVL R8, 12(SP)
	MOVQ 0(BX), R8
	MOVQ 8(BX), R9
	MOVQ 16(BX), R10
	MOVQ 24(BX), R11

	MOVWLZX   2(SI), AX
	VMOVD     AX, X14
	VCVTPH2PS X14, X14
	VPMOVZXBW 8(SP), X4
	Q4KMIN(R12, 64, 112)
	Q4KMIN(R13, 72, 128)
	Q4KMIN(R14, 80, 144)
	Q4KMIN(R15, 88, 160)

	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	Q4KVCHUNK(0)
	Q4KVCHUNK(1)
	Q4KVCHUNK(2)
	Q4KVCHUNK(3)
	MOVWLZX   (SI), AX
	VMOVD     AX, X14
	VCVTPH2PS X14, X14
	Q4KVFOLD(R12, Z4, Z0)
	Q4KVFOLD(R13, Z5, Z1)
	Q4KVFOLD(R14, Z6, Z2)
	Q4KVFOLD(R15, Z7, Z3)

	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	DECQ CX
	JNZ  q4kvloop

	KVOUT(Z0, Y0, X0, 112, 96)
	KVOUT(Z1, Y1, X1, 128, 100)
	KVOUT(Z2, Y2, X2, 144, 104)
	KVOUT(Z3, Y3, X3, 160, 108)
	VZEROUPPER
	RET

// Q4_0 against one activation row, four blocks (72 bytes) per step, all
// shuffles done with AVX-512 VBMI permutes: VPERMW collects the four
// scales, VPERMT2B the four blocks' 64 nibble bytes (from the 72 bytes
// loaded as two overlapping registers), VPERMI2Q puts each block's low and
// high nibbles in element order, two blocks per register.
DATA q40nib<>+0x00(SB)/8, $0x0908070605040302
DATA q40nib<>+0x08(SB)/8, $0x11100f0e0d0c0b0a
DATA q40nib<>+0x10(SB)/8, $0x1b1a191817161514
DATA q40nib<>+0x18(SB)/8, $0x232221201f1e1d1c
DATA q40nib<>+0x20(SB)/8, $0x2d2c2b2a29282726
DATA q40nib<>+0x28(SB)/8, $0x3534333231302f2e
DATA q40nib<>+0x30(SB)/8, $0x3f3e3d3c3b3a3938
DATA q40nib<>+0x38(SB)/8, $0x7f7e7d7c7b7a7978
GLOBL q40nib<>(SB), RODATA|NOPTR, $64
DATA q40sw<>+0x00(SB)/8, $0x001b001200090000
DATA q40sw<>+0x08(SB)/8, $0x0000000000000000
DATA q40sw<>+0x10(SB)/8, $0x0000000000000000
DATA q40sw<>+0x18(SB)/8, $0x0000000000000000
DATA q40sw<>+0x20(SB)/8, $0x0000000000000000
DATA q40sw<>+0x28(SB)/8, $0x0000000000000000
DATA q40sw<>+0x30(SB)/8, $0x0000000000000000
DATA q40sw<>+0x38(SB)/8, $0x0000000000000000
GLOBL q40sw<>(SB), RODATA|NOPTR, $64
DATA q40i01<>+0x00(SB)/8, $0x0000000000000000
DATA q40i01<>+0x08(SB)/8, $0x0000000000000001
DATA q40i01<>+0x10(SB)/8, $0x0000000000000008
DATA q40i01<>+0x18(SB)/8, $0x0000000000000009
DATA q40i01<>+0x20(SB)/8, $0x0000000000000002
DATA q40i01<>+0x28(SB)/8, $0x0000000000000003
DATA q40i01<>+0x30(SB)/8, $0x000000000000000a
DATA q40i01<>+0x38(SB)/8, $0x000000000000000b
GLOBL q40i01<>(SB), RODATA|NOPTR, $64
DATA q40i23<>+0x00(SB)/8, $0x0000000000000004
DATA q40i23<>+0x08(SB)/8, $0x0000000000000005
DATA q40i23<>+0x10(SB)/8, $0x000000000000000c
DATA q40i23<>+0x18(SB)/8, $0x000000000000000d
DATA q40i23<>+0x20(SB)/8, $0x0000000000000006
DATA q40i23<>+0x28(SB)/8, $0x0000000000000007
DATA q40i23<>+0x30(SB)/8, $0x000000000000000e
DATA q40i23<>+0x38(SB)/8, $0x000000000000000f
GLOBL q40i23<>(SB), RODATA|NOPTR, $64

// func dotQ4_0x1VNNI(w *byte, q *int8, d, s *float32, nq int) float32
// (nq groups of four blocks)
TEXT ·dotQ4_0x1VNNI(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ s+24(FP), BX
	MOVQ nq+32(FP), CX
	MOVL          $0x0f0f0f0f, AX
	VPBROADCASTD  AX, Z31
	MOVL          $1, AX
	VPBROADCASTD  AX, Y24
	VPXORD        Z30, Z30, Z30
	VINSERTI64X4  $1, Y24, Z30, Z30
	MOVL          $2, AX
	VPBROADCASTD  AX, Y29
	MOVL          $3, AX
	VPBROADCASTD  AX, Y24
	VINSERTI64X4  $1, Y24, Z29, Z29
	VMOVDQU64     q40sw<>(SB), Z28
	VMOVDQU64     q40nib<>(SB), Z27
	VMOVDQU64     q40i01<>(SB), Z26
	VMOVDQU64     q40i23<>(SB), Z25
	VPXORD Z0, Z0, Z0
	VPXORD Z12, Z12, Z12
	VXORPS X10, X10, X10
	TESTQ  CX, CX
	JEQ    q40x1done

q40x1loop:
	VMOVDQU64   (SI), Z1
	VMOVDQU64   8(SI), Z2
	PREFETCHT0  576(SI)
	VPERMW      Z1, Z28, Z8
	VPERMT2B    Z2, Z27, Z1
	VCVTPH2PS   X8, X8
	VMULPS      (DX), X8, X9
	VFMADD231PS (BX), X8, X10
	VPSRLW      $4, Z1, Z2
	VPANDD      Z31, Z1, Z1
	VPANDD      Z31, Z2, Z2
	VMOVDQA64   Z26, Z3
	VPERMI2Q    Z2, Z1, Z3
	VMOVDQA64   Z25, Z4
	VPERMI2Q    Z2, Z1, Z4
	VPXORD      Z5, Z5, Z5
	VPDPBUSD    (DI), Z3, Z5
	VPXORD      Z6, Z6, Z6
	VPDPBUSD    64(DI), Z4, Z6
	VCVTDQ2PS   Z5, Z5
	VCVTDQ2PS   Z6, Z6
	VPERMPS     Z9, Z30, Z7
	VFMADD231PS Z5, Z7, Z0
	VPERMPS     Z9, Z29, Z11
	VFMADD231PS Z6, Z11, Z12
	ADDQ $72, SI
	ADDQ $128, DI
	ADDQ $16, DX
	ADDQ $16, BX
	DECQ CX
	JNZ  q40x1loop

q40x1done:
	VADDPS        Z12, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VHADDPS       X0, X0, X0
	VHADDPS       X0, X0, X0
	VHADDPS       X10, X10, X10
	VHADDPS       X10, X10, X10
	MOVL          $0x41000000, AX
	VMOVD         AX, X2
	VMULSS        X2, X10, X10
	VSUBSS        X10, X0, X0
	VZEROUPPER
	MOVSS X0, ret+40(FP)
	RET
