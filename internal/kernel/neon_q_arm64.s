//go:build !purego

#include "textflag.h"
#include "neon_arm64.h"

// NEON kernels for Q4_1, Q5_0, Q5_1, IQ4_NL (against Q8 blocks), Q3_K and
// Q2_K (against Q8_K super-blocks), mirroring the generic ones (generic.go)
// step by step as those of dot_arm64.s do: each block's (or 16-element
// group's) integer dot product is formed in vector registers and reduced to
// a scalar, then scaled and summed in the same order as Go. Scalars live in
// F0 and F16..F19 (V0, V16..V19); the vector work uses V1..V15, V20..V27,
// V30 and V31. The *DOT variants use SDOT (FEAT_DotProd), the others
// SMULL/SMULL2/SADALP; the Go assembler has no mnemonics for these, so they
// are encoded with WORD (DOT16_DOT, DOT16_NODOT in neon_arm64.h).

// R5 = the integer dot product of the 32 weight codes in V2 (elements
// 0..15) and V3 (16..31) with the next 32 activation codes at R1.
#define BLOCK_DOT(DOT16) \
	VLD1.P  32(R1), [V24.B16, V25.B16]; \
	VEOR    V26.B16, V26.B16, V26.B16;  \
	DOT16(26, 2, 24);                   \
	DOT16(26, 3, 25);                   \
	VADDV   V26.S4, V26;                \
	FMOVS   F26, R5

// Q_ACC_DM ends a Q4_1 or Q5_1 block in Go's order: with s the integer dot
// product in R5, f16(d) in F16, f16(m) in F17, and x.D[b], x.S[b] the next
// float32s at R2 and R6 (both advanced), F0 += f16(d)*x.D[b]*float32(s) +
// f16(m)*x.S[b]. Clobbers F6, F16..F19.
#define Q_ACC_DM \
	SCVTFWS R5, F6;        \
	FMOVS.P 4(R2), F18;    \
	FMOVS.P 4(R6), F19;    \
	FMULS   F18, F16, F16; \
	FMULS   F6, F16, F16;  \
	FMULS   F19, F17, F17; \
	FADDS   F17, F16, F16; \
	FADDS   F16, F0, F0

// Q4_1: sum += f16(d)*x.D[b]*float32(s) + f16(m)*x.S[b].
#define Q4_1_BODY(DOT16) \
	FMOVS ZR, F0;                     \
	VMOVI $15, V9.B16;                \
	CBZ   R3, q41done;                \
q41loop:                              \
	F16_NEXT(R0, R4, F16);            \
	F16_NEXT(R0, R4, F17);            \
	VLD1.P  16(R0), [V1.B16];         \
	VAND    V1.B16, V9.B16, V2.B16;   \
	VUSHR   $4, V1.B16, V3.B16;       \
	BLOCK_DOT(DOT16);                 \
	Q_ACC_DM;                         \
	SUBS    $1, R3, R3;               \
	BNE     q41loop;                  \
q41done:

// The constants of Q5_BITS: V9 the nibble mask, V20 and V21 the TBL
// indices that spread bytes 0,1 and 2,3 of qh over eight lanes each, V22
// each lane's bit, V23 the fifth bit's value 16.
#define Q5_CONST \
	VMOVI $15, V9.B16;                                        \
	VMOVQ $0x0000000000000000, $0x0101010101010101, V20;      \
	VMOVQ $0x0202020202020202, $0x0303030303030303, V21;      \
	VMOVQ $0x8040201008040201, $0x8040201008040201, V22;      \
	VMOVI $16, V23.B16

