//go:build !linux

package engine

import "os"

// mapStream maps the file as Options.Mmap does where pages cannot be
// released one block at a time.
func mapStream(f *os.File, size int64) ([]byte, func() error, Residence, error) {
	return mmapFile(f, size, false, false)
}

// releasePages does nothing on this platform.
func releasePages([]byte) {}
