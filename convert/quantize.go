package convert

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/quantize"
)

// QuantizeOptions adjust WriteQuantized.
type QuantizeOptions struct {
	// Threads is the number of goroutines encoding rows (0: all cores).
	Threads int
	// Context, when not nil, is checked before each tensor and each chunk
	// of rows: once it is done, WriteQuantized returns its error and
	// leaves no file.
	Context context.Context
	// Importance returns the importance-matrix entry (one value per
	// element of a row) to weight the scale searches of a tensor, or nil.
	Importance func(name string) []float32
	// Progress, when not nil, is called after each chunk of rows with the
	// plan's index and the number of its elements done so far.
	Progress func(i int, p Plan, done int64)
	// Deferred lists string metadata values computed while the tensors
	// are written (such as a hash of the source files): md holds a
	// placeholder of the final length under each key, and the value is
	// patched into the header before the file is committed.
	Deferred map[string]func() (string, error)
	// WholeTensor, when not nil, is asked for each tensor to quantize; a
	// non-nil TensorEncoder it returns receives the whole tensor at once
	// (all rows decoded to float32) instead of the row encoders, for
	// methods such as GPTQ that need every row together.
	WholeTensor func(name string, out format.DType) TensorEncoder
	// Chunked, when not nil, is asked (after WholeTensor) for each tensor
	// to quantize; a non-nil ChunkEncoder it returns receives the tensor's
	// rows decoded to float32 a chunk at a time, in order, instead of the
	// row encoders: for methods such as GPTQ whose rows are quantized
	// independently given per-tensor state the encoder keeps, with the
	// memory of a chunk rather than of the whole tensor.
	Chunked func(name string, out format.DType) ChunkEncoder
}

// ChunkEncoder encodes rows rows of cols elements (row-major float32 x),
// the tensor's rows row0 ..., into dst, exactly their bytes in the output
// type. It is called for consecutive chunks, one at a time.
type ChunkEncoder func(dst []byte, x []float32, row0, rows, cols int) error

// TensorEncoder encodes a whole tensor of rows rows of cols elements
// (row-major float32 x) into dst, exactly its bytes in the output type.
type TensorEncoder func(dst []byte, x []float32, rows, cols int) error

// chunkElemsPerThread bounds the working set of WriteQuantized: each chunk
// holds about this many elements per thread (as source bytes, float32 and
// encoded bytes).
var chunkElemsPerThread int64 = 1 << 20

func isFloat(t format.DType) bool {
	return t == format.F32 || t == format.F16 || t == format.BF16 || t == format.F64
}

// decodeRows decodes src, whole rows of type t, into dst as float32. F32,
// BF16 and F64 go through format.DecodeFloats; F16 and the quantized types
// through the quantize codecs (F16 by F16C or table lookup, bit-identical
// to format.DecodeFloats and faster).
func decodeRows(t format.DType, dst []float32, src []byte) error {
	if isFloat(t) && t != format.F16 {
		return format.DecodeFloats(t, src, dst)
	}
	return quantize.DecodeRow(t, dst, src)
}

// WriteQuantized writes the plans as a GGUF file at dst with metadata md,
// through a temporary file renamed into place when complete. A tensor
// whose output type is its stored (quantized) type is copied; every other
// tensor is read a chunk of whole rows at a time, decoded to float32,
// checked for NaN and infinities (an error naming the tensor and element),
// and encoded to its output type, the chunk's rows split across
// opt.Threads goroutines, so memory stays bounded by a few chunks whatever
// the model's size.
func (m *Model) WriteQuantized(dst string, md *gguf.Metadata, plans []Plan, opt QuantizeOptions) error {
	threads := opt.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	infos := make([]format.TensorInfo, len(plans))
	for i, p := range plans {
		infos[i] = format.TensorInfo{Name: p.Name, Type: p.Out, Shape: p.Shape}
	}
	bufs := new([2]chunkBufs) // reused by every tensor's conversion
	fill := func(i int, w io.Writer) error {
		if err := ctxErr(opt.Context); err != nil {
			return err
		}
		p := plans[i]
		var r io.Reader
		if p.Out == p.Type && !isFloat(p.Type) {
			var err error
			if r, err = m.Open(p, false); err != nil {
				return err
			}
		} else {
			var imp []float32
			if opt.Importance != nil && p.Out.Quantized() {
				imp = opt.Importance(p.Name)
			}
			qr, err := m.newQuantReader(p, imp, threads)
			if err != nil {
				return err
			}
			qr.bufs = bufs
			qr.ctx = opt.Context
			if opt.WholeTensor != nil && p.Out.Quantized() {
				if enc := opt.WholeTensor(p.Name, p.Out); enc != nil {
					qr.chunked = func(dst []byte, x []float32, _, rows, cols int) error { return enc(dst, x, rows, cols) }
					qr.chunkRows = max(qr.rows, 1)
				}
			}
			if qr.chunked == nil && opt.Chunked != nil && p.Out.Quantized() {
				qr.chunked = opt.Chunked(p.Name, p.Out)
			}
			if opt.Progress != nil {
				qr.progress = func(done int64) { opt.Progress(i, p, done) }
			}
			r = qr
		}
		if err := copyTensor(w, r, infos[i]); err != nil {
			return fmt.Errorf("%s: tensor %s: %w", dst, p.Name, err)
		}
		return nil
	}
	return gguf.WriteFileDeferred(dst, md, infos, fill, opt.Deferred)
}

