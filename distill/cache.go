package distill

import (
	"fmt"
	"hash/fnv"
	"io"
	"slices"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
)

// A teacher cache is a GGUF file holding the teacher's logits for every
// training window, one F16 tensor "logits.N" (VocabSize × tokens, ggml
// order) per window N, with the vocabulary size, the window count and a
// hash of the windows' tokens under shrink.kd.* keys. Distillation reads
// it instead of running the teacher, so the teacher need not stay in
// memory beside the student.

const cachePrefix = "shrink.kd."

// windowsHash identifies a list of windows.
func windowsHash(ws [][]int32) uint64 {
	h := fnv.New64a()
	var b [4]byte
	for _, w := range ws {
		for _, t := range w {
			b[0], b[1], b[2], b[3] = byte(t), byte(t>>8), byte(t>>16), byte(t>>24)
			h.Write(b[:])
		}
		h.Write([]byte{0xff, 0xff, 0xff, 0xff})
	}
	return h.Sum64() >> 1 // fits GGUF readers that read counts as int64
}

// WriteTeacherCache runs teacher (vocab logits per token) over every
// window (all but its last token, as training reads them) and writes the
// logits to path atomically. progress, when not nil, is called after each
// window.
func WriteTeacherCache(path string, teacher Teacher, vocab int, windows [][]int32, progress func(done, total int)) error {
	V := vocab
	md := &gguf.Metadata{}
	md.Set("general.architecture", gguf.String("shrink-kd-cache"))
	md.Set(cachePrefix+"vocab_size", gguf.Uint64(uint64(V)))
	md.Set(cachePrefix+"windows", gguf.Uint64(uint64(len(windows))))
	md.Set(cachePrefix+"windows_hash", gguf.Uint64(windowsHash(windows)))
	infos := make([]format.TensorInfo, len(windows))
	for i, w := range windows {
		infos[i] = format.TensorInfo{Name: fmt.Sprintf("logits.%d", i), Type: format.F16, Shape: []int64{int64(V), int64(len(w) - 1)}}
	}
	return gguf.WriteFile(path, md, infos, func(i int, w io.Writer) error {
		win := windows[i]
		logits, _, err := teacher.Teach(i, win[:len(win)-1], false)
		if err != nil {
			return err
		}
		if len(logits) != V*(len(win)-1) {
			return fmt.Errorf("%w: teacher gave %d logits for %d tokens of a %d-token vocabulary", ErrMismatch, len(logits), len(win)-1, V)
		}
		buf := make([]byte, infos[i].Bytes())
		if err := format.EncodeFloats(format.F16, logits, buf); err != nil {
			return err
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		if progress != nil {
			progress(i+1, len(windows))
		}
		return nil
	})
}

// CacheTeacher is a Teacher reading a teacher cache file. It has no hidden
// states.
type CacheTeacher struct {
	f *gguf.File
	v int
}

// OpenTeacherCache opens a teacher cache written for exactly these
// windows and a vocabulary of vocab tokens.
func OpenTeacherCache(path string, windows [][]int32, vocab int) (*CacheTeacher, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	get := func(key string) uint64 {
		v, _ := f.Metadata.Get(cachePrefix + key)
		n, _ := v.Int()
		return uint64(n)
	}
	if get("vocab_size") != uint64(vocab) || get("windows") != uint64(len(windows)) || get("windows_hash") != windowsHash(windows) {
		f.Close()
		return nil, fmt.Errorf("%s: %w: the teacher cache was written for other data, context or vocabulary", path, ErrMismatch)
	}
	return &CacheTeacher{f: f, v: vocab}, nil
}

// Close closes the cache file.
func (c *CacheTeacher) Close() error { return c.f.Close() }

// Teach implements Teacher.
func (c *CacheTeacher) Teach(win int, tokens []int32, hidden bool) ([]float32, [][]float32, error) {
	name := fmt.Sprintf("logits.%d", win)
	ti, ok := c.f.Tensor(name)
	want := []int64{int64(c.v), int64(len(tokens))}
	if !ok || ti.Type != format.F16 || !slices.Equal(ti.Shape, want) {
		return nil, nil, &format.FormatError{File: c.f.Name(), Tensor: name, Offset: -1, Msg: fmt.Sprintf("want an F16 tensor of shape %v", want)}
	}
	r, err := c.f.TensorData(name)
	if err != nil {
		return nil, nil, err
	}
	buf := make([]byte, 2*c.v*len(tokens))
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, nil, &format.FormatError{File: c.f.Name(), Tensor: name, Offset: c.f.DataOffset + int64(ti.Offset), Err: err}
	}
	out := make([]float32, c.v*len(tokens))
	if err := format.DecodeFloats(format.F16, buf, out); err != nil {
		return nil, nil, err
	}
	return out, nil, nil
}
