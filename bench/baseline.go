package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/shrink-llm/shrink/format"
)

// Baseline file layout (little-endian), version 1:
//
//	offset  size  field
//	0       8     magic "SHRKBASE"
//	8       4     uint32 version (1)
//	12      4     uint32 n_ctx: tokens per chunk
//	16      4     uint32 n_vocab
//	20      4     uint32 n_chunk
//	24      4     int32  bos: the token that replaces each chunk's first token, -1 for none
//	28      4     uint32 reserved, 0
//	32      4·n_chunk·n_ctx   int32 tokens, as tokenized (before the BOS replacement)
//	...     n_chunk·(n_ctx-1-n_ctx/2) records of 16+2·n_vocab bytes, in scoring order:
//	          float32 scale       (16/65535)
//	          float32 min_log_prob (the floor: max log-prob - 16)
//	          float32 nll          exact -log p(next token)
//	          int32   top          exact argmax of the logits
//	          uint16  code[n_vocab] log p_i ≈ min_log_prob + scale·code_i; code 0 = at or below the floor
//
// llama.cpp's --kl-divergence-base files are also read: magic "_logits_",
// int32 n_ctx, n_vocab, n_chunk, the tokens, then per scored token
// 2·((n_vocab+1)/2)+4 uint16: float32 scale, float32 min_log_prob and the
// codes (no exact NLL or top-1; they are taken from the codes). There the
// codes span [min', max] of the logits, min' = max(smallest, max-16), with
// scale (max-min')/65535: when the logits span less than 16 nats, code 0 is
// the smallest logit and holds probability; scale 0 means all are equal.
// bench/testdata/llama-stories260k-c128.kld is such a file, written by
// llama-perplexity.

// BaselineMagic starts a shrink baseline file.
const BaselineMagic = "SHRKBASE"

// llamaMagic starts a llama.cpp --kl-divergence-base file.
const llamaMagic = "_logits_"

// BaselineVersion is the version WriteBaseline writes.
const BaselineVersion = 1

const (
	baselineHeader = 32
	llamaHeader    = 20
	codeRange      = 16.0 // nats covered by the codes below the top log-prob
	maxCtx         = 1 << 24
	maxVocab       = 1 << 24
)

// ErrBaseline reports a malformed or mismatched baseline file.
var ErrBaseline = errors.New("bench: bad baseline file")

// scoredPerChunk is the number of scored tokens in a chunk of ctx tokens.
func scoredPerChunk(ctx int) int { return ctx - 1 - ctx/2 }

// BaselineFile is an open baseline file. Tokens are read when it is opened,
// records on demand.
type BaselineFile struct {
	Path    string
	Version int   // 1, or 0 for a llama.cpp file
	Ctx     int   // tokens per chunk
	Vocab   int   // vocabulary size
	Chunks  int   // number of chunks
	BOS     int32 // first token of every chunk; -1 none; -2 unknown (llama.cpp file: use the model's)
	Tokens  []int32

	r       io.ReaderAt
	closer  io.Closer
	recOff  int64
	recSize int64
	buf     []byte
}

// Records returns the number of scored-token records.
func (b *BaselineFile) Records() int { return b.Chunks * scoredPerChunk(b.Ctx) }

// Close closes the file opened by OpenBaseline.
func (b *BaselineFile) Close() error {
	if b.closer != nil {
		return b.closer.Close()
	}
	return nil
}

// Record is one scored token of a baseline file.
type Record struct {
	Scale      float32
	MinLogProb float32
	Exact      bool    // NLL and Top are exact (shrink file), not from codes
	NLL        float64 // -log p(next token)
	Top        int32   // argmax of the baseline's distribution
	Codes      []uint16
}

func baseErr(path string, off int64, format_ string, args ...any) error {
	return &format.FormatError{File: path, Offset: off, Msg: fmt.Sprintf(format_, args...), Err: ErrBaseline}
}

// OpenBaseline opens a baseline file.
func OpenBaseline(path string) (*BaselineFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	b, err := NewBaselineReader(f, fi.Size())
	if err != nil {
		f.Close()
		var fe *format.FormatError
		if errors.As(err, &fe) && fe.File == "" {
			fe.File = path
		}
		return nil, err
	}
	b.Path, b.closer = path, f
	return b, nil
}

