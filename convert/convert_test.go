package convert_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/format/llama2c"
	"github.com/shrink-llm/shrink/format/safetensors"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/model"
)

// tinyVocab is a small SentencePiece-style vocabulary of n tokens.
func tinyVocab(n int) *model.Vocab {
	v := &model.Vocab{Model: "llama", BOS: 1, EOS: 2, UNK: 0, PAD: -1, AddBOS: true, AddSpacePrefix: true}
	add := func(p string, s float32, t int32) {
		v.Tokens = append(v.Tokens, p)
		v.Scores = append(v.Scores, s)
		v.Types = append(v.Types, t)
	}
	add("<unk>", 0, model.TokenUnknown)
	add("<s>", 0, model.TokenControl)
	add("</s>", 0, model.TokenControl)
	for b := 0; b < 256 && len(v.Tokens) < n; b++ {
		add(fmt.Sprintf("<0x%02X>", b), 0, model.TokenByte)
	}
	for i := 0; len(v.Tokens) < n; i++ {
		add(fmt.Sprintf("▁w%d", i), -float32(i), model.TokenNormal)
	}
	return v
}

type hfSpec struct {
	dim, layers, heads, kvHeads, ffn, vocab int
	dtype                                   format.DType
	tied                                    bool
	qwen2                                   bool           // Qwen2ForCausalLM: q/k/v biases, no Q/K reordering
	extra                                   map[string]any // more config.json keys
}

// writeHF writes a random Hugging Face llama folder and returns the raw
// bytes of every tensor by HF name.
func writeHF(t *testing.T, dir string, s hfSpec) map[string][]byte {
	t.Helper()
	hd := s.dim / s.heads
	cfg := map[string]any{
		"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
		"hidden_size": s.dim, "intermediate_size": s.ffn, "num_attention_heads": s.heads,
		"num_key_value_heads": s.kvHeads, "num_hidden_layers": s.layers, "vocab_size": s.vocab,
		"rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 128,
		"tie_word_embeddings": s.tied, "bos_token_id": 1, "eos_token_id": 2,
	}
	if s.qwen2 {
		cfg["architectures"], cfg["model_type"] = []string{"Qwen2ForCausalLM"}, "qwen2"
	}
	for k, v := range s.extra {
		cfg[k] = v
	}
	cj, _ := json.Marshal(cfg)
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), cj, 0o644))
	spm, err := model.EncodeSentencePiece(tinyVocab(s.vocab))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "tokenizer.model"), spm, 0o644))
	type tt struct {
		name  string
		shape []int64
	}
	ts := []tt{{"model.embed_tokens.weight", []int64{int64(s.dim), int64(s.vocab)}}}
	for l := 0; l < s.layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		d, q, kv, f := int64(s.dim), int64(s.heads*hd), int64(s.kvHeads*hd), int64(s.ffn)
		ts = append(ts,
			tt{p + "input_layernorm.weight", []int64{d}},
			tt{p + "self_attn.q_proj.weight", []int64{d, q}},
			tt{p + "self_attn.k_proj.weight", []int64{d, kv}},
			tt{p + "self_attn.v_proj.weight", []int64{d, kv}},
			tt{p + "self_attn.o_proj.weight", []int64{q, d}},
			tt{p + "self_attn.q_proj.bias", []int64{q}},
			tt{p + "self_attn.k_proj.bias", []int64{kv}},
			tt{p + "self_attn.v_proj.bias", []int64{kv}},
			tt{p + "post_attention_layernorm.weight", []int64{d}},
			tt{p + "mlp.gate_proj.weight", []int64{d, f}},
			tt{p + "mlp.up_proj.weight", []int64{d, f}},
			tt{p + "mlp.down_proj.weight", []int64{f, d}})
	}
	ts = append(ts, tt{"model.norm.weight", []int64{int64(s.dim)}})
	if !s.tied {
		ts = append(ts, tt{"lm_head.weight", []int64{int64(s.dim), int64(s.vocab)}})
	}
	var infos []format.TensorInfo
	for _, x := range ts {
		if !s.qwen2 && strings.HasSuffix(x.name, ".bias") {
			continue
		}
		infos = append(infos, format.TensorInfo{Name: x.name, Type: s.dtype, Shape: x.shape})
	}
	return writeRandomSafetensors(t, dir, infos, rand.New(rand.NewPCG(7, 7)), 1)
}

