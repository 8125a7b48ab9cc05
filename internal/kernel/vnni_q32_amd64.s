//go:build !purego

#include "textflag.h"
#include "avx512_amd64.h"

// AVX-512 VNNI matrix-vector kernels of the remaining 32-element block
// types (IQ4_NL, Q4_1, Q5_0, Q5_1) against one Q8 activation row, in the
// manner of dotQ4_0x1VNNI (vnni_amd64.s): four blocks per step, loaded as
// two overlapping 64-byte registers (Z1 at the group's start, Z2 further
// on), from which VPERMW or VPERMI2B collect the block scales and VPERMT2B
// the four blocks' 64 nibble bytes; the low and high nibbles are put in
// element order, two blocks per register, by VPERMI2Q, and multiplied with
// the activation codes by VPDPBUSD (unsigned weight codes, signed
// activation codes). Every kernel works on the unsigned codes (IQ4_NL's
// table values plus 128, Q5_0's five-bit codes without the -16) and takes
// the offset off through the blocks' scaled code sums s (as Q4_0 does), or
// adds the blocks' minimums times s (Q4_1, Q5_1).
//
// Each is a many-row kernel:
// func(w *byte, q *int8, d, s *float32, nq, rows, rowBytes int, out *float32)
// with nq groups of four blocks per row, rows consecutive weight rows
// rowBytes apart, results to out[0:rows].
//
// Registers: Z31 = 0x0F bytes, Z30/Z29 = the dword indices that spread
// the four block scales over the two products of a step ([0 x8, 1 x8],
// [2 x8, 3 x8]), Z28 = the scale word indices, Z27 = the nibble byte
// indices, Z26/Z25 = the qword indices that order blocks 0,1 and 2,3,
// Z24 = the IQ4_NL table or 0x10 bytes, X13 = the offset multiplier;
// Q5_0 and Q5_1 scales take VPERMI2B byte indices (64 and up: Z2).
// Per row: Z0, Z12 = the accumulators, X10 = the sums of scale times s.
// The Q32* macros that dotQ4_0x1VNNI shares are in avx512_amd64.h.

// q32i01<>, q32i23<>: VPERMI2Q indices taking [low nibbles | high nibbles]
// of blocks 0, 1 (2, 3) from Z1 (low nibbles) and Z2 (high nibbles).
DATA q32i01<>+0x00(SB)/8, $0x0000000000000000
DATA q32i01<>+0x08(SB)/8, $0x0000000000000001
DATA q32i01<>+0x10(SB)/8, $0x0000000000000008
DATA q32i01<>+0x18(SB)/8, $0x0000000000000009
DATA q32i01<>+0x20(SB)/8, $0x0000000000000002
DATA q32i01<>+0x28(SB)/8, $0x0000000000000003
DATA q32i01<>+0x30(SB)/8, $0x000000000000000a
DATA q32i01<>+0x38(SB)/8, $0x000000000000000b
GLOBL q32i01<>(SB), RODATA|NOPTR, $64
DATA q32i23<>+0x00(SB)/8, $0x0000000000000004
DATA q32i23<>+0x08(SB)/8, $0x0000000000000005
DATA q32i23<>+0x10(SB)/8, $0x000000000000000c
DATA q32i23<>+0x18(SB)/8, $0x000000000000000d
DATA q32i23<>+0x20(SB)/8, $0x0000000000000006
DATA q32i23<>+0x28(SB)/8, $0x0000000000000007
DATA q32i23<>+0x30(SB)/8, $0x000000000000000e
DATA q32i23<>+0x38(SB)/8, $0x000000000000000f
GLOBL q32i23<>(SB), RODATA|NOPTR, $64

