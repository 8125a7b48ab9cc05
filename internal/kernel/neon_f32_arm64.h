// Float32 vector instructions of the NEON float kernels (gemm_arm64.s,
// silu_arm64.s) that the Go assembler has no mnemonics for, encoded with
// WORD from register numbers (d, n, m; every operand is a full 128-bit
// register of four float32 lanes, .4S).

// FMLA Vd.4S, Vn.4S, Vm.S[i]: Vd += Vn * lane i of Vm (fused).
#define FMLAE(d, n, m, i) WORD $(0x4F801000 | (((i)&1)<<21) | (((i)>>1)<<11) | ((m)<<16) | ((n)<<5) | (d))
// FADD Vd.4S, Vn.4S, Vm.4S.
#define FADD4(d, n, m) WORD $(0x4E20D400 | ((m)<<16) | ((n)<<5) | (d))
// FSUB Vd.4S, Vn.4S, Vm.4S: Vd = Vn - Vm.
#define FSUB4(d, n, m) WORD $(0x4EA0D400 | ((m)<<16) | ((n)<<5) | (d))
// FMUL Vd.4S, Vn.4S, Vm.4S.
#define FMUL4(d, n, m) WORD $(0x6E20DC00 | ((m)<<16) | ((n)<<5) | (d))
// FDIV Vd.4S, Vn.4S, Vm.4S: Vd = Vn / Vm.
#define FDIV4(d, n, m) WORD $(0x6E20FC00 | ((m)<<16) | ((n)<<5) | (d))
// FMAX and FMIN Vd.4S, Vn.4S, Vm.4S (NaN in either operand gives NaN).
#define FMAX4(d, n, m) WORD $(0x4E20F400 | ((m)<<16) | ((n)<<5) | (d))
#define FMIN4(d, n, m) WORD $(0x4EA0F400 | ((m)<<16) | ((n)<<5) | (d))
// FMAXNM and FMINNM Vd.4S, Vn.4S, Vm.4S (a NaN operand loses to a number).
#define FMAXNM4(d, n, m) WORD $(0x4E20C400 | ((m)<<16) | ((n)<<5) | (d))
#define FMINNM4(d, n, m) WORD $(0x4EA0C400 | ((m)<<16) | ((n)<<5) | (d))
// FMLA Vd.4S, Vn.4S, Vm.4S: Vd += Vn * Vm (fused).
#define FMLA4(d, n, m) WORD $(0x4E20CC00 | ((m)<<16) | ((n)<<5) | (d))
// FNEG Vd.4S, Vn.4S.
#define FNEG4(d, n) WORD $(0x6EA0F800 | ((n)<<5) | (d))
// FRINTM Vd.4S, Vn.4S: round toward minus infinity (floor).
#define FRINTM4(d, n) WORD $(0x4E219800 | ((n)<<5) | (d))
// FCVTZS Vd.4S, Vn.4S: float32 to int32, toward zero.
#define FCVTZS4(d, n) WORD $(0x4EA1B800 | ((n)<<5) | (d))
// FADDP Vd.4S, Vn.4S, Vm.4S: pairwise sums (n's pairs, then m's).
#define FADDP4(d, n, m) WORD $(0x6E20D400 | ((m)<<16) | ((n)<<5) | (d))
// FMLS Vd.4S, Vn.4S, Vm.4S: Vd -= Vn * Vm (fused).
#define FMLS4(d, n, m) WORD $(0x4EA0CC00 | ((m)<<16) | ((n)<<5) | (d))
