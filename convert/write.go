package convert

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/format/safetensors"
	"github.com/shrink-llm/shrink/model"
)

// FileType returns the llama_ftype number GGUF's general.file_type uses for
// a model stored mostly in type t (spec §1a), and false when there is none.
func FileType(t format.DType) (uint32, bool) {
	switch t {
	case format.F32:
		return 0, true
	case format.F16:
		return 1, true
	case format.Q4_0:
		return 2, true
	case format.Q4_1:
		return 3, true
	case format.Q8_0:
		return 7, true
	case format.Q5_0:
		return 8, true
	case format.Q5_1:
		return 9, true
	case format.Q2_K:
		return 10, true
	case format.Q3_K:
		return 12, true // Q3_K_M
	case format.Q4_K:
		return 15, true // Q4_K_M
	case format.Q5_K:
		return 17, true // Q5_K_M
	case format.Q6_K:
		return 18, true
	case format.IQ4_NL:
		return 25, true
	case format.BF16:
		return 32, true
	}
	return 0, false
}

// Plan is a tensor to write: its output name, type and shape, and how to
// produce its bytes.
type Plan struct {
	Tensor
	Out format.DType // output type
}

// PlanDType returns the output plan of converting every tensor of m to
// dtype: matrices take dtype (0 keeps the stored type), 1-D tensors and
// expert routers (ffn_gate_inp) stay F32 as llama.cpp requires, and already-quantized tensors pass through
// unless dtype is given.
func PlanDType(m *Model, dtype format.DType, keep bool) []Plan {
	var plans []Plan
	for _, t := range m.Tensors {
		out := t.Type
		switch {
		case len(t.Shape) < 2 || (len(t.Shape) == 2 && t.Shape[1] == 1 && !strings.HasSuffix(t.Name, "_embd.weight")),
			strings.HasSuffix(t.Name, ".ffn_gate_inp.weight"): // routers stay F32, as llama.cpp keeps them
			out = format.F32
		case !keep:
			out = dtype
		}
		plans = append(plans, Plan{Tensor: t, Out: out})
	}
	return plans
}

// GGUFMetadata returns the metadata of the output GGUF: the source's GGUF
// keys when it was a GGUF file (so nothing is lost), then the architecture
// and tokenizer keys from the model, general.file_type for ftype, and
// extra.
func (m *Model) GGUFMetadata(ftype format.DType) (*gguf.Metadata, error) {
	md := &gguf.Metadata{}
	if m.Meta != nil {
		for _, kv := range m.Meta.KVs() {
			md.Set(kv.Key, kv.Value)
		}
	}
	md.Set("general.architecture", gguf.String(m.Config.Arch))
	if m.Config.Name != "" {
		md.Set("general.name", gguf.String(m.Config.Name))
	} else if _, ok := md.Get("general.name"); !ok {
		md.Set("general.name", gguf.String(modelName(m.Path)))
	}
	if err := m.Config.CheckGGUFExperts(); err != nil {
		return nil, fmt.Errorf("%s: %w", m.Path, err)
	}
	m.Config.SetGGUF(md)
	if m.Vocab == nil {
		return nil, fmt.Errorf("%s: %w", m.Path, errNoVocab)
	}
	m.Vocab.SetGGUF(md)
	if ft, ok := FileType(ftype); ok {
		md.Set("general.file_type", gguf.Uint32(ft))
	} else {
		md.Delete("general.file_type")
	}
	return md, nil
}

func modelName(path string) string {
	base := filepath.Base(filepath.Clean(path))
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// WriteGGUF writes the plans as a GGUF file at dst with metadata md,
// through a temporary file renamed into place when complete.
func (m *Model) WriteGGUF(dst string, md *gguf.Metadata, plans []Plan, progress func(i int, p Plan)) error {
	return m.WriteGGUFContext(context.Background(), dst, md, plans, progress)
}

// WriteGGUFContext is WriteGGUF stopping with ctx's error between tensors
// when ctx is done (no file is left then).
func (m *Model) WriteGGUFContext(ctx context.Context, dst string, md *gguf.Metadata, plans []Plan, progress func(i int, p Plan)) error {
	infos := make([]format.TensorInfo, len(plans))
	for i, p := range plans {
		infos[i] = format.TensorInfo{Name: p.Name, Type: p.Out, Shape: p.Shape}
	}
	return gguf.WriteFile(dst, md, infos, func(i int, w io.Writer) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := plans[i]
		if progress != nil {
			progress(i, p)
		}
		r, err := m.Open(p, false)
		if err != nil {
			return err
		}
		if err := copyTensor(w, r, infos[i]); err != nil {
			return fmt.Errorf("%s: tensor %s: %w", dst, p.Name, err)
		}
		return nil
	})
}

