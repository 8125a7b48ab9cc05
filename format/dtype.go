package format

import (
	"fmt"
	"strings"
)

// DType is a tensor element type, numbered as ggml numbers its types
// (enum ggml_type in ggml.h). The number is what GGUF stores in a tensor info.
type DType uint32

// The GGML type ids. Ids 4, 5, 31-33 and 36-38 were removed from ggml and
// are not valid in files.
const (
	F32     DType = 0
	F16     DType = 1
	Q4_0    DType = 2
	Q4_1    DType = 3
	Q5_0    DType = 6
	Q5_1    DType = 7
	Q8_0    DType = 8
	Q8_1    DType = 9
	Q2_K    DType = 10
	Q3_K    DType = 11
	Q4_K    DType = 12
	Q5_K    DType = 13
	Q6_K    DType = 14
	Q8_K    DType = 15
	IQ2_XXS DType = 16
	IQ2_XS  DType = 17
	IQ3_XXS DType = 18
	IQ1_S   DType = 19
	IQ4_NL  DType = 20
	IQ3_S   DType = 21
	IQ2_S   DType = 22
	IQ4_XS  DType = 23
	I8      DType = 24
	I16     DType = 25
	I32     DType = 26
	I64     DType = 27
	F64     DType = 28
	IQ1_M   DType = 29
	BF16    DType = 30
	TQ1_0   DType = 34
	TQ2_0   DType = 35

	// NumDTypes is one past the largest type id (GGML_TYPE_COUNT).
	NumDTypes = 39
)

// Traits describes the storage of one DType: elements are stored in blocks
// of BlockSize elements taking BlockBytes bytes each.
type Traits struct {
	Name       string // ggml's spelling, e.g. "q4_K"
	BlockSize  int    // elements per block (1 for plain types)
	BlockBytes int    // bytes per block
	Quantized  bool   // true for block-quantized types
}

// traits is the one table of type facts, indexed by type id. The sizes are
// the block structs of ggml-common.h (cross-checked with GGML_QUANT_SIZES in
// gguf-py). A zero entry is a removed or unknown id.
var traits = [NumDTypes]Traits{
	F32:     {"f32", 1, 4, false},
	F16:     {"f16", 1, 2, false},
	Q4_0:    {"q4_0", 32, 18, true},
	Q4_1:    {"q4_1", 32, 20, true},
	Q5_0:    {"q5_0", 32, 22, true},
	Q5_1:    {"q5_1", 32, 24, true},
	Q8_0:    {"q8_0", 32, 34, true},
	Q8_1:    {"q8_1", 32, 36, true},
	Q2_K:    {"q2_K", 256, 84, true},
	Q3_K:    {"q3_K", 256, 110, true},
	Q4_K:    {"q4_K", 256, 144, true},
	Q5_K:    {"q5_K", 256, 176, true},
	Q6_K:    {"q6_K", 256, 210, true},
	Q8_K:    {"q8_K", 256, 292, true},
	IQ2_XXS: {"iq2_xxs", 256, 66, true},
	IQ2_XS:  {"iq2_xs", 256, 74, true},
	IQ3_XXS: {"iq3_xxs", 256, 98, true},
	IQ1_S:   {"iq1_s", 256, 50, true},
	IQ4_NL:  {"iq4_nl", 32, 18, true},
	IQ3_S:   {"iq3_s", 256, 110, true},
	IQ2_S:   {"iq2_s", 256, 82, true},
	IQ4_XS:  {"iq4_xs", 256, 136, true},
	I8:      {"i8", 1, 1, false},
	I16:     {"i16", 1, 2, false},
	I32:     {"i32", 1, 4, false},
	I64:     {"i64", 1, 8, false},
	F64:     {"f64", 1, 8, false},
	IQ1_M:   {"iq1_m", 256, 56, true},
	BF16:    {"bf16", 1, 2, false},
	TQ1_0:   {"tq1_0", 256, 54, true},
	TQ2_0:   {"tq2_0", 256, 66, true},
}

// Traits returns the storage facts of t. ok is false for ids that ggml does
// not define (removed or out of range).
func (t DType) Traits() (tr Traits, ok bool) {
	if int(t) >= len(traits) || traits[t].BlockSize == 0 {
		return Traits{}, false
	}
	return traits[t], true
}

// Valid reports whether t is a type id that ggml defines.
func (t DType) Valid() bool {
	_, ok := t.Traits()
	return ok
}

// String returns ggml's name of the type, or "type(N)" for an unknown id.
func (t DType) String() string {
	if tr, ok := t.Traits(); ok {
		return tr.Name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize returns the number of elements per block, or 0 for an unknown id.
func (t DType) BlockSize() int { tr, _ := t.Traits(); return tr.BlockSize }

// BlockBytes returns the number of bytes per block, or 0 for an unknown id.
func (t DType) BlockBytes() int { tr, _ := t.Traits(); return tr.BlockBytes }

// Quantized reports whether t is a block-quantized type.
func (t DType) Quantized() bool { tr, _ := t.Traits(); return tr.Quantized }

// BitsPerWeight returns the storage cost of one element in bits.
func (t DType) BitsPerWeight() float64 {
	tr, ok := t.Traits()
	if !ok {
		return 0
	}
	return float64(tr.BlockBytes*8) / float64(tr.BlockSize)
}

// RowBytes returns the bytes taken by n consecutive elements of type t.
// n must be a non-negative multiple of the block size.
func (t DType) RowBytes(n int64) (int64, error) {
	tr, ok := t.Traits()
	if !ok {
		return 0, fmt.Errorf("%w: %d", ErrUnknownDType, uint32(t))
	}
	if n < 0 || n%int64(tr.BlockSize) != 0 {
		return 0, fmt.Errorf("format: %d elements of %s is not a multiple of its block size %d", n, tr.Name, tr.BlockSize)
	}
	blocks := n / int64(tr.BlockSize)
	if blocks > maxInt64/int64(tr.BlockBytes) {
		return 0, ErrTooLarge
	}
	return blocks * int64(tr.BlockBytes), nil
}

// ParseDType returns the type named s (case-insensitive ggml spelling, such
// as "q4_k", "Q8_0", "bf16").
func ParseDType(s string) (DType, bool) {
	s = strings.ToLower(s)
	for id, tr := range traits {
		if tr.BlockSize != 0 && strings.ToLower(tr.Name) == s {
			return DType(id), true
		}
	}
	return 0, false
}

// DTypes returns every valid type id in increasing order.
func DTypes() []DType {
	var out []DType
	for id, tr := range traits {
		if tr.BlockSize != 0 {
			out = append(out, DType(id))
		}
	}
	return out
}

const maxInt64 = 1<<63 - 1
