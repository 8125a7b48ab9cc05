package quantize

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGPTQVecDecode checks each grid type's group assignment against the
// codec's decoder: after assigning any group of an encoded block, the
// block decodes to the values assign returned for that group and to the
// earlier values everywhere else.
func TestGPTQVecDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	for _, typ := range gptqVecTypes {
		g := gptqGrids[typ]
		v := g.vec
		c, _ := CodecFor(typ)
		var s gptqVecScratch
		for trial := 0; trial < 4; trial++ {
			x := make([]float32, g.block)
			imp := make([]float32, g.block)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				imp[i] = float32(rng.ExpFloat64())
			}
			b := make([]byte, g.bytes)
			c.Encode(b, x, imp)
			before := make([]float32, g.block)
			after := make([]float32, g.block)
			out := make([]float32, v.group)
			for e := 0; e < g.block; e += v.group {
				c.Decode(before, b)
				xg := make([]float32, v.group)
				for i := range xg {
					xg[i] = float32(rng.NormFloat64() * 2)
				}
				v.assign(b, e, xg, imp[e:e+v.group], out, &s)
				c.Decode(after, b)
				for i := range after {
					want := before[i]
					if i >= e && i < e+v.group {
						want = out[i-e]
					}
					if after[i] != want && !(after[i] == 0 && want == 0) {
						t.Fatalf("%s trial %d group at %d: element %d decodes to %v, want %v", typ, trial, e, i, after[i], want)
					}
				}
			}
		}
	}
}

// TestGPTQVecBest checks that assign finds the weighted nearest code: no
// grid point with any allowed sign mask (every mask for free signs, the
// even ones under the parity rule, none for IQ1) is nearer, by brute force.
func TestGPTQVecBest(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 15))
	for _, typ := range gptqVecTypes {
		g := gptqGrids[typ]
		v := g.vec
		c, _ := CodecFor(typ)
		var s gptqVecScratch
		x := make([]float32, g.block)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		b := make([]byte, g.bytes)
		c.Encode(b, x, nil)
		for trial := 0; trial < 12; trial++ {
			e := v.group * rng.IntN(g.block/v.group)
			sc, delta := v.scale(b, e)
			xg, w, out := make([]float32, v.group), make([]float32, v.group), make([]float32, v.group)
			for i := range xg {
				xg[i] = float32(rng.NormFloat64()) * sc * 10
				w[i] = float32(rng.ExpFloat64())
			}
			if trial == 0 {
				xg[1] = 0
			}
			v.assign(b, e, xg, w, out, &s)
			var got float64
			for i, q := range out {
				got += float64(w[i]) * float64(xg[i]-q) * float64(xg[i]-q)
			}
			best := vecBrute(v, xg, w, sc, delta)
			if got > best*(1+1e-5)+1e-12 {
				t.Errorf("%s trial %d: assign's error %v, best %v", typ, trial, got, best)
			}
		}
	}
}

// vecBrute is the least weighted error of any allowed code for the group
// xg at scale sc: for each allowed sign mask, each part's best point.
func vecBrute(v *gptqVec, xg, w []float32, sc, delta float32) float64 {
	masks := 1
	if v.signed {
		masks = 1 << v.group
	}
	best := math.Inf(1)
	for m := 0; m < masks; m++ {
		if v.parity && countBits8(uint8(m))%2 == 1 {
			continue
		}
		var tot float64
		for k := 0; k < v.group/v.dim; k++ {
			pb := math.Inf(1)
			for p := 0; p < v.npts; p++ {
				var e float64
				for j := 0; j < v.dim; j++ {
					i := k*v.dim + j
					q := float32(sc * float32(v.levels[v.lev[p*v.dim+j]]+delta))
					if m>>i&1 != 0 {
						q = -q
					}
					e += float64(w[i]) * float64(xg[i]-q) * float64(xg[i]-q)
				}
				pb = math.Min(pb, e)
			}
			tot += pb
		}
		best = math.Min(best, tot)
	}
	return best
}

// TestGPTQVecRefit checks the grid types' scale codes: every code written
// reads back, leaves the other sub-blocks' codes alone and scales the
// sub-block's grid monotonically; and refit never raises the sub-block's
// error (its groups' best codes) and lowers it in aggregate.
func TestGPTQVecRefit(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 17))
	for _, typ := range gptqVecTypes {
		g := gptqGrids[typ]
		v := g.vec
		c, _ := CodecFor(typ)
		var s gptqVecScratch
		nsub := g.block / v.sub
		var before, after float64
		for trial := 0; trial < 6; trial++ {
			x := make([]float32, g.block)
			w := make([]float32, g.block)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				w[i] = float32(rng.ExpFloat64())
			}
			b := make([]byte, g.bytes)
			c.Encode(b, x, w)
			for j := 0; j < nsub; j++ {
				old := v.getSc(b, j)
				prev := float32(-1)
				for code := int32(0); code < v.nsc; code++ {
					others := make([]int32, nsub)
					for k := range others {
						others[k] = v.getSc(b, k)
					}
					v.setSc(b, j, code)
					if got := v.getSc(b, j); got != code {
						t.Fatalf("%s sub-block %d: set %d, read %d", typ, j, code, got)
					}
					for k := range others {
						if k != j && v.getSc(b, k) != others[k] {
							t.Fatalf("%s: setting sub-block %d's code changed sub-block %d's", typ, j, k)
						}
					}
					sc, _ := v.scale(b, j*v.sub)
					if !(sc > prev) {
						t.Fatalf("%s sub-block %d code %d: scale %v after %v", typ, j, code, sc, prev)
					}
					prev = sc
				}
				v.setSc(b, j, old)
			}
			for i := range x {
				x[i] += float32(0.3 * rng.NormFloat64())
			}
			werr := func(e int) float64 {
				var tot float64
				for k := e; k < e+v.sub; k += v.group {
					_, cost := v.choose(b, k, x[k:k+v.group], w[k:k+v.group], &s)
					tot += float64(cost)
				}
				return tot
			}
			for e := 0; e < g.block; e += v.sub {
				e0 := werr(e)
				v.refit(b, e, x[e:e+v.sub], w[e:e+v.sub], &s)
				e1 := werr(e)
				if e1 > e0*(1+1e-5) {
					t.Fatalf("%s sub-block at %d: error %v -> %v", typ, e, e0, e1)
				}
				before += e0
				after += e1
			}
		}
		if !(after < before) {
			t.Errorf("%s: refit error %v, before %v", typ, after, before)
		}
	}
}
