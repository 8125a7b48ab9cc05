// Package convert turns any checkpoint shrink reads into a llama-family model
// view (configuration, vocabulary, tensors under their GGUF names and in
// GGUF row order) and writes that view as a GGUF file or a Hugging Face
// safetensors folder, one tensor at a time so memory stays bounded by the
// largest tensor.
//
// Hugging Face checkpoints rotate the two halves of each attention head
// (rotate-half RoPE) while GGUF's llama architecture rotates adjacent pairs;
// the rows of attn_q and attn_k are reordered on the way in and restored on
// the way out (as llama.cpp's convert_hf_to_gguf.py does, LlamaModel.permute).
// Models with NeoX RoPE (qwen2, qwen2moe, qwen3moe) and deepseek2's latent
// attention keep their rows as stored.
//
// Mixture-of-experts checkpoints store each routed expert's projections
// apart; GGUF stacks them per layer into 3-D ffn_{gate,up,down}_exps
// tensors, which are read from the expert tensors in order as they are
// written (and narrowed to some experts by KeepExperts).
package convert

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/format/llama2c"
	"github.com/shrink-llm/shrink/format/safetensors"
	"github.com/shrink-llm/shrink/model"
)

// Model is a checkpoint seen as a llama-family model.
type Model struct {
	Path    string        // the path it was opened from
	Format  string        // "gguf", "safetensors" or "llama2c"
	Src     format.Source // the open container
	Config  *model.Config
	Vocab   *model.Vocab   // nil when the checkpoint carries no tokenizer
	Meta    *gguf.Metadata // the source's GGUF metadata, nil for other formats
	Tensors []Tensor       // in output order, under GGUF names
	byName  map[string]int

	// NonFinite, when not nil, is called once per float tensor (F32,
	// F16, BF16, F64 in the source) that Open reads to its end holding NaN
	// or infinite values: the tensor, the first such element (its index in
	// the source's row-major order) and value, and how many there are.
	NonFinite func(t Tensor, element int64, v float64, count int64)

	// Notes are remarks on the conversion for the user (dropped
	// weights), one line each.
	Notes     []string
	mtpLayers map[int]bool // DeepSeek-V3 MTP layers dropped (see dropMTP)
}

// Tensor is one tensor of a Model.
type Tensor struct {
	Name    string       // GGUF name
	SrcName string       // name in the source container
	Type    format.DType // stored type in the source
	Shape   []int64      // ggml order (Shape[0] innermost)
	// permuteHeads > 0 means the source rows are in Hugging Face
	// rotate-half order and are reordered for this many heads on read.
	permuteHeads int
	// data holds the bytes of a tensor the converter computes rather than
	// reads (rope_freqs.weight of llama3 RoPE scaling).
	data []byte
	// parts, when not nil, are the source tensors stacked (in order) to
	// make this one: Hugging Face stores each routed expert's weights
	// apart, GGUF one 3-D tensor per projection and layer.
	parts []string
	// derive, when not nil, computes the tensor's bytes from other
	// tensors (the latent attention layouts, see SetMLALayout).
	derive func() ([]byte, error)
	// spans, when not nil, are the byte ranges [off, off+n) of the
	// source bytes that make this tensor, in order (KeepExperts).
	spans [][2]int64
}

// Info returns the tensor's description in GGUF terms.
func (t Tensor) Info() format.TensorInfo {
	return format.TensorInfo{Name: t.Name, Type: t.Type, Shape: t.Shape}
}

// Options adjust Load.
type Options struct {
	// Tokenizer is a tokenizer file (tokenizer.model, tokenizer.json or a
	// llama2.c tokenizer.bin) used instead of the one found with the model.
	Tokenizer string
}

// Load opens the checkpoint at path (GGUF file, safetensors file or Hugging
// Face folder, llama2.c checkpoint) and describes it as a llama-family model.
func Load(path string, opt Options) (*Model, error) {
	f, err := format.Detect(path)
	if err != nil {
		return nil, err
	}
	m := &Model{Path: path, Format: f.Name}
	switch f.Name {
	case "gguf":
		err = m.loadGGUF(path)
	case "safetensors", "safetensors-folder":
		m.Format = "safetensors"
		err = m.loadHF(path)
	case "llama2c":
		err = m.loadLlama2c(path, opt.Tokenizer)
	default:
		err = fmt.Errorf("%s: format %s cannot be read as a model", path, f.Name)
	}
	if err == nil && opt.Tokenizer != "" && f.Name != "llama2c" {
		m.Vocab, err = loadTokenizerFile(opt.Tokenizer, m.Config.VocabSize)
	}
	if err == nil {
		err = m.check()
	}
	if err != nil {
		if m.Src != nil {
			m.Src.Close()
		}
		return nil, err
	}
	return m, nil
}

