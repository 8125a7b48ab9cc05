package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// raw builds a file from a header length, header text and dataLen zero
// bytes of data.
func raw(n uint64, header string, dataLen int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, n)
	b = append(b, header...)
	return append(b, make([]byte, dataLen)...)
}

// hdr builds a file with a correct header length.
func hdr(header string, dataLen int) []byte {
	return raw(uint64(len(header)), header, dataLen)
}

// checkMalformed asserts that reading file fails with a FormatError that
// names an offset, without panicking or allocating much more than the file.
func checkMalformed(t *testing.T, file []byte) error {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f, err := NewReader(bytes.NewReader(file), int64(len(file)))
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatalf("no error for %q (tensors %v)", trim(file), f.Tensors())
	}
	if !errors.Is(err, format.ErrFormat) {
		t.Errorf("error %v is not format.ErrFormat", err)
	}
	var fe *format.FormatError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "offset") {
		t.Errorf("error %q: not a FormatError naming an offset", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q has several lines", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<10+16*uint64(len(file)) {
		t.Errorf("allocated %d bytes for a file of %d", alloc, len(file))
	}
	t.Log(err)
	return err
}

func trim(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

const okEntry = `"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`

func TestMalformed(t *testing.T) {
	// The template is valid.
	ok := hdr("{"+okEntry+"}  ", 8)
	if _, err := NewReader(bytes.NewReader(ok), int64(len(ok))); err != nil {
		t.Fatalf("template: %v", err)
	}
	cases := []struct {
		name string
		file []byte
		msg  string // expected in the message, if not ""
	}{
		{"empty file", nil, "too short"},
		{"short length field", []byte{1, 0, 0, 0, 0}, "too short"},
		{"length only", raw(0, "", 0), "'{'"},
		{"header length past file", raw(1000, "{"+okEntry+"}", 8), "exceeds"},
		{"header length one past file", raw(uint64(len(okEntry)+2+8+1), "{"+okEntry+"}", 8), "exceeds"},
		{"header length over 100MB", raw(MaxHeaderSize+1, "{}", 0), "limit"},
		{"header length max uint64", raw(1<<64-1, "{}", 0), "limit"},
		{"array", hdr("[]", 0), "'{'"},
		{"string", hdr(`"x"`, 0), "'{'"},
		{"number", hdr("1", 0), "'{'"},
		{"null", hdr("null", 0), "'{'"},
		{"leading space", hdr(" {}", 0), "'{'"},
		{"unterminated", hdr(`{"a":`, 0), "unexpected EOF"},
		{"unterminated entry", hdr("{"+okEntry, 8), "JSON"},
		{"missing colon", hdr(`{"a" 1}`, 0), "invalid character"},
		{"bare comma", hdr(`{,}`, 0), "JSON"},
		{"two objects", hdr(`{} {}`, 0), "trailing"},
		{"garbage after", hdr(`{}x`, 0), "trailing"},
		{"extra brace", hdr(`{}}`, 0), "trailing"},
		{"invalid utf-8", hdr("{\"\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "UTF-8"},
		{"entry not object", hdr(`{"a":1}`, 0), "not an object"},
		{"missing dtype", hdr(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, 8), "missing field dtype"},
		{"missing shape", hdr(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, 8), "missing field shape"},
		{"missing offsets", hdr(`{"a":{"dtype":"F32","shape":[2]}}`, 8), "missing field data_offsets"},
		{"duplicate field", hdr(`{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8), "duplicate field"},
		{"dtype not string", hdr(`{"a":{"dtype":1,"shape":[2],"data_offsets":[0,8]}}`, 8), "dtype"},
		{"shape not array", hdr(`{"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}`, 8), "shape"},
		{"shape float", hdr(`{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,10]}}`, 10), "shape"},
		{"shape exponent", hdr(`{"a":{"dtype":"F32","shape":[1e1],"data_offsets":[0,40]}}`, 40), "shape"},
		{"shape null", hdr(`{"a":{"dtype":"F32","shape":[null],"data_offsets":[0,4]}}`, 4), "shape"},
		{"negative dim", hdr(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, 8), "negative dimension"},
		{"negative dims product", hdr(`{"a":{"dtype":"F32","shape":[-2,-1],"data_offsets":[0,8]}}`, 8), "negative dimension"},
		{"shape product overflow", hdr(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, 8), "overflow"},
		{"shape bytes overflow", hdr(`{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}}`, 8), "overflow"},
		{"dim over int64", hdr(`{"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]}}`, 8), "shape"},
		{"offsets one value", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}}`, 8), "2"},
		{"offsets three values", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, 8), "2"},
		{"offsets not ints", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}}`, 8), "data_offsets"},
		{"negative offsets", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, 8), "negative"},
		{"offsets reversed", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, 8), "end before"},
		{"offsets too short", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4), "needs 8"},
		{"offsets too long", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}}`, 12), "needs 8"},
		{"offsets past end", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 4), "past the end"},
		{"offsets far past end", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[9223372036854775799,9223372036854775807]}}`, 4), "past the end"},
		{"offsets over int64", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}}`, 8), "data_offsets"},
		{"overlap", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), "overlap"},
		{"same range", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 16), "overlap"},
		{"hole", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}`, 20), "hole"},
		{"hole at start", hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), "hole"},
		{"trailing data", hdr("{"+okEntry+"}", 9), "after the last tensor"},
		{"data without tensors", hdr(`{}`, 1), "after the last tensor"},
		{"duplicate name", hdr("{"+okEntry+","+okEntry+"}", 8), "duplicate tensor name"},
		{"duplicate metadata", hdr(`{"__metadata__":{},"__metadata__":{}}`, 0), "duplicate __metadata__"},
		{"duplicate metadata key", hdr(`{"__metadata__":{"k":"1","k":"2"}}`, 0), "duplicate key"},
		{"metadata not object", hdr(`{"__metadata__":[]}`, 0), "__metadata__"},
		{"metadata value not string", hdr(`{"__metadata__":{"k":1}}`, 0), "not a string"},
		{"unknown dtype", hdr(`{"a":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}}`, 8), `unknown dtype "F7"`},
		{"lower-case dtype", hdr(`{"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}`, 8), "unknown dtype"},
		{"unsupported U8", hdr(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, 2), `tensor "a": offset 8: header: unsupported dtype U8`},
		{"unsupported BOOL", hdr(`{"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}`, 2), "unsupported dtype BOOL"},
		{"unsupported F8", hdr(`{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}`, 2), "unsupported dtype F8_E4M3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkMalformed(t, c.file)
			if c.msg != "" && !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not contain %q", err, c.msg)
			}
		})
	}
}

