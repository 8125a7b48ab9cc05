package prune

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
)

// Sentinel errors of package prune.
var (
	// ErrTarget reports a pruning target that cannot be met: a ratio
	// outside [0, 1), or a cut that would leave a layer (or the model)
	// empty or below its floor.
	ErrTarget = errors.New("prune: impossible target")
	// ErrStats reports calibration statistics that do not fit the model
	// (no tokens seen, or shapes that differ).
	ErrStats = errors.New("prune: bad calibration statistics")
	// ErrModel reports a model this package cannot prune (missing or
	// misshaped tensors).
	ErrModel = errors.New("prune: unsupported model")
)

// Tensor is one weight held as float32: rows in GGUF order, Shape in ggml
// order (Shape[0] values per row).
type Tensor struct {
	Name  string
	Type  format.DType // type the tensor is written in (the source precision)
	Shape []int64
	Data  []float32 // nil in a lazy model (FromConvertLazy, ApplyLazy): see Values
	load  func() ([]float32, error)
}

// Values returns the tensor's values: Data, or for a tensor of a lazy
// model its values read or computed now (and not kept).
func (t *Tensor) Values() ([]float32, error) {
	if t.Data != nil || t.load == nil {
		return t.Data, nil
	}
	return t.load()
}

// Elements returns the number of values (the product of Shape).
func (t *Tensor) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Rows returns the number of rows (the product of Shape[1:]).
func (t *Tensor) Rows() int {
	n := 1
	for _, d := range t.Shape[1:] {
		n *= int(d)
	}
	return n
}

// Cols returns the number of values per row (Shape[0]).
func (t *Tensor) Cols() int { return int(t.Shape[0]) }

// Model is a llama-family model held in memory as float32, the input and
// output of pruning.
type Model struct {
	Config  *model.Config
	Tensors []*Tensor // in file order
}