// NewBaselineReader reads the header and tokens of a baseline file of size
// bytes. Every count is checked against size before anything is allocated.
func NewBaselineReader(r io.ReaderAt, size int64) (*BaselineFile, error) {
	head, err := format.ReadAt(r, size, 0, min(size, baselineHeader))
	if err != nil || len(head) < 8 {
		return nil, baseErr("", 0, "file of %d bytes is too short for a baseline header", size)
	}
	le := binary.LittleEndian
	b := &BaselineFile{r: r}
	var hdr int64
	switch string(head[:8]) {
	case BaselineMagic:
		if len(head) < baselineHeader {
			return nil, baseErr("", 0, "file of %d bytes is too short for a baseline header", size)
		}
		if v := le.Uint32(head[8:]); v != BaselineVersion {
			return nil, baseErr("", 8, "version %d, this reader knows %d", v, BaselineVersion)
		}
		b.Version = BaselineVersion
		b.Ctx, b.Vocab, b.Chunks = int(le.Uint32(head[12:])), int(le.Uint32(head[16:])), int(le.Uint32(head[20:]))
		b.BOS = int32(le.Uint32(head[24:]))
		hdr = baselineHeader
	case llamaMagic:
		if len(head) < llamaHeader {
			return nil, baseErr("", 0, "file of %d bytes is too short for a llama.cpp logits header", size)
		}
		c, v, n := int32(le.Uint32(head[8:])), int32(le.Uint32(head[12:])), int32(le.Uint32(head[16:]))
		if c < 0 || v < 0 || n < 0 {
			return nil, baseErr("", 8, "negative size in header (n_ctx %d, n_vocab %d, n_chunk %d)", c, v, n)
		}
		b.Ctx, b.Vocab, b.Chunks, b.BOS = int(c), int(v), int(n), -2
		hdr = llamaHeader
	default:
		return nil, baseErr("", 0, "magic %q is neither %q nor %q", head[:8], BaselineMagic, llamaMagic)
	}
	if b.Ctx < 3 || b.Ctx > maxCtx {
		return nil, baseErr("", 12, "n_ctx %d out of range 3..%d", b.Ctx, maxCtx)
	}
	if b.Vocab < 1 || b.Vocab > maxVocab {
		return nil, baseErr("", 16, "n_vocab %d out of range 1..%d", b.Vocab, maxVocab)
	}
	if b.Chunks < 1 {
		return nil, baseErr("", 20, "no chunks")
	}
	if b.BOS < -2 || (b.BOS >= 0 && int(b.BOS) >= b.Vocab) {
		return nil, baseErr("", 24, "bos %d not a token of the %d-entry vocabulary", b.BOS, b.Vocab)
	}
	b.recSize = 16 + 2*int64(b.Vocab)
	if b.Version == 0 {
		b.recSize = 2 * (2*((int64(b.Vocab)+1)/2) + 4)
	}
	// Bound every product by the file size before multiplying further.
	avail := size - hdr
	nTok := int64(b.Chunks) * int64(b.Ctx) // < 2^56
	if nTok > avail/4 {
		return nil, baseErr("", hdr, "%d chunks of %d tokens do not fit in a file of %d bytes", b.Chunks, b.Ctx, size)
	}
	b.recOff = hdr + 4*nTok
	nRec := int64(b.Chunks) * int64(scoredPerChunk(b.Ctx))
	if want := (size - b.recOff) / b.recSize; nRec != want || (size-b.recOff)%b.recSize != 0 {
		return nil, baseErr("", b.recOff, "file of %d bytes: expected %d records of %d bytes after the tokens (%d bytes)", size, nRec, b.recSize, nRec*b.recSize+b.recOff)
	}
	raw, err := format.ReadAt(r, size, hdr, 4*nTok)
	if err != nil {
		return nil, baseErr("", hdr, "reading tokens: %v", err)
	}
	b.Tokens = make([]int32, nTok)
	for i := range b.Tokens {
		t := int32(le.Uint32(raw[4*i:]))
		if t < 0 || int(t) >= b.Vocab {
			return nil, baseErr("", hdr+4*int64(i), "token %d not in the %d-entry vocabulary", t, b.Vocab)
		}
		b.Tokens[i] = t
	}
	return b, nil
}

