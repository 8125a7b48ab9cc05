// Macros shared by the AVX-512 kernels (vnni_amd64.s, vnni_k23_amd64.s,
// vnni_k6_amd64.s, vnni_q32_amd64.s, silu_amd64.s). Go assembler macros
// cannot build register names, so every register a macro touches is either
// fixed (and listed in its comment) or passed in by each of its names.

// HSUM16(Z, Y, X, T, TX) leaves in X the sum of the 16 float32 lanes of Z
// (Y and X are Z's 256- and 128-bit names): the upper half added onto the
// lower, then the upper 128 bits, then two VHADDPS; the upper lanes of Z
// end as zero (VEX encoding). T is a scratch Y register and TX a scratch
// X register (usually T's own X name); both are clobbered.
#define HSUM16(Z, Y, X, T, TX) \
	VEXTRACTF64X4 $1, Z, T;  \
	VADDPS        T, Y, Y;   \
	VEXTRACTF128  $1, Y, TX; \
	VADDPS        TX, X, X;  \
	VHADDPS       X, X, X;   \
	VHADDPS       X, X, X

// The 4x4 register tile of dotF16x4x4AVX512 and dotBF16x4x4AVX512,
// func(w *byte, rowBytes int, a *act4, n int, out *[16]float32): four
// weight rows rowBytes apart against the four float activation rows of a,
// accumulator Z(4i+j) for weight row i and activation row j, so that per
// 16 columns each of the 4 widened weight vectors (Z16-Z19) serves four
// activation rows and each of the 4 activation vectors (Z20-Z23) four
// weight rows.

// TILE4X4START loads the arguments (SI = w, R12 = rowBytes, R13 =
// 3*rowBytes, BX = a, CX = n, DX = out), R8-R11 = a's four activation rows,
// zeroes the accumulators Z0-Z15 and DI (the activation byte offset).
#define TILE4X4START \
	MOVQ w+0(FP), SI;         \
	MOVQ rowBytes+8(FP), R12; \
	MOVQ a+16(FP), BX;        \
	MOVQ n+24(FP), CX;        \
	MOVQ out+32(FP), DX;      \
	LEAQ (R12)(R12*2), R13;   \
	MOVQ 0(BX), R8;           \
	MOVQ 8(BX), R9;           \
	MOVQ 16(BX), R10;         \
	MOVQ 24(BX), R11;         \
	VPXORD Z0, Z0, Z0;        \
	VPXORD Z1, Z1, Z1;        \
	VPXORD Z2, Z2, Z2;        \
	VPXORD Z3, Z3, Z3;        \
	VPXORD Z4, Z4, Z4;        \
	VPXORD Z5, Z5, Z5;        \
	VPXORD Z6, Z6, Z6;        \
	VPXORD Z7, Z7, Z7;        \
	VPXORD Z8, Z8, Z8;        \
	VPXORD Z9, Z9, Z9;        \
	VPXORD Z10, Z10, Z10;     \
	VPXORD Z11, Z11, Z11;     \
	VPXORD Z12, Z12, Z12;     \
	VPXORD Z13, Z13, Z13;     \
	VPXORD Z14, Z14, Z14;     \
	VPXORD Z15, Z15, Z15;     \
	XORQ DI, DI

// TILE4X4ACT loads Z20-Z23 = the 16 floats at DI of activation rows R8-R11.
#define TILE4X4ACT \
	VMOVUPS (R8)(DI*1), Z20;  \
	VMOVUPS (R9)(DI*1), Z21;  \
	VMOVUPS (R10)(DI*1), Z22; \
	VMOVUPS (R11)(DI*1), Z23

// TILEFMA4(W, C0, C1, C2, C3): Cj += W * Z(20+j), j = 0..3 (one weight
// vector W against the four activation vectors Z20-Z23).
#define TILEFMA4(W, C0, C1, C2, C3) \
	VFMADD231PS Z20, W, C0; \
	VFMADD231PS Z21, W, C1; \
	VFMADD231PS Z22, W, C2; \
	VFMADD231PS Z23, W, C3