// Close releases the files behind the model.
func (m *Model) Close() error {
	if m.Src == nil { // FromMemory
		return nil
	}
	return m.Src.Close()
}

// Tensor returns the tensor with the given GGUF name.
func (m *Model) Tensor(name string) (Tensor, bool) {
	i, ok := m.byName[name]
	if !ok {
		return Tensor{}, false
	}
	return m.Tensors[i], true
}

func (m *Model) add(t Tensor) {
	if m.byName == nil {
		m.byName = make(map[string]int)
	}
	m.byName[t.Name] = len(m.Tensors)
	m.Tensors = append(m.Tensors, t)
}

func (m *Model) loadGGUF(path string) error {
	f, err := gguf.Open(path)
	if err != nil {
		return err
	}
	m.Src = f
	m.Meta = &f.Metadata
	if m.Config, err = model.ConfigFromGGUF(&f.Metadata); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if _, ok := f.Metadata.String("tokenizer.ggml.model"); ok {
		if m.Vocab, err = model.VocabFromGGUF(&f.Metadata); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	for _, t := range f.Tensors() {
		m.add(Tensor{Name: t.Name, SrcName: t.Name, Type: t.Type, Shape: t.Shape})
	}
	_, hasOutput := m.byName["output.weight"]
	m.Config.TiedEmbeddings = !hasOutput
	m.noteProbsBias()
	return nil
}

// noteProbsBias sets Config.ProbsBias when the model has expert selection
// biases (exp_probs_b), which GGUF metadata does not announce.
func (m *Model) noteProbsBias() {
	for _, t := range m.Tensors {
		if strings.HasSuffix(t.Name, ".exp_probs_b.bias") {
			m.Config.ProbsBias = true
			return
		}
	}
}

// expertStack gathers the per-expert Hugging Face tensors of one stacked
// GGUF tensor.
type expertStack struct {
	index int // position of the stacked tensor in m.Tensors
	parts []format.TensorInfo
}

// addExpert records expert e's tensor t as part of the stacked tensor
// name, which takes the place of the first expert seen.
func (m *Model) addExpert(stacks map[string]*expertStack, name string, e int, t format.TensorInfo) error {
	n := m.Config.Experts
	if e >= n {
		return &format.FormatError{File: m.Path, Tensor: t.Name, Offset: -1, Msg: fmt.Sprintf("expert %d of a model with %d experts", e, n)}
	}
	st := stacks[name]
	if st == nil {
		st = &expertStack{index: len(m.Tensors), parts: make([]format.TensorInfo, n)}
		stacks[name] = st
		m.add(Tensor{Name: name})
	}
	if st.parts[e].Name != "" {
		return &format.FormatError{File: m.Path, Tensor: t.Name, Offset: -1, Msg: "expert tensor given twice"}
	}
	st.parts[e] = t
	return nil
}

// finishExperts checks that every stacked tensor has all its experts, of
// one type and shape, and sets its type, 3-D shape and parts.
func (m *Model) finishExperts(stacks map[string]*expertStack) error {
	for name, st := range stacks {
		first := st.parts[0]
		names := make([]string, len(st.parts))
		for e, p := range st.parts {
			if p.Name == "" {
				return &format.FormatError{File: m.Path, Tensor: name, Offset: -1, Msg: fmt.Sprintf("expert %d missing", e)}
			}
			if p.Type != first.Type || len(p.Shape) != 2 || !equalShape(p.Shape, first.Shape) {
				return &format.FormatError{File: m.Path, Tensor: p.Name, Offset: -1,
					Msg: fmt.Sprintf("type %s shape %v differs from expert 0's %s %v", p.Type, p.Shape, first.Type, first.Shape)}
			}
			names[e] = p.Name
		}
		t := &m.Tensors[st.index]
		t.SrcName, t.Type, t.parts = first.Name, first.Type, names
		t.Shape = []int64{first.Shape[0], first.Shape[1], int64(len(names))}
	}
	return nil
}

// tensorData returns a reader over t's stored bytes: its source tensor,
// or its parts one after another.
func (m *Model) tensorData(t Tensor) (*io.SectionReader, error) {
	if t.derive != nil {
		b, err := t.derive()
		if err != nil {
			return nil, err
		}
		return io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b))), nil
	}
	if t.spans != nil {
		u := t
		u.spans = nil
		base, err := m.tensorData(u)
		if err != nil {
			return nil, err
		}
		rs := make([]*io.SectionReader, len(t.spans))
		var size int64
		for i, sp := range t.spans {
			rs[i] = io.NewSectionReader(base, sp[0], sp[1])
			size += sp[1]
		}
		return io.NewSectionReader(stackedReader(rs), 0, size), nil
	}
	if t.parts == nil {
		return m.Src.TensorData(t.SrcName)
	}
	rs := make([]*io.SectionReader, len(t.parts))
	var size int64
	for i, name := range t.parts {
		r, err := m.Src.TensorData(name)
		if err != nil {
			return nil, err
		}
		rs[i] = r
		size += r.Size()
	}
	return io.NewSectionReader(stackedReader(rs), 0, size), nil
}

