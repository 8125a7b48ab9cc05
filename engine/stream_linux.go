//go:build linux

package engine

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
)

// mapStream maps the whole file read-only and shared without faulting it
// in (Options.Stream): pages are read as they are first used.
func mapStream(f *os.File, size int64) ([]byte, func() error, Residence, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, Residence{}, errors.New("engine: file size cannot be mapped")
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, Residence{}, err
	}
	return data, func() error { return syscall.Munmap(data) }, Residence{Mode: "mapped"}, nil
}

// releasePages drops the whole pages inside b from the process's resident
// memory (MADV_DONTNEED). For a shared read-only file mapping the pages
// stay in the page cache and are mapped again on the next access.
func releasePages(b []byte) {
	if len(b) == 0 {
		return
	}
	page := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(&b[0]))
	lo := (page - start%page) % page
	hi := uintptr(len(b)) - (start+uintptr(len(b)))%page
	if hi <= lo {
		return
	}
	_ = syscall.Madvise(b[lo:hi], syscall.MADV_DONTNEED) // only advice
}
