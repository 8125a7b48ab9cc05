//go:build !purego

#include "textflag.h"
#include "avx512_amd64.h"

// AVX-512 VNNI many-row kernels for Q3_K and Q2_K against Q8_K activations
// and AVX-512 kernels for BF16 weights against float activations. The
// K-quant kernels take each super-block as four 64-code chunks (h = c/2,
// codes k = 2(c%2) and 2(c%2)+1 of qs[32h:32h+32], one per register half),
// take the unsigned 2-bit codes out with VPMULTISHIFTQB (Q2_K) or VPSRLVW
// (Q3_K, plus the hmask bit by VPTESTMB and a masked VPADDB), and apply the
// sixteen group scales with VPDPWSSD, one integer accumulator per
// super-block: Q3_K multiplies codes and activation codes with VPMADDUBSW;
// Q2_K with VPDPBUSD, two chunks' dword sums packed to words (VPACKSSDW)
// before the scales.

// k23sw<>: for each 64-code chunk c of a K-quant super-block, the word
// indices [4c x8, 4c+1 x8, 4c+2 x8, 4c+3 x8] that spread its four group
// scales over the chunk's 32 VPMADDUBSW pair sums.
DATA k23sw<>+0x00(SB)/8, $0x0000000000000000
DATA k23sw<>+0x08(SB)/8, $0x0000000000000000
DATA k23sw<>+0x10(SB)/8, $0x0001000100010001
DATA k23sw<>+0x18(SB)/8, $0x0001000100010001
DATA k23sw<>+0x20(SB)/8, $0x0002000200020002
DATA k23sw<>+0x28(SB)/8, $0x0002000200020002
DATA k23sw<>+0x30(SB)/8, $0x0003000300030003
DATA k23sw<>+0x38(SB)/8, $0x0003000300030003
DATA k23sw<>+0x40(SB)/8, $0x0004000400040004
DATA k23sw<>+0x48(SB)/8, $0x0004000400040004
DATA k23sw<>+0x50(SB)/8, $0x0005000500050005
DATA k23sw<>+0x58(SB)/8, $0x0005000500050005
DATA k23sw<>+0x60(SB)/8, $0x0006000600060006
DATA k23sw<>+0x68(SB)/8, $0x0006000600060006
DATA k23sw<>+0x70(SB)/8, $0x0007000700070007
DATA k23sw<>+0x78(SB)/8, $0x0007000700070007
DATA k23sw<>+0x80(SB)/8, $0x0008000800080008
DATA k23sw<>+0x88(SB)/8, $0x0008000800080008
DATA k23sw<>+0x90(SB)/8, $0x0009000900090009
DATA k23sw<>+0x98(SB)/8, $0x0009000900090009
DATA k23sw<>+0xa0(SB)/8, $0x000a000a000a000a
DATA k23sw<>+0xa8(SB)/8, $0x000a000a000a000a
DATA k23sw<>+0xb0(SB)/8, $0x000b000b000b000b
DATA k23sw<>+0xb8(SB)/8, $0x000b000b000b000b
DATA k23sw<>+0xc0(SB)/8, $0x000c000c000c000c
DATA k23sw<>+0xc8(SB)/8, $0x000c000c000c000c
DATA k23sw<>+0xd0(SB)/8, $0x000d000d000d000d
DATA k23sw<>+0xd8(SB)/8, $0x000d000d000d000d
DATA k23sw<>+0xe0(SB)/8, $0x000e000e000e000e
DATA k23sw<>+0xe8(SB)/8, $0x000e000e000e000e
DATA k23sw<>+0xf0(SB)/8, $0x000f000f000f000f
DATA k23sw<>+0xf8(SB)/8, $0x000f000f000f000f
GLOBL k23sw<>(SB), RODATA|NOPTR, $256

// k23qsh<>: word shifts [0 x16 | 2 x16] and [4 x16 | 6 x16] that bring the
// 2-bit codes of k = 0, 1 (even chunks) and k = 2, 3 (odd chunks) down from
// the 32 qs bytes broadcast to both halves of a register.
DATA k23qsh<>+0x00(SB)/8, $0x0000000000000000
DATA k23qsh<>+0x08(SB)/8, $0x0000000000000000
DATA k23qsh<>+0x10(SB)/8, $0x0000000000000000
DATA k23qsh<>+0x18(SB)/8, $0x0000000000000000
DATA k23qsh<>+0x20(SB)/8, $0x0002000200020002
DATA k23qsh<>+0x28(SB)/8, $0x0002000200020002
DATA k23qsh<>+0x30(SB)/8, $0x0002000200020002
DATA k23qsh<>+0x38(SB)/8, $0x0002000200020002
DATA k23qsh<>+0x40(SB)/8, $0x0004000400040004
DATA k23qsh<>+0x48(SB)/8, $0x0004000400040004
DATA k23qsh<>+0x50(SB)/8, $0x0004000400040004
DATA k23qsh<>+0x58(SB)/8, $0x0004000400040004
DATA k23qsh<>+0x60(SB)/8, $0x0006000600060006
DATA k23qsh<>+0x68(SB)/8, $0x0006000600060006
DATA k23qsh<>+0x70(SB)/8, $0x0006000600060006
DATA k23qsh<>+0x78(SB)/8, $0x0006000600060006
GLOBL k23qsh<>(SB), RODATA|NOPTR, $128

