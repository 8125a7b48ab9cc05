package quantize

import (
	"encoding/hex"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// testdata/iq_golden.json holds, in kquant_golden.json's layout, the bytes
// ggml's quantize_iq4_xs .. quantize_iq1_m (through ggml_quantize_chunk, one
// row at a time, ggml-base built without FMA contraction) produced for
// kqGoldenInput's rows, with and without its importance vector, the FNV-1a
// hash of ggml's dequantize_row_* of those bytes, and the hashes of its
// encodings of kqGoldenBigInput. Types for which ggml requires an importance
// matrix have no "ref" entries. Only the resulting bytes are committed.

// iqTypes are the i-quant types whose encoders shrink implements.
var iqTypes = []format.DType{format.IQ4_XS, format.IQ3_XXS, format.IQ3_S, format.IQ2_XXS, format.IQ2_XS, format.IQ2_S, format.IQ1_S, format.IQ1_M}

func TestIQuantGolden(t *testing.T) {
	golden := readGolden(t, "testdata/iq_golden.json")
	x, imp := kqGoldenInput()
	bx, bimp := kqGoldenBigInput()
	for _, typ := range iqTypes {
		t.Run(typ.String(), func(t *testing.T) {
			g, ok := golden[typ.String()]
			if !ok {
				t.Fatalf("no golden entry for %s", typ)
			}
			c, ok := CodecFor(typ)
			if !ok {
				t.Fatalf("no codec for %s", typ)
			}
			modes := []iqGoldenMode{{"imp", g.Imp, g.ImpDecodedFNV, g.BigImpFNV, imp, bimp}}
			if !RequiresImatrix(typ) {
				modes = append(modes, iqGoldenMode{"ref", g.Ref, g.RefDecodedFNV, g.BigRefFNV, nil, nil})
			} else if g.Ref != "" {
				t.Errorf("ggml encoded %s without importances; RequiresImatrix says it cannot", typ)
			}
			for _, m := range modes {
				iqCheckGolden(t, c, m, x, bx)
			}
		})
	}
}

type iqGoldenMode struct {
	name, want, wantFNV, bigFNV string
	imp, bigImp                 []float32
}

func iqCheckGolden(t *testing.T, c Codec, m iqGoldenMode, x, bx []float32) {
	typ := c.Type()
	rowBytes := kqGoldenN / kqSuper * typ.BlockBytes()
	want, err := hex.DecodeString(m.want)
	if err != nil || len(want) != kqGoldenRows*rowBytes {
		t.Fatalf("%s: bad golden bytes (%d, %v)", m.name, len(want), err)
	}
	got := make([]byte, len(want))
	for i := range got {
		got[i] = 0xAA // stale bytes must all be overwritten
	}
	for r := 0; r < kqGoldenRows; r++ {
		c.Encode(got[r*rowBytes:(r+1)*rowBytes], x[r*kqGoldenN:(r+1)*kqGoldenN], m.imp)
	}
	bb := typ.BlockBytes()
	for o := 0; o < len(got); o += bb {
		if string(got[o:o+bb]) != string(want[o:o+bb]) {
			t.Errorf("%s: row %d block %d differs from ggml:\n got  %x\n want %x", m.name, o/rowBytes, o%rowBytes/bb, got[o:o+bb], want[o:o+bb])
		}
	}
	y := make([]float32, kqGoldenRows*kqGoldenN)
	c.Decode(y, want)
	if h := kqFNV(y); h != m.wantFNV {
		t.Errorf("%s: decoding ggml's bytes: hash %s, ggml's dequantize_row gives %s", m.name, h, m.wantFNV)
	}
	bigRow := kqBigN / kqSuper * bb
	big := make([]byte, kqBigRows*bigRow)
	for r := 0; r < kqBigRows; r++ {
		c.Encode(big[r*bigRow:(r+1)*bigRow], bx[r*kqBigN:(r+1)*kqBigN], m.bigImp)
	}
	if h := kqFNVBytes(big); h != m.bigFNV {
		t.Errorf("big %s: encoding hash %s, ggml's bytes hash to %s", m.name, h, m.bigFNV)
	}
}
