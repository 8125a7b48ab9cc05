// Package testutil holds helpers shared by shrink's tests.
package testutil

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// Update is the module's one switch for regenerating committed test data
// (fuzz seeds, golden files): go test ./PKG -update. Tests compare their
// testdata with what the code produces today and fail when it differs;
// only with -update do they rewrite it.
var Update = flag.Bool("update", false, "rewrite the committed testdata files the tests generate")

// Golden compares the committed file path with want. With -update it writes
// want to path (creating the folder) instead. A missing or different file
// is a test failure naming the file and the flag that regenerates it.
func Golden(t testing.TB, path string, want []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update regenerates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the code produces today (%d bytes, want %d; go test -update regenerates it)", path, len(got), len(want))
	}
}

// RepoRoot returns the repository root (the folder holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's folder")
		}
		dir = parent
	}
}

// Shared returns the path of rel inside the shared reference folder that
// sits beside the repository (../shared). When it is absent, as in a user's
// checkout, the test is skipped; under CI (CI=true) it fails instead, so
// that a reference check can never pass by not running. SHRINK_SHARED
// overrides the folder.
func Shared(t testing.TB, rel string) string {
	t.Helper()
	dir := os.Getenv("SHRINK_SHARED")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "..", "shared")
	}
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		if InCI() {
			t.Fatalf("reference file %s not available under CI (needs ../shared or SHRINK_SHARED): %v", rel, err)
		}
		t.Skipf("reference file %s not available (needs ../shared): %v", rel, err)
	}
	return p
}

// InCI tells whether the tests run under CI (the CI environment variable
// is "true", as CI services and .ci/run set it).
func InCI() bool { return os.Getenv("CI") == "true" }
