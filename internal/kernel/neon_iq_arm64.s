//go:build !purego

#include "textflag.h"
#include "neon_arm64.h"

// NEON kernels of the 256-element i-quants against Q8_K super-blocks,
// mirroring the generic ones (iq4xs.go, iq3.go, iq2.go, iq1.go): for each
// 32-element sub-block the 32 signed weight bytes are built in V1
// (elements 0..15) and V2 (16..31), their integer dot product with the
// codes is formed by DOT16 (SDOT, or SMULL/SADALP) and reduced to a
// scalar, and the scaled sums are added in R16; each super-block ends in
// Go's order, F0 += d * x.D[b] * float32(R16) (SB_END).
//
// The grid types take their grid (R4: one uint64 of eight magnitude bytes
// per point, or one uint32 of four for the IQ3 types) and a table of sign
// masks (R5: one uint64 per sign pattern, byte j 0xff where element j is
// negative, else 0), applied as (g ^ m) - m; the IQ1 types take iq1s_grid
// times 8 (bytes -8, 0, 8) and add the shift +-1 to every byte, so that a
// sub-block's dot product is 8 times the grid's plus or minus the codes'
// sum, and the caller multiplies by 1/8 (see neon_iq_arm64.go).
//
// Registers: R0 weights, R1 codes, R2 activation scales, R3 super-blocks
// left, R4 grid, R5 sign masks; R6, R7, R19, R20 point into the current
// super-block, R8..R14 and R21, R22 are scratch, R15 counts sub-blocks,
// R16 is the super-block's integer sum. F16 holds d; V3, V4 the sign
// masks or shifts; V5, V6 the codes; V7, V8 the sums (and V30, V31 with
// DOT16_NODOT).

// DOT32: R12 = the dot product of V1, V2 with the next 32 codes at R1
// (advanced).
#define DOT32(DOT16) \
	VLD1.P  32(R1), [V5.B16, V6.B16]; \
	VEOR    V7.B16, V7.B16, V7.B16;   \
	DOT16(7, 1, 5);                   \
	DOT16(7, 2, 6);                   \
	VADDV   V7.S4, V7;                \
	FMOVS   F7, R12

// DOT2X16: R12, R13 = the dot products of V1 and of V2 with the next two
// groups of 16 codes at R1 (advanced).
#define DOT2X16(DOT16) \
	VLD1.P  32(R1), [V5.B16, V6.B16]; \
	VEOR    V7.B16, V7.B16, V7.B16;   \
	VEOR    V8.B16, V8.B16, V8.B16;   \
	DOT16(7, 1, 5);                   \
	DOT16(8, 2, 6);                   \
	VADDV   V7.S4, V7;                \
	VADDV   V8.S4, V8;                \
	FMOVS   F7, R12;                  \
	FMOVS   F8, R13

// SIGNS: V1, V2 = (V1 ^ V3) - V3, (V2 ^ V4) - V4, the magnitudes negated
// where the masks are 0xff.
#define SIGNS \
	VEOR    V3.B16, V1.B16, V1.B16; \
	VSUB    V3.B16, V1.B16, V1.B16; \
	VEOR    V4.B16, V2.B16, V2.B16; \
	VSUB    V4.B16, V2.B16, V2.B16

// SHIFTS: V1, V2 += V3, V4 bytewise (IQ1's shifts).
#define SHIFTS \
	VADD    V3.B16, V1.B16, V1.B16; \
	VADD    V4.B16, V2.B16, V2.B16

// G64(RI, DST): DST (a 64-bit lane) = entry RI of the uint64 grid at R4.
// Clobbers R8 and RI.
#define G64(RI, DST) \
	MOVD    (R4)(RI<<3), R8; \
	VMOV    R8, DST

// M64(RI, DST): DST (a 64-bit lane) = sign mask RI of the table at R5.
// Clobbers R9 and RI.
#define M64(RI, DST) \
	MOVD    (R5)(RI<<3), R9; \
	VMOV    R9, DST

// F16D: F16 = the float16 at R0 (not advanced). Clobbers R8.
#define F16D \
	MOVHU   (R0), R8;   \
	FMOVS   R8, F16;    \
	FCVTHS  F16, F16

