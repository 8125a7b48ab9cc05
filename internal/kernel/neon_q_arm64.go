//go:build !purego

package kernel

import "github.com/shrink-llm/shrink/format"

// NEON and NEONDot dot products of Q4_1, Q5_0, Q5_1 and IQ4_NL weights
// (against ActQ8 blocks) and of Q3_K and Q2_K weights (against ActQ8K
// super-blocks), in neon_q_arm64.s. Each follows its generic kernel step by
// step: the integer dot product of a block (or of each 16-element group of
// a super-block) in vector registers, then the scales applied in the same
// order as generic.go.

//go:noescape
func dotQ4_1NEON(w *byte, q *int8, d, s *float32, nb int) float32

//go:noescape
func dotQ4_1DOT(w *byte, q *int8, d, s *float32, nb int) float32

//go:noescape
func dotQ5_0NEON(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ5_0DOT(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ5_1NEON(w *byte, q *int8, d, s *float32, nb int) float32

//go:noescape
func dotQ5_1DOT(w *byte, q *int8, d, s *float32, nb int) float32

//go:noescape
func dotIQ4NLNEON(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotIQ4NLDOT(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ3_KNEON(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ3_KDOT(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ2_KNEON(w *byte, q *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotQ2_KDOT(w *byte, q *int8, d *float32, bs *int16, nb int) float32

// q8Dot wraps a kernel of a 32-element type without a minimum (blockBytes
// bytes a block) against x.Q and x.D.
func q8Dot(blockBytes int, f func(*byte, *int8, *float32, int) float32) DotFunc {
	return func(w []byte, x *Vec) float32 {
		nb := len(x.F) / 32
		if nb == 0 {
			return 0
		}
		w, q, d := w[:nb*blockBytes], x.Q[:nb*32], x.D[:nb]
		return f(&w[0], &q[0], &d[0], nb)
	}
}

// q8DotMin wraps a kernel of a 32-element type with a minimum, which also
// reads x.S.
func q8DotMin(blockBytes int, f func(*byte, *int8, *float32, *float32, int) float32) DotFunc {
	return func(w []byte, x *Vec) float32 {
		nb := len(x.F) / 32
		if nb == 0 {
			return 0
		}
		w, q, d, s := w[:nb*blockBytes], x.Q[:nb*32], x.D[:nb], x.S[:nb]
		return f(&w[0], &q[0], &d[0], &s[0], nb)
	}
}

var _ = addNEON(func(neon, dot *Impl) {
	for _, p := range []struct {
		im         *Impl
		q41, q51   func(*byte, *int8, *float32, *float32, int) float32
		q50, iq4nl func(*byte, *int8, *float32, int) float32
		q3k        func(*byte, *int8, *float32, int) float32
		q2k        func(*byte, *int8, *float32, *int16, int) float32
	}{
		{neon, dotQ4_1NEON, dotQ5_1NEON, dotQ5_0NEON, dotIQ4NLNEON, dotQ3_KNEON, dotQ2_KNEON},
		{dot, dotQ4_1DOT, dotQ5_1DOT, dotQ5_0DOT, dotIQ4NLDOT, dotQ3_KDOT, dotQ2_KDOT},
	} {
		p.im.Dot[format.Q4_1] = q8DotMin(20, p.q41)
		p.im.Dot[format.Q5_0] = q8Dot(22, p.q50)
		p.im.Dot[format.Q5_1] = q8DotMin(24, p.q51)
		p.im.Dot[format.IQ4_NL] = q8Dot(18, p.iq4nl)
		q3k, q2k := p.q3k, p.q2k
		p.im.Dot[format.Q3_K] = func(w []byte, x *Vec) float32 {
			nb := len(x.F) / 256
			if nb == 0 {
				return 0
			}
			w, q, d := w[:nb*110], x.Q[:nb*256], x.D[:nb]
			return q3k(&w[0], &q[0], &d[0], nb)
		}
		p.im.Dot[format.Q2_K] = func(w []byte, x *Vec) float32 {
			nb := len(x.F) / 256
			if nb == 0 {
				return 0
			}
			w, q, d, bs := w[:nb*84], x.Q[:nb*256], x.D[:nb], x.BSums[:nb*16]
			return q2k(&w[0], &q[0], &d[0], &bs[0], nb)
		}
	}
})
