//go:build !purego

#include "textflag.h"
#include "avx512_amd64.h"
#include "avx2_amd64.h"

// AVX-512 (F, BW, VL) + VNNI four-row kernels; act4 layout as in
// mat_amd64.s. Z31 holds 0x0F in every byte.

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
	HSUM16(ZACC, YACC, XACC, Y10, X15); \
	VHADDPS SACC, SACC, SACC;      \
	VMULSS  X14, SACC, SACC;       \
	VSUBSS  SACC, XACC, XACC;      \
	VMOVSS  XACC, off(BX)

// func dotQ4_0x4VNNI(w *byte, a *act4, npairs int)
TEXT ·dotQ4_0x4VNNI(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), BX
	MOVQ npairs+16(FP), CX
	ACTPTRS
	ACTSCALES
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
// VPDPWSSD. The min terms by Q4KMIN (avx2_amd64.h).
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
	HSUM16(ZACC, YACC, XACC, Y10, X15); \
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
	ACTSCALES
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
	K4SCALES(R9, R10)
	ACTPTRS

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

// func dotQ4_0x1VNNI(w *byte, q *int8, d, s *float32, nq, rows, rowBytes int, out *float32)
// (nq groups of four blocks per row; rows consecutive rows, rowBytes apart,
// results to out[0:rows])
TEXT ·dotQ4_0x1VNNI(SB), NOSPLIT, $0-64
	Q32IDX
	VMOVDQU64     q40sw<>(SB), Z28
	VMOVDQU64     q40nib<>(SB), Z27
	VMOVDQU64     q40i01<>(SB), Z26
	VMOVDQU64     q40i23<>(SB), Z25
	ROWARGS(40, 48, 56)

dotq4_0x1vnnirow:
	Q32ROW
	TESTQ  CX, CX
	JEQ    q40x1done

q40x1loop:
	Q32LOAD(8)
	Q32GATHERW
	Q32SPLIT
	Q32ACC
	Q32NEXT(72, q40x1loop)

q40x1done:
	Q32SUM
	MOVL          $0x41000000, AX
	VMOVD         AX, X2
	VMULSS        X2, X10, X10
	VSUBSS        X10, X0, X0
	ROWNEXT(dotq4_0x1vnnirow)
	VZEROUPPER
	RET

// q4ksw<>: for each 64-code chunk c of a Q4_K super-block, the word
// indices [2c x16, 2c+1 x16] that spread its two sub-block scales.
DATA q4ksw<>+0x00(SB)/8, $0x0000000000000000
DATA q4ksw<>+0x08(SB)/8, $0x0000000000000000
DATA q4ksw<>+0x10(SB)/8, $0x0000000000000000
DATA q4ksw<>+0x18(SB)/8, $0x0000000000000000
DATA q4ksw<>+0x20(SB)/8, $0x0001000100010001
DATA q4ksw<>+0x28(SB)/8, $0x0001000100010001
DATA q4ksw<>+0x30(SB)/8, $0x0001000100010001
DATA q4ksw<>+0x38(SB)/8, $0x0001000100010001
DATA q4ksw<>+0x40(SB)/8, $0x0002000200020002
DATA q4ksw<>+0x48(SB)/8, $0x0002000200020002
DATA q4ksw<>+0x50(SB)/8, $0x0002000200020002
DATA q4ksw<>+0x58(SB)/8, $0x0002000200020002
DATA q4ksw<>+0x60(SB)/8, $0x0003000300030003
DATA q4ksw<>+0x68(SB)/8, $0x0003000300030003
DATA q4ksw<>+0x70(SB)/8, $0x0003000300030003
DATA q4ksw<>+0x78(SB)/8, $0x0003000300030003
DATA q4ksw<>+0x80(SB)/8, $0x0004000400040004
DATA q4ksw<>+0x88(SB)/8, $0x0004000400040004
DATA q4ksw<>+0x90(SB)/8, $0x0004000400040004
DATA q4ksw<>+0x98(SB)/8, $0x0004000400040004
DATA q4ksw<>+0xa0(SB)/8, $0x0005000500050005
DATA q4ksw<>+0xa8(SB)/8, $0x0005000500050005
DATA q4ksw<>+0xb0(SB)/8, $0x0005000500050005
DATA q4ksw<>+0xb8(SB)/8, $0x0005000500050005
DATA q4ksw<>+0xc0(SB)/8, $0x0006000600060006
DATA q4ksw<>+0xc8(SB)/8, $0x0006000600060006
DATA q4ksw<>+0xd0(SB)/8, $0x0006000600060006
DATA q4ksw<>+0xd8(SB)/8, $0x0006000600060006
DATA q4ksw<>+0xe0(SB)/8, $0x0007000700070007
DATA q4ksw<>+0xe8(SB)/8, $0x0007000700070007
DATA q4ksw<>+0xf0(SB)/8, $0x0007000700070007
DATA q4ksw<>+0xf8(SB)/8, $0x0007000700070007
GLOBL q4ksw<>(SB), RODATA|NOPTR, $256

