//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package engine

import (
	"errors"
	"os"
	"syscall"
)

// mmapFile maps the whole file read-only and returns the bytes and a function
// that unmaps them. With huge, a large file is copied into huge-page memory
// instead where possible (see Options.HugePages).
func mmapFile(f *os.File, size int64, huge bool) ([]byte, func() error, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, errors.New("engine: file size cannot be mapped")
	}
	if huge {
		if data, release, ok := hugeCopy(f, size); ok {
			return data, release, nil
		}
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