// ctxErr returns ctx's error, nil for a nil ctx.
func ctxErr(ctx context.Context) error {
	if ctx == nil {
		return nil
	}
	return ctx.Err()
}

// copyTensor copies t's bytes from r to w: exactly t.Bytes(), an error
// when r ends sooner.
func copyTensor(w io.Writer, r io.Reader, t format.TensorInfo) error {
	n, err := io.CopyN(w, r, t.Bytes())
	if err == io.EOF {
		err = fmt.Errorf("%w: source ended after %d of %d bytes", io.ErrUnexpectedEOF, n, t.Bytes())
	}
	return err
}

// quantReader serves a plan's bytes in its output type, converting a chunk
// of rows at a time in parallel. While the caller writes one chunk, the
// next one is read and converted in the background (two sets of buffers
// alternate), so both the cores and the output stay busy.
type quantReader struct {
	m         *Model
	p         Plan
	raw       io.Reader         // source bytes in GGUF row order, stored type
	src       *io.SectionReader // the same bytes, when stored in that order
	imp       []float32
	threads   int
	rowLen    int64
	rows      int64
	inRow     int64
	outRow    int64
	chunkRows int64
	done      int64         // rows served (or being served) to the caller
	started   int64         // rows handed to the background conversion
	bufs      *[2]chunkBufs // alternating buffer sets
	cur       int           // the buffer set of the chunk in flight
	inflight  chan chunkRes // the chunk being converted, when not nil
	pending   []byte
	progress  func(done int64)
	chunked   ChunkEncoder // encodes a chunk's rows at once
	ctx       context.Context
}

// chunkBufs holds one chunk's source bytes, decoded values (whole-tensor
// encoders only) and encoded bytes.
type chunkBufs struct {
	in  []byte
	x   []float32
	out []byte
}

// chunkRes is the outcome of converting one chunk.
type chunkRes struct {
	n   int64
	out []byte
	err error
}

// taskElems is the size of the units of work the threads take from a
// chunk: rows adding up to about this many elements, decoded into a
// per-thread buffer that stays in cache while it is encoded.
const taskElems = 1 << 16

func (m *Model) newQuantReader(p Plan, imp []float32, threads int) (*quantReader, error) {
	info := p.Info()
	rowLen, rows := info.Shape[0], info.Rows()
	if len(info.Shape) == 0 {
		rowLen, rows = 1, 1
	}
	inRow, err1 := p.Type.RowBytes(rowLen)
	outRow, err2 := p.Out.RowBytes(rowLen)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%s: tensor %s: rows of %d do not fit %s -> %s", m.Path, p.SrcName, rowLen, p.Type, p.Out)
	}
	if imp != nil && int64(len(imp)) != rowLen && (len(info.Shape) < 3 || int64(len(imp)) != rowLen*info.Shape[2]) {
		return nil, fmt.Errorf("%s: tensor %s: %d importances for rows of %d", m.Path, p.Name, len(imp), rowLen)
	}
	// The raw bytes, reordered to GGUF's rows but not converted.
	raw, err := m.Open(Plan{Tensor: p.Tensor, Out: p.Type}, false)
	if err != nil {
		return nil, err
	}
	// Rows that need no reordering are read straight into the chunk.
	var src *io.SectionReader
	if p.permuteHeads == 0 && p.data == nil {
		if src, err = m.tensorData(p.Tensor); err != nil {
			return nil, err
		}
	}
	chunkRows := max(1, int64(threads)*chunkElemsPerThread/max(rowLen, 1))
	return &quantReader{m: m, p: p, raw: raw, src: src, imp: imp, threads: threads, rowLen: rowLen, rows: rows,
		inRow: inRow, outRow: outRow, chunkRows: min(chunkRows, max(rows, 1))}, nil
}

