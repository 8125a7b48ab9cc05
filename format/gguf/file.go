package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/shrink-llm/shrink/format"
)

// WriteFile writes a GGUF file at path with metadata md and the tensors
// described, the one way every shrink output reaches disk: the file is
// written under a temporary name in path's folder (created if needed) and
// renamed into place only when complete, so an error or an interruption
// leaves the old file or none, never a torn one.
//
// fill(i, w) writes tensor i's data (exactly its Bytes(), in its type's
// encoding) to w, in the declared order; the data is streamed, padded to
// the alignment, and never held whole by WriteFile. An error of fill is
// returned as it is; the writer's own errors are prefixed with path.
func WriteFile(path string, md *Metadata, tensors []format.TensorInfo, fill func(i int, w io.Writer) error) error {
	return WriteFileDeferred(path, md, tensors, fill, nil)
}

// WriteFileDeferred is WriteFile with string metadata values known only
// once the tensors are written (such as a hash of the sources): md holds a
// placeholder of the final length under each key of deferred, and the
// value deferred returns is patched into the header before the file is
// committed.
func WriteFileDeferred(path string, md *Metadata, tensors []format.TensorInfo, fill func(i int, w io.Writer) error, deferred map[string]func() (string, error)) error {
	f, err := format.CreateAtomic(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	w, err := NewWriter(f, md, tensors)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := format.FillTensors(path, len(tensors), w.FillTensor, fill); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := patchDeferred(f.File, w.DataOffset(), md, deferred); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Commit()
}

// patchDeferred writes the deferred metadata values over their
// placeholders in the header (the first header bytes of f).
func patchDeferred(f *os.File, header int64, md *Metadata, deferred map[string]func() (string, error)) error {
	if len(deferred) == 0 {
		return nil
	}
	buf := make([]byte, header)
	if _, err := f.ReadAt(buf, 0); err != nil {
		return err
	}
	le := binary.LittleEndian
	for key, fn := range deferred {
		v, err := fn()
		if err != nil {
			return err
		}
		old, ok := md.String(key)
		if !ok || len(old) != len(v) {
			return fmt.Errorf("metadata %s: placeholder of %d bytes for a value of %d", key, len(old), len(v))
		}
		// key string, value type STRING, value length, value bytes.
		pat := le.AppendUint64(nil, uint64(len(key)))
		pat = append(pat, key...)
		pat = le.AppendUint32(pat, uint32(TypeString))
		pat = le.AppendUint64(pat, uint64(len(v)))
		i := bytes.Index(buf, pat)
		if i < 0 {
			return fmt.Errorf("metadata %s: placeholder not found in the header", key)
		}
		if _, err := f.WriteAt([]byte(v), int64(i+len(pat))); err != nil {
			return err
		}
	}
	return nil
}