// TestMalformedOffsets checks the offsets the errors carry: 0 for the length
// field, 8 for the header, the absolute position for data.
func TestMalformedOffsets(t *testing.T) {
	for _, c := range []struct {
		file []byte
		off  int64
	}{
		{raw(1000, "{}", 0), 0},
		{hdr(`[]`, 0), 8},
		{hdr(`{"a":{"dtype":"X","shape":[2],"data_offsets":[0,8]}}`, 8), 8},
		// header of 56 bytes: the data buffer starts at 64.
		{hdr(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  `, 9), 72},
		{hdr(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}  `, 8), 64},
	} {
		var fe *format.FormatError
		_, err := NewReader(bytes.NewReader(c.file), int64(len(c.file)))
		if !errors.As(err, &fe) || fe.Offset != c.off {
			t.Errorf("%q: error %v, want offset %d", trim(c.file), err, c.off)
		}
	}
}

func TestTruncated(t *testing.T) {
	file := build(t, sampleTensors(), map[string]string{"format": "pt"})
	for n := 0; n < len(file); n++ {
		if _, err := NewReader(bytes.NewReader(file[:n]), int64(n)); err == nil {
			t.Fatalf("file truncated to %d of %d bytes: no error", n, len(file))
		} else if !errors.Is(err, format.ErrFormat) || !strings.Contains(err.Error(), "offset") {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	for _, n := range []int{0, 4, 8, 20, 100, len(file) - 1} {
		t.Run("", func(t *testing.T) { checkMalformed(t, file[:n]) })
	}
	checkMalformed(t, append(file[:len(file):len(file)], 0))
}

func TestBadIndex(t *testing.T) {
	const s1, s2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
	// Tensors: w.f32 w.f16 w.bf16 idx.i32 in s1; empty scalar.i64 f64 i8 i16 in s2.
	entry := func(name, shard string) string { return `"` + name + `":"` + shard + `"` }
	rest := entry("w.f16", s1) + "," + entry("w.bf16", s1) + "," + entry("idx.i32", s1) + "," +
		entry("scalar.i64", s2) + "," + entry("f64", s2) + "," + entry("i8", s2) + "," + entry("i16", s2) + "," + entry("empty", s2)
	index := func(first string) string { return `{"weight_map":{` + first + "," + rest + "}}" }
	for _, c := range []struct{ name, index, msg string }{
		{"missing shard", index(entry("w.f32", "model-00003-of-00003.safetensors")), "model-00003"},
		{"dot-dot", index(entry("w.f32", "../"+s1)), "plain file name"},
		{"just dot-dot", index(entry("w.f32", "..")), "plain file name"},
		{"subfolder", index(entry("w.f32", "sub/"+s1)), "plain file name"},
		{"backslash", index(entry("w.f32", `sub\\`+s1)), "plain file name"},
		{"absolute", index(entry("w.f32", "/"+s1)), "plain file name"},
		{"empty shard name", index(entry("w.f32", "")), "plain file name"},
		{"wrong shard", index(entry("w.f32", s2)), "not found in shard"},
		{"ghost tensor", index(entry("w.f32", s1) + "," + entry("ghost", s1)), "not found in shard"},
		{"unmapped tensor", `{"weight_map":{` + rest + "}}", "not in the weight_map"},
		{"duplicate tensor", index(entry("w.f32", s1) + "," + entry("w.f32", s1)), "duplicate tensor"},
		{"value not string", index(`"w.f32":1`), "not a string"},
		{"no weight_map", `{"metadata":{}}`, "no weight_map"},
		{"empty weight_map", `{"weight_map":{}}`, "empty weight_map"},
		{"weight_map array", `{"weight_map":[]}`, "not an object"},
		{"not object", `[]`, "not a JSON object"},
		{"invalid JSON", `{"weight_map":{`, "invalid JSON"},
		{"trailing", index(entry("w.f32", s1)) + "x", "trailing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			files, _ := shardedFiles(t)
			files[IndexName] = []byte(c.index)
			d, err := OpenFolder(writeFolder(t, files))
			if err == nil {
				d.Close()
				t.Fatal("no error")
			}
			t.Log(err)
			if !errors.Is(err, format.ErrFormat) || !strings.Contains(err.Error(), "offset") || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q: want format.ErrFormat with offset and %q", err, c.msg)
			}
		})
	}
}

func TestBadFolder(t *testing.T) {
	files, _ := shardedFiles(t)
	delete(files, IndexName)
	// The same tensor in two shards without an index.
	files["model-00003-of-00003.safetensors"] = files["model-00002-of-00002.safetensors"]
	if _, err := OpenFolder(writeFolder(t, files)); err == nil || !strings.Contains(err.Error(), "also in shard") {
		t.Errorf("duplicate across shards: %v", err)
	}
	// A malformed shard.
	files, _ = shardedFiles(t)
	files["model-00002-of-00002.safetensors"] = hdr(`{"a":1}`, 0)
	if _, err := OpenFolder(writeFolder(t, files)); !errors.Is(err, format.ErrFormat) || !strings.Contains(err.Error(), "model-00002-of-00002.safetensors") {
		t.Errorf("malformed shard: %v", err)
	}
	// No weights.
	if _, err := OpenFolder(writeFolder(t, map[string][]byte{"config.json": []byte("{}")})); !errors.Is(err, ErrNoWeights) {
		t.Errorf("folder without weights: %v", err)
	}
}
