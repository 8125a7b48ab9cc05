package quantize

import (
	"sort"
	"strings"

	"github.com/shrink-llm/shrink/format"
)

// Preset is a quantization recipe named as llama-quantize names its file
// types (llama_ftype in llama.cpp's include/llama.h): a default type for
// the quantized tensors, the general.file_type number recorded in the GGUF,
// and whether llama.cpp's per-tensor mix rules (llama_tensor_get_type in
// src/llama-quant.cpp) apply.
type Preset struct {
	Name     string       // lower-case name, e.g. "q4_k_m"
	FileType uint32       // llama_ftype, stored as general.file_type
	Default  format.DType // type of every quantized tensor before the mix rules
	// Mix is true for llama.cpp's presets, whose per-tensor rules upgrade
	// output, attn_v, ffn_down and others; false for a pure type.
	Mix bool
}

// The llama_ftype numbers (include/llama.h).
const (
	ftypeF32     = 0
	ftypeF16     = 1
	ftypeQ4_0    = 2
	ftypeQ4_1    = 3
	ftypeQ8_0    = 7
	ftypeQ5_0    = 8
	ftypeQ5_1    = 9
	ftypeQ2_K    = 10
	ftypeQ3_K_S  = 11
	ftypeQ3_K_M  = 12
	ftypeQ3_K_L  = 13
	ftypeQ4_K_S  = 14
	ftypeQ4_K_M  = 15
	ftypeQ5_K_S  = 16
	ftypeQ5_K_M  = 17
	ftypeQ6_K    = 18
	ftypeIQ2_XXS = 19
	ftypeIQ2_XS  = 20
	ftypeIQ1_S   = 24
	ftypeIQ3_XS  = 22
	ftypeIQ3_XXS = 23
	ftypeIQ2_S   = 28
	ftypeIQ2_M   = 29
	ftypeIQ4_NL  = 25
	ftypeIQ3_S   = 26
	ftypeIQ3_M   = 27
	ftypeIQ4_XS  = 30
	ftypeIQ1_M   = 31
	ftypeBF16    = 32
)

// presets are llama-quantize's file types that shrink's codecs can write.
var presets = []Preset{
	{"f32", ftypeF32, format.F32, false},
	{"f16", ftypeF16, format.F16, false},
	{"bf16", ftypeBF16, format.BF16, false},
	{"q8_0", ftypeQ8_0, format.Q8_0, true},
	{"q6_k", ftypeQ6_K, format.Q6_K, true},
	{"q5_k_m", ftypeQ5_K_M, format.Q5_K, true},
	{"q5_k_s", ftypeQ5_K_S, format.Q5_K, true},
	{"q5_1", ftypeQ5_1, format.Q5_1, true},
	{"q5_0", ftypeQ5_0, format.Q5_0, true},
	{"q4_k_m", ftypeQ4_K_M, format.Q4_K, true},
	{"q4_k_s", ftypeQ4_K_S, format.Q4_K, true},
	{"q4_1", ftypeQ4_1, format.Q4_1, true},
	{"q4_0", ftypeQ4_0, format.Q4_0, true},
	{"iq4_xs", ftypeIQ4_XS, format.IQ4_XS, true},
	{"iq4_nl", ftypeIQ4_NL, format.IQ4_NL, true},
	{"q3_k_l", ftypeQ3_K_L, format.Q3_K, true},
	{"iq3_m", ftypeIQ3_M, format.IQ3_S, true},
	{"iq3_s", ftypeIQ3_S, format.IQ3_S, true},
	{"iq3_xs", ftypeIQ3_XS, format.IQ3_S, true},
	{"iq3_xxs", ftypeIQ3_XXS, format.IQ3_XXS, true},
	{"q3_k_m", ftypeQ3_K_M, format.Q3_K, true},
	{"q3_k_s", ftypeQ3_K_S, format.Q3_K, true},
	{"q2_k", ftypeQ2_K, format.Q2_K, true},
	{"iq2_m", ftypeIQ2_M, format.IQ2_S, true},
	{"iq2_s", ftypeIQ2_S, format.IQ2_XS, true},
	{"iq2_xs", ftypeIQ2_XS, format.IQ2_XS, true},
	{"iq2_xxs", ftypeIQ2_XXS, format.IQ2_XXS, true},
	{"iq1_m", ftypeIQ1_M, format.IQ1_M, true},
	{"iq1_s", ftypeIQ1_S, format.IQ1_S, true},
	// Pure K-quant types, without a preset of their own in llama.cpp: the
	// file type is the _M preset of the same base type.
	{"q5_k", ftypeQ5_K_M, format.Q5_K, false},
	{"q4_k", ftypeQ4_K_M, format.Q4_K, false},
	{"q3_k", ftypeQ3_K_M, format.Q3_K, false},
}

// LookupPreset returns the preset or pure type called name
// (case-insensitive, e.g. "Q4_K_M", "q8_0", "q4_k", "f16").
func LookupPreset(name string) (Preset, bool) {
	name = strings.ToLower(name)
	for _, p := range presets {
		if p.Name == name {
			return p, true
		}
	}
	return Preset{}, false
}

// Presets returns every preset and pure type name shrink accepts, sorted.
func Presets() []string {
	out := make([]string, len(presets))
	for i, p := range presets {
		out[i] = p.Name
	}
	sort.Strings(out)
	return out
}

// FileTypeName returns llama.cpp's name of a llama_ftype number as
// general.file_type stores it (e.g. 15 -> "Q4_K_M"), or "" if unknown.
func FileTypeName(ft uint32) string {
	for _, p := range presets {
		if p.FileType == ft && p.Mix || (p.FileType == ft && p.Default.BlockSize() == 1) {
			return strings.ToUpper(p.Name)
		}
	}
	return ""
}
