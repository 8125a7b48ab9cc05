package bench

import "testing"

// TestDevDeepseek2Perplexity: dev-deepseek2-moe (latent attention, routed
// experts) converted to F16 scores shakespeare-eval.txt at context 256 as
// llama-perplexity does on llama.cpp's own F16 conversion, 51.4368
// (SOURCE.txt), within 0.05%.
func TestDevDeepseek2Perplexity(t *testing.T) {
	devF16Perplexity(t, "dev-deepseek2-moe", 51.4368)
}
