package kernel

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// BenchmarkMatVecBig streams a weight matrix far larger than the caches
// (about 1 GB, as a decode step of a 1B model does) through MatMulRows on
// one thread: the figure that bounds single-thread decode. Set
// SHRINK_BENCH_BIG to run it.
func BenchmarkMatVecBig(b *testing.B) {
	if os.Getenv("SHRINK_BENCH_BIG") == "" {
		b.Skip("SHRINK_BENCH_BIG not set")
	}
	r := rand.New(rand.NewPCG(9, 11))
	const n = 2048
	for _, dt := range []format.DType{format.Q8_0, format.Q4_0, format.Q4_K} {
		rb, _ := dt.RowBytes(n)
		rows := (512 << 20) / int(rb)
		row := encode(b, dt, randRow(r, n))
		w := make([]byte, rows*int(rb))
		for i := 0; i < rows; i++ {
			copy(w[i*int(rb):], row)
		}
		x := randRow(r, n)
		a := Active()
		xs := make([]Vec, 1)
		out := make([]float32, rows)
		a.Quantize(&xs[0], x, KindOf(dt))
		b.Run(dt.String(), func(b *testing.B) {
			b.SetBytes(int64(len(w)))
			for b.Loop() {
				for r0 := 0; r0 < rows; r0 += 64 {
					a.MatMulRows(dt, w, int(rb), r0, min(r0+64, rows), xs, out, rows)
				}
			}
		})
	}
}
