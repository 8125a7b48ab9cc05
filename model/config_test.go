package model

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/internal/testutil"
)

func TestConfigFromHFDevLlama(t *testing.T) {
	data, err := os.ReadFile(testutil.Shared(t, "models/dev-llama-3m/config.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ConfigFromHF(data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Arch: "llama", HFArch: "LlamaForCausalLM", Dim: 256, Layers: 4,
		Heads: []int{4, 4, 4, 4}, KVHeads: []int{2, 2, 2, 2}, FFN: []int{768, 768, 768, 768},
		HeadDim: 64, VocabSize: 2048, Context: 256, NormEps: 1e-5, RopeBase: 10000, RopeDim: 64,
		TorchDType: "float16",
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	// SOURCE.txt: 4,196,608 parameters.
	if p := c.Params(); p != 4196608 {
		t.Errorf("Params = %d, want 4196608", p)
	}
	if !c.Uniform() {
		t.Error("not uniform")
	}
}

const mistralJSON = `{
  "architectures": ["MistralForCausalLM"], "model_type": "mistral",
  "hidden_size": 5120, "intermediate_size": 14336, "num_hidden_layers": 40,
  "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
  "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "max_position_embeddings": 1024000,
  "sliding_window": null, "tie_word_embeddings": false, "vocab_size": 131072,
  "torch_dtype": "bfloat16"
}`

const qwen2JSON = `{
  "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
  "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
  "num_attention_heads": 14, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0, "max_position_embeddings": 32768, "tie_word_embeddings": true,
  "vocab_size": 151936, "torch_dtype": "bfloat16", "use_sliding_window": false
}`

const llama3JSON = `{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
  "num_attention_heads": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_theta": 500000.0, "max_position_embeddings": 131072, "tie_word_embeddings": true,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
    "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "vocab_size": 128256, "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]
}`

func TestConfigFromHFMistral(t *testing.T) {
	c, err := ConfigFromHF([]byte(mistralJSON))
	if err != nil {
		t.Fatal(err)
	}
	if c.Arch != "llama" || c.HeadDim != 128 || c.RopeDim != 128 || c.Heads[39] != 32 || c.KVHeads[0] != 8 ||
		c.FFN[0] != 14336 || c.RopeBase != 1e6 || c.Context != 1024000 || c.RopeNeox || c.QKVBias || c.TiedEmbeddings {
		t.Errorf("mistral: %+v", c)
	}
}

func TestConfigFromHFQwen2(t *testing.T) {
	c, err := ConfigFromHF([]byte(qwen2JSON))
	if err != nil {
		t.Fatal(err)
	}
	if c.Arch != "qwen2" || !c.QKVBias || !c.RopeNeox || !c.TiedEmbeddings || c.HeadDim != 64 ||
		c.KVHeads[23] != 2 || c.NormEps != 1e-6 || c.VocabSize != 151936 {
		t.Errorf("qwen2: %+v", c)
	}
	// Qwen2.5-0.5B has 494,032,768 parameters (tied).
	if p := c.Params(); p != 494032768 {
		t.Errorf("Params = %d, want 494032768", p)
	}
}

func TestConfigFromHFLlama3Scaling(t *testing.T) {
	c, err := ConfigFromHF([]byte(llama3JSON))
	if err != nil {
		t.Fatal(err)
	}
	want := RopeScaling{Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalContext: 8192}
	if c.RopeScaling == nil || *c.RopeScaling != want {
		t.Fatalf("rope scaling %+v", c.RopeScaling)
	}
	f := c.RopeFreqs()
	if len(f) != 32 {
		t.Fatalf("%d rope freqs", len(f))
	}
	// Highest frequencies are unscaled, lowest scaled by the factor, the
	// ones between blend monotonically.
	if f[0] != 1 || f[31] != 32 {
		t.Errorf("freqs[0] = %g, freqs[31] = %g", f[0], f[31])
	}
	for i := 1; i < len(f); i++ {
		if f[i] < f[i-1] {
			t.Errorf("freqs not monotonic at %d: %g < %g", i, f[i], f[i-1])
		}
	}
	// Llama 3.2 1B: 1,235,814,400 parameters.
	if p := c.Params(); p != 1235814400 {
		t.Errorf("Params = %d, want 1235814400", p)
	}
	v := &Vocab{Tokens: make([]string, 128256), BOS: -1, EOS: -1, UNK: -1, PAD: -1}
	if err := SpecialIDsFromHF([]byte(llama3JSON), v); err != nil {
		t.Fatal(err)
	}
	if v.BOS != 128000 || v.EOS != 128001 || v.PAD != -1 {
		t.Errorf("special ids bos %d eos %d pad %d", v.BOS, v.EOS, v.PAD)
	}
}

func TestConfigFromHFErrors(t *testing.T) {
	_, err := ConfigFromHF([]byte(`{"architectures": ["GPT2LMHeadModel"], "hidden_size": 768}`))
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "GPT2LMHeadModel") {
		t.Errorf("unknown architecture: %v", err)
	}
	_, err = ConfigFromHF([]byte(`{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
		"num_attention_heads": 4, "vocab_size": 10}`))
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "intermediate_size") {
		t.Errorf("missing key: %v", err)
	}
	_, err = ConfigFromHF([]byte(`{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
		"intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 3, "vocab_size": 10}`))
	if !errors.Is(err, ErrConfig) {
		t.Errorf("heads not a multiple of kv heads: %v", err)
	}
	_, err = ConfigFromHF([]byte(`{"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2000000000,
		"intermediate_size": 128, "num_attention_heads": 4, "vocab_size": 10}`))
	if !errors.Is(err, ErrConfig) {
		t.Errorf("huge layer count: %v", err)
	}
	if _, err := ConfigFromHF([]byte(`[`)); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestHFConfigJSONRoundTrip(t *testing.T) {
	for _, src := range []string{mistralJSON, qwen2JSON, llama3JSON} {
		c, err := ConfigFromHF([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.HFConfigJSON()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		if m["rms_norm_eps"] != float64(jsonFloatValue(c.NormEps)) {
			t.Errorf("rms_norm_eps %v", m["rms_norm_eps"])
		}
		d, err := ConfigFromHF(out)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !reflect.DeepEqual(c, d) {
			t.Errorf("round trip:\n%+v\n%+v\n%s", c, d, out)
		}
	}
	c, _ := ConfigFromHF([]byte(qwen2JSON))
	c.FFN[3] = 100
	if _, err := c.HFConfigJSON(); !errors.Is(err, ErrUnsupported) {
		t.Errorf("non-uniform config: %v", err)
	}
}

func jsonFloatValue(f float32) float64 {
	var x float64
	json.Unmarshal([]byte(jsonFloat(f)), &x)
	return x
}

func TestGGUFConfigRoundTrip(t *testing.T) {
	uniform, err := ConfigFromHF([]byte(mistralJSON))
	if err != nil {
		t.Fatal(err)
	}
	uniform.RopeScaling = &RopeScaling{Type: "linear", Factor: 4, OriginalContext: 4096}
	pruned, err := ConfigFromHF([]byte(qwen2JSON))
	if err != nil {
		t.Fatal(err)
	}
	pruned.Name = "pruned"
	pruned.Layers = 3
	pruned.Heads = []int{14, 7, 12}
	pruned.KVHeads = []int{2, 1, 2}
	pruned.FFN = []int{4864, 1000, 2000}
	pruned.TiedEmbeddings = false
	for _, c := range []*Config{uniform, pruned} {
		var md gguf.Metadata
		c.SetGGUF(&md)
		d, err := ConfigFromGGUF(&md)
		if err != nil {
			t.Fatal(err)
		}
		want := c.Clone()
		want.HFArch, want.TorchDType = "", ""
		if !reflect.DeepEqual(d, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", d, want)
		}
	}
	// Types llama.cpp insists on.
	var md gguf.Metadata
	pruned.SetGGUF(&md)
	check := func(key string, typ, elem gguf.ValueType) {
		t.Helper()
		v, ok := md.Get(key)
		if !ok || v.Type != typ || v.Elem != elem {
			t.Errorf("%s: %+v, want type %v elem %v", key, v, typ, elem)
		}
	}
	check("qwen2.block_count", gguf.TypeUint32, 0)
	check("qwen2.embedding_length", gguf.TypeUint32, 0)
	check("qwen2.attention.head_count", gguf.TypeArray, gguf.TypeInt32)
	check("qwen2.attention.head_count_kv", gguf.TypeArray, gguf.TypeInt32)
	check("qwen2.feed_forward_length", gguf.TypeArray, gguf.TypeInt32)
	check("qwen2.rope.freq_base", gguf.TypeFloat32, 0)
	check("qwen2.attention.layer_norm_rms_epsilon", gguf.TypeFloat32, 0)
	check("qwen2.rope.dimension_count", gguf.TypeUint32, 0)
	check("qwen2.context_length", gguf.TypeUint32, 0)
	check("qwen2.vocab_size", gguf.TypeUint32, 0)
	md = gguf.Metadata{}
	uniform.SetGGUF(&md)
	check("llama.attention.head_count", gguf.TypeUint32, 0)
	check("llama.rope.scaling.type", gguf.TypeString, 0)
	check("llama.rope.scaling.factor", gguf.TypeFloat32, 0)
	check("llama.rope.scaling.original_context_length", gguf.TypeUint32, 0)
}

func TestConfigFromGGUFErrors(t *testing.T) {
	c, _ := ConfigFromHF([]byte(mistralJSON))
	for _, key := range []string{"llama.embedding_length", "llama.block_count", "llama.context_length",
		"llama.feed_forward_length", "llama.attention.head_count", "llama.attention.layer_norm_rms_epsilon"} {
		var md gguf.Metadata
		c.SetGGUF(&md)
		md.Delete(key)
		_, err := ConfigFromGGUF(&md)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("without %s: %v", key, err)
		}
	}
	var md gguf.Metadata
	c.SetGGUF(&md)
	md.Set("llama.attention.head_count", gguf.Int32s([]int32{32, 32}))
	if _, err := ConfigFromGGUF(&md); err == nil {
		t.Error("per-layer array of the wrong length accepted")
	}
	md.Set("general.architecture", gguf.String("gpt2"))
	if _, err := ConfigFromGGUF(&md); !errors.Is(err, ErrUnsupported) {
		t.Errorf("gpt2: %v", err)
	}
	// Defaults: head_count_kv = head_count, freq_base 10000, vocab from tokens.
	md = gguf.Metadata{}
	c.SetGGUF(&md)
	for _, k := range []string{"llama.attention.head_count_kv", "llama.rope.freq_base", "llama.vocab_size",
		"llama.rope.dimension_count", "llama.rope.scaling.type"} {
		md.Delete(k)
	}
	md.Set("tokenizer.ggml.tokens", gguf.Strings([]string{"a", "b", "c"}))
	d, err := ConfigFromGGUF(&md)
	if err != nil {
		t.Fatal(err)
	}
	if d.KVHeads[0] != 32 || d.RopeBase != 10000 || d.VocabSize != 3 || d.RopeDim != 128 {
		t.Errorf("defaults: %+v", d)
	}
}

func TestConfigFromLlama2c(t *testing.T) {
	// stories260K: dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads, vocab 512, seq 512.
	c := ConfigFromLlama2c(64, 172, 5, 8, 4, 512, 512)
	c.TiedEmbeddings = true
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.HeadDim != 8 || c.RopeDim != 8 || c.NormEps != 1e-5 || c.RopeBase != 10000 || c.KVDim(4) != 32 {
		t.Errorf("%+v", c)
	}
	// 512*64 + 64 + 5*(2*64 + 64*64 + 2*64*32 + 64*64 + 3*64*172)
	if p, want := c.Params(), int64(512*64+64+5*(2*64+64*64+2*64*32+64*64+3*64*172)); p != want {
		t.Errorf("Params = %d, want %d", p, want)
	}
	if err := ConfigFromLlama2c(64, 172, 5, 8, 3, 512, 512).Validate(); err == nil {
		t.Error("8 heads over 3 kv heads accepted")
	}
	if err := ConfigFromLlama2c(0, 0, -1, 0, 0, 0, 0).Validate(); err == nil {
		t.Error("zero config accepted")
	}
	bad := ConfigFromLlama2c(64, 172, 5, 8, 4, 512, 512)
	bad.RopeDim = 4
	if err := bad.Validate(); err == nil {
		t.Error("llama with rope dim < head dim accepted")
	}
	bad.RopeDim = 8
	bad.NormEps = float32(math.NaN())
	if err := bad.Validate(); err == nil {
		t.Error("NaN eps accepted")
	}
}
