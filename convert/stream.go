package convert

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/quantize"
)

// chunkBytes bounds the working set of a streamed conversion: rows are read,
// reordered and converted this many source bytes at a time.
var chunkBytes int64 = 8 << 20

// Open returns a reader of plan p's bytes in its output type, in GGUF row
// order, or in Hugging Face row order when toHF is set. The tensor is read,
// reordered and converted a chunk of whole rows (whole heads, for Q/K) at a
// time, so memory stays bounded whatever the tensor's size.
func (m *Model) Open(p Plan, toHF bool) (io.Reader, error) {
	var src *io.SectionReader
	if p.data != nil {
		src = io.NewSectionReader(bytes.NewReader(p.data), 0, int64(len(p.data)))
	} else {
		var err error
		if src, err = m.tensorData(p.Tensor); err != nil {
			return nil, err
		}
	}
	info := p.Info()
	rowElems := info.Shape[0]
	rows := info.Rows()
	if len(info.Shape) == 1 {
		// A 1-D tensor (norm or bias): each element is a row for the
		// permutation, and it is small, so convert it whole.
		rowElems, rows = info.Shape[0], 1
	}
	if rows == 0 || rowElems == 0 {
		return eofReader{}, nil
	}
	inRow, err1 := p.Type.RowBytes(rowElems)
	outRow, err2 := p.Out.RowBytes(rowElems)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%s: tensor %s: shape %v does not fit %s -> %s", m.Path, p.SrcName, info.Shape, p.Type, p.Out)
	}
	r := &tensorReader{m: m, p: p, src: src, rows: rows, rowElems: rowElems, inRow: inRow, outRow: outRow}
	// Heads whose rows are reordered: from the source's layout to GGUF's,
	// then to HF's when writing a Hugging Face folder.
	r.fromHF = p.permuteHeads
	if toHF {
		r.toHF = qkHeads(m.Config, p.Name)
	}
	r.chunkRows = max(1, chunkBytes/max(inRow, outRow))
	if heads := max(r.fromHF, r.toHF); heads > 0 {
		if len(info.Shape) == 1 {
			r.chunkRows = 1 // the whole bias at once
		} else {
			// Whole heads per chunk, so the reordering stays inside a chunk.
			hd := rows / int64(heads)
			r.chunkRows = max(1, r.chunkRows/hd) * hd
		}
	}
	return r, nil
}

type tensorReader struct {
	m              *Model
	p              Plan
	src            *io.SectionReader
	rows, rowElems int64
	inRow, outRow  int64
	chunkRows      int64
	fromHF, toHF   int // heads to reorder, 0 for none
	done           int64
	in, out, tmp   []byte
	floats         []float32
	pending        []byte

	// non-finite source values seen so far, when m.NonFinite is set
	bad      int64
	badFirst int64
	badValue float64
}

