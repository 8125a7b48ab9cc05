package engine

import (
	"math"

	"github.com/shrink-llm/shrink/format"
	"testing"

	"github.com/shrink-llm/shrink/internal/kernel"
)

// TestEveryKernelImpl forces each registered kernel implementation that the
// CPU supports (kernel.Select) and runs the small-model tests through it.
func TestEveryKernelImpl(t *testing.T) {
	defer kernel.Select("")
	for _, im := range kernel.Impls() {
		if !im.Available {
			t.Logf("%s: not available on this CPU, skipped", im.Name)
			continue
		}
		t.Run(im.Name, func(t *testing.T) {
			if err := kernel.Select(im.Name); err != nil {
				t.Fatal(err)
			}
			t.Run("MatmulEveryType", TestMatmulEveryType)
			t.Run("QuantizedModel", TestQuantizedModel)
			t.Run("GQABiasNonUniform", TestGeneratedGQABiasNonUniform)
			t.Run("ThreadsAgree", TestGeneratedThreadsAgree)
			t.Run("Stories260KReference", TestStories260KReference)
		})
	}
}

// TestDecodeAllocs checks that a decode step, once the session's buffers
// have grown, allocates nothing, with and without worker goroutines.
func TestDecodeAllocs(t *testing.T) {
	cfg := testConfig()
	cfg.Dim, cfg.FFN, cfg.VocabSize = 256, []int{512, 384, 256}, 300
	ts, _ := genTensors(cfg, 7)
	for _, threads := range []int{1, 2, 3} {
		m, err := NewModel(cfg, nil, ts, Options{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		s := m.NewSession(0)
		// Grow the caches to their final capacity first.
		for i := 0; i < s.Context()-2; i++ {
			if _, err := s.Forward([]int32{int32(i % cfg.VocabSize)}); err != nil {
				t.Fatal(err)
			}
		}
		s.Truncate(2)
		tok := []int32{3}
		allocs := testing.AllocsPerRun(20, func() {
			if s.Pos() >= s.Context()-1 {
				s.Truncate(2)
			}
			if _, err := s.Forward(tok); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("threads %d: %v allocations per decode step, want 0", threads, allocs)
		}
		if m.pool.n != threads-1 {
			t.Errorf("threads %d: %d workers started, want %d", threads, m.pool.n, threads-1)
		}
	}
}

// TestPrefillEveryKernelImpl runs a 37-token prefill (two groups of 16
// activation rows and a remainder, so tile kernels such as AMX take part)
// on small models stored in the common types under each implementation,
// against the generic kernels.
func TestPrefillEveryKernelImpl(t *testing.T) {
	defer kernel.Select("")
	cfg := tinyLlamaConfig()
	cfg.Dim, cfg.Layers, cfg.HeadDim, cfg.RopeDim, cfg.VocabSize = 256, 2, 64, 64, 300
	cfg.Heads, cfg.KVHeads, cfg.FFN = []int{4, 4}, []int{2, 2}, []int{512, 768}
	toks := testTokens(37, cfg.VocabSize)
	for _, dt := range []format.DType{format.F16, format.Q8_0, format.Q4_0, format.Q4_K, format.Q6_K} {
		if err := kernel.Select("generic"); err != nil {
			t.Fatal(err)
		}
		ref := randomModel(t, cfg, dt)
		want, err := ref.NewSession(0).ForwardAll(toks)
		if err != nil {
			t.Fatal(err)
		}
		want = append([]float32(nil), want...)
		for _, im := range kernel.Impls()[1:] {
			if !im.Available {
				continue
			}
			if err := kernel.Select(im.Name); err != nil {
				t.Fatal(err)
			}
			m := randomModel(t, cfg, dt)
			m.SetThreads(2)
			got, err := m.NewSession(0).ForwardAll(toks)
			if err != nil {
				t.Fatal(err)
			}
			var maxAbs, maxDiff float64
			for i := range want {
				maxAbs = max(maxAbs, math.Abs(float64(want[i])))
				maxDiff = max(maxDiff, math.Abs(float64(got[i]-want[i])))
			}
			// Float weights see the same float activations; quantized ones
			// re-quantize every layer's input to 8 bits, where a last-bit
			// difference can move a code by one, so their logits are
			// compared more loosely (each product is checked exactly by the
			// kernel package's conformance tests).
			tol := 1e-4
			if dt.Quantized() {
				tol = 2e-2
			}
			if maxDiff > tol*(1+maxAbs) {
				t.Errorf("%s/%s: logits differ from generic by %g (largest logit %g)", dt, im.Name, maxDiff, maxAbs)
			}
		}
	}
}
