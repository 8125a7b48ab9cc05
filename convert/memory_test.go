package convert_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
)

// TestFromMemoryWriteHF checks that a model described from memory writes
// the same Hugging Face folder as the GGUF file holding the same metadata
// and tensors, and that a tensor's data error reaches the caller.
func TestFromMemoryWriteHF(t *testing.T) {
	dir := t.TempDir()
	hf := filepath.Join(dir, "hf")
	must(t, os.Mkdir(hf, 0o755))
	writeHF(t, hf, hfSpec{dim: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96, vocab: 300, dtype: format.F16})
	g := filepath.Join(dir, "m.gguf")
	toGGUF(t, hf, g, 0, true)
	fromFile := filepath.Join(dir, "file")
	toHF(t, g, fromFile, format.F16)

	src, err := convert.Load(g, convert.Options{})
	must(t, err)
	defer src.Close()
	var ts []convert.MemTensor
	for _, st := range src.Tensors {
		data, err := src.ReadRaw(st)
		must(t, err)
		ts = append(ts, convert.MemTensor{Name: st.Name, Type: st.Type, Shape: st.Shape,
			Bytes: func() ([]byte, error) { return data, nil }})
	}
	m, err := convert.FromMemory("mem", src.Meta, ts)
	must(t, err)
	fromMem := filepath.Join(dir, "mem")
	must(t, m.WriteHF(fromMem, format.F16))
	must(t, m.Close())
	for _, name := range []string{"config.json", "model.safetensors", "tokenizer.model"} {
		a, err := os.ReadFile(filepath.Join(fromFile, name))
		must(t, err)
		b, err := os.ReadFile(filepath.Join(fromMem, name))
		must(t, err)
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between the file and the memory paths", name)
		}
	}

	ts[3].Bytes = func() ([]byte, error) { return nil, os.ErrInvalid }
	m, err = convert.FromMemory("mem", src.Meta, ts)
	must(t, err)
	bad := filepath.Join(dir, "bad")
	if err := m.WriteHF(bad, format.F16); err == nil || !strings.Contains(err.Error(), os.ErrInvalid.Error()) {
		t.Errorf("WriteHF with a failing tensor: error %v, want %v", err, os.ErrInvalid)
	}
	if _, err := os.Stat(filepath.Join(bad, "model.safetensors")); !os.IsNotExist(err) {
		t.Errorf("a failed write left model.safetensors behind")
	}
}
