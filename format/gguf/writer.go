package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/shrink-llm/shrink/format"
)

// Sentinel errors of the writer.
var (
	// ErrInvalid is wrapped by NewWriter's errors: the metadata or tensor
	// list breaks a rule that llama.cpp's reader enforces.
	ErrInvalid = errors.New("gguf: invalid metadata or tensor list")
	// ErrTensorSize reports tensor data whose length is not the tensor's
	// Bytes().
	ErrTensorSize = errors.New("gguf: tensor data has the wrong size")
	// ErrTensorCount reports more tensors written than declared, or fewer
	// at Close.
	ErrTensorCount = errors.New("gguf: tensor count mismatch")
)

// Writer writes a GGUF version 3 file in one pass: NewWriter computes every
// tensor's offset and writes the header, then WriteTensor or CopyTensor
// stream the tensors' data in the declared order, each padded with zeros to
// the alignment. Data is written as given, so already-quantized tensors pass
// through untouched.
type Writer struct {
	w       io.Writer
	tensors []TensorInfo
	align   int64
	dataOff int64
	next    int   // index of the next tensor to write
	err     error // sticky write error
}

// NewWriter validates md and tensors by the rules the reader applies, then
// writes the header, the tensor infos and the padding that starts the data
// section. md may be nil (no metadata). The alignment is md's
// general.alignment (a UINT32 power of two) when present, else 32.
//
// A file without tensors ends right after the tensor infos, with no
// padding, as gguf-py writes vocab-only files; llama.cpp reads both forms.
func NewWriter(w io.Writer, md *Metadata, tensors []format.TensorInfo) (*Writer, error) {
	if md == nil {
		md = &Metadata{}
	}
	align := int64(DefaultAlignment)
	if v, ok := md.Get(KeyAlignment); ok {
		a, ok := v.Data.(uint32)
		if v.Type != TypeUint32 || !ok {
			return nil, invalid("key %s has type %s, must be uint32", KeyAlignment, v.Type)
		}
		if a == 0 || a&(a-1) != 0 {
			return nil, invalid("key %s = %d is not a power of two", KeyAlignment, a)
		}
		align = int64(a)
	}

	le := binary.LittleEndian
	buf := []byte(Magic)
	buf = le.AppendUint32(buf, Version)
	buf = le.AppendUint64(buf, uint64(len(tensors)))
	buf = le.AppendUint64(buf, uint64(md.Len()))
	var err error
	for _, kv := range md.KVs() { // unique keys: Set replaces in place
		if kv.Key == "" {
			return nil, invalid("empty metadata key")
		}
		buf = appendString(buf, kv.Key)
		buf = le.AppendUint32(buf, uint32(kv.Value.Type))
		if buf, err = appendValue(buf, kv.Value); err != nil {
			return nil, invalid("key %s: %v", qkey(kv.Key), err)
		}
	}

	wr := &Writer{w: w, align: align, tensors: make([]TensorInfo, len(tensors))}
	names := make(map[string]bool, len(tensors))
	var off int64
	for i, t := range tensors {
		if msg := tensorProblem(t); msg != "" {
			return nil, invalid("tensor %s: %s", qkey(t.Name), msg)
		}
		if names[t.Name] {
			return nil, invalid("tensor %s: duplicate tensor name", qkey(t.Name))
		}
		names[t.Name] = true
		n := t.Bytes()
		if off > math.MaxInt64-n-align {
			return nil, invalid("tensor %s: data section exceeds 2^63 bytes", qkey(t.Name))
		}
		shape := append([]int64(nil), t.Shape...)
		wr.tensors[i] = TensorInfo{TensorInfo: format.TensorInfo{Name: t.Name, Type: t.Type, Shape: shape}, Offset: uint64(off)}
		buf = appendString(buf, t.Name)
		buf = le.AppendUint32(buf, uint32(len(shape)))
		for _, d := range shape {
			buf = le.AppendUint64(buf, uint64(d))
		}
		buf = le.AppendUint32(buf, uint32(t.Type))
		buf = le.AppendUint64(buf, uint64(off))
		off += pad(n, align)
	}
	wr.dataOff = pad(int64(len(buf)), align)
	if len(tensors) > 0 {
		buf = append(buf, make([]byte, wr.dataOff-int64(len(buf)))...)
	}
	if _, err := w.Write(buf); err != nil {
		return nil, err
	}
	return wr, nil
}

// invalid returns an error wrapping ErrInvalid.
func invalid(msg string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(msg, args...))
}

