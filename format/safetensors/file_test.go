package safetensors

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// TestWriteFile checks that WriteFile writes the bytes the Writer streams,
// and that a short fill leaves no file and names the tensor.
func TestWriteFile(t *testing.T) {
	ts := []format.TensorInfo{
		{Name: "x", Type: format.F32, Shape: []int64{2}},
		{Name: "y", Type: format.F16, Shape: []int64{3}},
	}
	data := [][]byte{bytes.Repeat([]byte{7}, 8), bytes.Repeat([]byte{9}, 6)}
	md := map[string]string{"format": "pt"}
	var want bytes.Buffer
	w, err := NewWriter(&want, ts, md)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range data {
		if err := w.WriteTensor(d); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	fill := func(i int, w io.Writer) error { _, err := w.Write(data[i]); return err }
	if err := WriteFile(path, ts, md, fill); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("WriteFile wrote %d bytes differing from the Writer's %d", len(got), want.Len())
	}
	short := filepath.Join(dir, "short.safetensors")
	err = WriteFile(short, ts, md, func(i int, w io.Writer) error { _, err := w.Write(data[i][1:]); return err })
	if err == nil || !strings.Contains(err.Error(), `tensor "x": got 7 bytes, want 8`) {
		t.Errorf("short fill: error %v, want one naming tensor x", err)
	}
	if _, err := os.Stat(short); !os.IsNotExist(err) {
		t.Errorf("short fill left %s behind", short)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only the first file", len(entries))
	}
}
