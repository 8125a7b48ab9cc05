package testutil

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// PatchedModel copies the files of the Hugging Face folder src into a new
// temporary folder and writes raw (the little-endian bytes of one element
// of the tensor's dtype) over element elem of tensor in its
// model.safetensors; it returns the new folder. Tests use it to make a
// checkpoint with one bad weight (a NaN: {0x00, 0x7e} for F16).
func PatchedModel(t testing.TB, src, tensor string, elem int64, raw []byte) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "model.safetensors" {
			patchSafetensors(t, data, tensor, elem, raw)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// patchSafetensors overwrites element elem of tensor in the bytes of a
// safetensors file.
func patchSafetensors(t testing.TB, data []byte, tensor string, elem int64, raw []byte) {
	t.Helper()
	if len(data) < 8 {
		t.Fatal("safetensors file too short")
	}
	n := int64(binary.LittleEndian.Uint64(data))
	if n > int64(len(data))-8 {
		t.Fatal("safetensors header longer than the file")
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	var e struct {
		DType   string   `json:"dtype"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	msg, ok := hdr[tensor]
	if !ok {
		t.Fatalf("no tensor %s", tensor)
	}
	if err := json.Unmarshal(msg, &e); err != nil {
		t.Fatal(err)
	}
	size := map[string]int64{"F16": 2, "BF16": 2, "F32": 4, "F64": 8}[e.DType]
	if size != int64(len(raw)) {
		t.Fatalf("tensor %s is %s: %d bytes given for one element", tensor, e.DType, len(raw))
	}
	off := 8 + n + e.Offsets[0] + elem*size
	if elem < 0 || off+size > 8+n+e.Offsets[1] {
		t.Fatalf("element %d outside tensor %s", elem, tensor)
	}
	copy(data[off:], raw)
}
