// Package engine is shrink's reference runtime for the llama model family: it
// runs the forward pass of a checkpoint on its weights as stored (F32, F16,
// BF16 or any GGML block type that internal/kernel multiplies), keeps a
// key/value cache for incremental decoding, samples tokens, and lets callers
// watch the input of every linear layer and the residual stream.
//
// The computation follows llama.cpp's llama architecture graph
// (src/llama-model.cpp, llm_build_llama; qwen2 adds q/k/v biases and NeoX
// RoPE): for every block
//
//	h = x + Wo · attention(rope(Wq·rmsnorm(x)), rope(Wk·rmsnorm(x)), Wv·rmsnorm(x))
//	x = h + Wdown · (silu(Wgate·rmsnorm(h)) ⊙ Wup·rmsnorm(h))
//
// with grouped-query attention (each key/value head serves Heads/KVHeads query
// heads), a causal mask, and RMSNorm y = x/sqrt(mean(x²)+eps)·w. RoPE rotates
// adjacent pairs (2i, 2i+1) of every head (GGUF llama, LLAMA_ROPE_TYPE_NORM)
// or the two halves (i, i+d/2) (NeoX, qwen2) by angle pos·base^(-2i/d),
// divided by the linear scaling factor or by llama3's per-frequency factors
// (rope_freqs.weight). The logits are output·rmsnorm(x), output being
// token_embd when the model ties its embeddings. Per-layer head and
// feed-forward counts may differ (pruned models).
//
// Mixture-of-experts blocks (Mixtral's llama, qwen2moe, qwen3moe,
// deepseek2; see moe.go) replace the SwiGLU with llama.cpp's
// build_moe_ffn: router scores, top-k experts, each chosen expert's SwiGLU
// times its weight, plus a shared expert; tokens are grouped by expert so
// that a pass reads each chosen expert's slice of the stacked ffn_*_exps
// tensors once. Qwen3 normalises each query and key head (attn_q_norm,
// attn_k_norm) before RoPE. deepseek2 replaces the attention with
// DeepSeek's multi-head latent attention as llama.cpp's build_deepseek2
// computes it (RoPE, YaRN-scaled when configured, on the rope dims only;
// the cache holds the latent and the rope key per token; see mla.go).
//
// As llama.cpp does on CPU, integer-dot-product weight types multiply against
// activations quantized to 8-bit blocks (Q8_0-style for the 32-element types,
// Q8_K for K-quants and the 256-element i-quants), float weights against
// float32 activations. Products are split across goroutines by output rows.
//
// A GGUF file of 64 MiB or more that fits in half the available memory is
// read at load into private memory in 2 MiB pages (Linux), as llama.cpp
// copies its weights at load, because a mapping's decode speed depends on
// where the page cache lies; smaller and larger files, and Options.Mmap,
// keep the file memory-mapped, read-only and shared, set up for 2 MiB
// pages and faulted in at load as llama.cpp's MAP_POPULATE does (see
// Model.Residence and hugemap_linux.go). Other checkpoints are read into
// memory through package convert.
package engine

import (
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/kernel"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/quantize"
)

// Sentinel errors of package engine.
var (
	// ErrModel reports a model whose configuration and tensors do not fit
	// together (missing tensor, wrong shape, unsupported type).
	ErrModel = errors.New("engine: invalid model")
	// ErrContext reports a forward pass beyond the session's context size.
	ErrContext = errors.New("engine: context full")
	// ErrToken reports a token id outside the vocabulary.
	ErrToken = errors.New("engine: token out of range")
)

// Tensor is one weight handed to NewModel: GGUF name, type, shape in ggml
// order (Shape[0] innermost) and exactly Bytes() bytes of data in GGUF row
// order.
type Tensor struct {
	Name  string
	Type  format.DType
	Shape []int64
	Data  []byte
}

// Options adjust how a model is loaded and run.
type Options struct {
	// Threads is the number of goroutines a matrix product is split
	// across; 0 means runtime.NumCPU().
	Threads int
	// Tokenizer is a tokenizer file used instead of the checkpoint's own
	// (non-GGUF inputs only; see convert.Options).
	Tokenizer string
	// NoMmap reads a GGUF file's tensors into memory instead of mapping it.
	NoMmap bool
	// Mmap keeps a GGUF file memory-mapped, shared and read-only, whatever
	// its size. By default (on Linux) a file of 64 MiB or more that fits in
	// half the available memory is instead read into private anonymous
	// memory advised for 2 MiB pages, as llama.cpp copies (repacks) its
	// weights at load: decode streams every weight once per token, and a
	// mapping's speed depends on where the kernel put the file's page cache
	// (on the virtual machines measured, the same bytes decoded 10-65%
	// slower from some page-cache pages than from a fresh copy). Mapping
	// loads at once and shares pages between processes; larger files, and
	// systems without huge pages, are always mapped. Model.Residence tells
	// which was done.
	Mmap bool
	// Stream maps a GGUF file, shared and read-only, without faulting it
	// in at load: weights are read as they are first used, and Forward
	// (after each block) and ReleaseBlock drop a block's pages from the
	// process's resident memory (they stay in the page cache). For
	// calibration and evaluation of models larger than the memory beside
	// them: resident memory is then about one block's weights. It
	// overrides Mmap.
	Stream bool
	// KeepCache (Linux) never drops a mapped model file's cached pages: a
	// file cached in small pages (just written) is otherwise written back,
	// dropped from the page cache and mapped again once, so that the kernel
	// reads it back in 2 MiB folios (see Model.Residence).
	KeepCache bool
}

