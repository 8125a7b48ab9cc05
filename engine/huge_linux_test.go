package engine

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// randomFile writes n random bytes (from seed) to a temporary file and
// returns it opened, with the bytes; it lowers hugeMin to 1 for the test.
func randomFile(t *testing.T, n int, seed uint64) (*os.File, []byte) {
	t.Helper()
	old := hugeMin
	hugeMin = 1
	t.Cleanup(func() { hugeMin = old })
	want := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed+1))
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
	t.Cleanup(func() { f.Close() })
	return f, want
}

func TestHugeCopy(t *testing.T) {
	f, want := randomFile(t, 3<<20+123, 1)
	data, release, share, ok := hugeCopy(f, int64(len(want)))
	if !ok {
		t.Skip("no anonymous memory for the copy")
	}
	if addrOf(data)%hugeAlign != 0 {
		t.Errorf("copy at %#x, not 2 MiB aligned", addrOf(data))
	}
	if !bytes.Equal(data, want) {
		t.Error("copy differs from the file")
	}
	if share < 0 || share > 1 {
		t.Errorf("2 MiB share %v outside [0, 1]", share)
	}
	if err := release(); err != nil {
		t.Error(err)
	}
	// Too large for the available memory: mapped instead.
	if _, _, _, ok := hugeCopy(f, memAvailable()); ok {
		t.Error("copy of half the available memory accepted")
	}
}

func TestMapHuge(t *testing.T) {
	for _, refresh := range []bool{true, false} {
		f, want := randomFile(t, 5<<20+77, 3)
		data, release, share, err := mapHuge(f, int64(len(want)), refresh)
		if err != nil {
			t.Fatal(err)
		}
		if addrOf(data)%hugeAlign != 0 {
			t.Errorf("refresh %v: mapping at %#x, not 2 MiB aligned", refresh, addrOf(data))
		}
		if len(data) != len(want) || cap(data) != len(want) {
			t.Errorf("refresh %v: mapping len %d cap %d, want %d", refresh, len(data), cap(data), len(want))
		}
		if !bytes.Equal(data, want) {
			t.Errorf("refresh %v: mapping differs from the file", refresh)
		}
		if share < 0 || share > 1 {
			t.Errorf("refresh %v: 2 MiB share %v outside [0, 1]", refresh, share)
		}
		// The mapping is found in smaps and is resident after populating.
		if kb, ok := smapsKB(addrOf(data), "Rss:"); !ok || kb < int64(len(want))>>10-4 {
			t.Errorf("refresh %v: smaps Rss of the mapping: %d kB, %v; want about %d kB", refresh, kb, ok, len(want)>>10)
		}
		if err := release(); err != nil {
			t.Error(err)
		}
	}
}

func TestSmapsUnknownAddress(t *testing.T) {
	if _, ok := smapsKB(1<<12, "Rss:"); ok {
		t.Error("smaps figure found for an unmapped address")
	}
}

func TestLeadingInt(t *testing.T) {
	for s, want := range map[string]int{"6": 6, "16-rc1": 16, "18+": 18, "x": 0, "": 0, "5.4": 5} {
		if got := leadingInt(s); got != want {
			t.Errorf("leadingInt(%q) = %d, want %d", s, got, want)
		}
	}
	if major, _ := kernelVersion(); major < 2 {
		t.Errorf("kernel major version %d", major)
	}
}
