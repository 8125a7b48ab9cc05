package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/quantize"
)

// The conformance suite runs every registered, available implementation
// against Generic on random and edge-case rows: raw random blocks (every
// code value, including the extreme ones), zero, tiny and huge block
// scales, lengths that are not a multiple of any unroll, and guard bands
// of poison bytes around every input slice (a kernel that reads past its
// slice picks them up and disagrees with Generic) and around every output
// slice (which must stay untouched).

// scaleFields lists the byte offsets of the binary16 scales in one block of
// each quantized type.
var scaleFields = map[format.DType][]int{
	format.Q8_0: {0}, format.Q4_0: {0}, format.Q4_1: {0, 2}, format.Q5_0: {0},
	format.Q5_1: {0, 2}, format.IQ4_NL: {0}, format.Q2_K: {80, 82},
	format.Q3_K: {108}, format.Q4_K: {0, 2}, format.Q5_K: {0, 2}, format.Q6_K: {208}, format.IQ4_XS: {0},
	format.IQ3_XXS: {0}, format.IQ3_S: {0}, format.IQ2_XXS: {0}, format.IQ2_XS: {0}, format.IQ2_S: {0},
	format.IQ1_S: {0},
}

// setIQ1MScale stores the binary16 scale h in the top nibbles of the four
// scale words of the IQ1_M block blk.
func setIQ1MScale(blk []byte, h uint16) {
	for i := 0; i < 4; i++ {
		w := binary.LittleEndian.Uint16(blk[48+2*i:])&0x0fff | (h>>(4*i)&15)<<12
		binary.LittleEndian.PutUint16(blk[48+2*i:], w)
	}
}

const poison = 0x7b

// rawRow returns a row of n elements of type dt made of random bytes, with
// block scales drawn by mode: 0 normal, 1 zero, 2 huge (near the binary16
// maximum), 3 tiny (subnormal binary16).
func rawRow(r *rand.Rand, dt format.DType, n, mode int) []byte {
	rb, _ := dt.RowBytes(int64(n))
	b := make([]byte, rb)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	scale := func() uint16 {
		switch mode {
		case 1:
			return 0
		case 2:
			return format.F32ToF16(float32(60000 - r.IntN(20000)))
		case 3:
			return uint16(1 + r.IntN(1000))
		}
		return format.F32ToF16(float32(r.NormFloat64() * 0.05))
	}
	switch dt {
	case format.F32:
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(r.NormFloat64())))
		}
	case format.F16:
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint16(b[2*i:], format.F32ToF16(float32(r.NormFloat64()*100)))
		}
	case format.BF16:
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint16(b[2*i:], format.F32ToBF16(float32(r.NormFloat64()*100)))
		}
	default:
		tr, _ := dt.Traits()
		for blk := 0; blk < len(b)/tr.BlockBytes; blk++ {
			for _, off := range scaleFields[dt] {
				binary.LittleEndian.PutUint16(b[blk*tr.BlockBytes+off:], scale())
			}
			if dt == format.IQ1_M {
				setIQ1MScale(b[blk*tr.BlockBytes:], scale())
			}
		}
	}
	return b
}

// guarded returns a copy of s inside a larger slice filled with fill, and
// the whole backing slice.
func guarded[T any](s []T, fill T) (inner, whole []T) {
	whole = make([]T, len(s)+64)
	for i := range whole {
		whole[i] = fill
	}
	copy(whole[32:], s)
	return whole[32 : 32+len(s) : 32+len(s)], whole
}

// guardedVec copies v into poisoned guard bands.
func guardedVec(v *Vec) *Vec {
	g := &Vec{}
	g.F, _ = guarded(v.F, float32(1e30))
	g.Q, _ = guarded(v.Q, int8(poison))
	g.D, _ = guarded(v.D, float32(1e30))
	g.S, _ = guarded(v.S, float32(1e30))
	g.BSums, _ = guarded(v.BSums, int16(30000))
	return g
}

// magnitude is sum |w_i * a_i| over the decoded row, the scale of the
// rounding error a reordered float sum may show.
func magnitude(t *testing.T, dt format.DType, w []byte, v *Vec) float64 {
	n := len(v.F)
	wf := make([]float32, n)
	if err := quantize.DecodeRow(dt, wf, w); err != nil {
		t.Fatal(err)
	}
	k := KindOf(dt)
	var s float64
	for i := range wf {
		a := float64(v.F[i])
		if k != ActFloat {
			a = float64(v.D[i/Block(k)]) * float64(v.Q[i])
		}
		s += math.Abs(float64(wf[i]) * a)
	}
	return s
}

