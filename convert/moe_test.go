package convert_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/quantize"
)

// moeSpec is a random mixture-of-experts Hugging Face checkpoint.
type moeSpec struct {
	kind                   string // "mixtral", "qwen2moe", "qwen3moe"
	dim, layers, heads, kv int
	experts, used, effn    int
	sharedFFN              int // qwen2moe shared expert width
	vocab                  int
}

// writeMoEHF writes a random Hugging Face MoE folder of spec s and returns
// every tensor's raw F32 bytes by HF name.
func writeMoEHF(t *testing.T, dir string, s moeSpec) map[string][]byte {
	t.Helper()
	hd := s.dim / s.heads
	cfg := map[string]any{
		"hidden_size": s.dim, "num_attention_heads": s.heads, "num_key_value_heads": s.kv,
		"num_hidden_layers": s.layers, "vocab_size": s.vocab, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
		"max_position_embeddings": 128, "num_experts_per_tok": s.used,
	}
	expert := func(l, e int, proj string) string {
		return fmt.Sprintf("model.layers.%d.mlp.experts.%d.%s_proj.weight", l, e, proj)
	}
	router := "mlp.gate.weight"
	switch s.kind {
	case "mixtral":
		cfg["architectures"], cfg["model_type"] = []string{"MixtralForCausalLM"}, "mixtral"
		cfg["intermediate_size"], cfg["num_local_experts"] = s.effn, s.experts
		w := map[string]string{"gate": "w1", "up": "w3", "down": "w2"}
		expert = func(l, e int, proj string) string {
			return fmt.Sprintf("model.layers.%d.block_sparse_moe.experts.%d.%s.weight", l, e, w[proj])
		}
		router = "block_sparse_moe.gate.weight"
	case "qwen2moe":
		cfg["architectures"], cfg["model_type"] = []string{"Qwen2MoeForCausalLM"}, "qwen2_moe"
		cfg["intermediate_size"], cfg["num_experts"], cfg["moe_intermediate_size"] = 3*s.effn, s.experts, s.effn
		cfg["shared_expert_intermediate_size"], cfg["norm_topk_prob"] = s.sharedFFN, false
	case "qwen3moe":
		cfg["architectures"], cfg["model_type"] = []string{"Qwen3MoeForCausalLM"}, "qwen3_moe"
		cfg["intermediate_size"], cfg["num_experts"], cfg["moe_intermediate_size"] = 3*s.effn, s.experts, s.effn
		cfg["head_dim"], cfg["norm_topk_prob"] = hd, true
	}
	cj, _ := json.Marshal(cfg)
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), cj, 0o644))
	spm, err := model.EncodeSentencePiece(tinyVocab(s.vocab))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "tokenizer.model"), spm, 0o644))
	d, q, kv, ef := int64(s.dim), int64(s.heads*hd), int64(s.kv*hd), int64(s.effn)
	infos := []format.TensorInfo{{Name: "model.embed_tokens.weight", Shape: []int64{d, int64(s.vocab)}}}
	add := func(name string, shape ...int64) {
		infos = append(infos, format.TensorInfo{Name: name, Type: format.F32, Shape: shape})
	}
	for l := 0; l < s.layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		add(p+"input_layernorm.weight", d)
		add(p+"self_attn.q_proj.weight", d, q)
		add(p+"self_attn.k_proj.weight", d, kv)
		add(p+"self_attn.v_proj.weight", d, kv)
		add(p+"self_attn.o_proj.weight", q, d)
		switch s.kind {
		case "qwen2moe":
			add(p+"self_attn.q_proj.bias", q)
			add(p+"self_attn.k_proj.bias", kv)
			add(p+"self_attn.v_proj.bias", kv)
			sf := int64(s.sharedFFN)
			add(p+"mlp.shared_expert.gate_proj.weight", d, sf)
			add(p+"mlp.shared_expert.up_proj.weight", d, sf)
			add(p+"mlp.shared_expert.down_proj.weight", sf, d)
			add(p+"mlp.shared_expert_gate.weight", d, 1)
		case "qwen3moe":
			add(p+"self_attn.q_norm.weight", int64(hd))
			add(p+"self_attn.k_norm.weight", int64(hd))
		}
		add(p+"post_attention_layernorm.weight", d)
		add(p+router, d, int64(s.experts))
		for e := s.experts - 1; e >= 0; e-- { // any order: the converter stacks by index
			add(expert(l, e, "gate"), d, ef)
			add(expert(l, e, "up"), d, ef)
			add(expert(l, e, "down"), ef, d)
		}
	}
	add("model.norm.weight", d)
	add("lm_head.weight", d, int64(s.vocab))
	infos[0].Type = format.F32
	return writeRandomSafetensors(t, dir, infos, rand.New(rand.NewPCG(3, 9)), 1)
}

