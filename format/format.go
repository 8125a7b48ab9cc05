// Package format is the shared tensor vocabulary of shrink's container
// readers and writers: element types (DType, one traits table indexed by
// ggml type id), tensor descriptions (TensorInfo), the Source interface that
// every reader implements, the FormatError that carries a byte offset, and
// Open, which recognises a checkpoint by its magic bytes or folder layout.
//
// The containers live in subpackages (format/gguf, format/safetensors,
// format/llama2c). Each registers itself with Register in its init function,
// as image decoders do with image.RegisterFormat; a program that wants Open
// to know a container imports its package, usually for side effects only.
//
// Shapes are always given in ggml order: Shape[0] is the innermost,
// contiguous dimension (ggml's ne[0]). A PyTorch weight of shape [out, in]
// therefore has Shape {in, out}. Tensor data is little-endian.
package format

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// Sentinel errors, wrapped by the readers' errors so callers can test with
// errors.Is.
var (
	ErrFormat       = errors.New("format: malformed file")
	ErrUnknownDType = errors.New("format: unknown tensor type")
	ErrTooLarge     = errors.New("format: size out of range")
	ErrNotFound     = errors.New("format: tensor not found")
	ErrUnknown      = errors.New("format: unrecognised file format")
)

// FormatError reports a malformed input: which file, which tensor (if one
// is involved), at which byte offset, and what is wrong. Its message is one
// line.
type FormatError struct {
	File   string // path of the file, if known
	Tensor string // tensor name, if the problem belongs to one
	Offset int64  // byte offset in File where the problem was found; -1 if none
	Msg    string // what is wrong
	Err    error  // underlying error, if any
}

func (e *FormatError) Error() string {
	s := ""
	if e.File != "" {
		s = e.File + ": "
	}
	if e.Tensor != "" {
		s += "tensor " + quote(e.Tensor) + ": "
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf("offset %d: ", e.Offset)
	}
	s += e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error, or ErrFormat when there is none, so
// that errors.Is(err, format.ErrFormat) holds for every FormatError.
func (e *FormatError) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	return ErrFormat
}

// Is lets errors.Is(err, ErrFormat) succeed even when Err is set.
func (e *FormatError) Is(target error) bool { return target == ErrFormat }

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// TensorInfo describes one tensor of a checkpoint.
type TensorInfo struct {
	Name  string
	Type  DType
	Shape []int64 // ggml order: Shape[0] is the contiguous dimension
}

// NumElements returns the product of the dimensions (1 for a scalar).
func (t TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Bytes returns the storage size of the tensor's data, or -1 when the shape
// does not fit the type (rows not a multiple of the block size, overflow).
func (t TensorInfo) Bytes() int64 {
	if len(t.Shape) == 0 {
		b, err := t.Type.RowBytes(1)
		if err != nil {
			return -1
		}
		return b
	}
	row, err := t.Type.RowBytes(t.Shape[0])
	if err != nil {
		return -1
	}
	n := row
	for _, d := range t.Shape[1:] {
		if d < 0 || (d != 0 && n > maxInt64/d) {
			return -1
		}
		n *= d
	}
	return n
}

// Rows returns the number of rows (the product of all but the first
// dimension).
func (t TensorInfo) Rows() int64 {
	n := int64(1)
	for _, d := range t.Shape[min(1, len(t.Shape)):] {
		n *= d
	}
	return n
}

// Source is a checkpoint opened for reading: the list of its tensors and
// their raw bytes, read one tensor at a time so memory stays bounded.
type Source interface {
	// Tensors lists the tensors in file order.
	Tensors() []TensorInfo
	// TensorData returns a reader over the raw, little-endian bytes of the
	// named tensor, exactly Bytes() long.
	TensorData(name string) (*io.SectionReader, error)
	// Close releases the files behind the source.
	Close() error
}

// Format is a container that Open can recognise.
type Format struct {
	// Name is a short lower-case name: "gguf", "safetensors", "llama2c".
	Name string
	// Match reports whether the file or folder at path is of this format.
	// head holds the first bytes of a file (nil for a folder).
	Match func(path string, head []byte, isDir bool) bool
	// Open opens the checkpoint at path.
	Open func(path string) (Source, error)
	// Priority orders the matchers: lower runs first. Formats recognised by
	// magic bytes use 0; formats recognised by a weaker test use more.
	Priority int
}

var formats []Format

// Register makes a container known to Open. It is meant to be called from
// the container package's init function.
func Register(f Format) {
	formats = append(formats, f)
	sort.SliceStable(formats, func(i, j int) bool { return formats[i].Priority < formats[j].Priority })
}

// Open opens the checkpoint at path, recognising its container by magic
// bytes (files) or layout (folders). The container's package must have been
// imported.
func Open(path string) (Source, error) {
	f, err := Detect(path)
	if err != nil {
		return nil, err
	}
	return f.Open(path)
}

// Detect returns the registered format of the file or folder at path.
func Detect(path string) (Format, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Format{}, err
	}
	var head []byte
	if !fi.IsDir() {
		fh, err := os.Open(path)
		if err != nil {
			return Format{}, err
		}
		head = make([]byte, 64)
		n, _ := io.ReadFull(fh, head)
		head = head[:n]
		fh.Close()
	}
	for _, f := range formats {
		if f.Match(path, head, fi.IsDir()) {
			return f, nil
		}
	}
	return Format{}, &FormatError{File: path, Offset: 0, Msg: "not a GGUF file, safetensors file or folder, or llama2.c checkpoint", Err: ErrUnknown}
}

// Formats returns the names of the registered formats.
func Formats() []string {
	var names []string
	for _, f := range formats {
		names = append(names, f.Name)
	}
	return names
}
