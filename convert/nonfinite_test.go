package convert_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// TestNonFiniteCallback: a tensor holding a NaN and an infinity is reported
// once, with the first element's index in the source and the count, when
// the tensor is streamed in many chunks and converted to another type.
func TestNonFiniteCallback(t *testing.T) {
	src := filepath.Join(testutil.RepoRoot(t), "models", "default")
	const name = "model.layers.1.mlp.down_proj.weight"                    // 128 rows of 256
	one := testutil.PatchedModel(t, src, name, 20000, []byte{0x00, 0x7c}) // +Inf
	two := testutil.PatchedModel(t, one, name, 1000, []byte{0x00, 0x7e})  // NaN
	defer convert.SetChunkBytes(1024)()
	for _, dt := range []format.DType{format.F16, format.F32} {
		m, err := convert.Load(two, convert.Options{})
		if err != nil {
			t.Fatal(err)
		}
		type call struct {
			name  string
			elem  int64
			v     float64
			count int64
		}
		var calls []call
		m.NonFinite = func(tn convert.Tensor, elem int64, v float64, count int64) {
			calls = append(calls, call{tn.Name, elem, v, count})
		}
		plans := convert.PlanDType(m, dt, false)
		md, err := m.GGUFMetadata(dt)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.WriteGGUF(filepath.Join(t.TempDir(), "m.gguf"), md, plans, nil); err != nil {
			t.Fatal(err)
		}
		m.Close()
		if len(calls) != 1 || calls[0].name != "blk.1.ffn_down.weight" || calls[0].elem != 1000 || !math.IsNaN(calls[0].v) || calls[0].count != 2 {
			t.Errorf("%s: calls %+v, want one for blk.1.ffn_down.weight, element 1000, NaN, 2 in all", dt, calls)
		}
	}
}