// k23ms<>: VPMULTISHIFTQB controls that take the same 2-bit codes from the
// qword of each byte: byte b of a qword from bit 8b+2k, k = 0, 1 (even
// chunks) or k = 2, 3 (odd chunks) in the register's two halves.
DATA k23ms<>+0x00(SB)/8, $0x3830282018100800
DATA k23ms<>+0x08(SB)/8, $0x3830282018100800
DATA k23ms<>+0x10(SB)/8, $0x3830282018100800
DATA k23ms<>+0x18(SB)/8, $0x3830282018100800
DATA k23ms<>+0x20(SB)/8, $0x3a322a221a120a02
DATA k23ms<>+0x28(SB)/8, $0x3a322a221a120a02
DATA k23ms<>+0x30(SB)/8, $0x3a322a221a120a02
DATA k23ms<>+0x38(SB)/8, $0x3a322a221a120a02
DATA k23ms<>+0x40(SB)/8, $0x3c342c241c140c04
DATA k23ms<>+0x48(SB)/8, $0x3c342c241c140c04
DATA k23ms<>+0x50(SB)/8, $0x3c342c241c140c04
DATA k23ms<>+0x58(SB)/8, $0x3c342c241c140c04
DATA k23ms<>+0x60(SB)/8, $0x3e362e261e160e06
DATA k23ms<>+0x68(SB)/8, $0x3e362e261e160e06
DATA k23ms<>+0x70(SB)/8, $0x3e362e261e160e06
DATA k23ms<>+0x78(SB)/8, $0x3e362e261e160e06
GLOBL k23ms<>(SB), RODATA|NOPTR, $128

// k23pw<>: for the two chunks of half h of a Q2_K super-block, whose
// VPDPBUSD sums (four dwords per group, one group per 128-bit lane) are
// packed to words by VPACKSSDW, the word indices that spread the group
// scales: lane i = [8h+i x4, 8h+4+i x4].
DATA k23pw<>+0x00(SB)/8, $0x0000000000000000
DATA k23pw<>+0x08(SB)/8, $0x0004000400040004
DATA k23pw<>+0x10(SB)/8, $0x0001000100010001
DATA k23pw<>+0x18(SB)/8, $0x0005000500050005
DATA k23pw<>+0x20(SB)/8, $0x0002000200020002
DATA k23pw<>+0x28(SB)/8, $0x0006000600060006
DATA k23pw<>+0x30(SB)/8, $0x0003000300030003
DATA k23pw<>+0x38(SB)/8, $0x0007000700070007
DATA k23pw<>+0x40(SB)/8, $0x0008000800080008
DATA k23pw<>+0x48(SB)/8, $0x000c000c000c000c
DATA k23pw<>+0x50(SB)/8, $0x0009000900090009
DATA k23pw<>+0x58(SB)/8, $0x000d000d000d000d
DATA k23pw<>+0x60(SB)/8, $0x000a000a000a000a
DATA k23pw<>+0x68(SB)/8, $0x000e000e000e000e
DATA k23pw<>+0x70(SB)/8, $0x000b000b000b000b
DATA k23pw<>+0x78(SB)/8, $0x000f000f000f000f
GLOBL k23pw<>(SB), RODATA|NOPTR, $128

