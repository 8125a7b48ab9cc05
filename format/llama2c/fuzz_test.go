package llama2c

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/internal/testutil"
)

// seeds are the committed fuzz seeds and how they are made.
func seeds(t testing.TB) map[string][]byte {
	return map[string][]byte{
		"tiny-shared.bin":   tinyBytes(t, tinyShared),
		"tiny-unshared.bin": tinyBytes(t, tinyUnshared),
		"tok16.bin":         tokBytes(t, tinyTokenizer()),
	}
}

// TestSeeds checks that the committed seed files are what the writers
// produce today (go test -run TestSeeds -update rewrites them).
func TestSeeds(t *testing.T) {
	for name, want := range seeds(t) {
		testutil.Golden(t, filepath.Join("testdata", name), want)
	}
}

func addSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.bin"))
	if len(files) == 0 {
		f.Fatal("no seed files in testdata")
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzReader parses arbitrary bytes as a checkpoint; what parses must
// rewrite to a file of the same size that parses to equal tensors.
func FuzzReader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			checkFormatError(t, m, err, "")
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, m.Header, m); err != nil {
			t.Fatal(err)
		}
		if buf.Len() != len(data) {
			t.Fatalf("rewrote %d bytes, read %d", buf.Len(), len(data))
		}
		again, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		if again.Header != m.Header {
			t.Fatalf("header %+v became %+v", m.Header, again.Header)
		}
		if err := sameSource(m, again); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzTokenizer parses arbitrary bytes as a tokenizer.bin; what parses must
// rewrite byte for byte.
func FuzzTokenizer(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := ReadTokenizer(bytes.NewReader(data), int64(len(data)), 0)
		if err != nil {
			checkFormatError(t, tk, err, "")
			return
		}
		out := tokBytes(t, tk)
		if !bytes.Equal(out, data) {
			t.Fatal("rewrite differs")
		}
		again, err := ReadTokenizer(bytes.NewReader(out), int64(len(out)), len(tk.Pieces))
		if err != nil {
			t.Fatal(err)
		}
		if err := sameTokenizer(tk, again); err != nil {
			t.Fatal(err)
		}
	})
}