// Tensor returns the named tensor, or nil.
func (m *Model) Tensor(name string) *Tensor {
	for _, t := range m.Tensors {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// FromConvert reads every tensor of a loaded checkpoint into memory. Float
// tensors keep their type; quantized ones are dequantized and will be
// written as F16, which is reported in the returned warnings.
func FromConvert(cm *convert.Model) (*Model, []string, error) {
	return fromConvert(cm, false)
}

// FromConvertLazy is FromConvert with every tensor read from cm only when
// its values are asked for (Tensor.Values), and not kept: cm must stay
// open while the model is used. Memory is then one tensor at a time.
func FromConvertLazy(cm *convert.Model) (*Model, []string, error) {
	return fromConvert(cm, true)
}

func fromConvert(cm *convert.Model, lazy bool) (*Model, []string, error) {
	m := &Model{Config: cm.Config.Clone()}
	var warn []string
	for _, t := range cm.Tensors {
		var data []float32
		var load func() ([]float32, error)
		if lazy {
			load = func() ([]float32, error) { return cm.ReadFloat32(t) }
		} else {
			var err error
			if data, err = cm.ReadFloat32(t); err != nil {
				return nil, nil, err
			}
		}
		typ := t.Type
		switch typ {
		case format.F32, format.F16, format.BF16:
		default:
			warn = append(warn, fmt.Sprintf("%s: %s tensor dequantized to f16 (prune a float checkpoint for best results)", t.Name, typ))
			typ = format.F16
		}
		if len(t.Shape) < 2 {
			typ = format.F32 // 1-D tensors stay F32 as llama.cpp requires
		}
		m.Tensors = append(m.Tensors, &Tensor{Name: t.Name, Type: typ, Shape: append([]int64(nil), t.Shape...), Data: data, load: load})
	}
	if err := m.check(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", cm.Path, err)
	}
	return m, warn, nil
}

// check verifies that the block tensors pruning touches exist with the
// shapes the configuration implies.
func (m *Model) check() error {
	c := m.Config
	if c.MLA != nil {
		return m.checkMLA() // latent attention: see mla.go
	}
	if c.Layers < 1 || len(c.Heads) != c.Layers || len(c.KVHeads) != c.Layers || len(c.FFN) != c.Layers || c.HeadDim < 1 {
		return fmt.Errorf("%w: configuration has inconsistent layer counts", ErrModel)
	}
	for l := 0; l < c.Layers; l++ {
		if c.KVHeads[l] < 1 || c.Heads[l]%c.KVHeads[l] != 0 {
			return fmt.Errorf("%w: layer %d has %d heads for %d key/value heads", ErrModel, l, c.Heads[l], c.KVHeads[l])
		}
		want := map[string][2]int{
			"attn_q.weight":      {c.Dim, c.QDim(l)},
			"attn_k.weight":      {c.Dim, c.KVDim(l)},
			"attn_v.weight":      {c.Dim, c.KVDim(l)},
			"attn_output.weight": {c.QDim(l), c.Dim},
			"ffn_gate.weight":    {c.Dim, c.FFN[l]},
			"ffn_up.weight":      {c.Dim, c.FFN[l]},
			"ffn_down.weight":    {c.FFN[l], c.Dim},
		}
		for suf, s := range want {
			name := blk(l, suf)
			t := m.Tensor(name)
			if t == nil {
				return fmt.Errorf("%w: tensor %s missing", ErrModel, name)
			}
			if len(t.Shape) != 2 || int(t.Shape[0]) != s[0] || int(t.Shape[1]) != s[1] || (t.load == nil && len(t.Data) != s[0]*s[1]) {
				return fmt.Errorf("%w: tensor %s has shape %v, want [%d %d]", ErrModel, name, t.Shape, s[0], s[1])
			}
		}
	}
	return nil
}

// blk returns the GGUF name of a block tensor.
func blk(l int, suffix string) string { return "blk." + strconv.Itoa(l) + "." + suffix }

// splitBlk splits "blk.N.rest" into N and rest.
func splitBlk(name string) (int, string, bool) {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return 0, "", false
	}
	i := strings.IndexByte(rest, '.')
	if i < 0 {
		return 0, "", false
	}
	n, err := strconv.Atoi(rest[:i])
	if err != nil {
		return 0, "", false
	}
	return n, rest[i+1:], true
}

// Encode returns the tensor's bytes in its Type.
func (t *Tensor) Encode() ([]byte, error) {
	data, err := t.Values()
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	if int64(len(data)) != t.Elements() {
		return nil, fmt.Errorf("tensor %s: %d values for shape %v", t.Name, len(data), t.Shape)
	}
	info := format.TensorInfo{Name: t.Name, Type: t.Type, Shape: t.Shape}
	buf := make([]byte, info.Bytes())
	if err := format.EncodeFloats(t.Type, data, buf); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	return buf, nil
}

// Params returns the number of parameters of the model's tensors.
func (m *Model) Params() int64 {
	var n int64
	for _, t := range m.Tensors {
		n += t.Elements()
	}
	return n
}

// lazy reports whether some tensor's values are read on demand.
func (m *Model) lazy() bool {
	for _, t := range m.Tensors {
		if t.Data == nil && t.load != nil {
			return true
		}
	}
	return false
}

// withLayer returns m, or for a lazy model a model holding the values of
// block l's tensors (the ones the scores read), read now.
func (m *Model) withLayer(l int) (*Model, error) {
	if !m.lazy() {
		return m, nil
	}
	lm := &Model{Config: m.Config}
	for _, suf := range []string{"attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"} {
		t := m.Tensor(blk(l, suf))
		if t == nil {
			return nil, fmt.Errorf("%w: tensor %s missing", ErrModel, blk(l, suf))
		}
		data, err := t.Values()
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		lm.Tensors = append(lm.Tensors, &Tensor{Name: t.Name, Type: t.Type, Shape: t.Shape, Data: data})
	}
	return lm, nil
}
