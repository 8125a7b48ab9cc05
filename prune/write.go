package prune

import (
	"fmt"
	"io"
	"strings"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
)

// FileType returns the type holding most parameters among the matrices,
// which names the file's general.file_type.
func (m *Model) FileType() format.DType {
	count := map[format.DType]int{}
	for _, t := range m.Tensors {
		if len(t.Shape) >= 2 {
			count[t.Type] += int(t.Elements())
		}
	}
	best, n := format.F32, -1
	for t, c := range count {
		if c > n || (c == n && t < best) {
			best, n = t, c
		}
	}
	return best
}

// Architectures for the GGUF output.
const (
	// ArchAuto writes "deci" for a llama model whose widths differ per
	// layer and the source's architecture otherwise.
	ArchAuto = ""
	// ArchDeci is llama.cpp's name (LLM_ARCH_DECI, from DeciLM and
	// Nemotron-NAS) for the llama graph with per-layer head_count,
	// head_count_kv and feed_forward_length arrays: llama.cpp's "llama"
	// loader reads one width for every layer, its "deci" loader one per
	// layer, with the same tensors and computation otherwise.
	ArchDeci = "deci"
)

// GGUFArch returns the architecture name the output is written under for
// the choice arch (ArchAuto, "llama", "deci" ...).
func (m *Model) GGUFArch(arch string) string {
	if arch != ArchAuto {
		return arch
	}
	if m.Config.Arch == "llama" && !m.Config.Uniform() {
		return ArchDeci
	}
	return m.Config.Arch
}

// Metadata returns the GGUF metadata of the pruned model: the source's
// keys (src), the pruned configuration under architecture m.GGUFArch(arch)
// (per-layer arrays where widths differ; the source architecture's own
// keys are dropped when it changes), the tokenizer, and under
// shrink.prune.* the recipe, the source blocks kept and removed, and the
// kept heads, key/value heads and feed-forward channels per layer.
func (m *Model) Metadata(src *convert.Model, p *Plan, recipe, arch string) (*gguf.Metadata, error) {
	c := m.Config.Clone()
	c.Arch = m.GGUFArch(arch)
	view := &convert.Model{Path: src.Path, Config: c, Vocab: src.Vocab, Meta: src.Meta}
	md, err := view.GGUFMetadata(m.FileType())
	if err != nil {
		return nil, err
	}
	if old := m.Config.Arch; old != c.Arch {
		var stale []string
		for _, kv := range md.KVs() {
			if strings.HasPrefix(kv.Key, old+".") {
				stale = append(stale, kv.Key)
			}
		}
		for _, k := range stale {
			md.Delete(k)
		}
	}
	ints := func(v []int) gguf.Value {
		a := make([]int32, len(v))
		for i, x := range v {
			a[i] = int32(x)
		}
		return gguf.Int32s(a)
	}
	var kept []int
	for _, lp := range p.Layers {
		kept = append(kept, lp.Layer)
	}
	md.Set("shrink.prune.recipe", gguf.String(recipe))
	md.Set("shrink.prune.score", gguf.String(p.Score.String()))
	md.Set("shrink.prune.source_params", gguf.Uint64(uint64(p.Source.Params())))
	md.Set("shrink.prune.layers_kept", ints(kept))
	if len(p.Removed) > 0 {
		md.Set("shrink.prune.layers_removed", ints(p.Removed))
	} else {
		md.Delete("shrink.prune.layers_removed")
	}
	md.Set("shrink.prune.heads_kept", ints(m.Config.Heads))
	md.Set("shrink.prune.kv_heads_kept", ints(m.Config.KVHeads))
	md.Set("shrink.prune.ffn_kept", ints(m.Config.FFN))
	return md, nil
}

// WriteGGUF writes the model as a GGUF file at dst with metadata md,
// through a temporary file renamed into place when complete. Each tensor is
// written in its Type.
func (m *Model) WriteGGUF(dst string, md *gguf.Metadata) error {
	return m.WriteGGUFEach(dst, md, nil)
}

// WriteGGUFEach is WriteGGUF calling each (when not nil) before every
// tensor is computed and written, with its index and the number of
// tensors: an error from each stops the write and leaves nothing at dst.
func (m *Model) WriteGGUFEach(dst string, md *gguf.Metadata, each func(i, n int) error) error {
	infos := make([]format.TensorInfo, len(m.Tensors))
	for i, t := range m.Tensors {
		infos[i] = format.TensorInfo{Name: t.Name, Type: t.Type, Shape: t.Shape}
	}
	return gguf.WriteFile(dst, md, infos, func(i int, w io.Writer) error {
		if each != nil {
			if err := each(i, len(m.Tensors)); err != nil {
				return err
			}
		}
		b, err := m.Tensors[i].Encode()
		if err != nil {
			return fmt.Errorf("%s: %w", dst, err)
		}
		_, err = w.Write(b)
		return err
	})
}

// WriteHF writes the model as a Hugging Face folder at dir (uniform widths
// only) with package convert, straight from memory: md is the metadata a
// GGUF output would carry, the configuration and vocabulary are read from
// it.
func (m *Model) WriteHF(dir string, md *gguf.Metadata) error {
	return m.WriteHFEach(dir, md, nil)
}

// WriteHFEach is WriteHF calling each as WriteGGUFEach does.
func (m *Model) WriteHFEach(dir string, md *gguf.Metadata, each func(i, n int) error) error {
	if !m.Config.Uniform() {
		return fmt.Errorf("%s: per-layer widths differ; write GGUF instead", dir)
	}
	ts := make([]convert.MemTensor, len(m.Tensors))
	for i, t := range m.Tensors {
		ts[i] = convert.MemTensor{Name: t.Name, Type: t.Type, Shape: t.Shape, Bytes: t.Encode}
		if each != nil {
			i, encode := i, t.Encode
			ts[i].Bytes = func() ([]byte, error) {
				if err := each(i, len(m.Tensors)); err != nil {
					return nil, err
				}
				return encode()
			}
		}
	}
	cm, err := convert.FromMemory(dir, md, ts)
	if err != nil {
		return err
	}
	return cm.WriteHF(dir, m.FileType())
}
