package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMatVecSplitAgrees checks that every implementation's MatVec gives
// each row the same bits however the rows are split between calls (as
// the engine's workers split them for any thread count): the whole range
// in one call, tiles of 1, 3 and 7 rows, and the implementation's own Dot
// row by row.
func TestMatVecSplitAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	const rows = 23
	for _, im := range Impls()[1:] {
		if !im.Available {
			continue
		}
		full := merge([]*Impl{Generic, im})
		for _, dt := range weightTypes {
			if im.MatVec[dt] == nil {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s", im.Name, dt), func(t *testing.T) {
				k := KindOf(dt)
				n := 3 * Block(k)
				rb, _ := dt.RowBytes(int64(n))
				var w []byte
				for i := 0; i < rows; i++ {
					w = append(w, rawRow(r, dt, n, i%4)...)
				}
				xs := make([]Vec, 1)
				Generic.Quantize(&xs[0], randRow(r, n), k)
				whole := make([]float32, rows)
				full.MatVec[dt](w, int(rb), 0, rows, xs, whole, rows)
				for _, tile := range []int{1, 3, 7} {
					out := make([]float32, rows)
					for r0 := 0; r0 < rows; r0 += tile {
						full.MatVec[dt](w, int(rb), r0, min(r0+tile, rows), xs, out, rows)
					}
					for i := range out {
						if math.Float32bits(out[i]) != math.Float32bits(whole[i]) {
							t.Fatalf("tiles of %d: row %d = %g, in one call %g", tile, i, out[i], whole[i])
						}
					}
				}
				for i := 0; i < rows; i++ {
					d := full.Dot[dt](w[i*int(rb):(i+1)*int(rb)], &xs[0])
					if math.Float32bits(d) != math.Float32bits(whole[i]) {
						t.Fatalf("row %d: Dot %g, MatVec %g", i, d, whole[i])
					}
				}
			})
		}
	}
}
