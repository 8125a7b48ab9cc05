package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/quantize"
)

// Shape is a model shape for synthetic speed runs.
type Shape struct {
	Dim, Layers, Heads, KVHeads, FFN, Vocab int
	Arch                                    string // "llama" (default), "qwen2", "qwen2moe" or "deepseek2"
	Tied                                    bool   // output reuses token_embd
	// Mixture of experts (qwen2moe): routed experts, experts per token,
	// expert width and the width of the gated shared expert.
	Experts, ExpertsUsed, ExpertFFN, SharedFFN int
	// DeepSeek (deepseek2): latent attention sizes (QLora 0 is the lite
	// form), shared experts of ExpertFFN each and leading dense blocks.
	QLora, KVLora, Nope, Rope, VHead int
	SharedExperts, DenseLead         int
}

// Shapes are the named shapes --synthetic accepts.
var Shapes = map[string]Shape{
	"tinyllama-1.1b": {Dim: 2048, Layers: 22, Heads: 32, KVHeads: 4, FFN: 5632, Vocab: 32000, Arch: "llama"},
	"llama-7b":       {Dim: 4096, Layers: 32, Heads: 32, KVHeads: 32, FFN: 11008, Vocab: 32000, Arch: "llama"},
	"llama-3b":       {Dim: 3200, Layers: 26, Heads: 32, KVHeads: 32, FFN: 8640, Vocab: 32000, Arch: "llama"},
	"qwen2-0.5b":     {Dim: 896, Layers: 24, Heads: 14, KVHeads: 2, FFN: 4864, Vocab: 151936, Arch: "qwen2", Tied: true},
	"stories260k":    {Dim: 64, Layers: 5, Heads: 8, KVHeads: 4, FFN: 172, Vocab: 512, Arch: "llama", Tied: true},
	// Qwen1.5-MoE-A2.7B: 60 routed experts of 1408, 4 per token, a gated
	// shared expert of 5632, every layer sparse.
	"qwen1.5-moe-a2.7b": {Dim: 2048, Layers: 24, Heads: 16, KVHeads: 16, FFN: 5632, Vocab: 151936, Arch: "qwen2moe",
		Experts: 60, ExpertsUsed: 4, ExpertFFN: 1408, SharedFFN: 5632},
	// DeepSeek-V2-Lite's feed-forward shape (27 layers, 64 routed experts
	// of 1408, 6 per token, 2 shared experts = 2816) on a qwen2moe
	// grouped-query attention, since shrink does not run multi-head
	// latent attention yet; its first (dense) layer is sparse here too.
	"deepseek-v2-lite": {Dim: 2048, Layers: 27, Heads: 16, KVHeads: 16, FFN: 10944, Vocab: 102400, Arch: "qwen2moe",
		Experts: 64, ExpertsUsed: 6, ExpertFFN: 1408, SharedFFN: 2816},
	// DeepSeek-V2-Lite as it is (deepseek2): latent attention without
	// q_lora (kv_lora 512, 16 heads of 128 + 64 rope, values 128), one
	// leading dense block of 10944, then 64 routed experts of 1408, 6 per
	// token, 2 shared.
	"deepseek-v2-lite-mla": {Dim: 2048, Layers: 27, Heads: 16, KVHeads: 16, FFN: 10944, Vocab: 102400, Arch: "deepseek2",
		Experts: 64, ExpertsUsed: 6, ExpertFFN: 1408, SharedExperts: 2, DenseLead: 1,
		KVLora: 512, Nope: 128, Rope: 64, VHead: 128},
	// One DeepSeek-V3 MoE layer: q_lora 1536, kv_lora 512, 128 heads of
	// 128 + 64 rope, values 128, 256 routed experts of 2048, 8 per token,
	// 1 shared (the full model has 61 such layers, 3 of them dense).
	// Change experts, layers and vocab to fit memory.
	"deepseek-v3-layer": {Dim: 7168, Layers: 1, Heads: 128, KVHeads: 128, FFN: 18432, Vocab: 129280, Arch: "deepseek2",
		Experts: 256, ExpertsUsed: 8, ExpertFFN: 2048, SharedExperts: 1,
		QLora: 1536, KVLora: 512, Nope: 128, Rope: 64, VHead: 128},
}