// IQ4_NL, 18-byte blocks (Z2 loaded at +8): the nibble bytes and the
// scale words.
DATA q32nib18<>+0x00(SB)/8, $0x0908070605040302
DATA q32nib18<>+0x08(SB)/8, $0x11100f0e0d0c0b0a
DATA q32nib18<>+0x10(SB)/8, $0x1b1a191817161514
DATA q32nib18<>+0x18(SB)/8, $0x232221201f1e1d1c
DATA q32nib18<>+0x20(SB)/8, $0x2d2c2b2a29282726
DATA q32nib18<>+0x28(SB)/8, $0x3534333231302f2e
DATA q32nib18<>+0x30(SB)/8, $0x3f3e3d3c3b3a3938
DATA q32nib18<>+0x38(SB)/8, $0x7f7e7d7c7b7a7978
GLOBL q32nib18<>(SB), RODATA|NOPTR, $64
DATA q32sw18<>+0x00(SB)/8, $0x001b001200090000
DATA q32sw18<>+0x08(SB)/8, $0x0000000000000000
DATA q32sw18<>+0x10(SB)/8, $0x0000000000000000
DATA q32sw18<>+0x18(SB)/8, $0x0000000000000000
DATA q32sw18<>+0x20(SB)/8, $0x0000000000000000
DATA q32sw18<>+0x28(SB)/8, $0x0000000000000000
DATA q32sw18<>+0x30(SB)/8, $0x0000000000000000
DATA q32sw18<>+0x38(SB)/8, $0x0000000000000000
GLOBL q32sw18<>(SB), RODATA|NOPTR, $64

// Q4_1, 20-byte blocks (Z2 at +16): the nibble bytes; the words of the
// four scales then the four minimums.
DATA q32nib20<>+0x00(SB)/8, $0x0b0a090807060504
DATA q32nib20<>+0x08(SB)/8, $0x131211100f0e0d0c
DATA q32nib20<>+0x10(SB)/8, $0x1f1e1d1c1b1a1918
DATA q32nib20<>+0x18(SB)/8, $0x2726252423222120
DATA q32nib20<>+0x20(SB)/8, $0x333231302f2e2d2c
DATA q32nib20<>+0x28(SB)/8, $0x3b3a393837363534
DATA q32nib20<>+0x30(SB)/8, $0x7776757473727170
DATA q32nib20<>+0x38(SB)/8, $0x7f7e7d7c7b7a7978
GLOBL q32nib20<>(SB), RODATA|NOPTR, $64
DATA q32sw20<>+0x00(SB)/8, $0x001e0014000a0000
DATA q32sw20<>+0x08(SB)/8, $0x001f0015000b0001
DATA q32sw20<>+0x10(SB)/8, $0x0000000000000000
DATA q32sw20<>+0x18(SB)/8, $0x0000000000000000
DATA q32sw20<>+0x20(SB)/8, $0x0000000000000000
DATA q32sw20<>+0x28(SB)/8, $0x0000000000000000
DATA q32sw20<>+0x30(SB)/8, $0x0000000000000000
DATA q32sw20<>+0x38(SB)/8, $0x0000000000000000
GLOBL q32sw20<>(SB), RODATA|NOPTR, $64

// Q5_0, 22-byte blocks (Z2 at +24): the nibble bytes and the scale bytes.
DATA q32nib22<>+0x00(SB)/8, $0x0d0c0b0a09080706
DATA q32nib22<>+0x08(SB)/8, $0x1514131211100f0e
DATA q32nib22<>+0x10(SB)/8, $0x232221201f1e1d1c
DATA q32nib22<>+0x18(SB)/8, $0x2b2a292827262524
DATA q32nib22<>+0x20(SB)/8, $0x3938373635343332
DATA q32nib22<>+0x28(SB)/8, $0x69683f3e3d3c3b3a
DATA q32nib22<>+0x30(SB)/8, $0x7776757473727170
DATA q32nib22<>+0x38(SB)/8, $0x7f7e7d7c7b7a7978
GLOBL q32nib22<>(SB), RODATA|NOPTR, $64
DATA q32sb22<>+0x00(SB)/8, $0x6b6a2d2c17160100
DATA q32sb22<>+0x08(SB)/8, $0x0000000000000000
DATA q32sb22<>+0x10(SB)/8, $0x0000000000000000
DATA q32sb22<>+0x18(SB)/8, $0x0000000000000000
DATA q32sb22<>+0x20(SB)/8, $0x0000000000000000
DATA q32sb22<>+0x28(SB)/8, $0x0000000000000000
DATA q32sb22<>+0x30(SB)/8, $0x0000000000000000
DATA q32sb22<>+0x38(SB)/8, $0x0000000000000000
GLOBL q32sb22<>(SB), RODATA|NOPTR, $64

