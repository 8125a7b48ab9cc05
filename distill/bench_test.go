package distill

import (
	"math/rand/v2"
	"testing"

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
// (dim 256, 8 layers, 4/2 heads, FFN 768, vocab 4096, untied), with one
// 257-token window.
func smallEdgeShape(b *testing.B) (*Model, [][]int32) {
	c := model.ConfigFromLlama2c(256, 768, 8, 4, 2, 4096, 256)
	m, err := NewRandom(c, nil, 1)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	return m, [][]int32{randomTokens(rng, 257, 4096)}
}

// BenchmarkTrainStepEdge is one optimizer step over one 256-token window of
// the 8.4M shape: cross-entropy alone (train) and with a live teacher of
// the same shape under a KL loss (distill).
func BenchmarkTrainStepEdge(b *testing.B) {
	for _, kd := range []bool{false, true} {
		name := "train"
		if kd {
			name = "distill"
		}
		b.Run(name, func(b *testing.B) {
			m, ws := smallEdgeShape(b)
			var teacher Teacher
			opt := Options{Steps: 1 << 20, CEWeight: 1}
			if kd {
				tm, _ := smallEdgeShape(b)
				teacher, opt.KDWeight = ModelTeacher{M: tm}, 1
			}
			tr, err := NewTrainer(m, teacher, ws, opt)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := tr.TrainStep(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}
