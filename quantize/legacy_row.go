package quantize

import (
	"errors"
	"fmt"
	"math"

	"github.com/shrink-llm/shrink/format"
)

// Errors returned by EncodeRow, DecodeRow and CheckFinite.
var (
	// ErrUnsupported: shrink has no codec for the type.
	ErrUnsupported = errors.New("quantize: unsupported tensor type")
	// ErrLength: a row's length does not fit the type's blocks or the
	// buffers disagree.
	ErrLength = errors.New("quantize: bad row length")
	// ErrNonFinite: a value to quantize is NaN or infinite.
	ErrNonFinite = errors.New("quantize: non-finite value")
)

// rowBytes checks that n elements fill whole blocks of t and returns the
// encoded size.
func rowBytes(t format.DType, n int) (Codec, int, error) {
	c, ok := CodecFor(t)
	if !ok {
		return nil, 0, fmt.Errorf("%w: %s", ErrUnsupported, t)
	}
	tr, _ := t.Traits()
	if n%tr.BlockSize != 0 {
		return nil, 0, fmt.Errorf("%w: %d elements is not a multiple of %s's block of %d", ErrLength, n, t, tr.BlockSize)
	}
	return c, n / tr.BlockSize * tr.BlockBytes, nil
}

// EncodeRow quantizes the row src into dst as type t. dst must hold
// exactly the row's encoded bytes, and imp, when not nil, one importance per
// element. Errors (unknown type, bad lengths) are returned, never panics.
func EncodeRow(t format.DType, dst []byte, src, imp []float32) error {
	c, nb, err := rowBytes(t, len(src))
	if err != nil {
		return err
	}
	if len(dst) != nb {
		return fmt.Errorf("%w: %d %s elements need %d bytes, have %d", ErrLength, len(src), t, nb, len(dst))
	}
	if imp != nil && len(imp) != len(src) {
		return fmt.Errorf("%w: %d importances for %d elements", ErrLength, len(imp), len(src))
	}
	if imp == nil && RequiresImatrix(t) {
		return fmt.Errorf("%w: %s", ErrNeedsImatrix, t)
	}
	c.Encode(dst, src, imp)
	return nil
}

// DecodeRow dequantizes the row src of type t into dst; src must be exactly
// the encoded bytes of len(dst) elements.
func DecodeRow(t format.DType, dst []float32, src []byte) error {
	c, nb, err := rowBytes(t, len(dst))
	if err != nil {
		return err
	}
	if len(src) != nb {
		return fmt.Errorf("%w: %d %s elements need %d bytes, have %d", ErrLength, len(dst), t, nb, len(src))
	}
	c.Decode(dst, src)
	return nil
}

// CheckFinite returns an error naming the tensor and the element index of
// the first NaN or infinite value in x, or nil when all are finite.
func CheckFinite(name string, x []float32) error {
	// v-v is 0 for every finite v and NaN for NaN and infinities; the
	// fast loop only looks for such a value.
	var bad bool
	rest := x
	if n := len(x) &^ 7; useAVX2 && n > 0 {
		bad = anyNonFinite(&x[0], n)
		rest = x[n:]
	}
	for _, v := range rest {
		if v-v != 0 {
			bad = true
			break
		}
	}
	if !bad {
		return nil
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: tensor %q element %d is %v", ErrNonFinite, name, i, v)
		}
	}
	return nil
}