// tensorProblem checks one tensor description by the reader's rules
// (except uniqueness) and says what is wrong, or returns "".
func tensorProblem(t format.TensorInfo) string {
	if len(t.Name) >= MaxNameLen {
		return fmt.Sprintf("name is %d bytes long, must be shorter than %d", len(t.Name), MaxNameLen)
	}
	if len(t.Shape) > MaxDims {
		return fmt.Sprintf("%d dimensions, at most %d allowed", len(t.Shape), MaxDims)
	}
	elems := int64(1)
	for j, d := range t.Shape {
		if d < 0 {
			return fmt.Sprintf("dimension %d is negative (%d)", j, d)
		}
		if d != 0 && elems > math.MaxInt64/d {
			return fmt.Sprintf("element count overflows at dimension %d (%d)", j, d)
		}
		elems *= d
	}
	if !t.Type.Valid() {
		return fmt.Sprintf("unknown tensor type id %d", uint32(t.Type))
	}
	ne0 := int64(1)
	if len(t.Shape) > 0 {
		ne0 = t.Shape[0]
	}
	if bs := int64(t.Type.BlockSize()); ne0%bs != 0 {
		return fmt.Sprintf("ne[0] = %d is not a multiple of the block size %d of %s", ne0, bs, t.Type)
	}
	if t.Bytes() < 0 {
		return fmt.Sprintf("data size of %v %s overflows", t.Shape, t.Type)
	}
	return ""
}

// Tensors returns the tensors to be written, with their data offsets.
func (w *Writer) Tensors() []TensorInfo { return w.tensors }

// DataOffset returns the file position of the data section.
func (w *Writer) DataOffset() int64 { return w.dataOff }

// Alignment returns the data alignment in use.
func (w *Writer) Alignment() int64 { return w.align }

// nextTensor returns the next tensor to write.
func (w *Writer) nextTensor() (TensorInfo, error) {
	if w.err != nil {
		return TensorInfo{}, w.err
	}
	if w.next >= len(w.tensors) {
		return TensorInfo{}, fmt.Errorf("%w: all %d tensors already written", ErrTensorCount, len(w.tensors))
	}
	return w.tensors[w.next], nil
}

// WriteTensor writes the data of the next tensor in order; len(data) must
// equal its Bytes().
func (w *Writer) WriteTensor(data []byte) error {
	t, err := w.nextTensor()
	if err != nil {
		return err
	}
	if int64(len(data)) != t.Bytes() {
		return fmt.Errorf("%w: tensor %s: %d bytes given, %d expected", ErrTensorSize, qkey(t.Name), len(data), t.Bytes())
	}
	if _, err := w.w.Write(data); err != nil {
		w.err = err
		return err
	}
	return w.finish(t)
}

// CopyTensor streams the data of the next tensor in order from r, which
// must supply at least Bytes() bytes; exactly that many are read.
func (w *Writer) CopyTensor(r io.Reader) error {
	t, err := w.nextTensor()
	if err != nil {
		return err
	}
	n, err := io.CopyN(w.w, r, t.Bytes())
	if n != t.Bytes() {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("%w: tensor %s: source ended after %d of %d bytes", ErrTensorSize, qkey(t.Name), n, t.Bytes())
		}
		w.err = err
		return err
	}
	return w.finish(t)
}

// FillTensor writes the data of the next tensor in order through fill,
// which must write exactly its Bytes() bytes to the writer it is given
// (writing more fails at the first excess byte). An error of fill is
// returned as it is; after one, the Writer is unusable.
func (w *Writer) FillTensor(fill func(io.Writer) error) error {
	t, err := w.nextTensor()
	if err != nil {
		return err
	}
	lw := &limitWriter{w: w.w, name: t.Name, left: t.Bytes()}
	if err := fill(lw); err != nil {
		w.err = err
		return err
	}
	if lw.left != 0 {
		w.err = fmt.Errorf("%w: tensor %s: %d of %d bytes written", ErrTensorSize, qkey(t.Name), t.Bytes()-lw.left, t.Bytes())
		return w.err
	}
	return w.finish(t)
}

// limitWriter passes at most left bytes through to w.
type limitWriter struct {
	w    io.Writer
	name string
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		return 0, fmt.Errorf("%w: tensor %s: %d bytes more than it holds", ErrTensorSize, qkey(l.name), int64(len(p))-l.left)
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	return n, err
}

// finish pads the tensor just written and moves to the next.
func (w *Writer) finish(t TensorInfo) error {
	if p := pad(t.Bytes(), w.align) - t.Bytes(); p > 0 {
		if _, err := w.w.Write(make([]byte, p)); err != nil {
			w.err = err
			return err
		}
	}
	w.next++
	return nil
}

// Close checks that every declared tensor was written. It does not close
// the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.next != len(w.tensors) {
		return fmt.Errorf("%w: %d of %d tensors written", ErrTensorCount, w.next, len(w.tensors))
	}
	return nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.LittleEndian.AppendUint64(buf, uint64(len(s)))
	return append(buf, s...)
}

