package gguf

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// fileTensors is a small tensor list of two types and its data.
func fileTensors() ([]format.TensorInfo, [][]byte) {
	ts := []format.TensorInfo{
		{Name: "a", Type: format.F32, Shape: []int64{3}},
		{Name: "b", Type: format.Q8_0, Shape: []int64{32, 2}},
	}
	data := [][]byte{bytes.Repeat([]byte{1}, 12), bytes.Repeat([]byte{2}, 68)}
	return ts, data
}

// TestWriteFileMatchesWriter checks that WriteFile writes the bytes the
// Writer streams, and that nothing but the file is left in the folder.
func TestWriteFileMatchesWriter(t *testing.T) {
	ts, data := fileTensors()
	md := allTypes()
	var want bytes.Buffer
	w, err := NewWriter(&want, md, ts)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range data {
		if err := w.WriteTensor(d); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "m.gguf")
	err = WriteFile(path, md, ts, func(i int, w io.Writer) error {
		_, err := w.Write(data[i][:5]) // in two pieces
		if err == nil {
			_, err = w.Write(data[i][5:])
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("WriteFile wrote %d bytes differing from the Writer's %d", len(got), want.Len())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("folder holds %d entries, want only the file", len(entries))
	}
}

// TestWriteFileErrors checks that a failing, short or long fill leaves no
// file and no temporary file, and says which tensor.
func TestWriteFileErrors(t *testing.T) {
	ts, data := fileTensors()
	boom := errors.New("boom")
	cases := []struct {
		name string
		fill func(i int, w io.Writer) error
		want string
	}{
		{"fill error", func(i int, w io.Writer) error {
			if i == 1 {
				return boom
			}
			_, err := w.Write(data[i])
			return err
		}, "boom"},
		{"short", func(i int, w io.Writer) error {
			_, err := w.Write(data[i][:len(data[i])-1])
			return err
		}, `tensor "a": 11 of 12 bytes written`},
		{"long", func(i int, w io.Writer) error {
			_, err := w.Write(append(data[i], 0))
			return err
		}, `tensor "a": 1 bytes more than it holds`},
	}
	for _, c := range cases {
		dir := t.TempDir()
		path := filepath.Join(dir, "m.gguf")
		err := WriteFile(path, nil, ts, c.fill)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s: folder holds %d entries after the error, want none", c.name, len(entries))
		}
	}
}

// TestWriteFileDeferred checks that a deferred value replaces its
// placeholder in the header.
func TestWriteFileDeferred(t *testing.T) {
	ts, data := fileTensors()
	md := &Metadata{}
	md.Set("general.architecture", String("llama"))
	md.Set("x.hash", String("00000000"))
	path := filepath.Join(t.TempDir(), "m.gguf")
	fill := func(i int, w io.Writer) error { _, err := w.Write(data[i]); return err }
	deferred := map[string]func() (string, error){"x.hash": func() (string, error) { return "cafe1234", nil }}
	if err := WriteFileDeferred(path, md, ts, fill, deferred); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, _ := f.Metadata.String("x.hash"); v != "cafe1234" {
		t.Errorf("x.hash = %q, want cafe1234", v)
	}
	deferred["x.hash"] = func() (string, error) { return "toolong123", nil }
	err = WriteFileDeferred(filepath.Join(t.TempDir(), "n.gguf"), md, ts, fill, deferred)
	if err == nil || !strings.Contains(err.Error(), "placeholder of 8 bytes for a value of 10") {
		t.Errorf("error %v, want the placeholder length mismatch", err)
	}
}
