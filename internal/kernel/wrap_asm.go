//go:build (amd64 || arm64) && !purego

package kernel

// The DotFunc wrappers of the assembly kernels, which take a row's blocks
// and the activation's codes, scales and sums as pointers and a block
// count: one wrapper per argument list, shared by every architecture.

// blockK wraps a K-quant kernel over nb super-blocks of bb bytes.
func blockK(kern func(*byte, *int8, *float32, *int16, int) float32, bb int) DotFunc {
	return func(w []byte, x *Vec) float32 {
		nb := len(x.F) / 256
		if nb == 0 {
			return 0
		}
		w, q, d, bs := w[:nb*bb], x.Q[:nb*256], x.D[:nb], x.BSums[:nb*16]
		return kern(&w[0], &q[0], &d[0], &bs[0], nb)
	}
}

// block32 wraps a kernel over nb 32-element blocks of bb bytes against
// Q8 activations (codes and scales).
func block32(kern func(*byte, *int8, *float32, int) float32, bb int) DotFunc {
	return func(w []byte, x *Vec) float32 {
		nb := len(x.F) / 32
		if nb == 0 {
			return 0
		}
		w, q, d := w[:nb*bb], x.Q[:nb*32], x.D[:nb]
		return kern(&w[0], &q[0], &d[0], nb)
	}
}

// block32S is block32 for kernels that also take the blocks' scaled code
// sums (types with a minimum).
func block32S(kern func(*byte, *int8, *float32, *float32, int) float32, bb int) DotFunc {
	return func(w []byte, x *Vec) float32 {
		nb := len(x.F) / 32
		if nb == 0 {
			return 0
		}
		w, q, d, s := w[:nb*bb], x.Q[:nb*32], x.D[:nb], x.S[:nb]
		return kern(&w[0], &q[0], &d[0], &s[0], nb)
	}
}

// blockKD is blockK for kernels that do not read the code sums.
func blockKD(kern func(*byte, *int8, *float32, int) float32, bb int) DotFunc {
	return func(w []byte, x *Vec) float32 {
		nb := len(x.F) / 256
		if nb == 0 {
			return 0
		}
		w, q, d := w[:nb*bb], x.Q[:nb*256], x.D[:nb]
		return kern(&w[0], &q[0], &d[0], nb)
	}
}