func (r *quantReader) Read(b []byte) (int, error) {
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

// next waits for the chunk in flight (starting it first if none is),
// starts converting the following one into the other buffer set, and
// serves the finished chunk from r.pending.
func (r *quantReader) next() error {
	if r.inflight == nil {
		r.start()
	}
	res := <-r.inflight
	r.inflight = nil
	if res.err != nil {
		return res.err
	}
	if r.started < r.rows {
		r.cur ^= 1
		r.start()
	}
	r.done += res.n
	r.pending = res.out
	if r.progress != nil {
		r.progress(r.done * r.rowLen)
	}
	return nil
}

// start converts the next chunk in the background into r.bufs[r.cur];
// its outcome arrives on r.inflight.
func (r *quantReader) start() {
	first := r.started
	n := min(r.chunkRows, r.rows-first)
	r.started += n
	ch := make(chan chunkRes, 1)
	r.inflight = ch
	if r.bufs == nil {
		r.bufs = new([2]chunkBufs)
	}
	b := &r.bufs[r.cur]
	go func() {
		err := r.convert(b, first, n)
		ch <- chunkRes{n: n, out: b.out, err: err}
	}()
}

// convert reads rows [first, first+n) of the source into b and encodes
// them, the rows split into tasks of about taskElems elements that
// r.threads goroutines take in turn.
func (r *quantReader) convert(b *chunkBufs, first, n int64) error {
	if err := ctxErr(r.ctx); err != nil {
		return err
	}
	b.in = grow(b.in, n*r.inRow)
	var err error
	if r.src != nil {
		var got int
		got, err = r.src.ReadAt(b.in, first*r.inRow)
		if err == io.EOF && got == len(b.in) {
			err = nil
		}
	} else {
		_, err = io.ReadFull(r.raw, b.in)
	}
	if err != nil {
		return &format.FormatError{File: r.m.Path, Tensor: r.p.SrcName, Offset: -1, Msg: "reading tensor data", Err: err}
	}
	b.out = grow(b.out, n*r.outRow)
	if r.chunked != nil {
		if elems := n * r.rowLen; int64(cap(b.x)) < elems {
			b.x = make([]float32, elems)
		}
		b.x = b.x[:n*r.rowLen]
	}
	taskRows := max(1, taskElems/max(r.rowLen, 1))
	tasks := (n + taskRows - 1) / taskRows
	threads := int64(max(1, min(int64(r.threads), tasks)))
	errs := make([]error, threads)
	var next atomic.Int64
	work := func(w int64) {
		var scratch []float32
		for {
			t := next.Add(1) - 1
			if t >= tasks {
				return
			}
			lo, hi := t*taskRows, min(n, (t+1)*taskRows)
			var xs []float32
			if r.chunked != nil {
				xs = b.x[lo*r.rowLen : hi*r.rowLen]
			} else {
				if int64(cap(scratch)) < (hi-lo)*r.rowLen {
					scratch = make([]float32, taskRows*r.rowLen)
				}
				xs = scratch[:(hi-lo)*r.rowLen]
			}
			if err := r.encodeTask(b, xs, first, lo, hi); err != nil {
				errs[w] = err
				next.Store(tasks) // the others stop at their next task
				return
			}
		}
	}
	if threads == 1 {
		work(0)
	} else {
		var wg sync.WaitGroup
		for w := int64(0); w < threads; w++ {
			wg.Add(1)
			go func() { defer wg.Done(); work(w) }()
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if r.chunked != nil {
		if err := r.chunked(b.out, b.x, int(first), int(n), int(r.rowLen)); err != nil {
			return fmt.Errorf("%s: tensor %s: %w", r.m.Path, r.p.Name, err)
		}
	}
	return nil
}

// encodeTask decodes the chunk's rows [lo, hi) (the tensor's rows
// first+lo ...) into xs, checks them and, without a chunk encoder,
// encodes them into b.out.
func (r *quantReader) encodeTask(b *chunkBufs, xs []float32, first, lo, hi int64) error {
	in := b.in[lo*r.inRow : hi*r.inRow]
	if err := decodeRows(r.p.Type, xs, in); err != nil {
		return fmt.Errorf("%s: tensor %s: %w", r.m.Path, r.p.SrcName, err)
	}
	if err := quantize.CheckFinite(r.p.Name, xs); err != nil {
		// Name the element in the whole tensor.
		for i, v := range xs {
			if v != v || v-v != 0 {
				err = fmt.Errorf("%s: %w: tensor %q element %d (row %d) is %v", r.m.Path, quantize.ErrNonFinite, r.p.Name,
					(first+lo)*r.rowLen+int64(i), first+lo+int64(i)/r.rowLen, v)
				break
			}
		}
		return err
	}
	if r.chunked != nil {
		return nil
	}
	return quantize.EncodeExpertRows(r.p.Out, b.out[lo*r.outRow:hi*r.outRow], xs, int(r.rowLen), r.imp, int(first+lo), int(r.rows), 1)
}