// ParseShape returns a named shape or parses a custom one:
// "dim=2048,layers=22,heads=32,kv_heads=4,ffn=5632,vocab=32000" (kv_heads
// defaults to heads, ffn to dim·8/3 rounded up to 256, vocab to 32000,
// arch=llama|qwen2|qwen2moe, tied=true|false, and for qwen2moe experts,
// experts_used, expert_ffn, shared_ffn). A custom shape may start with a
// named one whose values it changes: "deepseek-v2-lite,layers=4".
func ParseShape(s string) (Shape, error) {
	if sh, ok := Shapes[strings.ToLower(s)]; ok {
		return sh, nil
	}
	sh := Shape{Arch: "llama", Vocab: 32000}
	if first, rest, ok := strings.Cut(s, ","); ok && !strings.Contains(first, "=") {
		if base, ok := Shapes[strings.ToLower(first)]; ok {
			sh, s = base, rest
		}
	}
	if !strings.Contains(s, "=") {
		names := make([]string, 0, len(Shapes))
		for n := range Shapes {
			names = append(names, n)
		}
		sort.Strings(names)
		return Shape{}, fmt.Errorf("bench: unknown shape %q (named: %s; or dim=..,layers=..,heads=..,kv_heads=..,ffn=..,vocab=..)", s, strings.Join(names, ", "))
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return Shape{}, fmt.Errorf("bench: shape item %q is not key=value", kv)
		}
		if k == "arch" {
			sh.Arch = v
			continue
		}
		if k == "tied" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Shape{}, fmt.Errorf("bench: shape item %q: %v", kv, err)
			}
			sh.Tied = b
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > 1<<20 {
			return Shape{}, fmt.Errorf("bench: shape item %q: want a positive integer", kv)
		}
		switch k {
		case "dim":
			sh.Dim = n
		case "layers":
			sh.Layers = n
		case "heads":
			sh.Heads = n
		case "kv_heads", "kv-heads", "kvheads":
			sh.KVHeads = n
		case "ffn":
			sh.FFN = n
		case "vocab":
			sh.Vocab = n
		case "experts":
			sh.Experts = n
		case "experts_used":
			sh.ExpertsUsed = n
		case "expert_ffn":
			sh.ExpertFFN = n
		case "shared_ffn":
			sh.SharedFFN = n
		case "q_lora":
			sh.QLora = n
		case "kv_lora":
			sh.KVLora = n
		case "nope":
			sh.Nope = n
		case "rope":
			sh.Rope = n
		case "v_head":
			sh.VHead = n
		case "shared_experts":
			sh.SharedExperts = n
		case "dense_lead":
			sh.DenseLead = n
		default:
			return Shape{}, fmt.Errorf("bench: unknown shape key %q", k)
		}
	}
	if sh.Dim == 0 || sh.Layers == 0 || sh.Heads == 0 {
		return Shape{}, fmt.Errorf("bench: shape %q needs dim, layers and heads", s)
	}
	if sh.KVHeads == 0 {
		sh.KVHeads = sh.Heads
	}
	if sh.FFN == 0 {
		sh.FFN = (sh.Dim*8/3 + 255) / 256 * 256
	}
	if sh.Dim%sh.Heads != 0 && sh.Arch != "deepseek2" {
		return Shape{}, fmt.Errorf("bench: dim %d is not a multiple of %d heads", sh.Dim, sh.Heads)
	}
	return sh, nil
}

// Config returns the model configuration of the shape.
func (sh Shape) Config() *model.Config {
	per := func(v int) []int {
		s := make([]int, sh.Layers)
		for i := range s {
			s[i] = v
		}
		return s
	}
	hd := sh.Dim / max(sh.Heads, 1)
	qwen := sh.Arch == "qwen2" || sh.Arch == "qwen2moe"
	c := &model.Config{
		Arch: sh.Arch, Dim: sh.Dim, Layers: sh.Layers, Heads: per(sh.Heads), KVHeads: per(sh.KVHeads), FFN: per(sh.FFN),
		HeadDim: hd, VocabSize: sh.Vocab, Context: 4096, NormEps: 1e-5, RopeBase: 10000, RopeDim: hd,
		RopeNeox: qwen, TiedEmbeddings: sh.Tied, QKVBias: qwen,
	}
	if sh.Arch == "qwen2moe" {
		c.MoE = model.MoE{Experts: sh.Experts, ExpertsUsed: sh.ExpertsUsed, ExpertFFN: sh.ExpertFFN,
			SharedFFN: sh.SharedFFN, SharedGate: sh.SharedFFN > 0, Gating: model.GatingSoftmax}
		if sh.SharedFFN > 0 {
			c.SharedExperts = 1
		}
	}
	if sh.Arch == "deepseek2" {
		sh.mlaConfig(c)
	}
	return c
}