// k23hb<>: for each chunk c of a Q3_K super-block, the hmask bits of its
// two 32-code halves: [1<<2c x32 | 1<<(2c+1) x32].
DATA k23hb<>+0x00(SB)/8, $0x0101010101010101
DATA k23hb<>+0x08(SB)/8, $0x0101010101010101
DATA k23hb<>+0x10(SB)/8, $0x0101010101010101
DATA k23hb<>+0x18(SB)/8, $0x0101010101010101
DATA k23hb<>+0x20(SB)/8, $0x0202020202020202
DATA k23hb<>+0x28(SB)/8, $0x0202020202020202
DATA k23hb<>+0x30(SB)/8, $0x0202020202020202
DATA k23hb<>+0x38(SB)/8, $0x0202020202020202
DATA k23hb<>+0x40(SB)/8, $0x0404040404040404
DATA k23hb<>+0x48(SB)/8, $0x0404040404040404
DATA k23hb<>+0x50(SB)/8, $0x0404040404040404
DATA k23hb<>+0x58(SB)/8, $0x0404040404040404
DATA k23hb<>+0x60(SB)/8, $0x0808080808080808
DATA k23hb<>+0x68(SB)/8, $0x0808080808080808
DATA k23hb<>+0x70(SB)/8, $0x0808080808080808
DATA k23hb<>+0x78(SB)/8, $0x0808080808080808
DATA k23hb<>+0x80(SB)/8, $0x1010101010101010
DATA k23hb<>+0x88(SB)/8, $0x1010101010101010
DATA k23hb<>+0x90(SB)/8, $0x1010101010101010
DATA k23hb<>+0x98(SB)/8, $0x1010101010101010
DATA k23hb<>+0xa0(SB)/8, $0x2020202020202020
DATA k23hb<>+0xa8(SB)/8, $0x2020202020202020
DATA k23hb<>+0xb0(SB)/8, $0x2020202020202020
DATA k23hb<>+0xb8(SB)/8, $0x2020202020202020
DATA k23hb<>+0xc0(SB)/8, $0x4040404040404040
DATA k23hb<>+0xc8(SB)/8, $0x4040404040404040
DATA k23hb<>+0xd0(SB)/8, $0x4040404040404040
DATA k23hb<>+0xd8(SB)/8, $0x4040404040404040
DATA k23hb<>+0xe0(SB)/8, $0x8080808080808080
DATA k23hb<>+0xe8(SB)/8, $0x8080808080808080
DATA k23hb<>+0xf0(SB)/8, $0x8080808080808080
DATA k23hb<>+0xf8(SB)/8, $0x8080808080808080
GLOBL k23hb<>(SB), RODATA|NOPTR, $256

// k23q3sc<>: unpacking of the 16 six-bit Q3_K scales from the 16 bytes
// loaded at offset 94 (scales[i] at byte i+2): the low parts' sources, the
// high bits' sources, and the word shifts of each.
DATA k23q3sc<>+0x00(SB)/8, $0x0908070605040302
DATA k23q3sc<>+0x08(SB)/8, $0x0908070605040302
DATA k23q3sc<>+0x10(SB)/8, $0x0d0c0b0a0d0c0b0a
DATA k23q3sc<>+0x18(SB)/8, $0x0d0c0b0a0d0c0b0a
DATA k23q3sc<>+0x20(SB)/8, $0x0000000000000000
DATA k23q3sc<>+0x28(SB)/8, $0x0004000400040004
DATA k23q3sc<>+0x30(SB)/8, $0x0002000200000000
DATA k23q3sc<>+0x38(SB)/8, $0x0006000600040004
GLOBL k23q3sc<>(SB), RODATA|NOPTR, $64

// Q3KCHUNK: chunk c of a Q3_K super-block, Z4 = its qs bytes in both halves,
// Z5 = hmask in both halves, SH the code shifts, HB the hmask bits, IDX the
// scale word indices. The codes are the generic ones plus 4 (0..7); the 4
// comes off through the activations' group sums.
#define Q3KCHUNK(c, SH, HB, IDX) \
	VPSRLVW    SH, Z4, Z1;            \
	VPANDD     Z30, Z1, Z1;           \
	VPTESTMB   HB, Z5, K1;            \
	VPADDB     Z31, Z1, K1, Z1;       \
	VPMADDUBSW (64*c)(DI), Z1, Z2;    \
	VPERMW     Z10, IDX, Z3;          \
	VPDPWSSD   Z3, Z2, Z7

// func dotQ3_Kx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32)
// (nb super-blocks per row; rows consecutive rows, rowBytes apart, results
// to out[0:rows])
TEXT ·dotQ3_Kx1VNNI(SB), NOSPLIT, $0-64
	LEAQ         k23hb<>(SB), AX
	VMOVDQU64    0(AX), Z16
	VMOVDQU64    64(AX), Z17
	VMOVDQU64    128(AX), Z18
	VMOVDQU64    192(AX), Z19
	LEAQ         k23sw<>(SB), AX
	VMOVDQU64    0(AX), Z20
	VMOVDQU64    64(AX), Z21
	VMOVDQU64    128(AX), Z22
	VMOVDQU64    192(AX), Z23
	LEAQ         k23q3sc<>(SB), AX
	VMOVDQU64    0(AX), X24
	VMOVDQU64    16(AX), X25
	VMOVDQU64    32(AX), X26
	VMOVDQU64    48(AX), X27
	LEAQ         k23qsh<>(SB), AX
	VMOVDQU64    0(AX), Z28
	VMOVDQU64    64(AX), Z29
	MOVL         $0x03030303, AX
	VPBROADCASTD AX, Z30
	MOVL         $0x04040404, AX
	VPBROADCASTD AX, Z31
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, X14
	MOVL         $0x30303030, AX
	VPBROADCASTD AX, X15
	MOVL         $0x20202020, AX
	VPBROADCASTD AX, X9
	ROWARGS(40, 48, 56)

