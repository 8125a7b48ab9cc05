package convert_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
)

// TestWriteQuantizedChunking: the bytes written do not depend on the chunk
// size or the number of threads, with and without importances, and Q/K
// rows are reordered as in a plain conversion.
func TestWriteQuantizedChunking(t *testing.T) {
	dir := t.TempDir()
	hf := filepath.Join(dir, "hf")
	must(t, os.Mkdir(hf, 0o755))
	writeHF(t, hf, hfSpec{dim: 256, layers: 1, heads: 4, kvHeads: 2, ffn: 96, vocab: 300, dtype: format.BF16})
	m, err := convert.Load(hf, convert.Options{})
	must(t, err)
	defer m.Close()
	plans := convert.PlanDType(m, 0, true)
	for i := range plans {
		if len(plans[i].Shape) == 2 && plans[i].Shape[0]%256 == 0 {
			plans[i].Out = format.Q4_K
		} else if len(plans[i].Shape) == 2 {
			plans[i].Out = format.Q4_0
		}
	}
	md, err := m.GGUFMetadata(format.Q4_K)
	must(t, err)
	imp := func(name string) []float32 {
		tt, _ := m.Tensor(name)
		v := make([]float32, tt.Shape[0])
		for j := range v {
			v[j] = float32(1 + j%7)
		}
		return v
	}
	var ref [2][]byte
	for _, tc := range []struct {
		chunk   int64
		threads int
	}{{1 << 20, 1}, {100, 3}, {300, 2}, {1, 4}} {
		for k, withImp := range []bool{false, true} {
			restore := convert.SetQuantChunkElems(tc.chunk)
			dst := filepath.Join(dir, fmt.Sprintf("q-%d-%d-%v.gguf", tc.chunk, tc.threads, withImp))
			opt := convert.QuantizeOptions{Threads: tc.threads}
			if withImp {
				opt.Importance = imp
			}
			done := map[string]int64{}
			opt.Progress = func(i int, p convert.Plan, n int64) { done[p.Name] = n }
			must(t, m.WriteQuantized(dst, md, plans, opt))
			restore()
			data, err := os.ReadFile(dst)
			must(t, err)
			if ref[k] == nil {
				ref[k] = data
			} else if !bytes.Equal(data, ref[k]) {
				t.Errorf("chunk %d, %d threads, imp %v: output differs", tc.chunk, tc.threads, withImp)
			}
			if done["blk.0.ffn_up.weight"] != 256*96 {
				t.Errorf("progress for ffn_up ended at %d", done["blk.0.ffn_up.weight"])
			}
		}
	}
	if bytes.Equal(ref[0], ref[1]) {
		t.Error("importances changed nothing")
	}
	// Q/K rows: the quantized attn_q equals a conversion of the
	// (reordered) F32 GGUF quantized the same way.
	f32 := filepath.Join(dir, "f32.gguf")
	toGGUF(t, hf, f32, format.F32, false)
	m2, err := convert.Load(f32, convert.Options{})
	must(t, err)
	defer m2.Close()
	plans2 := convert.PlanDType(m2, 0, true)
	for i := range plans2 {
		plans2[i].Out = plans[i].Out
	}
	dst2 := filepath.Join(dir, "via-f32.gguf")
	md2, err := m2.GGUFMetadata(format.Q4_K)
	must(t, err)
	must(t, m2.WriteQuantized(dst2, md2, plans2, convert.QuantizeOptions{}))
	a, err := gguf.Open(filepath.Join(dir, fmt.Sprintf("q-%d-%d-%v.gguf", 1<<20, 1, false)))
	must(t, err)
	defer a.Close()
	b, err := gguf.Open(dst2)
	must(t, err)
	defer b.Close()
	ra, rb := readAll(t, a), readAll(t, b)
	for _, name := range []string{"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.ffn_down.weight"} {
		if !bytes.Equal(ra[name], rb[name]) {
			t.Errorf("%s: quantizing BF16 directly and via F32 GGUF differ", name)
		}
	}
}
