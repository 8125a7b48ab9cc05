// Package quantize implements GGML's block quantization formats (encode and
// decode, byte for byte as ggml lays them out: the legacy 32-element types,
// the K-quants and the i-quants IQ4_NL, IQ4_XS, IQ3_XXS, IQ3_S, IQ2_XXS,
// IQ2_XS, IQ2_S, IQ1_S and IQ1_M), the quantization methods that choose the codes (ggml's
// reference scale searches, importance-weighted variants driven by an
// importance matrix, GPTQ on a layer's input Hessian), llama-quantize's
// presets and per-tensor type policy, and a solver that picks each tensor's
// type for a size or bits-per-weight budget.
//
// Block layouts and reference algorithms follow ggml's ggml-common.h and
// ggml-quants.c, as summarised in shrink's spec (gguf-and-ggml-blocks.md §2).
package quantize

import (
	"fmt"

	"github.com/shrink-llm/shrink/format"
)

// Codec converts rows between float32 and one storage type.
type Codec interface {
	// Type returns the storage type.
	Type() format.DType
	// Encode quantizes src into dst. len(src) is a multiple of the block
	// size and dst holds exactly the row's bytes. imp, when not nil, has
	// len(src) non-negative importances (an importance-matrix row): the
	// encoder then minimises the importance-weighted squared error, as
	// ggml's *_impl quantizers do.
	Encode(dst []byte, src, imp []float32)
	// Decode dequantizes src into dst (len(dst) a multiple of the block
	// size, src exactly its bytes), as ggml's dequantize_row_* does.
	Decode(dst []float32, src []byte)
}

var codecs [format.NumDTypes]Codec

// register adds c to the table; called from init functions.
func register(c Codec) {
	t := c.Type()
	if codecs[t] != nil {
		panic(fmt.Sprintf("quantize: codec for %s registered twice", t))
	}
	codecs[t] = c
}

// CodecFor returns the codec of type t, if shrink implements it.
func CodecFor(t format.DType) (Codec, bool) {
	if int(t) >= len(codecs) || codecs[t] == nil {
		return nil, false
	}
	return codecs[t], true
}

// Codecs returns every implemented codec, in type id order.
func Codecs() []Codec {
	var out []Codec
	for _, c := range codecs {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}