// writeRandomSafetensors writes dir/model.safetensors holding infos, each
// tensor filled in order with rng's normal values times scale, and returns
// every tensor's raw bytes by name.
func writeRandomSafetensors(t *testing.T, dir string, infos []format.TensorInfo, rng *rand.Rand, scale float64) map[string][]byte {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	must(t, err)
	defer f.Close()
	w, err := safetensors.NewWriter(f, infos, nil)
	must(t, err)
	raw := map[string][]byte{}
	for _, info := range infos {
		x := make([]float32, info.NumElements())
		for i := range x {
			x[i] = float32(rng.NormFloat64() * scale)
		}
		b := make([]byte, info.Bytes())
		must(t, format.EncodeFloats(info.Type, x, b))
		raw[info.Name] = b
		must(t, w.WriteTensor(b))
	}
	must(t, w.Close())
	return raw
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// readAll returns every tensor's raw bytes of a source, by name.
func readAll(t *testing.T, src format.Source) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, info := range src.Tensors() {
		r, err := src.TensorData(info.Name)
		must(t, err)
		b, err := io.ReadAll(r)
		must(t, err)
		out[info.Name] = b
	}
	return out
}

func toGGUF(t *testing.T, src, dst string, dtype format.DType, keep bool) {
	t.Helper()
	m, err := convert.Load(src, convert.Options{})
	must(t, err)
	defer m.Close()
	plans := convert.PlanDType(m, dtype, keep)
	md, err := m.GGUFMetadata(plans[1].Out)
	must(t, err)
	must(t, m.WriteGGUF(dst, md, plans, nil))
}

func toHF(t *testing.T, src, dst string, dtype format.DType) {
	t.Helper()
	m, err := convert.Load(src, convert.Options{})
	must(t, err)
	defer m.Close()
	must(t, m.WriteHF(dst, dtype))
}

// TestHFToGGUFToHF checks that safetensors -> GGUF -> safetensors is
// bit-exact for F32, F16 and BF16, and that GGUF holds Q/K rows in the
// adjacent-pair RoPE order.
func TestHFToGGUFToHF(t *testing.T) {
	for _, dt := range []format.DType{format.F32, format.F16, format.BF16} {
		for _, tied := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/tied=%v", dt, tied), func(t *testing.T) {
				if tied {
					// Small chunks: rows and heads split across many reads.
					defer convert.SetChunkBytes(1000)()
				}
				dir := t.TempDir()
				hf := filepath.Join(dir, "hf")
				must(t, os.Mkdir(hf, 0o755))
				s := hfSpec{dim: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96, vocab: 300, dtype: dt, tied: tied}
				orig := writeHF(t, hf, s)
				g := filepath.Join(dir, "m.gguf")
				toGGUF(t, hf, g, 0, true)

				gf, err := gguf.Open(g)
				must(t, err)
				graw := readAll(t, gf)
				for _, info := range gf.Tensors() {
					want := dt
					if len(info.Shape) == 1 {
						want = format.F32
					}
					if info.Type != want {
						t.Errorf("%s: type %s, want %s", info.Name, info.Type, want)
					}
				}
				checkPermuted(t, orig["model.layers.1.self_attn.q_proj.weight"], graw["blk.1.attn_q.weight"], s.heads, s.dim/s.heads, s.dim*dt.BlockBytes())
				checkPermuted(t, orig["model.layers.0.self_attn.k_proj.weight"], graw["blk.0.attn_k.weight"], s.kvHeads, s.dim/s.heads, s.dim*dt.BlockBytes())
				gf.Close()

				back := filepath.Join(dir, "back")
				toHF(t, g, back, dt)
				bf, err := safetensors.Open(filepath.Join(back, "model.safetensors"))
				must(t, err)
				defer bf.Close()
				braw := readAll(t, bf)
				if len(braw) != len(orig) {
					t.Fatalf("%d tensors back, want %d", len(braw), len(orig))
				}
				for name, want := range orig {
					if !bytes.Equal(braw[name], want) {
						t.Errorf("%s: bytes differ after the round trip", name)
					}
				}
				m, err := convert.Load(back, convert.Options{})
				must(t, err)
				if m.Config.TiedEmbeddings != tied || len(m.Vocab.Tokens) != 300 {
					t.Errorf("round trip lost config: tied %v, vocab %d", m.Config.TiedEmbeddings, len(m.Vocab.Tokens))
				}
				m.Close()
			})
		}
	}
}

