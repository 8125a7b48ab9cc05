//go:build !linux

package engine

import "os"

// hugeCopy is Linux only: elsewhere GGUF files are mapped.
func hugeCopy(f *os.File, size int64) ([]byte, func() error, bool) { return nil, nil, false }
