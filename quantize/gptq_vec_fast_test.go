package quantize

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// TestGPTQVecFastSearch checks the AVX2 point search against the scalar
// search on every grid type: on random cost tables (integer costs, so
// that ties are common, and some +Inf) searchPart returns the same part
// as search with and without flips; and assign writes the same bytes and
// values with and without the kernels for random groups, the parity rule
// included. Without AVX2 both sides are the scalar search
// and the test only checks that.
func TestGPTQVecFastSearch(t *testing.T) {
	defer func(a bool) { useAVX2 = a }(useAVX2)
	fast := useAVX2
	if !fast {
		t.Log("no AVX2: the fast search is the scalar one")
	}
	rng := rand.New(rand.NewPCG(31, 32))
	for _, typ := range gptqVecTypes {
		v := gptqGrids[typ].vec
		if fast && v.blk == nil {
			t.Errorf("%s: no AVX2 layout", typ)
		}
		vecFastParts(t, rng, v, typ.String(), fast)
		vecFastAssign(t, rng, typ, fast)
	}
}

// vecFastParts compares searchPart with search on random cost tables.
func vecFastParts(t *testing.T, rng *rand.Rand, v *gptqVec, name string, fast bool) {
	nl := len(v.levels)
	var s gptqVecScratch
	for trial := 0; trial < 300; trial++ {
		cost := make([]float32, v.dim*nl+8)
		flip := make([]float32, v.dim*nl+8)
		for i := range cost[:v.dim*nl] {
			switch {
			case trial%3 == 0:
				cost[i] = float32(rng.IntN(4))
				flip[i] = float32(rng.IntN(3))
			default:
				cost[i] = float32(rng.ExpFloat64())
				flip[i] = float32(rng.ExpFloat64())
			}
			if rng.IntN(40) == 0 {
				cost[i] = float32(math.Inf(1))
			}
		}
		for _, wf := range []bool{false, true} {
			useAVX2 = false
			want := v.search(cost, flip, wf)
			useAVX2 = fast
			if got := v.searchPart(cost, flip, wf, &s); got != want {
				t.Fatalf("%s trial %d flip %v: fast search %+v, scalar %+v", name, trial, wf, got, want)
			}
		}
	}
}

// vecFastAssign compares assign's bytes and values with and without the
// AVX2 search on random blocks and groups.
func vecFastAssign(t *testing.T, rng *rand.Rand, typ format.DType, fast bool) {
	g, name := gptqGrids[typ], typ.String()
	v := g.vec
	var s gptqVecScratch
	for trial := 0; trial < 20; trial++ {
		b, imp := randomBlock(rng, typ)
		b2 := bytes.Clone(b)
		out, out2 := make([]float32, v.group), make([]float32, v.group)
		for e := 0; e < g.block; e += v.group {
			sc := v.scale(b, e)
			xg := make([]float32, v.group)
			for i := range xg {
				xg[i] = float32(rng.NormFloat64()) * sc * float32(1+rng.IntN(12))
			}
			useAVX2 = false
			v.assign(b, e, xg, imp[e:e+v.group], out, &s)
			useAVX2 = fast
			v.assign(b2, e, xg, imp[e:e+v.group], out2, &s)
			if !bytes.Equal(b, b2) {
				t.Fatalf("%s trial %d group at %d: fast search writes different bytes", name, trial, e)
			}
			for i := range out {
				if math.Float32bits(out[i]) != math.Float32bits(out2[i]) {
					t.Fatalf("%s trial %d group at %d element %d: fast %v, scalar %v", name, trial, e, i, out2[i], out[i])
				}
			}
		}
	}
}

// BenchmarkGPTQVecSearch times assign (cost tables, point search, store)
// on 4096 random groups of each grid type, with the AVX2 point sums
// (fast) and with the scalar search (scalar).
func BenchmarkGPTQVecSearch(b *testing.B) {
	defer func(a bool) { useAVX2 = a }(useAVX2)
	fast := useAVX2
	rng := rand.New(rand.NewPCG(41, 42))
	for _, typ := range gptqVecTypes {
		g := gptqGrids[typ]
		v := g.vec
		c, _ := CodecFor(typ)
		x, imp := make([]float32, g.block), make([]float32, g.block)
		for i := range x {
			x[i], imp[i] = float32(rng.NormFloat64()), float32(rng.ExpFloat64())
		}
		blk := make([]byte, g.bytes)
		c.Encode(blk, x, imp)
		xs := make([]float32, 4096*v.group)
		for i := range xs {
			xs[i] = x[i%g.block] + float32(rng.NormFloat64())*0.1
		}
		out := make([]float32, v.group)
		for _, k := range []struct {
			name string
			avx  bool
		}{{"scalar", false}, {"fast", fast}} {
			b.Run(typ.String()+"/"+k.name, func(b *testing.B) {
				useAVX2 = k.avx
				var s gptqVecScratch
				for i := 0; i < b.N; i++ {
					for n := 0; n < 4096; n++ {
						e := n * v.group % g.block
						v.assign(blk, e, xs[n*v.group:(n+1)*v.group], imp[e:e+v.group], out, &s)
					}
				}
			})
		}
	}
}
