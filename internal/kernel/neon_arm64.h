// Macros shared by the NEON kernels (dot_arm64.s, neon_q_arm64.s,
// neon_k_arm64.s). The Go assembler has no mnemonics for the signed byte
// dot products (SDOT, FEAT_DotProd; SMULL/SMULL2/SADALP otherwise), so they
// are encoded with WORD from register numbers. Go assembler macros cannot
// build register names, so every register a macro touches is either fixed
// (and listed in its comment) or passed in.

// SDOT Vd.4S, Vn.16B, Vm.16B: each lane of Vd.4S += the dot product of the
// four signed bytes of Vn and Vm in that lane. d, n, m are register numbers.
#define SDOT(d, n, m) WORD $(0x4E809400 | ((m)<<16) | ((n)<<5) | (d))
// SMULL Vd.8H, Vn.8B, Vm.8B and SMULL2 Vd.8H, Vn.16B, Vm.16B: the signed
// 16-bit products of the low (SMULL) or high (SMULL2) eight bytes.
#define SMULL(d, n, m) WORD $(0x0E20C000 | ((m)<<16) | ((n)<<5) | (d))
#define SMULL2(d, n, m) WORD $(0x4E20C000 | ((m)<<16) | ((n)<<5) | (d))
// SADALP Vd.4S, Vn.8H: Vd.4S += the sums of adjacent signed halfword pairs
// of Vn.
#define SADALP(d, n) WORD $(0x4E606800 | ((n)<<5) | (d))

// DOT16_DOT(acc, n, m) and DOT16_NODOT(acc, n, m): V(acc).4S += the 16
// signed byte products of V(n) and V(m), each lane the sum of four (which
// four differs between the two, the total does not). acc, n, m are register
// numbers. DOT16_DOT is one SDOT (FEAT_DotProd) and clobbers nothing else;
// DOT16_NODOT widens with SMULL/SMULL2 and clobbers V30 and V31. The *_BODY
// macros take one of the two as their DOT16 parameter.
#define DOT16_DOT(acc, n, m) SDOT(acc, n, m)
#define DOT16_NODOT(acc, n, m) \
	SMULL(30, n, m);  \
	SMULL2(31, n, m); \
	SADALP(acc, 30);  \
	SADALP(acc, 31)

// ---- Q4_K and Q5_K super-blocks (dot_arm64.s, neon_k_arm64.s) ----

// K4_HIGH2(SRC, DST): DST |= ((SRC >> 6) & 0x03030303) << 4, the top two
// bits of each byte of SRC moved to bits 4-5 of the same byte of DST (the
// high bits of the 6-bit scales and mins of sub-blocks 4..7). Clobbers SRC.
#define K4_HIGH2(SRC, DST) \
	LSRW    $6, SRC, SRC;          \
	ANDW    $0x03030303, SRC, SRC; \
	LSLW    $4, SRC, SRC;          \
	ORRW    SRC, DST, DST

// K4_HEAD reads the 16-byte head of the super-block at R0 and advances R0
// past it: F16 = f16(d), F17 = f16(dmin), and the 6-bit scales and mins
// unpacked as ggml's get_scale_min_k4: byte i of R8 (R10) is the scale of
// sub-block i (4+i), byte i of R9 (R11) its min. Clobbers R5, R6, R7.
#define K4_HEAD \
	MOVHU   (R0), R5;             \
	FMOVS   R5, F16;              \
	FCVTHS  F16, F16;             \
	MOVHU   2(R0), R5;            \
	FMOVS   R5, F17;              \
	FCVTHS  F17, F17;             \
	MOVWU   4(R0), R5;            \
	MOVWU   8(R0), R6;            \
	MOVWU   12(R0), R7;           \
	ANDW    $0x3f3f3f3f, R5, R8;  \
	ANDW    $0x3f3f3f3f, R6, R9;  \
	ANDW    $0x0f0f0f0f, R7, R10; \
	K4_HIGH2(R5, R10);            \
	LSRW    $4, R7, R11;          \
	ANDW    $0x0f0f0f0f, R11, R11; \
	K4_HIGH2(R6, R11);            \
	ADD     $16, R0, R0

