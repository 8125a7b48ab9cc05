package distill

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
)

// defaultShape is the repository's default model: dim 128, 2 layers, 4
// heads, 2 key/value heads, FFN 256, vocab 512, tied.
func defaultShape(b *testing.B) (*Model, [][]int32) {
	c := model.ConfigFromLlama2c(128, 256, 2, 4, 2, 512, 256)
	c.TiedEmbeddings = true
	m, err := NewRandom(c, nil, 1)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	return m, [][]int32{randomTokens(rng, 257, 512)}
}

// BenchmarkForward is the forward pass alone over 256 tokens.
func BenchmarkForward(b *testing.B) {
	m, ws := defaultShape(b)
	for b.Loop() {
		if _, err := m.Forward(ws[0][:256], false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "tok/s")
}

// BenchmarkTrainStep is one optimizer step over one 256-token window
// (forward, backward, AdamW).
func BenchmarkTrainStep(b *testing.B) {
	m, ws := defaultShape(b)
	tr, err := NewTrainer(m, nil, ws, Options{Steps: 1 << 20, CEWeight: 1})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := tr.TrainStep(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "tok/s")
}

// smallEdgeShape is the 8.4M-parameter llama of the throughput figures
// (dim 256, 8 layers, 4/2 heads, FFN 768, vocab 4096, untied) with eight
// random 257-token windows (one batch of internal/tools/torch_bench.py).
func smallEdgeShape(b *testing.B, seed uint64) (*Model, [][]int32) {
	c := model.ConfigFromLlama2c(256, 768, 8, 4, 2, 4096, 256)
	m, err := NewRandom(c, nil, seed)
	if err != nil {
		b.Fatal(err)
	}
	pieces := make([]string, c.VocabSize)
	for i := range pieces {
		pieces[i] = fmt.Sprintf("<%d>", i)
	}
	m.Vocab = model.VocabFromLlama2c(pieces, nil)
	rng := rand.New(rand.NewPCG(1, 1))
	ws := make([][]int32, 8)
	for i := range ws {
		ws[i] = randomTokens(rng, 257, 4096)
	}
	return m, ws
}

// BenchmarkTrainStepEdge is one optimizer step (batch 8 × 256 tokens,
// AdamW) of the 8.4M shape, as internal/tools/torch_bench.py runs it:
// cross-entropy alone (train), KL to a live teacher of the same shape run
// by the engine from an F16 file (distill-live), and KL to the teacher's
// logits read from a cache file (distill-cached). tok/s counts the
// student's tokens; tok/cpu-s divides them by the process's CPU time
// instead (steadier on a shared machine).
func BenchmarkTrainStepEdge(b *testing.B) {
	for _, mode := range []string{"train", "distill-live", "distill-cached"} {
		b.Run(mode, func(b *testing.B) {
			m, ws := smallEdgeShape(b, 1)
			var teacher Teacher
			opt := Options{Steps: 1 << 20, Batch: len(ws), CEWeight: 1}
			if mode != "train" {
				tm, _ := smallEdgeShape(b, 2)
				path := filepath.Join(b.TempDir(), "teacher.gguf")
				if err := tm.WriteGGUF(path, format.F16, nil); err != nil {
					b.Fatal(err)
				}
				em, err := engine.Load(path, engine.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer em.Close()
				teacher, opt.KDWeight, opt.CEWeight = NewEngineTeacher(em), 1, 0
				if mode == "distill-cached" {
					cache := filepath.Join(b.TempDir(), "kd.gguf")
					if err := WriteTeacherCache(cache, teacher, 4096, ws, nil); err != nil {
						b.Fatal(err)
					}
					ct, err := OpenTeacherCache(cache, ws, 4096)
					if err != nil {
						b.Fatal(err)
					}
					defer ct.Close()
					teacher = ct
				}
			}
			tr, err := NewTrainer(m, teacher, ws, opt)
			if err != nil {
				b.Fatal(err)
			}
			cpu0 := -1.0
			for b.Loop() {
				if cpu0 < 0 {
					cpu0 = cpuSeconds()
				}
				if _, err := tr.TrainStep(); err != nil {
					b.Fatal(err)
				}
			}
			tok := float64(len(ws) * 256 * b.N)
			b.ReportMetric(tok/b.Elapsed().Seconds(), "tok/s")
			b.ReportMetric(tok/(cpuSeconds()-cpu0), "tok/cpu-s")
		})
	}
}
