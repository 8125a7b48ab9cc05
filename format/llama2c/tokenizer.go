package llama2c

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/shrink-llm/shrink/format"
)

// Tokenizer is the content of a llama2.c tokenizer.bin: the vocabulary's
// pieces and SentencePiece merge scores, indexed by token id.
type Tokenizer struct {
	// MaxTokenLength is the longest piece in bytes, as stored in the file.
	MaxTokenLength int
	// Pieces are the raw bytes of each piece as stored, e.g. "\n<s>\n" for
	// BOS, "<0x0A>" for a byte piece and " the" for a word.
	Pieces []string
	// Scores are the merge scores, one per piece.
	Scores []float32
}

// ReadTokenizer reads a tokenizer.bin of size bytes from r. With vocabSize
// > 0 it reads exactly vocabSize entries, and bytes left over are an error;
// with vocabSize <= 0 it reads entries until the end of the file.
func ReadTokenizer(r io.ReaderAt, size int64, vocabSize int) (*Tokenizer, error) {
	return readTokenizer(r, size, vocabSize, "")
}

// OpenTokenizer reads the tokenizer.bin file at path; vocabSize is as for
// ReadTokenizer.
func OpenTokenizer(path string, vocabSize int) (*Tokenizer, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	return readTokenizer(fh, fi.Size(), vocabSize, path)
}

func readTokenizer(r io.ReaderAt, size int64, vocabSize int, path string) (*Tokenizer, error) {
	if size < 0 {
		size = 0
	}
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10)
	off := int64(0)
	fail := func(at int64, msg string, err error) (*Tokenizer, error) {
		return nil, &format.FormatError{File: path, Offset: at, Msg: msg, Err: err}
	}
	var word [4]byte
	read32 := func(what string) (uint32, error) {
		if size-off < 4 {
			return 0, &format.FormatError{File: path, Offset: off, Msg: fmt.Sprintf("truncated %s: %d bytes left", what, size-off), Err: io.ErrUnexpectedEOF}
		}
		if _, err := io.ReadFull(br, word[:]); err != nil {
			return 0, &format.FormatError{File: path, Offset: off, Msg: "reading " + what, Err: noEOF(err)}
		}
		off += 4
		return binary.LittleEndian.Uint32(word[:]), nil
	}
	v, err := read32("max_token_length")
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{MaxTokenLength: int(int32(v))}
	if t.MaxTokenLength <= 0 {
		return fail(0, fmt.Sprintf("max_token_length is %d, must be positive", t.MaxTokenLength), nil)
	}
	if vocabSize > 0 {
		// Each entry takes at least 8 bytes; bound the count before
		// allocating for it.
		if int64(vocabSize) > (size-off)/8 {
			return fail(off, fmt.Sprintf("%d entries cannot fit in the %d bytes left", vocabSize, size-off), io.ErrUnexpectedEOF)
		}
		t.Pieces = make([]string, 0, vocabSize)
		t.Scores = make([]float32, 0, vocabSize)
	}
	for i := 0; vocabSize <= 0 || i < vocabSize; i++ {
		if vocabSize <= 0 && off == size {
			break
		}
		v, err := read32(fmt.Sprintf("score of token %d", i))
		if err != nil {
			return nil, err
		}
		score := math.Float32frombits(v)
		at := off
		v, err = read32(fmt.Sprintf("length of token %d", i))
		if err != nil {
			return nil, err
		}
		n := int64(int32(v))
		switch {
		case n < 0:
			return fail(at, fmt.Sprintf("token %d has negative length %d", i, n), nil)
		case n > int64(t.MaxTokenLength):
			return fail(at, fmt.Sprintf("token %d has length %d, over max_token_length %d", i, n, t.MaxTokenLength), nil)
		case n > size-off:
			return fail(at, fmt.Sprintf("token %d has length %d, beyond the %d bytes left", i, n, size-off), io.ErrUnexpectedEOF)
		}
		piece := make([]byte, n)
		if _, err := io.ReadFull(br, piece); err != nil {
			return fail(off, fmt.Sprintf("reading token %d", i), noEOF(err))
		}
		off += n
		t.Pieces = append(t.Pieces, string(piece))
		t.Scores = append(t.Scores, score)
	}
	if off != size {
		return fail(off, fmt.Sprintf("%d bytes left after %d tokens", size-off, len(t.Pieces)), nil)
	}
	return t, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// WriteTokenizer writes t in the tokenizer.bin format. MaxTokenLength must
// be positive and at least the length of every piece, and there must be one
// score per piece.
func WriteTokenizer(w io.Writer, t *Tokenizer) error {
	if len(t.Pieces) != len(t.Scores) {
		return fmt.Errorf("llama2c: tokenizer has %d pieces but %d scores", len(t.Pieces), len(t.Scores))
	}
	if t.MaxTokenLength <= 0 || t.MaxTokenLength > math.MaxInt32 {
		return fmt.Errorf("llama2c: max token length %d out of range", t.MaxTokenLength)
	}
	bw := bufio.NewWriter(w)
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:], uint32(t.MaxTokenLength))
	bw.Write(b[:4])
	for i, p := range t.Pieces {
		if len(p) > t.MaxTokenLength {
			return fmt.Errorf("llama2c: piece %d is %d bytes, over max token length %d", i, len(p), t.MaxTokenLength)
		}
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(t.Scores[i]))
		binary.LittleEndian.PutUint32(b[4:], uint32(len(p)))
		bw.Write(b[:])
		bw.WriteString(p)
	}
	return bw.Flush()
}
