package quantize

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// llamaTensors lists a llama model's tensors (no data) in convert's order.
func llamaTensors(layers, dim, ffn, kvDim, vocab int, tied bool) []format.TensorInfo {
	d, f, kv, v := int64(dim), int64(ffn), int64(kvDim), int64(vocab)
	ts := []format.TensorInfo{{Name: "token_embd.weight", Type: format.F16, Shape: []int64{d, v}}}
	for l := 0; l < layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ts = append(ts,
			format.TensorInfo{Name: p + "attn_norm.weight", Type: format.F32, Shape: []int64{d}},
			format.TensorInfo{Name: p + "attn_q.weight", Type: format.F16, Shape: []int64{d, d}},
			format.TensorInfo{Name: p + "attn_k.weight", Type: format.F16, Shape: []int64{d, kv}},
			format.TensorInfo{Name: p + "attn_v.weight", Type: format.F16, Shape: []int64{d, kv}},
			format.TensorInfo{Name: p + "attn_output.weight", Type: format.F16, Shape: []int64{d, d}},
			format.TensorInfo{Name: p + "ffn_norm.weight", Type: format.F32, Shape: []int64{d}},
			format.TensorInfo{Name: p + "ffn_gate.weight", Type: format.F16, Shape: []int64{d, f}},
			format.TensorInfo{Name: p + "ffn_up.weight", Type: format.F16, Shape: []int64{d, f}},
			format.TensorInfo{Name: p + "ffn_down.weight", Type: format.F16, Shape: []int64{f, d}})
	}
	ts = append(ts, format.TensorInfo{Name: "output_norm.weight", Type: format.F32, Shape: []int64{d}})
	if !tied {
		ts = append(ts, format.TensorInfo{Name: "output.weight", Type: format.F16, Shape: []int64{d, v}})
	}
	return ts
}

func choose(t *testing.T, preset string, pure bool, ts []format.TensorInfo, mi ModelInfo) map[string]Choice {
	t.Helper()
	p, ok := LookupPreset(preset)
	if !ok {
		t.Fatalf("no preset %s", preset)
	}
	pol := Policy{Preset: p, Pure: pure}
	cs, err := pol.Choose(ts, mi)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Choice{}
	for _, c := range cs {
		out[c.Name] = c
	}
	return out
}

// moreBits32 is the spec's list of use_more_bits layers for n = 32.
var moreBits32 = map[int]bool{0: true, 1: true, 2: true, 3: true, 6: true, 9: true, 12: true, 15: true,
	18: true, 21: true, 24: true, 27: true, 28: true, 29: true, 30: true, 31: true}

func TestUseMoreBitsSpec(t *testing.T) {
	for i := 0; i < 32; i++ {
		if useMoreBits(i, 32) != moreBits32[i] {
			t.Errorf("use_more_bits(%d, 32) = %v", i, useMoreBits(i, 32))
		}
	}
	var got []int
	for i := 0; i < 12; i++ {
		if useMoreBits(i, 12) {
			got = append(got, i)
		}
	}
	if fmt.Sprint(got) != "[0 3 6 9 10 11]" {
		t.Errorf("n=12: %v", got)
	}
}

func TestPresetRules32Layers(t *testing.T) {
	ts := llamaTensors(32, 4096, 11008, 4096, 32000, false)
	mi := ModelInfo{Layers: 32, Heads: 32, KVHeads: 32}
	for _, tc := range []struct {
		preset           string
		base, up, output format.DType
		embd             format.DType
	}{
		{"q4_k_m", format.Q4_K, format.Q6_K, format.Q6_K, format.Q4_K},
		{"q5_k_m", format.Q5_K, format.Q6_K, format.Q6_K, format.Q5_K},
		{"q6_k", format.Q6_K, format.Q6_K, format.Q6_K, format.Q6_K},
		{"q8_0", format.Q8_0, format.Q8_0, format.Q8_0, format.Q8_0},
		{"q4_0", format.Q4_0, format.Q4_0, format.Q6_K, format.Q4_0},
	} {
		t.Run(tc.preset, func(t *testing.T) {
			got := choose(t, tc.preset, false, ts, mi)
			if len(got) != len(ts) {
				t.Fatalf("%d choices for %d tensors", len(got), len(ts))
			}
			want := func(name string, typ format.DType) {
				t.Helper()
				c := got[name]
				if c.Type != typ || c.Fallback {
					t.Errorf("%s: %s (fallback %v, %s), want %s", name, c.Type, c.Fallback, c.Reason, typ)
				}
			}
			want("token_embd.weight", tc.embd)
			want("output.weight", tc.output)
			want("output_norm.weight", format.F32)
			for l := 0; l < 32; l++ {
				p := fmt.Sprintf("blk.%d.", l)
				up := tc.base
				if moreBits32[l] {
					up = tc.up
				}
				want(p+"attn_v.weight", up)
				want(p+"ffn_down.weight", up)
				for _, n := range []string{"attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"} {
					want(p+n+".weight", tc.base)
				}
				want(p+"attn_norm.weight", format.F32)
				want(p+"ffn_norm.weight", format.F32)
			}
		})
	}
}

