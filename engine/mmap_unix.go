//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package engine

import (
	"errors"
	"os"
	"syscall"
)

// mmapFile maps the whole file read-only and returns the bytes, a function
// that unmaps them and where they live. On Linux the mapping is set up for
// 2 MiB pages (see mapHuge; refresh allows it to re-read the file); with huge, a large file is copied into
// huge-page memory instead where possible (see Options.HugePages).
func mmapFile(f *os.File, size int64, huge, refresh bool) ([]byte, func() error, Residence, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, Residence{}, errors.New("engine: file size cannot be mapped")
	}
	if huge {
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
