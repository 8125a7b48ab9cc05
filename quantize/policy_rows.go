package quantize

import (
	"fmt"
	"sync"

	"github.com/shrink-llm/shrink/format"
)

// EncodeRows encodes rows of rowLen values from src into dst as type t,
// one row at a time (the importance-weighted searches average over a row,
// so rows must not be merged), splitting the rows across up to threads
// goroutines. imp, when not nil, holds rowLen importances (one per input
// channel, an importance-matrix entry) shared by every row. Float types
// (F32, F16, BF16) are converted directly.
func EncodeRows(t format.DType, dst []byte, src []float32, rowLen int, imp []float32, threads int) error {
	if rowLen <= 0 || len(src)%rowLen != 0 {
		return fmt.Errorf("%w: %d values are not whole rows of %d", ErrLength, len(src), rowLen)
	}
	rowBytes, err := t.RowBytes(int64(rowLen))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLength, err)
	}
	rows := len(src) / rowLen
	if int64(len(dst)) != int64(rows)*rowBytes {
		return fmt.Errorf("%w: %d rows of %s need %d bytes, have %d", ErrLength, rows, t, int64(rows)*rowBytes, len(dst))
	}
	if imp != nil && len(imp) != rowLen {
		return fmt.Errorf("%w: %d importances for rows of %d", ErrLength, len(imp), rowLen)
	}
	switch t {
	case format.F32, format.F16, format.BF16:
		return format.EncodeFloats(t, src, dst)
	}
	if _, ok := CodecFor(t); !ok {
		return fmt.Errorf("%w: %s", ErrUnsupported, t)
	}
	rb := int(rowBytes)
	encode := func(lo, hi int) error {
		if imp == nil {
			// The reference searches work block by block: one call.
			return EncodeRow(t, dst[lo*rb:hi*rb], src[lo*rowLen:hi*rowLen], nil)
		}
		for r := lo; r < hi; r++ {
			if err := EncodeRow(t, dst[r*rb:(r+1)*rb], src[r*rowLen:(r+1)*rowLen], imp); err != nil {
				return err
			}
		}
		return nil
	}
	threads = max(1, min(threads, rows))
	if threads == 1 {
		return encode(0, rows)
	}
	var wg sync.WaitGroup
	errs := make([]error, threads)
	for w := 0; w < threads; w++ {
		lo, hi := rows*w/threads, rows*(w+1)/threads
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = encode(lo, hi)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// EncodeExpertRows is EncodeRows for rows row0.. of a tensor of
// tensorRows rows whose importances may hold one entry per expert (a
// stacked expert tensor's imatrix entry: experts × rowLen values, the
// experts' rows consecutive): each expert's rows are encoded with its
// own entry. With at most rowLen importances it is EncodeRows.
func EncodeExpertRows(t format.DType, dst []byte, src []float32, rowLen int, imp []float32, row0, tensorRows, threads int) error {
	if len(imp) <= rowLen {
		return EncodeRows(t, dst, src, rowLen, imp, threads)
	}
	experts := len(imp) / rowLen
	if rowLen <= 0 || len(src)%rowLen != 0 || len(imp)%rowLen != 0 || tensorRows%experts != 0 {
		return fmt.Errorf("%w: %d importances for %d rows of %d", ErrLength, len(imp), tensorRows, rowLen)
	}
	rows := len(src) / rowLen
	rb := len(dst) / max(rows, 1)
	per := tensorRows / experts
	for a := 0; a < rows; {
		e := (row0 + a) / per
		b := min(rows, (e+1)*per-row0)
		if err := EncodeRows(t, dst[a*rb:b*rb], src[a*rowLen:b*rowLen], rowLen, imp[e*rowLen:(e+1)*rowLen], threads); err != nil {
			return err
		}
		a = b
	}
	return nil
}