#define Q4KX1CHUNK(c, IDX) \
	VMOVDQU      (16+32*c)(SI), Y1;     \
	VPSRLW       $4, Y1, Y2;            \
	VINSERTI64X4 $1, Y2, Z1, Z1;        \
	VPANDD       Z31, Z1, Z1;           \
	VPERMW       Z10, IDX, Z3;          \
	VPMADDUBSW   (64*c)(DI), Z1, Z2;    \
	VPDPWSSD     Z3, Z2, Z7

// q4ksm<>: byte shuffles and masks that unpack the 12 bytes of packed Q4_K
// scales and mins (get_scale_min_k4) into 8 scales then 8 mins: the low
// parts' sources, the high bits' sources, and the masks of the low parts
// taken as they are and shifted right by 4.
DATA q4ksm<>+0x00(SB)/8, $0x0b0a090803020100
DATA q4ksm<>+0x08(SB)/8, $0x0b0a090807060504
DATA q4ksm<>+0x10(SB)/8, $0x0302010080808080
DATA q4ksm<>+0x18(SB)/8, $0x0706050480808080
DATA q4ksm<>+0x20(SB)/8, $0x0f0f0f0f3f3f3f3f
DATA q4ksm<>+0x28(SB)/8, $0x000000003f3f3f3f
DATA q4ksm<>+0x30(SB)/8, $0x0000000000000000
DATA q4ksm<>+0x38(SB)/8, $0x0f0f0f0f00000000
GLOBL q4ksm<>(SB), RODATA|NOPTR, $64

// func dotQ4_Kx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32)
// (rows rows as dotQ4_0x1VNNI)
TEXT ·dotQ4_Kx1VNNI(SB), NOSPLIT, $0-64
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	LEAQ         q4ksw<>(SB), AX
	VMOVDQU64    0(AX), Z20
	VMOVDQU64    64(AX), Z21
	VMOVDQU64    128(AX), Z22
	VMOVDQU64    192(AX), Z23
	LEAQ         q4ksm<>(SB), AX
	VMOVDQU64    0(AX), X24
	VMOVDQU64    16(AX), X25
	VMOVDQU64    32(AX), X26
	VMOVDQU64    48(AX), X27
	MOVL         $0x03030303, AX
	VPBROADCASTD AX, X28
	ROWARGS(40, 48, 56)

dotq4_kx1vnnirow:
	ROWHEAD(bs, nb)
	VXORPS X9, X9, X9
	TESTQ  CX, CX
	JEQ    q4kx1done

