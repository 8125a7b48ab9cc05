package shrink_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shrink-llm/shrink"
)

// Convert the default model (a Hugging Face folder) to a GGUF file that
// llama.cpp loads, matrices in F16.
func ExampleConvert() {
	dir, err := os.MkdirTemp("", "shrink-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	dst := filepath.Join(dir, "default-f16.gguf")
	res, err := shrink.Convert(context.Background(), "models/default", dst, shrink.ConvertOptions{DType: "f16"})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Format, res.DType, res.Tensors, "tensors", res.Bytes == fileSize(dst))
	// Output:
	// gguf f16 20 tensors true
}

// fileSize returns the size of the file at path.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}