// Params returns the parameter count of the shape.
func (sh Shape) Params() int64 { return sh.Config().Params() }

// matrixType returns t when rows of cols elements fit its blocks, else the
// fallback llama.cpp would use (Q8_0, then F16).
func matrixType(t format.DType, cols int) format.DType {
	for _, c := range []format.DType{t, format.Q8_0, format.F16} {
		if cols%c.BlockSize() == 0 {
			return c
		}
	}
	return format.F32
}

// SyntheticModel builds a model of the shape with random weights of type
// typ (matrices; 1-D tensors are F32) entirely in memory, for speed
// measurements. Matrices whose rows do not fit typ's blocks fall back to
// Q8_0 or F16. A few random rows are encoded with quantize.EncodeRow and
// tiled over each matrix, so building a 7B model takes seconds, not
// minutes; speed does not depend on the values.
func SyntheticModel(sh Shape, typ format.DType, opt engine.Options) (*engine.Model, *ModelInfo, error) {
	cfg, tensors, infos, err := syntheticTensors(sh, typ)
	if err != nil {
		return nil, nil, err
	}
	m, err := engine.NewModel(cfg, nil, tensors, opt)
	if err != nil {
		return nil, nil, err
	}
	return m, describeTensors(infos), nil
}

// WriteSyntheticGGUF writes the model SyntheticModel builds to a GGUF file
// at path, with a made-up SentencePiece vocabulary of the shape's size, so
// that llama.cpp (llama-bench) and shrink can time the same file.
func WriteSyntheticGGUF(path string, sh Shape, typ format.DType) error {
	cfg, tensors, infos, err := syntheticTensors(sh, typ)
	if err != nil {
		return err
	}
	md := &gguf.Metadata{}
	cfg.Name = "synthetic"
	cfg.SetGGUF(md)
	syntheticVocab(cfg.VocabSize).SetGGUF(md)
	if ft, ok := convert.FileType(typ); ok {
		md.Set("general.file_type", gguf.Uint32(ft))
	}
	return gguf.WriteFile(path, md, infos, func(i int, w io.Writer) error {
		_, err := w.Write(tensors[i].Data)
		return err
	})
}

// syntheticVocab is a SentencePiece-style vocabulary of n tokens: unknown,
// BOS, EOS, the 256 byte tokens and numbered words.
func syntheticVocab(n int) *model.Vocab {
	v := &model.Vocab{Model: "llama", BOS: 1, EOS: 2, UNK: 0, PAD: -1, AddBOS: true, AddSpacePrefix: true}
	add := func(p string, t int32) {
		v.Tokens = append(v.Tokens, p)
		v.Scores = append(v.Scores, -float32(len(v.Tokens)))
		v.Types = append(v.Types, t)
	}
	add("<unk>", model.TokenUnknown)
	add("<s>", model.TokenControl)
	add("</s>", model.TokenControl)
	for b := 0; b < 256 && len(v.Tokens) < n; b++ {
		add(fmt.Sprintf("<0x%02X>", b), model.TokenByte)
	}
	for i := 0; len(v.Tokens) < n; i++ {
		add(fmt.Sprintf("▁w%d", i), model.TokenNormal)
	}
	return v
}

