// Package gguf reads and writes GGUF files, the container of llama.cpp and
// ggml: a header of typed key-value metadata and tensor descriptions,
// followed by an aligned data section holding the tensors' raw bytes.
//
// The layout follows GGUF version 3 as implemented by llama.cpp
// (ggml/include/gguf.h and ggml/src/gguf.cpp, gguf_init_from_file_impl and
// gguf_write_to_buf; summarised in shrink's spec/gguf-and-ggml-blocks.md §1):
//
//	magic "GGUF" | uint32 version | int64 n_tensors | int64 n_kv
//	n_kv x (string key | int32 value type | value)
//	n_tensors x (string name | uint32 n_dims | n_dims x int64 ne | int32 type | uint64 offset)
//	zero padding to the alignment | tensor data
//
// All integers are little-endian; a string is a uint64 byte length followed
// by the bytes (no terminator). The alignment is the UINT32 key
// general.alignment, a power of two, or 32 by default. Tensor offsets are
// relative to the data section and must be packed in info order: the first
// is 0 and each next one is the previous end rounded up to the alignment.
//
// The reader applies llama.cpp's validation and never trusts a count, length
// or size it reads: each is bounded by the bytes left in the file before
// anything is allocated. Every error it returns is a *format.FormatError
// naming the file, the tensor involved and the byte offset of the bad field.
package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"github.com/shrink-llm/shrink/format"
)

// Magic is the four bytes every GGUF file starts with.
const Magic = "GGUF"

// Version is the GGUF version this package writes. The reader also accepts
// version 2, whose layout is the same.
const Version = 3

// DefaultAlignment is the data alignment used when general.alignment is
// absent (GGUF_DEFAULT_ALIGNMENT).
const DefaultAlignment = 32

// MaxNameLen is one more than the longest tensor name ggml accepts
// (GGML_MAX_NAME): names must be shorter than 64 bytes.
const MaxNameLen = 64

// MaxDims is the largest number of dimensions of a tensor (GGML_MAX_DIMS).
const MaxDims = 4

// KeyAlignment is the metadata key that sets the data alignment.
const KeyAlignment = "general.alignment"

// Smallest encodings, used to bound counts before allocating.
const (
	minKVBytes     = 8 + 1 + 4 + 1 // key length, 1-byte key, type, 1-byte value
	minTensorBytes = 8 + 4 + 4 + 8 // name length, n_dims, type, offset
)

// TensorInfo describes one tensor of a GGUF file.
type TensorInfo struct {
	format.TensorInfo
	// Offset is the position of the tensor's data relative to the start of
	// the data section (File.DataOffset).
	Offset uint64
}

// File is a parsed GGUF file. The metadata and tensor descriptions are held
// in memory; tensor data is read on demand from the underlying reader.
type File struct {
	// Version is the GGUF version of the file (2 or 3).
	Version uint32
	// Metadata holds the key-value pairs in file order.
	Metadata Metadata
	// TensorInfos describes the tensors in file order. (The field cannot be
	// called Tensors: that is the format.Source method.)
	TensorInfos []TensorInfo
	// Alignment is the data alignment (general.alignment, default 32).
	Alignment uint32
	// DataOffset is the absolute file position of the data section. In a
	// file without tensors it may lie beyond the end of the file.
	DataOffset int64

	name   string
	r      io.ReaderAt
	size   int64
	closer io.Closer
	index  map[string]int
}

var _ format.Source = (*File)(nil)

// Open opens and parses the GGUF file at path. Errors name the path. The
// file stays open until Close.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	f, err := newReader(fh, fi.Size(), path)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// NewReader parses the GGUF file held in r, which is size bytes long.
func NewReader(r io.ReaderAt, size int64) (*File, error) {
	return newReader(r, size, "")
}

// Name returns the path the file was opened from, or "" for NewReader.
func (f *File) Name() string { return f.name }

// Size returns the size of the file in bytes.
func (f *File) Size() int64 { return f.size }

// Close closes the file opened by Open. It does nothing for a File made by
// NewReader.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	c := f.closer
	f.closer = nil
	return c.Close()
}

// Tensor returns the description of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.TensorInfos[i], true
}

// Tensors lists the tensors in file order (format.Source).
func (f *File) Tensors() []format.TensorInfo {
	out := make([]format.TensorInfo, len(f.TensorInfos))
	for i, t := range f.TensorInfos {
		out[i] = t.TensorInfo
	}
	return out
}

