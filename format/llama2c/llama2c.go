// Package llama2c reads and writes the checkpoints of Andrej Karpathy's
// llama2.c (github.com/karpathy/llama2.c, the legacy "version 0" format that
// export.py's legacy_export and the tinyllamas models use) and its
// tokenizer.bin files.
//
// A checkpoint is a 28-byte header of seven little-endian int32 values
//
//	dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
//
// followed by float32 arrays, PyTorch [out, in] row-major, in this order:
//
//	token_embedding [vocab, dim]
//	rms_att         [layers, dim]
//	wq              [layers, dim, dim]
//	wk, wv          [layers, kv_dim, dim] each
//	wo              [layers, dim, dim]
//	rms_ffn         [layers, dim]
//	w1 (gate)       [layers, hidden, dim]
//	w2 (down)       [layers, dim, hidden]
//	w3 (up)         [layers, hidden, dim]
//	rms_final       [dim]
//	freq_cis_real, freq_cis_imag [seq_len, head_size/2] each
//	wcls            [vocab, dim], only when vocab_size is negative
//
// where kv_dim = dim*n_kv_heads/n_heads. A negative vocab_size means the
// classifier is stored separately; a positive one means it is the token
// embedding. The file has no magic number, so it is recognised by its size:
// it must equal 28 + 4*(the sum of the array sizes) exactly.
//
// File exposes the weights under llama.cpp's GGUF tensor names (token_embd,
// blk.N.attn_q, ...), in ggml shape order, as format.F32 tensors read lazily
// from the file; the freq_cis arrays are skipped. RoPE in llama2.c rotates
// adjacent pairs, as GGUF's llama architecture does, so no permutation is
// needed on conversion.
//
// A tokenizer.bin holds an int32 max_token_length, then for each token a
// float32 score, an int32 byte length and the bytes of the piece (see
// tokenizer.py and run.c's build_tokenizer in llama2.c).
package llama2c

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/shrink-llm/shrink/format"
)

// HeaderSize is the size in bytes of a checkpoint header.
const HeaderSize = 28

// ErrSizeMismatch is wrapped by the error for a file whose size differs from
// the size its header implies.
var ErrSizeMismatch = errors.New("llama2c: file size does not match the header")

// Header is the configuration stored at the start of a checkpoint.
type Header struct {
	Dim       int // model (embedding) width
	HiddenDim int // feed-forward width
	Layers    int // number of transformer blocks
	Heads     int // attention (query) heads
	KVHeads   int // key/value heads (Heads for plain multi-head attention)
	VocabSize int // vocabulary size, always positive here
	SeqLen    int // maximum sequence length
	// SharedClassifier is true when the output projection is the token
	// embedding (a positive vocab_size in the file).
	SharedClassifier bool
}

// HeadSize returns Dim/Heads, the width of one attention head.
func (h Header) HeadSize() int { return h.Dim / h.Heads }

// KVDim returns Dim*KVHeads/Heads, the width of the key and value
// projections.
func (h Header) KVDim() int { return h.HeadSize() * h.KVHeads }

// field offsets in the header, for error messages.
const (
	offDim = 4 * iota
	offHidden
	offLayers
	offHeads
	offKVHeads
	offVocab
	offSeqLen
)

func headerError(off int64, msg string, err error) error {
	return &format.FormatError{Offset: off, Msg: msg, Err: err}
}

// Validate checks that h describes a checkpoint llama2.c can hold: every
// size positive and within int32, Heads divisible by KVHeads, Dim divisible
// by Heads, an even head size, and a total size that fits in an int64. The
// error is a *format.FormatError whose offset is that of the header field at
// fault.
func (h Header) Validate() error {
	fields := []struct {
		name string
		v    int
	}{
		{"dim", h.Dim}, {"hidden_dim", h.HiddenDim}, {"n_layers", h.Layers}, {"n_heads", h.Heads},
		{"n_kv_heads", h.KVHeads}, {"vocab_size", h.VocabSize}, {"seq_len", h.SeqLen},
	}
	for i, f := range fields {
		if f.v <= 0 || f.v > math.MaxInt32 {
			return headerError(int64(4*i), fmt.Sprintf("%s is %d, must be in [1, %d]", f.name, f.v, math.MaxInt32), nil)
		}
	}
	if h.KVHeads > h.Heads || h.Heads%h.KVHeads != 0 {
		return headerError(offKVHeads, fmt.Sprintf("n_heads %d is not a multiple of n_kv_heads %d", h.Heads, h.KVHeads), nil)
	}
	if h.Dim%h.Heads != 0 {
		return headerError(offHeads, fmt.Sprintf("dim %d is not a multiple of n_heads %d", h.Dim, h.Heads), nil)
	}
	if h.HeadSize()%2 != 0 {
		return headerError(offHeads, fmt.Sprintf("head size %d (dim %d / n_heads %d) is odd", h.HeadSize(), h.Dim, h.Heads), nil)
	}
	if newLayout(h).end < 0 {
		return headerError(offDim, fmt.Sprintf("sizes dim %d, hidden_dim %d, n_layers %d, vocab_size %d, seq_len %d overflow", h.Dim, h.HiddenDim, h.Layers, h.VocabSize, h.SeqLen), format.ErrTooLarge)
	}
	return nil
}

