package engine

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/model"
)

// Load opens the checkpoint at path and prepares it to run. A GGUF file is
// copied into 2 MiB pages or memory-mapped read-only as Options.Mmap says
// (or read into memory where mapping is not available, or with
// Options.NoMmap); any other format that package convert
// reads (Hugging Face folder or safetensors file, llama2.c checkpoint) is
// loaded into memory in GGUF tensor order and layout. The configuration and
// tensors are checked as NewModel does.
func Load(path string, opt Options) (*Model, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() && isGGUF(path) {
		return loadGGUF(path, opt)
	}
	cm, err := convert.Load(path, convert.Options{Tokenizer: opt.Tokenizer})
	if err != nil {
		return nil, err
	}
	defer cm.Close()
	tensors := make([]Tensor, 0, len(cm.Tensors))
	for _, t := range cm.Tensors {
		data, err := cm.ReadRaw(t)
		if err != nil {
			return nil, err
		}
		tensors = append(tensors, Tensor{Name: t.Name, Type: t.Type, Shape: t.Shape, Data: data})
	}
	m, err := NewModel(cm.Config, cm.Vocab, tensors, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func isGGUF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var head [4]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return false
	}
	return string(head[:]) == gguf.Magic
}

func loadGGUF(path string, opt Options) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := fi.Size()
	var data []byte
	var unmap func() error
	res := Residence{Mode: "read"}
	if opt.Stream && !opt.NoMmap {
		data, unmap, res, err = mapStream(f, size)
		if err != nil {
			data, unmap, res = nil, nil, Residence{Mode: "read"} // fall back to reading
		}
	} else if !opt.NoMmap {
		data, unmap, res, err = mmapFile(f, size, !opt.Mmap, !opt.KeepCache)
		if err != nil {
			data, unmap, res = nil, nil, Residence{Mode: "read"} // fall back to reading
		}
	}
	var r io.ReaderAt = f
	if data != nil {
		r = bytes.NewReader(data)
	}
	gf, err := gguf.NewReader(r, size)
	if err != nil {
		if unmap != nil {
			unmap()
		}
		f.Close()
		if fe, ok := err.(*format.FormatError); ok && fe.File == "" {
			fe.File = path
		}
		return nil, err
	}
	release := func() error {
		var err error
		if unmap != nil {
			err = unmap()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	m, err := modelFromGGUF(path, gf, data, opt)
	if err != nil {
		release()
		return nil, err
	}
	m.res = res
	m.stream = opt.Stream && res.Mode == "mapped"
	if data != nil {
		m.close = release
	} else {
		f.Close() // tensors were read into memory
	}
	return m, nil
}

// modelFromGGUF builds the model of a parsed GGUF file. mapped is the whole
// file's bytes when it is memory-mapped, else nil (tensors are read).
func modelFromGGUF(path string, gf *gguf.File, mapped []byte, opt Options) (*Model, error) {
	cfg, err := model.ConfigFromGGUF(&gf.Metadata)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var vocab *model.Vocab
	if _, ok := gf.Metadata.Get("tokenizer.ggml.model"); ok {
		if vocab, err = model.VocabFromGGUF(&gf.Metadata); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	tensors := make([]Tensor, 0, len(gf.TensorInfos))
	for _, ti := range gf.TensorInfos {
		n := ti.Bytes()
		off := gf.DataOffset + int64(ti.Offset)
		if n < 0 || off < 0 || off > gf.Size() || n > gf.Size()-off {
			return nil, &format.FormatError{File: path, Tensor: ti.Name, Offset: off, Msg: "tensor data outside the file"}
		}
		var data []byte
		if mapped != nil {
			data = mapped[off : off+n : off+n]
		} else {
			sr, err := gf.TensorData(ti.Name)
			if err != nil {
				return nil, err
			}
			if data, err = format.ReadAt(sr, n, 0, n); err != nil {
				return nil, &format.FormatError{File: path, Tensor: ti.Name, Offset: off, Msg: "reading tensor data", Err: err}
			}
		}
		tensors = append(tensors, Tensor{Name: ti.Name, Type: ti.Type, Shape: ti.Shape, Data: data})
	}
	m, err := NewModel(cfg, vocab, tensors, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
