// Package safetensors reads and writes the safetensors tensor container of
// Hugging Face (https://github.com/huggingface/safetensors) and reads Hugging
// Face model folders made of one or several safetensors files.
//
// A safetensors file is:
//
//	bytes 0-7   N, the header length, a little-endian uint64
//	bytes 8..   N bytes of UTF-8 JSON: an object mapping each tensor name to
//	            {"dtype": D, "shape": [...], "data_offsets": [begin, end]},
//	            plus an optional "__metadata__" object of string values
//	then        the data buffer; offsets are relative to its start, end
//	            exclusive, data row-major and little-endian
//
// This package validates a file as the reference implementation
// (safetensors/src/tensor.rs) does: N is at most 100 MB and fits the file,
// the header starts with '{', every entry has its three fields, end - begin
// equals the product of the shape times the dtype size, the byte ranges
// cover the data buffer exactly with no holes and no overlaps, and names are
// unique (checked here explicitly, since the JSON decoder would keep the last
// duplicate). Every size, count and offset is checked against the file size
// before anything is allocated.
//
// Shapes: safetensors stores PyTorch order (outermost first); TensorInfo's
// embedded format.TensorInfo.Shape is in ggml order (innermost first), the
// reverse. A scalar (shape []) has a nil Shape, which format.TensorInfo
// treats as one element.
//
// Types: F32, F16, BF16, F64, I8, I16, I32 and I64 are read and written.
// BOOL, U8, U16, U32, U64, F8_E4M3 and F8_E5M2 are recognised but refused,
// since ggml has no such types.
//
// The package registers two formats with format.Register: "safetensors" for
// a file, recognised by a plausible header length followed by '{', and
// "safetensors-folder" for a folder holding model.safetensors.index.json or
// any *.safetensors file.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/shrink-llm/shrink/format"
)

// MaxHeaderSize is the largest header the reader accepts, in bytes, as in
// the reference implementation (MAX_HEADER_SIZE).
const MaxHeaderSize = 100_000_000

// Sentinel errors, wrapped in *format.FormatError.
var (
	// ErrUnsupportedDType is a dtype that safetensors defines but ggml cannot
	// hold (BOOL, unsigned integers, 8-bit floats).
	ErrUnsupportedDType = errors.New("safetensors: unsupported dtype")
	// ErrNoRandomAccess is a file of an fs.FS that does not implement
	// io.ReaderAt.
	ErrNoRandomAccess = errors.New("safetensors: file does not support random access (io.ReaderAt)")
	// ErrNoWeights is a folder without any safetensors file.
	ErrNoWeights = errors.New("safetensors: no safetensors file in folder")
)

// dtypeInfo is what the package knows about one safetensors dtype name.
type dtypeInfo struct {
	typ       format.DType // meaningful only when supported
	supported bool
}

// dtypes maps every safetensors dtype name (safetensors' Dtype enum) to its
// ggml type, whose format.DType.BlockBytes is the element size.
var dtypes = map[string]dtypeInfo{
	"F32":     {format.F32, true},
	"F16":     {format.F16, true},
	"BF16":    {format.BF16, true},
	"F64":     {format.F64, true},
	"I8":      {format.I8, true},
	"I16":     {format.I16, true},
	"I32":     {format.I32, true},
	"I64":     {format.I64, true},
	"BOOL":    {0, false},
	"U8":      {0, false},
	"U16":     {0, false},
	"U32":     {0, false},
	"U64":     {0, false},
	"F8_E4M3": {0, false},
	"F8_E5M2": {0, false},
}

// dtypeNames is dtypes reversed: the safetensors name of each supported
// ggml type.
var dtypeNames = func() map[format.DType]string {
	m := make(map[format.DType]string)
	for name, dt := range dtypes {
		if dt.supported {
			m[dt.typ] = name
		}
	}
	return m
}()

// dtypeName returns the safetensors name of a ggml type this package
// writes, or "" for any other type.
func dtypeName(t format.DType) string { return dtypeNames[t] }

// TensorInfo describes one tensor of a safetensors file.
type TensorInfo struct {
	format.TensorInfo        // name, ggml type, shape in ggml order (nil for a scalar)
	DType             string // the safetensors dtype name, e.g. "BF16"
	Begin, End        int64  // byte range in the data buffer, End exclusive
}

