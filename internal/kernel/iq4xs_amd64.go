//go:build !purego

package kernel

import "github.com/shrink-llm/shrink/format"

// dotIQ4_XSAVX2 is the AVX2 dot product of nb IQ4_XS super-blocks with Q8_K
// activations (codes q, scales d), as ggml's AVX2
// ggml_vec_dot_iq4_xs_q8_K: per 32-element sub-block the nibbles are looked
// up in kvalues_iq4nl with VPSHUFB, multiplied with the codes by
// VPMADDUBSW (the weights' signs moved onto the activations with VPSIGNB)
// and the pair sums by the sub-block's scale ls-32 with VPMADDWD; each
// super-block's integer sums are converted and added times d*d8.
//
//go:noescape
func dotIQ4_XSAVX2(w *byte, q *int8, d *float32, nb int) float32

func init() { AVX2.Dot[format.IQ4_XS] = blockKD(dotIQ4_XSAVX2, 136) }
