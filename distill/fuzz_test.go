package distill

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/internal/kernel"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// fuzzTrainer returns a small trainer whose checkpoint layout the fuzz
// inputs are read against.
func fuzzTrainer(t testing.TB) *Trainer {
	c := tinyConfig(true, false)
	m, err := NewRandom(c, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	ws := [][]int32{randomTokens(rng, 5, c.VocabSize)}
	tr, err := NewTrainer(m, nil, ws, Options{Steps: 2, CEWeight: 1})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestCheckpointSeed checks that the fuzz seed testdata/tiny.ckpt is the
// checkpoint one training step writes today (go test -update rewrites it)
// and that it loads. The step runs on the generic kernels, so that the
// bytes do not depend on the CPU's vector units.
func TestCheckpointSeed(t *testing.T) {
	if err := kernel.Select("generic"); err != nil {
		t.Fatal(err)
	}
	defer kernel.Select("")
	path := filepath.Join("testdata", "tiny.ckpt")
	fresh := filepath.Join(t.TempDir(), "tiny.ckpt")
	tr := fuzzTrainer(t)
	if _, err := tr.TrainStep(); err != nil {
		t.Fatal(err)
	}
	if err := tr.SaveCheckpoint(fresh); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(fresh)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, path, want)
	tr = fuzzTrainer(t)
	if err := tr.LoadCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	if tr.Step != 1 {
		t.Fatalf("seed checkpoint at step %d, want 1", tr.Step)
	}
	if n, err := CheckpointSteps(path); err != nil || n != 2 {
		t.Fatalf("CheckpointSteps = %d, %v; want 2", n, err)
	}
}

// FuzzLoadCheckpoint feeds malformed checkpoints (and teacher caches) to
// the readers: errors, never panics or huge allocations.
func FuzzLoadCheckpoint(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "tiny.ckpt"))
	if err != nil {
		f.Fatalf("no seed (go test -run TestCheckpointSeed -update writes it): %v", err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.ckpt")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tr := fuzzTrainer(t)
		_ = tr.LoadCheckpoint(path)
		_, _ = CheckpointSteps(path)
		if ct, err := OpenTeacherCache(path, tr.Windows, 20); err == nil {
			ct.Teach(0, tr.Windows[0][:4], false)
			ct.Close()
		}
	})
}
