package llama2c

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// memSource is an in-memory format.Source for tests.
type memSource struct {
	infos []format.TensorInfo
	data  map[string][]byte
}

func (m *memSource) Tensors() []format.TensorInfo { return m.infos }
func (m *memSource) TensorData(name string) (*io.SectionReader, error) {
	b, ok := m.data[name]
	if !ok {
		return nil, format.ErrNotFound
	}
	return io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b))), nil
}
func (m *memSource) Close() error { return nil }

// tinyModel builds a source with the tensors of header h filled with
// deterministic values.
func tinyModel(t testing.TB, h Header) *memSource {
	t.Helper()
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	lo := newLayout(h)
	m := &memSource{data: map[string][]byte{}}
	seed := uint32(12345)
	add := func(name string, a int) {
		n := lo.bytes(a) / 4
		b := make([]byte, 4*n)
		for i := range n {
			seed = seed*1664525 + 1013904223
			v := float32(int32(seed>>8)-(1<<23)) / (1 << 23)
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		m.infos = append(m.infos, format.TensorInfo{Name: name, Type: format.F32, Shape: append([]int64(nil), lo.shape[a]...)})
		m.data[name] = b
	}
	add("token_embd.weight", arrEmbed)
	for l := range h.Layers {
		for _, lt := range layerTensors {
			add(fmt.Sprintf("blk.%d.%s.weight", l, lt.name), lt.array)
		}
	}
	add("output_norm.weight", arrRMSFinal)
	if !h.SharedClassifier {
		add("output.weight", arrWCls)
	}
	return m
}

var (
	tinyShared   = Header{Dim: 8, HiddenDim: 12, Layers: 2, Heads: 2, KVHeads: 1, VocabSize: 16, SeqLen: 4, SharedClassifier: true}
	tinyUnshared = Header{Dim: 8, HiddenDim: 12, Layers: 2, Heads: 2, KVHeads: 2, VocabSize: 16, SeqLen: 4, SharedClassifier: false}
)

func tinyBytes(t testing.TB, h Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, h, tinyModel(t, h)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tinyTokenizer is a 16-entry vocabulary in llama2.c's layout.
func tinyTokenizer() *Tokenizer {
	tk := &Tokenizer{MaxTokenLength: 6}
	for i, p := range []string{"<unk>", "\n<s>\n", "\n</s>\n", "<0x00>", "<0x0A>", "<0xFF>", " t", "he", " a", "in", "e", " ", "x", "\xe2\x84\xa2", "", "ab"} {
		tk.Pieces = append(tk.Pieces, p)
		s := float32(0)
		if i >= 6 {
			s = -float32(i - 6)
		}
		tk.Scores = append(tk.Scores, s)
	}
	return tk
}

func tokBytes(t testing.TB, tk *Tokenizer) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTokenizer(&buf, tk); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tensorFloats reads a whole tensor of src as float32.
func tensorFloats(t testing.TB, src format.Source, name string) []float32 {
	t.Helper()
	r, err := src.TensorData(name)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, r.Size())
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	if err := format.DecodeFloats(format.F32, b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameSource reports the first difference between two sources' tensor
// lists and data.
func sameSource(a, b format.Source) error {
	ta, tb := a.Tensors(), b.Tensors()
	if len(ta) != len(tb) {
		return fmt.Errorf("%d tensors vs %d", len(ta), len(tb))
	}
	for i := range ta {
		if ta[i].Name != tb[i].Name || ta[i].Type != tb[i].Type || !slices.Equal(ta[i].Shape, tb[i].Shape) {
			return fmt.Errorf("tensor %d: %v vs %v", i, ta[i], tb[i])
		}
		ra, err := a.TensorData(ta[i].Name)
		if err != nil {
			return err
		}
		rb, err := b.TensorData(tb[i].Name)
		if err != nil {
			return err
		}
		da, _ := io.ReadAll(ra)
		db, _ := io.ReadAll(rb)
		if !bytes.Equal(da, db) {
			return fmt.Errorf("tensor %s: data differs", ta[i].Name)
		}
	}
	return nil
}

func sameTokenizer(a, b *Tokenizer) error {
	if a.MaxTokenLength != b.MaxTokenLength || len(a.Pieces) != len(b.Pieces) || len(a.Scores) != len(b.Scores) {
		return fmt.Errorf("max %d/%d, %d/%d pieces", a.MaxTokenLength, b.MaxTokenLength, len(a.Pieces), len(b.Pieces))
	}
	for i := range a.Pieces {
		if a.Pieces[i] != b.Pieces[i] || math.Float32bits(a.Scores[i]) != math.Float32bits(b.Scores[i]) {
			return fmt.Errorf("entry %d: %q %v vs %q %v", i, a.Pieces[i], a.Scores[i], b.Pieces[i], b.Scores[i])
		}
	}
	return nil
}