// TensorData returns a reader over the raw bytes of the named tensor
// (format.Source). The error wraps format.ErrNotFound for an unknown name.
func (f *File) TensorData(name string) (*io.SectionReader, error) {
	t, ok := f.Tensor(name)
	if !ok {
		prefix := "gguf: "
		if f.name != "" {
			prefix += f.name + ": "
		}
		return nil, fmt.Errorf("%stensor %q: %w", prefix, name, format.ErrNotFound)
	}
	return io.NewSectionReader(f.r, f.DataOffset+int64(t.Offset), t.Bytes()), nil
}

// decoder reads the header sequentially, tracking the file offset.
type decoder struct {
	br      *bufio.Reader
	off     int64
	size    int64
	file    string
	scratch [8]byte
}

func (d *decoder) fail(off int64, tensor, msg string, args ...any) error {
	return &format.FormatError{File: d.file, Tensor: tensor, Offset: off, Msg: fmt.Sprintf(msg, args...)}
}

func (d *decoder) remaining() int64 { return d.size - d.off }

// read returns the next n bytes (n <= 8) in a scratch buffer.
func (d *decoder) read(n int, what string) ([]byte, error) {
	if int64(n) > d.remaining() {
		return nil, d.fail(d.off, "", "unexpected end of file reading %s (%d bytes needed, %d left)", what, n, d.remaining())
	}
	b := d.scratch[:n]
	if _, err := io.ReadFull(d.br, b); err != nil {
		return nil, &format.FormatError{File: d.file, Offset: d.off, Msg: "reading " + what, Err: err}
	}
	d.off += int64(n)
	return b, nil
}

// bytes returns the next n bytes in a new slice; n must have been bounded
// by remaining().
func (d *decoder) bytes(n int64, what string) ([]byte, error) {
	if n > d.remaining() {
		return nil, d.fail(d.off, "", "unexpected end of file reading %s (%d bytes needed, %d left)", what, n, d.remaining())
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.br, b); err != nil {
		return nil, &format.FormatError{File: d.file, Offset: d.off, Msg: "reading " + what, Err: err}
	}
	d.off += n
	return b, nil
}