// Record reads record i (0 <= i < Records()) into rec, reusing its Codes.
func (b *BaselineFile) Record(i int, rec *Record) error {
	if i < 0 || i >= b.Records() {
		return fmt.Errorf("%w: record %d of %d", ErrBaseline, i, b.Records())
	}
	off := b.recOff + int64(i)*b.recSize
	if int64(cap(b.buf)) < b.recSize {
		b.buf = make([]byte, b.recSize)
	}
	buf := b.buf[:b.recSize]
	if _, err := b.r.ReadAt(buf, off); err != nil {
		return baseErr(b.Path, off, "record %d: %v", i, err)
	}
	le := binary.LittleEndian
	rec.Scale = math.Float32frombits(le.Uint32(buf))
	rec.MinLogProb = math.Float32frombits(le.Uint32(buf[4:]))
	// llama.cpp writes scale 0 when every logit is equal (all codes 0).
	okScale := rec.Scale > 0 || (b.Version == 0 && rec.Scale == 0)
	if !(okScale && rec.Scale < 1) || math.IsNaN(float64(rec.MinLogProb)) || math.IsInf(float64(rec.MinLogProb), 0) {
		return baseErr(b.Path, off, "record %d: scale %g / min_log_prob %g out of range", i, rec.Scale, rec.MinLogProb)
	}
	codes := buf[8:]
	rec.Exact = b.Version > 0
	if rec.Exact {
		rec.NLL = float64(math.Float32frombits(le.Uint32(buf[8:])))
		rec.Top = int32(le.Uint32(buf[12:]))
		if rec.Top < 0 || int(rec.Top) >= b.Vocab || math.IsNaN(rec.NLL) || rec.NLL < 0 {
			return baseErr(b.Path, off+8, "record %d: nll %g / top %d out of range", i, rec.NLL, rec.Top)
		}
		codes = buf[16:]
	}
	if cap(rec.Codes) < b.Vocab {
		rec.Codes = make([]uint16, b.Vocab)
	}
	rec.Codes = rec.Codes[:b.Vocab]
	for j := range rec.Codes {
		rec.Codes[j] = le.Uint16(codes[2*j:])
	}
	if !rec.Exact {
		top := 0
		for j, c := range rec.Codes {
			if c > rec.Codes[top] {
				top = j
			}
		}
		rec.Top = int32(top)
	}
	return nil
}

// ChunkTokens returns the tokens evaluated for chunk c, with the BOS
// replacement applied (bos is used when the file does not say).
func (b *BaselineFile) ChunkTokens(c int, bos int32) []int32 {
	t := append([]int32(nil), b.Tokens[c*b.Ctx:(c+1)*b.Ctx]...)
	if b.BOS >= 0 {
		t[0] = b.BOS
	} else if b.BOS == -2 && bos >= 0 {
		t[0] = bos
	}
	return t
}

// BaselineWriter writes a baseline file: the header and tokens first, then
// one record per scored token in scoring order.
type BaselineWriter struct {
	w        *bufio.Writer
	vocab    int
	want     int
	n        int
	buf      []byte
	scratch  []float64
	finished bool
}

// NewBaselineWriter writes the header and tokens (chunks·ctx of them, as
// tokenized, before the BOS replacement; bos -1 for none) to w.
func NewBaselineWriter(w io.Writer, ctx, vocab int, bos int32, tokens []int32) (*BaselineWriter, error) {
	if ctx < 3 || ctx > maxCtx || vocab < 1 || vocab > maxVocab || len(tokens) == 0 || len(tokens)%ctx != 0 {
		return nil, fmt.Errorf("%w: ctx %d, vocab %d, %d tokens", ErrBaseline, ctx, vocab, len(tokens))
	}
	bw := &BaselineWriter{w: bufio.NewWriterSize(w, 1<<20), vocab: vocab, want: len(tokens) / ctx * scoredPerChunk(ctx)}
	le := binary.LittleEndian
	h := []byte(BaselineMagic)
	h = le.AppendUint32(h, BaselineVersion)
	h = le.AppendUint32(h, uint32(ctx))
	h = le.AppendUint32(h, uint32(vocab))
	h = le.AppendUint32(h, uint32(len(tokens)/ctx))
	h = le.AppendUint32(h, uint32(bos))
	h = le.AppendUint32(h, 0)
	for _, t := range tokens {
		h = le.AppendUint32(h, uint32(t))
	}
	if _, err := bw.w.Write(h); err != nil {
		return nil, err
	}
	return bw, nil
}

