package shrink_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shrink-llm/shrink"
)

// exampleText writes a small training text into dir.
func exampleText(dir string) string {
	text := filepath.Join(dir, "text.txt")
	os.WriteFile(text, []byte(strings.Repeat("package main\n\nfunc main() { println(\"hello, world\") }\n", 20)), 0o644)
	return text
}

// ExampleTrain trains a tiny model from scratch on a text, with the
// tokenizer of the default model.
func ExampleTrain() {
	dir, _ := os.MkdirTemp("", "shrink-example")
	defer os.RemoveAll(dir)
	opt := shrink.DefaultTrainOptions()
	opt.Dim, opt.Layers, opt.Heads, opt.KVHeads, opt.FFN = 32, 1, 2, 1, 48
	opt.Data = exampleText(dir)
	opt.Ctx, opt.Batch, opt.Steps = 16, 2, 5
	res, err := shrink.Train(context.Background(), filepath.Join(dir, "small.gguf"), opt)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Params, "parameters,", res.StepsDone, "steps")
	// Output: 24160 parameters, 5 steps
}

// ExampleDistill distils the default model into itself with low-rank
// adapters: the student starts equal to its teacher, so the KL divergence
// is zero.
func ExampleDistill() {
	dir, _ := os.MkdirTemp("", "shrink-example")
	defer os.RemoveAll(dir)
	opt := shrink.DefaultDistillOptions()
	opt.Teacher, opt.Student = "models/default", "models/default"
	opt.Data = exampleText(dir)
	opt.Ctx, opt.Batch, opt.Steps = 16, 1, 2
	opt.LoRARank = 2
	opt.Progress = func(p shrink.Progress) {
		if p.Stage == "train" {
			fmt.Printf("step %d/%d\n", p.Done, p.Total)
		}
	}
	res, err := shrink.Distill(context.Background(), filepath.Join(dir, "out.gguf"), opt)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("kld %.4f\n", res.Last.KLD)
	// Output:
	// step 1/2
	// step 2/2
	// kld 0.0000
}