// weight is one matrix: rows of cols elements of typ, rowBytes bytes each.
type weight struct {
	name       string
	typ        format.DType
	rows, cols int
	rowBytes   int
	data       []byte
	owned      bool // data is not the file mapping's (Model.Patch): never released
}

type layer struct {
	attnNorm, ffnNorm   []float32
	q, k, v, o          weight
	gate, up, down      weight
	bq, bk, bv, bo      []float32 // nil when absent
	bGate, bUp, bDown   []float32 // nil when absent
	heads, kvHeads, ffn int
	qNorm, kNorm        []float32 // per-head q/k RMS norm weights (Qwen3), nil when absent
	moe                 *moeLayer // routed feed-forward, nil for a dense block
	mla                 *mlaLayer // latent attention (deepseek2), nil for others
}

// Model is a loaded llama-family model ready to run. It is safe for
// concurrent use by several Sessions.
type Model struct {
	// Config is the model's configuration.
	Config *model.Config
	// Vocab is the tokenizer data, nil when the checkpoint has none.
	Vocab *model.Vocab

	tokEmbd   weight
	output    weight
	outNorm   []float32
	layers    []layer
	ropeDiv   []float32 // per-frequency divisors (llama3 / rope_freqs), nil if none
	ropeScale float32   // position multiplier (1/linear factor)
	yarn      *yarnRope // deepseek2's RoPE (YaRN or plain), nil for others
	mlaScale  float32   // deepseek2's attention softmax scale
	threads   int
	kern      *kernel.Impl
	close     func() error
	pool      pool // worker goroutines (see pool.go)
	res       Residence
	stream    bool // Options.Stream on a mapping: Forward releases each block's pages
}

// Residence tells where a model's weights live.
type Residence struct {
	// Mode is "mapped" (the GGUF file is memory-mapped, shared and
	// read-only), "copied" (a private copy in huge-page
	// memory) or "read" (read or converted into memory).
	Mode string
	// HugeShare is the part of the file's bytes held in 2 MiB pages, when
	// the kernel tells (Linux); 0 otherwise.
	HugeShare float64
}

// Residence returns where the model's weights live.
func (m *Model) Residence() Residence {
	if m.res.Mode == "" {
		return Residence{Mode: "read"}
	}
	return m.res
}

// Threads returns the number of goroutines a product is split across.
func (m *Model) Threads() int { return m.threads }

// SetThreads changes the number of goroutines (n <= 0: all cores).
func (m *Model) SetThreads(n int) {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	m.threads = n
}

// Close releases the file mapping or memory behind the model. The model
// must not be used afterwards.
func (m *Model) Close() error {
	if m.close != nil {
		err := m.close()
		m.close = nil
		return err
	}
	return nil
}

func modelErr(tensor, format_ string, args ...any) error {
	msg := fmt.Sprintf(format_, args...)
	if tensor != "" {
		return fmt.Errorf("%w: tensor %s: %s", ErrModel, tensor, msg)
	}
	return fmt.Errorf("%w: %s", ErrModel, msg)
}

func shapeString(s []int64) string { return fmt.Sprint(s) }