// Q5_1, 24-byte blocks (Z2 at +32): the nibble bytes; the bytes of the
// scales then the minimums.
DATA q32nib24<>+0x00(SB)/8, $0x0f0e0d0c0b0a0908
DATA q32nib24<>+0x08(SB)/8, $0x1716151413121110
DATA q32nib24<>+0x10(SB)/8, $0x2726252423222120
DATA q32nib24<>+0x18(SB)/8, $0x2f2e2d2c2b2a2928
DATA q32nib24<>+0x20(SB)/8, $0x3f3e3d3c3b3a3938
DATA q32nib24<>+0x28(SB)/8, $0x6766656463626160
DATA q32nib24<>+0x30(SB)/8, $0x7776757473727170
DATA q32nib24<>+0x38(SB)/8, $0x7f7e7d7c7b7a7978
GLOBL q32nib24<>(SB), RODATA|NOPTR, $64
DATA q32sb24<>+0x00(SB)/8, $0x6968313019180100
DATA q32sb24<>+0x08(SB)/8, $0x6b6a33321b1a0302
DATA q32sb24<>+0x10(SB)/8, $0x0000000000000000
DATA q32sb24<>+0x18(SB)/8, $0x0000000000000000
DATA q32sb24<>+0x20(SB)/8, $0x0000000000000000
DATA q32sb24<>+0x28(SB)/8, $0x0000000000000000
DATA q32sb24<>+0x30(SB)/8, $0x0000000000000000
DATA q32sb24<>+0x38(SB)/8, $0x0000000000000000
GLOBL q32sb24<>(SB), RODATA|NOPTR, $64

// q32iq4<>: kvalues_iq4nl plus 128 (unsigned), broadcast to the four
// 16-byte lanes so that VPERMB (which reads 6 index bits) needs no mask
// of the nibbles.
DATA q32iq4<>+0x00(SB)/8, $0x766a5d4f3f2d1801
DATA q32iq4<>+0x08(SB)/8, $0xf1d9c5b5a6998d81
GLOBL q32iq4<>(SB), RODATA|NOPTR, $16

// Q32CONSTS: Q32IDX, the VPERMI2Q indices in Z26, Z25 and ROWARGS.
#define Q32CONSTS \
	Q32IDX;                          \
	VMOVDQU64     q32i01<>(SB), Z26; \
	VMOVDQU64     q32i23<>(SB), Z25; \
	ROWARGS(40, 48, 56)

// Q5HIGH(o0, o1, o2, o3): K1, K2 = the fifth bits (qh) of blocks 0,1 and
// 2,3, at byte offsets o0..o3, as 64-bit element masks.
#define Q5HIGH(o0, o1, o2, o3) \
	KMOVD    o0(SI), K1;    \
	KMOVD    o1(SI), K3;    \
	KUNPCKDQ K1, K3, K1;    \
	KMOVD    o2(SI), K2;    \
	KMOVD    o3(SI), K3;    \
	KUNPCKDQ K2, K3, K2

// Q5GATHERB: X8 = the four scales' bytes (VPERMI2B by Z28 from Z1:Z2), Z1 =
// the 64 nibble bytes (VPERMT2B by Z27 from Z1:Z2).
#define Q5GATHERB \
	VMOVDQA64 Z28, Z8;     \
	VPERMI2B  Z2, Z1, Z8;  \
	VPERMT2B  Z2, Z27, Z1

// Q5SPLIT: Q32SPLIT, then 0x10 added to the codes whose fifth bit is set
// (Z24 = 0x10 bytes, masks K1, K2 from Q5HIGH).
#define Q5SPLIT \
	Q32SPLIT;               \
	VPADDB Z24, Z3, K1, Z3; \
	VPADDB Z24, Z4, K2, Z4

// func dotIQ4NLx1VNNI(w *byte, q *int8, d, s *float32, nq, rows, rowBytes int, out *float32)
// The table values plus 128 go to VPDPBUSD; 128*sum(scale*s) is taken off.
TEXT ·dotIQ4NLx1VNNI(SB), NOSPLIT, $0-64
	Q32CONSTS
	VMOVDQU64      q32sw18<>(SB), Z28
	VMOVDQU64      q32nib18<>(SB), Z27
	VBROADCASTI32X4 q32iq4<>(SB), Z24
	MOVL           $0x43000000, AX // 128.0
	VMOVD          AX, X13

iq4x1row:
	Q32ROW
	TESTQ CX, CX
	JEQ   iq4x1done

