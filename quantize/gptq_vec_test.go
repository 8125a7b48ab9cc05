package quantize

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// randomBlock returns one block of type typ encoded by its codec from
// normal values with exponential importances, and those importances.
func randomBlock(rng *rand.Rand, typ format.DType) (b []byte, imp []float32) {
	g := gptqGrids[typ]
	c, _ := CodecFor(typ)
	x := make([]float32, g.block)
	imp = make([]float32, g.block)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
		imp[i] = float32(rng.ExpFloat64())
	}
	b = make([]byte, g.bytes)
	c.Encode(b, x, imp)
	return b, imp
}

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
			b, imp := randomBlock(rng, typ)
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
// even ones under the parity rule) is nearer, by brute force.
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
			sc := v.scale(b, e)
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
			best := vecBrute(v, xg, w, sc)
			if got > best*(1+1e-5)+1e-12 {
				t.Errorf("%s trial %d: assign's error %v, best %v", typ, trial, got, best)
			}
		}
	}
}

// vecBrute is the least weighted error of any allowed code for the group
// xg at scale sc: for each allowed sign mask, each part's best point.
func vecBrute(v *gptqVec, xg, w []float32, sc float32) float64 {
	masks := 1 << v.group
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
					q := float32(sc * v.levels[v.lev[p*v.dim+j]])
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

// TestGPTQExtremeRows: a row with values whose scales overflow f16 and an all-zero
// row do not stop GPTQ for any i-quant, and the other rows (independent of
// them) decode to finite values, the zero row to zeros. (Non-finite
// weights never get here: the quantize command rejects them first.)
func TestGPTQExtremeRows(t *testing.T) {
	const rows, cols, T = 4, 256, 300
	w, x := gptqLayer(21, rows, cols, T)
	w[3], w[100], w[7] = 1e7, -3e6, 1e20
	clear(w[2*cols : 3*cols])
	h := NewHessian(cols)
	h.Add(x, T)
	H := h.Matrix()
	for _, typ := range append([]format.DType{format.IQ4_NL, format.IQ4_XS}, gptqVecTypes...) {
		rb, _ := typ.RowBytes(cols)
		dst := make([]byte, rows*int(rb))
		if err := GPTQ(typ, dst, w, rows, cols, H, GPTQOptions{}); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		for i, v := range decodeAll(t, typ, dst, rows, cols)[cols:] {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || i/cols == 1 && v != 0 {
				t.Fatalf("%s: row %d element %d decodes to %v", typ, 1+i/cols, i%cols, v)
			}
		}
	}
}