// NewModel builds a model from its configuration and tensors. It checks that
// every tensor the configuration implies is present with the expected shape
// (ggml order) and a supported type, and that the data has the right length;
// an inconsistency is reported with the tensor's name, the expected and the
// found shape. output.weight may be absent (tied embeddings);
// rope_freqs.weight is optional; other extra tensors are ignored. Tensor data
// is used in place, not copied.
func NewModel(cfg *model.Config, vocab *model.Vocab, tensors []Tensor, opt Options) (*Model, error) {
	if cfg == nil {
		return nil, modelErr("", "no configuration")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	}
	byName := make(map[string]*Tensor, len(tensors))
	for i := range tensors {
		byName[tensors[i].Name] = &tensors[i]
	}
	c := cfg.Clone()
	m := &Model{Config: c, Vocab: vocab, kern: kernel.Active(), ropeScale: 1}
	m.SetThreads(opt.Threads)
	if vocab != nil && len(vocab.Tokens) != 0 && len(vocab.Tokens) != c.VocabSize {
		return nil, modelErr("", "vocabulary has %d tokens, config.VocabSize %d", len(vocab.Tokens), c.VocabSize)
	}

	get := func(name string, shape ...int64) (*Tensor, error) {
		t := byName[name]
		if t == nil {
			return nil, modelErr(name, "missing (expected shape %v)", shape)
		}
		if !equalShape(t.Shape, shape) {
			return nil, modelErr(name, "shape %s, expected %s", shapeString(t.Shape), shapeString(shape))
		}
		info := format.TensorInfo{Name: name, Type: t.Type, Shape: t.Shape}
		nb := info.Bytes()
		if nb < 0 {
			return nil, modelErr(name, "type %s does not fit shape %v (row length not a multiple of the block size %d)", t.Type, t.Shape, t.Type.BlockSize())
		}
		if int64(len(t.Data)) != nb {
			return nil, modelErr(name, "%d data bytes, expected %d", len(t.Data), nb)
		}
		return t, nil
	}
	// mat loads a matrix of rows x cols, or with experts given a stack
	// of that many such matrices (shape {cols, rows, experts}) as one of
	// rows x experts.
	mat := func(name string, cols, rows int, experts ...int) (weight, error) {
		shape := []int64{int64(cols), int64(rows)}
		for _, n := range experts {
			shape = append(shape, int64(n))
			rows *= n
		}
		t, err := get(name, shape...)
		if err != nil {
			return weight{}, err
		}
		if !kernel.Supported(t.Type) {
			return weight{}, modelErr(name, "type %s has no matrix kernel", t.Type)
		}
		rb, _ := t.Type.RowBytes(int64(cols))
		return weight{name: name, typ: t.Type, rows: rows, cols: cols, rowBytes: int(rb), data: t.Data}, nil
	}
	vec := func(name string, n int, optional bool) ([]float32, error) {
		if optional && byName[name] == nil {
			return nil, nil
		}
		t, err := get(name, int64(n))
		if err != nil {
			return nil, err
		}
		switch t.Type {
		case format.F32, format.F16, format.BF16:
		default:
			return nil, modelErr(name, "1-D tensor of type %s, expected F32, F16 or BF16", t.Type)
		}
		out := make([]float32, n)
		if err := format.DecodeFloats(t.Type, t.Data, out); err != nil {
			return nil, modelErr(name, "%v", err)
		}
		return out, nil
	}

	var err error
	D, V := c.Dim, c.VocabSize
	if m.tokEmbd, err = mat("token_embd.weight", D, V); err != nil {
		return nil, err
	}
	if _, ok := quantize.CodecFor(m.tokEmbd.typ); !ok {
		return nil, modelErr("token_embd.weight", "type %s cannot be decoded", m.tokEmbd.typ)
	}
	if byName["output.weight"] != nil {
		if m.output, err = mat("output.weight", D, V); err != nil {
			return nil, err
		}
		c.TiedEmbeddings = false
	} else {
		m.output = m.tokEmbd
		c.TiedEmbeddings = true
	}
	if m.outNorm, err = vec("output_norm.weight", D, false); err != nil {
		return nil, err
	}
	if t := byName["rope_freqs.weight"]; t != nil {
		if m.ropeDiv, err = vec("rope_freqs.weight", c.RopeDim/2, false); err != nil {
			return nil, err
		}
	} else if f := c.RopeFreqs(); f != nil {
		m.ropeDiv = f
	}
	if c.MLA != nil {
		if m.yarn, m.mlaScale, err = newYarnRope(c); err != nil {
			return nil, err
		}
	} else if s := c.RopeScaling; s != nil {
		switch s.Type {
		case "linear":
			if s.Factor > 0 {
				m.ropeScale = 1 / s.Factor
			}
		case "llama3":
		default:
			return nil, fmt.Errorf("%w: rope scaling type %q is not supported (linear and llama3 are)", model.ErrUnsupported, s.Type)
		}
	}
	for _, d := range m.ropeDiv {
		if !(d > 0) || math.IsInf(float64(d), 0) {
			return nil, modelErr("rope_freqs.weight", "factor %g is not a positive number", d)
		}
	}
	m.layers = make([]layer, c.Layers)
	for i := range m.layers {
		L := &m.layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		L.heads, L.kvHeads, L.ffn = c.Heads[i], c.KVHeads[i], c.FFN[i]
		qd, kd, F := c.QDim(i), c.KVDim(i), c.FFN[i]
		steps := []struct {
			dst        *weight
			name       string
			cols, rows int
		}{
			{&L.q, "attn_q", D, qd}, {&L.k, "attn_k", D, kd}, {&L.v, "attn_v", D, kd},
			{&L.o, "attn_output", qd, D}, {&L.gate, "ffn_gate", D, F}, {&L.up, "ffn_up", D, F},
			{&L.down, "ffn_down", F, D},
		}
		if c.MLA != nil {
			steps[3].cols = L.heads * c.MLA.ValueLen
			steps = steps[3:]
			if L.mla, err = loadMLA(c, i, p, mat, vec, get); err != nil {
				return nil, err
			}
		}
		if c.MoELayer(i) {
			steps = steps[:len(steps)-3]
			if L.moe, err = loadMoE(c, p, mat, vec); err != nil {
				return nil, err
			}
		}
		if c.QKNorm {
			if L.qNorm, err = vec(p+"attn_q_norm.weight", c.HeadDim, false); err != nil {
				return nil, err
			}
			if L.kNorm, err = vec(p+"attn_k_norm.weight", c.HeadDim, false); err != nil {
				return nil, err
			}
		}
		for _, s := range steps {
			if *s.dst, err = mat(p+s.name+".weight", s.cols, s.rows); err != nil {
				return nil, err
			}
		}
		if L.attnNorm, err = vec(p+"attn_norm.weight", D, false); err != nil {
			return nil, err
		}
		if L.ffnNorm, err = vec(p+"ffn_norm.weight", D, false); err != nil {
			return nil, err
		}
		biases := []struct {
			dst  *[]float32
			name string
			n    int
			req  bool
		}{
			{&L.bq, "attn_q", qd, c.QKVBias}, {&L.bk, "attn_k", kd, c.QKVBias}, {&L.bv, "attn_v", kd, c.QKVBias},
			{&L.bo, "attn_output", D, c.OutBias}, {&L.bGate, "ffn_gate", F, c.FFNBias},
			{&L.bUp, "ffn_up", F, c.FFNBias}, {&L.bDown, "ffn_down", D, c.FFNBias},
		}
		for _, b := range biases {
			if *b.dst, err = vec(p+b.name+".bias", b.n, !b.req); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// loadMoE builds the routed feed-forward of the block with tensor prefix
// p from the stacked expert tensors (each a matrix of Experts x width
// rows), the F32 router, the shared expert and its gate and the selection
// bias the configuration has.
func loadMoE(c *model.Config, p string, mat func(string, int, int, ...int) (weight, error),
	vec func(string, int, bool) ([]float32, error)) (*moeLayer, error) {
	D, E, F, S := c.Dim, c.Experts, c.ExpertFFN, c.SharedFFN
	X := &moeLayer{sharedW: S}
	var err error
	if X.router, err = mat(p+"ffn_gate_inp.weight", D, E); err != nil {
		return nil, err
	}
	if X.router.typ != format.F32 && X.router.typ != format.F16 && X.router.typ != format.BF16 {
		return nil, modelErr(p+"ffn_gate_inp.weight", "router of type %s, expected F32, F16 or BF16", X.router.typ)
	}
	stacked := []struct {
		dst        *[]weight
		name       string
		cols, rows int
	}{{&X.gate, "ffn_gate_exps", D, F}, {&X.up, "ffn_up_exps", D, F}, {&X.down, "ffn_down_exps", F, D}}
	for i, s := range stacked {
		name := p + s.name + ".weight"
		w, err := mat(name, s.cols, s.rows, E)
		if err != nil {
			return nil, err
		}
		*s.dst = expertViews(w, E)
		X.names[i] = name
	}
	if S > 0 {
		for _, s := range []struct {
			dst        *weight
			name       string
			cols, rows int
		}{{&X.sGate, "ffn_gate_shexp", D, S}, {&X.sUp, "ffn_up_shexp", D, S}, {&X.sDown, "ffn_down_shexp", S, D}} {
			if *s.dst, err = mat(p+s.name+".weight", s.cols, s.rows); err != nil {
				return nil, err
			}
		}
	}
	if c.SharedGate {
		if X.sGateInp, err = vec(p+"ffn_gate_inp_shexp.weight", D, false); err != nil {
			return nil, err
		}
	}
	if X.probsBias, err = vec(p+"exp_probs_b.bias", E, !c.ProbsBias); err != nil {
		return nil, err
	}
	return X, nil
}

func equalShape(a, b []int64) bool {
	// Trailing dimensions of 1 are insignificant (ggml_n_dims).
	for len(a) > 1 && a[len(a)-1] == 1 {
		a = a[:len(a)-1]
	}
	for len(b) > 1 && b[len(b)-1] == 1 {
		b = b[:len(b)-1]
	}
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

var errEmptyPrompt = errors.New("engine: empty prompt")