func TestPresetRulesOther(t *testing.T) {
	ts := llamaTensors(32, 4096, 11008, 1024, 32000, false)
	mi := ModelInfo{Layers: 32, Heads: 32, KVHeads: 8} // GQA 4
	q2 := choose(t, "q2_k", false, ts, mi)
	q3m := choose(t, "q3_k_m", false, ts, mi)
	q4s := choose(t, "q4_k_s", false, ts, mi)
	for l := 0; l < 32; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		if c := q2[p+"attn_v.weight"]; c.Type != format.Q4_K {
			t.Errorf("q2_k %sattn_v: %s, want q4_K (GQA 4)", p, c.Type)
		}
		if c := q2[p+"ffn_down.weight"]; c.Type != format.Q3_K {
			t.Errorf("q2_k %sffn_down: %s", p, c.Type)
		}
		if c := q2[p+"attn_output.weight"]; c.Type != format.Q3_K {
			t.Errorf("q2_k %sattn_output: %s", p, c.Type)
		}
		if c := q2[p+"attn_q.weight"]; c.Type != format.Q2_K {
			t.Errorf("q2_k %sattn_q: %s", p, c.Type)
		}
		wantV := format.Q4_K
		if l < 2 {
			wantV = format.Q5_K
		}
		wantDown := format.Q4_K
		if l < 2 {
			wantDown = format.Q5_K
		}
		if c := q3m[p+"attn_v.weight"]; c.Type != wantV {
			t.Errorf("q3_k_m %sattn_v: %s, want %s", p, c.Type, wantV)
		}
		if c := q3m[p+"ffn_down.weight"]; c.Type != wantDown {
			t.Errorf("q3_k_m %sffn_down: %s, want %s", p, c.Type, wantDown)
		}
		if c := q3m[p+"attn_output.weight"]; c.Type != format.Q4_K {
			t.Errorf("q3_k_m %sattn_output: %s", p, c.Type)
		}
		wantV, wantDown = format.Q4_K, format.Q4_K
		if l < 4 {
			wantV, wantDown = format.Q5_K, format.Q5_K
		}
		if c := q4s[p+"attn_v.weight"]; c.Type != wantV {
			t.Errorf("q4_k_s %sattn_v: %s, want %s", p, c.Type, wantV)
		}
		if c := q4s[p+"ffn_down.weight"]; c.Type != wantDown {
			t.Errorf("q4_k_s %sffn_down: %s, want %s", p, c.Type, wantDown)
		}
	}
	// --pure: no mix rules at all, output included.
	pure := choose(t, "q4_k_m", true, ts, mi)
	for _, c := range pure {
		if c.Quantize && c.Type != format.Q4_K {
			t.Errorf("pure q4_k_m: %s is %s", c.Name, c.Type)
		}
	}
	// Tied embeddings: token_embd plays the output's part.
	tied := choose(t, "q4_k_m", false, llamaTensors(4, 512, 1024, 512, 1000, true), ModelInfo{Layers: 4, Heads: 8, KVHeads: 8})
	if c := tied["token_embd.weight"]; c.Type != format.Q6_K {
		t.Errorf("tied token_embd: %s, want q6_K", c.Type)
	}
}