// V2, V3 = the 5-bit codes of elements 0..15 and 16..31 from the high bits
// in R4 (element j: bit j) and the 16 bytes of nibbles at R0 (advanced).
#define Q5_BITS \
	VMOV    R4, V7.S[0];                   \
	VTBL    V20.B16, [V7.B16], V5.B16;     \
	VTBL    V21.B16, [V7.B16], V6.B16;     \
	VCMTST  V22.B16, V5.B16, V5.B16;       \
	VCMTST  V22.B16, V6.B16, V6.B16;       \
	VAND    V23.B16, V5.B16, V5.B16;       \
	VAND    V23.B16, V6.B16, V6.B16;       \
	VLD1.P  16(R0), [V1.B16];              \
	VAND    V1.B16, V9.B16, V2.B16;        \
	VUSHR   $4, V1.B16, V3.B16;            \
	VORR    V5.B16, V2.B16, V2.B16;        \
	VORR    V6.B16, V3.B16, V3.B16

// Q5_0: sum += f16(d) * x.D[b] * float32(s), s over the codes less 16.
#define Q5_0_BODY(DOT16) \
	FMOVS ZR, F0;                     \
	Q5_CONST;                         \
	CBZ   R3, q50done;                \
q50loop:                              \
	F16_NEXT(R0, R4, F16);            \
	MOVWU.P 4(R0), R4;                \
	Q5_BITS;                          \
	VSUB    V23.B16, V2.B16, V2.B16;  \
	VSUB    V23.B16, V3.B16, V3.B16;  \
	BLOCK_DOT(DOT16);                 \
	Q_ACC_D;                          \
	SUBS    $1, R3, R3;               \
	BNE     q50loop;                  \
q50done:

// Q5_1: sum += f16(d)*x.D[b]*float32(s) + f16(m)*x.S[b].
#define Q5_1_BODY(DOT16) \
	FMOVS ZR, F0;                     \
	Q5_CONST;                         \
	CBZ   R3, q51done;                \
q51loop:                              \
	F16_NEXT(R0, R4, F16);            \
	F16_NEXT(R0, R4, F17);            \
	MOVWU.P 4(R0), R4;                \
	Q5_BITS;                          \
	BLOCK_DOT(DOT16);                 \
	Q_ACC_DM;                         \
	SUBS    $1, R3, R3;               \
	BNE     q51loop;                  \
q51done:

// IQ4_NL: the nibbles index kvalues_iq4nl (in V8) by TBL; sum += f16(d) *
// x.D[b] * float32(s).
#define IQ4NL_BODY(DOT16) \
	FMOVS ZR, F0;                                         \
	VMOVI $15, V9.B16;                                    \
	VMOVQ $0xF6EADDCFBFAD9881, $0x7159453526190D01, V8;   \
	CBZ   R3, iq4done;                                    \
iq4loop:                                                  \
	F16_NEXT(R0, R4, F16);            \
	VLD1.P  16(R0), [V1.B16];         \
	VAND    V1.B16, V9.B16, V2.B16;   \
	VUSHR   $4, V1.B16, V3.B16;       \
	VTBL    V2.B16, [V8.B16], V2.B16; \
	VTBL    V3.B16, [V8.B16], V3.B16; \
	BLOCK_DOT(DOT16);                 \
	Q_ACC_D;                          \
	SUBS    $1, R3, R3;               \
	BNE     iq4loop;                  \
iq4done:

// R12, R13 = the integer dot products of the 16 codes in V5 and in V6 with
// the next two groups of 16 activation codes at R1.
#define GROUP_DOTS(DOT16) \
	VLD1.P  32(R1), [V24.B16, V25.B16]; \
	VEOR    V26.B16, V26.B16, V26.B16;  \
	VEOR    V27.B16, V27.B16, V27.B16;  \
	DOT16(26, 5, 24);                   \
	DOT16(27, 6, 25);                   \
	VADDV   V26.S4, V26;                \
	VADDV   V27.S4, V27;                \
	FMOVS   F26, R12;                   \
	FMOVS   F27, R13

