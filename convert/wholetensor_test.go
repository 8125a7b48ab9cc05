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
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/quantize"
)

// TestWriteQuantizedWholeTensor: a WholeTensor encoder sees every row of
// the tensors it claims at once, its bytes are what is written, tensors it
// declines go through the row encoders, and its errors name the tensor.
func TestWriteQuantizedWholeTensor(t *testing.T) {
	dir := t.TempDir()
	m, md, plans := q40Model(t, dir)
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

// TestWriteQuantizedChunked: a Chunked encoder sees every row of the
// tensors it claims once, in consecutive chunks in order, its bytes are
// what is written, and tensors it declines go through the row encoders.
func TestWriteQuantizedChunked(t *testing.T) {
	dir := t.TempDir()
	m, md, plans := q40Model(t, dir)
	restore := convert.SetQuantChunkElems(1000) // chunks of 3 rows of 256 with 2 threads
	defer restore()
	ref := filepath.Join(dir, "ref.gguf")
	must(t, m.WriteQuantized(ref, md, plans, convert.QuantizeOptions{Threads: 2}))

	next, calls := map[string]int{}, map[string]int{}
	opt := convert.QuantizeOptions{Threads: 2, Chunked: func(name string, out format.DType) convert.ChunkEncoder {
		if name == "blk.0.ffn_up.weight" {
			return nil
		}
		return func(dst []byte, x []float32, row0, rows, cols int) error {
			if row0 != next[name] || len(x) != rows*cols {
				t.Errorf("%s: chunk at row %d of %d rows (%d values), want row %d", name, row0, rows, len(x), next[name])
			}
			next[name] += rows
			calls[name]++
			return quantize.EncodeRows(out, dst, x, cols, nil, 1)
		}
	}}
	out := filepath.Join(dir, "chunked.gguf")
	must(t, m.WriteQuantized(out, md, plans, opt))
	a, err := os.ReadFile(ref)
	must(t, err)
	b, err := os.ReadFile(out)
	must(t, err)
	if !bytes.Equal(a, b) {
		t.Error("chunked encoding differs from row encoding")
	}
	if next["blk.0.attn_q.weight"] != 256 || calls["blk.0.attn_q.weight"] < 2 {
		t.Errorf("rows seen: %v in %v chunks", next, calls)
	}
	if _, ok := next["blk.0.ffn_up.weight"]; ok {
		t.Error("declined tensor went to the chunk encoder")
	}
}

// q40Model writes a one-block BF16 model in dir and returns it loaded,
// with its Q4_0 metadata and plans (matrices Q4_0).
func q40Model(t *testing.T, dir string) (*convert.Model, *gguf.Metadata, []convert.Plan) {
	t.Helper()
	hf := filepath.Join(dir, "hf")
	must(t, os.Mkdir(hf, 0o755))
	writeHF(t, hf, hfSpec{dim: 256, layers: 1, heads: 4, kvHeads: 2, ffn: 96, vocab: 300, dtype: format.BF16})
	m, err := convert.Load(hf, convert.Options{})
	must(t, err)
	t.Cleanup(func() { m.Close() })
	plans := convert.PlanDType(m, 0, true)
	for i := range plans {
		if len(plans[i].Shape) == 2 {
			plans[i].Out = format.Q4_0
		}
	}
	md, err := m.GGUFMetadata(format.Q4_0)
	must(t, err)
	return m, md, plans
}
