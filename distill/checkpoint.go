package distill

import (
	"fmt"
	"io"
	"slices"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
)

// A checkpoint is a GGUF file holding the whole training state: for every
// parameter its values ("w." + name; the original weight for adapted
// ones; none for matrices kept in their stored type, which are frozen and
// read again from the student's file), and for every trainable one AdamW's moments ("m." and "v." +
// name), all F32, with the step and the run's settings under shrink.train.*
// keys. Restoring it gives bit-identical training from that step on.

const ckptPrefix = "shrink.train."

// SaveCheckpoint writes the training state to path atomically.
func (tr *Trainer) SaveCheckpoint(path string) error {
	md := &gguf.Metadata{}
	md.Set("general.architecture", gguf.String("shrink-train"))
	md.Set(ckptPrefix+"step", gguf.Uint64(uint64(tr.Step)))
	md.Set(ckptPrefix+"steps", gguf.Uint64(uint64(tr.Opt.Steps)))
	md.Set(ckptPrefix+"batch", gguf.Uint64(uint64(tr.Opt.Batch)))
	md.Set(ckptPrefix+"seed", gguf.Uint64(tr.Opt.Seed))
	md.Set(ckptPrefix+"windows", gguf.Uint64(uint64(len(tr.Windows))))
	type item struct {
		name string
		w    []float32
	}
	var items []item
	var infos []format.TensorInfo
	for i, p := range tr.Student.Params {
		if p.stored != nil { // frozen, read from the student's file
			continue
		}
		w := p.W
		if p.LoRA != nil {
			w = p.LoRA.W0
		}
		add := func(prefix string, v []float32) {
			items = append(items, item{prefix + p.Name, v})
			infos = append(infos, format.TensorInfo{Name: prefix + p.Name, Type: format.F32, Shape: p.Shape})
		}
		add("w.", w)
		if !p.Frozen {
			add("m.", tr.m[i])
			add("v.", tr.v[i])
		}
	}
	return gguf.WriteFile(path, md, infos, func(i int, w io.Writer) error {
		buf := make([]byte, infos[i].Bytes())
		if err := format.EncodeFloats(format.F32, items[i].w, buf); err != nil {
			return err
		}
		_, err := w.Write(buf)
		return err
	})
}

// LoadCheckpoint restores the training state saved by SaveCheckpoint. The
// trainer must have been built as the saved one was (same model layout,
// adapters, data, batch, seed and number of steps).
func (tr *Trainer) LoadCheckpoint(path string) error {
	f, err := gguf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	get := func(key string) (uint64, error) {
		v, ok := f.Metadata.Get(ckptPrefix + key)
		if !ok {
			return 0, fmt.Errorf("%s: %w: no %s%s key (not a training checkpoint)", path, ErrMismatch, ckptPrefix, key)
		}
		n, ok := v.Int()
		if !ok || n < 0 {
			return 0, fmt.Errorf("%s: %w: %s%s is not a count", path, ErrMismatch, ckptPrefix, key)
		}
		return uint64(n), nil
	}
	want := map[string]uint64{"steps": uint64(tr.Opt.Steps), "batch": uint64(tr.Opt.Batch), "seed": tr.Opt.Seed, "windows": uint64(len(tr.Windows))}
	for _, k := range []string{"steps", "batch", "seed", "windows"} {
		v, err := get(k)
		if err != nil {
			return err
		}
		if v != want[k] {
			return fmt.Errorf("%s: %w: checkpoint has %s %d, this run %d", path, ErrMismatch, k, v, want[k])
		}
	}
	step, err := get("step")
	if err != nil {
		return err
	}
	if step > uint64(tr.Opt.Steps) {
		return fmt.Errorf("%s: %w: step %d beyond %d steps", path, ErrMismatch, step, tr.Opt.Steps)
	}
	read := func(name string, shape []int64, dst []float32) error {
		ti, ok := f.Tensor(name)
		if !ok {
			return fmt.Errorf("%s: %w: tensor %s missing", path, ErrMismatch, name)
		}
		if ti.Type != format.F32 || !slices.Equal(ti.Shape, shape) {
			return fmt.Errorf("%s: %w: tensor %s is %s %v, want F32 %v", path, ErrMismatch, name, ti.Type, ti.Shape, shape)
		}
		r, err := f.TensorData(name)
		if err != nil {
			return err
		}
		buf := make([]byte, 4*len(dst))
		if _, err := io.ReadFull(r, buf); err != nil {
			return &format.FormatError{File: path, Tensor: name, Offset: f.DataOffset, Err: err}
		}
		return format.DecodeFloats(format.F32, buf, dst)
	}
	for i, p := range tr.Student.Params {
		if p.stored != nil {
			continue
		}
		w := p.W
		if p.LoRA != nil {
			w = p.LoRA.W0
		}
		if err := read("w."+p.Name, p.Shape, w); err != nil {
			return err
		}
		if !p.Frozen {
			if err := read("m."+p.Name, p.Shape, tr.m[i]); err != nil {
				return err
			}
			if err := read("v."+p.Name, p.Shape, tr.v[i]); err != nil {
				return err
			}
		}
	}
	tr.Step = int(step)
	tr.Student.mergeLoRA()
	return nil
}

// CheckpointSteps returns the schedule length recorded in a checkpoint.
func CheckpointSteps(path string) (int, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	v, ok := f.Metadata.Get(ckptPrefix + "steps")
	n, ok2 := v.Int()
	if !ok || !ok2 || n <= 0 || n > 1<<40 {
		return 0, fmt.Errorf("%s: %w: no step count (not a training checkpoint)", path, ErrMismatch)
	}
	return int(n), nil
}
