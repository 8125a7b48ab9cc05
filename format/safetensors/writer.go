package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/shrink-llm/shrink/format"
)

// ErrWriter reports a misuse of Writer: a tensor of the wrong size, too many
// or too few tensors.
var ErrWriter = errors.New("safetensors: writer")

// Writer writes a safetensors file: NewWriter computes and writes the whole
// header, then the tensors' data is streamed in the order given, one
// WriteTensor or CopyTensor call per tensor.
//
// The header is the one the reference implementation writes: "__metadata__"
// first (keys sorted here, so the output is deterministic), then the tensors
// in order with fields dtype, shape (PyTorch order), data_offsets, with no
// spaces, padded with spaces to a multiple of 8 bytes.
type Writer struct {
	w       io.Writer
	tensors []format.TensorInfo
	next    int
	size    int64
	err     error
}

// NewWriter validates tensors (types F32, F16, BF16, F64, I8, I16, I32, I64;
// non-negative dimensions; unique, valid UTF-8 names), writes the header to
// w and returns a Writer expecting the tensors' data in the same order.
// metadata may be nil.
func NewWriter(w io.Writer, tensors []format.TensorInfo, metadata map[string]string) (*Writer, error) {
	hdr, data, err := encodeHeader(tensors, metadata)
	if err != nil {
		return nil, err
	}
	total := int64(8 + len(hdr))
	if data > math.MaxInt64-total {
		return nil, fmt.Errorf("%w: total size overflows", ErrWriter)
	}
	total += data
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
	if _, err := w.Write(n[:]); err != nil {
		return nil, err
	}
	if _, err := w.Write(hdr); err != nil {
		return nil, err
	}
	ts := make([]format.TensorInfo, len(tensors))
	for i, t := range tensors {
		ts[i] = t
		ts[i].Shape = slices.Clone(t.Shape)
	}
	return &Writer{w: w, tensors: ts, size: total}, nil
}

// Size returns the size of the complete file in bytes.
func (w *Writer) Size() int64 { return w.size }

// encodeHeader returns the padded JSON header and the size of the data
// buffer (the sum of the tensors' Bytes).
func encodeHeader(tensors []format.TensorInfo, metadata map[string]string) ([]byte, int64, error) {
	bad := func(name, format_ string, args ...any) error {
		return fmt.Errorf("%w: tensor %s: %s", ErrWriter, strconv.Quote(name), fmt.Sprintf(format_, args...))
	}
	buf := []byte{'{'}
	if metadata != nil {
		keys := make([]string, 0, len(metadata))
		for k, v := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, 0, fmt.Errorf("%w: metadata %q is not valid UTF-8", ErrWriter, k)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf = append(buf, `"__metadata__":{`...)
		for i, k := range keys {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, k)
			buf = append(buf, ':')
			buf = appendString(buf, metadata[k])
		}
		buf = append(buf, '}')
	}
	seen := make(map[string]bool, len(tensors))
	var off int64
	for i, t := range tensors {
		if t.Name == "__metadata__" {
			return nil, 0, bad(t.Name, "reserved name")
		}
		if !utf8.ValidString(t.Name) {
			return nil, 0, bad(t.Name, "name is not valid UTF-8")
		}
		if seen[t.Name] {
			return nil, 0, bad(t.Name, "duplicate name")
		}
		seen[t.Name] = true
		dt := dtypeName(t.Type)
		if dt == "" {
			return nil, 0, bad(t.Name, "type %s cannot be stored in safetensors", t.Type)
		}
		for _, d := range t.Shape {
			if d < 0 {
				return nil, 0, bad(t.Name, "negative dimension in shape %v", t.Shape)
			}
		}
		n := t.Bytes()
		if n < 0 || n > math.MaxInt64-off {
			return nil, 0, bad(t.Name, "shape %v too large", t.Shape)
		}
		if metadata != nil || i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, t.Name)
		buf = append(buf, `:{"dtype":"`...)
		buf = append(buf, dt...)
		buf = append(buf, `","shape":[`...)
		for j := len(t.Shape) - 1; j >= 0; j-- {
			buf = strconv.AppendInt(buf, t.Shape[j], 10)
			if j > 0 {
				buf = append(buf, ',')
			}
		}
		buf = append(buf, `],"data_offsets":[`...)
		buf = strconv.AppendInt(buf, off, 10)
		buf = append(buf, ',')
		off += n
		buf = strconv.AppendInt(buf, off, 10)
		buf = append(buf, "]}"...)
	}
	buf = append(buf, '}')
	for len(buf)%8 != 0 {
		buf = append(buf, ' ')
	}
	if len(buf) > MaxHeaderSize {
		return nil, 0, fmt.Errorf("%w: header of %d bytes exceeds the limit of %d", ErrWriter, len(buf), MaxHeaderSize)
	}
	return buf, off, nil
}

