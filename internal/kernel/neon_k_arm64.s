//go:build !purego

#include "textflag.h"
#include "neon_arm64.h"

// NEON kernels for Q6_K and Q5_K weights (against Q8_K activations), F16
// weights (against float activations), DotF32 and Axpy, written to mirror
// the generic ones (generic.go) step by step. The K-quant kernels form each
// super-block's integer sum exactly (SDOT in the *DOT variants,
// SMULL/SMULL2/SADALP otherwise), then scale and sum it in float in Go's
// order. The float kernels keep generic's four partial sums s0..s3 in the
// four lanes of V0 and add them as (s0+s1)+(s2+s3) at the end. Mnemonics
// the Go assembler lacks are encoded with WORD (the signed byte dot
// products, DOT16_DOT and DOT16_NODOT, in neon_arm64.h).

// MLA Vd.4S, Vn.4S, Vm.4S
#define MLA4S(d, n, m) WORD $(0x4EA09400 | ((m)<<16) | ((n)<<5) | (d))
// SXTL Vd.8H, Vn.8B and SXTL2 Vd.8H, Vn.16B (SSHLL/SSHLL2 #0)
#define SXTL8H(d, n) WORD $(0x0F08A400 | ((n)<<5) | (d))
#define SXTL28H(d, n) WORD $(0x4F08A400 | ((n)<<5) | (d))
// SXTL Vd.4S, Vn.4H and SXTL2 Vd.4S, Vn.8H (SSHLL/SSHLL2 #0)
#define SXTL4S(d, n) WORD $(0x0F10A400 | ((n)<<5) | (d))
#define SXTL24S(d, n) WORD $(0x4F10A400 | ((n)<<5) | (d))
// FCVTL Vd.4S, Vn.4H and FCVTL2 Vd.4S, Vn.8H
#define FCVTL(d, n) WORD $(0x0E217800 | ((n)<<5) | (d))
#define FCVTL2(d, n) WORD $(0x4E217800 | ((n)<<5) | (d))
// FADDP V0.4S, V0.4S, V0.4S, then FADDP S0, V0.2S: (s0+s1)+(s2+s3) in F0.
#define REDUCE_V0 \
	WORD $0x6E20D400; \
	WORD $0x7E30D800

// ---- Q6_K ----

// Q6K_CODE(D, HI): D = (D | (HI & 0x30)) - 32 in every byte, a Q6_K weight
// vector from its nibbles in D and its two high bits at bits 4-5 of HI, as
// generic forms q6-32. Uses the constants V27 = 32 and V29 = 0x30 in every
// byte; clobbers V9.
#define Q6K_CODE(D, HI) \
	VAND    V29.B16, HI, V9.B16; \
	VORR    V9.B16, D, D;        \
	VSUB    V27.B16, D, D

// Q6K_DOTS(DOT16, a, b, A, B): V(a) and V(b), named A and B (their .B16
// names), = the 16-element group sums of the weight codes in V7 and V8
// against the next 32 activation codes at R1 (advanced). Clobbers V9, V10
// (and V30, V31 with DOT16_NODOT).
#define Q6K_DOTS(DOT16, a, b, A, B) \
	VLD1.P  32(R1), [V9.B16, V10.B16]; \
	VEOR    A, A, A;                   \
	VEOR    B, B, B;                   \
	DOT16(a, 7, 9);                    \
	DOT16(b, 8, 10)