// stackedReader reads a list of sections as one.
type stackedReader []*io.SectionReader

func (s stackedReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for _, r := range s {
		if len(p) == 0 {
			break
		}
		if off >= r.Size() {
			off -= r.Size()
			continue
		}
		k, err := r.ReadAt(p[:min(int64(len(p)), r.Size()-off)], off)
		n += k
		if err != nil && !(err == io.EOF && off+int64(k) == r.Size()) {
			return n, err
		}
		p, off = p[k:], 0
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

func (m *Model) loadHF(path string) error {
	dir := path
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		dir = filepath.Dir(path)
	}
	var src interface {
		format.Source
	}
	var readFile func(string) ([]byte, error)
	if dir == path {
		fo, err := safetensors.OpenFolder(dir)
		if err != nil {
			return err
		}
		src, readFile = fo, fo.ReadFile
	} else {
		f, err := safetensors.Open(path)
		if err != nil {
			return err
		}
		src = f
		readFile = func(name string) ([]byte, error) { return readSmall(filepath.Join(dir, name)) }
	}
	m.Src = src
	cfgJSON, err := readFile("config.json")
	if err != nil {
		return fmt.Errorf("%s: a Hugging Face checkpoint needs config.json beside its safetensors: %w", path, err)
	}
	if m.Config, err = model.ConfigFromHF(cfgJSON); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
	}
	if data, err := readFile("tokenizer.model"); err == nil {
		if m.Vocab, err = model.VocabFromSentencePiece(data); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, "tokenizer.model"), err)
		}
	} else if data, err := readFile("tokenizer.json"); err == nil {
		if m.Vocab, err = model.VocabFromTokenizerJSON(data); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, "tokenizer.json"), err)
		}
	}
	c := m.Config
	stacks := map[string]*expertStack{}
	for _, t := range src.Tensors() {
		if m.dropMTP(t.Name) {
			continue
		}
		if name, e, ok := model.ExpertGGUFName(t.Name); ok {
			if err := m.addExpert(stacks, name, e, t); err != nil {
				return err
			}
			continue
		}
		name, ok := model.GGUFName(t.Name)
		if !ok {
			if strings.HasSuffix(t.Name, "rotary_emb.inv_freq") {
				continue // recomputed from rope_theta, as llama.cpp's converter does
			}
			return &format.FormatError{File: path, Tensor: t.Name, Offset: -1, Msg: "no GGUF name for this tensor (not a llama-family weight)"}
		}
		m.add(Tensor{Name: name, SrcName: t.Name, Type: t.Type, Shape: t.Shape, permuteHeads: qkHeads(c, name)})
	}
	if err := m.finishExperts(stacks); err != nil {
		return err
	}
	if _, ok := m.byName["output.weight"]; !ok {
		c.TiedEmbeddings = true
	}
	m.noteProbsBias()
	if freqs := c.RopeFreqs(); freqs != nil {
		// llama.cpp carries llama3 RoPE scaling only as this tensor.
		data := make([]byte, 4*len(freqs))
		format.EncodeFloats(format.F32, freqs, data)
		m.add(Tensor{Name: "rope_freqs.weight", Type: format.F32, Shape: []int64{int64(len(freqs))}, data: data})
	}
	return nil
}

// qkHeads returns the number of heads of the Q or K projection (weight or
// bias) called name, whose rows Hugging Face and GGUF order differently
// for c's RoPE, and 0 for any other tensor or when c uses NeoX RoPE.
func qkHeads(c *model.Config, name string) int {
	if c.RopeNeox || c.MLA != nil {
		return 0 // deepseek2's rope part is stored as llama.cpp rotates it
	}
	l, kind, ok := qkLayer(name)
	if !ok || l < 0 || l >= len(c.Heads) || l >= len(c.KVHeads) {
		return 0 // not Q/K, or a layer the configuration lacks (refused later)
	}
	if kind == "k" {
		return c.KVHeads[l]
	}
	return c.Heads[l]
}

