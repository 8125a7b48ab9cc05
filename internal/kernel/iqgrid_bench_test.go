package kernel

import (
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// BenchmarkIQGrid measures the grid i-quants' decode products of every
// available implementation side by side: one activation row against a
// 2048 x 5632 matrix (TinyLlama's ffn_down shape) of random blocks,
// through MatMulRows in 64-row tiles as the engine's workers take them
// ("matvec": the MatVec entry where there is one) and row by row through
// Dot ("dot"). With -count N the implementations alternate, so that a
// ratio between them survives a loaded machine better than two runs;
// cpu-us/op is the thread's CPU time per product, steadier than the wall
// time while other processes share the cores.
//
//	go test ./internal/kernel -run '^$' -bench IQGrid -count 5
func BenchmarkIQGrid(b *testing.B) {
	r := rand.New(rand.NewPCG(21, 22))
	const n, rows = 5632, 2048
	for _, dt := range []format.DType{format.IQ2_S, format.IQ2_XXS, format.IQ1_S, format.IQ2_XS,
		format.IQ3_XXS, format.IQ3_S, format.IQ1_M} {
		rb, _ := dt.RowBytes(n)
		var w []byte
		for i := 0; i < rows; i++ {
			w = append(w, rawRow(r, dt, n, 0)...)
		}
		xs := make([]Vec, 1)
		Generic.Quantize(&xs[0], randRow(r, n), KindOf(dt))
		out := make([]float32, rows)
		for _, im := range Impls()[1:] {
			if !im.Available || im.Dot[dt] == nil {
				continue
			}
			full := merge([]*Impl{Generic, im})
			b.Run(dt.String()+"/"+im.Name+"/matvec", func(b *testing.B) {
				b.SetBytes(int64(len(w)))
				c0 := cpuSeconds()
				for b.Loop() {
					for r0 := 0; r0 < rows; r0 += 64 {
						full.MatMulRows(dt, w, int(rb), r0, r0+64, xs, out, rows)
					}
				}
				b.ReportMetric((cpuSeconds()-c0)*1e6/float64(b.N), "cpu-us/op")
			})
			b.Run(dt.String()+"/"+im.Name+"/dot", func(b *testing.B) {
				dot := full.Dot[dt]
				b.SetBytes(int64(len(w)))
				c0 := cpuSeconds()
				for b.Loop() {
					for i := 0; i < rows; i++ {
						out[i] = dot(w[i*int(rb):(i+1)*int(rb)], &xs[0])
					}
				}
				b.ReportMetric((cpuSeconds()-c0)*1e6/float64(b.N), "cpu-us/op")
			})
		}
	}
}
