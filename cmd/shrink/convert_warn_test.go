package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/internal/testutil"
)

// captureStderr runs f with os.Stderr sent to a file and returns what was
// written there.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	tmp, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer tmp.Close()
	saved := os.Stderr
	os.Stderr = tmp
	defer func() { os.Stderr = saved }()
	f()
	data, err := os.ReadFile(tmp.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestConvertWarnsNonFinite: convert copies a NaN weight but says which.
func TestConvertWarnsNonFinite(t *testing.T) {
	model := nanModel(t)
	dst := filepath.Join(t.TempDir(), "m.gguf")
	var code int
	var e string
	stderr := captureStderr(t, func() { code, _, e = run(t, "convert", model, dst, "-q") })
	want := "warning: tensor blk.1.ffn_down.weight (model.layers.1.mlp.down_proj.weight) element 1000 (row 3) is NaN"
	if code != 0 || !strings.Contains(stderr, want) || strings.Count(stderr, "warning") != 1 {
		t.Errorf("convert: code %d, stderr %q%s; want one warning %q", code, stderr, e, want)
	}
	// The good model converts without a warning.
	src := filepath.Join(testutil.RepoRoot(t), "models", "default")
	stderr = captureStderr(t, func() { code, _, e = run(t, "convert", src, dst, "-q") })
	if code != 0 || bytes.Contains([]byte(stderr), []byte("warning")) {
		t.Errorf("convert of a good model: code %d, stderr %q%s", code, stderr, e)
	}
}
