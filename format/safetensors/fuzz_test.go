package safetensors

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// seeds are the fuzz seeds kept in testdata/, rewritten by go test -update.
func seeds(t testing.TB) map[string][]byte {
	ts := sampleTensors()
	return map[string][]byte{
		"small.safetensors": build(t, ts[:3], map[string]string{"format": "pt"}),
		"types.safetensors": build(t, ts, nil),
		"empty.safetensors": build(t, nil, nil),
		// Hand-written: whitespace, field order, an unknown field, null
		// metadata, escapes, a zero-size tensor sharing an offset.
		"handmade.safetensors": hdr(` {"b\u00e9" : {"data_offsets":[0,2], "dtype":"I8","shape":[2],"extra":[1,{"x":2}]},
			"z":{"dtype":"BF16","shape":[0,3],"data_offsets":[2,2]}, "__metadata__":null,
			"c":{"dtype":"F16","shape":[1,1],"data_offsets":[2,4]}}`[1:]+"\t\r\n ", 4),
		// The index of a folder made of small.safetensors and
		// handmade.safetensors, for FuzzIndex.
		"index.json": []byte(`{"metadata": {"total_size": 166}, "weight_map": {"w.f32": "small.safetensors",
  "w.f16": "small.safetensors", "w.bf16": "small.safetensors", "b\u00e9": "handmade.safetensors",
  "z": "handmade.safetensors", "c": "handmade.safetensors"}}
`),
	}
}

func TestSeeds(t *testing.T) {
	for name, data := range seeds(t) {
		path := filepath.Join("testdata", name)
		testutil.Golden(t, path, data)
		if filepath.Ext(name) != ".safetensors" {
			continue
		}
		if _, err := NewReader(bytes.NewReader(data), int64(len(data))); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	f, err := NewReader(bytes.NewReader(seeds(t)["handmade.safetensors"]), 0)
	if err == nil {
		t.Errorf("size 0 accepted: %v", f.Tensors())
	}
	data := seeds(t)["handmade.safetensors"]
	f, err = NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	want := []format.TensorInfo{ti("bé", format.I8, 2), ti("z", format.BF16, 3, 0), ti("c", format.F16, 1, 1)}
	if got := f.Tensors(); !reflect.DeepEqual(got, want) {
		t.Errorf("handmade tensors %+v, want %+v", got, want)
	}
}

// FuzzReader parses arbitrary files; whatever parses must survive a
// re-write and re-parse unchanged.
func FuzzReader(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.safetensors")
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, format.ErrFormat) {
				t.Fatalf("error %v is not format.ErrFormat", err)
			}
			return
		}
		ts := r.Tensors()
		var buf bytes.Buffer
		w, err := NewWriter(&buf, ts, r.Metadata)
		if err != nil {
			t.Fatalf("re-writing: %v", err)
		}
		for _, x := range ts {
			sr, err := r.TensorData(x.Name)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.CopyTensor(sr); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out := buf.Bytes()
		r2, err := NewReader(bytes.NewReader(out), int64(len(out)))
		if err != nil {
			t.Fatalf("re-reading: %v", err)
		}
		if !reflect.DeepEqual(r2.Tensors(), ts) || !reflect.DeepEqual(r2.Metadata, r.Metadata) {
			t.Fatalf("re-read %+v %q, want %+v %q", r2.Tensors(), r2.Metadata, ts, r.Metadata)
		}
		for _, x := range ts {
			a, _ := r.Tensor(x.Name)
			b, _ := r2.Tensor(x.Name)
			if a.Begin != b.Begin || a.End != b.End || a.DType != b.DType {
				t.Fatalf("%s: %+v became %+v", x.Name, a, b)
			}
			if !bytes.Equal(readAll(t, r, x.Name), readAll(t, r2, x.Name)) {
				t.Fatalf("%s: data differs", x.Name)
			}
		}
		if r2.DataOffset()%8 != 0 {
			t.Fatalf("data offset %d not aligned to 8", r2.DataOffset())
		}
	})
}

// FuzzIndex opens a folder of two fixed shards with an arbitrary index.
func FuzzIndex(f *testing.F) {
	var shards [2][]byte
	for i, name := range []string{"small.safetensors", "handmade.safetensors"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		shards[i] = data
	}
	index, err := os.ReadFile("testdata/index.json")
	if err != nil {
		f.Fatal(err)
	}
	m := fstest.MapFS{
		"small.safetensors":    {Data: shards[0]},
		"handmade.safetensors": {Data: shards[1]},
	}
	d, err := NewFolder(m)
	if err != nil || len(d.Tensors()) != 6 {
		f.Fatalf("folder without index: %v", err)
	}
	f.Add(index)
	f.Fuzz(func(t *testing.T, index []byte) {
		m := fstest.MapFS{
			"small.safetensors":    {Data: shards[0]},
			"handmade.safetensors": {Data: shards[1]},
			IndexName:              {Data: index},
		}
		d, err := NewFolder(m)
		if err != nil {
			if !errors.Is(err, format.ErrFormat) {
				t.Fatalf("error %v is not format.ErrFormat", err)
			}
			return
		}
		defer d.Close()
		n := 0
		for _, s := range d.Shards() {
			sf, _ := NewReader(bytes.NewReader(m[s].Data), int64(len(m[s].Data)))
			n += len(sf.Tensors())
		}
		ts := d.Tensors()
		if len(ts) != n {
			t.Fatalf("%d tensors, shards hold %d", len(ts), n)
		}
		for _, x := range ts {
			if sr, err := d.TensorData(x.Name); err != nil || sr.Size() != x.Bytes() {
				t.Fatalf("%s: %v", x.Name, err)
			}
		}
	})
}
