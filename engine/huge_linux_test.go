package engine

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func TestHugeCopy(t *testing.T) {
	old := hugeMin
	hugeMin = 1
	defer func() { hugeMin = old }()
	want := make([]byte, 3<<20+123)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(r.Uint32())
	}
	path := filepath.Join(t.TempDir(), "w.bin")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, release, ok := hugeCopy(f, int64(len(want)))
	if !ok {
		t.Skip("no anonymous memory for the copy")
	}
	if addrOf(data)%hugeAlign != 0 {
		t.Errorf("copy at %#x, not 2 MiB aligned", addrOf(data))
	}
	if !bytes.Equal(data, want) {
		t.Error("copy differs from the file")
	}
	if err := release(); err != nil {
		t.Error(err)
	}
	// Too large for the available memory: mapped instead.
	if _, _, ok := hugeCopy(f, memAvailable()); ok {
		t.Error("copy of half the available memory accepted")
	}
}
