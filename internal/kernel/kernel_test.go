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

// weightTypes lists every type the kernels multiply.
var weightTypes = []format.DType{
	format.F32, format.F16, format.BF16,
	format.Q8_0, format.Q4_0, format.Q4_1, format.Q5_0, format.Q5_1, format.IQ4_NL,
	format.Q2_K, format.Q3_K, format.Q4_K, format.Q5_K, format.Q6_K, format.IQ4_XS,
	format.IQ3_XXS, format.IQ3_S, format.IQ2_XXS, format.IQ2_XS, format.IQ2_S, format.IQ1_S, format.IQ1_M,
}

func randRow(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// encode returns the weight row x stored as type t.
func encode(t testing.TB, dt format.DType, x []float32) []byte {
	nb, err := dt.RowBytes(int64(len(x)))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, nb)
	var imp []float32 // unit importances for the types that need them
	if quantize.RequiresImatrix(dt) {
		imp = make([]float32, len(x))
		for i := range imp {
			imp[i] = 1
		}
	}
	if err := quantize.EncodeRow(dt, b, x, imp); err != nil {
		t.Fatal(err)
	}
	return b
}

// refDot is the float64 product of the dequantized weight row with the
// activation as the kernel sees it (8-bit-rounded for quantized weights).
func refDot(t testing.TB, dt format.DType, w []byte, v *Vec) float64 {
	n := len(v.F)
	wf := make([]float32, n)
	if err := quantize.DecodeRow(dt, wf, w); err != nil {
		t.Fatal(err)
	}
	k := KindOf(dt)
	bs := Block(k)
	var s float64
	for i := 0; i < n; i++ {
		a := float64(v.F[i])
		if k != ActFloat {
			a = float64(v.D[i/bs]) * float64(v.Q[i])
		}
		s += float64(wf[i]) * a
	}
	return s
}

func TestDotEveryImpl(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 512
	for _, im := range Impls() {
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
				for trial := 0; trial < 20; trial++ {
					wx := randRow(r, n)
					if trial == 1 {
						clear(wx[:300]) // all-zero blocks
					}
					w := encode(t, dt, wx)
					x := randRow(r, n)
					if trial == 2 {
						clear(x[:256])
					}
					var v Vec
					full.Quantize(&v, x, KindOf(dt))
					got := float64(im.Dot[dt](w, &v))
					want := refDot(t, dt, w, &v)
					var scale float64
					for i := range x {
						scale += math.Abs(float64(x[i]) * float64(wx[i]))
					}
					if math.Abs(got-want) > 1e-5*scale+1e-6 {
						t.Fatalf("trial %d: dot = %g, want %g (scale %g)", trial, got, want, scale)
					}
				}
			})
		}
	}
}

func TestQuantizeActivations(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := randRow(r, 1024)
	x[5] = 0
	clear(x[256:512])
	for _, im := range Impls() {
		if !im.Available {
			continue
		}
		full := merge([]*Impl{Generic, im})
		// Q8 blocks agree with the Q8_0 codec byte for byte.
		var v Vec
		full.Quantize(&v, x, ActQ8)
		want := encode(t, format.Q8_0, x)
		for b := 0; b < len(x)/32; b++ {
			blk := want[b*34:]
			if got := v.D[b]; got != F16(blk) {
				t.Fatalf("%s: Q8 block %d scale %g, want %g", im.Name, b, got, F16(blk))
			}
			var sum int32
			for j := 0; j < 32; j++ {
				if v.Q[b*32+j] != int8(blk[2+j]) {
					t.Fatalf("%s: Q8 block %d code %d = %d, want %d", im.Name, b, j, v.Q[b*32+j], int8(blk[2+j]))
				}
				sum += int32(v.Q[b*32+j])
			}
			if v.S[b] != v.D[b]*float32(sum) {
				t.Fatalf("%s: Q8 block %d sum %g, want %g", im.Name, b, v.S[b], v.D[b]*float32(sum))
			}
		}
		// Q8K super-blocks agree with the Q8_K codec byte for byte.
		full.Quantize(&v, x, ActQ8K)
		wantK := encode(t, format.Q8_K, x)
		for b := 0; b < len(x)/256; b++ {
			blk := wantK[b*292:]
			if d := math.Float32frombits(binary.LittleEndian.Uint32(blk)); v.D[b] != d {
				t.Fatalf("%s: Q8K block %d scale %g, want %g", im.Name, b, v.D[b], d)
			}
			for j := 0; j < 256; j++ {
				if v.Q[b*256+j] != int8(blk[4+j]) {
					t.Fatalf("%s: Q8K block %d code %d = %d, want %d", im.Name, b, j, v.Q[b*256+j], int8(blk[4+j]))
				}
			}
			for g := 0; g < 16; g++ {
				if want := int16(binary.LittleEndian.Uint16(blk[260+2*g:])); v.BSums[b*16+g] != want {
					t.Fatalf("%s: Q8K block %d bsum %d = %d, want %d", im.Name, b, g, v.BSums[b*16+g], want)
				}
			}
		}
	}
}

func TestFloatVectors(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, im := range Impls() {
		if !im.Available {
			continue
		}
		full := merge([]*Impl{Generic, im})
		for _, n := range []int{0, 1, 3, 7, 64, 130} {
			a, b := randRow(r, n), randRow(r, n)
			var want float64
			for i := range a {
				want += float64(a[i]) * float64(b[i])
			}
			if got := full.DotF32(a, b); math.Abs(float64(got)-want) > 1e-4*(1+math.Abs(want)) {
				t.Errorf("%s: DotF32 n=%d = %g, want %g", im.Name, n, got, want)
			}
			y := append([]float32(nil), b...)
			full.Axpy(0.5, a, y)
			for i := range y {
				if y[i] != b[i]+0.5*a[i] {
					t.Fatalf("%s: Axpy[%d] = %g, want %g", im.Name, i, y[i], b[i]+0.5*a[i])
				}
			}
		}
	}
}