q4kx1loop:
	PREFETCHT0  2048(SI)
	PREFETCHT0  2112(SI)
	PREFETCHT0  2176(SI)
	VMOVDQU     4(SI), X13
	VPSHUFB     X24, X13, X14
	VPSHUFB     X25, X13, X13
	VPANDD      X26, X14, X15
	VPSRLW      $4, X14, X14
	VPANDD      X27, X14, X14
	VPOR        X14, X15, X15
	VPSRLW      $6, X13, X13
	VPANDD      X28, X13, X13
	VPSLLW      $4, X13, X13
	VPOR        X13, X15, X15 // 8 scales, 8 mins

	MOVWLZX      2(SI), AX
	VMOVD        AX, X11
	VCVTPH2PS    X11, X11
	VMULSS       (DX), X11, X11
	VBROADCASTSS X11, X11
	VPSRLDQ      $8, X15, X4
	VPMOVZXBW    X4, X4
	VMOVDQU      (BX), X5
	VMOVDQU      16(BX), X6
	VPHADDW      X6, X5, X5
	VPMADDWD     X5, X4, X4
	VCVTDQ2PS    X4, X4
	VFMADD231PS  X4, X11, X9

	VPMOVZXBW X15, X10
	VPXORD    Z7, Z7, Z7
	Q4KX1CHUNK(0, Z20)
	Q4KX1CHUNK(1, Z21)
	Q4KX1CHUNK(2, Z22)
	Q4KX1CHUNK(3, Z23)
	MOVWLZX      (SI), AX
	VMOVD        AX, X12
	VCVTPH2PS    X12, X12
	VMULSS       (DX), X12, X12
	VBROADCASTSS X12, Z12
	VCVTDQ2PS    Z7, Z7
	VFMADD231PS  Z7, Z12, Z0

	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  q4kx1loop

q4kx1done:
	HSUM16(Z0, Y0, X0, Y1, X1)
	VHADDPS       X9, X9, X9
	VHADDPS       X9, X9, X9
	VSUBSS        X9, X0, X0
	ROWNEXT(dotq4_kx1vnnirow)
	VZEROUPPER
	RET

// Q8_0 against one activation row, two blocks (68 bytes) per register:
// VPERMW collects the two scales and VPERMT2B the 64 codes from the
// overlapping loads at 0 and 4; the weights' signs move onto the
// activation codes (VPMOVB2M, masked VPSUBB) so that VPDPBUSD can take
// their magnitudes (VPABSB) as the unsigned operand.
DATA q80cod<>+0x00(SB)/8, $0x0908070605040302
DATA q80cod<>+0x08(SB)/8, $0x11100f0e0d0c0b0a
DATA q80cod<>+0x10(SB)/8, $0x1918171615141312
DATA q80cod<>+0x18(SB)/8, $0x21201f1e1d1c1b1a
DATA q80cod<>+0x20(SB)/8, $0x2b2a292827262524
DATA q80cod<>+0x28(SB)/8, $0x333231302f2e2d2c
DATA q80cod<>+0x30(SB)/8, $0x3b3a393837363534
DATA q80cod<>+0x38(SB)/8, $0x7f7e7d7c3f3e3d3c
GLOBL q80cod<>(SB), RODATA|NOPTR, $64
DATA q80sw<>+0x00(SB)/8, $0x0000000000110000
DATA q80sw<>+0x08(SB)/8, $0x0000000000000000
DATA q80sw<>+0x10(SB)/8, $0x0000000000000000
DATA q80sw<>+0x18(SB)/8, $0x0000000000000000
DATA q80sw<>+0x20(SB)/8, $0x0000000000000000
DATA q80sw<>+0x28(SB)/8, $0x0000000000000000
DATA q80sw<>+0x30(SB)/8, $0x0000000000000000
DATA q80sw<>+0x38(SB)/8, $0x0000000000000000
GLOBL q80sw<>(SB), RODATA|NOPTR, $64

#define Q80X1PAIR(woff, aoff, ACC) \
	VMOVDQU64   (woff)(SI), Z1;         \
	VMOVDQU64   (woff+4)(SI), Z2;       \
	VPERMW      Z1, Z28, Z8;            \
	VPERMT2B    Z2, Z27, Z1;            \
	VCVTPH2PS   X8, X8;                 \
	VMOVQ       (DX), X9;               \
	VMULPS      X8, X9, X9;             \
	VPMOVB2M    Z1, K1;                 \
	VPABSB      Z1, Z1;                 \
	VMOVDQU64   aoff(DI), Z4;           \
	VPSUBB      Z4, Z26, K1, Z4;        \
	VPXORD      Z5, Z5, Z5;             \
	VPDPBUSD    Z4, Z1, Z5;             \
	VCVTDQ2PS   Z5, Z5;                 \
	VPERMPS     Z9, Z30, Z6;            \
	VFMADD231PS Z5, Z6, ACC;            \
	ADDQ        $8, DX