dotq3_kx1vnnirow:
	ROWHEAD(bs, nb)
	TESTQ  CX, CX
	JEQ    q3kx1done

q3kx1loop:
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	// the 16 scales, six bits each, minus 32: X13 = bytes 94..109 of the
	// block (scales[i] at byte i+2, d at bytes 14 and 15)
	VMOVDQU   94(SI), X13
	VPSHUFB   X24, X13, X11
	VPSRLVW   X26, X11, X11
	VPANDD    X14, X11, X11
	VPSHUFB   X25, X13, X12
	VPSRLVW   X27, X12, X12
	VPSLLW    $4, X12, X12
	VPANDD    X15, X12, X12
	VPORD     X12, X11, X11
	VPSUBB    X9, X11, X11
	VPMOVSXBW X11, Y10
	// -4 * sum(scale * bsum) starts the integer sum
	VPMADDWD  (BX), Y10, Y11
	VPSLLD    $2, Y11, Y11
	VPXOR     X7, X7, X7
	VPSUBD    Y11, Y7, Y7
	VBROADCASTI64X4 (SI), Z5
	VBROADCASTI64X4 32(SI), Z4
	Q3KCHUNK(0, Z28, Z16, Z20)
	Q3KCHUNK(1, Z29, Z17, Z21)
	VBROADCASTI64X4 64(SI), Z4
	Q3KCHUNK(2, Z28, Z18, Z22)
	Q3KCHUNK(3, Z29, Z19, Z23)
	VPSRLDQ      $14, X13, X12
	VCVTPH2PS    X12, X12
	VMULSS       (DX), X12, X12
	VBROADCASTSS X12, Z12
	VCVTDQ2PS    Z7, Z7
	VFMADD231PS  Z7, Z12, Z0
	ADDQ $110, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  q3kx1loop

q3kx1done:
	HSUM16(Z0, Y0, X0, Y1, X1)
	ROWNEXT(dotq3_kx1vnnirow)
	VZEROUPPER
	RET

// Q2KHALF: the two chunks 2h, 2h+1 of a Q2_K super-block (Z4 = qs[32h:32h+32]
// in both register halves): the codes of each times the activations by
// VPDPBUSD (four dwords per 16-code group, one group per 128-bit lane),
// both chunks packed to words by VPACKSSDW, and the group scales (the
// words of Y10, spread by IDX) applied by VPDPWSSD.
#define Q2KHALF(h, IDX) \
	VPMULTISHIFTQB Z4, Z28, Z1;       \
	VPANDD     Z30, Z1, Z1;           \
	VPMULTISHIFTQB Z4, Z29, Z2;       \
	VPANDD     Z30, Z2, Z2;           \
	VPXORD     Z5, Z5, Z5;            \
	VPDPBUSD   (128*h)(DI), Z1, Z5;   \
	VPXORD     Z6, Z6, Z6;            \
	VPDPBUSD   (128*h+64)(DI), Z2, Z6; \
	VPACKSSDW  Z6, Z5, Z5;            \
	VPERMW     Z10, IDX, Z3;          \
	VPDPWSSD   Z3, Z5, Z7

// func dotQ2_Kx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32)
// (rows rows as dotQ3_Kx1VNNI)
TEXT ·dotQ2_Kx1VNNI(SB), NOSPLIT, $8-64
	LEAQ         k23pw<>(SB), AX
	VMOVDQU64    0(AX), Z20
	VMOVDQU64    64(AX), Z21
	LEAQ         k23ms<>(SB), AX
	VMOVDQU64    0(AX), Z28
	VMOVDQU64    64(AX), Z29
	MOVL         $0x03030303, AX
	VPBROADCASTD AX, Z30
	MOVL         $0x000f000f, AX
	VPBROADCASTD AX, Y14
	ROWARGS(40, 48, 56)

