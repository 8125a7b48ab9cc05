//go:build !purego

package kernel

import "github.com/shrink-llm/shrink/format"

// IQ4_XS against one Q8_K activation row on AVX-512 VNNI + VBMI: the
// many-row kernel dotIQ4_XSx1VNNI is the MatVec entry of IQ4_XS and
// one-row calls of it the Dot entry (see vnni_iq4xs_amd64.s).

//go:noescape
func dotIQ4_XSx1VNNI(w *byte, q *int8, d *float32, bs *int16, nb, rows, rowBytes int, out *float32)

var _ = addVNNI(func(im *Impl) {
	im.MatVec[format.IQ4_XS] = matVecK(im, format.IQ4_XS, dotIQ4_XSx1VNNI)
	im.Dot[format.IQ4_XS] = dotK(dotIQ4_XSx1VNNI, 136)
})
