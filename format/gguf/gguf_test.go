package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// allTypes returns metadata holding every scalar type and an array of every
// element type.
func allTypes() *Metadata {
	md := &Metadata{}
	md.Set("general.architecture", String("llama"))
	md.Set("s.u8", Uint8(200))
	md.Set("s.i8", Int8(-100))
	md.Set("s.u16", Uint16(60000))
	md.Set("s.i16", Int16(-30000))
	md.Set("s.u32", Uint32(4000000000))
	md.Set("s.i32", Int32(-2000000000))
	md.Set("s.f32", Float32(-1.5))
	md.Set("s.bool", Bool(true))
	md.Set("s.str", String("héllo\x00world"))
	md.Set("s.u64", Uint64(1<<63+5))
	md.Set("s.i64", Int64(-1<<62))
	md.Set("s.f64", Float64(math.Pi))
	md.Set("s.empty", String(""))
	for _, a := range []any{
		[]uint8{1, 2, 255}, []int8{-1, 0, 127}, []uint16{1, 65535}, []int16{-32768, 7},
		[]uint32{0, 1, 1 << 31}, []int32{-5, 5}, []float32{0.25, -3, float32(math.Inf(1))},
		[]bool{true, false, true}, []string{"a", "", "▁the", "<0x0A>"}, []uint64{1 << 60},
		[]int64{-7, 1 << 40}, []float64{1e300, -0.5}, []string{},
	} {
		v, err := Array(a)
		if err != nil {
			panic(err)
		}
		md.Set("a."+reflect.TypeOf(a).Elem().Kind().String()+string(rune('0'+v.Len())), v)
	}
	return md
}

func sampleTensors() []format.TensorInfo {
	return []format.TensorInfo{
		{Name: "token_embd.weight", Type: format.F32, Shape: []int64{8, 3}},
		{Name: "blk.0.attn_q.weight", Type: format.F16, Shape: []int64{16, 3}},
		{Name: "blk.0.ffn_up.weight", Type: format.Q8_0, Shape: []int64{64, 2, 1}},
		{Name: "blk.0.ffn_down.weight", Type: format.Q4_K, Shape: []int64{256, 2}},
		{Name: "output_norm.weight", Type: format.F32, Shape: []int64{5}},
	}
}

func randomData(tensors []format.TensorInfo, seed int64) [][]byte {
	r := rand.New(rand.NewSource(seed))
	out := make([][]byte, len(tensors))
	for i, t := range tensors {
		out[i] = make([]byte, t.Bytes())
		r.Read(out[i])
	}
	return out
}