func TestConformance(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, im := range Impls()[1:] {
		if !im.Available {
			t.Logf("%s: not available on this CPU, skipped", im.Name)
			continue
		}
		full := merge([]*Impl{Generic, im})
		for _, dt := range weightTypes {
			if im.Dot[dt] == nil {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s", im.Name, dt), func(t *testing.T) {
				k := KindOf(dt)
				bs := Block(k)
				lengths := []int{1, 2, 3, 5, 7, 8, 9, 15, 33}
				if k == ActFloat {
					lengths = []int{1, 3, 7, 8, 9, 15, 16, 31, 32, 33, 63, 65, 100, 257}
				}
				for _, nb := range lengths {
					n := nb * bs
					for mode := 0; mode < 4; mode++ {
						for act := 0; act < 3; act++ {
							w := rawRow(r, dt, n, mode)
							x := randRow(r, n)
							switch act {
							case 1: // constant rows: every code at +-127
								for i := range x {
									x[i] = 1e3
									if i%3 == 0 {
										x[i] = -1e3
									}
								}
							case 2:
								clear(x[:n/2])
							}
							var v Vec
							Generic.Quantize(&v, x, k)
							want := float64(Generic.Dot[dt](w, &v))
							gw, _ := guarded(w, byte(poison))
							got := float64(im.Dot[dt](gw, guardedVec(&v)))
							tol := 2e-5*magnitude(t, dt, w, &v) + 1e-30
							if math.Abs(got-want) > tol || math.IsNaN(got) != math.IsNaN(want) {
								t.Fatalf("n=%d mode=%d act=%d: dot = %g, generic %g (tolerance %g)", n, mode, act, got, want, tol)
							}
						}
					}
				}
			})
		}
		t.Run(im.Name+"/vectors", func(t *testing.T) {
			for n := 0; n < 70; n++ {
				a, b := randRow(r, n), randRow(r, n)
				ga, _ := guarded(a, float32(1e30))
				gb, _ := guarded(b, float32(1e30))
				want := Generic.DotF32(a, b)
				got := full.DotF32(ga, gb)
				if math.Abs(float64(got-want)) > 1e-5*float64(n+1) {
					t.Fatalf("DotF32 n=%d: %g, generic %g", n, got, want)
				}
				y, whole := guarded(b, float32(-7))
				full.Axpy(0.375, ga, y)
				for i := range y {
					if want := b[i] + 0.375*a[i]; math.Abs(float64(y[i]-want)) > 1e-6*(1+math.Abs(float64(want))) {
						t.Fatalf("Axpy n=%d [%d] = %g, want %g", n, i, y[i], want)
					}
				}
				for i := range whole {
					if (i < 32 || i >= 32+n) && whole[i] != -7 {
						t.Fatalf("Axpy n=%d wrote outside y at %d", n, i-32)
					}
				}
			}
		})
		t.Run(im.Name+"/quantize", func(t *testing.T) {
			for _, k := range []ActKind{ActQ8, ActQ8K} {
				for _, nb := range []int{1, 2, 3, 7} {
					x := randRow(r, nb*Block(k))
					x[0] = 0
					if nb == 2 {
						// Ties of magnitude: the first one sets the sign.
						x[5], x[9], x[40] = -9, 9, 9
						x[Block(k)+7], x[Block(k)+3] = 8, -8
					}
					if nb == 3 {
						x[1] = float32(math.NaN()) // ignored by the scale search
					}
					if nb == 1 {
						// Scale 1: halves test the rounding (away from zero
						// for Q8, to even for Q8K).
						copy(x, []float32{127, 2.5, -3.5, 0.49999997, -0.5, 126.5, -1.5, 0.5})
					}
					var want, got Vec
					Generic.Quantize(&want, x, k)
					n := len(x)
					got.Q, _ = guarded(make([]int8, n), int8(poison))
					got.D, _ = guarded(make([]float32, n/Block(k)), float32(-7))
					got.S, _ = guarded(make([]float32, n/32), float32(-7))
					got.BSums, _ = guarded(make([]int16, n/16), int16(-7))
					full.Quantize(&got, x, k)
					for i := range want.Q {
						if got.Q[i] != want.Q[i] {
							t.Fatalf("kind %d n=%d: code %d = %d, generic %d", k, n, i, got.Q[i], want.Q[i])
						}
					}
					for i := range want.D {
						if got.D[i] != want.D[i] {
							t.Fatalf("kind %d n=%d: scale %d = %g, generic %g", k, n, i, got.D[i], want.D[i])
						}
					}
					if k == ActQ8 {
						for i := range want.S {
							if got.S[i] != want.S[i] {
								t.Fatalf("n=%d: sum %d = %g, generic %g", n, i, got.S[i], want.S[i])
							}
						}
					} else {
						for i := range want.BSums {
							if got.BSums[i] != want.BSums[i] {
								t.Fatalf("n=%d: bsum %d = %d, generic %d", n, i, got.BSums[i], want.BSums[i])
							}
						}
					}
				}
			}
		})
	}
}

