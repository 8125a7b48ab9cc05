package kernel

import (
	"github.com/shrink-llm/shrink/format"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// BenchmarkDot measures each implementation's matrix-vector product on a
// 1024 x 4096 matrix of each type (activations prepared once), reporting
// the weights' bytes per second, and the matrix product against 4 and 16
// activation rows in 64-row tiles (bytes per second counts the weights
// once per call).
//
//	go test ./internal/kernel -run '^$' -bench Dot
func BenchmarkDot(b *testing.B) {
	r := rand.New(rand.NewPCG(15, 16))
	const n, rows = 4096, 1024
	for _, dt := range weightTypes {
		rb, _ := dt.RowBytes(n)
		var w []byte
		for i := 0; i < 16; i++ {
			w = append(w, encode(b, dt, randRow(r, n))...)
		}
		for len(w) < rows*int(rb) {
			w = append(w, w[:16*int(rb)]...)
		}
		xs := make([]Vec, 16)
		for j := range xs {
			Generic.Quantize(&xs[j], randRow(r, n), KindOf(dt))
		}
		for _, im := range Impls() {
			if !im.Available {
				continue
			}
			full := merge([]*Impl{Generic, im})
			for _, T := range []int{1, 4, 16} {
				if T > 1 && im.MatMul4[dt] == nil && im != Generic {
					continue
				}
				name := dt.String() + "/" + im.Name + "/x" + string(rune('0'+T%10))
				if T == 16 {
					name = dt.String() + "/" + im.Name + "/x16"
				}
				b.Run(name, func(b *testing.B) {
					full.Prepare(xs[:T], KindOf(dt)) // as the engine does per batch
					out := make([]float32, T*rows)
					b.SetBytes(int64(len(w)))
					c0 := cpuSeconds()
					for b.Loop() {
						// 64-row tiles, as the engine's workers take them.
						for r0 := 0; r0 < rows; r0 += 64 {
							full.MatMulRows(dt, w, int(rb), r0, r0+64, xs[:T], out, rows)
						}
					}
					b.ReportMetric(float64(b.N)*float64(len(w))/1e9/(cpuSeconds()-c0), "GB/cpu-s")
				})
			}
		}
	}
}

// BenchmarkBandwidth measures the memory bandwidth the kernels work
// against: a copy between two 256 MiB buffers (bytes counted once) and
// a plain read, and the matrix-vector product of each common type on a 256 MiB matrix, far
// larger than any cache, so that decode speed can be judged against it.
//
//	go test ./internal/kernel -run '^$' -bench Bandwidth -benchtime 5x
func BenchmarkBandwidth(b *testing.B) {
	const size = 256 << 20
	src, dst := make([]byte, size), make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(size)
		c0 := cpuSeconds()
		for b.Loop() {
			copy(dst, src)
		}
		b.ReportMetric(float64(b.N)*size/1e9/(cpuSeconds()-c0), "GB/cpu-s")
	})
	b.Run("sum", func(b *testing.B) {
		b.SetBytes(size)
		words := unsafe.Slice((*uint64)(unsafe.Pointer(&src[0])), size/8)
		c0 := cpuSeconds()
		var s uint64
		for b.Loop() {
			for i := 0; i < len(words); i += 8 {
				s += words[i] ^ words[i+1] ^ words[i+2] ^ words[i+3] ^ words[i+4] ^ words[i+5] ^ words[i+6] ^ words[i+7]
			}
		}
		b.ReportMetric(float64(b.N)*size/1e9/(cpuSeconds()-c0), "GB/cpu-s")
		sink = s
	})
	dst = nil
	r := rand.New(rand.NewPCG(17, 18))
	const n = 4096
	a := Active()
	for _, dt := range []format.DType{format.F16, format.Q8_0, format.Q4_0, format.Q4_K, format.Q6_K} {
		rb, _ := dt.RowBytes(n)
		rows := size / int(rb)
		row := encode(b, dt, randRow(r, n))
		for i := 0; i < rows; i++ {
			copy(src[i*int(rb):], row)
		}
		var x Vec
		a.Quantize(&x, randRow(r, n), KindOf(dt))
		out := make([]float32, rows)
		b.Run(dt.String(), func(b *testing.B) {
			b.SetBytes(int64(rows) * rb)
			c0 := cpuSeconds()
			for b.Loop() {
				a.MatMulRows(dt, src, int(rb), 0, rows, []Vec{x}, out, rows)
			}
			b.ReportMetric(float64(b.N)*float64(int64(rows)*rb)/1e9/(cpuSeconds()-c0), "GB/cpu-s")
		})
	}
}

var sink uint64

// BenchmarkPrefill measures the matrix product of a batch of 128
// activation rows (a prompt) against a 256 x 2048 matrix (TinyLlama-1.1B's
// width) in the engine's 64-row tiles, for the types whose prefill path
// differs between implementations: each available implementation as
// Select would make it, and "-nomm16" the same without its MatMul16
// entries (the four-row path the tile kernels replaced where there is no
// AMX). It reports multiply-adds per CPU second.
//
//	go test ./internal/kernel -run '^$' -bench Prefill
func BenchmarkPrefill(b *testing.B) {
	r := rand.New(rand.NewPCG(19, 20))
	const n, rows, T = 2048, 256, 128
	for _, dt := range []format.DType{format.Q8_0, format.Q4_0, format.Q4_K, format.Q5_K, format.Q6_K, format.IQ4_XS,
		format.IQ3_XXS, format.IQ3_S, format.IQ2_XXS, format.IQ2_XS, format.IQ2_S, format.IQ1_S, format.IQ1_M} {
		rb, _ := dt.RowBytes(n)
		var w []byte
		for i := 0; i < rows; i++ {
			w = append(w, encode(b, dt, randRow(r, n))...)
		}
		xs := make([]Vec, T)
		for j := range xs {
			Generic.Quantize(&xs[j], randRow(r, n), KindOf(dt))
		}
		for _, im := range Impls()[1:] {
			if !im.Available {
				continue
			}
			full := merge([]*Impl{Generic, im})
			variants := []*Impl{full}
			if full.MatMul16[dt] != nil {
				old := *full
				old.MatMul16 = [format.NumDTypes]MatMul4Func{}
				old.Pack = nil
				old.Name += "-nomm16"
				variants = append(variants, &old)
			}
			for _, v := range variants {
				b.Run(dt.String()+"/"+v.Name, func(b *testing.B) {
					for j := range xs {
						xs[j].packed = false
					}
					v.Prepare(xs, KindOf(dt)) // as the engine does per batch
					out := make([]float32, T*rows)
					c0 := cpuSeconds()
					for b.Loop() {
						for r0 := 0; r0 < rows; r0 += 64 {
							v.MatMulRows(dt, w, int(rb), r0, r0+64, xs, out, rows)
						}
					}
					b.ReportMetric(float64(b.N)*T*rows*n/1e9/(cpuSeconds()-c0), "GMAC/cpu-s")
				})
			}
		}
	}
}