// Add appends the record of one scored token from the baseline's logits and
// the actual next token.
func (bw *BaselineWriter) Add(logits []float32, next int32) error {
	if len(logits) != bw.vocab || next < 0 || int(next) >= bw.vocab {
		return fmt.Errorf("%w: %d logits, next token %d, vocabulary %d", ErrBaseline, len(logits), next, bw.vocab)
	}
	if bw.n >= bw.want {
		return fmt.Errorf("%w: more than the %d records of the header", ErrBaseline, bw.want)
	}
	if cap(bw.scratch) < bw.vocab {
		bw.scratch = make([]float64, bw.vocab)
	}
	lp := bw.scratch[:bw.vocab]
	top := LogSoftmax(lp, logits)
	le := binary.LittleEndian
	b := bw.buf[:0]
	const scale = float32(codeRange / 65535)
	floor := lp[top] - codeRange
	b = le.AppendUint32(b, math.Float32bits(scale))
	b = le.AppendUint32(b, math.Float32bits(float32(floor)))
	b = le.AppendUint32(b, math.Float32bits(float32(-lp[next])))
	b = le.AppendUint32(b, uint32(top))
	for _, l := range lp {
		b = le.AppendUint16(b, encodeCode(l, floor, float64(scale)))
	}
	bw.buf = b
	bw.n++
	_, err := bw.w.Write(b)
	return err
}

func encodeCode(lp, floor, scale float64) uint16 {
	v := math.Round((lp - floor) / scale)
	switch {
	case !(v > 0):
		return 0
	case v > 65535:
		return 65535
	}
	return uint16(v)
}

// Close flushes the writer and checks that every record was written.
func (bw *BaselineWriter) Close() error {
	if err := bw.w.Flush(); err != nil {
		return err
	}
	if bw.n != bw.want {
		return fmt.Errorf("%w: %d records written, %d expected", ErrBaseline, bw.n, bw.want)
	}
	return nil
}

// zeroIsMin reports whether code 0 stands for the smallest log-probability
// itself rather than for "at or below the floor": in a llama.cpp record
// whose logits span less than 16 nats, the codes cover the whole range
// (scale = (max-min)/65535) and code 0 is the minimum logit, which holds
// probability mass. A shrink record always spans 16 nats.
func (rec *Record) zeroIsMin() bool {
	return !rec.Exact && float64(rec.Scale)*65535 < codeRange*(1-1e-5)
}

// CompareCoded scores one position against a baseline record: cand the
// candidate's logits, next the actual next token, lp and lq scratch slices
// of at least len(cand) values. The baseline's decoded log-probabilities
// above the floor are renormalized before the KL sum.
func CompareCoded(rec *Record, cand []float32, next int32, lp, lq []float64) TokenScore {
	n := len(cand)
	lq = lq[:n]
	tq := LogSoftmax(lq, cand)
	s := TokenScore{NLL: -lq[next]}
	lp = lp[:n]
	scale, floor := float64(rec.Scale), float64(rec.MinLogProb)
	zero := rec.zeroIsMin()
	var z float64
	for i, c := range rec.Codes {
		if c > 0 || zero {
			lp[i] = floor + scale*float64(c)
			z += math.Exp(lp[i])
		}
	}
	logZ := math.Log(z)
	var kld float64
	for i, c := range rec.Codes {
		if c > 0 || zero {
			l := lp[i] - logZ
			kld += math.Exp(l) * (l - lq[i])
		}
	}
	s.KLD = kld
	if rec.Exact {
		s.BaseNLL = rec.NLL
	} else {
		s.BaseNLL = -(floor + scale*float64(rec.Codes[next]))
	}
	s.SameTop = int(rec.Top) == tq
	s.DeltaP = math.Exp(lq[next]) - math.Exp(-s.BaseNLL)
	return s
}
