package convert_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/quantize"
)

// TestWriteQuantizedWholeTensor: a WholeTensor encoder sees every row of
// the tensors it claims at once, its bytes are what is written, tensors it
// declines go through the row encoders, and its errors name the tensor.
func TestWriteQuantizedWholeTensor(t *testing.T) {
	dir := t.TempDir()
	hf := filepath.Join(dir, "hf")
	must(t, os.Mkdir(hf, 0o755))
	writeHF(t, hf, hfSpec{dim: 256, layers: 1, heads: 4, kvHeads: 2, ffn: 96, vocab: 300, dtype: format.BF16})
	m, err := convert.Load(hf, convert.Options{})
	must(t, err)
	defer m.Close()
	plans := convert.PlanDType(m, 0, true)
	for i := range plans {
		if len(plans[i].Shape) == 2 {
			plans[i].Out = format.Q4_0
		}
	}
	md, err := m.GGUFMetadata(format.Q4_0)
	must(t, err)
	restore := convert.SetQuantChunkElems(100) // rows would otherwise come in small chunks
	defer restore()
	ref := filepath.Join(dir, "ref.gguf")
	must(t, m.WriteQuantized(ref, md, plans, convert.QuantizeOptions{Threads: 2}))

	seen := map[string]int{}
	opt := convert.QuantizeOptions{Threads: 2, WholeTensor: func(name string, out format.DType) convert.TensorEncoder {
		if name == "blk.0.ffn_up.weight" {
			return nil
		}
		return func(dst []byte, x []float32, rows, cols int) error {
			seen[name] = rows
			return quantize.EncodeRows(out, dst, x, cols, nil, 1)
		}
	}}
	whole := filepath.Join(dir, "whole.gguf")
	must(t, m.WriteQuantized(whole, md, plans, opt))
	a, err := os.ReadFile(ref)
	must(t, err)
	b, err := os.ReadFile(whole)
	must(t, err)
	if !bytes.Equal(a, b) {
		t.Error("whole-tensor encoding differs from row encoding")
	}
	if seen["blk.0.ffn_down.weight"] != 256 || seen["blk.0.attn_q.weight"] != 256 {
		t.Errorf("rows seen: %v", seen)
	}
	if _, ok := seen["blk.0.ffn_up.weight"]; ok {
		t.Error("declined tensor went to the whole-tensor encoder")
	}
	boom := errors.New("boom")
	opt.WholeTensor = func(name string, out format.DType) convert.TensorEncoder {
		return func([]byte, []float32, int, int) error { return boom }
	}
	err = m.WriteQuantized(filepath.Join(dir, "err.gguf"), md, plans, opt)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "tensor ") {
		t.Errorf("error %v", err)
	}
}