// TILE4X4FMA: the 16 FMAs of a step, weight vector Z(16+i) of row i into
// Z(4i)-Z(4i+3).
#define TILE4X4FMA \
	TILEFMA4(Z16, Z0, Z1, Z2, Z3);   \
	TILEFMA4(Z17, Z4, Z5, Z6, Z7);   \
	TILEFMA4(Z18, Z8, Z9, Z10, Z11); \
	TILEFMA4(Z19, Z12, Z13, Z14, Z15)

// TILE4X4NEXT(loop) advances SI by 16 half-precision weights, DI by 16
// floats, counts 16 off CX and loops to loop while any are left.
#define TILE4X4NEXT(loop) \
	ADDQ $32, SI; \
	ADDQ $64, DI; \
	SUBQ $16, CX; \
	JNZ  loop

// TILESUM4 stores at OFF(DX) the sums of the 16 lanes of each of the four
// accumulators A, B, C, D (the Z, Y and X names of each), in that order;
// it clobbers them and Y24-Y27.
#define TILESUM4(ZA, YA, XA, ZB, YB, XB, ZC, YC, XC, ZD, YD, XD, OFF) \
	VEXTRACTF64X4 $1, ZA, Y24; VADDPS Y24, YA, YA; \
	VEXTRACTF64X4 $1, ZB, Y25; VADDPS Y25, YB, YB; \
	VEXTRACTF64X4 $1, ZC, Y26; VADDPS Y26, YC, YC; \
	VEXTRACTF64X4 $1, ZD, Y27; VADDPS Y27, YD, YD; \
	VEXTRACTF32X4 $1, YA, X24; VADDPS X24, XA, XA; \
	VEXTRACTF32X4 $1, YB, X25; VADDPS X25, XB, XB; \
	VEXTRACTF32X4 $1, YC, X26; VADDPS X26, XC, XC; \
	VEXTRACTF32X4 $1, YD, X27; VADDPS X27, XD, XD; \
	VHADDPS       XB, XA, XA; \
	VHADDPS       XD, XC, XC; \
	VHADDPS       XC, XA, XA; \
	VMOVUPS       XA, OFF(DX)

// TILE4X4SUM stores the 16 sums of Z0-Z15 to out[0:16] at DX (clobbers
// Z0-Z15 and Y24-Y27).
#define TILE4X4SUM \
	TILESUM4(Z0, Y0, X0, Z1, Y1, X1, Z2, Y2, X2, Z3, Y3, X3, 0);       \
	TILESUM4(Z4, Y4, X4, Z5, Y5, X5, Z6, Y6, X6, Z7, Y7, X7, 16);      \
	TILESUM4(Z8, Y8, X8, Z9, Y9, X9, Z10, Y10, X10, Z11, Y11, X11, 32); \
	TILESUM4(Z12, Y12, X12, Z13, Y13, X13, Z14, Y14, X14, Z15, Y15, X15, 48)

// The many-row kernels: one activation row against rows weight rows,
// rowBytes apart from w, results to out[0:rows]. Registers: R8 = the row's
// weights, R9 = rows left, R10 = rowBytes, R11 = the next result; each row
// leaves its result in X0.

// ROWARGS(ro, bo, oo) loads R8 = w (at 0(FP)), R9 = rows, R10 = rowBytes
// and R11 = out from their frame offsets ro, bo and oo.
#define ROWARGS(ro, bo, oo) \
	MOVQ w+0(FP), R8;          \
	MOVQ rows+ro(FP), R9;      \
	MOVQ rowBytes+bo(FP), R10; \
	MOVQ out+oo(FP), R11

// ROWNEXT(row) stores X0 to (R11), moves R8 and R11 on to the next row and
// result, and loops to row while rows are left (R9).
#define ROWNEXT(row) \
	VMOVSS X0, (R11); \
	ADDQ   R10, R8;   \
	ADDQ   $4, R11;   \
	DECQ   R9;        \
	JNZ    row

