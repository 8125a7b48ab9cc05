//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package engine

import (
	"errors"
	"os"
	"syscall"
)

// mmapFile returns the whole file's bytes, a function that releases them and
// where they live: with copy, a large file that fits in memory is copied
// into huge-page memory (see Options.Mmap); otherwise, or where that fails,
// it is mapped read-only, on Linux set up for 2 MiB pages (see mapHuge;
// refresh allows it to re-read the file).
func mmapFile(f *os.File, size int64, copy, refresh bool) ([]byte, func() error, Residence, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, Residence{}, errors.New("engine: file size cannot be mapped")
	}
	if copy {
		if data, release, share, ok := hugeCopy(f, size); ok {
			return data, release, Residence{Mode: "copied", HugeShare: share}, nil
		}
	}
	if data, release, share, err := mapHuge(f, size, refresh); err == nil {
		return data, release, Residence{Mode: "mapped", HugeShare: share}, nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, Residence{}, err
	}
	return data, func() error { return syscall.Munmap(data) }, Residence{Mode: "mapped"}, nil
}
