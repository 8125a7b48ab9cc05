package convert

import (
	"fmt"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/model"
)

// MemTensor is a tensor a caller holds in memory (a pruned or trained
// model), under its GGUF name.
type MemTensor struct {
	Name  string
	Type  format.DType
	Shape []int64 // ggml order
	// Bytes returns the data in Type's encoding, rows in GGUF order. It
	// is called when the tensor is written, one tensor at a time, so the
	// caller need not hold every encoded tensor at once.
	Bytes func() ([]byte, error)
}

// FromMemory describes a model held in memory as a Model, so that WriteHF
// and WriteGGUF write it without a temporary file: md is the metadata its
// GGUF file would carry (configuration and vocabulary are read from it as
// Load reads a GGUF file's) and tensors its tensors in file order. name
// stands for the path in error messages. Close is a no-op.
func FromMemory(name string, md *gguf.Metadata, tensors []MemTensor) (*Model, error) {
	m := &Model{Path: name, Format: "gguf", Meta: md}
	var err error
	if m.Config, err = model.ConfigFromGGUF(md); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if _, ok := md.String("tokenizer.ggml.model"); ok {
		if m.Vocab, err = model.VocabFromGGUF(md); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	for _, t := range tensors {
		if t.Bytes == nil {
			return nil, fmt.Errorf("%s: tensor %s has no data", name, t.Name)
		}
		m.add(Tensor{Name: t.Name, SrcName: t.Name, Type: t.Type, Shape: t.Shape, derive: t.Bytes})
	}
	_, hasOutput := m.byName["output.weight"]
	m.Config.TiedEmbeddings = !hasOutput
	m.noteProbsBias()
	return m, nil
}
