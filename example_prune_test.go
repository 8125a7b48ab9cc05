package shrink_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/shrink-llm/shrink"
	"github.com/shrink-llm/shrink/bench"
)

// ExamplePrune removes a quarter of the feed-forward channels of the
// default model, chosen on a domain text, repairs ffn_down by least
// squares and writes a GGUF file.
func ExamplePrune() {
	dir, err := os.MkdirTemp("", "shrink-prune")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	domain := filepath.Join(dir, "domain.txt")
	if err := os.WriteFile(domain, []byte(bench.DemoText), 0o644); err != nil {
		log.Fatal(err)
	}
	opt := shrink.DefaultPruneOptions()
	opt.Calib = domain
	opt.FFN = 0.25
	opt.Ctx, opt.Chunks = 64, 4
	res, err := shrink.Prune(context.Background(), "models/default", filepath.Join(dir, "pruned.gguf"), opt)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("parameters %d -> %d\n", res.ParamsBefore, res.ParamsAfter)
	for _, l := range res.Layers {
		fmt.Printf("layer %d keeps %d of %d channels\n", l.Layer, l.FFN[0], l.FFN[1])
	}
	fmt.Println("domain perplexity rises less than 20%:", res.Calib.Ratio < 1.2)
	// Output:
	// parameters 361088 -> 311936
	// layer 0 keeps 224 of 256 channels
	// layer 1 keeps 160 of 256 channels
	// domain perplexity rises less than 20%: true
}