// SCALE_ADD(S, LS): R16 += S * (2*LS + 1). Clobbers LS.
#define SCALE_ADD(S, LS) \
	LSLW    $1, LS, LS;   \
	ADDW    $1, LS, LS;   \
	MADDW   LS, R16, S, R16

// SB_END ends a super-block in Go's order: with x.D[b] the next float32 at
// R2 (advanced), F0 += F16 * x.D[b] * float32(R16). Clobbers F7, F12, F16.
#define SB_END \
	FMOVS.P 4(R2), F7;     \
	SCVTFWS R16, F12;      \
	FMULS   F7, F16, F16;  \
	FMULS   F12, F16, F16; \
	FADDS   F16, F0, F0

#define ARGS \
	MOVD    w+0(FP), R0;     \
	MOVD    q+8(FP), R1;     \
	MOVD    d+16(FP), R2;    \
	MOVD    nb+24(FP), R3;   \
	MOVD    grid+32(FP), R4; \
	MOVD    signs+40(FP), R5; \
	FMOVS   ZR, F0

// ---- IQ2_XXS: 66 bytes; per sub-block four grid bytes and a uint32 of
// four 7-bit sign indices and the scale (top four bits). ----
#define IQ2XXS_GROUP(off, sh, G, M) \
	MOVBU   off(R6), R10;            \
	G64(R10, G);                     \
	UBFXW   $sh, R7, $7, R11;        \
	M64(R11, M)

#define IQ2XXS_BODY(DOT16) \
	CBZ     R3, i2xxdone;            \
i2xxsb:                              \
	F16D;                            \
	ADD     $2, R0, R6;              \
	MOVD    ZR, R16;                 \
	MOVD    $8, R15;                 \
i2xxib:                              \
	MOVWU   4(R6), R7;               \
	IQ2XXS_GROUP(0, 0, V1.D[0], V3.D[0]);  \
	IQ2XXS_GROUP(1, 7, V1.D[1], V3.D[1]);  \
	IQ2XXS_GROUP(2, 14, V2.D[0], V4.D[0]); \
	IQ2XXS_GROUP(3, 21, V2.D[1], V4.D[1]); \
	SIGNS;                           \
	DOT32(DOT16);                    \
	LSRW    $28, R7, R10;            \
	SCALE_ADD(R12, R10);             \
	ADD     $8, R6, R6;              \
	SUBS    $1, R15, R15;            \
	BNE     i2xxib;                  \
	SB_END;                          \
	ADD     $66, R0, R0;             \
	SUBS    $1, R3, R3;              \
	BNE     i2xxsb;                  \
i2xxdone:

// ---- IQ2_XS: 74 bytes; per group of eight a uint16 of a 9-bit grid
// index and a 7-bit sign index, per 16 elements a 4-bit scale. ----
#define IQ2XS_GROUP(off, G, M) \
	MOVHU   off(R6), R7;             \
	ANDW    $511, R7, R10;           \
	G64(R10, G);                     \
	LSRW    $9, R7, R11;             \
	M64(R11, M)

#define IQ2XS_BODY(DOT16) \
	CBZ     R3, i2xsdone;            \
i2xssb:                              \
	F16D;                            \
	ADD     $2, R0, R6;              \
	ADD     $66, R0, R20;            \
	MOVD    ZR, R16;                 \
	MOVD    $8, R15;                 \
i2xsib:                              \
	IQ2XS_GROUP(0, V1.D[0], V3.D[0]); \
	IQ2XS_GROUP(2, V1.D[1], V3.D[1]); \
	IQ2XS_GROUP(4, V2.D[0], V4.D[0]); \
	IQ2XS_GROUP(6, V2.D[1], V4.D[1]); \
	SIGNS;                           \
	DOT2X16(DOT16);                  \
	MOVBU.P 1(R20), R14;             \
	ANDW    $15, R14, R10;           \
	SCALE_ADD(R12, R10);             \
	LSRW    $4, R14, R10;            \
	SCALE_ADD(R13, R10);             \
	ADD     $8, R6, R6;              \
	SUBS    $1, R15, R15;            \
	BNE     i2xsib;                  \
	SB_END;                          \
	ADD     $74, R0, R0;             \
	SUBS    $1, R3, R3;              \
	BNE     i2xssb;                  \
i2xsdone:

// ---- IQ2_S: 82 bytes; qs (low eight bits of the 10-bit grid indices),
// sign bytes, qh (two high bits per group) and 4-bit scales per 16
// elements. ----
#define IQ2S_GROUP(l, G, M) \
	MOVBU   l(R6), R10;              \
	UBFXW   $(2*l), R14, $2, R11;    \
	ORRW    R11<<8, R10, R10;        \
	G64(R10, G);                     \
	MOVBU   l(R7), R11;              \
	M64(R11, M)

#define IQ2S_BODY(DOT16) \
	CBZ     R3, i2sdone;             \
i2ssb:                               \
	F16D;                            \
	ADD     $2, R0, R6;              \
	ADD     $34, R0, R7;             \
	ADD     $66, R0, R19;            \
	ADD     $74, R0, R20;            \
	MOVD    ZR, R16;                 \
	MOVD    $8, R15;                 \
i2sib:                               \
	MOVBU.P 1(R19), R14;             \
	IQ2S_GROUP(0, V1.D[0], V3.D[0]); \
	IQ2S_GROUP(1, V1.D[1], V3.D[1]); \
	IQ2S_GROUP(2, V2.D[0], V4.D[0]); \
	IQ2S_GROUP(3, V2.D[1], V4.D[1]); \
	SIGNS;                           \
	DOT2X16(DOT16);                  \
	MOVBU.P 1(R20), R14;             \
	ANDW    $15, R14, R10;           \
	SCALE_ADD(R12, R10);             \
	LSRW    $4, R14, R10;            \
	SCALE_ADD(R13, R10);             \
	ADD     $4, R6, R6;              \
	ADD     $4, R7, R7;              \
	SUBS    $1, R15, R15;            \
	BNE     i2sib;                   \
	SB_END;                          \
	ADD     $82, R0, R0;             \
	SUBS    $1, R3, R3;              \
	BNE     i2ssb;                   \
i2sdone:

// G32x2(R1ST, R2ND, DST): DST (a 64-bit lane) = entries R1ST, R2ND of the
// uint32 grid at R4, the first in the low half. Clobbers R8, R1ST, R2ND.
#define G32X2(RA, RB, DST) \
	MOVWU   (R4)(RA<<2), R8;         \
	MOVWU   (R4)(RB<<2), RB;         \
	ORR     RB<<32, R8, R8;          \
	VMOV    R8, DST

// ---- IQ3_XXS: 98 bytes; per sub-block eight grid bytes (two points per
// group of eight) and, in gas, a uint32 of four 7-bit sign indices and the
// scale. ----
#define IQ3XXS_GROUP(l, sh, G, M) \
	MOVBU   (2*l)(R6), R10;          \
	MOVBU   (2*l+1)(R6), R11;        \
	G32X2(R10, R11, G);              \
	UBFXW   $sh, R7, $7, R11;        \
	M64(R11, M)

#define IQ3XXS_BODY(DOT16) \
	CBZ     R3, i3xxdone;            \
i3xxsb:                              \
	F16D;                            \
	ADD     $2, R0, R6;              \
	ADD     $66, R0, R19;            \
	MOVD    ZR, R16;                 \
	MOVD    $8, R15;                 \
i3xxib:                              \
	MOVWU.P 4(R19), R7;              \
	IQ3XXS_GROUP(0, 0, V1.D[0], V3.D[0]);  \
	IQ3XXS_GROUP(1, 7, V1.D[1], V3.D[1]);  \
	IQ3XXS_GROUP(2, 14, V2.D[0], V4.D[0]); \
	IQ3XXS_GROUP(3, 21, V2.D[1], V4.D[1]); \
	SIGNS;                           \
	DOT32(DOT16);                    \
	LSRW    $28, R7, R10;            \
	SCALE_ADD(R12, R10);             \
	ADD     $8, R6, R6;              \
	SUBS    $1, R15, R15;            \
	BNE     i3xxib;                  \
	SB_END;                          \
	ADD     $98, R0, R0;             \
	SUBS    $1, R3, R3;              \
	BNE     i3xxsb;                  \
i3xxdone:

// ---- IQ3_S: 110 bytes; qs (low eight bits of the 9-bit indices), qh
// (one high bit per index), sign bytes, 4-bit scales per sub-block; two
// sub-blocks per step (one scale byte). ----
#define IQ3S_GROUP(l, G, M) \
	MOVBU   (2*l)(R6), R10;          \
	UBFXW   $(2*l), R14, $1, R8;     \
	ORRW    R8<<8, R10, R10;         \
	MOVBU   (2*l+1)(R6), R11;        \
	UBFXW   $(2*l+1), R14, $1, R8;   \
	ORRW    R8<<8, R11, R11;         \
	G32X2(R10, R11, G);              \
	MOVBU   l(R7), R11;              \
	M64(R11, M)

#define IQ3S_SUB(DOT16) \
	MOVBU.P 1(R19), R14;             \
	IQ3S_GROUP(0, V1.D[0], V3.D[0]); \
	IQ3S_GROUP(1, V1.D[1], V3.D[1]); \
	IQ3S_GROUP(2, V2.D[0], V4.D[0]); \
	IQ3S_GROUP(3, V2.D[1], V4.D[1]); \
	SIGNS;                           \
	DOT32(DOT16);                    \
	ADD     $8, R6, R6;              \
	ADD     $4, R7, R7

#define IQ3S_BODY(DOT16) \
	CBZ     R3, i3sdone;             \
i3ssb:                               \
	F16D;                            \
	ADD     $2, R0, R6;              \
	ADD     $66, R0, R19;            \
	ADD     $74, R0, R7;             \
	ADD     $106, R0, R20;           \
	MOVD    ZR, R16;                 \
	MOVD    $4, R15;                 \
i3sib:                               \
	MOVBU.P 1(R20), R21;             \
	IQ3S_SUB(DOT16);                 \
	ANDW    $15, R21, R10;           \
	SCALE_ADD(R12, R10);             \
	IQ3S_SUB(DOT16);                 \
	LSRW    $4, R21, R10;            \
	SCALE_ADD(R12, R10);             \
	SUBS    $1, R15, R15;            \
	BNE     i3sib;                   \
	SB_END;                          \
	ADD     $110, R0, R0;            \
	SUBS    $1, R3, R3;              \
	BNE     i3ssb;                   \
i3sdone:

// ---- IQ1_S: 50 bytes; qs (low eight bits of the 11-bit indices) and per
// sub-block a uint16 qh: three high bits per group, the 3-bit scale (bits
// 12-14) and the shift's sign (bit 15). ----
#define IQ1S_GROUP(l, G) \
	MOVBU   l(R6), R10;              \
	UBFXW   $(3*l), R7, $3, R11;     \
	ORRW    R11<<8, R10, R10;        \
	G64(R10, G)

#define IQ1S_BODY(DOT16) \
	CBZ     R3, i1sdone;             \
i1ssb:                               \
	F16D;                            \
	ADD     $2, R0, R6;              \
	ADD     $34, R0, R19;            \
	MOVD    ZR, R16;                 \
	MOVD    $8, R15;                 \
i1sib:                               \
	MOVHU.P 2(R19), R7;              \
	IQ1S_GROUP(0, V1.D[0]);          \
	IQ1S_GROUP(1, V1.D[1]);          \
	IQ1S_GROUP(2, V2.D[0]);          \
	IQ1S_GROUP(3, V2.D[1]);          \
	UBFXW   $15, R7, $1, R10;        \
	LSLW    $1, R10, R10;            \
	MOVW    $1, R11;                 \
	SUBW    R10, R11, R11;           \
	VDUP    R11, V3.B16;             \
	VDUP    R11, V4.B16;             \
	SHIFTS;                          \
	DOT32(DOT16);                    \
	UBFXW   $12, R7, $3, R10;        \
	SCALE_ADD(R12, R10);             \
	ADD     $4, R6, R6;              \
	SUBS    $1, R15, R15;            \
	BNE     i1sib;                   \
	SB_END;                          \
	ADD     $50, R0, R0;             \
	SUBS    $1, R3, R3;              \
	BNE     i1ssb;                   \
i1sdone:

// ---- IQ1_M: 56 bytes; qs (low eight bits of the 11-bit indices), per 16
// elements a qh byte (per group of eight three high bits and the shift's
// sign), four uint16 words of 3-bit scales per 16 elements, whose top
// nibbles hold d. Two sub-blocks per step (one scale word). ----