iq4x1loop:
	Q32LOAD(8)
	Q32GATHERW
	VPSRLW      $4, Z1, Z2
	VMOVDQA64   Z26, Z3
	VPERMI2Q    Z2, Z1, Z3
	VMOVDQA64   Z25, Z4
	VPERMI2Q    Z2, Z1, Z4
	VPERMB      Z24, Z3, Z3
	VPERMB      Z24, Z4, Z4
	Q32ACC
	Q32NEXT(72, iq4x1loop)

iq4x1done:
	Q32SUM
	VMULSS X13, X10, X10
	VSUBSS X10, X0, X0
	ROWNEXT(iq4x1row)
	VZEROUPPER
	RET

// func dotQ4_1x1VNNI(w *byte, q *int8, d, s *float32, nq, rows, rowBytes int, out *float32)
// sum(scale*d*codes.q) + sum(min*s).
TEXT ·dotQ4_1x1VNNI(SB), NOSPLIT, $0-64
	Q32CONSTS
	VMOVDQU64 q32sw20<>(SB), Z28
	VMOVDQU64 q32nib20<>(SB), Z27

q41x1row:
	Q32ROW
	TESTQ CX, CX
	JEQ   q41x1done

q41x1loop:
	Q32LOAD(16)
	VPERMW       Z1, Z28, Z8
	VPERMT2B     Z2, Z27, Z1
	VCVTPH2PS    X8, Y8
	VMULPS       (DX), X8, X9
	VEXTRACTF128 $1, Y8, X7
	VFMADD231PS  (BX), X7, X10
	Q32SPLIT
	Q32ACC
	Q32NEXT(80, q41x1loop)

q41x1done:
	Q32SUM
	VADDSS X10, X0, X0
	ROWNEXT(q41x1row)
	VZEROUPPER
	RET

// func dotQ5_0x1VNNI(w *byte, q *int8, d, s *float32, nq, rows, rowBytes int, out *float32)
// The five-bit codes (0x10 added where the qh bit is set) go to VPDPBUSD;
// 16*sum(scale*s) is taken off.
TEXT ·dotQ5_0x1VNNI(SB), NOSPLIT, $0-64
	Q32CONSTS
	VMOVDQU64    q32sb22<>(SB), Z28
	VMOVDQU64    q32nib22<>(SB), Z27
	MOVL         $0x10101010, AX
	VPBROADCASTD AX, Z24
	MOVL         $0x41800000, AX // 16.0
	VMOVD        AX, X13

q50x1row:
	Q32ROW
	TESTQ CX, CX
	JEQ   q50x1done

q50x1loop:
	Q32LOAD(24)
	Q5HIGH(2, 24, 46, 68)
	Q5GATHERB
	VCVTPH2PS   X8, X8
	VMULPS      (DX), X8, X9
	VFMADD231PS (BX), X8, X10
	Q5SPLIT
	Q32ACC
	Q32NEXT(88, q50x1loop)

q50x1done:
	Q32SUM
	VMULSS X13, X10, X10
	VSUBSS X10, X0, X0
	ROWNEXT(q50x1row)
	VZEROUPPER
	RET

// func dotQ5_1x1VNNI(w *byte, q *int8, d, s *float32, nq, rows, rowBytes int, out *float32)
// As Q5_0 without the offset, plus sum(min*s) as Q4_1.
TEXT ·dotQ5_1x1VNNI(SB), NOSPLIT, $0-64
	Q32CONSTS
	VMOVDQU64    q32sb24<>(SB), Z28
	VMOVDQU64    q32nib24<>(SB), Z27
	MOVL         $0x10101010, AX
	VPBROADCASTD AX, Z24

q51x1row:
	Q32ROW
	TESTQ CX, CX
	JEQ   q51x1done

q51x1loop:
	Q32LOAD(32)
	Q5HIGH(4, 28, 52, 76)
	Q5GATHERB
	VCVTPH2PS    X8, Y8
	VMULPS       (DX), X8, X9
	VEXTRACTF128 $1, Y8, X7
	VFMADD231PS  (BX), X7, X10
	Q5SPLIT
	Q32ACC
	Q32NEXT(96, q51x1loop)

q51x1done:
	Q32SUM
	VADDSS X10, X0, X0
	ROWNEXT(q51x1row)
	VZEROUPPER
	RET