// WriteHF writes the model as a Hugging Face folder at dir: config.json,
// model.safetensors (HF names, PyTorch shapes, rotate-half Q/K rows) and,
// for SentencePiece vocabularies, tokenizer.model. Each file is written
// atomically. Only float output types are possible.
func (m *Model) WriteHF(dir string, dtype format.DType) error {
	return m.WriteHFContext(context.Background(), dir, dtype)
}

// WriteHFContext is WriteHF stopping with ctx's error between tensors when
// ctx is done (model.safetensors is not left then).
func (m *Model) WriteHFContext(ctx context.Context, dir string, dtype format.DType) error {
	switch dtype {
	case format.F32, format.F16, format.BF16:
	default:
		return fmt.Errorf("a Hugging Face folder holds f32, f16 or bf16 tensors, not %s", dtype)
	}
	c := m.Config
	if !c.Uniform() {
		return fmt.Errorf("%s: per-layer widths differ; write GGUF instead (transformers' config.json has one width)", m.Path)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c.TorchDType = map[format.DType]string{format.F32: "float32", format.F16: "float16", format.BF16: "bfloat16"}[dtype]
	cfg, err := c.HFConfigJSON()
	if err != nil {
		return err
	}
	if err := format.WriteFileAtomic(filepath.Join(dir, "config.json"), cfg); err != nil {
		return err
	}
	if m.Vocab != nil && m.Vocab.Model == "llama" {
		data, err := model.EncodeSentencePiece(m.Vocab)
		if err != nil {
			return err
		}
		if err := format.WriteFileAtomic(filepath.Join(dir, "tokenizer.model"), data); err != nil {
			return err
		}
	}
	type hfTensor struct {
		Plan
		hfName string
	}
	var ts []hfTensor
	for _, p := range PlanDType(m, dtype, false) {
		if (p.Name == "output.weight" && c.TiedEmbeddings) || p.Name == "rope_freqs.weight" {
			continue // tied, or recomputed from config.json's rope_scaling
		}
		hf, ok := model.HFName(p.Name)
		if !ok {
			return fmt.Errorf("tensor %s has no Hugging Face name", p.Name)
		}
		if len(p.Shape) < 2 {
			p.Out = dtype // HF keeps norms in the checkpoint's dtype
		}
		ts = append(ts, hfTensor{p, hf})
	}
	sort.SliceStable(ts, func(i, j int) bool { return hfLess(ts[i].hfName, ts[j].hfName) })
	infos := make([]format.TensorInfo, len(ts))
	for i, t := range ts {
		infos[i] = format.TensorInfo{Name: t.hfName, Type: t.Out, Shape: t.Shape}
	}
	return safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), infos, map[string]string{"format": "pt"}, func(i int, w io.Writer) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := m.Open(ts[i].Plan, true)
		if err != nil {
			return err
		}
		if err := copyTensor(w, r, infos[i]); err != nil {
			return fmt.Errorf("tensor %s: %w", ts[i].hfName, err)
		}
		return nil
	})
}

// hfLess orders the names model.HFName gives: the embedding first, then
// the blocks by number, then the other global tensors, ties by name.
func hfLess(a, b string) bool {
	la, lb := hfRank(a), hfRank(b)
	if la != lb {
		return la < lb
	}
	return a < b
}

func hfRank(name string) int {
	if n, ok := model.LayerOf(name); ok {
		return n
	}
	if strings.HasPrefix(name, "model.embed") {
		return -1
	}
	return 1 << 30
}
