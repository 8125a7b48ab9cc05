package engine

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// Unless Options.Mmap asks for the mapping, a large GGUF file that fits
// comfortably in memory is copied into anonymous memory advised for
// transparent huge pages (2 MiB) instead of being mapped (see
// hugemap_linux.go for why 2 MiB pages matter and how a mapping gets
// them); the copy is read-only like the mapping. Smaller files, files
// larger than half the available memory, and systems where the copy fails
// use the mapping.

// hugeMin is the size under which files are mapped (a variable for tests).
var hugeMin int64 = 64 << 20

const (
	hugeAlign = 2 << 20
	madvHuge  = 14 // MADV_HUGEPAGE
)

// hugeCopy returns the file's bytes in huge-page-advised anonymous memory,
// the function that frees them and the part of them in 2 MiB pages, or
// false to map the file instead.
func hugeCopy(f *os.File, size int64) ([]byte, func() error, float64, bool) {
	if size < hugeMin || size > memAvailable()/2 || int64(int(size+hugeAlign)) != size+hugeAlign {
		return nil, nil, 0, false
	}
	all, err := syscall.Mmap(-1, 0, int(size)+hugeAlign, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, nil, 0, false
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
		return nil, nil, 0, false
	}
	if err := syscall.Mprotect(all, syscall.PROT_READ); err != nil {
		release()
		return nil, nil, 0, false
	}
	kb, _ := smapsKB(addrOf(data), "AnonHugePages:") // madvise split the mapping at data
	return data, release, float64(kb<<10) / float64(size), true
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
