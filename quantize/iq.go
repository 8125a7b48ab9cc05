package quantize

import (
	"errors"

	"github.com/shrink-llm/shrink/format"
)

// ErrNeedsImatrix: the type is encoded only with importances (ggml's
// quantizers for IQ2_XXS, IQ2_XS and IQ1_S assert them).
var ErrNeedsImatrix = errors.New("quantize: type needs an importance matrix (--calib or --imatrix)")

// RequiresImatrix reports whether ggml refuses to encode t without
// importances: IQ2_XXS, IQ2_XS and IQ1_S (ggml_quantize_requires_imatrix).
// llama-quantize also refuses IQ2_S and IQ1_M (the latter but for the token
// embedding and output) and Q2_K for all but the token embedding without
// an imatrix; see policy.go for that rule.
func RequiresImatrix(t format.DType) bool {
	switch t {
	case format.IQ2_XXS, format.IQ2_XS, format.IQ1_S:
		return true
	}
	return false
}

// hugeValue bounds the magnitudes the grid encoders search with: the
// squared, importance-weighted errors of larger values overflow float32
// and the searches find no point (ggml asserts there). Such values are far
// beyond what the blocks' f16 scales store (their scale is stored as
// infinity either way), so clamping them changes no representable result.
const hugeValue = 1e15

// clampHuge returns x, or when some |x[i]| exceeds hugeValue (or is NaN)
// a copy in *buf with those values clamped to ±hugeValue (NaN to 0).
func clampHuge(x []float32, buf *[]float32) []float32 {
	ok := true
	for _, v := range x {
		ok = ok && v >= -hugeValue && v <= hugeValue
	}
	if ok {
		return x
	}
	*buf = append((*buf)[:0], x...)
	for i, v := range *buf {
		switch {
		case v > hugeValue:
			(*buf)[i] = hugeValue
		case v < -hugeValue:
			(*buf)[i] = -hugeValue
		case v != v:
			(*buf)[i] = 0
		}
	}
	return *buf
}
