package bench

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDiskSizeLinks checks that a folder of symbolic links (a Hugging Face
// cache snapshot) counts the files the links point to.
func TestDiskSizeLinks(t *testing.T) {
	dir := t.TempDir()
	blob := filepath.Join(dir, "blob")
	if err := os.WriteFile(blob, make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(dir, "snap")
	if err := os.Mkdir(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(blob, filepath.Join(snap, "model.safetensors")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	if err := os.WriteFile(filepath.Join(snap, "config.json"), make([]byte, 24), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := DiskSize(snap); got != 1024 {
		t.Errorf("DiskSize = %d, want 1024", got)
	}
	if got := DiskSize(blob); got != 1000 {
		t.Errorf("DiskSize of a file = %d, want 1000", got)
	}
}
