package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// tensor is a tensor description with its data, for building test files.
type tensor struct {
	info format.TensorInfo
	data []byte
}

func ti(name string, typ format.DType, shape ...int64) format.TensorInfo {
	return format.TensorInfo{Name: name, Type: typ, Shape: shape}
}

// randTensor returns a tensor filled with random bytes (any bit pattern,
// NaNs included, must survive bit-exactly).
func randTensor(r *rand.Rand, info format.TensorInfo) tensor {
	n := info.Bytes()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	return tensor{info, data}
}

// build writes a safetensors file with the Writer, half the tensors with
// WriteTensor and half with CopyTensor.
func build(t testing.TB, ts []tensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	infos := make([]format.TensorInfo, len(ts))
	for i, x := range ts {
		infos[i] = x.info
	}
	w, err := NewWriter(&buf, infos, meta)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range ts {
		if i%2 == 0 {
			err = w.WriteTensor(x.data)
		} else {
			err = w.CopyTensor(bytes.NewReader(x.data))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != w.Size() {
		t.Fatalf("Size() = %d, wrote %d", w.Size(), buf.Len())
	}
	return buf.Bytes()
}

func readAll(t testing.TB, src format.Source, name string) []byte {
	t.Helper()
	sr, err := src.TensorData(name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(sr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkSource asserts that src holds exactly ts, in order, bit-exact.
func checkSource(t *testing.T, src format.Source, ts []tensor) {
	t.Helper()
	got := src.Tensors()
	if len(got) != len(ts) {
		t.Fatalf("%d tensors, want %d", len(got), len(ts))
	}
	for i, x := range ts {
		g := got[i]
		if g.Name != x.info.Name || g.Type != x.info.Type || !reflect.DeepEqual(g.Shape, x.info.Shape) {
			t.Errorf("tensor %d = %+v, want %+v", i, g, x.info)
		}
		if d := readAll(t, src, x.info.Name); !bytes.Equal(d, x.data) {
			t.Errorf("tensor %s: data differs", x.info.Name)
		}
	}
}

func sampleTensors() []tensor {
	r := rand.New(rand.NewPCG(1, 2))
	return []tensor{
		randTensor(r, ti("w.f32", format.F32, 3, 2)),
		randTensor(r, ti("w.f16", format.F16, 8, 4, 2)),
		randTensor(r, ti("w.bf16", format.BF16, 5)),
		randTensor(r, ti("idx.i32", format.I32, 7, 1)),
		randTensor(r, ti("empty", format.F32, 0, 4)),
		randTensor(r, ti("scalar.i64", format.I64)),
		randTensor(r, ti("f64", format.F64, 2)),
		randTensor(r, ti("i8", format.I8, 3)),
		randTensor(r, ti("i16", format.I16, 3)),
	}
}

func TestRoundTrip(t *testing.T) {
	ts := sampleTensors()
	meta := map[string]string{"format": "pt", "quote\"\n": "ünïcode\x01"}
	file := build(t, ts, meta)
	if again := build(t, ts, meta); !bytes.Equal(file, again) {
		t.Fatal("output is not deterministic")
	}
	n := binary.LittleEndian.Uint64(file)
	if n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	// The header stores PyTorch order and is valid JSON.
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(file[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	var e struct {
		Dtype   string  `json:"dtype"`
		Shape   []int64 `json:"shape"`
		Offsets []int64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(hdr["w.f16"], &e); err != nil {
		t.Fatal(err)
	}
	if e.Dtype != "F16" || !reflect.DeepEqual(e.Shape, []int64{2, 4, 8}) || !reflect.DeepEqual(e.Offsets, []int64{24, 24 + 128}) {
		t.Errorf("w.f16 header entry = %+v", e)
	}
	if !bytes.HasPrefix(file[8:], []byte(`{"__metadata__":{"format":"pt","quote\"\n":"ünïcode\u0001"},"w.f32":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},`)) {
		t.Errorf("header = %s", file[8:8+n])
	}

	f, err := NewReader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkSource(t, f, ts)
	if !reflect.DeepEqual(f.Metadata, meta) {
		t.Errorf("metadata = %q, want %q", f.Metadata, meta)
	}
	if f.DataOffset() != 8+int64(n) {
		t.Errorf("DataOffset = %d", f.DataOffset())
	}
	info, ok := f.Tensor("w.bf16")
	if !ok || info.DType != "BF16" || info.Type != format.BF16 || info.Begin != 152 || info.End != 162 {
		t.Errorf("Tensor(w.bf16) = %+v, %v", info, ok)
	}
	if info, ok := f.Tensor("scalar.i64"); !ok || info.Shape != nil || info.Bytes() != 8 {
		t.Errorf("scalar = %+v", info)
	}
	if _, ok := f.Tensor("nope"); ok {
		t.Error("Tensor(nope) found")
	}
	if _, err := f.TensorData("nope"); !errors.Is(err, format.ErrNotFound) {
		t.Errorf("TensorData(nope) = %v", err)
	}

	// Through a file on disk and format.Open.
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := format.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, ok := src.(*File); !ok {
		t.Fatalf("format.Open gave %T", src)
	}
	checkSource(t, src, ts)
}

func TestNoMetadata(t *testing.T) {
	ts := sampleTensors()[:1]
	file := build(t, ts, nil)
	want := `{"w.f32":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}`
	want += strings.Repeat(" ", (8-len(want)%8)%8)
	if got := string(file[8 : 8+binary.LittleEndian.Uint64(file)]); got != want {
		t.Errorf("header %q, want %q", got, want)
	}
	f, err := NewReader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata != nil {
		t.Errorf("metadata = %v", f.Metadata)
	}
}

func TestWriterErrors(t *testing.T) {
	var buf bytes.Buffer
	for _, infos := range [][]format.TensorInfo{
		{ti("q", format.Q4_0, 32)},
		{ti("a", format.F32, 1), ti("a", format.F32, 1)},
		{ti("__metadata__", format.F32, 1)},
		{ti("neg", format.F32, -1)},
		{ti("big", format.F32, math.MaxInt64/2, 3)},
		{ti("bad\xff", format.F32, 1)},
	} {
		if _, err := NewWriter(&buf, infos, nil); err == nil {
			t.Errorf("NewWriter(%v) succeeded", infos)
		}
	}
	w, err := NewWriter(&buf, []format.TensorInfo{ti("a", format.F16, 2), ti("b", format.F16, 2)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteTensor(make([]byte, 3)); !errors.Is(err, ErrWriter) {
		t.Errorf("wrong size: %v", err)
	}
	if err := w.WriteTensor(make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); !errors.Is(err, ErrWriter) {
		t.Errorf("early Close: %v", err)
	}
	if err := w.CopyTensor(bytes.NewReader(make([]byte, 2))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short CopyTensor: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Error("Close after a failed copy succeeded")
	}
}

// TestDevModel reads the real dev-llama-3m checkpoint and re-writes it.
func TestDevModel(t *testing.T) {
	path := testutil.Shared(t, "models/dev-llama-3m/model.safetensors")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts := f.Tensors()
	if len(ts) != 3+4*9 {
		t.Errorf("%d tensors, want 39", len(ts))
	}
	var params int64
	layers := map[string]bool{}
	for _, x := range ts {
		params += x.NumElements()
		if x.Type != format.F16 {
			t.Errorf("%s: type %s", x.Name, x.Type)
		}
		if rest, ok := strings.CutPrefix(x.Name, "model.layers."); ok {
			layers[rest[:strings.IndexByte(rest, '.')]] = true
		}
	}
	if params != 4196608 {
		t.Errorf("%d parameters, want 4196608", params)
	}
	if len(layers) != 4 {
		t.Errorf("%d layers, want 4", len(layers))
	}
	emb, ok := f.Tensor("model.embed_tokens.weight")
	if !ok || emb.DType != "F16" || !reflect.DeepEqual(emb.Shape, []int64{256, 2048}) {
		t.Errorf("embed_tokens = %+v", emb)
	}
	if q, _ := f.Tensor("model.layers.0.self_attn.k_proj.weight"); !reflect.DeepEqual(q.Shape, []int64{256, 128}) {
		t.Errorf("k_proj shape %v, want [256 128]", q.Shape)
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata)
	}

	var buf bytes.Buffer
	w, err := NewWriter(&buf, ts, f.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		sr, _ := f.TensorData(x.Name)
		if err := w.CopyTensor(sr); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		if !bytes.Equal(readAll(t, f, x.Name), readAll(t, g, x.Name)) {
			t.Errorf("%s: data differs after re-writing", x.Name)
		}
	}
	// The writer reproduces PyTorch's file byte for byte.
	if !bytes.Equal(buf.Bytes(), orig) {
		t.Errorf("re-written file differs from the original (%d vs %d bytes)", buf.Len(), len(orig))
	}
}

func TestDevModelFolder(t *testing.T) {
	dir := filepath.Dir(testutil.Shared(t, "models/dev-llama-3m/model.safetensors"))
	src, err := format.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	d, ok := src.(*Folder)
	if !ok {
		t.Fatalf("format.Open(folder) gave %T", src)
	}
	if len(d.Tensors()) != 39 || !reflect.DeepEqual(d.Shards(), []string{"model.safetensors"}) {
		t.Errorf("%d tensors in %v", len(d.Tensors()), d.Shards())
	}
	cfg, err := d.ReadFile("config.json")
	if err != nil || !bytes.Contains(cfg, []byte(`"LlamaForCausalLM"`)) {
		t.Errorf("config.json: %v %.40q", err, cfg)
	}
	if !d.Has("tokenizer.model") || d.Has("tokenizer.json") {
		t.Error("Has is wrong")
	}
}

// writeFolder writes files into a new temporary folder.
func writeFolder(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func shardedFiles(t *testing.T) (map[string][]byte, []tensor) {
	ts := sampleTensors()
	a, b := ts[:4], ts[4:]
	index := `{"metadata": {"total_size": 1234}, "weight_map": {`
	for i, x := range ts {
		shard := "model-00001-of-00002.safetensors"
		if i >= 4 {
			shard = "model-00002-of-00002.safetensors"
		}
		if i > 0 {
			index += ", "
		}
		index += `"` + x.info.Name + `": "` + shard + `"`
	}
	index += "}}\n"
	return map[string][]byte{
		"model-00001-of-00002.safetensors": build(t, a, map[string]string{"format": "pt"}),
		"model-00002-of-00002.safetensors": build(t, b, nil),
		IndexName:                          []byte(index),
		"config.json":                      []byte(`{"hidden_size": 8}`),
	}, ts
}

func TestFolderSharded(t *testing.T) {
	files, ts := shardedFiles(t)
	dir := writeFolder(t, files)
	d, err := OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	checkSource(t, d, ts)
	if got := d.Shards(); !reflect.DeepEqual(got, []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}) {
		t.Errorf("shards %v", got)
	}
	if d.ShardOf("f64") != "model-00002-of-00002.safetensors" {
		t.Errorf("ShardOf(f64) = %q", d.ShardOf("f64"))
	}
	if x, ok := d.Tensor("f64"); !ok || x.DType != "F64" || x.Begin != 0+8 {
		// "empty" (0 bytes) and "scalar.i64" (8 bytes) come first in shard 2.
		t.Errorf("Tensor(f64) = %+v %v", x, ok)
	}
	cfg, err := d.ReadFile("config.json")
	if err != nil || string(cfg) != `{"hidden_size": 8}` {
		t.Errorf("ReadFile(config.json) = %q, %v", cfg, err)
	}
	if _, err := d.ReadFile("tokenizer.json"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v", err)
	}
	if _, err := d.ReadFile("../x"); err == nil {
		t.Error("ReadFile(../x) succeeded")
	}
	if !d.Has("config.json") || d.Has("tokenizer.model") {
		t.Error("Has is wrong")
	}

	// The same folder in memory, and through format.Open.
	m := fstest.MapFS{}
	for name, data := range files {
		m[name] = &fstest.MapFile{Data: data}
	}
	d2, err := NewFolder(m)
	if err != nil {
		t.Fatal(err)
	}
	checkSource(t, d2, ts)
	src, err := format.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkSource(t, src, ts)
	src.Close()

	// Without the index, every *.safetensors file is read.
	delete(files, IndexName)
	d3, err := OpenFolder(writeFolder(t, files))
	if err != nil {
		t.Fatal(err)
	}
	checkSource(t, d3, ts)
	d3.Close()
}

func TestFolderBigFile(t *testing.T) {
	m := fstest.MapFS{
		"model.safetensors": &fstest.MapFile{Data: build(t, sampleTensors()[:1], nil)},
		"tokenizer.json":    &fstest.MapFile{Data: make([]byte, MaxReadFile+1)},
	}
	d, err := NewFolder(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadFile("tokenizer.json"); !errors.Is(err, format.ErrTooLarge) {
		t.Errorf("ReadFile of a 64 MiB+1 file: %v", err)
	}
}

// noReaderAt is an fs.FS whose files lack ReadAt.
type noReaderAt struct{ m fstest.MapFS }

func (n noReaderAt) Open(name string) (fs.File, error) {
	f, err := n.m.Open(name)
	if err != nil {
		return nil, err
	}
	return struct{ fs.File }{f}, nil
}

func TestFolderNoReaderAt(t *testing.T) {
	m := fstest.MapFS{"model.safetensors": &fstest.MapFile{Data: build(t, sampleTensors()[:1], nil)}}
	if _, err := NewFolder(noReaderAt{m}); !errors.Is(err, ErrNoRandomAccess) {
		t.Errorf("NewFolder over files without ReadAt: %v", err)
	}
}