// K4_NIBBLES loads the 32 bytes of nibbles of a 64-code chunk at R0
// (advanced): V3, V4 = their low nibbles (codes 0..31), V1, V2 = their high
// nibbles (codes 32..63). V9 must hold 0x0f in every byte.
#define K4_NIBBLES \
	VLD1.P  32(R0), [V1.B16, V2.B16]; \
	VAND    V1.B16, V9.B16, V3.B16;   \
	VAND    V2.B16, V9.B16, V4.B16;   \
	VUSHR   $4, V1.B16, V1.B16;       \
	VUSHR   $4, V2.B16, V2.B16

// K4_CHUNK_SUMS(DOT16, SC, MN, lsb1, lsb2) takes the 64 weight codes of a
// chunk in V3, V4 (sub-block 1) and V1, V2 (sub-block 2) against the next
// 64 activation codes at R1 (advanced) and the next four group sums bs at
// R3 (advanced): with s1, s2 the two integer dot products, R16 += sc1*s1 +
// sc2*s2 and R17 += m1*(bs0+bs1) + m2*(bs2+bs3), the scales and mins the
// bytes at bits lsb1, lsb2 of SC and MN. Clobbers V5..V8, V10, V11 (and
// V30, V31 with DOT16_NODOT) and R12..R15.
#define K4_CHUNK_SUMS(DOT16, SC, MN, lsb1, lsb2) \
	VLD1.P  64(R1), [V5.B16, V6.B16, V7.B16, V8.B16]; \
	VEOR    V10.B16, V10.B16, V10.B16;              \
	VEOR    V11.B16, V11.B16, V11.B16;              \
	DOT16(10, 3, 5);                                \
	DOT16(10, 4, 6);                                \
	DOT16(11, 1, 7);                                \
	DOT16(11, 2, 8);                                \
	VADDV   V10.S4, V10;                            \
	VADDV   V11.S4, V11;                            \
	FMOVS   F10, R12;                               \
	FMOVS   F11, R13;                               \
	UBFXW   $lsb1, SC, $8, R14;                     \
	UBFXW   $lsb2, SC, $8, R15;                     \
	MADDW   R14, R16, R12, R16;                     \
	MADDW   R15, R16, R13, R16;                     \
	MOVH.P  2(R3), R12;                             \
	MOVH.P  2(R3), R13;                             \
	ADDW    R13, R12, R12;                          \
	UBFXW   $lsb1, MN, $8, R14;                     \
	MADDW   R14, R17, R12, R17;                     \
	MOVH.P  2(R3), R12;                             \
	MOVH.P  2(R3), R13;                             \
	ADDW    R13, R12, R12;                          \
	UBFXW   $lsb2, MN, $8, R15;                     \
	MADDW   R15, R17, R12, R17

// K4_ACC ends a super-block in Go's order: with x.D[b] the next float32 at
// R2 (advanced), F0 += f16(d)*x.D[b]*float32(isum) -
// f16(dmin)*x.D[b]*float32(msum), f16(d) in F16, f16(dmin) in F17, isum in
// R16 and msum in R17. Clobbers F7, F12, F13, F16, F17.
#define K4_ACC \
	FMOVS.P 4(R2), F7;        \
	SCVTFWS R16, F12;         \
	SCVTFWS R17, F13;         \
	FMULS   F7, F16, F16;     \
	FMULS   F12, F16, F16;    \
	FMULS   F7, F17, F17;     \
	FMULS   F13, F17, F17;    \
	FSUBS   F17, F16, F16;    \
	FADDS   F16, F0, F0

// ---- scalar steps ----

// F16_NEXT(SRC, RT, F) converts the next float16 at SRC (advanced by 2) to
// float32 in F, through the general register RT (clobbered).
#define F16_NEXT(SRC, RT, F) \
	MOVHU.P 2(SRC), RT; \
	FMOVS   RT, F;      \
	FCVTHS  F, F

// Q_ACC_D ends a Q8-style block in Go's order: with s the integer dot
// product in R5, f16(d) in F16 and x.D[b] the next float32 at R2
// (advanced), F0 += f16(d) * x.D[b] * float32(s). Clobbers F16, F17, F18.
#define Q_ACC_D \
	SCVTFWS R5, F17;      \
	FMOVS.P 4(R2), F18;   \
	FMULS   F18, F16, F16; \
	FMULS   F17, F16, F16; \
	FADDS   F16, F0, F0