// checkPermuted verifies GGUF row h*hd + 2i + j == HF row h*hd + j*hd/2 + i.
func checkPermuted(t *testing.T, hf, gg []byte, n, hd, rowBytes int) {
	t.Helper()
	if len(hf) != len(gg) || len(hf) != n*hd*rowBytes {
		t.Fatalf("sizes %d, %d, want %d", len(hf), len(gg), n*hd*rowBytes)
	}
	for h := 0; h < n; h++ {
		for i := 0; i < hd/2; i++ {
			for j := 0; j < 2; j++ {
				g := h*hd + 2*i + j
				s := h*hd + j*hd/2 + i
				if !bytes.Equal(gg[g*rowBytes:(g+1)*rowBytes], hf[s*rowBytes:(s+1)*rowBytes]) {
					t.Fatalf("GGUF row %d is not HF row %d", g, s)
				}
			}
		}
	}
}

// TestStories260K converts the real llama2.c checkpoint and checks every
// tensor against the source values.
func TestStories260K(t *testing.T) {
	bin := testutil.Shared(t, "models/stories260K/stories260K.bin")
	tok := testutil.Shared(t, "models/stories260K/tok512.bin")
	dir := t.TempDir()
	g := filepath.Join(dir, "s.gguf")
	m, err := convert.Load(bin, convert.Options{Tokenizer: tok})
	must(t, err)
	plans := convert.PlanDType(m, 0, true)
	md, err := m.GGUFMetadata(format.F32)
	must(t, err)
	must(t, m.WriteGGUF(g, md, plans, nil))
	m.Close()

	src, err := llama2c.Open(bin)
	must(t, err)
	defer src.Close()
	want := readAll(t, src)
	gf, err := gguf.Open(g)
	must(t, err)
	defer gf.Close()
	got := readAll(t, gf)
	if len(got) != len(want) || len(got) != 2+5*9 {
		t.Fatalf("%d tensors in GGUF, %d in source", len(got), len(want))
	}
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("%s differs from the source", name)
		}
	}
	md2 := &gf.Metadata
	for key, want := range map[string]uint32{
		"llama.embedding_length": 64, "llama.feed_forward_length": 172, "llama.block_count": 5,
		"llama.attention.head_count": 8, "llama.attention.head_count_kv": 4, "llama.rope.dimension_count": 8,
		"general.file_type": 0,
	} {
		if v, ok := md2.Uint32(key); !ok || v != want {
			t.Errorf("%s = %d (%v), want %d", key, v, ok, want)
		}
	}
	toks, _ := md2.Strings("tokenizer.ggml.tokens")
	if len(toks) != 512 || toks[1] != "<s>" || toks[3] != "<0x00>" {
		t.Errorf("tokens: %d, %q, %q", len(toks), toks[1], toks[3])
	}
	if a, _ := md2.String("general.architecture"); a != "llama" {
		t.Errorf("architecture %q", a)
	}
}