// qkLayer reports whether name is a q or k projection (weight or bias) of a
// layer, and which.
func qkLayer(name string) (layer int, kind string, ok bool) {
	var suffix string
	if _, err := fmt.Sscanf(name, "blk.%d.attn_%s", &layer, &suffix); err != nil {
		return 0, "", false
	}
	switch suffix {
	case "q.weight", "q.bias":
		return layer, "q", true
	case "k.weight", "k.bias":
		return layer, "k", true
	}
	return 0, "", false
}

func (m *Model) loadLlama2c(path, tokPath string) error {
	f, err := llama2c.Open(path)
	if err != nil {
		return err
	}
	m.Src = f
	h := f.Header
	m.Config = model.ConfigFromLlama2c(h.Dim, h.HiddenDim, h.Layers, h.Heads, h.KVHeads, h.VocabSize, h.SeqLen)
	m.Config.TiedEmbeddings = h.SharedClassifier
	tok := f.Tokenizer
	if tokPath != "" {
		if tok, err = llama2c.OpenTokenizer(tokPath, h.VocabSize); err != nil {
			return err
		}
	}
	if tok != nil {
		m.Vocab = model.VocabFromLlama2c(tok.Pieces, tok.Scores)
	}
	for _, t := range f.Tensors() {
		m.add(Tensor{Name: t.Name, SrcName: t.Name, Type: t.Type, Shape: t.Shape})
	}
	return nil
}

// loadTokenizerFile reads a tokenizer given on the command line.
func loadTokenizerFile(path string, vocabSize int) (*model.Vocab, error) {
	base := filepath.Base(path)
	switch {
	case strings.HasSuffix(base, ".json"):
		data, err := readSmall(path)
		if err != nil {
			return nil, err
		}
		v, err := model.VocabFromTokenizerJSON(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return v, nil
	case strings.HasSuffix(base, ".model"):
		data, err := readSmall(path)
		if err != nil {
			return nil, err
		}
		v, err := model.VocabFromSentencePiece(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return v, nil
	case strings.HasSuffix(base, ".gguf"):
		f, err := gguf.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		v, err := model.VocabFromGGUF(&f.Metadata)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return v, nil
	default: // llama2.c tokenizer.bin
		t, err := llama2c.OpenTokenizer(path, vocabSize)
		if err != nil {
			return nil, err
		}
		return model.VocabFromLlama2c(t.Pieces, t.Scores), nil
	}
}

const maxSmallFile = 64 << 20

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSmallFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSmallFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxSmallFile)
	}
	return data, nil
}

// check verifies that the tensors fit the configuration: every tensor the
// llama architecture needs is present with the shape the config implies, and
// nothing unexpected is there.
func (m *Model) check() error {
	c := m.Config
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%s: %w", m.Path, err)
	}
	want := ExpectedShapes(c)
	for name, shape := range want {
		t, ok := m.byName[name]
		if !ok {
			if name == "output.weight" && c.TiedEmbeddings {
				continue
			}
			return &format.FormatError{File: m.Path, Tensor: name, Offset: -1, Msg: "tensor missing for the model's configuration"}
		}
		if !equalShape(m.Tensors[t].Shape, shape) {
			return &format.FormatError{File: m.Path, Tensor: name, Offset: -1,
				Msg: fmt.Sprintf("shape %v does not fit the configuration (expected %v)", m.Tensors[t].Shape, shape)}
		}
	}
	for _, t := range m.Tensors {
		if t.Name == "rope_freqs.weight" && len(t.Shape) == 1 && t.Shape[0] == int64(c.RopeDim/2) {
			continue // optional: llama3 RoPE scaling
		}
		if _, ok := want[t.Name]; !ok {
			return &format.FormatError{File: m.Path, Tensor: t.Name, Offset: -1, Msg: "unexpected tensor for a " + c.Arch + " model"}
		}
	}
	if m.Vocab != nil && len(m.Vocab.Tokens) != c.VocabSize {
		return fmt.Errorf("%s: tokenizer has %d tokens but the model's embedding has %d rows", m.Path, len(m.Vocab.Tokens), c.VocabSize)
	}
	return nil
}

