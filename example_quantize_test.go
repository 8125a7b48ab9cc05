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

// Quantize the repository's default model to llama.cpp's Q4_0 preset with
// the reference quantizers (no calibration text).
func ExampleQuantize() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	res, err := shrink.Quantize(context.Background(), "models/default", filepath.Join(dir, "q4_0.gguf"),
		shrink.QuantizeOptions{Type: "q4_0"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, method %s: %d tensors, %d parameters, %.2f bits per weight\n",
		res.Preset.Name, res.Method, len(res.Tensors), res.Params, res.BPW)
	// Output:
	// q4_0, method rtn: 20 tensors, 361088 parameters, 5.27 bits per weight
}

// Quantize with GPTQ: the model runs over calibration text and each
// layer is quantized with error feedback over its input's Hessian.
// Progress reports the stages as they run.
func ExampleQuantize_gptq() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	text := filepath.Join(dir, "calib.txt")
	if err := os.WriteFile(text, []byte(bench.DemoText), 0o644); err != nil {
		log.Fatal(err)
	}
	stages := map[string]bool{}
	res, err := shrink.Quantize(context.Background(), "models/default", filepath.Join(dir, "q4_k_m.gguf"),
		shrink.QuantizeOptions{Type: "q4_k_m", Calib: text, Ctx: 128, Chunks: 4, Threads: 2,
			Progress: func(p shrink.Progress) { stages[p.Stage] = true }})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s, method %s, %.2f bits per weight\n", res.Preset.Name, res.Method, res.BPW)
	fmt.Println("stages:", stages["calibrate"], stages["hessians"], stages["write"])
	// Output:
	// q4_k_m, method gptq, 6.17 bits per weight
	// stages: true true true
}

// ParseSize reads the target-size option's byte counts.
func ExampleParseSize() {
	for _, s := range []string{"1500000", "1.5GB", "900MiB"} {
		n, err := shrink.ParseSize(s)
		fmt.Println(n, err)
	}
	// Output:
	// 1500000 <nil>
	// 1500000000 <nil>
	// 943718400 <nil>
}
