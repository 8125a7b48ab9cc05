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