func (r *tensorReader) Read(b []byte) (int, error) {
	if len(r.pending) == 0 {
		if r.done >= r.rows {
			return 0, io.EOF
		}
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	n := copy(b, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// next converts the next chunk of rows into r.pending.
func (r *tensorReader) next() error {
	n := min(r.chunkRows, r.rows-r.done)
	inLen := n * r.inRow
	r.in = grow(r.in, inLen)
	if _, err := r.src.ReadAt(r.in, r.done*r.inRow); err != nil && !(err == io.EOF && int64(len(r.in)) == inLen) {
		return &format.FormatError{File: r.m.Path, Tensor: r.p.SrcName, Offset: -1, Msg: "reading tensor data", Err: err}
	}
	data := r.in
	if r.m.NonFinite != nil && isFloat(r.p.Type) {
		r.scan(data)
	}
	var err error
	if r.fromHF > 0 {
		if data, err = r.reorder(data, r.fromHF, r.inRow, model.PermuteQK); err != nil {
			return err
		}
	}
	if r.p.Out != r.p.Type {
		elems := n * r.rowElems
		if int64(cap(r.floats)) < elems {
			r.floats = make([]float32, elems)
		}
		x := r.floats[:elems]
		if err := decodeRows(r.p.Type, x, data); err != nil {
			return fmt.Errorf("%s: tensor %s: %w", r.m.Path, r.p.SrcName, err)
		}
		r.out = grow(r.out, n*r.outRow)
		switch r.p.Out {
		case format.F32, format.F16, format.BF16:
			err = format.EncodeFloats(r.p.Out, x, r.out)
		default:
			err = quantize.EncodeRow(r.p.Out, r.out, x, nil)
		}
		if err != nil {
			return fmt.Errorf("tensor %s: %w", r.p.Name, err)
		}
		data = r.out
	}
	if r.toHF > 0 {
		if data, err = r.reorder(data, r.toHF, r.outRow, model.UnpermuteQK); err != nil {
			return err
		}
	}
	r.done += n
	r.pending = data
	if r.bad > 0 && r.done >= r.rows {
		r.m.NonFinite(r.p.Tensor, r.badFirst, r.badValue, r.bad)
	}
	return nil
}

// scan counts the NaN and infinite values of the chunk of source rows in
// data (rows from r.done on, in source order), remembering the first.
func (r *tensorReader) scan(data []byte) {
	size := int64(r.p.Type.BlockBytes())
	base := r.done * r.rowElems
	for i := int64(0); i+size <= int64(len(data)); i += size {
		v, ok := finiteAt(r.p.Type, data[i:i+size])
		if ok {
			continue
		}
		if r.bad == 0 {
			r.badFirst, r.badValue = base+i/size, v
		}
		r.bad++
	}
}

// finiteAt decodes one little-endian float element of type t (F32, F16,
// BF16 or F64) and reports whether it is finite; the value is returned
// only when it is not (NaN or ±Inf).
func finiteAt(t format.DType, b []byte) (float64, bool) {
	le := binary.LittleEndian
	var exp, mask, sign, mant uint64
	switch t {
	case format.F32:
		u := uint64(le.Uint32(b))
		exp, mask, sign, mant = u>>23&0xff, 0xff, u>>31, u&0x7fffff
	case format.F16:
		u := uint64(le.Uint16(b))
		exp, mask, sign, mant = u>>10&0x1f, 0x1f, u>>15, u&0x3ff
	case format.BF16:
		u := uint64(le.Uint16(b))
		exp, mask, sign, mant = u>>7&0xff, 0xff, u>>15, u&0x7f
	case format.F64:
		u := le.Uint64(b)
		exp, mask, sign, mant = u>>52&0x7ff, 0x7ff, u>>63, u&(1<<52-1)
	default:
		return 0, true
	}
	switch {
	case exp != mask:
		return 0, true
	case mant != 0:
		return math.NaN(), false
	case sign != 0:
		return math.Inf(-1), false
	}
	return math.Inf(1), false
}

// reorder applies a Q/K row permutation to a chunk of whole heads.
func (r *tensorReader) reorder(data []byte, heads int, rowBytes int64, perm func(dst, src []byte, nHeads, headDim, rowBytes int) error) ([]byte, error) {
	r.tmp = grow(r.tmp, int64(len(data)))
	var err error
	if len(r.p.Shape) == 1 {
		elem := int64(len(data)) / r.p.Shape[0]
		err = perm(r.tmp, data, heads, int(r.p.Shape[0])/heads, int(elem))
	} else {
		hd := r.rows / int64(heads)
		chunkRows := int64(len(data)) / rowBytes
		err = perm(r.tmp, data, int(chunkRows/hd), int(hd), int(rowBytes))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: tensor %s: %w", r.m.Path, r.p.SrcName, err)
	}
	// Swap buffers so the next step may reuse the input.
	out := r.tmp
	if &data[0] == &r.in[0] {
		r.tmp, r.in = r.in, r.tmp
	} else if len(r.out) > 0 && &data[0] == &r.out[0] {
		r.tmp, r.out = r.out, r.tmp
	}
	return out, nil
}

func grow(b []byte, n int64) []byte {
	if int64(cap(b)) < n {
		return make([]byte, n)
	}
	return b[:n]
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