// TestConformanceMatMul checks MatMulRows (and so each MatMul4 and
// MatMul16) of every implementation against Generic's dot products, for 1
// to 9 and 16 to 33 activation rows (packed by Prepare or not), a row
// range inside the matrix that is not a multiple of the tiles, and guard
// bands around the output and the weights.
func TestConformanceMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, im := range Impls()[1:] {
		if !im.Available {
			continue
		}
		full := merge([]*Impl{Generic, im})
		for _, dt := range weightTypes {
			if im.MatMul16[dt] == nil && im.MatMul4[dt] == nil && im.Dot[dt] == nil {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s", im.Name, dt), func(t *testing.T) {
				k := KindOf(dt)
				for _, nb := range []int{1, 3, 8, 9} {
					n := nb * Block(k)
					if k == ActFloat {
						n = 8*nb + nb%3
					}
					for _, shape := range []struct{ rows, t0, t1 int }{{7, 1, 9}, {37, 16, 17}, {37, 32, 33}} {
						rows := shape.rows
						rb, _ := dt.RowBytes(int64(n))
						var w []byte
						for i := 0; i < rows; i++ {
							w = append(w, rawRow(r, dt, n, i%4)...)
						}
						gw, _ := guarded(w, byte(poison))
						for T := shape.t0; T <= shape.t1; T++ {
							xs := make([]Vec, T)
							gxs := make([]Vec, T)
							for j := range xs {
								Generic.Quantize(&xs[j], randRow(r, n), k)
								gxs[j] = *guardedVec(&xs[j])
							}
							if T%2 == 0 {
								full.Prepare(gxs, k) // else MatMul16 packs them itself
							}
							stride := rows + 3
							out, whole := guarded(make([]float32, T*stride), float32(-7))
							for i := range out {
								out[i] = -7
							}
							full.MatMulRows(dt, gw, int(rb), 1, rows-1, gxs, out, stride)
							for j := 0; j < T; j++ {
								for i := 0; i < stride; i++ {
									got := out[j*stride+i]
									if i < 1 || i >= rows-1 {
										if got != -7 {
											t.Fatalf("n=%d T=%d: wrote out[%d,%d] outside the rows", n, T, j, i)
										}
										continue
									}
									row := w[i*int(rb) : (i+1)*int(rb)]
									want := float64(Generic.Dot[dt](row, &xs[j]))
									tol := 2e-5*magnitude(t, dt, row, &xs[j]) + 1e-30
									if math.Abs(float64(got)-want) > tol {
										t.Fatalf("n=%d T=%d: out[%d,%d] = %g, generic %g (tolerance %g)", n, T, j, i, got, want, tol)
									}
								}
							}
							for i := range whole {
								if (i < 32 || i >= len(whole)-32) && whole[i] != -7 {
									t.Fatalf("n=%d T=%d: wrote outside out", n, T)
								}
							}
						}
					}
				}
			})
		}
	}
}

// TestConformanceSiLUMul checks every implementation's SiLUMul against
// Generic's for lengths around the vector widths and a feed-forward width,
// values from tiny to beyond the clamping range, and guard bands around g
// and u; Generic itself against math.Exp in float64.
func TestConformanceSiLUMul(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	gen := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			switch i % 7 {
			case 0:
				x[i] = float32(r.NormFloat64() * 40) // often past the clamping
			case 1:
				x[i] = float32(r.NormFloat64() * 1e-3)
			default:
				x[i] = float32(r.NormFloat64() * 3)
			}
		}
		return x
	}
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 5632} {
		g0, u := gen(n), gen(n)
		want := append([]float32(nil), g0...)
		Generic.SiLUMul(want, u)
		for i, x := range g0 {
			ref := float64(x) / (1 + math.Exp(-float64(x))) * float64(u[i])
			if d := math.Abs(float64(want[i]) - ref); d > 4e-7*math.Abs(ref)+1e-30*math.Abs(float64(x*u[i])) {
				t.Fatalf("generic n=%d: silu(%g)*%g = %g, float64 %g", n, x, u[i], want[i], ref)
			}
		}
		for _, im := range Impls() {
			if !im.Available || im.SiLUMul == nil {
				continue
			}
			gg, gwhole := guarded(append([]float32(nil), g0...), float32(-7))
			gu, uwhole := guarded(u, float32(-7))
			im.SiLUMul(gg, gu)
			for i := range gg {
				if d := math.Abs(float64(gg[i] - want[i])); d > 2e-7*math.Abs(float64(want[i]))+1e-36 {
					t.Fatalf("%s n=%d: silu(%g)*%g = %g, generic %g", im.Name, n, g0[i], u[i], gg[i], want[i])
				}
			}
			for _, whole := range [][]float32{gwhole, uwhole} {
				for i := range whole {
					if (i < 32 || i >= len(whole)-32) && whole[i] != -7 {
						t.Fatalf("%s n=%d: wrote outside the slices", im.Name, n)
					}
				}
			}
			// The same values however g is split (product tiles split
			// it anywhere).
			if n > 7 {
				pieces := append([]float32(nil), g0...)
				im.SiLUMul(pieces[:7], u[:7])
				im.SiLUMul(pieces[7:], u[7:])
				for i := range pieces {
					if math.Float32bits(pieces[i]) != math.Float32bits(gg[i]) {
						t.Fatalf("%s n=%d: value %d is %g split at 7, %g whole", im.Name, n, i, pieces[i], gg[i])
					}
				}
			}
		}
	}
}