// func dotQ8_0x1VNNI(w *byte, q *int8, d *float32, nq, rows, rowBytes int, out *float32)
// (nq groups of four blocks per row; rows rows as dotQ4_0x1VNNI)
TEXT ·dotQ8_0x1VNNI(SB), NOSPLIT, $0-56
	MOVL          $1, AX
	VPBROADCASTD  AX, Y24
	VPXORD        Z30, Z30, Z30
	VINSERTI64X4  $1, Y24, Z30, Z30
	VMOVDQU64     q80sw<>(SB), Z28
	VMOVDQU64     q80cod<>(SB), Z27
	VPXORD Z26, Z26, Z26
	ROWARGS(32, 40, 48)

dotq8_0x1vnnirow:
	MOVQ R8, SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nq+24(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z12, Z12, Z12
	TESTQ  CX, CX
	JEQ    q80x1done

q80x1loop:
	PREFETCHT0  2048(SI)
	PREFETCHT0  2112(SI)
	PREFETCHT0  2176(SI)
	Q80X1PAIR(0, 0, Z0)
	Q80X1PAIR(68, 64, Z12)
	ADDQ $136, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  q80x1loop

q80x1done:
	VADDPS        Z12, Z0, Z0
	HSUM16(Z0, Y0, X0, Y1, X1)
	ROWNEXT(dotq8_0x1vnnirow)
	VZEROUPPER
	RET

// func dotF16x4AVX512(w *byte, a *act4, n int) (n a multiple of 16; a.q
// holds four float rows): 512-bit F16C conversion and FMA.
TEXT ·dotF16x4AVX512(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), SI
	MOVQ a+8(FP), BX
	MOVQ n+16(FP), CX
	ACTPTRS
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	XORQ   DI, DI
	CMPQ   CX, $32
	JLT    f16zx4tail

f16zx4loop:
	VCVTPH2PS   (SI), Z8
	VCVTPH2PS   32(SI), Z9
	VFMADD231PS (R8)(DI*1), Z8, Z0
	VFMADD231PS (R9)(DI*1), Z8, Z1
	VFMADD231PS (R10)(DI*1), Z8, Z2
	VFMADD231PS (R11)(DI*1), Z8, Z3
	VFMADD231PS 64(R8)(DI*1), Z9, Z4
	VFMADD231PS 64(R9)(DI*1), Z9, Z5
	VFMADD231PS 64(R10)(DI*1), Z9, Z6
	VFMADD231PS 64(R11)(DI*1), Z9, Z7
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $32, CX
	CMPQ CX, $32
	JGE  f16zx4loop

f16zx4tail:
	CMPQ CX, $16
	JLT  f16zx4done
	VCVTPH2PS   (SI), Z8
	VFMADD231PS (R8)(DI*1), Z8, Z0
	VFMADD231PS (R9)(DI*1), Z8, Z1
	VFMADD231PS (R10)(DI*1), Z8, Z2
	VFMADD231PS (R11)(DI*1), Z8, Z3

f16zx4done:
	VADDPS Z4, Z0, Z0
	VADDPS Z5, Z1, Z1
	VADDPS Z6, Z2, Z2
	VADDPS Z7, Z3, Z3
	HSUM16(Z0, Y0, X0, Y10, X15)
	VMOVSS X0, 96(BX)
	HSUM16(Z1, Y1, X1, Y10, X15)
	VMOVSS X1, 100(BX)
	HSUM16(Z2, Y2, X2, Y10, X15)
	VMOVSS X2, 104(BX)
	HSUM16(Z3, Y3, X3, Y10, X15)
	VMOVSS X3, 108(BX)
	VZEROUPPER
	RET

// func quantQ8KBlock(x *float32, q *int8) float32: one Q8_K super-block as
// quantQ8KGeneric makes it (max = the first value of largest magnitude,
// iscale = -127/max, codes min(127, round-to-even(iscale*x))); returns the
// scale 1/iscale, or 0 with zero codes for an all-zero block.
TEXT ·quantQ8KBlock(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ q+8(FP), DI
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z31
	VPXORD       Z30, Z30, Z30
	XORQ         CX, CX

q8kmax:
	VPANDD  (SI)(CX*1), Z31, Z1
	VMAXPS  Z30, Z1, Z30 // a NaN in Z1 keeps Z30, as the generic loop ignores NaN
	ADDQ    $64, CX
	CMPQ    CX, $1024
	JLT     q8kmax

	VMOVAPS       Z30, Z8
	VEXTRACTF64X4 $1, Z8, Y1
	VMAXPS        Y1, Y8, Y8
	VEXTRACTF128  $1, Y8, X1
	VMAXPS        X1, X8, X8
	VPERMILPS     $0x4e, X8, X1
	VMAXPS        X1, X8, X8
	VPERMILPS     $0xb1, X8, X1
	VMAXPS        X1, X8, X8
	VXORPS        X2, X2, X2
	VUCOMISS      X2, X8
	JEQ           q8kzero
	VBROADCASTSS  X8, Z30

	// The first element whose magnitude is the maximum.
	XORQ CX, CX

q8kfind:
	VPANDD       (SI)(CX*1), Z31, Z1
	VCMPPS       $0, Z30, Z1, K1
	KMOVW        K1, AX
	TESTL        AX, AX
	JNE          q8kfound
	ADDQ         $64, CX
	CMPQ         CX, $1024
	JLT          q8kfind
	JMP          q8kzero // not reached: the maximum is one of the values

q8kfound:
	BSFL   AX, AX
	SHLQ   $2, AX
	ADDQ   CX, AX
	VMOVSS (SI)(AX*1), X3 // max
	MOVL   $0xc2fe0000, AX // -127
	VMOVD  AX, X4
	VDIVSS X3, X4, X4 // iscale
	MOVL   $0x3f800000, AX
	VMOVD  AX, X5
	VDIVSS X4, X5, X5 // 1/iscale
	VMOVSS X5, ret+16(FP)
	VBROADCASTSS X4, Z4
	MOVL         $0x42fe0000, AX // 127
	VPBROADCASTD AX, Z6
	XORQ CX, CX
	XORQ DX, DX

q8kcodes:
	VMULPS       (SI)(CX*1), Z4, Z1
	VRNDSCALEPS  $0, Z1, Z1
	VMINPS       Z1, Z6, Z1 // a NaN stays NaN (code 0), as in Go
	VCVTPS2DQ    Z1, Z1
	VPMOVDB      Z1, (DI)(DX*1)
	ADDQ $64, CX
	ADDQ $16, DX
	CMPQ CX, $1024
	JLT  q8kcodes
	VZEROUPPER
	RET

q8kzero:
	VPXORD    Z1, Z1, Z1
	VMOVDQU64 Z1, (DI)
	VMOVDQU64 Z1, 64(DI)
	VMOVDQU64 Z1, 128(DI)
	VMOVDQU64 Z1, 192(DI)
	MOVL      $0, ret+16(FP)
	VZEROUPPER
	RET

// func quantQ8Blocks(x *float32, q *int8, d, s *float32, nb int): Q8
// activation blocks exactly as quantQ8Generic makes them: d = max|x|/127,
// codes round-half-away(x * (1/d)), the scale rounded to binary16 (VCVTPS2PH
// rounds to nearest even, as format.F32ToF16) and s = scale * code sum.
TEXT ·quantQ8Blocks(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ s+24(FP), BX
	MOVQ nb+32(FP), CX
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z31
	MOVL         $0x80000000, AX
	VPBROADCASTD AX, Z30
	MOVL         $0x3f800000, AX // 1.0
	VPBROADCASTD AX, Z29
	MOVL         $0x3f000000, AX // 0.5
	VPBROADCASTD AX, Z28
	MOVL         $0x42fe0000, AX // 127.0
	VMOVD        AX, X27
	TESTQ CX, CX
	JEQ   q8bdone

q8bloop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VPANDD  Z31, Z0, Z2
	VPANDD  Z31, Z1, Z3
	VPXORD  Z4, Z4, Z4
	VMAXPS  Z4, Z2, Z4 // NaN lanes keep the other operand
	VMAXPS  Z4, Z3, Z4
	VEXTRACTF64X4 $1, Z4, Y5
	VMAXPS        Y4, Y5, Y4
	VEXTRACTF128  $1, Y4, X5
	VMAXPS        X4, X5, X4
	VPERMILPS     $0x4e, X4, X5
	VMAXPS        X4, X5, X4
	VPERMILPS     $0xb1, X4, X5
	VMAXPS        X4, X5, X4 // amax
	VDIVSS        X27, X4, X6 // d = amax/127
	VXORPS        X7, X7, X7
	VUCOMISS      X7, X6
	JEQ           q8bid0
	VDIVSS        X6, X29, X7 // id = 1/d (X29's low lane is 1.0)

q8bid0:
	VBROADCASTSS  X7, Z7
	VMULPS        Z7, Z0, Z0
	VMULPS        Z7, Z1, Z1
	// round half away from zero: t = trunc(v); t += sign(v) where |v-t| >= 0.5
	VRNDSCALEPS   $3, Z0, Z2
	VRNDSCALEPS   $3, Z1, Z3
	VSUBPS        Z2, Z0, Z8
	VSUBPS        Z3, Z1, Z9
	VPANDD        Z31, Z8, Z8
	VPANDD        Z31, Z9, Z9
	VCMPPS        $0x1d, Z28, Z8, K1 // |frac| >= 0.5
	VCMPPS        $0x1d, Z28, Z9, K2
	VPANDD        Z30, Z0, Z10
	VPORD         Z29, Z10, Z10 // +-1 with v's sign
	VPANDD        Z30, Z1, Z11
	VPORD         Z29, Z11, Z11
	VADDPS        Z10, Z2, K1, Z2
	VADDPS        Z11, Z3, K2, Z3
	VCVTTPS2DQ    Z2, Z2
	VCVTTPS2DQ    Z3, Z3
	VPMOVDB       Z2, (DI)
	VPMOVDB       Z3, 16(DI)
	// the code sum, from the bytes (as the int8 codes Go sums)
	VPMOVSXBD     (DI), Z2
	VPMOVSXBD     16(DI), Z3
	VPADDD        Z3, Z2, Z2
	VEXTRACTI64X4 $1, Z2, Y3
	VPADDD        Y3, Y2, Y2
	VEXTRACTI128  $1, Y2, X3
	VPADDD        X3, X2, X2
	VPSHUFD       $0x4e, X2, X3
	VPADDD        X3, X2, X2
	VPSHUFD       $0xb1, X2, X3
	VPADDD        X3, X2, X2
	VCVTDQ2PS     X2, X2
	VCVTPS2PH     $0, X6, X6
	VCVTPH2PS     X6, X6 // the scale rounded to binary16
	VMOVSS        X6, (DX)
	VMULSS        X2, X6, X2
	VMOVSS        X2, (BX)
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, BX
	DECQ CX
	JNZ  q8bloop

q8bdone:
	VZEROUPPER
	RET

// func dotF16x4x4AVX512(w *byte, rowBytes int, a *act4, n int, out *[16]float32)
// (n a multiple of 16, > 0; out[4i+j] = dot(weight row i, activation row j)):
// F16 against four float activation rows, four weight rows at a time in
// the register tile of avx512_amd64.h; per 16 columns 4 conversions, 4
// loads and 16 FMAs.
TEXT ·dotF16x4x4AVX512(SB), NOSPLIT, $0-40
	TILE4X4START

f16x4x4loop:
	TILE4X4ACT
	VCVTPH2PS   (SI), Z16
	VCVTPH2PS   (SI)(R12*1), Z17
	VCVTPH2PS   (SI)(R12*2), Z18
	VCVTPH2PS   (SI)(R13*1), Z19
	TILE4X4FMA
	TILE4X4NEXT(f16x4x4loop)

	TILE4X4SUM
	VZEROUPPER
	RET