// IQ1M_GROUP(l, sh, sg, G, S): group l of the step's half at R6 with the
// qh byte in R14: index bits 8-10 from bits sh.. of qh, shift sign bit sg;
// S = 0x01 or 0xff in every byte. R21 = 0x0101010101010101, R22 = -1.
#define IQ1M_GROUP(l, sh, sg, G, S) \
	MOVBU   l(R6), R10;              \
	UBFXW   $sh, R14, $3, R11;       \
	ORRW    R11<<8, R10, R10;        \
	G64(R10, G);                     \
	TSTW    $(1<<sg), R14;           \
	CSEL    NE, R22, R21, R9;        \
	VMOV    R9, S

// IQ1M_SUB: one 32-element sub-block (two qh bytes at R19, advanced):
// R12, R13 = the dot products of its two halves.
#define IQ1M_SUB(DOT16) \
	MOVBU.P 1(R19), R14;                          \
	IQ1M_GROUP(0, 0, 3, V1.D[0], V3.D[0]);        \
	IQ1M_GROUP(1, 4, 7, V1.D[1], V3.D[1]);        \
	MOVBU.P 1(R19), R14;                          \
	IQ1M_GROUP(2, 0, 3, V2.D[0], V4.D[0]);        \
	IQ1M_GROUP(3, 4, 7, V2.D[1], V4.D[1]);        \
	SHIFTS;                                       \
	DOT2X16(DOT16);                               \
	ADD     $4, R6, R6

#define IQ1M_BODY(DOT16) \
	MOVD    $0x0101010101010101, R21; \
	MOVD    $-1, R22;                \
	CBZ     R3, i1mdone;             \
i1msb:                               \
	MOVD    48(R0), R8;              \
	UBFX    $12, R8, $4, R10;        \
	UBFX    $28, R8, $4, R11;        \
	ORR     R11<<4, R10, R10;        \
	UBFX    $44, R8, $4, R11;        \
	ORR     R11<<8, R10, R10;        \
	LSR     $60, R8, R11;            \
	ORR     R11<<12, R10, R10;       \
	FMOVS   R10, F16;                \
	FCVTHS  F16, F16;                \
	MOVD    R0, R6;                  \
	ADD     $32, R0, R19;            \
	ADD     $48, R0, R20;            \
	MOVD    ZR, R16;                 \
	MOVD    $4, R15;                 \
i1mib:                               \
	MOVHU.P 2(R20), R7;              \
	IQ1M_SUB(DOT16);                 \
	UBFXW   $0, R7, $3, R10;         \
	SCALE_ADD(R12, R10);             \
	UBFXW   $3, R7, $3, R10;         \
	SCALE_ADD(R13, R10);             \
	IQ1M_SUB(DOT16);                 \
	UBFXW   $6, R7, $3, R10;         \
	SCALE_ADD(R12, R10);             \
	UBFXW   $9, R7, $3, R10;         \
	SCALE_ADD(R13, R10);             \
	SUBS    $1, R15, R15;            \
	BNE     i1mib;                   \
	SB_END;                          \
	ADD     $56, R0, R0;             \
	SUBS    $1, R3, R3;              \
	BNE     i1msb;                   \
i1mdone:

// ---- IQ4_XS: 136 bytes; d, scales_h (uint16, two bits per sub-block),
// scales_l (four bytes, a nibble per sub-block), then 16 bytes of nibbles
// per sub-block looked up in kvalues_iq4nl (V10) by TBL: the low nibbles
// are elements 0..15, the high ones 16..31; the scale is ls - 32. ----
#define IQ4XS_BODY(DOT16) \
	VMOVI   $15, V9.B16;                                  \
	VMOVQ   $0xF6EADDCFBFAD9881, $0x7159453526190D01, V10; \
	CBZ     R3, i4xsdone;            \
i4xssb:                              \
	F16D;                            \
	MOVHU   2(R0), R7;               \
	MOVWU   4(R0), R14;              \
	ADD     $8, R0, R6;              \
	MOVD    ZR, R16;                 \
	MOVD    $8, R15;                 \
