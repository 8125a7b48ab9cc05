package distill

import (
	"fmt"
	"os"
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
	switch dtype {
	case format.F32, format.F16, format.BF16:
	default:
		return fmt.Errorf("distill: output type %s: want f32, f16 or bf16", dtype)
	}
	if m.Vocab == nil {
		return fmt.Errorf("%s: %w: the model has no vocabulary", dst, ErrMismatch)
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
	f, err := format.CreateAtomic(dst)
	if err != nil {
		return err
	}
	defer f.Abort()
	w, err := gguf.NewWriter(f, md, infos)
	if err != nil {
		return fmt.Errorf("%s: %w", dst, err)
	}
	for i, p := range ps {
		buf := make([]byte, infos[i].Bytes())
		if err := format.EncodeFloats(infos[i].Type, p.values(), buf); err != nil {
			return fmt.Errorf("%s: tensor %s: %w", dst, p.Name, err)
		}
		if err := w.WriteTensor(buf); err != nil {
			return fmt.Errorf("%s: tensor %s: %w", dst, p.Name, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%s: %w", dst, err)
	}
	return f.Commit()
}

// Write writes the model as every shrink output is written: a GGUF file
// when dst ends in .gguf, else a Hugging Face folder (config.json,
// model.safetensors, tokenizer.model), matrices in dtype. The folder is
// produced through a temporary GGUF file beside it and package convert.
func (m *Model) Write(dst string, dtype format.DType) error {
	if strings.HasSuffix(strings.ToLower(dst), ".gguf") {
		return m.WriteGGUF(dst, dtype, nil)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dst, ".distill-*.gguf")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName)
	if err := m.WriteGGUF(tmpName, dtype, nil); err != nil {
		return err
	}
	cm, err := convert.Load(tmpName, convert.Options{})
	if err != nil {
		return err
	}
	defer cm.Close()
	cm.Config.Name = m.Config.Name
	return cm.WriteHF(dst, dtype)
}
