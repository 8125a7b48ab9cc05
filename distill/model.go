package distill

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/model"
)

// Sentinel errors of package distill.
var (
	// ErrUnsupported reports a model feature training does not handle.
	ErrUnsupported = errors.New("distill: unsupported model")
	// ErrMismatch reports a teacher, student, checkpoint or cache that do
	// not fit together.
	ErrMismatch = errors.New("distill: mismatch")
	// ErrData reports training text too short for one window.
	ErrData = errors.New("distill: not enough data")
)

// Param is one trainable tensor: its GGUF name and shape (ggml order,
// Shape[0] innermost), its float32 values in GGUF row order and the
// gradient accumulated for them.
type Param struct {
	Name  string
	Shape []int64
	W     []float32 // values (with LoRA: the merged weight W0 + s·B·A)
	G     []float32 // gradient of the loss with respect to W
	// Frozen params are not updated by the optimizer (embeddings and
	// linear weights when low-rank adapters train instead).
	Frozen bool
	// Decay is true for matrices, which take AdamW's weight decay.
	Decay bool
	// LoRA holds the low-rank adapter of a linear weight, nil when none.
	LoRA *LoRA
	// stored holds a frozen matrix in its stored type (LoadStored); W
	// and G are then empty.
	stored *storedMat
}

// Stored reports whether the parameter is a frozen matrix kept in its
// stored type (LoadStored) rather than float32 values in W.
func (p *Param) Stored() bool { return p.stored != nil }

// LoRA is a low-rank adapter of a linear weight W (out×in): the weight used
// is W0 + Scale·B·A with A (Rank×in) and B (out×Rank) trained; B starts at
// zero so the adapted model starts equal to the original (Hu et al. 2021,
// "LoRA: Low-Rank Adaptation of Large Language Models").
type LoRA struct {
	Rank  int
	Scale float32
	// W0 is the frozen original weight, nil when it is kept in its
	// stored type (Param.Stored): the adapter is then applied beside it
	// in every product, never merged until the model is written.
	W0     []float32
	A, B   *Param // the adapter factors (trainable)
	in, on int
}

// layer points at one block's parameters.
type layer struct {
	attnNorm, q, k, v, o, ffnNorm, gate, up, down *Param
	heads, kvHeads, ffn                           int
}

// Model is a llama-family model held as float32 parameters for training.
type Model struct {
	Config *model.Config
	Vocab  *model.Vocab
	// Params lists every parameter (adapters after the weights they
	// adapt) in a fixed order: the optimizer state and checkpoints follow
	// it.
	Params []*Param
	// Recompute is activation checkpointing per block: a training
	// forward pass keeps only each block's input, and the backward pass
	// runs the block again to get the rest (Chen et al. 2016, "Training
	// Deep Nets with Sublinear Memory Cost"); the gradients are the same,
	// the memory of the activations about that of one block.
	Recompute bool

	embd, out, outNorm *Param
	layers             []layer
	ropeScale          float32
	ropeDiv            []float32
	cos, sin           []float32 // rope table for ropeN positions
	ropeN              int
}

// check rejects configurations the training code does not handle.
func checkConfig(c *model.Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.QKVBias || c.OutBias || c.FFNBias {
		return fmt.Errorf("%w: biases are not trained", ErrUnsupported)
	}
	if c.Experts > 0 || c.QKNorm || c.MLA != nil {
		return fmt.Errorf("%w: %s models (mixture of experts, latent attention or q/k norms) are not trained", ErrUnsupported, c.Arch)
	}
	if s := c.RopeScaling; s != nil && s.Type != "linear" && s.Type != "llama3" {
		return fmt.Errorf("%w: rope scaling %q", ErrUnsupported, s.Type)
	}
	return nil
}

// newModel lays out the parameters of config c, zero-filled when alloc
// (else their values are left nil for the caller to set).
func newModel(c *model.Config, vocab *model.Vocab, alloc bool) (*Model, error) {
	if err := checkConfig(c); err != nil {
		return nil, err
	}
	m := &Model{Config: c, Vocab: vocab, ropeScale: 1}
	add := func(name string, shape ...int64) *Param {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		p := &Param{Name: name, Shape: shape, Decay: len(shape) > 1}
		if alloc {
			p.W = make([]float32, n)
		}
		m.Params = append(m.Params, p)
		return p
	}
	D, V := int64(c.Dim), int64(c.VocabSize)
	m.embd = add("token_embd.weight", D, V)
	m.layers = make([]layer, c.Layers)
	for i := range m.layers {
		L := &m.layers[i]
		L.heads, L.kvHeads, L.ffn = c.Heads[i], c.KVHeads[i], c.FFN[i]
		qd, kd, F := int64(c.QDim(i)), int64(c.KVDim(i)), int64(c.FFN[i])
		p := fmt.Sprintf("blk.%d.", i)
		L.attnNorm = add(p+"attn_norm.weight", D)
		L.q = add(p+"attn_q.weight", D, qd)
		L.k = add(p+"attn_k.weight", D, kd)
		L.v = add(p+"attn_v.weight", D, kd)
		L.o = add(p+"attn_output.weight", qd, D)
		L.ffnNorm = add(p+"ffn_norm.weight", D)
		L.gate = add(p+"ffn_gate.weight", D, F)
		L.up = add(p+"ffn_up.weight", D, F)
		L.down = add(p+"ffn_down.weight", F, D)
	}
	m.outNorm = add("output_norm.weight", D)
	if !c.TiedEmbeddings {
		m.out = add("output.weight", D, V)
	} else {
		m.out = m.embd
	}
	if s := c.RopeScaling; s != nil && s.Type == "linear" && s.Factor > 0 {
		m.ropeScale = 1 / s.Factor
	}
	m.ropeDiv = c.RopeFreqs()
	return m, nil
}