// One step k of a Q3_K half: the groups g, g+1 = 8h+2k, 8h+2k+1 from the
// low two bits of QA (qs[32h:32h+16]) and QB (qs[32h+16:32h+32]) and the
// lowest bits of V12 (hmask[0:16]) and V13 (hmask[16:32]), all then shifted
// for the next step; R16 += scale(g)*s(g) + scale(g+1)*s(g+1), the 6-bit
// scales (less 32) at bits lsbA and lsbB of AUX.
#define Q3K_STEP(DOT16, QA, QB, AUX, lsbA, lsbB) \
	VAND    QA, V9.B16, V5.B16;         \
	VAND    QB, V9.B16, V6.B16;         \
	VAND    V12.B16, V14.B16, V7.B16;   \
	VAND    V13.B16, V14.B16, V8.B16;   \
	VSHL    $2, V7.B16, V7.B16;         \
	VSHL    $2, V8.B16, V8.B16;         \
	VORR    V7.B16, V5.B16, V5.B16;     \
	VORR    V8.B16, V6.B16, V6.B16;     \
	VSUB    V15.B16, V5.B16, V5.B16;    \
	VSUB    V15.B16, V6.B16, V6.B16;    \
	VUSHR   $2, QA, QA;                 \
	VUSHR   $2, QB, QB;                 \
	VUSHR   $1, V12.B16, V12.B16;       \
	VUSHR   $1, V13.B16, V13.B16;       \
	GROUP_DOTS(DOT16);                  \
	UBFXW   $lsbA, AUX, $8, R14;        \
	SUBW    $32, R14, R14;              \
	MADDW   R14, R16, R12, R16;         \
	UBFXW   $lsbB, AUX, $8, R15;        \
	SUBW    $32, R15, R15;              \
	MADDW   R15, R16, R13, R16

// Q3_K: codes (low two bits | high bit << 2) - 4 against 16-element groups;
// isum += q3Scale(g) * dot16, sum += f16(d) * x.D[b] * float32(isum). The
// scales are unpacked as ggml's ggml_vec_dot_q3_K: four words R8..R11 whose
// byte i is the 6-bit scale of group 4*word+i.
#define Q3_K_BODY(DOT16) \
	FMOVS ZR, F0;             \
	VMOVI $3, V9.B16;         \
	VMOVI $1, V14.B16;        \
	VMOVI $4, V15.B16;        \
	CBZ   R3, q3kdone;        \
q3kloop:                      \
	VLD1.P  32(R0), [V12.B16, V13.B16];              \
	VLD1.P  64(R0), [V1.B16, V2.B16, V3.B16, V4.B16]; \
	MOVWU   (R0), R8;             \
	MOVWU   4(R0), R9;            \
	MOVWU   8(R0), R7;            \
	LSRW    $4, R8, R10;          \
	ANDW    $0x0f0f0f0f, R10, R10; \
	LSRW    $4, R7, R5;           \
	ANDW    $0x03030303, R5, R5;  \
	ORRW    R5<<4, R10, R10;      \
	LSRW    $4, R9, R11;          \
	ANDW    $0x0f0f0f0f, R11, R11; \
	LSRW    $6, R7, R5;           \
	ANDW    $0x03030303, R5, R5;  \
	ORRW    R5<<4, R11, R11;      \
	ANDW    $0x0f0f0f0f, R8, R8;  \
	ANDW    $0x03030303, R7, R5;  \
	ORRW    R5<<4, R8, R8;        \
	ANDW    $0x0f0f0f0f, R9, R9;  \
	LSRW    $2, R7, R5;           \
	ANDW    $0x03030303, R5, R5;  \
	ORRW    R5<<4, R9, R9;        \
	ADD     $12, R0, R0;          \
	F16_NEXT(R0, R4, F16);        \
	MOVW    ZR, R16;              \
	Q3K_STEP(DOT16, V1.B16, V2.B16, R8, 0, 8);    \
	Q3K_STEP(DOT16, V1.B16, V2.B16, R8, 16, 24);  \
	Q3K_STEP(DOT16, V1.B16, V2.B16, R9, 0, 8);    \
	Q3K_STEP(DOT16, V1.B16, V2.B16, R9, 16, 24);  \
	Q3K_STEP(DOT16, V3.B16, V4.B16, R10, 0, 8);   \
	Q3K_STEP(DOT16, V3.B16, V4.B16, R10, 16, 24); \
	Q3K_STEP(DOT16, V3.B16, V4.B16, R11, 0, 8);   \
	Q3K_STEP(DOT16, V3.B16, V4.B16, R11, 16, 24); \
	FMOVS.P 4(R2), F17;       \
	SCVTFWS R16, F18;         \
	FMULS   F17, F16, F16;    \
	FMULS   F18, F16, F16;    \
	FADDS   F16, F0, F0;      \
	SUBS    $1, R3, R3;       \
	BNE     q3kloop;          \
