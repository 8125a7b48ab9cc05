package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/quantize"
)

// tinyConfig is the model of the fuzz seed testdata/tiny.gguf.
func tinyConfig() *model.Config {
	return &model.Config{
		Arch: "llama", Dim: 32, Layers: 1, Heads: []int{2}, KVHeads: []int{1}, FFN: []int{32},
		HeadDim: 16, VocabSize: 8, Context: 16, NormEps: 1e-5, RopeBase: 10000, RopeDim: 16,
		TiedEmbeddings: true,
	}
}

// tinyTensors returns the seed model's tensors, ffn_up stored as Q8_0.
func tinyTensors(t *testing.T) []Tensor {
	ts, _ := genTensors(tinyConfig(), 77)
	for i := range ts {
		if ts[i].Name == "blk.0.ffn_up.weight" {
			f := make([]float32, 32*32)
			_ = format.DecodeFloats(format.F32, ts[i].Data, f)
			q := make([]byte, 32*34)
			for r := 0; r < 32; r++ {
				if err := quantize.EncodeRow(format.Q8_0, q[r*34:(r+1)*34], f[r*32:(r+1)*32], nil); err != nil {
					t.Fatal(err)
				}
			}
			ts[i].Type, ts[i].Data = format.Q8_0, q
		}
	}
	return ts
}

// TestFuzzSeed checks that testdata/tiny.gguf is the seed model and runs;
// go test -update rewrites it.
func TestFuzzSeed(t *testing.T) {
	path := filepath.Join("testdata", "tiny.gguf")
	if *testutil.Update {
		writeGGUF(t, path, tinyConfig(), tinyTensors(t))
	}
	m, err := Load(path, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want, err := NewModel(tinyConfig(), nil, tinyTensors(t), Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.NewSession(0).ForwardAll([]int32{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := want.NewSession(0).ForwardAll([]int32{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		if a[i] != b[i] {
			t.Fatalf("logit %d: file %g, in memory %g", i, a[i], b[i])
		}
	}
}

// FuzzLoad feeds mutated GGUF files to Load and runs what loads: malformed
// files must give errors, never panics or runaway allocations.
func FuzzLoad(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "tiny.gguf"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.gguf")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, noMmap := range []bool{false, true} {
			m, err := Load(path, Options{Threads: 2, NoMmap: noMmap})
			if err != nil {
				continue
			}
			if m.Config.Dim > 1<<12 || m.Config.VocabSize > 1<<16 {
				m.Close()
				continue
			}
			s := m.NewSession(4)
			if _, err := s.ForwardAll([]int32{0, int32(m.Config.VocabSize - 1)}); err != nil {
				t.Fatalf("forward on a loaded model: %v", err)
			}
			m.Close()
		}
	})
}