// FileSize returns the exact size in bytes of a checkpoint with header h.
func (h Header) FileSize() (int64, error) {
	if err := h.Validate(); err != nil {
		return 0, err
	}
	return newLayout(h).end, nil
}

// checked is int64 arithmetic on non-negative values that remembers
// overflow.
type checked struct{ bad bool }

func (c *checked) mul(a, b int64) int64 {
	if b != 0 && a > math.MaxInt64/b {
		c.bad = true
		return 0
	}
	return a * b
}

func (c *checked) add(a, b int64) int64 {
	if b > math.MaxInt64-a {
		c.bad = true
		return 0
	}
	return a + b
}

// parseHeader decodes and validates the first 28 bytes of a checkpoint.
func parseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, headerError(int64(len(b)), fmt.Sprintf("header truncated: %d of %d bytes", len(b), HeaderSize), io.ErrUnexpectedEOF)
	}
	var v [7]int
	for i := range v {
		v[i] = int(int32(binary.LittleEndian.Uint32(b[4*i:])))
	}
	h := Header{Dim: v[0], HiddenDim: v[1], Layers: v[2], Heads: v[3], KVHeads: v[4], VocabSize: v[5], SeqLen: v[6], SharedClassifier: true}
	if h.VocabSize < 0 {
		h.VocabSize = -h.VocabSize
		h.SharedClassifier = false
	}
	if h.VocabSize == 0 {
		return Header{}, headerError(offVocab, "vocab_size is 0", nil)
	}
	return h, h.Validate()
}

// Tensor names of a layer, in the order File lists them, with the index of
// the file array each comes from.
var layerTensors = []struct {
	name  string
	array int
}{
	{"attn_norm", arrRMSAtt},
	{"attn_q", arrWQ},
	{"attn_k", arrWK},
	{"attn_v", arrWV},
	{"attn_output", arrWO},
	{"ffn_norm", arrRMSFFN},
	{"ffn_gate", arrW1},
	{"ffn_down", arrW2},
	{"ffn_up", arrW3},
}

// The arrays of a checkpoint in file order.
const (
	arrEmbed = iota
	arrRMSAtt
	arrWQ
	arrWK
	arrWV
	arrWO
	arrRMSFFN
	arrW1
	arrW2
	arrW3
	arrRMSFinal
	arrFreqReal
	arrFreqImag
	arrWCls
	numArrays
)

// layout gives, for each array, its per-layer shape in ggml order (the
// whole shape for arrays that are not per layer), whether it is per layer,
// and its byte offset in the file.
type layout struct {
	shape    [numArrays][]int64
	perLayer [numArrays]bool
	offset   [numArrays]int64
	end      int64 // implied file size, -1 if it overflows an int64
}

// newLayout computes the layout of a header that passes Validate's checks
// on its fields (Validate calls it to check the total size).
func newLayout(h Header) *layout {
	d, hid, v := int64(h.Dim), int64(h.HiddenDim), int64(h.VocabSize)
	kv, half, s := int64(h.KVDim()), int64(h.HeadSize()/2), int64(h.SeqLen)
	lo := &layout{}
	lo.shape = [numArrays][]int64{
		arrEmbed:    {d, v},
		arrRMSAtt:   {d},
		arrWQ:       {d, d},
		arrWK:       {d, kv},
		arrWV:       {d, kv},
		arrWO:       {d, d},
		arrRMSFFN:   {d},
		arrW1:       {d, hid},
		arrW2:       {hid, d},
		arrW3:       {d, hid},
		arrRMSFinal: {d},
		arrFreqReal: {half, s},
		arrFreqImag: {half, s},
		arrWCls:     {d, v},
	}
	for _, a := range []int{arrRMSAtt, arrWQ, arrWK, arrWV, arrWO, arrRMSFFN, arrW1, arrW2, arrW3} {
		lo.perLayer[a] = true
	}
	var c checked
	off := int64(HeaderSize)
	for a := range numArrays {
		if a == arrWCls && h.SharedClassifier {
			lo.offset[a] = -1
			continue
		}
		lo.offset[a] = off
		n := int64(4)
		for _, d := range lo.shape[a] {
			n = c.mul(n, d)
		}
		if lo.perLayer[a] {
			n = c.mul(n, int64(h.Layers))
		}
		off = c.add(off, n)
	}
	lo.end = off
	if c.bad {
		lo.end = -1
	}
	return lo
}

// bytes returns the size of one layer's slice of array a (or of the whole
// array when it is not per layer).
func (lo *layout) bytes(a int) int64 {
	n := int64(4)
	for _, d := range lo.shape[a] {
		n *= d
	}
	return n
}

