//go:build !purego

package kernel

import "github.com/shrink-llm/shrink/format"

// AVX512VNNI entries of the remaining 32-element block types: IQ4_NL, Q4_1,
// Q5_0 and Q5_1 against Q8 activations, four blocks per step (see
// vnni_q32_amd64.s). Each kernel takes one activation row against rows
// consecutive weight rows rowBytes apart (nq groups of four blocks per row)
// and writes out[0:rows].

//go:noescape
func dotIQ4NLx1VNNI(w *byte, q *int8, d, s *float32, nq, rows, rowBytes int, out *float32)

//go:noescape
func dotQ4_1x1VNNI(w *byte, q *int8, d, s *float32, nq, rows, rowBytes int, out *float32)

//go:noescape
func dotQ5_0x1VNNI(w *byte, q *int8, d, s *float32, nq, rows, rowBytes int, out *float32)

//go:noescape
func dotQ5_1x1VNNI(w *byte, q *int8, d, s *float32, nq, rows, rowBytes int, out *float32)

var _ = addVNNI(func(im *Impl) {
	for _, t := range []format.DType{format.IQ4_NL, format.Q4_1, format.Q5_0, format.Q5_1} {
		im.MatVec[t] = matVec(im, t, 4, func(w *byte, x *Vec, nu, rows, rowBytes int, out *float32) {
			q32Kernel(t, w, &x.Q[0], &x.D[0], &x.S[0], nu, rows, rowBytes, out)
		})
		im.Dot[t] = q32Dot(t)
	}
})

// q32Kernel runs the many-row kernel of type t.
func q32Kernel(t format.DType, w *byte, q *int8, d, s *float32, nq, rows, rowBytes int, out *float32) {
	switch t {
	case format.IQ4_NL:
		dotIQ4NLx1VNNI(w, q, d, s, nq, rows, rowBytes, out)
	case format.Q4_1:
		dotQ4_1x1VNNI(w, q, d, s, nq, rows, rowBytes, out)
	case format.Q5_0:
		dotQ5_0x1VNNI(w, q, d, s, nq, rows, rowBytes, out)
	case format.Q5_1:
		dotQ5_1x1VNNI(w, q, d, s, nq, rows, rowBytes, out)
	default:
		panic("kernel: no VNNI kernel for " + t.String())
	}
}

// q32Tail is the AVX2 dot product of type t over nb blocks.
func q32Tail(t format.DType, w *byte, q *int8, d, s *float32, nb int) float32 {
	switch t {
	case format.IQ4_NL:
		return dotIQ4NLAVX2(w, q, d, nb)
	case format.Q4_1:
		return dotQ4_1AVX2(w, q, d, s, nb)
	case format.Q5_0:
		return dotQ5_0AVX2(w, q, d, nb)
	case format.Q5_1:
		return dotQ5_1AVX2(w, q, d, s, nb)
	}
	panic("kernel: no AVX2 kernel for " + t.String())
}

// q32Dot is the dot product of type t with the VNNI kernel (one row) over
// groups of four blocks and the AVX2 one over the rest.
func q32Dot(t format.DType) DotFunc {
	bb := t.BlockBytes()
	return func(w []byte, x *Vec) float32 {
		nb := len(x.F) / 32
		if nb == 0 {
			return 0
		}
		w, q, d, s := w[:nb*bb], x.Q[:nb*32], x.D[:nb], x.S[:nb]
		m := nb &^ 3
		var sum float32
		if m > 0 {
			q32Kernel(t, &w[0], &q[0], &d[0], &s[0], m/4, 1, 0, &sum)
		}
		if m < nb {
			sum += q32Tail(t, &w[m*bb], &q[m*32], &d[m], &s[m], nb-m)
		}
		return sum
	}
}