// TestConformanceAttention checks every implementation's DotRows, AxpyRows
// and ExpShift against Generic's, for head widths around the vector width,
// strided rows inside guard bands, and position counts around it.
func TestConformanceAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, im := range Impls()[1:] {
		if !im.Available || (im.DotRows == nil && im.AxpyRows == nil && im.ExpShift == nil) {
			continue
		}
		full := merge([]*Impl{Generic, im})
		for _, hd := range []int{7, 16, 32, 64, 72, 128} {
			for _, n := range []int{0, 1, 15, 16, 17, 100} {
				stride := 3*hd + 5
				m := randRow(r, max(n*stride, 1))
				gm, _ := guarded(m, float32(1e30))
				x := randRow(r, hd)
				// Scores.
				want := make([]float32, n)
				Generic.DotRows(x, m, stride, want)
				got, whole := guarded(make([]float32, n), float32(-7))
				full.DotRows(x, gm, stride, got)
				for p := range want {
					if d := math.Abs(float64(got[p] - want[p])); d > 1e-5*(1+math.Abs(float64(want[p]))) {
						t.Fatalf("%s DotRows hd=%d n=%d: [%d] = %g, generic %g", im.Name, hd, n, p, got[p], want[p])
					}
				}
				checkGuards(t, whole, -7)
				// Weighted sum.
				w := randRow(r, n)
				wantY := randRow(r, hd)
				gotY, wholeY := guarded(append([]float32(nil), wantY...), float32(-7))
				Generic.AxpyRows(w, m, stride, wantY)
				full.AxpyRows(w, gm, stride, gotY)
				for i := range wantY {
					if d := math.Abs(float64(gotY[i] - wantY[i])); d > 1e-5*(1+math.Abs(float64(wantY[i]))) {
						t.Fatalf("%s AxpyRows hd=%d n=%d: [%d] = %g, generic %g", im.Name, hd, n, i, gotY[i], wantY[i])
					}
				}
				checkGuards(t, wholeY, -7)
			}
		}
		for _, n := range []int{0, 1, 15, 16, 17, 33, 1000} {
			x := randRow(r, n)
			for i := range x {
				x[i] *= 30
			}
			s := float32(0)
			for _, v := range x {
				s = max(s, v)
			}
			want := append([]float32(nil), x...)
			wsum := Generic.ExpShift(want, s)
			got, whole := guarded(append([]float32(nil), x...), float32(-7))
			gsum := full.ExpShift(got, s)
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 2e-7*float64(want[i])+1e-38 {
					t.Fatalf("%s ExpShift n=%d: [%d] = %g, generic %g", im.Name, n, i, got[i], want[i])
				}
				if ref := math.Exp(float64(x[i] - s)); math.Abs(float64(want[i])-ref) > 4e-7*ref+1e-37 {
					t.Fatalf("generic ExpShift: e**%g = %g, float64 %g", x[i]-s, want[i], ref)
				}
			}
			if d := math.Abs(float64(gsum - wsum)); d > 1e-5*float64(wsum) {
				t.Fatalf("%s ExpShift n=%d: sum %g, generic %g", im.Name, n, gsum, wsum)
			}
			checkGuards(t, whole, -7)
		}
	}
}

// checkGuards fails the test when the 32-element guard bands of whole (as
// made by guarded) no longer hold fill.
func checkGuards(t *testing.T, whole []float32, fill float32) {
	t.Helper()
	for i := range whole {
		if (i < 32 || i >= len(whole)-32) && whole[i] != fill {
			t.Fatalf("wrote outside the slice (guard %d)", i)
		}
	}
}