// appendString appends s as a JSON string escaped as serde_json does:
// quote, backslash and control characters only.
func appendString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			buf = append(buf, `\"`...)
		case c == '\\':
			buf = append(buf, `\\`...)
		case c == '\b':
			buf = append(buf, `\b`...)
		case c == '\f':
			buf = append(buf, `\f`...)
		case c == '\n':
			buf = append(buf, `\n`...)
		case c == '\r':
			buf = append(buf, `\r`...)
		case c == '\t':
			buf = append(buf, `\t`...)
		case c < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"')
}

// WriteTensor writes the data of the next tensor, which must be exactly its
// size.
func (w *Writer) WriteTensor(data []byte) error {
	if err := w.check(); err != nil {
		return err
	}
	t := w.tensors[w.next]
	if want := t.Bytes(); int64(len(data)) != want {
		return fmt.Errorf("%w: tensor %q: got %d bytes, want %d", ErrWriter, t.Name, len(data), want)
	}
	if _, err := w.w.Write(data); err != nil {
		w.err = err
		return err
	}
	w.next++
	return nil
}

// CopyTensor copies the data of the next tensor from r, which must provide
// at least its size; exactly that many bytes are read.
func (w *Writer) CopyTensor(r io.Reader) error {
	if err := w.check(); err != nil {
		return err
	}
	t := w.tensors[w.next]
	want := t.Bytes()
	n, err := io.CopyN(w.w, r, want)
	if err != nil {
		if err == io.EOF {
			err = fmt.Errorf("%w: tensor %q: source gave %d of %d bytes: %w", ErrWriter, t.Name, n, want, io.ErrUnexpectedEOF)
		}
		w.err = err // the output is now torn
		return err
	}
	w.next++
	return nil
}

func (w *Writer) check() error {
	if w.err != nil {
		return w.err
	}
	if w.next >= len(w.tensors) {
		return fmt.Errorf("%w: all %d tensors already written", ErrWriter, len(w.tensors))
	}
	return nil
}

// Close checks that every tensor was written. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.next != len(w.tensors) {
		return fmt.Errorf("%w: closed after %d of %d tensors", ErrWriter, w.next, len(w.tensors))
	}
	return nil
}

// FillTensor writes the data of the next tensor through fill, which must
// write exactly its size to the writer it is given (writing more fails at
// the first excess byte). An error of fill is returned as it is; after
// one, the Writer is unusable.
func (w *Writer) FillTensor(fill func(io.Writer) error) error {
	if err := w.check(); err != nil {
		return err
	}
	t := w.tensors[w.next]
	lw := &limitWriter{w: w.w, name: t.Name, left: t.Bytes()}
	if err := fill(lw); err != nil {
		w.err = err
		return err
	}
	if lw.left != 0 {
		w.err = fmt.Errorf("%w: tensor %q: got %d bytes, want %d", ErrWriter, t.Name, t.Bytes()-lw.left, t.Bytes())
		return w.err
	}
	w.next++
	return nil
}

// limitWriter passes at most left bytes through to w.
type limitWriter struct {
	w    io.Writer
	name string
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		return 0, fmt.Errorf("%w: tensor %q: %d bytes more than it holds", ErrWriter, l.name, int64(len(p))-l.left)
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	return n, err
}
