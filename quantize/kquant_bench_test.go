package quantize

import (
	"math/rand/v2"
	"testing"
)

// Benchmarks over one 4096-element row (16 super-blocks). MB/s counts the
// float32 side (4 bytes per element) for encoders and decoders alike.

const kqBenchN = 4096

func kqBenchInput() (x, imp []float32) {
	rng := rand.New(rand.NewPCG(21, 22))
	x = make([]float32, kqBenchN)
	imp = make([]float32, kqBenchN)
	for i := range x {
		x[i] = float32(rng.NormFloat64()) * 0.02
		imp[i] = float32(rng.ExpFloat64())
	}
	return x, imp
}

func BenchmarkEncodeK(b *testing.B) {
	x, imp := kqBenchInput()
	for _, typ := range kqTypes {
		c, _ := CodecFor(typ)
		dst := make([]byte, kqBenchN/kqSuper*typ.BlockBytes())
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(4 * kqBenchN)
			for b.Loop() {
				c.Encode(dst, x, nil)
			}
		})
		b.Run(typ.String()+"/imatrix", func(b *testing.B) {
			b.SetBytes(4 * kqBenchN)
			for b.Loop() {
				c.Encode(dst, x, imp)
			}
		})
	}
}

func BenchmarkDecodeK(b *testing.B) {
	x, _ := kqBenchInput()
	for _, typ := range kqTypes {
		c, _ := CodecFor(typ)
		src := make([]byte, kqBenchN/kqSuper*typ.BlockBytes())
		c.Encode(src, x, nil)
		y := make([]float32, kqBenchN)
		b.Run(typ.String(), func(b *testing.B) {
			b.SetBytes(4 * kqBenchN)
			for b.Loop() {
				c.Decode(y, src)
			}
		})
		// Baseline: per-element generic bit extraction (kqNaiveDecode).
		b.Run(typ.String()+"/naive", func(b *testing.B) {
			b.SetBytes(4 * kqBenchN)
			for b.Loop() {
				kqNaiveDecode(typ, y, src)
			}
		})
	}
}
