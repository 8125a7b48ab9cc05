package llama2c

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/shrink-llm/shrink/format"
)

// Write writes a checkpoint with header h whose weights come from src under
// the GGUF names and ggml shapes that File uses (a *File is such a source).
// Every tensor must be format.F32. The freq_cis arrays are computed as
// llama2.c's model.py computes them (RoPE theta 10000). A negative
// vocab_size is written when h.SharedClassifier is false, and output.weight
// is then required.
func Write(w io.Writer, h Header, src format.Source) error {
	if err := h.Validate(); err != nil {
		return err
	}
	lo := newLayout(h)
	infos := make(map[string]format.TensorInfo)
	for _, t := range src.Tensors() {
		infos[t.Name] = t
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var hdr [HeaderSize]byte
	vocab := h.VocabSize
	if !h.SharedClassifier {
		vocab = -vocab
	}
	for i, v := range []int{h.Dim, h.HiddenDim, h.Layers, h.Heads, h.KVHeads, vocab, h.SeqLen} {
		binary.LittleEndian.PutUint32(hdr[4*i:], uint32(int32(v)))
	}
	bw.Write(hdr[:])
	copyTensor := func(name string, a int) error {
		t, ok := infos[name]
		if !ok {
			return fmt.Errorf("llama2c: write: %w: %q", format.ErrNotFound, name)
		}
		if t.Type != format.F32 || !slices.Equal(t.Shape, lo.shape[a]) {
			return fmt.Errorf("llama2c: write: tensor %q is %s %v, want f32 %v", name, t.Type, t.Shape, lo.shape[a])
		}
		r, err := src.TensorData(name)
		if err != nil {
			return err
		}
		n := lo.bytes(a)
		if r.Size() != n {
			return fmt.Errorf("llama2c: write: tensor %q has %d bytes, want %d", name, r.Size(), n)
		}
		if _, err := io.Copy(bw, r); err != nil {
			return fmt.Errorf("llama2c: write: tensor %q: %w", name, err)
		}
		return nil
	}
	if err := copyTensor("token_embd.weight", arrEmbed); err != nil {
		return err
	}
	for _, lt := range layerTensors {
		for l := range h.Layers {
			if err := copyTensor(fmt.Sprintf("blk.%d.%s.weight", l, lt.name), lt.array); err != nil {
				return err
			}
		}
	}
	if err := copyTensor("output_norm.weight", arrRMSFinal); err != nil {
		return err
	}
	writeFreqs(bw, h)
	if !h.SharedClassifier {
		if err := copyTensor("output.weight", arrWCls); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// writeFreqs writes freq_cis_real then freq_cis_imag, [seq_len, head_size/2]:
// cos and sin of t / 10000^(2i/head_size).
func writeFreqs(w *bufio.Writer, h Header) {
	hs := h.HeadSize()
	// float32 steps, as PyTorch computes them.
	freqs := make([]float32, 0, hs/2)
	for i := 0; i < hs; i += 2 {
		freqs = append(freqs, 1/float32(math.Pow(10000, float64(float32(i)/float32(hs)))))
	}
	var b [4]byte
	for _, f := range []func(float64) float64{math.Cos, math.Sin} {
		for t := range h.SeqLen {
			for _, freq := range freqs {
				angle := float32(t) * freq
				binary.LittleEndian.PutUint32(b[:], math.Float32bits(float32(f(float64(angle)))))
				w.Write(b[:])
			}
		}
	}
}