i4xsib:                              \
	VLD1.P  16(R6), [V11.B16];       \
	VAND    V11.B16, V9.B16, V1.B16; \
	VUSHR   $4, V11.B16, V2.B16;     \
	VTBL    V1.B16, [V10.B16], V1.B16; \
	VTBL    V2.B16, [V10.B16], V2.B16; \
	DOT32(DOT16);                    \
	ANDW    $15, R14, R10;           \
	ANDW    $3, R7, R11;             \
	ORRW    R11<<4, R10, R10;        \
	SUBW    $32, R10, R10;           \
	MADDW   R10, R16, R12, R16;      \
	LSRW    $4, R14, R14;            \
	LSRW    $2, R7, R7;              \
	SUBS    $1, R15, R15;            \
	BNE     i4xsib;                  \
	SB_END;                          \
	ADD     $136, R0, R0;            \
	SUBS    $1, R3, R3;              \
	BNE     i4xssb;                  \
i4xsdone:

// The grid kernels: func(w *byte, q *int8, d *float32, nb int, grid,
// signs *uint64) float32 (grid *uint32 for the IQ3 types).

TEXT ·dotIQ2XXSNEON(SB), NOSPLIT, $0-52
	ARGS
	IQ2XXS_BODY(DOT16_NODOT)
	FMOVS F0, ret+48(FP)
	RET

TEXT ·dotIQ2XXSDOT(SB), NOSPLIT, $0-52
	ARGS
	IQ2XXS_BODY(DOT16_DOT)
	FMOVS F0, ret+48(FP)
	RET

TEXT ·dotIQ2XSNEON(SB), NOSPLIT, $0-52
	ARGS
	IQ2XS_BODY(DOT16_NODOT)
	FMOVS F0, ret+48(FP)
	RET

TEXT ·dotIQ2XSDOT(SB), NOSPLIT, $0-52
	ARGS
	IQ2XS_BODY(DOT16_DOT)
	FMOVS F0, ret+48(FP)
	RET

TEXT ·dotIQ2SNEON(SB), NOSPLIT, $0-52
	ARGS
	IQ2S_BODY(DOT16_NODOT)
	FMOVS F0, ret+48(FP)
	RET

TEXT ·dotIQ2SDOT(SB), NOSPLIT, $0-52
	ARGS
	IQ2S_BODY(DOT16_DOT)
	FMOVS F0, ret+48(FP)
	RET

TEXT ·dotIQ3XXSNEON(SB), NOSPLIT, $0-52
	ARGS
	IQ3XXS_BODY(DOT16_NODOT)
	FMOVS F0, ret+48(FP)
	RET

TEXT ·dotIQ3XXSDOT(SB), NOSPLIT, $0-52
	ARGS
	IQ3XXS_BODY(DOT16_DOT)
	FMOVS F0, ret+48(FP)
	RET

TEXT ·dotIQ3SNEON(SB), NOSPLIT, $0-52
	ARGS
	IQ3S_BODY(DOT16_NODOT)
	FMOVS F0, ret+48(FP)
	RET

TEXT ·dotIQ3SDOT(SB), NOSPLIT, $0-52
	ARGS
	IQ3S_BODY(DOT16_DOT)
	FMOVS F0, ret+48(FP)
	RET

TEXT ·dotIQ1SNEON(SB), NOSPLIT, $0-52
	ARGS
	IQ1S_BODY(DOT16_NODOT)
	FMOVS F0, ret+48(FP)
	RET

TEXT ·dotIQ1SDOT(SB), NOSPLIT, $0-52
	ARGS
	IQ1S_BODY(DOT16_DOT)
	FMOVS F0, ret+48(FP)
	RET

TEXT ·dotIQ1MNEON(SB), NOSPLIT, $0-52
	ARGS
	IQ1M_BODY(DOT16_NODOT)
	FMOVS F0, ret+48(FP)
	RET

TEXT ·dotIQ1MDOT(SB), NOSPLIT, $0-52
	ARGS
	IQ1M_BODY(DOT16_DOT)
	FMOVS F0, ret+48(FP)
	RET

// func dotIQ4_XSNEON(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotIQ4_XSNEON(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  nb+24(FP), R3
	FMOVS ZR, F0
	IQ4XS_BODY(DOT16_NODOT)
	FMOVS F0, ret+32(FP)
	RET

// func dotIQ4_XSDOT(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotIQ4_XSDOT(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  nb+24(FP), R3
	FMOVS ZR, F0
	IQ4XS_BODY(DOT16_DOT)
	FMOVS F0, ret+32(FP)
	RET
