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
