//go:build !linux

package prune

// FreeDisk returns the bytes free on the file system holding dir, and
// whether it could tell: here it cannot, so callers keep their data in
// memory or compute it again.
func FreeDisk(dir string) (int64, bool) { return 0, false }