// File is an open safetensors file. It implements format.Source.
type File struct {
	// Metadata is the header's "__metadata__" map (nil when absent).
	Metadata map[string]string

	name      string
	r         io.ReaderAt
	size      int64
	closer    io.Closer
	dataStart int64
	tensors   []TensorInfo // in data-offset order
	byName    map[string]int
}

// Open opens the safetensors file at path.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	f, err := newReader(fh, st.Size(), path)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// NewReader reads the header of the safetensors file held by r, which is
// size bytes long, and validates it. Tensor data is read on demand.
func NewReader(r io.ReaderAt, size int64) (*File, error) {
	return newReader(r, size, "")
}

func newReader(r io.ReaderAt, size int64, name string) (*File, error) {
	ferr := func(tensor string, off int64, err error, format_ string, args ...any) error {
		return &format.FormatError{File: name, Tensor: tensor, Offset: off, Msg: fmt.Sprintf(format_, args...), Err: err}
	}
	if size < 8 {
		return nil, ferr("", 0, io.ErrUnexpectedEOF, "file of %d bytes is too short for the header length", size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, ferr("", 0, err, "reading header length")
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, ferr("", 0, format.ErrTooLarge, "header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	}
	if n > uint64(size-8) {
		return nil, ferr("", 0, io.ErrUnexpectedEOF, "header length %d exceeds the %d bytes after the length field", n, size-8)
	}
	hdr, err := format.ReadAt(r, size, 8, int64(n))
	if err != nil {
		return nil, ferr("", 8, err, "reading header")
	}
	f := &File{name: name, r: r, size: size, dataStart: 8 + int64(n)}
	if err := f.parseHeader(hdr); err != nil {
		return nil, err
	}
	return f, nil
}

// parseHeader decodes and validates the JSON header.
func (f *File) parseHeader(hdr []byte) error {
	herr := func(tensor string, err error, format_ string, args ...any) error {
		if err == io.EOF { // the JSON ends early
			err = io.ErrUnexpectedEOF
		}
		return &format.FormatError{File: f.name, Tensor: tensor, Offset: 8, Msg: "header: " + fmt.Sprintf(format_, args...), Err: err}
	}
	if len(hdr) == 0 || hdr[0] != '{' {
		return herr("", nil, "does not start with '{'")
	}
	if !utf8.Valid(hdr) {
		return herr("", nil, "not valid UTF-8")
	}
	dataLen := f.size - f.dataStart
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the '{' checked above
		return herr("", err, "invalid JSON")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return herr("", err, "invalid JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return herr("", nil, "invalid JSON: key %s is not a string", tokenString(tok))
		}
		if seen[key] {
			if key == "__metadata__" {
				return herr("", nil, "duplicate __metadata__")
			}
			return herr(key, nil, "duplicate tensor name")
		}
		seen[key] = true
		if key == "__metadata__" {
			m, err := decodeStringMap(dec)
			if err != nil {
				return herr("", err, "__metadata__")
			}
			f.Metadata = m
			continue
		}
		t, err := decodeEntry(dec, key)
		if err != nil {
			return herr(key, err, "invalid entry")
		}
		if err := f.checkEntry(&t, dataLen); err != nil {
			return err
		}
		f.tensors = append(f.tensors, t)
	}
	if _, err := dec.Token(); err != nil { // closing '}'
		return herr("", err, "invalid JSON")
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("unexpected %s", tokenString(tok))
		}
		return herr("", err, "trailing data after the JSON object")
	}

	// Data-offset order; ties (empty tensors) keep header order.
	slices.SortStableFunc(f.tensors, func(a, b TensorInfo) int {
		if a.Begin != b.Begin {
			return cmpInt(a.Begin, b.Begin)
		}
		return cmpInt(a.End, b.End)
	})
	var at int64
	for _, t := range f.tensors {
		if t.Begin > at {
			return &format.FormatError{File: f.name, Tensor: t.Name, Offset: f.dataStart + at,
				Msg: fmt.Sprintf("hole of %d bytes in the data buffer before data_offsets [%d, %d]", t.Begin-at, t.Begin, t.End)}
		}
		if t.Begin < at {
			return &format.FormatError{File: f.name, Tensor: t.Name, Offset: f.dataStart + t.Begin,
				Msg: fmt.Sprintf("data_offsets [%d, %d] overlap the previous tensor, which ends at %d", t.Begin, t.End, at)}
		}
		at = t.End
	}
	if at != dataLen {
		return &format.FormatError{File: f.name, Offset: f.dataStart + at,
			Msg: fmt.Sprintf("%d bytes after the last tensor (data buffer of %d bytes, tensors cover %d)", dataLen-at, dataLen, at)}
	}
	f.byName = make(map[string]int, len(f.tensors))
	for i, t := range f.tensors {
		f.byName[t.Name] = i
	}
	return nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkEntry validates the dtype, shape and byte range of one tensor against
// each other and the data buffer of dataLen bytes.
func (f *File) checkEntry(t *TensorInfo, dataLen int64) error {
	herr := func(err error, format_ string, args ...any) error {
		return &format.FormatError{File: f.name, Tensor: t.Name, Offset: 8, Msg: "header: " + fmt.Sprintf(format_, args...), Err: err}
	}
	dt, known := dtypes[t.DType]
	if !known {
		return herr(format.ErrUnknownDType, "unknown dtype %s", strconv.Quote(t.DType))
	}
	if !dt.supported {
		return herr(ErrUnsupportedDType, "unsupported dtype %s", t.DType)
	}
	t.Type = dt.typ
	n := int64(1)
	for _, d := range t.Shape {
		if d < 0 {
			return herr(nil, "negative dimension in shape %v", reversed(t.Shape))
		}
		if d != 0 && n > math.MaxInt64/d {
			return herr(format.ErrTooLarge, "shape %v overflows", reversed(t.Shape))
		}
		n *= d
	}
	size := int64(dt.typ.BlockBytes()) // bytes per element
	if n > math.MaxInt64/size {
		return herr(format.ErrTooLarge, "shape %v of %s overflows", reversed(t.Shape), t.DType)
	}
	want := n * size
	// Absolute offset of the tensor's data, saturated at the end of the file.
	abs := f.size
	if t.Begin >= 0 && t.Begin <= dataLen {
		abs = f.dataStart + t.Begin
	}
	derr := func(format_ string, args ...any) error {
		return &format.FormatError{File: f.name, Tensor: t.Name, Offset: abs, Msg: fmt.Sprintf(format_, args...)}
	}
	if t.Begin > t.End {
		return derr("data_offsets [%d, %d] end before they begin", t.Begin, t.End)
	}
	if t.End > dataLen {
		return derr("data_offsets [%d, %d] run past the end of the data buffer (%d bytes)", t.Begin, t.End, dataLen)
	}
	if t.End-t.Begin != want {
		return derr("data_offsets [%d, %d] hold %d bytes; shape %v of %s needs %d", t.Begin, t.End, t.End-t.Begin, reversed(t.Shape), t.DType, want)
	}
	// Bytes multiplies the element size in first, so it overflows where a
	// zero dimension comes after dimensions whose product times the element
	// size does not fit an int64 (PyTorch shape [0, 2^62] of F32).
	if t.TensorInfo.Bytes() != want {
		return derr("size %d disagrees with the type table (%d)", want, t.TensorInfo.Bytes())
	}
	return nil
}

// reversed returns s in the opposite order (converting between PyTorch and
// ggml order); nil for an empty s.
func reversed(s []int64) []int64 {
	if len(s) == 0 {
		return nil
	}
	out := make([]int64, len(s))
	for i, d := range s {
		out[len(s)-1-i] = d
	}
	return out
}

// decodeStringMap reads a JSON object of string values (or null) from dec,
// refusing duplicate keys.
func decodeStringMap(dec *json.Decoder) (map[string]string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("not an object")
	}
	m := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("key %s is not a string", tokenString(tok))
		}
		if tok, err = dec.Token(); err != nil {
			return nil, err
		}
		v, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("value of %q is not a string", k)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		m[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeEntry reads one tensor entry {"dtype", "shape", "data_offsets"} from
// dec. Unknown fields are skipped, as serde does; duplicate fields are
// refused. The shape is returned in ggml order.
func decodeEntry(dec *json.Decoder, name string) (TensorInfo, error) {
	t := TensorInfo{TensorInfo: format.TensorInfo{Name: name}}
	tok, err := dec.Token()
	if err != nil {
		return t, err
	}
	if tok != json.Delim('{') {
		return t, fmt.Errorf("not an object")
	}
	var have [3]bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return t, err
		}
		field, ok := tok.(string)
		if !ok {
			return t, fmt.Errorf("key %s is not a string", tokenString(tok))
		}
		idx := -1
		switch field {
		case "dtype":
			idx = 0
		case "shape":
			idx = 1
		case "data_offsets":
			idx = 2
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return t, err
			}
			continue
		}
		if have[idx] {
			return t, fmt.Errorf("duplicate field %s", field)
		}
		have[idx] = true
		switch idx {
		case 0:
			tok, err := dec.Token()
			if err != nil {
				return t, err
			}
			s, ok := tok.(string)
			if !ok {
				return t, fmt.Errorf("dtype is not a string")
			}
			t.DType = s
		case 1:
			dims, err := decodeInts(dec)
			if err != nil {
				return t, fmt.Errorf("shape: %w", err)
			}
			t.Shape = reversed(dims)
		case 2:
			offs, err := decodeInts(dec)
			if err != nil {
				return t, fmt.Errorf("data_offsets: %w", err)
			}
			if len(offs) != 2 {
				return t, fmt.Errorf("data_offsets has %d values, want 2", len(offs))
			}
			if offs[0] < 0 || offs[1] < 0 {
				return t, fmt.Errorf("negative data_offsets %v", offs)
			}
			t.Begin, t.End = offs[0], offs[1]
		}
	}
	if _, err := dec.Token(); err != nil {
		return t, err
	}
	for i, f := range [3]string{"dtype", "shape", "data_offsets"} {
		if !have[i] {
			return t, fmt.Errorf("missing field %s", f)
		}
	}
	return t, nil
}

