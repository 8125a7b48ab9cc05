package model

import (
	"errors"
	"fmt"
)

// ErrPermute reports PermuteQK/UnpermuteQK arguments that do not describe
// the buffers given.
var ErrPermute = errors.New("model: bad RoPE permutation arguments")

// PermuteQK reorders the rows of a Hugging Face q_proj or k_proj weight (or
// bias) from the rotate-half RoPE layout to GGUF llama's adjacent-pair
// layout, as convert_hf_to_gguf.py's LlamaModel.permute does: the
// nHeads*headDim rows, viewed as [nHeads, 2, headDim/2], have their last
// two axes swapped. Rows are opaque runs of rowBytes bytes, so any element
// type works (rowBytes = in*2 for an F16 matrix, the element size for a
// bias). dst and src must have nHeads*headDim*rowBytes bytes each and must
// not overlap. Use nHeads = attention heads for q, key/value heads for k.
func PermuteQK(dst, src []byte, nHeads, headDim, rowBytes int) error {
	return permute(dst, src, nHeads, headDim, rowBytes, false)
}

// UnpermuteQK is the inverse of PermuteQK: it restores Hugging Face row
// order from GGUF llama order.
func UnpermuteQK(dst, src []byte, nHeads, headDim, rowBytes int) error {
	return permute(dst, src, nHeads, headDim, rowBytes, true)
}

func permute(dst, src []byte, nHeads, headDim, rowBytes int, inverse bool) error {
	if nHeads <= 0 || headDim <= 0 || headDim%2 != 0 || rowBytes <= 0 {
		return fmt.Errorf("%w: %d heads, head dim %d, %d bytes per row", ErrPermute, nHeads, headDim, rowBytes)
	}
	rows := int64(nHeads) * int64(headDim)
	if rows > int64(len(src)) || rows*int64(rowBytes) != int64(len(src)) || len(dst) != len(src) {
		return fmt.Errorf("%w: %d heads x %d rows x %d bytes, got src %d bytes, dst %d bytes", ErrPermute, nHeads, headDim, rowBytes, len(src), len(dst))
	}
	if len(src) > 0 && &dst[0] == &src[0] {
		return fmt.Errorf("%w: dst and src are the same buffer", ErrPermute)
	}
	half := headDim / 2
	for h := 0; h < nHeads; h++ {
		base := h * headDim
		for i := 0; i < 2; i++ {
			for j := 0; j < half; j++ {
				hfRow := base + i*half + j // HF: [2, half]
				gRow := base + j*2 + i     // GGUF: [half, 2]
				from, to := hfRow, gRow
				if inverse {
					from, to = gRow, hfRow
				}
				copy(dst[to*rowBytes:(to+1)*rowBytes], src[from*rowBytes:(from+1)*rowBytes])
			}
		}
	}
	return nil
}
