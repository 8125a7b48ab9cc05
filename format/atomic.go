package format

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// AtomicFile is an output file written under a temporary name in the
// destination's folder and renamed into place by Commit only when complete,
// so an interrupted run leaves the old file or none, never a torn one.
type AtomicFile struct {
	*os.File
	path string
	done bool
}

// CreateAtomic starts writing the file path, creating its folder if needed.
// Call Commit when every byte is written, and Abort (safe after Commit, for
// use in defer) otherwise.
func CreateAtomic(path string) (*AtomicFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &AtomicFile{File: f, path: path}, nil
}

// Commit flushes the file to disk, closes it and renames it to its final
// name.
func (f *AtomicFile) Commit() error {
	if f.done {
		return os.ErrClosed
	}
	f.done = true
	if err := f.File.Sync(); err != nil {
		f.File.Close()
		os.Remove(f.File.Name())
		return err
	}
	if err := f.File.Close(); err != nil {
		os.Remove(f.File.Name())
		return err
	}
	if err := os.Chmod(f.File.Name(), 0o644); err != nil {
		os.Remove(f.File.Name())
		return err
	}
	if err := os.Rename(f.File.Name(), f.path); err != nil {
		os.Remove(f.File.Name())
		return err
	}
	return nil
}

// Abort closes and removes the temporary file unless Commit succeeded.
func (f *AtomicFile) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.File.Name())
}

// WriteFileAtomic writes data to path through CreateAtomic: the file appears
// complete or not at all.
func WriteFileAtomic(path string, data []byte) error {
	f, err := CreateAtomic(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// FillTensors streams n tensors through a container writer's FillTensor
// (fillTensor), in order, with fill(i, w) writing tensor i's data. An error
// of fill is returned as it is; an error of the writer itself is prefixed
// with path.
func FillTensors(path string, n int, fillTensor func(func(io.Writer) error) error, fill func(i int, w io.Writer) error) error {
	for i := 0; i < n; i++ {
		var fillErr error
		err := fillTensor(func(tw io.Writer) error {
			fillErr = fill(i, tw)
			return fillErr
		})
		if fillErr != nil {
			return fillErr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}