dotq2_kx1vnnirow:
	ROWHEAD(bs, nb)
	VXORPS X9, X9, X9
	TESTQ  CX, CX
	JEQ    q2kx1done

q2kx1loop:
	PREFETCHT0 2048(SI)
	PREFETCHT0 2112(SI)
	VPMOVZXBW    (SI), Y12
	VPANDD       Y14, Y12, Y10 // group scales (words)
	VPSRLW       $4, Y12, Y12  // group mins (words)
	VPMADDWD     (BX), Y12, Y12
	VCVTDQ2PS    Y12, Y12
	VMOVD        80(SI), X11
	VCVTPH2PS    X11, X11
	VMULPS.BCST  (DX), X11, X11
	VMOVQ        X11, 0(SP) // d*dx, dmin*dx
	VFMADD231PS.BCST 4(SP), Y12, Y9 // dmin*dx*sum(min*bsum)
	VPXORD       Z7, Z7, Z7
	VBROADCASTI64X4 16(SI), Z4
	Q2KHALF(0, Z20)
	VBROADCASTI64X4 48(SI), Z4
	Q2KHALF(1, Z21)
	VCVTDQ2PS    Z7, Z7
	VFMADD231PS.BCST 0(SP), Z7, Z0
	ADDQ $84, SI
	ADDQ $256, DI
	ADDQ $4, DX
	ADDQ $32, BX
	DECQ CX
	JNZ  q2kx1loop

q2kx1done:
	HSUM16(Z0, Y0, X0, Y1, X1)
	VEXTRACTF128 $1, Y9, X1
	VADDPS       X1, X9, X9
	VHADDPS      X9, X9, X9
	VHADDPS      X9, X9, X9
	VSUBSS       X9, X0, X0
	ROWNEXT(dotq2_kx1vnnirow)
	VZEROUPPER
	RET

// func dotBF16x1AVX512(w *byte, f *float32, n, rows, rowBytes int, out *float32)
// (n a multiple of 16, > 0): each row's bf16 values widened to float32
// (VPMOVZXWD, VPSLLD $16) and multiplied into four accumulators; rows rows
// rowBytes apart, results to out[0:rows].
TEXT ·dotBF16x1AVX512(SB), NOSPLIT, $0-48
	ROWARGS(24, 32, 40)

bf16x1row:
	MOVQ   R8, SI
	MOVQ   f+8(FP), DI
	MOVQ   n+16(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	CMPQ   CX, $64
	JLT    bf16x1tail

bf16x1loop:
	PREFETCHT0  2048(SI)
	PREFETCHT0  2112(SI)
	VPMOVZXWD   (SI), Z4
	VPMOVZXWD   32(SI), Z5
	VPMOVZXWD   64(SI), Z6
	VPMOVZXWD   96(SI), Z7
	VPSLLD      $16, Z4, Z4
	VPSLLD      $16, Z5, Z5
	VPSLLD      $16, Z6, Z6
	VPSLLD      $16, Z7, Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ $128, SI
	ADDQ $256, DI
	SUBQ $64, CX
	CMPQ CX, $64
	JGE  bf16x1loop

bf16x1tail:
	TESTQ CX, CX
	JEQ   bf16x1done

bf16x1tail16:
	VPMOVZXWD   (SI), Z4
	VPSLLD      $16, Z4, Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ $32, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JNZ  bf16x1tail16

bf16x1done:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	HSUM16(Z0, Y0, X0, Y1, X1)
	ROWNEXT(bf16x1row)
	VZEROUPPER
	RET

// func dotBF16x4x4AVX512(w *byte, rowBytes int, a *act4, n int, out *[16]float32)
// (n a multiple of 16, > 0; out[4i+j] = dot(weight row i, activation row j)):
// BF16 against four float activation rows, four weight rows at a time in
// the register tile of dotF16x4x4AVX512 (avx512_amd64.h), the weights
// widened by VPMOVZXWD and VPSLLD $16.
TEXT ·dotBF16x4x4AVX512(SB), NOSPLIT, $0-40
	TILE4X4START

bf16x4x4loop:
	TILE4X4ACT
	VPMOVZXWD   (SI), Z16
	VPMOVZXWD   (SI)(R12*1), Z17
	VPMOVZXWD   (SI)(R12*2), Z18
	VPMOVZXWD   (SI)(R13*1), Z19
	VPSLLD      $16, Z16, Z16
	VPSLLD      $16, Z17, Z17
	VPSLLD      $16, Z18, Z18
	VPSLLD      $16, Z19, Z19
	TILE4X4FMA
	TILE4X4NEXT(bf16x4x4loop)

	TILE4X4SUM
	VZEROUPPER
	RET
