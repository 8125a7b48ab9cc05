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
		p.im.Dot[format.Q4_1] = block32S(p.q41, 20)
		p.im.Dot[format.Q5_0] = block32(p.q50, 22)
		p.im.Dot[format.Q5_1] = block32S(p.q51, 24)
		p.im.Dot[format.IQ4_NL] = block32(p.iq4nl, 18)
		p.im.Dot[format.Q3_K] = blockKD(p.q3k, 110)
		p.im.Dot[format.Q2_K] = blockK(p.q2k, 84)
	}
})