// build writes a GGUF file with the writer.
func build(t testing.TB, md *Metadata, tensors []format.TensorInfo, data [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, md, tensors)
	if err != nil {
		t.Fatal(err)
	}
	for i := range tensors {
		if i%2 == 0 {
			err = w.WriteTensor(data[i])
		} else {
			err = w.CopyTensor(bytes.NewReader(data[i]))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rewrite writes f again through the writer.
func rewrite(f *File) ([]byte, error) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, &f.Metadata, f.Tensors())
	if err != nil {
		return nil, err
	}
	for _, t := range f.TensorInfos {
		sr, err := f.TensorData(t.Name)
		if err != nil {
			return nil, err
		}
		if err := w.CopyTensor(sr); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func parse(b []byte) (*File, error) { return NewReader(bytes.NewReader(b), int64(len(b))) }

func TestRoundTrip(t *testing.T) {
	for _, align := range []uint32{0, 32, 64, 1} {
		md := allTypes()
		want := uint32(DefaultAlignment)
		if align != 0 {
			md.Set(KeyAlignment, Uint32(align))
			want = align
		}
		tensors := sampleTensors()
		data := randomData(tensors, int64(align))
		b := build(t, md, tensors, data)

		f, err := parse(b)
		if err != nil {
			t.Fatalf("align %d: %v", align, err)
		}
		if f.Version != 3 || f.Alignment != want {
			t.Errorf("align %d: version %d alignment %d", align, f.Version, f.Alignment)
		}
		if !reflect.DeepEqual(f.Metadata.KVs(), md.KVs()) {
			t.Errorf("align %d: metadata differs:\n got %v\nwant %v", align, f.Metadata.KVs(), md.KVs())
		}
		if f.DataOffset%int64(want) != 0 {
			t.Errorf("data offset %d not aligned to %d", f.DataOffset, want)
		}
		if len(f.TensorInfos) != len(tensors) {
			t.Fatalf("%d tensors, want %d", len(f.TensorInfos), len(tensors))
		}
		end := f.DataOffset
		for i, ti := range f.TensorInfos {
			if !reflect.DeepEqual(ti.TensorInfo, tensors[i]) {
				t.Errorf("tensor %d: %+v, want %+v", i, ti.TensorInfo, tensors[i])
			}
			if int64(ti.Offset) != end-f.DataOffset {
				t.Errorf("tensor %s offset %d, want %d", ti.Name, ti.Offset, end-f.DataOffset)
			}
			end += pad(ti.Bytes(), int64(want))
			got, ok := f.Tensor(ti.Name)
			if !ok || got.Offset != ti.Offset {
				t.Errorf("Tensor(%q) = %v, %v", ti.Name, got, ok)
			}
			sr, err := f.TensorData(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := io.ReadAll(sr)
			if !bytes.Equal(d, data[i]) {
				t.Errorf("tensor %s data differs", ti.Name)
			}
		}
		if end != int64(len(b)) {
			t.Errorf("file is %d bytes, want %d (padded after the last tensor)", len(b), end)
		}
		if _, err := f.TensorData("nope"); !errors.Is(err, format.ErrNotFound) {
			t.Errorf("TensorData(nope) = %v, want ErrNotFound", err)
		}
		b2, err := rewrite(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, b2) {
			t.Errorf("align %d: re-written file differs", align)
		}
	}
}

func TestVocabFiles(t *testing.T) {
	for _, tc := range []struct {
		file, model string
		tokens      int
		first       string
	}{
		{"ggml-vocab-llama-spm.gguf", "llama", 32000, "<unk>"},
		{"ggml-vocab-gpt-2.gguf", "gpt2", 50257, "!"},
	} {
		path := testutil.Shared(t, "tokenizer-vectors/"+tc.file)
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if f.Name() != path || f.Version != 3 || len(f.TensorInfos) != 0 || f.Alignment != 32 {
			t.Errorf("%s: name %q version %d tensors %d alignment %d", tc.file, f.Name(), f.Version, len(f.TensorInfos), f.Alignment)
		}
		if m, _ := f.Metadata.String("tokenizer.ggml.model"); m != tc.model {
			t.Errorf("%s: tokenizer.ggml.model = %q, want %q", tc.file, m, tc.model)
		}
		toks, ok := f.Metadata.Strings("tokenizer.ggml.tokens")
		if !ok || len(toks) != tc.tokens || toks[0] != tc.first {
			t.Errorf("%s: %d tokens (first %q), want %d (%q)", tc.file, len(toks), toks[0], tc.tokens, tc.first)
		}
		if tc.model == "llama" {
			if sc, ok := f.Metadata.Get("tokenizer.ggml.scores"); !ok || sc.Elem != TypeFloat32 || sc.Len() != tc.tokens {
				t.Errorf("scores: %v %v", sc.Elem, sc.Len())
			}
		} else if m, ok := f.Metadata.Strings("tokenizer.ggml.merges"); !ok || len(m) != 50000 {
			t.Errorf("merges: %d", len(m))
		}
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// The files were written by gguf-py without padding after the
		// header (no tensors); the writer does the same, so the copy is
		// byte-identical.
		b, err := rewrite(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, orig) {
			t.Errorf("%s: re-written file differs (%d vs %d bytes)", tc.file, len(b), len(orig))
		}
	}
}

func TestFormatOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	tensors := sampleTensors()
	data := randomData(tensors, 1)
	if err := os.WriteFile(path, build(t, allTypes(), tensors, data), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := format.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, ok := src.(*File)
	if !ok || f.Name() != path {
		t.Fatalf("format.Open gave %T", src)
	}
	if got := src.Tensors(); !reflect.DeepEqual(got, tensors) {
		t.Errorf("Tensors() = %v", got)
	}
	sr, err := src.TensorData("blk.0.ffn_down.weight")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := io.ReadAll(sr)
	if !bytes.Equal(d, data[3]) {
		t.Error("q4_K data differs")
	}

	bad := filepath.Join(dir, "bad.gguf")
	os.WriteFile(bad, []byte("GGUF\x01\x00\x00\x00"), 0o644)
	_, err = Open(bad)
	if !errors.Is(err, format.ErrFormat) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "offset 4") {
		t.Errorf("Open(bad) = %v", err)
	}
}

// small builds the file the malformed-input table mutates.
func small(t testing.TB) []byte {
	md := &Metadata{}
	md.Set("general.architecture", String("llama"))
	md.Set("k.u8", Uint8(7))
	md.Set("k.i8", Int8(-7))
	md.Set(KeyAlignment, Uint32(32))
	md.Set("arr.s", Strings([]string{"a", "bc"}))
	md.Set("arr.f", Float32s([]float32{1, 2}))
	tensors := []format.TensorInfo{
		{Name: "t.a", Type: format.F32, Shape: []int64{8, 2}},
		{Name: "t.b", Type: format.Q8_0, Shape: []int64{32, 1}},
		{Name: "t.c", Type: format.F16, Shape: []int64{16, 2}},
	}
	return build(t, md, tensors, randomData(tensors, 2))
}

// at returns the position of s in b, which must occur once.
func at(t testing.TB, b []byte, s string) int {
	if bytes.Count(b, []byte(s)) != 1 {
		t.Fatalf("%q occurs %d times", s, bytes.Count(b, []byte(s)))
	}
	return bytes.Index(b, []byte(s))
}

func put32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
func put64(b []byte, off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }

// tensorField returns the position of a field of tensor info name:
// "ndims", "ne0", "ne1", "type" or "offset" (for 2-D tensors).
func tensorField(t testing.TB, b []byte, name, field string) int {
	p := at(t, b, name) + len(name)
	return p + map[string]int{"ndims": 0, "ne0": 4, "ne1": 12, "type": 20, "offset": 24}[field]
}

func TestMalformed(t *testing.T) {
	base := small(t)
	if _, err := parse(base); err != nil {
		t.Fatal(err)
	}
	huge := uint64(1) << 62
	cases := []struct {
		name   string
		mutate func(b []byte) []byte
		want   string // part of the message
	}{
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, "magic"},
		{"version 0", func(b []byte) []byte { put32(b, 4, 0); return b }, "version"},
		{"version 1", func(b []byte) []byte { put32(b, 4, 1); return b }, "version"},
		{"version 4", func(b []byte) []byte { put32(b, 4, 4); return b }, "version"},
		{"big-endian", func(b []byte) []byte { put32(b, 4, 3<<24); return b }, "version"},
		{"n_tensors huge", func(b []byte) []byte { put64(b, 8, huge); return b }, "tensor count"},
		{"n_tensors negative", func(b []byte) []byte { put64(b, 8, 1<<63); return b }, "tensor count"},
		{"n_tensors one more", func(b []byte) []byte { put64(b, 8, 4); return b }, ""},
		{"n_kv huge", func(b []byte) []byte { put64(b, 16, huge); return b }, "metadata count"},
		{"n_kv negative", func(b []byte) []byte { put64(b, 16, math.MaxUint64); return b }, "metadata count"},
		{"key length huge", func(b []byte) []byte { put64(b, 24, huge); return b }, "length"},
		{"string value length huge", func(b []byte) []byte {
			put64(b, at(t, b, "general.architecture")+len("general.architecture")+4, huge)
			return b
		}, "length"},
		{"array length huge", func(b []byte) []byte { put64(b, at(t, b, "arr.s")+5+8, huge); return b }, "array"},
		{"float array length huge", func(b []byte) []byte { put64(b, at(t, b, "arr.f")+5+8, 1<<61); return b }, "array"},
		{"array of arrays", func(b []byte) []byte { put32(b, at(t, b, "arr.f")+5+4, 9); return b }, "arrays of arrays"},
		{"array element type 13", func(b []byte) []byte { put32(b, at(t, b, "arr.f")+5+4, 13); return b }, "element type"},
		{"value type 13", func(b []byte) []byte { put32(b, at(t, b, "k.u8")+4, 13); return b }, "value type"},
		{"empty key", func(b []byte) []byte { put64(b, 24, 0); return b }, "empty"},
		{"duplicate key", func(b []byte) []byte { copy(b[at(t, b, "k.i8"):], "k.u8"); return b }, "duplicate"},
		{"alignment int32", func(b []byte) []byte { put32(b, at(t, b, KeyAlignment)+len(KeyAlignment), 5); return b }, "uint32"},
		{"alignment 48", func(b []byte) []byte { put32(b, at(t, b, KeyAlignment)+len(KeyAlignment)+4, 48); return b }, "power of two"},
		{"alignment 0", func(b []byte) []byte { put32(b, at(t, b, KeyAlignment)+len(KeyAlignment)+4, 0); return b }, "power of two"},
		{"alignment 16", func(b []byte) []byte { put32(b, at(t, b, KeyAlignment)+len(KeyAlignment)+4, 16); return b }, "want 112"},
		{"name 64 bytes", func(b []byte) []byte {
			p := at(t, b, "t.a")
			put64(b, p-8, 64)
			return append(b[:p:p], append(bytes.Repeat([]byte("x"), 61), b[p:]...)...)
		}, "shorter than 64"},
		{"n_dims 5", func(b []byte) []byte { put32(b, tensorField(t, b, "t.a", "ndims"), 5); return b }, "n_dims"},
		{"ne0 negative", func(b []byte) []byte { put64(b, tensorField(t, b, "t.a", "ne0"), math.MaxUint64); return b }, "negative"},
		{"ne1 negative", func(b []byte) []byte { put64(b, tensorField(t, b, "t.c", "ne1"), 1<<63); return b }, "negative"},
		{"dims overflow", func(b []byte) []byte { put64(b, tensorField(t, b, "t.a", "ne1"), 1<<61); return b }, "overflow"},
		{"bytes overflow", func(b []byte) []byte {
			put64(b, tensorField(t, b, "t.a", "ne0"), 1<<62)
			put64(b, tensorField(t, b, "t.a", "ne1"), 1)
			return b
		}, "data size"},
		{"type 4", func(b []byte) []byte { put32(b, tensorField(t, b, "t.b", "type"), 4); return b }, "type id 4"},
		{"type 99", func(b []byte) []byte { put32(b, tensorField(t, b, "t.b", "type"), 99); return b }, "type id 99"},
		{"type 31", func(b []byte) []byte { put32(b, tensorField(t, b, "t.b", "type"), 31); return b }, "type id 31"},
		{"ne0 not block multiple", func(b []byte) []byte { put64(b, tensorField(t, b, "t.b", "ne0"), 33); return b }, "block size"},
		{"first offset not 0", func(b []byte) []byte { put64(b, tensorField(t, b, "t.a", "offset"), 32); return b }, "want 0"},
		{"offset not packed", func(b []byte) []byte { put64(b, tensorField(t, b, "t.b", "offset"), 96); return b }, "want 64"},
		{"offset unaligned", func(b []byte) []byte { put64(b, tensorField(t, b, "t.c", "offset"), 98); return b }, "want 128"},
		{"overlapping", func(b []byte) []byte { put64(b, tensorField(t, b, "t.b", "offset"), 0); return b }, "want 64"},
		{"offset past end", func(b []byte) []byte { put64(b, tensorField(t, b, "t.c", "offset"), huge); return b }, "data offset"},
		{"data past end", func(b []byte) []byte { put64(b, tensorField(t, b, "t.c", "ne1"), 3); return b }, "past the end"},
		{"data far past end", func(b []byte) []byte { put64(b, tensorField(t, b, "t.c", "ne1"), 1<<40); return b }, "past the end"},
		{"duplicate tensor", func(b []byte) []byte { copy(b[at(t, b, "t.b"):], "t.a"); return b }, "duplicate tensor"},
		{"truncated data", func(b []byte) []byte { return b[:len(b)-1] }, "past the end"},
	}
	for _, tc := range cases {
		b := tc.mutate(bytes.Clone(base))
		_, err := parse(b)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		t.Logf("%s: %v", tc.name, err)
		var fe *format.FormatError
		if !errors.Is(err, format.ErrFormat) || !errors.As(err, &fe) || !strings.Contains(err.Error(), "offset") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v", tc.name, err)
		}
		if fe != nil && strings.Contains(tc.name, "tensor") && fe.Tensor == "" && !strings.Contains(tc.name, "n_tensors") {
			t.Errorf("%s: no tensor name in %v", tc.name, err)
		}
	}
}

func TestErrorFields(t *testing.T) {
	b := small(t)
	p := tensorField(t, b, "t.b", "type")
	put32(b, p, 99)
	_, err := NewReader(bytes.NewReader(b), int64(len(b)))
	var fe *format.FormatError
	if !errors.As(err, &fe) || fe.Tensor != "t.b" || fe.Offset != int64(p) {
		t.Errorf("got %#v, want tensor t.b at offset %d", err, p)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("multi-line error %q", err)
	}
}

func TestTruncated(t *testing.T) {
	for _, b := range [][]byte{small(t), build(t, allTypes(), sampleTensors(), randomData(sampleTensors(), 3))} {
		f, err := parse(b)
		if err != nil {
			t.Fatal(err)
		}
		last := f.TensorInfos[len(f.TensorInfos)-1]
		end := f.DataOffset + int64(last.Offset) + last.Bytes()
		for n := int64(0); n < end; n++ {
			_, err := NewReader(bytes.NewReader(b), n)
			if !errors.Is(err, format.ErrFormat) || !strings.Contains(err.Error(), "offset") {
				t.Fatalf("truncated at %d of %d: %v", n, end, err)
			}
		}
		// The padding after the last tensor is optional, as for llama.cpp.
		if _, err := NewReader(bytes.NewReader(b), end); err != nil {
			t.Errorf("file ending after the last tensor's data: %v", err)
		}
	}
}

// TestHugeCountsDoNotAllocate parses tiny files claiming huge counts and
// checks that memory use stays small.
func TestHugeCountsDoNotAllocate(t *testing.T) {
	base := small(t)
	var files [][]byte
	for _, m := range []func(b []byte){
		func(b []byte) { put64(b, 8, 1<<62) },
		func(b []byte) { put64(b, 16, 1<<62) },
		func(b []byte) { put64(b, 8, uint64(len(b)/24)) },
		func(b []byte) { put64(b, 16, uint64(len(b)/14)) },
		func(b []byte) { put64(b, 24, 1<<62) },
		func(b []byte) { put64(b, at(t, b, "arr.s")+5+8, 1<<62) },
		func(b []byte) { put64(b, at(t, b, "arr.s")+5+8, uint64(len(b)/8)) },
		func(b []byte) { put64(b, at(t, b, "arr.f")+5+8, 1<<60) },
	} {
		b := bytes.Clone(base)
		m(b)
		files = append(files, b)
	}
	for i, b := range files {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := parse(b)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("file %d parsed", i)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 2<<20 {
			t.Errorf("file %d: parsing allocated %d bytes", i, d)
		}
	}
	allocs := testing.AllocsPerRun(10, func() { parse(files[0]) })
	if allocs > 20 {
		t.Errorf("%v allocations for a rejected header", allocs)
	}
}

func TestWriterErrors(t *testing.T) {
	ok := []format.TensorInfo{{Name: "a", Type: format.F32, Shape: []int64{4}}}
	mdWith := func(key string, v Value) *Metadata { md := &Metadata{}; md.Set(key, v); return md }
	cases := []struct {
		name    string
		md      *Metadata
		tensors []format.TensorInfo
	}{
		{"empty key", mdWith("", Uint8(1)), ok},
		{"array of arrays", mdWith("k", Value{Type: TypeArray, Elem: TypeArray, Data: []any{}}), ok},
		{"type mismatch", mdWith("k", Value{Type: TypeUint32, Data: int32(1)}), ok},
		{"array mismatch", mdWith("k", Value{Type: TypeArray, Elem: TypeInt32, Data: []uint32{1}}), ok},
		{"unknown type", mdWith("k", Value{Type: 13, Data: uint8(1)}), ok},
		{"unknown element type", mdWith("k", Value{Type: TypeArray, Elem: 13, Data: []uint8{1}}), ok},
		{"alignment int32", mdWith(KeyAlignment, Int32(32)), ok},
		{"alignment 24", mdWith(KeyAlignment, Uint32(24)), ok},
		{"name 64", nil, []format.TensorInfo{{Name: strings.Repeat("n", 64), Type: format.F32, Shape: []int64{1}}}},
		{"duplicate names", nil, append(ok, ok[0])},
		{"5 dims", nil, []format.TensorInfo{{Name: "a", Type: format.F32, Shape: []int64{1, 1, 1, 1, 1}}}},
		{"negative dim", nil, []format.TensorInfo{{Name: "a", Type: format.F32, Shape: []int64{4, -1}}}},
		{"overflow", nil, []format.TensorInfo{{Name: "a", Type: format.F32, Shape: []int64{1 << 40, 1 << 40}}}},
		{"type 4", nil, []format.TensorInfo{{Name: "a", Type: 4, Shape: []int64{4}}}},
		{"block size", nil, []format.TensorInfo{{Name: "a", Type: format.Q4_K, Shape: []int64{32, 8}}}},
	}
	for _, tc := range cases {
		var buf bytes.Buffer
		if _, err := NewWriter(&buf, tc.md, tc.tensors); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: wrote %d bytes before failing", tc.name, buf.Len())
		}
	}

	two := []format.TensorInfo{ok[0], {Name: "b", Type: format.F16, Shape: []int64{2}}}
	w, err := NewWriter(io.Discard, nil, two)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTensor(make([]byte, 15)); !errors.Is(err, ErrTensorSize) {
		t.Errorf("short WriteTensor: %v", err)
	}
	if err := w.WriteTensor(make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, ErrTensorCount) {
		t.Errorf("Close with a tensor missing: %v", err)
	}
	if err := w.CopyTensor(bytes.NewReader(make([]byte, 4))); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTensor(nil); !errors.Is(err, ErrTensorCount) {
		t.Errorf("extra tensor: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Error(err)
	}
	w, _ = NewWriter(io.Discard, nil, ok)
	if err := w.CopyTensor(bytes.NewReader(make([]byte, 3))); !errors.Is(err, ErrTensorSize) {
		t.Errorf("short CopyTensor: %v", err)
	}
}

// seeds are the fuzz corpus files kept in testdata/.
func seeds(t testing.TB) map[string][]byte {
	md := &Metadata{}
	md.Set(KeyAlignment, Uint32(64))
	md.Set("general.architecture", String("llama"))
	q := []format.TensorInfo{
		{Name: "q4k", Type: format.Q4_K, Shape: []int64{256}},
		{Name: "q8", Type: format.Q8_0, Shape: []int64{32, 1, 1, 2}},
		{Name: "", Type: format.F32, Shape: []int64{}},
	}
	vocab := &Metadata{}
	vocab.Set("tokenizer.ggml.model", String("llama"))
	vocab.Set("tokenizer.ggml.tokens", Strings([]string{"<unk>", "<s>", "</s>", "▁a"}))
	vocab.Set("tokenizer.ggml.scores", Float32s([]float32{0, 0, 0, -1}))
	vocab.Set("tokenizer.ggml.token_type", Int32s([]int32{2, 3, 3, 1}))
	vocab.Set("tokenizer.ggml.add_bos_token", Bool(true))
	return map[string][]byte{
		"small.gguf":    small(t),
		"alltypes.gguf": build(t, allTypes(), nil, nil),
		"align64.gguf":  build(t, md, q, randomData(q, 4)),
		"vocab.gguf":    build(t, vocab, nil, nil),
	}
}

// TestSeedFiles checks that the committed fuzz seeds are what the writer
// produces today (go test -run SeedFiles -update rewrites them).
func TestSeedFiles(t *testing.T) {
	for name, b := range seeds(t) {
		path := filepath.Join("testdata", name)
		testutil.Golden(t, path, b)
		if _, err := parse(b); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

func FuzzReader(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.gguf"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := parse(b)
		if err != nil {
			if !errors.Is(err, format.ErrFormat) || !strings.Contains(err.Error(), "offset") {
				t.Fatalf("error without ErrFormat or offset: %v", err)
			}
			return
		}
		b1, err := rewrite(g)
		if err != nil {
			t.Fatalf("re-writing a parsed file: %v", err)
		}
		g1, err := parse(b1)
		if err != nil {
			t.Fatalf("re-parsing: %v", err)
		}
		if g1.Metadata.Len() != g.Metadata.Len() || !reflect.DeepEqual(g1.TensorInfos, g.TensorInfos) || g1.Alignment != g.Alignment {
			t.Fatalf("round trip changed the header")
		}
		b2, err := rewrite(g1)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("second round trip differs")
		}
	})
}