// ROWHEAD(sn, nn) starts a row of the many-row kernels
// func(w *byte, q *int8, d *float32, sn *T, nn, rows, rowBytes int, out *float32)
// (the K-quants' bs and nb, the 32-element blocks' s and nq; sn and nn are
// the argument names): SI = the row's weights (R8), DI = q, DX = d, BX =
// sn, CX = nn, and the float accumulator Z0 zeroed.
#define ROWHEAD(sn, nn) \
	MOVQ   R8, SI;        \
	MOVQ   q+8(FP), DI;   \
	MOVQ   d+16(FP), DX;  \
	MOVQ   sn+24(FP), BX; \
	MOVQ   nn+32(FP), CX; \
	VPXORD Z0, Z0, Z0

// The 32-element block kernels against one Q8 activation row, four blocks
// per step (dotQ4_0x1VNNI in vnni_amd64.s; IQ4_NL, Q4_1, Q5_0 and Q5_1 in
// vnni_q32_amd64.s), many-row kernels
// func(w *byte, q *int8, d, s *float32, nq, rows, rowBytes int, out *float32).
// Registers: Z31 = 0x0F bytes, Z30/Z29 = the dword indices that spread the
// four block scales over the two products of a step, Z28 = the scale
// indices, Z27 = the nibble byte indices, Z26/Z25 = the VPERMI2Q qword
// indices that order blocks 0,1 and 2,3; per row Z0, Z12 = the
// accumulators and X10 = the sums of scale times s.

// Q32IDX sets Z31 = 0x0F in every byte, Z30 = dwords [0 x8, 1 x8] and
// Z29 = dwords [2 x8, 3 x8]; clobbers AX and Y24.
#define Q32IDX \
	MOVL          $0x0f0f0f0f, AX;   \
	VPBROADCASTD  AX, Z31;           \
	MOVL          $1, AX;            \
	VPBROADCASTD  AX, Y24;           \
	VPXORD        Z30, Z30, Z30;     \
	VINSERTI64X4  $1, Y24, Z30, Z30; \
	MOVL          $2, AX;            \
	VPBROADCASTD  AX, Y29;           \
	MOVL          $3, AX;            \
	VPBROADCASTD  AX, Y24;           \
	VINSERTI64X4  $1, Y24, Z29, Z29

// Q32ROW starts a row: SI = its weights (R8), DI = q, DX = d, BX = s,
// CX = nq, and Z0, Z12 and X10 zeroed.
#define Q32ROW \
	ROWHEAD(s, nq);       \
	VPXORD Z12, Z12, Z12; \
	VXORPS X10, X10, X10

// Q32LOAD(off) loads a step's weights as two overlapping registers, Z1 =
// the 64 bytes at (SI) and Z2 = the 64 at off(SI), and prefetches the
// weights 2048 and 2112 bytes on.
#define Q32LOAD(off) \
	VMOVDQU64  (SI), Z1;     \
	VMOVDQU64  off(SI), Z2;  \
	PREFETCHT0 2048(SI);     \
	PREFETCHT0 2112(SI)

// Q32GATHERW: for blocks with one f16 scale word each (Q4_0, IQ4_NL), X8 =
// the four scales (VPERMW by Z28 from Z1, then widened), Z1 = the 64 nibble
// bytes (VPERMT2B by Z27 from Z1:Z2), X9 = scale times the activation
// scales at (DX), X10 += scale times the code sums at (BX).
#define Q32GATHERW \
	VPERMW      Z1, Z28, Z8;   \
	VPERMT2B    Z2, Z27, Z1;   \
	VCVTPH2PS   X8, X8;        \
	VMULPS      (DX), X8, X9;  \
	VFMADD231PS (BX), X8, X10

// Q32SPLIT: Z3, Z4 = blocks 0,1 and 2,3 of the 64 nibble bytes in Z1, in
// element order (16 low nibbles then 16 high nibbles of each block), by
// the VPERMI2Q indices Z26, Z25; clobbers Z1, Z2.
#define Q32SPLIT \
	VPSRLW    $4, Z1, Z2;  \
	VPANDD    Z31, Z1, Z1; \
	VPANDD    Z31, Z2, Z2; \
	VMOVDQA64 Z26, Z3;     \
	VPERMI2Q  Z2, Z1, Z3;  \
	VMOVDQA64 Z25, Z4;     \
	VPERMI2Q  Z2, Z1, Z4