// Half h of a Q6_K super-block: 64 bytes of ql at R5, 32 of qh at R6, 128
// activation codes at R1 (all advanced). Each weight vector is (nibble |
// two high bits moved to bits 4-5) - 32, as generic forms q6-32; the eight
// 16-element group sums s[0..7] are formed in V11..V18, reduced pairwise to
// [s0..s3] and [s4..s7], and V26.4S += those times the int8 scales
// sc[8h..8h+7], which are the int16 lanes of V(SCV).
// Constants: V27 = 32, V28 = 0x0f, V29 = 0x30 in every byte.
#define Q6K_HALF(DOT16, SCV) \
	VLD1.P  64(R5), [V1.B16, V2.B16, V3.B16, V4.B16]; \
	VLD1.P  32(R6), [V5.B16, V6.B16];                 \
	VAND    V28.B16, V1.B16, V7.B16;                  \
	VSHL    $4, V5.B16, V9.B16;                       \
	Q6K_CODE(V7.B16, V9.B16);                         \
	VAND    V28.B16, V2.B16, V8.B16;                  \
	VSHL    $4, V6.B16, V9.B16;                       \
	Q6K_CODE(V8.B16, V9.B16);                         \
	Q6K_DOTS(DOT16, 11, 12, V11.B16, V12.B16);        \
	VAND    V28.B16, V3.B16, V7.B16;                  \
	VSHL    $2, V5.B16, V9.B16;                       \
	Q6K_CODE(V7.B16, V9.B16);                         \
	VAND    V28.B16, V4.B16, V8.B16;                  \
	VSHL    $2, V6.B16, V9.B16;                       \
	Q6K_CODE(V8.B16, V9.B16);                         \
	Q6K_DOTS(DOT16, 13, 14, V13.B16, V14.B16);        \
	VUSHR   $4, V1.B16, V7.B16;                       \
	Q6K_CODE(V7.B16, V5.B16);                         \
	VUSHR   $4, V2.B16, V8.B16;                       \
	Q6K_CODE(V8.B16, V6.B16);                         \
	Q6K_DOTS(DOT16, 15, 16, V15.B16, V16.B16);        \
	VUSHR   $4, V3.B16, V7.B16;                       \
	VUSHR   $2, V5.B16, V9.B16;                       \
	Q6K_CODE(V7.B16, V9.B16);                         \
	VUSHR   $4, V4.B16, V8.B16;                       \
	VUSHR   $2, V6.B16, V9.B16;                       \
	Q6K_CODE(V8.B16, V9.B16);                         \
	Q6K_DOTS(DOT16, 17, 18, V17.B16, V18.B16);        \
	VADDP   V12.S4, V11.S4, V11.S4;                   \
	VADDP   V14.S4, V13.S4, V13.S4;                   \
	VADDP   V13.S4, V11.S4, V11.S4;                   \
	VADDP   V16.S4, V15.S4, V15.S4;                   \
	VADDP   V18.S4, V17.S4, V17.S4;                   \
	VADDP   V17.S4, V15.S4, V15.S4;                   \
	SXTL4S(19, SCV);                                  \
	SXTL24S(20, SCV);                                 \
	MLA4S(26, 11, 19);                                \
	MLA4S(26, 15, 20)

// Q6_K: sum += (f16(d)*x.D[b]) * float32(isum), isum = sum over the 16
// groups g of int8(sc[g]) * sum((q6-32)*x) (scalars in F0..F3).
#define Q6_K_BODY(DOT16) \
	FMOVS ZR, F0;                      \
	VMOVI $32, V27.B16;                \
	VMOVI $15, V28.B16;                \
	VMOVI $48, V29.B16;                \
	CBZ   R3, q6kdone;                 \
q6kloop:                               \
	VEOR    V26.B16, V26.B16, V26.B16; \
	MOVD    R0, R5;                    \
	ADD     $128, R0, R6;              \
	ADD     $192, R0, R7;              \
	VLD1    (R7), [V25.B16];           \
	SXTL8H(24, 25);                    \
	SXTL28H(25, 25);                   \
	Q6K_HALF(DOT16, 24);               \
	Q6K_HALF(DOT16, 25);               \
	VADDV   V26.S4, V26;               \
	FMOVS   F26, R8;                   \
	SCVTFWS R8, F1;                    \
	MOVHU   208(R0), R9;               \
	FMOVS   R9, F2;                    \
	FCVTHS  F2, F2;                    \
	FMOVS.P 4(R2), F3;                 \
	FMULS   F3, F2, F2;                \
	FMULS   F1, F2, F2;                \
	FADDS   F2, F0, F0;                \
	ADD     $210, R0, R0;              \
	SUBS    $1, R3, R3;                \
	BNE     q6kloop;                   \
q6kdone:

// func dotQ6_KNEON(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotQ6_KNEON(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  nb+24(FP), R3
	Q6_K_BODY(DOT16_NODOT)
	FMOVS F0, ret+32(FP)
	RET

// func dotQ6_KDOT(w *byte, q *int8, d *float32, nb int) float32
TEXT ·dotQ6_KDOT(SB), NOSPLIT, $0-36
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  nb+24(FP), R3
	Q6_K_BODY(DOT16_DOT)
	FMOVS F0, ret+32(FP)
	RET

// ---- Q5_K ----

