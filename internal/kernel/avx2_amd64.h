// Macros shared by the AVX2 kernels (dot_amd64.s, more_amd64.s,
// mat_amd64.s) and, for the scalar and 128-bit ones, the AVX-512 kernels
// that unpack the same K-quant scales (vnni_amd64.s, amx_amd64.s). Go
// assembler macros cannot build register names, so every register a macro
// touches is either fixed (and listed in its comment) or passed in.

// HSUM8(Y, X, T) leaves the sum of the 8 floats of Y in the low lane of X
// (X is Y's 128-bit name); clobbers T (an X register).
#define HSUM8(Y, X, T) \
	VEXTRACTF128 $1, Y, T; \
	VADDPS       T, X, X;  \
	VHADDPS      X, X, X;  \
	VHADDPS      X, X, X

// F16SCALE(mem, dmem, X, Y) converts the binary16 at mem to float32,
// multiplies it by the float32 at dmem and broadcasts the product into Y
// (X is Y's 128-bit name); clobbers AX.
#define F16SCALE(mem, dmem, X, Y) \
	MOVWLZX      mem, AX;     \
	VMOVD        AX, X;       \
	VCVTPH2PS    X, X;        \
	VMULSS       dmem, X, X;  \
	VBROADCASTSS X, Y

// K4SCALES(B, T) unpacks the twelve 6-bit scale/min bytes at 4(SI) of a
// Q4_K or Q5_K super-block (ggml's get_scale_min_k4) to bytes: the eight
// scales at 0(SP) and the eight mins at 8(SP). B and T are scratch 32-bit
// registers (B first holds the word at 8(SI)); clobbers AX, R8, B and T.
#define K4SCALES(B, T) \
	MOVL 4(SI), AX;          \
	MOVL 8(SI), B;           \
	MOVL 12(SI), R8;         \
	MOVL AX, T;              \
	ANDL $0x3f3f3f3f, T;     \
	MOVL T, 0(SP);           \
	MOVL B, T;               \
	ANDL $0x3f3f3f3f, T;     \
	MOVL T, 8(SP);           \
	MOVL R8, T;              \
	ANDL $0x0f0f0f0f, T;     \
	SHRL $6, AX;             \
	ANDL $0x03030303, AX;    \
	SHLL $4, AX;             \
	ORL  AX, T;              \
	MOVL T, 4(SP);           \
	SHRL $4, R8;             \
	ANDL $0x0f0f0f0f, R8;    \
	SHRL $6, B;              \
	ANDL $0x03030303, B;     \
	SHLL $4, B;              \
	ORL  B, R8;              \
	MOVL R8, 12(SP)

// K3SCALES(A, B, C, T, U) unpacks the twelve bytes at 96(SI) of a Q3_K
// super-block into its sixteen 6-bit scales (ggml's aux trick, kmask1 and
// kmask2 over three 32-bit words A, B and C), as unsigned bytes 0..63 at
// 0(SP)..15(SP); T and U are scratch. Clobbers A, B, C, T and U.
#define K3SCALES(A, B, C, T, U) \
	MOVL 96(SI), A;          \
	MOVL 100(SI), B;         \
	MOVL 104(SI), C;         \
	MOVL A, T;               \
	ANDL $0x0f0f0f0f, T;     \
	MOVL C, U;               \
	ANDL $0x03030303, U;     \
	SHLL $4, U;              \
	ORL  U, T;               \
	MOVL T, 0(SP);           \
	MOVL B, T;               \
	ANDL $0x0f0f0f0f, T;     \
	MOVL C, U;               \
	SHRL $2, U;              \
	ANDL $0x03030303, U;     \
	SHLL $4, U;              \
	ORL  U, T;               \
	MOVL T, 4(SP);           \
	MOVL A, T;               \
	SHRL $4, T;              \
	ANDL $0x0f0f0f0f, T;     \
	MOVL C, U;               \
	SHRL $4, U;              \
	ANDL $0x03030303, U;     \
	SHLL $4, U;              \
	ORL  U, T;               \
	MOVL T, 8(SP);           \
	MOVL B, T;               \
	SHRL $4, T;              \
	ANDL $0x0f0f0f0f, T;     \
	MOVL C, U;               \
	SHRL $6, U;              \
	ANDL $0x03030303, U;     \
	SHLL $4, U;              \
	ORL  U, T;               \
	MOVL T, 12(SP)

// Q4KMIN(Rd, bsoff, macc), for the four-row Q4_K kernels (dotQ4_Kx4AVX2,
// dotQ4_Kx4VNNI; BX = the act4, DX = the block index): the min term of
// one activation row, X4 = the eight mins as int16 and X14 = dmin: the
// pair sums of the row's bsums (pointer at bsoff(BX)) times the mins,
// scaled by dmin times the row's scale at (Rd)(DX*1), added to the four
// floats at macc(BX). Clobbers AX, X5 and X6.
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

