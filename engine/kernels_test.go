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