// NewRandom returns a model of configuration c with random weights drawn
// from the seeded generator: matrices normal with standard deviation 0.02
// (output projections of blocks scaled by 1/sqrt(2·Layers), as GPT-2 does),
// norms one.
func NewRandom(c *model.Config, vocab *model.Vocab, seed uint64) (*Model, error) {
	m, err := newModel(c, vocab, true)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x5348524e4b))
	resid := float32(1 / math.Sqrt(2*float64(c.Layers)))
	for _, p := range m.Params {
		if !p.Decay {
			for i := range p.W {
				p.W[i] = 1
			}
			continue
		}
		std := float32(0.02)
		if n := p.Name; len(n) > 4 && (strings.HasSuffix(n, "attn_output.weight") || strings.HasSuffix(n, "ffn_down.weight")) {
			std *= resid
		}
		for i := range p.W {
			p.W[i] = float32(rng.NormFloat64()) * std
		}
	}
	return m, nil
}

// FromConvert reads every tensor of a checkpoint opened by package convert
// into a trainable model (float32, rows in GGUF order). A rope_freqs.weight
// tensor, when present, replaces the divisors computed from the config.
func FromConvert(cm *convert.Model) (*Model, error) {
	return fromConvert(cm, false)
}

// FromConvertStored is FromConvert keeping every matrix (embeddings,
// output head, the blocks' linear weights) frozen in its stored type (F16,
// BF16, Q8_0, K-quants...) instead of float32: the products of the
// forward and backward passes dequantize a tile of rows at a time. Such a
// model trains its norms and, after AddLoRA, the adapters of its linear
// weights, whose base stays in the stored bytes.
func FromConvertStored(cm *convert.Model) (*Model, error) {
	return fromConvert(cm, true)
}

// fromConvert reads the tensors of cm, matrices as float32 or in their
// stored type.
func fromConvert(cm *convert.Model, stored bool) (*Model, error) {
	m, err := newModel(cm.Config, cm.Vocab, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cm.Path, err)
	}
	for _, p := range m.Params {
		t, ok := cm.Tensor(p.Name)
		if !ok {
			return nil, fmt.Errorf("%s: %w: tensor %s missing", cm.Path, ErrMismatch, p.Name)
		}
		if !slices.Equal(t.Shape, p.Shape) {
			return nil, fmt.Errorf("%s: %w: tensor %s has shape %v, want %v", cm.Path, ErrMismatch, p.Name, t.Shape, p.Shape)
		}
		if stored && len(p.Shape) == 2 {
			if err := readStored(cm, t, p); err != nil {
				return nil, err
			}
			continue
		}
		w, err := cm.ReadFloat32(t)
		if err != nil {
			return nil, err
		}
		if int64(len(w)) != p.numel() {
			return nil, fmt.Errorf("%s: %w: tensor %s has %d values, want %d", cm.Path, ErrMismatch, p.Name, len(w), p.numel())
		}
		p.W = w
	}
	if t, ok := cm.Tensor("rope_freqs.weight"); ok {
		w, err := cm.ReadFloat32(t)
		if err != nil {
			return nil, err
		}
		if len(w) != m.Config.RopeDim/2 {
			return nil, fmt.Errorf("%s: %w: rope_freqs.weight has %d values, want %d", cm.Path, ErrMismatch, len(w), m.Config.RopeDim/2)
		}
		m.ropeDiv = w
	}
	return m, nil
}

// Load opens the checkpoint at path (any format package convert reads) as
// a trainable model.
func Load(path string) (*Model, error) {
	cm, err := convert.Load(path, convert.Options{})
	if err != nil {
		return nil, err
	}
	defer cm.Close()
	return FromConvert(cm)
}

// LoadStored opens the checkpoint at path as FromConvertStored reads it:
// matrices frozen in their stored type, for training adapters (AddLoRA).
func LoadStored(path string) (*Model, error) {
	cm, err := convert.Load(path, convert.Options{})
	if err != nil {
		return nil, err
	}
	defer cm.Close()
	return FromConvertStored(cm)
}

// readStored sets p to the stored bytes of tensor t, frozen.
func readStored(cm *convert.Model, t convert.Tensor, p *Param) error {
	raw, err := cm.ReadRaw(t)
	if err != nil {
		return err
	}
	s, err := newStored(p.Name, t.Type, raw, int(p.Shape[0]), int(p.Shape[1]))
	if err != nil {
		return fmt.Errorf("%s: %w", cm.Path, err)
	}
	p.stored, p.W, p.Frozen = s, nil, true
	return nil
}

