//go:build !linux

package engine

import (
	"errors"
	"os"
)

// hugeCopy is Linux only: elsewhere GGUF files are mapped.
func hugeCopy(f *os.File, size int64) ([]byte, func() error, float64, bool) {
	return nil, nil, 0, false
}

// mapHuge is Linux only: elsewhere GGUF files are mapped plainly.
func mapHuge(f *os.File, size int64, refresh bool) ([]byte, func() error, float64, error) {
	return nil, nil, 0, errors.ErrUnsupported
}