func (d *decoder) u32(what string) (uint32, error) {
	b, err := d.read(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	b, err := d.read(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// str reads a string. maxLen > 0 limits its length (exclusive), for tensor
// names.
func (d *decoder) str(what string, maxLen uint64) (string, error) {
	off := d.off
	n, err := d.u64(what + " length")
	if err != nil {
		return "", err
	}
	if maxLen > 0 && n >= maxLen {
		return "", d.fail(off, "", "%s is %d bytes long, must be shorter than %d", what, n, maxLen)
	}
	if n > uint64(d.remaining()) {
		return "", d.fail(off, "", "%s length %d exceeds the %d bytes left in the file", what, n, d.remaining())
	}
	b, err := d.bytes(int64(n), what)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func newReader(r io.ReaderAt, size int64, name string) (*File, error) {
	if size < 0 {
		return nil, &format.FormatError{File: name, Offset: 0, Msg: fmt.Sprintf("negative file size %d", size)}
	}
	d := &decoder{br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10), size: size, file: name}
	f := &File{name: name, r: r, size: size, Alignment: DefaultAlignment}

	magic, err := d.read(4, "magic")
	if err != nil {
		return nil, err
	}
	if string(magic) != Magic {
		return nil, d.fail(0, "", "bad magic %q, want %q", magic, Magic)
	}
	if f.Version, err = d.u32("version"); err != nil {
		return nil, err
	}
	if f.Version != 2 && f.Version != 3 {
		return nil, d.fail(4, "", "unsupported GGUF version %d (want 2 or 3)", f.Version)
	}
	off := d.off
	nt, err := d.u64("tensor count")
	if err != nil {
		return nil, err
	}
	if int64(nt) < 0 || nt > uint64(d.remaining()/minTensorBytes) {
		return nil, d.fail(off, "", "tensor count %d does not fit in the %d bytes left in the file", int64(nt), d.remaining())
	}
	off = d.off
	nkv, err := d.u64("metadata count")
	if err != nil {
		return nil, err
	}
	if int64(nkv) < 0 || nkv > uint64(d.remaining()/minKVBytes) {
		return nil, d.fail(off, "", "metadata count %d does not fit in the %d bytes left in the file", int64(nkv), d.remaining())
	}

	for range nkv {
		keyOff := d.off
		key, err := d.str("key", 0)
		if err != nil {
			return nil, err
		}
		if key == "" {
			return nil, d.fail(keyOff, "", "empty metadata key")
		}
		if _, dup := f.Metadata.Get(key); dup {
			return nil, d.fail(keyOff, "", "duplicate metadata key %s", qkey(key))
		}
		typeOff := d.off
		t, err := d.u32("value type of key " + qkey(key))
		if err != nil {
			return nil, err
		}
		v, err := d.value(ValueType(t), qkey(key))
		if err != nil {
			return nil, err
		}
		if key == KeyAlignment {
			if v.Type != TypeUint32 {
				return nil, d.fail(typeOff, "", "key %s has type %s, must be uint32", KeyAlignment, v.Type)
			}
			a := v.Data.(uint32)
			if a == 0 || a&(a-1) != 0 {
				return nil, d.fail(typeOff+4, "", "key %s = %d is not a power of two", KeyAlignment, a)
			}
			f.Alignment = a
		}
		f.Metadata.Set(key, v)
	}

	align := int64(f.Alignment)
	f.TensorInfos = make([]TensorInfo, 0, nt)
	f.index = make(map[string]int, nt)
	offsetAt := make([]int64, 0, nt) // file position of each offset field
	var next int64                   // expected offset of the next tensor
	for i := range nt {
		infoOff := d.off
		name, err := d.str(fmt.Sprintf("tensor %d name", i), MaxNameLen)
		if err != nil {
			return nil, err
		}
		if _, dup := f.index[name]; dup {
			return nil, d.fail(infoOff, name, "duplicate tensor name")
		}
		ndOff := d.off
		nd, err := d.u32("n_dims")
		if err != nil {
			return nil, tensorErr(err, name)
		}
		if nd > MaxDims {
			return nil, d.fail(ndOff, name, "n_dims %d exceeds %d", nd, MaxDims)
		}
		shape := make([]int64, nd)
		dimsOff := d.off
		elems := int64(1)
		for j := range shape {
			dimOff := d.off
			u, err := d.u64("dimension")
			if err != nil {
				return nil, tensorErr(err, name)
			}
			v := int64(u)
			if v < 0 {
				return nil, d.fail(dimOff, name, "dimension %d is negative (%d)", j, v)
			}
			if v != 0 && elems > math.MaxInt64/v {
				return nil, d.fail(dimOff, name, "element count overflows at dimension %d (%d)", j, v)
			}
			elems *= v
			shape[j] = v
		}
		typeOff := d.off
		tid, err := d.u32("type")
		if err != nil {
			return nil, tensorErr(err, name)
		}
		dt := format.DType(tid)
		if !dt.Valid() {
			return nil, d.fail(typeOff, name, "unknown tensor type id %d", tid)
		}
		ne0 := int64(1)
		if nd > 0 {
			ne0 = shape[0]
		}
		if bs := int64(dt.BlockSize()); ne0%bs != 0 {
			return nil, d.fail(typeOff, name, "ne[0] = %d is not a multiple of the block size %d of %s", ne0, bs, dt)
		}
		ti := format.TensorInfo{Name: name, Type: dt, Shape: shape}
		nbytes := ti.Bytes()
		if nbytes < 0 {
			return nil, d.fail(dimsOff, name, "data size of %v %s overflows", shape, dt)
		}
		offOff := d.off
		toff, err := d.u64("offset")
		if err != nil {
			return nil, tensorErr(err, name)
		}
		if toff != uint64(next) {
			return nil, d.fail(offOff, name, "data offset %d, want %d (tensors are packed in order, each aligned to %d)", toff, next, align)
		}
		if next > size || nbytes > size-next {
			return nil, d.fail(offOff, name, "data [%d, +%d) extends past the end of the %d-byte file", next, nbytes, size)
		}
		next += pad(nbytes, align)
		f.index[name] = len(f.TensorInfos)
		f.TensorInfos = append(f.TensorInfos, TensorInfo{TensorInfo: ti, Offset: toff})
		offsetAt = append(offsetAt, offOff)
	}
	f.DataOffset = pad(d.off, align)
	for i, t := range f.TensorInfos {
		start := int64(t.Offset)
		if f.DataOffset > size || start > size-f.DataOffset || t.Bytes() > size-f.DataOffset-start {
			return nil, d.fail(offsetAt[i], t.Name, "data at file offset %d (+%d bytes) extends past the end of the %d-byte file", f.DataOffset+start, t.Bytes(), size)
		}
	}
	return f, nil
}

// tensorErr adds the tensor name to an error from a field read.
func tensorErr(err error, name string) error {
	if fe, ok := err.(*format.FormatError); ok && fe.Tensor == "" {
		fe.Tensor = name
	}
	return err
}

// pad rounds n up to a multiple of align (a power of two).
func pad(n, align int64) int64 { return (n + align - 1) &^ (align - 1) }

// elemBytes is the smallest encoding of one array element of type t.
func elemBytes(t ValueType) int64 {
	if t == TypeString {
		return 8
	}
	return int64(typeSizes[t])
}

// qkey quotes a key for an error message, shortened to keep it one line.
func qkey(key string) string {
	if len(key) > 64 {
		key = key[:64] + "..."
	}
	return strconv.Quote(key)
}

// value reads a value of type t (the type field already read); key is the
// quoted key, for messages.
func (d *decoder) value(t ValueType, key string) (Value, error) {
	what := "value of key " + key
	if t == TypeString {
		s, err := d.str(what, 0)
		return String(s), err
	}
	if t == TypeArray {
		return d.array(key)
	}
	if int(t) >= len(typeSizes) {
		return Value{}, d.fail(d.off-4, "", "key %s: unknown value type %d", key, uint32(t))
	}
	b, err := d.read(typeSizes[t], what)
	if err != nil {
		return Value{}, err
	}
	return Value{Type: t, Data: scalar(t, b)}, nil
}

// scalar decodes one fixed-width value.
func scalar(t ValueType, b []byte) any {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return b[0]
	case TypeInt8:
		return int8(b[0])
	case TypeUint16:
		return le.Uint16(b)
	case TypeInt16:
		return int16(le.Uint16(b))
	case TypeUint32:
		return le.Uint32(b)
	case TypeInt32:
		return int32(le.Uint32(b))
	case TypeFloat32:
		return math.Float32frombits(le.Uint32(b))
	case TypeBool:
		return b[0] != 0
	case TypeUint64:
		return le.Uint64(b)
	case TypeInt64:
		return int64(le.Uint64(b))
	case TypeFloat64:
		return math.Float64frombits(le.Uint64(b))
	}
	panic("gguf: scalar of non-scalar type") // unreachable: callers check t
}

func (d *decoder) array(key string) (Value, error) {
	etOff := d.off
	et32, err := d.u32("element type of key " + key)
	if err != nil {
		return Value{}, err
	}
	et := ValueType(et32)
	if et == TypeArray {
		return Value{}, d.fail(etOff, "", "key %s: arrays of arrays are not allowed", key)
	}
	if int(et) >= len(typeSizes) {
		return Value{}, d.fail(etOff, "", "key %s: unknown array element type %d", key, et32)
	}
	nOff := d.off
	n, err := d.u64("array length of key " + key)
	if err != nil {
		return Value{}, err
	}
	w := elemBytes(et)
	if n > uint64(d.remaining()/w) {
		return Value{}, d.fail(nOff, "", "key %s: array of %d %s needs more than the %d bytes left in the file", key, n, et, d.remaining())
	}
	v := Value{Type: TypeArray, Elem: et}
	if et == TypeString {
		a := make([]string, 0, min(n, 1<<16))
		for range n {
			s, err := d.str("string in array "+key, 0)
			if err != nil {
				return Value{}, err
			}
			a = append(a, s)
		}
		v.Data = a
		return v, nil
	}
	b, err := d.bytes(int64(n)*w, "array "+key)
	if err != nil {
		return Value{}, err
	}
	le := binary.LittleEndian
	switch et {
	case TypeUint8:
		v.Data = b
	case TypeInt8:
		v.Data = decode(b, 1, func(p []byte) int8 { return int8(p[0]) })
	case TypeUint16:
		v.Data = decode(b, 2, le.Uint16)
	case TypeInt16:
		v.Data = decode(b, 2, func(p []byte) int16 { return int16(le.Uint16(p)) })
	case TypeUint32:
		v.Data = decode(b, 4, le.Uint32)
	case TypeInt32:
		v.Data = decode(b, 4, func(p []byte) int32 { return int32(le.Uint32(p)) })
	case TypeFloat32:
		v.Data = decode(b, 4, func(p []byte) float32 { return math.Float32frombits(le.Uint32(p)) })
	case TypeBool:
		v.Data = decode(b, 1, func(p []byte) bool { return p[0] != 0 })
	case TypeUint64:
		v.Data = decode(b, 8, le.Uint64)
	case TypeInt64:
		v.Data = decode(b, 8, func(p []byte) int64 { return int64(le.Uint64(p)) })
	case TypeFloat64:
		v.Data = decode(b, 8, func(p []byte) float64 { return math.Float64frombits(le.Uint64(p)) })
	}
	return v, nil
}

func decode[T any](b []byte, w int, f func([]byte) T) []T {
	out := make([]T, len(b)/w)
	for i := range out {
		out[i] = f(b[i*w : i*w+w])
	}
	return out
}

func init() {
	format.Register(format.Format{
		Name: "gguf",
		Match: func(path string, head []byte, isDir bool) bool {
			return !isDir && len(head) >= 4 && string(head[:4]) == Magic
		},
		Open: func(path string) (format.Source, error) {
			f, err := Open(path)
			if err != nil {
				return nil, err
			}
			return f, nil
		},
	})
}