// TestMoEToGGUF converts random Mixtral, Qwen2-MoE and Qwen3-MoE folders
// and checks the llama.cpp layout: architecture and expert keys, experts
// stacked in index order into 3-D tensors, routers and the shared-expert
// gate in F32, Q/K rows reordered only for Mixtral's llama architecture,
// and the configuration read back from the GGUF file equal to the one
// read from config.json.
func TestMoEToGGUF(t *testing.T) {
	for _, s := range []moeSpec{
		{kind: "mixtral", dim: 32, layers: 2, heads: 4, kv: 2, experts: 4, used: 2, effn: 48, vocab: 300},
		{kind: "qwen2moe", dim: 32, layers: 2, heads: 4, kv: 2, experts: 6, used: 3, effn: 16, sharedFFN: 40, vocab: 300},
		{kind: "qwen3moe", dim: 32, layers: 2, heads: 4, kv: 2, experts: 5, used: 2, effn: 24, vocab: 300},
	} {
		t.Run(s.kind, func(t *testing.T) {
			dir := t.TempDir()
			hf := filepath.Join(dir, "hf")
			must(t, os.Mkdir(hf, 0o755))
			orig := writeMoEHF(t, hf, s)
			src, err := convert.Load(hf, convert.Options{})
			must(t, err)
			want := src.Config
			src.Close()
			g := filepath.Join(dir, "m.gguf")
			toGGUF(t, hf, g, format.F16, false)
			gf, err := gguf.Open(g)
			must(t, err)
			defer gf.Close()
			arch, _ := gf.Metadata.String("general.architecture")
			if wantArch := map[string]string{"mixtral": "llama"}[s.kind]; wantArch == "" && arch != s.kind || wantArch != "" && arch != wantArch {
				t.Fatalf("architecture %q", arch)
			}
			if v, _ := gf.Metadata.Get(arch + ".expert_count"); v.Data != uint32(s.experts) {
				t.Errorf("expert_count %v", v.Data)
			}
			if v, _ := gf.Metadata.Get(arch + ".expert_used_count"); v.Data != uint32(s.used) {
				t.Errorf("expert_used_count %v", v.Data)
			}
			_, hasEFFN := gf.Metadata.Get(arch + ".expert_feed_forward_length")
			if hasEFFN != (s.kind != "mixtral") {
				t.Errorf("expert_feed_forward_length present %v", hasEFFN)
			}
			infos := map[string]format.TensorInfo{}
			for _, ti := range gf.Tensors() {
				infos[ti.Name] = ti
			}
			if ti := infos["blk.1.ffn_down_exps.weight"]; !slices.Equal(ti.Shape, []int64{int64(s.effn), int64(s.dim), int64(s.experts)}) || ti.Type != format.F16 {
				t.Errorf("ffn_down_exps %v %s", ti.Shape, ti.Type)
			}
			if ti := infos["blk.0.ffn_gate_inp.weight"]; ti.Type != format.F32 {
				t.Errorf("router type %s, want F32", ti.Type)
			}
			if s.kind == "qwen2moe" {
				if ti := infos["blk.0.ffn_gate_inp_shexp.weight"]; ti.Type != format.F32 || ti.Shape[0] != int64(s.dim) {
					t.Errorf("shared gate %v %s", ti.Shape, ti.Type)
				}
			}
			// Experts stacked in index order, exactly (F32 source, F32 copy).
			f32 := filepath.Join(dir, "f32.gguf")
			toGGUF(t, hf, f32, format.F32, false)
			ff, err := gguf.Open(f32)
			must(t, err)
			defer ff.Close()
			raw := readAll(t, ff)
			for _, c := range []struct{ gguf, hf string }{
				{"ffn_gate_exps", "gate"}, {"ffn_up_exps", "up"}, {"ffn_down_exps", "down"},
			} {
				var stacked []byte
				for e := 0; e < s.experts; e++ {
					stacked = append(stacked, orig[expertName(s.kind, 1, e, c.hf)]...)
				}
				if !bytes.Equal(raw["blk.1."+c.gguf+".weight"], stacked) {
					t.Errorf("%s is not the experts stacked in order", c.gguf)
				}
			}
			qSame := bytes.Equal(raw["blk.0.attn_q.weight"], orig["model.layers.0.self_attn.q_proj.weight"])
			if qSame != (s.kind != "mixtral") {
				t.Errorf("attn_q byte-equal to q_proj: %v (only llama-architecture RoPE reorders rows)", qSame)
			}
			back, err := convert.Load(g, convert.Options{})
			must(t, err)
			defer back.Close()
			if back.Config.MoE != want.MoE || back.Config.QKNorm != want.QKNorm || back.Config.Arch != want.Arch {
				t.Errorf("config from GGUF %+v, from config.json %+v", back.Config.MoE, want.MoE)
			}
		})
	}
}