q3kdone:

// msum += (scales[g] >> 4) * bs[g] for the group whose scale byte is at
// bit lsb of SRC (the next int16 at R3).
#define Q2K_MIN(SRC, lsb) \
	UBFX    $(lsb+4), SRC, $4, R14; \
	MOVH.P  2(R3), R12;             \
	MADDW   R14, R17, R12, R17

// One step k of a Q2_K half: the groups g, g+1 = 8h+2k, 8h+2k+1 from the
// low two bits of QA (qs[32h:32h+16]) and QB (qs[32h+16:32h+32]), which are
// then shifted for the next step; R16 += (scales[g]&15)*s(g) +
// (scales[g+1]&15)*s(g+1), the scale bytes at bits lsbA and lsbB of SRC.
#define Q2K_STEP(DOT16, QA, QB, SRC, lsbA, lsbB) \
	VAND    QA, V9.B16, V5.B16;         \
	VAND    QB, V9.B16, V6.B16;         \
	VUSHR   $2, QA, QA;                 \
	VUSHR   $2, QB, QB;                 \
	GROUP_DOTS(DOT16);                  \
	UBFX    $lsbA, SRC, $4, R14;        \
	MADDW   R14, R16, R12, R16;         \
	UBFX    $lsbB, SRC, $4, R15;        \
	MADDW   R15, R16, R13, R16

// Q2_K: d = f16(d)*x.D[b], dmin = f16(dmin)*x.D[b]; sum += d*float32(isum)
// - dmin*float32(msum), msum over the 4-bit mins and the group sums bs.
#define Q2_K_BODY(DOT16) \
	FMOVS ZR, F0;             \
	VMOVI $3, V9.B16;         \
	CBZ   R4, q2kdone;        \
q2kloop:                      \
	MOVD.P  8(R0), R5;        \
	MOVD.P  8(R0), R6;        \
	VLD1.P  64(R0), [V1.B16, V2.B16, V3.B16, V4.B16]; \
	F16_NEXT(R0, R7, F16);    \
	F16_NEXT(R0, R7, F17);    \
	MOVW    ZR, R16;          \
	MOVW    ZR, R17;          \
	Q2K_MIN(R5, 0);           \
	Q2K_MIN(R5, 8);           \
	Q2K_MIN(R5, 16);          \
	Q2K_MIN(R5, 24);          \
	Q2K_MIN(R5, 32);          \
	Q2K_MIN(R5, 40);          \
	Q2K_MIN(R5, 48);          \
	Q2K_MIN(R5, 56);          \
	Q2K_MIN(R6, 0);           \
	Q2K_MIN(R6, 8);           \
	Q2K_MIN(R6, 16);          \
	Q2K_MIN(R6, 24);          \
	Q2K_MIN(R6, 32);          \
	Q2K_MIN(R6, 40);          \
	Q2K_MIN(R6, 48);          \
	Q2K_MIN(R6, 56);          \
	Q2K_STEP(DOT16, V1.B16, V2.B16, R5, 0, 8);    \
	Q2K_STEP(DOT16, V1.B16, V2.B16, R5, 16, 24);  \
	Q2K_STEP(DOT16, V1.B16, V2.B16, R5, 32, 40);  \
	Q2K_STEP(DOT16, V1.B16, V2.B16, R5, 48, 56);  \
	Q2K_STEP(DOT16, V3.B16, V4.B16, R6, 0, 8);    \
	Q2K_STEP(DOT16, V3.B16, V4.B16, R6, 16, 24);  \
	Q2K_STEP(DOT16, V3.B16, V4.B16, R6, 32, 40);  \
	Q2K_STEP(DOT16, V3.B16, V4.B16, R6, 48, 56);  \
	FMOVS.P 4(R2), F18;       \
	FMULS   F18, F16, F16;    \
	FMULS   F18, F17, F17;    \
	SCVTFWS R16, F19;         \
	FMULS   F19, F16, F16;    \
	SCVTFWS R17, F19;         \
	FMULS   F19, F17, F17;    \
	FSUBS   F17, F16, F16;    \
	FADDS   F16, F0, F0;      \
	SUBS    $1, R4, R4;       \
	BNE     q2kloop;          \