func TestOverrides(t *testing.T) {
	ts := llamaTensors(4, 512, 1024, 512, 1000, false)
	p, _ := LookupPreset("q4_k_m")
	o1, err := ParseOverride("ffn_down=q8_0")
	if err != nil {
		t.Fatal(err)
	}
	o2, err := ParseOverride(`blk\.[01]\.attn_q=Q5_K`)
	if err != nil {
		t.Fatal(err)
	}
	pol := Policy{Preset: p, Overrides: []Override{o1, o2},
		OutputType:         OptionalType{format.Q8_0, true},
		TokenEmbeddingType: OptionalType{format.F16, true}}
	cs, err := pol.Choose(ts, ModelInfo{Layers: 4, Heads: 8, KVHeads: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		var want format.DType
		switch {
		case strings.Contains(c.Name, "ffn_down"):
			want = format.Q8_0
		case c.Name == "blk.0.attn_q.weight" || c.Name == "blk.1.attn_q.weight":
			want = format.Q5_K
		case c.Name == "output.weight":
			want = format.Q8_0
		case c.Name == "token_embd.weight":
			want = format.F16
		default:
			continue
		}
		if c.Type != want {
			t.Errorf("%s: %s (%s), want %s", c.Name, c.Type, c.Reason, want)
		}
	}
	for _, bad := range []string{"ffn_down", "=q4_0", "x=", "ffn_down=q9_9", "ffn_down=tq1_0", "(=q4_0"} {
		if _, err := ParseOverride(bad); err == nil {
			t.Errorf("ParseOverride(%q) accepted", bad)
		}
	}
}

// TestFallback: rows of 172 (stories260K's ffn_down) get a type that fits,
// recorded as a fallback, under presets where llama.cpp aborts too.
func TestFallback(t *testing.T) {
	ts := llamaTensors(5, 64, 172, 32, 512, true)
	mi := ModelInfo{Layers: 5, Heads: 8, KVHeads: 4}
	for _, preset := range []string{"q4_k_m", "q8_0", "q4_0", "q2_k", "q6_k", "q5_k_s"} {
		got := choose(t, preset, false, ts, mi)
		for l := 0; l < 5; l++ {
			c := got[fmt.Sprintf("blk.%d.ffn_down.weight", l)]
			if !c.Fallback || c.Type.BlockSize() == 0 || 172%c.Type.BlockSize() != 0 {
				t.Errorf("%s: %s -> %s (fallback %v)", preset, c.Name, c.Type, c.Fallback)
			}
			if c.Type != format.BF16 {
				t.Errorf("%s: %s: %s, want bf16 (no 32-block type fits 172)", preset, c.Name, c.Type)
			}
		}
		// --fallback-type f16 or f32 instead.
		pl, _ := LookupPreset(preset)
		for _, last := range []format.DType{format.F16, format.F32} {
			pol := Policy{Preset: pl, LastResort: OptionalType{last, true}}
			cs, err := pol.Choose(ts, mi)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				if c.Name == "blk.3.ffn_down.weight" && c.Type != last {
					t.Errorf("%s with last resort %s: %s", preset, last, c.Type)
				}
			}
		}
		// Rows of 64 do not fit K-quants: Q4_K -> Q5_0 etc.
		c := got["blk.0.attn_q.weight"]
		if 64%c.Type.BlockSize() != 0 {
			t.Errorf("%s: attn_q: %s does not fit 64", preset, c.Type)
		}
	}
	for _, tc := range []struct {
		t, want format.DType
		ne0     int64
	}{
		{format.Q4_K, format.Q5_0, 96}, {format.Q5_K, format.Q5_1, 96}, {format.Q6_K, format.Q8_0, 96},
		{format.Q2_K, format.IQ4_NL, 96}, {format.Q3_K, format.IQ4_NL, 64}, {format.Q8_0, format.BF16, 172},
		{format.Q4_K, format.BF16, 172}, {format.Q4_K, format.Q4_K, 512},
	} {
		got, fb := Fallback(tc.t, tc.ne0, format.BF16)
		if got != tc.want || fb != (tc.t != tc.want) {
			t.Errorf("Fallback(%s, %d) = %s, %v; want %s", tc.t, tc.ne0, got, fb, tc.want)
		}
	}
}

func TestLookupPreset(t *testing.T) {
	for name, ft := range map[string]uint32{"Q4_K_M": 15, "q5_k_m": 17, "q6_k": 18, "q8_0": 7, "q4_0": 2, "f16": 1, "q3_k_s": 11, "q2_k": 10, "bf16": 32} {
		p, ok := LookupPreset(name)
		if !ok || p.FileType != ft {
			t.Errorf("%s: %+v %v, want file type %d", name, p, ok, ft)
		}
	}
	if _, ok := LookupPreset("q7_k"); ok {
		t.Error("q7_k accepted")
	}
	for _, name := range Presets() {
		p, _ := LookupPreset(name)
		if _, ok := CodecFor(p.Default); !ok {
			t.Errorf("preset %s: no codec for %s", name, p.Default)
		}
	}
	if FileTypeName(15) != "Q4_K_M" || FileTypeName(7) != "Q8_0" {
		t.Errorf("FileTypeName: %q %q", FileTypeName(15), FileTypeName(7))
	}
}
