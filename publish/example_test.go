package publish_test

import (
	"os"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/publish"
)

// Write the README.md of a Hub repository for a quantized model: metadata,
// files, usage and the metrics of the original and the quantized model.
func ExampleModelCard() {
	size := func(path string, bytes int64, bpw float64) *bench.Report {
		return &bench.Report{Model: &bench.ModelInfo{Path: path, FileBytes: bytes, BitsPerWeight: bpw}}
	}
	err := publish.ModelCard(os.Stdout, publish.CardInfo{
		Name:      "default q8_0",
		BaseModel: "shrink-llm/default",
		License:   "mit",
		Files:     []publish.CardFile{{Name: "default-q8_0.gguf", Bytes: 400_000}},
		Stages:    []publish.Stage{{Label: "original", Report: size("default", 730_000, 16)}, {Label: "q8_0", Report: size("default-q8_0.gguf", 400_000, 8.5)}},
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// ---
	// license: mit
	// base_model: shrink-llm/default
	// tags:
	// - gguf
	// - shrink
	// ---
	//
	// # default q8_0
	//
	// Made with [shrink](https://github.com/shrink-llm/shrink) from `shrink-llm/default`.
	//
	// ## Files
	//
	// | File | Size |
	// |---|---:|
	// | default-q8_0.gguf | 390.6 KiB |
	//
	// ## Usage
	//
	// With llama.cpp:
	//
	// ```sh
	// llama-cli -m default-q8_0.gguf -p "Hello"
	// ```
	//
	// ## Metrics
	//
	// | Model | Size | Bits/weight | Perplexity | KLD | Top-1 | Decode tok/s |
	// |---|---:|---:|---:|---:|---:|---:|
	// | original | 712.9 KiB | 16.00 | - | - | - | - |
	// | q8_0 | 390.6 KiB | 8.50 | - | - | - | - |
}
