package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestSeedFiles checks the committed fuzz seeds: a shrink baseline file and
// a llama.cpp logits file of the hand-computed case.
func TestSeedFiles(t *testing.T) {
	for name, want := range map[string][]byte{"hand.base": writeBaseline(t), "hand.logits": llamaFile(t)} {
		got, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			if os.Getenv("BENCH_WRITE_SEEDS") != "" {
				if err := os.WriteFile(filepath.Join("testdata", name), want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/%s differs from what the writer produces", name)
		}
	}
}

func FuzzBaseline(f *testing.F) {
	for _, name := range []string{"hand.base", "hand.logits"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := NewBaselineReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if len(b.Tokens) != b.Chunks*b.Ctx || b.Records() < 1 {
			t.Fatalf("inconsistent header %+v", b)
		}
		cand := make([]float32, b.Vocab)
		lp, lq := make([]float64, b.Vocab), make([]float64, b.Vocab)
		var rec Record
		for i := 0; i < min(b.Records(), 4); i++ {
			if err := b.Record(i, &rec); err != nil {
				continue
			}
			CompareCoded(&rec, cand, b.Tokens[0], lp, lq)
			_ = b.ChunkTokens(0, 0)
		}
	})
}
