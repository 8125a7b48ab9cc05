package engine

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// TestPatch checks that a patched weight replaces the original until
// restored (same bytes: the same logits; other bytes: other logits, and
// the original's again after the restore), that releasing a streamed
// model's block leaves the patched bytes intact, and that unknown names,
// other shapes and wrong lengths are ErrPatch errors.
func TestPatch(t *testing.T) {
	cfg := testConfig()
	ts, _ := genTensors(cfg, 5)
	path := filepath.Join(t.TempDir(), "gen.gguf")
	writeGGUF(t, path, cfg, ts)
	m, err := Load(path, Options{Stream: true, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	toks := testTokens(7, cfg.VocabSize)
	logits := func() []float32 {
		s := m.NewSession(16)
		out, err := s.ForwardAll(toks)
		if err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), out...)
	}
	want := logits()
	q := m.layers[0].q
	shape := []int64{int64(q.cols), int64(q.rows)}
	same := append([]byte(nil), q.data...)
	restore, err := m.Patch(Tensor{Name: q.name, Type: q.typ, Shape: shape, Data: same})
	if err != nil {
		t.Fatal(err)
	}
	m.ReleaseBlock(0)
	if !equalFloats(logits(), want) {
		t.Error("patched with the same bytes (and the block released): other logits")
	}
	restore()
	vals := make([]float32, q.rows*q.cols)
	if err := format.DecodeFloats(q.typ, q.data, vals); err != nil {
		t.Fatal(err)
	}
	for i := range vals {
		vals[i] *= 0.5
	}
	half := make([]byte, 4*len(vals))
	format.EncodeFloats(format.F32, vals, half)
	restore, err = m.Patch(Tensor{Name: q.name, Type: format.F32, Shape: shape, Data: half})
	if err != nil {
		t.Fatal(err)
	}
	if equalFloats(logits(), want) {
		t.Error("patched with other values: the same logits")
	}
	restore()
	if !equalFloats(logits(), want) {
		t.Error("restored: other logits")
	}
	for _, bad := range []Tensor{
		{Name: "blk.0.attn_q.bias", Type: format.F32, Shape: shape, Data: half},
		{Name: q.name, Type: format.F32, Shape: []int64{2 * shape[0], shape[1] / 2}, Data: half},
		{Name: q.name, Type: format.F32, Shape: shape, Data: half[4:]},
	} {
		if _, err := m.Patch(bad); !errors.Is(err, ErrPatch) {
			t.Errorf("Patch(%s %v, %d bytes): error %v, want ErrPatch", bad.Name, bad.Shape, len(bad.Data), err)
		}
	}
}

// equalFloats reports whether a and b hold the same values bit for bit.
func equalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