func expertName(kind string, l, e int, proj string) string {
	if kind == "mixtral" {
		w := map[string]string{"gate": "w1", "up": "w3", "down": "w2"}[proj]
		return fmt.Sprintf("model.layers.%d.block_sparse_moe.experts.%d.%s.weight", l, e, w)
	}
	return fmt.Sprintf("model.layers.%d.mlp.experts.%d.%s_proj.weight", l, e, proj)
}

// TestMoEMissingExpert: a folder lacking one expert's tensor is refused
// with an error naming the stacked tensor, not a panic.
func TestMoEMissingExpert(t *testing.T) {
	dir := t.TempDir()
	s := moeSpec{kind: "mixtral", dim: 32, layers: 1, heads: 4, kv: 2, experts: 3, used: 2, effn: 32, vocab: 300}
	writeMoEHF(t, dir, s)
	cfg, err := os.ReadFile(filepath.Join(dir, "config.json"))
	must(t, err)
	// Claim one more expert than the file has.
	cfg = bytes.Replace(cfg, []byte(`"num_local_experts":3`), []byte(`"num_local_experts":4`), 1)
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644))
	_, err = convert.Load(dir, convert.Options{})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("expert 3 missing")) {
		t.Fatalf("err = %v, want expert 3 missing", err)
	}
}

// TestDevMixtralMoE converts the dev-mixtral-moe folder as llama.cpp does:
// architecture llama with expert_count 8 and expert_used_count 2, routers
// F32, the three expert projections stacked to ne {128,256,8} and
// {256,128,8}, 3 + 4x10 tensors. (llama-perplexity on this file gives
// llama.cpp's own conversion's 62.5596; see README.)
func TestDevMixtralMoE(t *testing.T) {
	src := testutil.Shared(t, "models/dev-mixtral-moe")
	g := filepath.Join(t.TempDir(), "m.gguf")
	toGGUF(t, src, g, format.F16, false)
	gf, err := gguf.Open(g)
	must(t, err)
	defer gf.Close()
	if n := len(gf.Tensors()); n != 3+4*10 {
		t.Errorf("%d tensors, want 43", n)
	}
	for _, c := range []struct {
		name  string
		typ   format.DType
		shape []int64
	}{
		{"blk.2.ffn_gate_inp.weight", format.F32, []int64{128, 8}},
		{"blk.2.ffn_gate_exps.weight", format.F16, []int64{128, 256, 8}},
		{"blk.2.ffn_up_exps.weight", format.F16, []int64{128, 256, 8}},
		{"blk.2.ffn_down_exps.weight", format.F16, []int64{256, 128, 8}},
	} {
		var got *format.TensorInfo
		for _, ti := range gf.Tensors() {
			if ti.Name == c.name {
				got = &ti
			}
		}
		if got == nil || got.Type != c.typ || !slices.Equal(got.Shape, c.shape) {
			t.Errorf("%s: %+v, want %s %v", c.name, got, c.typ, c.shape)
		}
	}
	m, err := convert.Load(g, convert.Options{})
	must(t, err)
	defer m.Close()
	e := m.Config.MoE
	if e.Experts != 8 || e.ExpertsUsed != 2 || e.ExpertFFN != 256 || !e.Norm || e.Gating != model.GatingSoftmax || e.SharedFFN != 0 {
		t.Errorf("MoE config %+v", e)
	}
}