// TestDevLlama3m converts the real HF fp16 checkpoint to GGUF and back,
// checking tensors and the SentencePiece tokenizer data.
func TestDevLlama3m(t *testing.T) {
	src := testutil.Shared(t, "models/dev-llama-3m")
	dir := t.TempDir()
	g := filepath.Join(dir, "d.gguf")
	toGGUF(t, src, g, 0, true)

	gf, err := gguf.Open(g)
	must(t, err)
	defer gf.Close()
	spmData, err := os.ReadFile(filepath.Join(src, "tokenizer.model"))
	must(t, err)
	v, err := model.VocabFromSentencePiece(spmData)
	must(t, err)
	toks, _ := gf.Metadata.Strings("tokenizer.ggml.tokens")
	sv, _ := gf.Metadata.Get("tokenizer.ggml.scores")
	tv, _ := gf.Metadata.Get("tokenizer.ggml.token_type")
	scores, _ := sv.Data.([]float32)
	types, _ := tv.Data.([]int32)
	if len(toks) != 2048 || len(scores) != 2048 || len(types) != 2048 {
		t.Fatalf("tokenizer arrays: %d tokens, %d scores, %d types", len(toks), len(scores), len(types))
	}
	for i := range toks {
		if toks[i] != v.Tokens[i] || scores[i] != v.Scores[i] || types[i] != v.Types[i] {
			t.Fatalf("token %d: GGUF (%q, %g, %d), tokenizer.model (%q, %g, %d)", i, toks[i], scores[i], types[i], v.Tokens[i], v.Scores[i], v.Types[i])
		}
	}
	if n := len(gf.Tensors()); n != 3+4*9 {
		t.Errorf("%d tensors", n)
	}

	back := filepath.Join(dir, "back")
	toHF(t, g, back, format.F16)
	orig, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	must(t, err)
	defer orig.Close()
	bf, err := safetensors.Open(filepath.Join(back, "model.safetensors"))
	must(t, err)
	defer bf.Close()
	want, got := readAll(t, orig), readAll(t, bf)
	if len(got) != len(want) {
		t.Fatalf("%d tensors back, want %d", len(got), len(want))
	}
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("%s differs after HF -> GGUF -> HF", name)
		}
	}
	// The tokenizer written back parses to the same vocabulary.
	data, err := os.ReadFile(filepath.Join(back, "tokenizer.model"))
	must(t, err)
	v2, err := model.VocabFromSentencePiece(data)
	must(t, err)
	for i := range v.Tokens {
		if v.Tokens[i] != v2.Tokens[i] || v.Scores[i] != v2.Scores[i] || v.Types[i] != v2.Types[i] {
			t.Fatalf("token %d changed in the written tokenizer.model", i)
		}
	}
}

// TestWidenAndBack converts F16 and BF16 checkpoints to an F32 GGUF and back
// to their type: both steps are exact, so the bytes must come back equal,
// whatever the chunking.
func TestWidenAndBack(t *testing.T) {
	for _, dt := range []format.DType{format.F16, format.BF16} {
		for _, chunk := range []int64{8 << 20, 777} {
			t.Run(fmt.Sprintf("%s/chunk=%d", dt, chunk), func(t *testing.T) {
				defer convert.SetChunkBytes(chunk)()
				dir := t.TempDir()
				hf := filepath.Join(dir, "hf")
				must(t, os.Mkdir(hf, 0o755))
				orig := writeHF(t, hf, hfSpec{dim: 64, layers: 1, heads: 2, kvHeads: 1, ffn: 64, vocab: 280, dtype: dt})
				g := filepath.Join(dir, "wide.gguf")
				toGGUF(t, hf, g, format.F32, false)
				gf, err := gguf.Open(g)
				must(t, err)
				for _, info := range gf.Tensors() {
					if info.Type != format.F32 {
						t.Errorf("%s stored as %s", info.Name, info.Type)
					}
				}
				gf.Close()
				back := filepath.Join(dir, "back")
				toHF(t, g, back, dt)
				bf, err := safetensors.Open(filepath.Join(back, "model.safetensors"))
				must(t, err)
				defer bf.Close()
				got := readAll(t, bf)
				for name, want := range orig {
					if !bytes.Equal(got[name], want) {
						t.Errorf("%s differs after widening and narrowing", name)
					}
				}
			})
		}
	}
}

