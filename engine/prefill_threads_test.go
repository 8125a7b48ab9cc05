package engine

import (
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/quantize"
)

// TestQuantizedPrefillThreadsAgree checks that a prefill batch of 16 and
// more tokens (the 16-row tile kernels of MatMul16) on Q8_0 and Q4_0
// weights gives the same logits for 1, 3 and 5 threads: the 128-row
// matrices were split in tiles of 16, 5 or 4 rows before tiles were kept
// to multiples of 16, and the rows of a partial tile take another kernel.
func TestQuantizedPrefillThreadsAgree(t *testing.T) {
	cfg := testConfig()
	cfg.Dim, cfg.Heads, cfg.KVHeads, cfg.FFN = 128, []int{8, 8, 8}, []int{2, 2, 2}, []int{256, 256, 256}
	toks := testTokens(21, cfg.VocabSize)
	for _, dt := range []format.DType{format.Q8_0, format.Q4_0} {
		ts, _ := genTensors(cfg, 5)
		for i := range ts {
			tn := &ts[i]
			if len(tn.Shape) != 2 || !strings.HasPrefix(tn.Name, "blk.") {
				continue
			}
			cols, rows := int(tn.Shape[0]), int(tn.Shape[1])
			f := make([]float32, cols*rows)
			if err := format.DecodeFloats(format.F32, tn.Data, f); err != nil {
				t.Fatal(err)
			}
			rb, _ := dt.RowBytes(int64(cols))
			q := make([]byte, rows*int(rb))
			for r := 0; r < rows; r++ {
				if err := quantize.EncodeRow(dt, q[r*int(rb):(r+1)*int(rb)], f[r*cols:(r+1)*cols], nil); err != nil {
					t.Fatal(err)
				}
			}
			tn.Type, tn.Data = dt, q
		}
		m, err := NewModel(cfg, nil, ts, Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		checkThreadsAgree(t, m, toks, dt.String(), 1, 3, 5)
	}
}

// checkThreadsAgree runs m over toks with each thread count in turn and
// fails unless every run gives the first one's logits bit for bit.
func checkThreadsAgree(t *testing.T, m *Model, toks []int32, what string, threads ...int) {
	t.Helper()
	var want []float32
	for _, th := range threads {
		m.SetThreads(th)
		l, err := m.NewSession(0).ForwardAll(toks)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = append([]float32(nil), l...)
			continue
		}
		for i := range want {
			if l[i] != want[i] {
				t.Fatalf("%s: logit %d: %d thread(s) %g, %d threads %g", what, i, threads[0], want[i], th, l[i])
			}
		}
	}
}