// syntheticTensors returns the configuration and random tensors of a
// synthetic model (see SyntheticModel).
func syntheticTensors(sh Shape, typ format.DType) (*model.Config, []engine.Tensor, []format.TensorInfo, error) {
	cfg := sh.Config()
	if err := cfg.Validate(); err != nil {
		return nil, nil, nil, err
	}
	if _, ok := quantize.CodecFor(typ); !ok {
		return nil, nil, nil, fmt.Errorf("bench: no codec for type %s", typ)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var tensors []engine.Tensor
	var infos []format.TensorInfo
	add := func(name string, t format.DType, shape []int64, data []byte) {
		tensors = append(tensors, engine.Tensor{Name: name, Type: t, Shape: shape, Data: data})
		infos = append(infos, format.TensorInfo{Name: name, Type: t, Shape: shape})
	}
	mat := func(name string, cols, rows int, experts ...int) error {
		shape := []int64{int64(cols), int64(rows)}
		for _, n := range experts {
			shape = append(shape, int64(n))
			rows *= n
		}
		t := matrixType(typ, cols)
		rb, err := t.RowBytes(int64(cols))
		if err != nil {
			return err
		}
		pool := min(rows, 8)
		enc := make([]byte, int(rb)*pool)
		src := make([]float32, cols)
		var imp []float32 // unit importances for the types that need some
		if quantize.RequiresImatrix(t) {
			imp = make([]float32, cols)
			for i := range imp {
				imp[i] = 1
			}
		}
		for r := 0; r < pool; r++ {
			for i := range src {
				src[i] = float32(rng.NormFloat64() * 0.02)
			}
			if err := quantize.EncodeRow(t, enc[r*int(rb):(r+1)*int(rb)], src, imp); err != nil {
				return fmt.Errorf("bench: %s: %w", name, err)
			}
		}
		data := make([]byte, int64(rows)*rb)
		for off := 0; off < len(data); off += len(enc) {
			copy(data[off:], enc)
		}
		add(name, t, shape, data)
		return nil
	}
	vec := func(name string, n int, v float32) {
		data := make([]byte, 4*n)
		one := make([]float32, n)
		for i := range one {
			one[i] = v
		}
		format.EncodeFloats(format.F32, one, data)
		tensors = append(tensors, engine.Tensor{Name: name, Type: format.F32, Shape: []int64{int64(n)}, Data: data})
		infos = append(infos, format.TensorInfo{Name: name, Type: format.F32, Shape: []int64{int64(n)}})
	}
	D := cfg.Dim
	if err := mat("token_embd.weight", D, cfg.VocabSize); err != nil {
		return nil, nil, nil, err
	}
	if !cfg.TiedEmbeddings {
		if err := mat("output.weight", D, cfg.VocabSize); err != nil {
			return nil, nil, nil, err
		}
	}
	vec("output_norm.weight", D, 1)
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		qd, kd, F := cfg.QDim(l), cfg.KVDim(l), cfg.FFN[l]
		ms := []struct {
			n          string
			cols, rows int
		}{{"attn_q", D, qd}, {"attn_k", D, kd}, {"attn_v", D, kd}, {"attn_output", qd, D}, {"ffn_gate", D, F}, {"ffn_up", D, F}, {"ffn_down", F, D}}
		if cfg.MLA != nil {
			ms = ms[4:]
			if err := syntheticMLA(cfg, l, p, mat, vec); err != nil {
				return nil, nil, nil, err
			}
		}
		if cfg.MoELayer(l) {
			ms = ms[:len(ms)-3]
			if err := syntheticExperts(cfg, p, mat, vec, add, rng); err != nil {
				return nil, nil, nil, err
			}
		}
		for _, m := range ms {
			if err := mat(p+m.n+".weight", m.cols, m.rows); err != nil {
				return nil, nil, nil, err
			}
		}
		vec(p+"attn_norm.weight", D, 1)
		vec(p+"ffn_norm.weight", D, 1)
		if cfg.QKVBias {
			vec(p+"attn_q.bias", qd, 0)
			vec(p+"attn_k.bias", kd, 0)
			vec(p+"attn_v.bias", kd, 0)
		}
	}
	return cfg, tensors, infos, nil
}

// syntheticExperts adds the feed-forward tensors of an MoE block (prefix
// p): stacked experts of typ, the shared expert and its gate, and a
// random F32 router (so that tokens spread over the experts as trained
// routers spread them, not all to the same few).
func syntheticExperts(cfg *model.Config, p string, mat func(string, int, int, ...int) error,
	vec func(string, int, float32), add func(string, format.DType, []int64, []byte), rng *rand.Rand) error {
	D, E, F, S := cfg.Dim, cfg.Experts, cfg.ExpertFFN, cfg.SharedFFN
	for _, m := range []struct {
		n          string
		cols, rows int
	}{{"ffn_gate_exps", D, F}, {"ffn_up_exps", D, F}, {"ffn_down_exps", F, D}} {
		if err := mat(p+m.n+".weight", m.cols, m.rows, E); err != nil {
			return err
		}
	}
	if S > 0 {
		for _, m := range []struct {
			n          string
			cols, rows int
		}{{"ffn_gate_shexp", D, S}, {"ffn_up_shexp", D, S}, {"ffn_down_shexp", S, D}} {
			if err := mat(p+m.n+".weight", m.cols, m.rows); err != nil {
				return err
			}
		}
	}
	if cfg.SharedGate {
		vec(p+"ffn_gate_inp_shexp.weight", D, 0.01)
	}
	router := make([]float32, D*E)
	for i := range router {
		router[i] = float32(rng.NormFloat64())
	}
	data := make([]byte, 4*len(router))
	if err := format.EncodeFloats(format.F32, router, data); err != nil {
		return err
	}
	add(p+"ffn_gate_inp.weight", format.F32, []int64{int64(D), int64(E)}, data)
	return nil
}