// TestQwen2 converts a Qwen2-style checkpoint (q/k/v biases, NeoX RoPE kept,
// so no row reordering) to GGUF and back.
func TestQwen2(t *testing.T) {
	dir := t.TempDir()
	hf := filepath.Join(dir, "hf")
	must(t, os.Mkdir(hf, 0o755))
	orig := writeHF(t, hf, hfSpec{dim: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 64, vocab: 300, dtype: format.BF16, qwen2: true})
	g := filepath.Join(dir, "q.gguf")
	toGGUF(t, hf, g, 0, true)
	gf, err := gguf.Open(g)
	must(t, err)
	if a, _ := gf.Metadata.String("general.architecture"); a != "qwen2" {
		t.Errorf("architecture %q", a)
	}
	graw := readAll(t, gf)
	gf.Close()
	if !bytes.Equal(graw["blk.1.attn_q.weight"], orig["model.layers.1.self_attn.q_proj.weight"]) {
		t.Error("qwen2 attn_q was reordered; NeoX-style RoPE needs the HF order")
	}
	if len(graw["blk.0.attn_k.bias"]) != 4*32 {
		t.Errorf("attn_k.bias: %d bytes, want F32 of 32", len(graw["blk.0.attn_k.bias"]))
	}
	back := filepath.Join(dir, "back")
	toHF(t, g, back, format.BF16)
	bf, err := safetensors.Open(filepath.Join(back, "model.safetensors"))
	must(t, err)
	defer bf.Close()
	got := readAll(t, bf)
	for name, want := range orig {
		if !bytes.Equal(got[name], want) {
			t.Errorf("%s differs after the round trip", name)
		}
	}
}

// TestLlama3RopeFreqs: llama3 RoPE scaling reaches GGUF as rope_freqs.weight.
func TestLlama3RopeFreqs(t *testing.T) {
	dir := t.TempDir()
	hf := filepath.Join(dir, "hf")
	must(t, os.Mkdir(hf, 0o755))
	scaling := map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
	writeHF(t, hf, hfSpec{dim: 64, layers: 1, heads: 2, kvHeads: 1, ffn: 64, vocab: 280, dtype: format.F16, extra: map[string]any{"rope_scaling": scaling, "rope_theta": 500000.0}})
	m, err := convert.Load(hf, convert.Options{})
	must(t, err)
	want := m.Config.RopeFreqs()
	m.Close()
	if len(want) != 16 {
		t.Fatalf("RopeFreqs has %d values, want 16", len(want))
	}
	g := filepath.Join(dir, "l3.gguf")
	toGGUF(t, hf, g, 0, true)
	gf, err := gguf.Open(g)
	must(t, err)
	defer gf.Close()
	raw := readAll(t, gf)["rope_freqs.weight"]
	got := make([]float32, len(raw)/4)
	must(t, format.DecodeFloats(format.F32, raw, got))
	if len(got) != len(want) {
		t.Fatalf("rope_freqs.weight has %d values", len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("freq %d: %g, want %g", i, got[i], want[i])
		}
	}
	if got[0] != 1 || got[len(got)-1] != 8 {
		t.Errorf("high frequencies should be unscaled (1) and low ones scaled by the factor (8): %v", got)
	}
}

// TestLoadExtraLayer checks that a folder whose tensors name a layer its
// config.json lacks is refused with an error naming it, not a panic.
func TestLoadExtraLayer(t *testing.T) {
	hf := t.TempDir()
	writeHF(t, hf, hfSpec{dim: 64, layers: 2, heads: 2, kvHeads: 1, ffn: 64, vocab: 280, dtype: format.F16})
	cfgPath := filepath.Join(hf, "config.json")
	b, err := os.ReadFile(cfgPath)
	must(t, err)
	b = bytes.Replace(b, []byte(`"num_hidden_layers":2`), []byte(`"num_hidden_layers":1`), 1)
	if !bytes.Contains(b, []byte(`"num_hidden_layers":1`)) {
		t.Fatalf("config.json has no num_hidden_layers 2 to edit: %s", b)
	}
	must(t, os.WriteFile(cfgPath, b, 0o644))
	m, err := convert.Load(hf, convert.Options{})
	if err == nil {
		m.Close()
		t.Fatal("a tensor of layer 1 in a one-layer model was accepted")
	}
	if !strings.Contains(err.Error(), "blk.1.") && !strings.Contains(err.Error(), "layers.1.") {
		t.Errorf("error does not name the tensor of layer 1: %v", err)
	}
}