// One 64-code chunk c of a Q5_K super-block: 32 bytes of nibbles at R0
// and the high bits of qh (V12, V13, shifted right by 2c) against 64
// activation codes; R16 += sc1*s1 + sc2*s2, R17 += m1*(bs0+bs1) +
// m2*(bs2+bs3), the scales and mins taken from bytes lsb/8 of SC and MN.
// Constants: V9 = 0x0f, V14 = 0x10 in every byte.
#define Q5K_CHUNK(DOT16, SC, MN, lsb1, lsb2) \
	K4_NIBBLES;                                     \
	VSHL    $4, V12.B16, V5.B16;                    \
	VAND    V14.B16, V5.B16, V5.B16;                \
	VORR    V5.B16, V3.B16, V3.B16;                 \
	VSHL    $4, V13.B16, V6.B16;                    \
	VAND    V14.B16, V6.B16, V6.B16;                \
	VORR    V6.B16, V4.B16, V4.B16;                 \
	VSHL    $3, V12.B16, V5.B16;                    \
	VAND    V14.B16, V5.B16, V5.B16;                \
	VORR    V5.B16, V1.B16, V1.B16;                 \
	VSHL    $3, V13.B16, V6.B16;                    \
	VAND    V14.B16, V6.B16, V6.B16;                \
	VORR    V6.B16, V2.B16, V2.B16;                 \
	VUSHR   $2, V12.B16, V12.B16;                   \
	VUSHR   $2, V13.B16, V13.B16;                   \
	K4_CHUNK_SUMS(DOT16, SC, MN, lsb1, lsb2)

// Q5_K: sum += f16(d)*x.D[b]*float32(isum) - f16(dmin)*x.D[b]*float32(msum)
// with the 6-bit scales and mins unpacked as ggml's get_scale_min_k4 (as
// for Q4_K: scales of sub-blocks 0..3 in R8, 4..7 in R10, mins in R9, R11).
#define Q5_K_BODY(DOT16) \
	FMOVS ZR, F0;             \
	VMOVI $15, V9.B16;        \
	VMOVI $16, V14.B16;       \
	CBZ   R4, q5kdone;        \
q5kloop:                      \
	K4_HEAD;                      \
	VLD1.P  32(R0), [V12.B16, V13.B16]; \
	MOVW    ZR, R16;              \
	MOVW    ZR, R17;              \
	Q5K_CHUNK(DOT16, R8, R9, 0, 8);    \
	Q5K_CHUNK(DOT16, R8, R9, 16, 24);  \
	Q5K_CHUNK(DOT16, R10, R11, 0, 8);  \
	Q5K_CHUNK(DOT16, R10, R11, 16, 24); \
	K4_ACC;                   \
	SUBS    $1, R4, R4;       \
	BNE     q5kloop;          \
q5kdone:

// func dotQ5_KNEON(w *byte, q *int8, d *float32, bs *int16, nb int) float32
TEXT ·dotQ5_KNEON(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  bs+24(FP), R3
	MOVD  nb+32(FP), R4
	Q5_K_BODY(DOT16_NODOT)
	FMOVS F0, ret+40(FP)
	RET

// func dotQ5_KDOT(w *byte, q *int8, d *float32, bs *int16, nb int) float32
TEXT ·dotQ5_KDOT(SB), NOSPLIT, $0-44
	MOVD  w+0(FP), R0
	MOVD  q+8(FP), R1
	MOVD  d+16(FP), R2
	MOVD  bs+24(FP), R3
	MOVD  nb+32(FP), R4
	Q5_K_BODY(DOT16_DOT)
	FMOVS F0, ret+40(FP)
	RET

// ---- float vectors ----

// FDOT_BODY(STEP16, STEP4, STEP1): F0 = the dot product of the n (R2)
// elements at R0 and R1, with generic's partial sums s0..s3 in the lanes
// of V0: sixteen elements per step as four FMLAs into the same lanes
// (STEP16), then four (STEP4), then the rest into s0 one by one (STEP1
// loads the next pair as float32 into F1 and F2), and at the end
// (s0+s1)+(s2+s3). R0, R1 advance and R2 counts down to 0; clobbers F5 and
// what the steps use.
#define FDOT_BODY(STEP16, STEP4, STEP1) \
	VEOR V0.B16, V0.B16, V0.B16; \
	CMP  $16, R2;                \
	BLT  four;                   \
loop16:                          \
	STEP16;                      \
	SUB  $16, R2, R2;            \
	CMP  $16, R2;                \
	BGE  loop16;                 \
four:                            \
	CMP  $4, R2;                 \
	BLT  tail;                   \
	STEP4;                       \
	SUB  $4, R2, R2;             \
	B    four;                   \
tail:                            \
	CBZ   R2, done;              \
	FMOVS F0, F5;                \
one:                             \
	STEP1;                       \
	FMADDS  F2, F5, F1, F5;      \
	SUBS    $1, R2, R2;          \
	BNE     one;                 \
	VMOV    V5.S[0], V0.S[0];    \
done:                            \
	REDUCE_V0

// The steps of dotF16NEON: float16 weights at R0 widened by FCVTL
// (clobber V1..V10 and R4).
#define F16_STEP16 \
	VLD1.P 32(R0), [V1.B16, V2.B16];             \
	VLD1.P 64(R1), [V3.S4, V4.S4, V5.S4, V6.S4]; \
	FCVTL(7, 1);                                 \
	FCVTL2(8, 1);                                \
	FCVTL(9, 2);                                 \
	FCVTL2(10, 2);                               \
	VFMLA V7.S4, V3.S4, V0.S4;                   \
	VFMLA V8.S4, V4.S4, V0.S4;                   \
	VFMLA V9.S4, V5.S4, V0.S4;                   \
	VFMLA V10.S4, V6.S4, V0.S4
#define F16_STEP4 \
	VLD1.P 8(R0), [V1.H4];    \
	VLD1.P 16(R1), [V3.S4];   \
	FCVTL(7, 1);              \
	VFMLA V7.S4, V3.S4, V0.S4
#define F16_STEP1 \
	F16_NEXT(R0, R4, F1); \
	FMOVS.P 4(R1), F2

// The steps of dotF32NEON (clobber V1..V8).
#define F32_STEP16 \
	VLD1.P 64(R0), [V1.S4, V2.S4, V3.S4, V4.S4]; \
	VLD1.P 64(R1), [V5.S4, V6.S4, V7.S4, V8.S4]; \
	VFMLA V1.S4, V5.S4, V0.S4;                   \
	VFMLA V2.S4, V6.S4, V0.S4;                   \
	VFMLA V3.S4, V7.S4, V0.S4;                   \
	VFMLA V4.S4, V8.S4, V0.S4
#define F32_STEP4 \
	VLD1.P 16(R0), [V1.S4];   \
	VLD1.P 16(R1), [V5.S4];   \
	VFMLA V1.S4, V5.S4, V0.S4
#define F32_STEP1 \
	FMOVS.P 4(R0), F1; \
	FMOVS.P 4(R1), F2

// func dotF16NEON(w *byte, f *float32, n int) float32
TEXT ·dotF16NEON(SB), NOSPLIT, $0-28
	MOVD w+0(FP), R0
	MOVD f+8(FP), R1
	MOVD n+16(FP), R2
	FDOT_BODY(F16_STEP16, F16_STEP4, F16_STEP1)
	FMOVS F0, ret+24(FP)
	RET

// func dotF32NEON(a, b *float32, n int) float32
TEXT ·dotF32NEON(SB), NOSPLIT, $0-28
	MOVD a+0(FP), R0
	MOVD b+8(FP), R1
	MOVD n+16(FP), R2
	FDOT_BODY(F32_STEP16, F32_STEP4, F32_STEP1)
	FMOVS F0, ret+24(FP)
	RET

// func axpyNEON(a float32, x, y *float32, n int)
// y[i] += a*x[i], four lanes at a time (FMLA), the rest one by one.
TEXT ·axpyNEON(SB), NOSPLIT, $0-32
	FMOVS a+0(FP), F0
	MOVD  x+8(FP), R0
	MOVD  y+16(FP), R1
	MOVD  n+24(FP), R2
	VDUP  V0.S[0], V31.S4
	CMP   $16, R2
	BLT   axfour
axloop16:
	VLD1.P 64(R0), [V1.S4, V2.S4, V3.S4, V4.S4]
	VLD1   (R1), [V5.S4, V6.S4, V7.S4, V8.S4]
	VFMLA  V1.S4, V31.S4, V5.S4
	VFMLA  V2.S4, V31.S4, V6.S4
	VFMLA  V3.S4, V31.S4, V7.S4
	VFMLA  V4.S4, V31.S4, V8.S4
	VST1.P [V5.S4, V6.S4, V7.S4, V8.S4], 64(R1)
	SUB    $16, R2, R2
	CMP    $16, R2
	BGE    axloop16
axfour:
	CMP    $4, R2
	BLT    axtail
	VLD1.P 16(R0), [V1.S4]
	VLD1   (R1), [V5.S4]
	VFMLA  V1.S4, V31.S4, V5.S4
	VST1.P [V5.S4], 16(R1)
	SUB    $4, R2, R2
	B      axfour
axtail:
	CBZ     R2, axdone
axone:
	FMOVS.P 4(R0), F1
	FMOVS   (R1), F2
	FMADDS  F1, F2, F0, F2
	FMOVS.P F2, 4(R1)
	SUBS    $1, R2, R2
	BNE     axone
axdone:
	RET
