//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package engine

import (
	"errors"
	"os"
)

// mmapFile is not available on this platform: Load reads the tensors into
// memory instead.
func mmapFile(f *os.File, size int64, copy, refresh bool) ([]byte, func() error, Residence, error) {
	return nil, nil, Residence{}, errors.New("engine: memory mapping not supported on this platform")
}