// decodeInts reads a JSON array of integers that fit int64. Negative values
// are returned as they are, for the caller to report.
func decodeInts(dec *json.Decoder) ([]int64, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('[') {
		return nil, fmt.Errorf("not an array")
	}
	var out []int64
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s is not an integer", tokenString(tok))
		}
		v, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return nil, fmt.Errorf("%s: %w", num, format.ErrTooLarge)
			}
			return nil, fmt.Errorf("%s is not an integer", num)
		}
		out = append(out, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

// tokenString describes a JSON token for a message.
func tokenString(tok json.Token) string {
	switch v := tok.(type) {
	case string:
		return strconv.Quote(v)
	case json.Delim:
		return string(v)
	case nil:
		return "null"
	}
	return fmt.Sprint(tok)
}

// Name returns the file name given to Open ("" for NewReader).
func (f *File) Name() string { return f.name }

// DataOffset returns the absolute offset of the data buffer: 8 plus the
// header length.
func (f *File) DataOffset() int64 { return f.dataStart }

// Tensors lists the tensors in data-offset order.
func (f *File) Tensors() []format.TensorInfo {
	out := make([]format.TensorInfo, len(f.tensors))
	for i, t := range f.tensors {
		out[i] = t.TensorInfo
		out[i].Shape = slices.Clone(t.Shape)
	}
	return out
}

// Tensor returns the description of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	t := f.tensors[i]
	t.Shape = slices.Clone(t.Shape)
	return t, true
}

// TensorData returns a reader over the raw little-endian bytes of the named
// tensor.
func (f *File) TensorData(name string) (*io.SectionReader, error) {
	i, ok := f.byName[name]
	if !ok {
		return nil, &format.FormatError{File: f.name, Tensor: name, Offset: -1, Msg: "no such tensor", Err: format.ErrNotFound}
	}
	t := f.tensors[i]
	return io.NewSectionReader(f.r, f.dataStart+t.Begin, t.End-t.Begin), nil
}

// Close closes the file opened by Open. It does nothing for NewReader.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	c := f.closer
	f.closer = nil
	return c.Close()
}
