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
