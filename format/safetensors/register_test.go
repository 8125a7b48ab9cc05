package safetensors

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	good := build(t, sampleTensors()[:2], nil)
	files := map[string][]byte{
		"good.bin":     good,
		"short.bin":    good[:8],
		"toolong.bin":  raw(1000, "{}", 0),
		"notjson.bin":  raw(2, "[]", 0),
		"gguf.bin":     append([]byte("GGUF\x03\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00"), make([]byte, 64)...),
		"zerolen.bin":  raw(0, "{}", 0),
		"truncated.st": good[:len(good)-1], // recognised, then refused by Open
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]bool{"good.bin": true, "truncated.st": true, "short.bin": false, "toolong.bin": false,
		"notjson.bin": false, "gguf.bin": false, "zerolen.bin": false} {
		p := filepath.Join(dir, name)
		head, _ := os.ReadFile(p)
		if got := matchFile(p, head[:min(64, len(head))], false); got != want {
			t.Errorf("matchFile(%s) = %v, want %v", name, got, want)
		}
	}
	if f, err := format.Detect(filepath.Join(dir, "good.bin")); err != nil || f.Name != "safetensors" {
		t.Errorf("Detect(good.bin) = %q, %v", f.Name, err)
	}
	if _, err := format.Open(filepath.Join(dir, "truncated.st")); err == nil {
		t.Error("Open(truncated) succeeded")
	}

	// Folders.
	if f, err := format.Detect(dir); err == nil {
		t.Errorf("Detect(folder without .safetensors) = %q", f.Name)
	}
	os.WriteFile(filepath.Join(dir, "good.safetensors"), good, 0o644)
	if f, err := format.Detect(dir); err != nil || f.Name != "safetensors-folder" {
		t.Errorf("Detect(folder) = %q, %v; want the folder format", f.Name, err)
	}
	empty := t.TempDir()
	if matchFolder(empty, nil, true) {
		t.Error("empty folder matched")
	}
	os.WriteFile(filepath.Join(empty, "x.safetensors"), good, 0o644)
	if !matchFolder(empty, nil, true) {
		t.Error("folder with x.safetensors not matched")
	}
	idx := t.TempDir()
	os.WriteFile(filepath.Join(idx, IndexName), []byte("{}"), 0o644)
	if !matchFolder(idx, nil, true) {
		t.Error("folder with an index not matched")
	}
}