// Q32ACC: the codes Z3, Z4 times the 128 activation codes at (DI), each
// block's dword sums scaled by its product of scales (X9, spread by Z30
// and Z29) into Z0, Z12; clobbers Z5, Z6, Z7 and Z11.
#define Q32ACC \
	VPXORD      Z5, Z5, Z5;     \
	VPDPBUSD    (DI), Z3, Z5;   \
	VPXORD      Z6, Z6, Z6;     \
	VPDPBUSD    64(DI), Z4, Z6; \
	VCVTDQ2PS   Z5, Z5;         \
	VCVTDQ2PS   Z6, Z6;         \
	VPERMPS     Z9, Z30, Z7;    \
	VFMADD231PS Z5, Z7, Z0;     \
	VPERMPS     Z9, Z29, Z11;   \
	VFMADD231PS Z6, Z11, Z12

// Q32NEXT(bytes, loop) moves SI on by a step's weight bytes, DI by its 128
// activation codes, DX and BX by its four activation scales and sums, and
// loops to loop while steps are left (CX).
#define Q32NEXT(bytes, loop) \
	ADDQ $bytes, SI; \
	ADDQ $128, DI;   \
	ADDQ $16, DX;    \
	ADDQ $16, BX;    \
	DECQ CX;         \
	JNZ  loop

// Q32SUM: X0 = the sum of Z0 and Z12's lanes, X10 = the sum of its four;
// clobbers Y1.
#define Q32SUM \
	VADDPS        Z12, Z0, Z0;   \
	HSUM16(Z0, Y0, X0, Y1, X1);  \
	VHADDPS       X10, X10, X10; \
	VHADDPS       X10, X10, X10

// EXP16: Z4 = e**Z1 on 16 floats, with the exponential of expClamped
// (silu.go): Z1 clamped to [lo, hi], n = floor(y*log2(e) + 1/2), r = y -
// n*ln2 in two parts, the polynomial by fused multiply-adds, and 2**n applied
// by VSCALEFPS. Takes the constants broadcast from silucon (silu_amd64.s):
// Z17/Z18 = clamp low/high, Z19 = log2(e), Z20 = 1/2, Z21/Z22 = ln2
// high/low, Z23-Z28 = the polynomial's coefficients, Z29 = 1; clobbers
// Z1-Z5.
#define EXP16 \
	VMAXPS       Z17, Z1, Z1;  /* clamp to [lo, hi] */                    \
	VMINPS       Z18, Z1, Z1;                                             \
	VMOVAPS      Z1, Z2;                                                  \
	VFMADD213PS  Z20, Z19, Z2; /* y*log2e + 1/2 */                        \
	VRNDSCALEPS  $9, Z2, Z2;   /* n = floor (no precision exception) */  \
	VMOVAPS      Z1, Z3;                                                  \
	VFNMADD231PS Z21, Z2, Z3;  /* r = y - n*ln2hi */                      \
	VFNMADD231PS Z22, Z2, Z3;  /* r -= n*ln2lo */                         \
	VMOVAPS      Z23, Z4;                                                 \
	VFMADD213PS  Z24, Z3, Z4;  /* Horner: p = c0*r + c1, ... */           \
	VFMADD213PS  Z25, Z3, Z4;                                             \
	VFMADD213PS  Z26, Z3, Z4;                                             \
	VFMADD213PS  Z27, Z3, Z4;                                             \
	VFMADD213PS  Z28, Z3, Z4;                                             \
	VMULPS       Z3, Z3, Z5;   /* r*r */                                  \
	VFMADD213PS  Z3, Z5, Z4;   /* p*r*r + r */                            \
	VADDPS       Z29, Z4, Z4;  /* + 1 */                                  \
	VSCALEFPS    Z2, Z4, Z4    /* * 2**n = e**y */

// SILU16: Z0 = silu(Z0) = x / (1 + e**-x) on 16 floats through EXP16, with
// its constants and Z16 = the sign bit; clobbers Z1-Z5.
#define SILU16 \
	VXORPS       Z16, Z0, Z1;  /* y = -x */                               \
	EXP16;                                                                \
	VADDPS       Z29, Z4, Z4;  /* 1 + e**-x */                            \
	VDIVPS       Z4, Z0, Z0    /* x / (1 + e**-x) */
