package quantize

import (
	"math"
	"math/rand/v2"
	"testing"
)

// searchGroups returns test groups of length n: Gaussian at several scales,
// uniform, heavy-tailed, all-positive, all-negative, sparse, constant,
// zero, tiny, huge, integer grids, and groups with NaN and infinities.
func searchGroups(r *rand.Rand, n int) [][]float32 {
	var gs [][]float32
	gen := func(f func(i int) float32) {
		g := make([]float32, n)
		for i := range g {
			g[i] = f(i)
		}
		gs = append(gs, g)
	}
	for _, s := range []float64{1e-30, 1e-12, 1e-3, 0.02, 1, 300, 1e6, 1e20} {
		gen(func(int) float32 { return float32(r.NormFloat64() * s) })
		gen(func(int) float32 { return float32((r.Float64()*2 - 1) * s) })
		gen(func(int) float32 { return float32(r.Float64() * s) })
		gen(func(int) float32 { return -float32(r.Float64() * s) })
		gen(func(int) float32 { return float32(r.NormFloat64() * s / (0.05 + r.Float64())) })
	}
	gen(func(i int) float32 {
		if r.IntN(8) == 0 {
			return float32(r.NormFloat64())
		}
		return 0
	})
	gen(func(int) float32 { return 0 })
	gen(func(int) float32 { return 0.25 })
	gen(func(int) float32 { return -0.25 })
	gen(func(i int) float32 { return float32(i%16) - 8 })
	gen(func(i int) float32 { return 0.5*float32(i%16) - 1 })
	gen(func(i int) float32 { return float32(int(r.IntN(7)) - 3) })
	gen(func(i int) float32 {
		if i == n/2 {
			return float32(math.NaN())
		}
		return float32(r.NormFloat64())
	})
	gen(func(i int) float32 {
		if i == 0 {
			return float32(math.Inf(1))
		}
		return float32(r.NormFloat64())
	})
	gen(func(i int) float32 {
		if i == n-1 {
			return float32(math.Inf(-1))
		}
		return float32(r.NormFloat64())
	})
	return gs
}

// searchWeights returns weight vectors for x: random, x², zero, mixed.
func searchWeights(r *rand.Rand, x []float32) [][]float32 {
	n := len(x)
	ws := [][]float32{make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)}
	for i, v := range x {
		ws[0][i] = float32(r.ExpFloat64())
		ws[1][i] = v * v
		ws[2][i] = 0
		if r.IntN(3) == 0 {
			ws[3][i] = float32(r.Float64())
		}
	}
	return ws
}