// Param returns the parameter with the given name, or nil.
func (m *Model) Param(name string) *Param {
	for _, p := range m.Params {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// NumParams returns the number of values of the model's weights (adapters
// not counted).
func (m *Model) NumParams() int64 {
	var n int64
	for _, p := range m.Params {
		if !p.adapter() {
			n += p.numel()
		}
	}
	return n
}

func (p *Param) adapter() bool {
	return strings.HasSuffix(p.Name, ".lora_a") || strings.HasSuffix(p.Name, ".lora_b")
}

// linears returns the linear weights of the blocks, the ones that take
// adapters.
func (m *Model) linears() []*Param {
	var ps []*Param
	for i := range m.layers {
		L := &m.layers[i]
		ps = append(ps, L.q, L.k, L.v, L.o, L.gate, L.up, L.down)
	}
	return ps
}

// AddLoRA freezes the embeddings and the output head and replaces the
// training of every block's linear weights by low-rank adapters of rank r
// with scale alpha/r (A normal with standard deviation 1/sqrt(in) from the
// seeded generator, B zero). Norms stay trainable.
func (m *Model) AddLoRA(r int, alpha float32, seed uint64) error {
	if r <= 0 {
		return fmt.Errorf("distill: LoRA rank %d: want a positive rank", r)
	}
	rng := rand.New(rand.NewPCG(seed, 0x4c6f5241))
	m.embd.Frozen = true
	m.out.Frozen = true
	var ps []*Param
	isLin := map[*Param]bool{}
	for _, p := range m.linears() {
		isLin[p] = true
	}
	for _, p := range m.Params {
		ps = append(ps, p)
		if !isLin[p] {
			continue
		}
		in, on := int(p.Shape[0]), int(p.Shape[1])
		if r > min(in, on) {
			return fmt.Errorf("distill: LoRA rank %d exceeds the dimensions of %s (%d×%d)", r, p.Name, on, in)
		}
		a := &Param{Name: p.Name + ".lora_a", Shape: []int64{int64(in), int64(r)}, W: make([]float32, r*in)}
		b := &Param{Name: p.Name + ".lora_b", Shape: []int64{int64(r), int64(on)}, W: make([]float32, on*r)}
		std := 1 / math.Sqrt(float64(in))
		for i := range a.W {
			a.W[i] = float32(rng.NormFloat64() * std)
		}
		p.Frozen = true
		p.LoRA = &LoRA{Rank: r, Scale: alpha / float32(r), W0: append([]float32(nil), p.W...), A: a, B: b, in: in, on: on}
		ps = append(ps, a, b)
	}
	m.Params = ps
	return nil
}

// mergeLoRA sets every adapted weight to W0 + Scale·B·A.
func (m *Model) mergeLoRA() {
	for _, p := range m.Params {
		l := p.LoRA
		if l == nil || p.stored != nil {
			continue
		}
		copy(p.W, l.W0)
		// W (on×in) += s·B (on×r)·A (r×in).
		tmp := make([]float32, l.on*l.in)
		matMul(tmp, mat(l.B.W, l.Rank, false), mat(l.A.W, l.in, false), l.on, l.in, l.Rank, false)
		for i, v := range tmp {
			p.W[i] += float32(l.Scale * v)
		}
	}
}

// loraGrads turns the gradient of every adapted weight into the gradients
// of its adapter: dB = s·dW·Aᵀ, dA = s·Bᵀ·dW.
func (m *Model) loraGrads() {
	for _, p := range m.Params {
		l := p.LoRA
		if l == nil || p.stored != nil { // stored bases: gradients taken in bwd
			continue
		}
		// dB (on×r) = dW (on×in)·Aᵀ, A (r×in).
		db := make([]float32, l.on*l.Rank)
		matMul(db, mat(p.G, l.in, false), mat(l.A.W, l.in, true), l.on, l.Rank, l.in, false)
		// dA (r×in) = Bᵀ (r×on)·dW (on×in), B (on×r).
		da := make([]float32, l.Rank*l.in)
		matMul(da, mat(l.B.W, l.Rank, true), mat(p.G, l.in, false), l.Rank, l.in, l.on, false)
		for i, v := range db {
			l.B.G[i] += float32(l.Scale * v)
		}
		for i, v := range da {
			l.A.G[i] += float32(l.Scale * v)
		}
	}
}

// zeroGrads allocates or clears every gradient.
func (m *Model) zeroGrads() {
	for _, p := range m.Params {
		if p.G == nil {
			p.G = make([]float32, len(p.W))
		} else {
			clear(p.G)
		}
	}
}

// rope returns the rotation table for at least n positions.
func (m *Model) rope(n int) (cos, sin []float32) {
	if n > m.ropeN {
		m.cos, m.sin = ropeTable(n, m.Config.RopeDim, m.Config.RopeBase, m.ropeScale, m.ropeDiv)
		m.ropeN = n
	}
	return m.cos, m.sin
}
