package engine

import (
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
