package engine

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// Decoding streams every weight once per token, and with the 4 KiB pages
// of a file mapping the page walks (a TLB miss every 4 KiB) and the
// hardware prefetchers, which stop at page boundaries, cost 8-16% of
// decode speed. So on Linux a large GGUF file that fits comfortably in
// memory is copied into anonymous memory advised for transparent huge
// pages (2 MiB) instead of being mapped; the copy is read-only like the
// mapping. Smaller files, files larger than half the available memory,
// and systems where the copy fails use the plain mapping.

// hugeMin is the size under which files are mapped (a variable for tests).
var hugeMin int64 = 64 << 20

const (
	hugeAlign = 2 << 20
	madvHuge  = 14 // MADV_HUGEPAGE
)

// hugeCopy returns the file's bytes in huge-page-advised anonymous memory
// and the function that frees them, or false to map the file instead.
func hugeCopy(f *os.File, size int64) ([]byte, func() error, bool) {
	if size < hugeMin || size > memAvailable()/2 || int64(int(size+hugeAlign)) != size+hugeAlign {
		return nil, nil, false
	}
	all, err := syscall.Mmap(-1, 0, int(size)+hugeAlign, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, nil, false
	}
	release := func() error { return syscall.Munmap(all) }
	// Start on a 2 MiB boundary so that every full 2 MiB of the file can
	// be one huge page.
	skip := 0
	if r := addrOf(all) % hugeAlign; r != 0 {
		skip = hugeAlign - int(r)
	}
	data := all[skip : skip+int(size) : skip+int(size)]
	_ = syscall.Madvise(data, madvHuge) // only advice: fine if refused
	if n, _ := f.ReadAt(data, 0); n != len(data) {
		release()
		return nil, nil, false
	}
	if err := syscall.Mprotect(all, syscall.PROT_READ); err != nil {
		release()
		return nil, nil, false
	}
	return data, release, true
}

// memAvailable returns MemAvailable from /proc/meminfo in bytes, or 0.
func memAvailable() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "MemAvailable:" {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			if err != nil || kb < 0 {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// addrOf returns the address of b's first byte.
func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
