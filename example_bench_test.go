package shrink_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shrink-llm/shrink"
)

// Measure a BF16 copy of the default model against the original: the
// perplexity of a text, the KL divergence and top-1 agreement of its next
// token distributions, the memory, and the JSON report for shrink gate.
func ExampleBench() {
	dir, err := os.MkdirTemp("", "shrink-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	bf16 := filepath.Join(dir, "default-bf16.gguf")
	if _, err := shrink.Convert(ctx, "models/default", bf16, shrink.ConvertOptions{DType: "bf16"}); err != nil {
		panic(err)
	}
	opt := shrink.DefaultBenchOptions()
	opt.Text = "bench/testdata/demo.txt"
	opt.Baseline = "models/default"
	opt.Ctx, opt.Chunks = 128, 4
	opt.JSON = filepath.Join(dir, "bench.json")
	r, err := shrink.Bench(ctx, bf16, opt)
	if err != nil {
		panic(err)
	}
	fmt.Println("tokens scored:", r.Perplexity.ScoredTokens)
	fmt.Println("KL divergence below 0.001:", r.KLD.Mean < 0.001)
	fmt.Println("top-1 agreement above 95%:", *r.Top1Agreement > 0.95)
	fmt.Println("report written:", fileSize(opt.JSON) > 0)
	// Output:
	// tokens scored: 252
	// KL divergence below 0.001: true
	// top-1 agreement above 95%: true
	// report written: true
}
