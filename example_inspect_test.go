package shrink_test

import (
	"context"
	"fmt"

	"github.com/shrink-llm/shrink"
)

// Describe the default model: its architecture, shape, tokenizer and size.
func ExampleInspect() {
	r, err := shrink.Inspect(context.Background(), "models/default", shrink.InspectOptions{})
	if err != nil {
		panic(err)
	}
	c := r.Config
	fmt.Println(r.Format, r.Arch, "dim", c.Dim, "layers", c.Layers, "vocab", c.Vocab)
	fmt.Println(r.Tokenizer.Model, r.Totals.Tensors, "tensors", r.Totals.Params, "parameters")
	// Output:
	// safetensors-folder llama dim 128 layers 2 vocab 512
	// llama 20 tensors 361088 parameters
}