// ExpectedShapes returns the GGUF tensors a llama-family model with config c
// has, with their shapes in ggml order (spec §1c). output.weight is listed
// even for tied models; optional biases are listed when c.QKVBias.
func ExpectedShapes(c *model.Config) map[string][]int64 {
	d, v := int64(c.Dim), int64(c.VocabSize)
	want := map[string][]int64{
		"token_embd.weight":  {d, v},
		"output_norm.weight": {d},
		"output.weight":      {d, v},
	}
	hd := int64(c.HeadDim)
	for l := 0; l < c.Layers; l++ {
		q, kv, ff := int64(c.Heads[l])*hd, int64(c.KVHeads[l])*hd, int64(c.FFN[l])
		p := fmt.Sprintf("blk.%d.", l)
		want[p+"attn_norm.weight"] = []int64{d}
		want[p+"attn_q.weight"] = []int64{d, q}
		want[p+"attn_k.weight"] = []int64{d, kv}
		want[p+"attn_v.weight"] = []int64{d, kv}
		want[p+"attn_output.weight"] = []int64{q, d}
		want[p+"ffn_norm.weight"] = []int64{d}
		if c.MoELayer(l) {
			expertShapes(want, c, p)
		} else {
			want[p+"ffn_gate.weight"] = []int64{d, ff}
			want[p+"ffn_up.weight"] = []int64{d, ff}
			want[p+"ffn_down.weight"] = []int64{ff, d}
		}
		if c.MLA != nil {
			mlaShapes(want, c, l, p)
		}
		if c.QKNorm {
			want[p+"attn_q_norm.weight"] = []int64{hd}
			want[p+"attn_k_norm.weight"] = []int64{hd}
		}
		if c.QKVBias {
			want[p+"attn_q.bias"] = []int64{q}
			want[p+"attn_k.bias"] = []int64{kv}
			want[p+"attn_v.bias"] = []int64{kv}
		}
	}
	return want
}

// expertShapes adds the feed-forward tensors of an MoE block (prefix p):
// router, stacked routed experts, shared expert and its gate, selection
// bias, as c has them.
func expertShapes(want map[string][]int64, c *model.Config, p string) {
	d, e, ef, sf := int64(c.Dim), int64(c.Experts), int64(c.ExpertFFN), int64(c.SharedFFN)
	want[p+"ffn_gate_inp.weight"] = []int64{d, e}
	want[p+"ffn_gate_exps.weight"] = []int64{d, ef, e}
	want[p+"ffn_up_exps.weight"] = []int64{d, ef, e}
	want[p+"ffn_down_exps.weight"] = []int64{ef, d, e}
	if sf > 0 {
		want[p+"ffn_gate_shexp.weight"] = []int64{d, sf}
		want[p+"ffn_up_shexp.weight"] = []int64{d, sf}
		want[p+"ffn_down_shexp.weight"] = []int64{sf, d}
	}
	if c.SharedGate {
		want[p+"ffn_gate_inp_shexp.weight"] = []int64{d}
	}
	if c.ProbsBias {
		want[p+"exp_probs_b.bias"] = []int64{e}
	}
}

func equalShape(a, b []int64) bool {
	// Trailing dimensions of 1 are not significant (ggml drops them).
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

// ReadRaw returns the tensor's bytes in its stored type, rows in GGUF order.
func (m *Model) ReadRaw(t Tensor) ([]byte, error) {
	if t.data != nil {
		return append([]byte(nil), t.data...), nil
	}
	if t.permuteHeads > 0 {
		// Q/K rows from Hugging Face order: Open reorders them to GGUF's.
		r, err := m.Open(Plan{Tensor: t, Out: t.Type}, false)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, t.Info().Bytes())
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	r, err := m.tensorData(t)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, r.Size())
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, &format.FormatError{File: m.Path, Tensor: t.SrcName, Offset: -1, Msg: "reading tensor data", Err: err}
	}
	return buf, nil
}

// Rows returns the number of rows of the tensor.
func (t Tensor) Rows() int64 { return t.Info().Rows() }

// ReadFloat32 returns the tensor's values as float32, rows in GGUF order,
// dequantizing quantized types.
func (m *Model) ReadFloat32(t Tensor) ([]float32, error) {
	raw, err := m.ReadRaw(t)
	if err != nil {
		return nil, err
	}
	out := make([]float32, t.Info().NumElements())
	if err := decodeRows(t.Type, out, raw); err != nil {
		return nil, fmt.Errorf("%s: tensor %s: %w", m.Path, t.SrcName, err)
	}
	return out, nil
}

var errNoVocab = errors.New("the checkpoint carries no tokenizer; give one with --tokenizer")
