package safetensors

import (
	"fmt"
	"io"

	"github.com/shrink-llm/shrink/format"
)

// WriteFile writes a safetensors file at path with the tensors described
// and metadata (may be nil): under a temporary name in path's folder
// (created if needed), renamed into place only when complete, so an error
// leaves the old file or none. fill(i, w) writes tensor i's data (exactly
// its size) to w, in the declared order. An error of fill is returned as
// it is; the writer's own errors are prefixed with path.
func WriteFile(path string, tensors []format.TensorInfo, metadata map[string]string, fill func(i int, w io.Writer) error) error {
	f, err := format.CreateAtomic(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	w, err := NewWriter(f, tensors, metadata)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := format.FillTensors(path, len(tensors), w.FillTensor, fill); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Commit()
}