func TestRegistry(t *testing.T) {
	if len(Impls()) == 0 || Impls()[0] != Generic {
		t.Fatal("Generic is not the first registered implementation")
	}
	a := Active()
	for _, dt := range weightTypes {
		if a.Dot[dt] == nil {
			t.Errorf("active table has no kernel for %s", dt)
		}
		if !Supported(dt) {
			t.Errorf("Supported(%s) = false", dt)
		}
	}
	if Supported(format.TQ1_0) {
		t.Error("Supported(TQ1_0) = true")
	}
	if err := Select("generic"); err != nil {
		t.Fatal(err)
	}
	if err := Select("no-such"); err == nil {
		t.Error("Select of an unknown name succeeded")
	}
	if err := Select(""); err != nil {
		t.Fatal(err)
	}
}

func TestMatMulRows(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const n, rows, toks = 256, 5, 3
	dt := format.Q4_K
	rb, _ := dt.RowBytes(n)
	w := make([]byte, 0, rows*int(rb))
	for i := 0; i < rows; i++ {
		w = append(w, encode(t, dt, randRow(r, n))...)
	}
	a := Active()
	xs := make([]Vec, toks)
	for j := range xs {
		a.Quantize(&xs[j], randRow(r, n), KindOf(dt))
	}
	out := make([]float32, toks*rows)
	a.MatMulRows(dt, w, int(rb), 0, rows, xs, out, rows)
	for j := 0; j < toks; j++ {
		for i := 0; i < rows; i++ {
			want := a.Dot[dt](w[i*int(rb):(i+1)*int(rb)], &xs[j])
			if out[j*rows+i] != want {
				t.Fatalf("out[%d,%d] = %g, want %g", j, i, out[j*rows+i], want)
			}
		}
	}
}

// BenchmarkMatVec measures one 4096-wide activation row against 256 weight
// rows of each type, with the kernel and with a naive loop that dequantizes
// each row and takes a float dot product.
func BenchmarkMatVec(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	const n, rows = 4096, 256
	for _, dt := range weightTypes {
		rb, _ := dt.RowBytes(n)
		row := encode(b, dt, randRow(r, n))
		w := make([]byte, 0, rows*int(rb))
		for i := 0; i < rows; i++ {
			w = append(w, row...)
		}
		x := randRow(r, n)
		a := Active()
		b.Run(dt.String()+"/kernel", func(b *testing.B) {
			xs := make([]Vec, 1)
			out := make([]float32, rows)
			b.SetBytes(int64(len(w)))
			for b.Loop() {
				a.Quantize(&xs[0], x, KindOf(dt))
				a.MatMulRows(dt, w, int(rb), 0, rows, xs, out, rows)
			}
		})
		b.Run(dt.String()+"/naive", func(b *testing.B) {
			tmp := make([]float32, n)
			out := make([]float32, rows)
			b.SetBytes(int64(len(w)))
			for b.Loop() {
				for i := 0; i < rows; i++ {
					_ = quantize.DecodeRow(dt, tmp, w[i*int(rb):(i+1)*int(rb)])
					var s float32
					for j, v := range tmp {
						s += v * x[j]
					}
					out[i] = s
				}
			}
		})
	}
}

// BenchmarkMatMul measures a prefill-shaped product, 64 activation rows
// against a tile of 64 weight rows 2048 wide, through MatMulRows (the
// matrix kernels: MatMul16, MatMul4), beside the same product taken one
// Dot at a time; the metric is GFLOP/s (2 per multiply-add).
func BenchmarkMatMul(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 12))
	const n, rows, T = 2048, 64, 64
	for _, dt := range []format.DType{format.F16, format.Q8_0, format.Q4_0, format.Q4_K, format.Q6_K} {
		rb, _ := dt.RowBytes(n)
		var w []byte
		for i := 0; i < rows; i++ {
			w = append(w, encode(b, dt, randRow(r, n))...)
		}
		a := Active()
		xs := make([]Vec, T)
		for j := range xs {
			a.Quantize(&xs[j], randRow(r, n), KindOf(dt))
		}
		a.Prepare(xs, KindOf(dt))
		out := make([]float32, rows*T)
		flops := func(b *testing.B) {
			b.ReportMetric(float64(2*rows*T*n*b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		}
		b.Run(dt.String()+"/kernel", func(b *testing.B) {
			for b.Loop() {
				a.MatMulRows(dt, w, int(rb), 0, rows, xs, out, rows)
			}
			flops(b)
		})
		b.Run(dt.String()+"/dot", func(b *testing.B) {
			dot := a.Dot[dt]
			for b.Loop() {
				for i := 0; i < rows; i++ {
					row := w[i*int(rb) : (i+1)*int(rb)]
					for j := range xs {
						out[j*rows+i] = dot(row, &xs[j])
					}
				}
			}
			flops(b)
		})
	}
}

// BenchmarkSiLUMul measures the SwiGLU activation over a feed-forward
// width, with the active kernel and with a naive loop through math.Exp.
func BenchmarkSiLUMul(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	g, u := randRow(r, 5632), randRow(r, 5632)
	x := make([]float32, len(g))
	b.Run("kernel", func(b *testing.B) {
		a := Active()
		for b.Loop() {
			copy(x, g)
			a.SiLUMul(x, u)
		}
	})
	b.Run("naive", func(b *testing.B) {
		for b.Loop() {
			copy(x, g)
			for i, v := range x {
				x[i] = v / (1 + float32(math.Exp(float64(-v)))) * u[i]
			}
		}
	})
}
