// Package testutil holds helpers shared by shrink's tests.
package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

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
// sits beside the repository (../shared), or skips the test when it is
// absent, as it is in a user's checkout. SHRINK_SHARED overrides the folder.
func Shared(t testing.TB, rel string) string {
	t.Helper()
	dir := os.Getenv("SHRINK_SHARED")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "..", "shared")
	}
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("reference file %s not available (needs ../shared): %v", rel, err)
	}
	return p
}
