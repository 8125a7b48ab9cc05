package gguf_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
)

func Example() {
	var md gguf.Metadata
	md.Set("general.architecture", gguf.String("llama"))
	md.Set("llama.block_count", gguf.Uint32(1))
	tensors := []format.TensorInfo{
		{Name: "output_norm.weight", Type: format.F32, Shape: []int64{4}},
		{Name: "token_embd.weight", Type: format.Q8_0, Shape: []int64{32, 2}},
	}

	var buf bytes.Buffer
	w, err := gguf.NewWriter(&buf, &md, tensors)
	if err != nil {
		panic(err)
	}
	w.WriteTensor(make([]byte, 16))                   // 4 float32
	w.CopyTensor(bytes.NewReader(make([]byte, 2*34))) // 2 Q8_0 blocks, passed through
	if err := w.Close(); err != nil {
		panic(err)
	}

	f, err := gguf.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		panic(err)
	}
	arch, _ := f.Metadata.String("general.architecture")
	fmt.Println(arch, f.Version, f.Alignment, f.DataOffset)
	for _, t := range f.TensorInfos {
		r, _ := f.TensorData(t.Name)
		n, _ := io.Copy(io.Discard, r)
		fmt.Println(t.Name, t.Type, t.Shape, t.Offset, n)
	}
	// Output:
	// llama 3 32 224
	// output_norm.weight f32 [4] 0 16
	// token_embd.weight q8_0 [32 2] 32 68
}