// appendValue encodes v (without its type tag), checking that its Go data
// matches its type.
func appendValue(buf []byte, v Value) ([]byte, error) {
	if v.Type == TypeArray {
		if v.Elem == TypeArray {
			return nil, errors.New("arrays of arrays are not allowed")
		}
		if int(v.Elem) >= len(typeSizes) {
			return nil, fmt.Errorf("unknown array element type %d", uint32(v.Elem))
		}
		buf = binary.LittleEndian.AppendUint32(buf, uint32(v.Elem))
		return appendArray(buf, v)
	}
	if int(v.Type) >= len(typeSizes) {
		return nil, fmt.Errorf("unknown value type %d", uint32(v.Type))
	}
	le := binary.LittleEndian
	ok := true
	switch x := v.Data.(type) {
	case uint8:
		ok = v.Type == TypeUint8
		buf = append(buf, x)
	case int8:
		ok = v.Type == TypeInt8
		buf = append(buf, byte(x))
	case uint16:
		ok = v.Type == TypeUint16
		buf = le.AppendUint16(buf, x)
	case int16:
		ok = v.Type == TypeInt16
		buf = le.AppendUint16(buf, uint16(x))
	case uint32:
		ok = v.Type == TypeUint32
		buf = le.AppendUint32(buf, x)
	case int32:
		ok = v.Type == TypeInt32
		buf = le.AppendUint32(buf, uint32(x))
	case float32:
		ok = v.Type == TypeFloat32
		buf = le.AppendUint32(buf, math.Float32bits(x))
	case bool:
		ok = v.Type == TypeBool
		buf = append(buf, boolByte(x))
	case string:
		ok = v.Type == TypeString
		buf = appendString(buf, x)
	case uint64:
		ok = v.Type == TypeUint64
		buf = le.AppendUint64(buf, x)
	case int64:
		ok = v.Type == TypeInt64
		buf = le.AppendUint64(buf, uint64(x))
	case float64:
		ok = v.Type == TypeFloat64
		buf = le.AppendUint64(buf, math.Float64bits(x))
	default:
		ok = false
	}
	if !ok {
		return nil, fmt.Errorf("value of type %s holds a Go %T", v.Type, v.Data)
	}
	return buf, nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func appendArray(buf []byte, v Value) ([]byte, error) {
	le := binary.LittleEndian
	want := v.Elem
	var got ValueType
	switch a := v.Data.(type) {
	case nil:
		return le.AppendUint64(buf, 0), nil
	case []uint8:
		got, buf = TypeUint8, append(le.AppendUint64(buf, uint64(len(a))), a...)
	case []int8:
		got, buf = TypeInt8, appendElems(buf, a, func(b []byte, x int8) []byte { return append(b, byte(x)) })
	case []uint16:
		got, buf = TypeUint16, appendElems(buf, a, le.AppendUint16)
	case []int16:
		got, buf = TypeInt16, appendElems(buf, a, func(b []byte, x int16) []byte { return le.AppendUint16(b, uint16(x)) })
	case []uint32:
		got, buf = TypeUint32, appendElems(buf, a, le.AppendUint32)
	case []int32:
		got, buf = TypeInt32, appendElems(buf, a, func(b []byte, x int32) []byte { return le.AppendUint32(b, uint32(x)) })
	case []float32:
		got, buf = TypeFloat32, appendElems(buf, a, func(b []byte, x float32) []byte { return le.AppendUint32(b, math.Float32bits(x)) })
	case []bool:
		got, buf = TypeBool, appendElems(buf, a, func(b []byte, x bool) []byte { return append(b, boolByte(x)) })
	case []string:
		got, buf = TypeString, appendElems(buf, a, appendString)
	case []uint64:
		got, buf = TypeUint64, appendElems(buf, a, le.AppendUint64)
	case []int64:
		got, buf = TypeInt64, appendElems(buf, a, func(b []byte, x int64) []byte { return le.AppendUint64(b, uint64(x)) })
	case []float64:
		got, buf = TypeFloat64, appendElems(buf, a, func(b []byte, x float64) []byte { return le.AppendUint64(b, math.Float64bits(x)) })
	default:
		return nil, fmt.Errorf("array of %s holds a Go %T", want, v.Data)
	}
	if got != want {
		return nil, fmt.Errorf("array of %s holds a Go %T", want, v.Data)
	}
	return buf, nil
}

// appendElems appends the element count of a (uint64) and then each element
// as enc writes it.
func appendElems[T any](buf []byte, a []T, enc func([]byte, T) []byte) []byte {
	buf = binary.LittleEndian.AppendUint64(buf, uint64(len(a)))
	for _, x := range a {
		buf = enc(buf, x)
	}
	return buf
}
