package distill

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
)

// WriteGGUF writes the model (adapters merged) as a llama GGUF file at
// dst, atomically: matrices in dtype (F32, F16 or BF16), 1-D tensors in F32
// as llama.cpp requires, metadata from the configuration and vocabulary.
// extra metadata (may be nil) is added.
func (m *Model) WriteGGUF(dst string, dtype format.DType, extra *gguf.Metadata) error {
	md, ps, infos, err := m.output(dst, dtype, extra)
	if err != nil {
		return err
	}
	return gguf.WriteFile(dst, md, infos, func(i int, w io.Writer) error {
		buf, err := encode(infos[i], ps[i].values())
		if err != nil {
			return fmt.Errorf("%s: tensor %s: %w", dst, ps[i].Name, err)
		}
		_, err = w.Write(buf)
		return err
	})
}

// encode returns the values of tensor t in its type.
func encode(t format.TensorInfo, w []float32) ([]byte, error) {
	buf := make([]byte, t.Bytes())
	if err := format.EncodeFloats(t.Type, w, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// output returns the metadata and tensors of the model's output file
// (adapters merged): the parameters written and their descriptions.
func (m *Model) output(dst string, dtype format.DType, extra *gguf.Metadata) (*gguf.Metadata, []*Param, []format.TensorInfo, error) {
	switch dtype {
	case format.F32, format.F16, format.BF16:
	default:
		return nil, nil, nil, fmt.Errorf("distill: output type %s: want f32, f16 or bf16", dtype)
	}
	if m.Vocab == nil {
		return nil, nil, nil, fmt.Errorf("%s: %w: the model has no vocabulary", dst, ErrMismatch)
	}
	m.mergeLoRA()
	md := &gguf.Metadata{}
	md.Set("general.architecture", gguf.String(m.Config.Arch))
	name := m.Config.Name
	if name == "" {
		base := filepath.Base(filepath.Clean(dst))
		name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	md.Set("general.name", gguf.String(name))
	m.Config.SetGGUF(md)
	m.Vocab.SetGGUF(md)
	if ft, ok := convert.FileType(dtype); ok {
		md.Set("general.file_type", gguf.Uint32(ft))
	}
	if extra != nil {
		for _, kv := range extra.KVs() {
			md.Set(kv.Key, kv.Value)
		}
	}
	var ps []*Param
	var infos []format.TensorInfo
	for _, p := range m.Params {
		if p.adapter() {
			continue
		}
		t := dtype
		if len(p.Shape) < 2 {
			t = format.F32
		}
		ps = append(ps, p)
		infos = append(infos, format.TensorInfo{Name: p.Name, Type: t, Shape: p.Shape})
	}
	if m.ropeDiv != nil && m.Config.RopeScaling != nil && m.Config.RopeScaling.Type == "llama3" {
		ps = append(ps, &Param{Name: "rope_freqs.weight", W: m.ropeDiv})
		infos = append(infos, format.TensorInfo{Name: "rope_freqs.weight", Type: format.F32, Shape: []int64{int64(len(m.ropeDiv))}})
	}
	return md, ps, infos, nil
}

// Write writes the model as every shrink output is written: a GGUF file
// when dst ends in .gguf, else a Hugging Face folder (config.json,
// model.safetensors, tokenizer.model), matrices in dtype, written straight
// from memory by package convert.
func (m *Model) Write(dst string, dtype format.DType) error {
	if strings.HasSuffix(strings.ToLower(dst), ".gguf") {
		return m.WriteGGUF(dst, dtype, nil)
	}
	md, ps, infos, err := m.output(dst, dtype, nil)
	if err != nil {
		return err
	}
	ts := make([]convert.MemTensor, len(ps))
	for i, p := range ps {
		info := infos[i]
		ts[i] = convert.MemTensor{Name: info.Name, Type: info.Type, Shape: info.Shape,
			Bytes: func() ([]byte, error) { return encode(info, p.values()) }}
	}
	cm, err := convert.FromMemory(dst, md, ts)
	if err != nil {
		return err
	}
	cm.Config.Name = m.Config.Name
	return cm.WriteHF(dst, dtype)
}