// TestExpertImportances: a stacked expert tensor with per-expert
// importances (experts x row length, as llama-imatrix writes them) is
// quantized as llama-quantize does, each expert's rows with its own
// slice, whatever the chunking; a slice of one row length applies to
// every expert.
func TestExpertImportances(t *testing.T) {
	dir := t.TempDir()
	s := moeSpec{kind: "qwen3moe", dim: 64, layers: 1, heads: 4, kv: 2, experts: 3, used: 2, effn: 40, vocab: 300}
	orig := writeMoEHF(t, dir, s)
	m, err := convert.Load(dir, convert.Options{})
	must(t, err)
	defer m.Close()
	const name = "blk.0.ffn_up_exps.weight"
	tt, _ := m.Tensor(name)
	perExpert := make([]float32, 3*64)
	for i := range perExpert {
		perExpert[i] = float32(1 + (i*7919)%13) // differs between experts
	}
	quant := func(imp []float32, chunk int64) []byte {
		defer convert.SetQuantChunkElems(chunk)()
		plans := []convert.Plan{{Tensor: tt, Out: format.Q4_0}}
		md, err := m.GGUFMetadata(format.Q4_0)
		must(t, err)
		dst := filepath.Join(t.TempDir(), "q.gguf")
		must(t, m.WriteQuantized(dst, md, plans, convert.QuantizeOptions{Threads: 2,
			Importance: func(string) []float32 { return imp }}))
		f, err := gguf.Open(dst)
		must(t, err)
		defer f.Close()
		return readAll(t, f)[name]
	}
	got := quant(perExpert, 1000)
	if again := quant(perExpert, 1<<20); !bytes.Equal(got, again) {
		t.Error("per-expert importances: bytes depend on the chunk size")
	}
	rowBytes := 40 * 64 / 32 * 18 // Q4_0: 18 bytes per 32 values
	for e := 0; e < 3; e++ {
		x := make([]float32, 40*64)
		must(t, format.DecodeFloats(format.F32, orig[expertName(s.kind, 0, e, "up")], x))
		want := make([]byte, rowBytes)
		must(t, quantize.EncodeRows(format.Q4_0, want, x, 64, perExpert[e*64:(e+1)*64], 1))
		if !bytes.Equal(got[e*rowBytes:(e+1)*rowBytes], want) {
			t.Errorf("expert %d not quantized with its own importances", e)
		}
	}
	if shared := quant(perExpert[:64], 1000); bytes.Equal(shared, got) {
		t.Error("one importance row for all experts gave the per-expert result")
	}
}

// TestKeepExperts: narrowing each layer to some experts writes exactly
// those experts' slices of the stacked tensors and the router rows, with
// expert_count updated; bad keep lists are refused.
func TestKeepExperts(t *testing.T) {
	dir := t.TempDir()
	hf := filepath.Join(dir, "hf")
	must(t, os.Mkdir(hf, 0o755))
	s := moeSpec{kind: "mixtral", dim: 32, layers: 2, heads: 4, kv: 2, experts: 4, used: 2, effn: 32, vocab: 300}
	orig := writeMoEHF(t, hf, s)
	m, err := convert.Load(hf, convert.Options{})
	must(t, err)
	defer m.Close()
	for _, bad := range [][][]int{
		{{0, 1, 2}, {0, 1}},    // counts differ
		{{0}, {1}},             // fewer than used
		{{2, 1, 0}, {0, 1, 2}}, // not increasing
		{{0, 1, 4}, {0, 1, 2}}, // out of range
		{{0, 1, 2}},            // layers
	} {
		if err := m.KeepExperts(bad); err == nil {
			t.Errorf("keep %v accepted", bad)
		}
	}
	keep := [][]int{{0, 2, 3}, {1, 2, 3}}
	must(t, m.KeepExperts(keep))
	if m.Config.Experts != 3 {
		t.Fatalf("experts %d after keeping 3", m.Config.Experts)
	}
	plans := convert.PlanDType(m, format.F32, false)
	md, err := m.GGUFMetadata(format.F32)
	must(t, err)
	g := filepath.Join(dir, "p.gguf")
	must(t, m.WriteGGUF(g, md, plans, nil))
	gf, err := gguf.Open(g)
	must(t, err)
	defer gf.Close()
	if v, _ := gf.Metadata.Get("llama.expert_count"); v.Data != uint32(3) {
		t.Errorf("expert_count %v", v.Data)
	}
	raw := readAll(t, gf)
	for l, k := range keep {
		var want []byte
		for _, e := range k {
			want = append(want, orig[expertName(s.kind, l, e, "down")]...)
		}
		if !bytes.Equal(raw[fmt.Sprintf("blk.%d.ffn_down_exps.weight", l)], want) {
			t.Errorf("layer %d: ffn_down_exps is not experts %v", l, k)
		}
		router := orig[fmt.Sprintf("model.layers.%d.block_sparse_moe.gate.weight", l)]
		var rows []byte
		for _, e := range k {
			rows = append(rows, router[e*32*4:(e+1)*32*4]...)
		}
		if !bytes.Equal(raw[fmt.Sprintf("blk.%d.ffn_gate_inp.weight", l)], rows) {
			t.Errorf("layer %d: router rows are not experts %v", l, k)
		}
	}
	back, err := convert.Load(g, convert.Options{})
	must(t, err)
	back.Close()
}
