package kernel

import (
	"math/rand/v2"
	"testing"
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
					out := make([]float32, T*rows)
					b.SetBytes(int64(len(w)))
					for b.Loop() {
						// 64-row tiles, as the engine's workers take them.
						for r0 := 0; r0 < rows; r0 += 64 {
							full.MatMulRows(dt, w, int(rb), r0, r0+64, xs[:T], out, rows)
						}
					}
				})
			}
		}
	}
}