// NIBSPLIT(mem, LO, HI): LO = the low nibbles and HI = the high nibbles of
// the 32 bytes at mem, as bytes; Y15 = 0x0F in every byte.
#define NIBSPLIT(mem, LO, HI) \
	VMOVDQU mem, LO;      \
	VPSRLW  $4, LO, HI;   \
	VPAND   Y15, LO, LO;  \
	VPAND   Y15, HI, HI

// Q5SPLIT(mem, sh0, sh1, LO, HI, QH, ONE, T): the 5-bit codes of a Q5_K
// chunk, NIBSPLIT's LO and HI with bit sh0 (for LO) and bit sh1 (for HI)
// of each qh byte in QH as their fifth bit; ONE = 0x01 in every byte, Y15
// = 0x0F in every byte; clobbers T.
#define Q5SPLIT(mem, sh0, sh1, LO, HI, QH, ONE, T) \
	NIBSPLIT(mem, LO, HI); \
	VPSRLW  $sh0, QH, T;   \
	VPAND   ONE, T, T;     \
	VPSLLW  $4, T, T;      \
	VPOR    T, LO, LO;     \
	VPSRLW  $sh1, QH, T;   \
	VPAND   ONE, T, T;     \
	VPSLLW  $4, T, T;      \
	VPOR    T, HI, HI

// KSCALEW(c, YA, XA, YB, XB): YA = the scale byte at (2c)(SP) and YB =
// the one at (2c+1)(SP) (as K4SCALES leaves them), each zero-extended and
// broadcast to 16 words (XA, XB are their 128-bit names); clobbers AX.
#define KSCALEW(c, YA, XA, YB, XB) \
	MOVBLZX      (2*c)(SP), AX;   \
	VMOVD        AX, XA;          \
	VPBROADCASTW XA, YA;          \
	MOVBLZX      (2*c+1)(SP), AX; \
	VMOVD        AX, XB;          \
	VPBROADCASTW XB, YB

// KCHUNKDOT(c), for the one-row Q4_K and Q5_K kernels: Y7 += the dword
// sums of 64-code chunk c, the low codes Y2 times the activations at
// (64c)(DI) weighted by scale 2c, the high codes Y3 times those at
// (64c+32)(DI) weighted by scale 2c+1 (KSCALEW); clobbers AX, Y2-Y5.
#define KCHUNKDOT(c) \
	VPMADDUBSW (64*c)(DI), Y2, Y2;     \
	VPMADDUBSW (64*c+32)(DI), Y3, Y3;  \
	KSCALEW(c, Y4, X4, Y5, X5);        \
	VPMADDWD   Y4, Y2, Y2;             \
	VPMADDWD   Y5, Y3, Y3;             \
	VPADDD     Y2, Y7, Y7;             \
	VPADDD     Y3, Y7, Y7

// ACTPTRS loads R8-R11 = the four activation rows' code (or float)
// pointers of the act4 at BX (0(BX)..24(BX)).
#define ACTPTRS \
	MOVQ 0(BX), R8;   \
	MOVQ 8(BX), R9;   \
	MOVQ 16(BX), R10; \
	MOVQ 24(BX), R11

// ACTSCALES loads R12-R15 = the four activation rows' scale pointers of
// the act4 at BX (32(BX)..56(BX)).
#define ACTSCALES \
	MOVQ 32(BX), R12; \
	MOVQ 40(BX), R13; \
	MOVQ 48(BX), R14; \
	MOVQ 56(BX), R15

// PTS4Q sets Y1 to the grid qwords (R13: the grid) of the four index words
// at (R11), for the grid i-quants' kernels: one load, the words split by
// shifts (the load ports, not the ALUs, were the limit); clobbers AX, BX,
// Y3.
#define PTS4Q \
	MOVQ         (R11), AX;           \
	MOVWLZX      AX, BX;              \
	VPBROADCASTQ (R13)(BX*8), Y1;     \
	SHRQ         $16, AX;             \
	MOVWLZX      AX, BX;              \
	VPBROADCASTQ (R13)(BX*8), Y3;     \
	VPBLENDD     $0x0c, Y3, Y1, Y1;   \
	SHRQ         $16, AX;             \
	MOVWLZX      AX, BX;              \
	VPBROADCASTQ (R13)(BX*8), Y3;     \
	VPBLENDD     $0x30, Y3, Y1, Y1;   \
	SHRQ         $16, AX;             \
	VPBROADCASTQ (R13)(AX*8), Y3;     \
	VPBLENDD     $0xc0, Y3, Y1, Y1
