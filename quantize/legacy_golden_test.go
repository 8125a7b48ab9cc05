package quantize

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// legacyGolden is testdata/legacy_golden.json: the bytes that ggml's own C
// quantizers (ggml-quants.c quantize_q4_0 ... quantize_iq4_nl with and
// without an importance row, quantize_row_q8_K_ref, GGML_FP32_TO_FP16 and
// GGML_FP32_TO_BF16) produced for fixed 256-element rows, compiled with gcc
// -O2 on x86-64. Floats are stored as their IEEE bit patterns.
type legacyGolden struct {
	N      int                 `json:"n"`
	Inputs map[string][]uint32 `json:"inputs"`
	Imp    []uint32            `json:"imp"`
	Cases  []struct {
		Type  string `json:"type"`
		Input string `json:"input"`
		Imp   bool   `json:"imp"`
		Bytes string `json:"bytes"`
	} `json:"cases"`
}

func loadLegacyGolden(tb testing.TB) *legacyGolden {
	tb.Helper()
	b, err := os.ReadFile("testdata/legacy_golden.json")
	if err != nil {
		tb.Fatal(err)
	}
	var g legacyGolden
	if err := json.Unmarshal(b, &g); err != nil {
		tb.Fatal(err)
	}
	return &g
}

func bitsToFloats(u []uint32) []float32 {
	f := make([]float32, len(u))
	for i, v := range u {
		f[i] = math.Float32frombits(v)
	}
	return f
}

func dtypeByName(tb testing.TB, name string) format.DType {
	tb.Helper()
	for t := format.DType(0); t < format.NumDTypes; t++ {
		if t.Valid() && t.String() == name {
			return t
		}
	}
	tb.Fatalf("unknown type %q", name)
	return 0
}

// TestLegacyGolden checks every encoder byte for byte against ggml's C.
func TestLegacyGolden(t *testing.T) {
	g := loadLegacyGolden(t)
	imp := bitsToFloats(g.Imp)
	if len(g.Cases) < 40 {
		t.Fatalf("only %d golden cases", len(g.Cases))
	}
	for _, c := range g.Cases {
		typ := dtypeByName(t, c.Type)
		x := bitsToFloats(g.Inputs[c.Input])
		if len(x) != g.N {
			t.Fatalf("input %s has %d values", c.Input, len(x))
		}
		want, err := hex.DecodeString(c.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		var w []float32
		if c.Imp {
			w = imp
		}
		got := make([]byte, len(want))
		if err := EncodeRow(typ, got, x, w); err != nil {
			t.Fatalf("%s/%s: %v", c.Type, c.Input, err)
		}
		if string(got) != string(want) {
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s/%s imp=%v: first difference at byte %d: got %#02x want %#02x", c.Type, c.Input, c.Imp, i, got[i], want[i])
					break
				}
			}
		}
	}
}