func sameF32(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

func TestSearchFastMatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := 0
	for _, n := range []int{1, 2, 7, 16, 31, 32} {
		for rep := 0; rep < 10; rep++ {
			for gi, x := range searchGroups(r, n) {
				for wi, w := range searchWeights(r, x) {
					// make_qx_quants: with and without explicit weights,
					// every rmse type the codecs use and a few others.
					for _, nmax := range []int{4, 8, 16, 32} {
						for _, rt := range []int{1, 2, 3, 4} {
							for _, qw := range [][]float32{nil, w} {
								if qw == nil && wi > 0 {
									continue
								}
								L1, L2 := make([]int8, n), make([]int8, n)
								d1 := makeQXQuants(n, nmax, x, L1, rt, qw)
								d2 := makeQXQuantsGeneric(n, nmax, x, L2, rt, qw)
								cases++
								if !sameF32(d1, d2) || string(i8b(L1)) != string(i8b(L2)) {
									t.Fatalf("qx n=%d group %d w %d nmax %d rmse %d qw=%v: %v %v vs %v %v\nx=%v", n, gi, wi, nmax, rt, qw != nil, d1, L1, d2, L2, x)
								}
							}
						}
					}
					// make_qkx2_quants with every parameter set of the codecs.
					for _, p := range []struct {
						nmax         int
						rmin, rdelta float32
						nstep        int
						mad          bool
					}{{15, -1, 0.1, 20, false}, {31, -0.5, 0.1, 15, false}, {3, -0.5, 0.1, 15, true}, {15, -1, 0.1, 0, false}, {7, -0.9, 0.05, 36, true}, {15, -0.9, 0.05, 36, false}, {31, -0.9, 0.05, 36, false}, {3, -0.9, 0.05, 36, false}} {
						L1, L2 := make([]uint8, n), make([]uint8, n)
						a1, a2 := make([]uint8, n), make([]uint8, n)
						var m1, m2 float32
						d1 := makeQKX2Quants(n, p.nmax, x, w, L1, a1, &m1, p.rmin, p.rdelta, p.nstep, p.mad)
						d2 := makeQKX2QuantsGeneric(n, p.nmax, x, w, L2, a2, &m2, p.rmin, p.rdelta, p.nstep, p.mad)
						cases++
						if !sameF32(d1, d2) || !sameF32(m1, m2) || string(L1) != string(L2) {
							t.Fatalf("qkx2 n=%d group %d w %d %+v: %v %v %v vs %v %v %v\nx=%v\nw=%v", n, gi, wi, p, d1, m1, L1, d2, m2, L2, x, w)
						}
						for _, qw := range [][]float32{nil, w} {
							if qw == nil && wi > 0 {
								continue
							}
							d1 = makeQKX3Quants(n, p.nmax, x, qw, L1, a1, &m1, p.rmin, p.rdelta, p.nstep, p.mad)
							d2 = makeQKX3QuantsGeneric(n, p.nmax, x, qw, L2, a2, &m2, p.rmin, p.rdelta, p.nstep, p.mad)
							cases++
							if !sameF32(d1, d2) || !sameF32(m1, m2) || string(L1) != string(L2) {
								t.Fatalf("qkx3 n=%d group %d w %d %+v qw=%v: %v %v %v vs %v %v %v\nx=%v\nw=%v", n, gi, wi, p, qw != nil, d1, m1, L1, d2, m2, L2, x, w)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d searches agree (AVX2 kernels: %v)", cases, useAVX2)
}

func i8b(l []int8) []byte {
	b := make([]byte, len(l))
	for i, v := range l {
		b[i] = byte(v)
	}
	return b
}

// BenchmarkSearch compares the fast searches with the generic ones (the
// baselines) on 4096 Gaussian values, in the groups and with the
// parameters of Q4_K (make_qkx2_quants), Q4_K with importances
// (make_qkx3_quants) and Q6_K (make_qx_quants).
func BenchmarkSearch(b *testing.B) {
	x, imp := kqBenchInput()
	w := make([]float32, len(x))
	for i := range w {
		w[i] = 0.02 + absf32(x[i])
	}
	var L, La [32]uint8
	var L8 [32]int8
	var mn float32
	type search struct {
		name string
		f    func()
	}
	for _, s := range []search{
		{"qkx2/fast", func() {
			for g := 0; g < len(x); g += 32 {
				makeQKX2Quants(32, 15, x[g:], w[g:], L[:], La[:], &mn, -1, 0.1, 20, false)
			}
		}},
		{"qkx2/generic", func() {
			for g := 0; g < len(x); g += 32 {
				makeQKX2QuantsGeneric(32, 15, x[g:], w[g:], L[:], La[:], &mn, -1, 0.1, 20, false)
			}
		}},
		{"qkx3/fast", func() {
			for g := 0; g < len(x); g += 32 {
				makeQKX3Quants(32, 15, x[g:], imp[g:], L[:], La[:], &mn, -0.9, 0.05, 36, false)
			}
		}},
		{"qkx3/generic", func() {
			for g := 0; g < len(x); g += 32 {
				makeQKX3QuantsGeneric(32, 15, x[g:], imp[g:], L[:], La[:], &mn, -0.9, 0.05, 36, false)
			}
		}},
		{"qx/fast", func() {
			for g := 0; g < len(x); g += 16 {
				makeQXQuants(16, 32, x[g:], L8[:], 1, nil)
			}
		}},
		{"qx/generic", func() {
			for g := 0; g < len(x); g += 16 {
				makeQXQuantsGeneric(16, 32, x[g:], L8[:], 1, nil)
			}
		}},
	} {
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(4 * int64(len(x)))
			for b.Loop() {
				s.f()
			}
		})
	}
}
