package quantize

import (
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// Benchmarks over one 4096-element row (a typical hidden size). Throughput
// is reported in MB/s of float32 data (4 bytes per element) for encode and
// decode alike, so the figures compare across types. BenchmarkDecodeNaive
// is the per-element bit-extraction baseline (legacy_naive_test.go).

const benchN = 4096

func benchRow() ([]float32, []float32) {
	r := rand.New(rand.NewPCG(7, 8))
	x := gaussRow(r, benchN, 0.02)
	imp := make([]float32, benchN)
	for i := range imp {
		imp[i] = float32(r.Float64() + 0.1)
	}
	return x, imp
}

func BenchmarkEncode(b *testing.B) {
	x, _ := benchRow()
	for _, typ := range legacyTypes {
		b.Run(typ.String(), func(b *testing.B) {
			dst := make([]byte, rowLen(typ, benchN))
			c, _ := CodecFor(typ)
			b.SetBytes(4 * benchN)
			for b.Loop() {
				c.Encode(dst, x, nil)
			}
		})
	}
}

func BenchmarkEncodeImp(b *testing.B) {
	x, imp := benchRow()
	for _, typ := range []format.DType{format.Q4_0, format.Q4_1, format.Q5_0, format.Q5_1, format.IQ4_NL} {
		b.Run(typ.String(), func(b *testing.B) {
			dst := make([]byte, rowLen(typ, benchN))
			c, _ := CodecFor(typ)
			b.SetBytes(4 * benchN)
			for b.Loop() {
				c.Encode(dst, x, imp)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	x, _ := benchRow()
	for _, typ := range legacyTypes {
		b.Run(typ.String(), func(b *testing.B) {
			src := encode(b, typ, x, nil)
			c, _ := CodecFor(typ)
			dst := make([]float32, benchN)
			b.SetBytes(4 * benchN)
			for b.Loop() {
				c.Decode(dst, src)
			}
		})
	}
}

func BenchmarkDecodeNaive(b *testing.B) {
	x, _ := benchRow()
	for _, typ := range legacyTypes {
		b.Run(typ.String(), func(b *testing.B) {
			src := encode(b, typ, x, nil)
			b.SetBytes(4 * benchN)
			for b.Loop() {
				naiveDecode(typ, src, benchN)
			}
		})
	}
}