q2kdone:

// func dotQ4_1NEON(w *byte, q *int8, d, s *float32, nb int) float32
TEXT ·dotQ4_1NEON(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  s+24(FP), R6
	MOVD  nb+32(FP), R3
	Q4_1_BODY(DOT16_NODOT)
	FMOVS F0, ret+40(FP)
	RET

// func dotQ4_1DOT(w *byte, q *int8, d, s *float32, nb int) float32
TEXT ·dotQ4_1DOT(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  s+24(FP), R6
	MOVD  nb+32(FP), R3
	Q4_1_BODY(DOT16_DOT)
	FMOVS F0, ret+40(FP)
	RET

// func dotQ5_0NEON(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotQ5_0NEON(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  nb+24(FP), R3
	Q5_0_BODY(DOT16_NODOT)
	FMOVS F0, ret+32(FP)
	RET

// func dotQ5_0DOT(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotQ5_0DOT(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  nb+24(FP), R3
	Q5_0_BODY(DOT16_DOT)
	FMOVS F0, ret+32(FP)
	RET

// func dotQ5_1NEON(w *byte, q *int8, d, s *float32, nb int) float32
TEXT ·dotQ5_1NEON(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  s+24(FP), R6
	MOVD  nb+32(FP), R3
	Q5_1_BODY(DOT16_NODOT)
	FMOVS F0, ret+40(FP)
	RET

// func dotQ5_1DOT(w *byte, q *int8, d, s *float32, nb int) float32
TEXT ·dotQ5_1DOT(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  s+24(FP), R6
	MOVD  nb+32(FP), R3
	Q5_1_BODY(DOT16_DOT)
	FMOVS F0, ret+40(FP)
	RET

// func dotIQ4NLNEON(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotIQ4NLNEON(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  nb+24(FP), R3
	IQ4NL_BODY(DOT16_NODOT)
	FMOVS F0, ret+32(FP)
	RET

// func dotIQ4NLDOT(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotIQ4NLDOT(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  nb+24(FP), R3
	IQ4NL_BODY(DOT16_DOT)
	FMOVS F0, ret+32(FP)
	RET

// func dotQ3_KNEON(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotQ3_KNEON(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  nb+24(FP), R3
	Q3_K_BODY(DOT16_NODOT)
	FMOVS F0, ret+32(FP)
	RET

// func dotQ3_KDOT(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotQ3_KDOT(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  nb+24(FP), R3
	Q3_K_BODY(DOT16_DOT)
	FMOVS F0, ret+32(FP)
	RET

// func dotQ2_KNEON(w *byte, q *int8, d *float32, bs *int16, nb int) float32
TEXT ·dotQ2_KNEON(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  bs+24(FP), R3
	MOVD  nb+32(FP), R4
	Q2_K_BODY(DOT16_NODOT)
	FMOVS F0, ret+40(FP)
	RET

// func dotQ2_KDOT(w *byte, q *int8, d *float32, bs *int16, nb int) float32
TEXT ·dotQ2_KDOT(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  bs+24(FP), R3
	MOVD  nb+32(FP), R4
	Q2_K_BODY(DOT16_DOT)
	FMOVS F0, ret+40(FP)
	RET
