//go:build !purego

#include "textflag.h"
#include "neon_arm64.h"

// NEON kernels (scalars in F0 and F16..F20, which alias V0 and V16..V20:
// the vector work uses V1..V11, V30, V31), written to mirror the generic ones (generic.go) step by
// step: each block's integer dot product is formed in vector registers and
// reduced to a scalar, then scaled and summed in the same order as Go. The
// signed byte dot products use SDOT (FEAT_DotProd) in the *DOT variants and
// SMULL/SMULL2/SADALP otherwise; the Go assembler has no mnemonics for
// these, so they are encoded with WORD (DOT16_DOT, DOT16_NODOT in
// neon_arm64.h).

// Q8_0: sum += f16(w) * x.D[b] * float32(s).
#define Q8_0_BODY(DOT16) \
	FMOVS ZR, F0;             \
	CBZ   R3, q8done;         \
q8loop:                       \
	F16_NEXT(R0, R4, F16);    \
	VLD1.P  32(R0), [V1.B16, V2.B16]; \
	VLD1.P  32(R1), [V3.B16, V4.B16]; \
	VEOR    V5.B16, V5.B16, V5.B16;   \
	DOT16(5, 1, 3);           \
	DOT16(5, 2, 4);           \
	VADDV   V5.S4, V5;        \
	FMOVS   F5, R5;           \
	Q_ACC_D;                  \
	SUBS    $1, R3, R3;       \
	BNE     q8loop;           \
q8done:

// Q4_0: sum += f16(w) * (x.D[b]*float32(s) - 8*x.S[b]).
#define Q4_0_BODY(DOT16) \
	FMOVS ZR, F0;             \
	FMOVS $8.0, F20;          \
	VMOVI $15, V9.B16;        \
	CBZ   R3, q4done;         \
q4loop:                       \
	F16_NEXT(R0, R4, F16);    \
	VLD1.P  16(R0), [V1.B16]; \
	VAND    V1.B16, V9.B16, V2.B16;   \
	VUSHR   $4, V1.B16, V3.B16;       \
	VLD1.P  32(R1), [V4.B16, V5.B16]; \
	VEOR    V6.B16, V6.B16, V6.B16;   \
	DOT16(6, 2, 4);           \
	DOT16(6, 3, 5);           \
	VADDV   V6.S4, V6;        \
	FMOVS   F6, R5;           \
	SCVTFWS R5, F6;           \
	FMOVS.P 4(R2), F18;        \
	FMOVS.P 4(R6), F19;        \
	FMULS   F18, F6, F6;       \
	FMULS   F20, F19, F19;      \
	FSUBS   F19, F6, F6;       \
	FMULS   F6, F16, F16;       \
	FADDS   F16, F0, F0;       \
	SUBS    $1, R3, R3;       \
	BNE     q4loop;           \
q4done:

// One 64-code chunk of a Q4_K super-block: 32 bytes of nibbles against 64
// activation codes; R16 += sc1*s1 + sc2*s2, R17 += m1*(bs0+bs1) +
// m2*(bs2+bs3), the scales and mins taken from bytes lsb/8, lsb/8+1 of SC
// and MN.
#define Q4K_CHUNK(DOT16, SC, MN, lsb1, lsb2) \
	K4_NIBBLES;                                     \
	K4_CHUNK_SUMS(DOT16, SC, MN, lsb1, lsb2)

// Q4_K: sum += f16(d)*x.D[b]*float32(isum) - f16(dmin)*x.D[b]*float32(msum)
// with the 6-bit scales and mins unpacked as ggml's get_scale_min_k4.
#define Q4_K_BODY(DOT16) \
	FMOVS ZR, F0;             \
	VMOVI $15, V9.B16;        \
	CBZ   R4, q4kdone;        \
q4kloop:                      \
	K4_HEAD;                      \
	MOVW    ZR, R16;              \
	MOVW    ZR, R17;              \
	Q4K_CHUNK(DOT16, R8, R9, 0, 8);    \
	Q4K_CHUNK(DOT16, R8, R9, 16, 24);  \
	Q4K_CHUNK(DOT16, R10, R11, 0, 8);  \
	Q4K_CHUNK(DOT16, R10, R11, 16, 24); \
	K4_ACC;                   \
	SUBS    $1, R4, R4;       \
	BNE     q4kloop;          \
q4kdone:

// func dotQ8_0NEON(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotQ8_0NEON(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  nb+24(FP), R3
	Q8_0_BODY(DOT16_NODOT)
	FMOVS F0, ret+32(FP)
	RET

// func dotQ8_0DOT(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotQ8_0DOT(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  nb+24(FP), R3
	Q8_0_BODY(DOT16_DOT)
	FMOVS F0, ret+32(FP)
	RET

// func dotQ4_0NEON(w *byte, q *int8, d, s *float32, nb int) float32
TEXT ·dotQ4_0NEON(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  s+24(FP), R6
	MOVD  nb+32(FP), R3
	Q4_0_BODY(DOT16_NODOT)
	FMOVS F0, ret+40(FP)
	RET

// func dotQ4_0DOT(w *byte, q *int8, d, s *float32, nb int) float32
TEXT ·dotQ4_0DOT(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  s+24(FP), R6
	MOVD  nb+32(FP), R3
	Q4_0_BODY(DOT16_DOT)
	FMOVS F0, ret+40(FP)
	RET

// func dotQ4_KNEON(w *byte, q *int8, d *float32, bs *int16, nb int) float32
TEXT ·dotQ4_KNEON(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  bs+24(FP), R3
	MOVD  nb+32(FP), R4
	Q4_K_BODY(DOT16_NODOT)
	FMOVS F0, ret+40(FP)
	RET

// func dotQ4_KDOT(w *byte, q *int8, d *float32, bs *int16, nb int) float32
TEXT ·dotQ4_KDOT(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  bs+24(FP), R3
	MOVD  nb+32(FP), R4
	Q4_K_BODY(DOT16_DOT)
	FMOVS F0, ret+40(FP)
	RET
