package quantize_test

import (
	"fmt"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/quantize"
)

// ExampleParseRuleSet chooses Q4_K_M types for one DeepSeek-V2-Lite
// layer under llama.cpp's rules and under Ollama's, which keep the
// latent-attention projections at q8_0.
func ExampleParseRuleSet() {
	ts := []format.TensorInfo{
		{Name: "blk.1.attn_kv_a_mqa.weight", Type: format.F16, Shape: []int64{2048, 576}},
		{Name: "blk.1.attn_v_b.weight", Type: format.F16, Shape: []int64{512, 128, 16}},
		{Name: "blk.1.attn_q.weight", Type: format.F16, Shape: []int64{2048, 3072}},
	}
	preset, _ := quantize.LookupPreset("q4_k_m")
	for _, name := range []string{"llama.cpp", "ollama"} {
		rules, err := quantize.ParseRuleSet(name)
		if err != nil {
			fmt.Println(err)
			return
		}
		pol := quantize.Policy{Preset: preset, Rules: rules}
		cs, err := pol.Choose(ts, quantize.ModelInfo{Layers: 27, Heads: 16, KVHeads: 16, Experts: 64})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Print(name, ":")
		for _, c := range cs {
			fmt.Print(" ", c.Type)
		}
		fmt.Println()
	}
	// Output:
	// llama.cpp: q4_K q4_K q4_K
	// ollama: q8_0 q8_0 q4_K
}
