package format

import (
	"fmt"
	"io"
)

// chunk is the most ReadAtMost allocates before it has seen the data exist.
const chunk = 10 << 20

// ReadAt reads n bytes at offset off of r without trusting n: it allocates in
// chunks as data arrives, so a hostile size cannot cause a huge allocation
// before the short read is noticed (like internal/saferio). size is the
// total size of r; a range outside it is an error without reading.
func ReadAt(r io.ReaderAt, size, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off > size || n > size-off {
		return nil, fmt.Errorf("range [%d, %d+%d) outside the file of %d bytes: %w", off, off, n, size, io.ErrUnexpectedEOF)
	}
	if n <= chunk {
		buf := make([]byte, n)
		if m, err := r.ReadAt(buf, off); int64(m) < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return buf, nil
	}
	var buf []byte
	for n > 0 {
		c := min(n, chunk)
		p := make([]byte, c)
		if m, err := r.ReadAt(p, off); int64(m) < c {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		buf = append(buf, p...)
		off += c
		n -= c
	}
	return buf, nil
}