// File is an open llama2.c checkpoint. It implements format.Source.
type File struct {
	Header Header
	// Tokenizer is the tokenizer found beside the checkpoint by Open, or
	// nil.
	Tokenizer *Tokenizer
	// TokenizerPath is the file Tokenizer was read from, or "".
	TokenizerPath string

	r       io.ReaderAt
	path    string
	closer  io.Closer
	tensors []format.TensorInfo
	offsets []int64        // data offset of each tensor
	index   map[string]int // tensor name to position in tensors
}

// NewReader reads the checkpoint of size bytes from r. The size must equal
// the size the header implies exactly.
func NewReader(r io.ReaderAt, size int64) (*File, error) {
	return newReader(r, size, "")
}

func newReader(r io.ReaderAt, size int64, path string) (*File, error) {
	fail := func(err error) (*File, error) {
		var fe *format.FormatError
		if errors.As(err, &fe) {
			fe.File = path
		}
		return nil, err
	}
	n := min(max(size, 0), HeaderSize)
	b, err := format.ReadAt(r, size, 0, n)
	if err != nil {
		return fail(&format.FormatError{Offset: 0, Msg: "reading header", Err: err})
	}
	h, err := parseHeader(b)
	if err != nil {
		return fail(err)
	}
	lo := newLayout(h)
	if size != lo.end {
		return fail(&format.FormatError{Offset: min(size, lo.end),
			Msg: fmt.Sprintf("header implies %d bytes, found %d", lo.end, size), Err: ErrSizeMismatch})
	}
	f := &File{Header: h, r: r, path: path, index: make(map[string]int)}
	add := func(name string, a int, layer int) {
		off := lo.offset[a] + int64(layer)*lo.bytes(a)
		f.index[name] = len(f.tensors)
		f.tensors = append(f.tensors, format.TensorInfo{Name: name, Type: format.F32, Shape: append([]int64(nil), lo.shape[a]...)})
		f.offsets = append(f.offsets, off)
	}
	add("token_embd.weight", arrEmbed, 0)
	for l := range h.Layers {
		for _, t := range layerTensors {
			add(fmt.Sprintf("blk.%d.%s.weight", l, t.name), t.array, l)
		}
	}
	add("output_norm.weight", arrRMSFinal, 0)
	if !h.SharedClassifier {
		add("output.weight", arrWCls, 0)
	}
	return f, nil
}

// Open opens the checkpoint at path and looks for its tokenizer in the same
// folder: "tokenizer.bin" if its entry count matches the vocabulary, else
// the only "tok*.bin" file whose entry count matches. A missing tokenizer
// is not an error; Tokenizer then stays nil.
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
	f.TokenizerPath, f.Tokenizer = findTokenizer(path, f.Header.VocabSize)
	return f, nil
}

// findTokenizer returns the tokenizer beside the checkpoint at path, if
// there is one that fits.
func findTokenizer(path string, vocab int) (string, *Tokenizer) {
	dir := filepath.Dir(path)
	self, _ := os.Stat(path)
	try := func(p string) *Tokenizer {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || (self != nil && os.SameFile(fi, self)) {
			return nil
		}
		// Every entry takes at least 8 bytes: skip files that cannot fit.
		if fi.Size() < 4+8*int64(vocab) {
			return nil
		}
		t, err := OpenTokenizer(p, vocab)
		if err != nil {
			return nil
		}
		return t
	}
	named := filepath.Join(dir, "tokenizer.bin")
	if t := try(named); t != nil {
		return named, t
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "tok*.bin"))
	var found string
	var tok *Tokenizer
	for _, m := range matches {
		if filepath.Base(m) == "tokenizer.bin" {
			continue
		}
		if t := try(m); t != nil {
			if tok != nil {
				return "", nil // ambiguous
			}
			found, tok = m, t
		}
	}
	return found, tok
}

// Tensors lists the weights under their GGUF names, ordered by layer as
// llama.cpp orders them: token_embd, blk.0.*, ..., output_norm, output.
func (f *File) Tensors() []format.TensorInfo {
	out := make([]format.TensorInfo, len(f.tensors))
	for i, t := range f.tensors {
		t.Shape = append([]int64(nil), t.Shape...)
		out[i] = t
	}
	return out
}

// TensorData returns a reader over the float32 data of the named tensor.
func (f *File) TensorData(name string) (*io.SectionReader, error) {
	i, ok := f.index[name]
	if !ok {
		return nil, fmt.Errorf("llama2c: %s%w: %q", prefix(f.path), format.ErrNotFound, name)
	}
	return io.NewSectionReader(f.r, f.offsets[i], f.tensors[i].Bytes()), nil
}

func prefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

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

// match recognises a regular file whose header is valid and whose size is
// the size the header implies.
func match(path string, head []byte, isDir bool) bool {
	if isDir || len(head) < HeaderSize {
		return false
	}
	h, err := parseHeader(head)
	if err != nil {
		return false
	}
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	n, err := h.FileSize()
	return err == nil && n == fi.Size() && !strings.HasSuffix(strings.ToLower(path), ".gguf")
}

func init() {
	format.Register(format.Format{
		Name:     "llama2c",
		Priority: 20,
		Match:    match,
		Open:     func(path string) (format.Source, error) { return Open(path) },
	})
}
