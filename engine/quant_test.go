package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/kernel"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/quantize"
)

var allWeightTypes = []format.DType{
	format.F32, format.F16, format.BF16,
	format.Q8_0, format.Q4_0, format.Q4_1, format.Q5_0, format.Q5_1, format.IQ4_NL,
	format.Q2_K, format.Q3_K, format.Q4_K, format.Q5_K, format.Q6_K,
	format.IQ4_XS, format.IQ3_XXS, format.IQ3_S, format.IQ2_XXS, format.IQ2_XS, format.IQ2_S, format.IQ1_S, format.IQ1_M,
}

// round8 returns x as the integer-dot-product kernels see it: rounded to
// 8-bit blocks the way ggml's quantize_row_q8_0 (32-element types) or
// quantize_row_q8_K (K-quants) do, written independently of the kernels.
func round8(dt format.DType, x []float32) []float64 {
	y := make([]float64, len(x))
	switch {
	case dt == format.F32 || dt == format.F16 || dt == format.BF16:
		for i, v := range x {
			y[i] = float64(v)
		}
	case dt.BlockSize() == 32:
		for b := 0; b < len(x); b += 32 {
			var amax float32
			for _, v := range x[b : b+32] {
				amax = max(amax, float32(math.Abs(float64(v))))
			}
			d := amax / 127
			id := float32(0)
			if d != 0 {
				id = 1 / d
			}
			dh := float64(format.F16ToF32(format.F32ToF16(d)))
			for i := b; i < b+32; i++ {
				y[i] = dh * math.Round(float64(x[i]*id))
			}
		}
	default:
		for b := 0; b < len(x); b += 256 {
			var mx, amax float32
			for _, v := range x[b : b+256] {
				if a := float32(math.Abs(float64(v))); a > amax {
					amax, mx = a, v
				}
			}
			if amax == 0 {
				continue
			}
			is := -127 / mx
			for i := b; i < b+256; i++ {
				q := math.Min(127, math.RoundToEven(float64(is*x[i])))
				y[i] = float64(1/is) * q
			}
		}
	}
	return y
}

func TestMatmulEveryType(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	const cols, rows, T = 512, 37, 3
	m := &Model{kern: kernel.Active(), threads: 3}
	s := &Session{m: m}
	for _, dt := range allWeightTypes {
		t.Run(dt.String(), func(t *testing.T) {
			rb, _ := dt.RowBytes(cols)
			w := weight{name: "w", typ: dt, rows: rows, cols: cols, rowBytes: int(rb), data: make([]byte, rows*int(rb))}
			wf := make([]float32, rows*cols)
			x := make([]float32, T*cols)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			row := make([]float32, cols)
			var imp []float32 // unit importances for the types that need them
			if quantize.RequiresImatrix(dt) {
				imp = make([]float32, cols)
				for j := range imp {
					imp[j] = 1
				}
			}
			for i := 0; i < rows; i++ {
				for j := range row {
					row[j] = float32(r.NormFloat64())
				}
				if err := quantize.EncodeRow(dt, w.data[i*int(rb):(i+1)*int(rb)], row, imp); err != nil {
					t.Fatal(err)
				}
				if err := quantize.DecodeRow(dt, wf[i*cols:(i+1)*cols], w.data[i*int(rb):(i+1)*int(rb)]); err != nil {
					t.Fatal(err)
				}
			}
			out := make([]float32, T*rows)
			s.invalidate()
			s.matmul(&w, x, T, out, nil, "w")
			for tk := 0; tk < T; tk++ {
				xr := round8(dt, x[tk*cols:(tk+1)*cols])
				for i := 0; i < rows; i++ {
					var want, scale float64
					for j := 0; j < cols; j++ {
						want += float64(wf[i*cols+j]) * xr[j]
						scale += math.Abs(float64(wf[i*cols+j]) * xr[j])
					}
					if got := float64(out[tk*rows+i]); math.Abs(got-want) > 2e-6*scale {
						t.Fatalf("token %d row %d: %g, want %g (scale %g)", tk, i, got, want, scale)
					}
				}
			}
		})
	}
}

// TestQuantizedModel runs a small model stored in each type against the
// float64 reference on its dequantized weights: the only difference left
// is the 8-bit rounding of activations.
func TestQuantizedModel(t *testing.T) {
	cfg := &model.Config{
		Arch: "llama", Dim: 256, Layers: 2, Heads: []int{4, 4}, KVHeads: []int{2, 2}, FFN: []int{512, 256},
		HeadDim: 64, VocabSize: 40, Context: 32, NormEps: 1e-5, RopeBase: 10000, RopeDim: 64,
	}
	base, _ := genTensors(cfg, 30)
	toks := testTokens(6, cfg.VocabSize)
	for _, dt := range []format.DType{format.F16, format.BF16, format.Q8_0, format.Q4_0, format.Q5_1, format.IQ4_NL, format.Q3_K, format.Q4_K, format.Q6_K} {
		t.Run(dt.String(), func(t *testing.T) {
			vals := map[string][]float64{}
			var ts []Tensor
			for _, x := range base {
				f := make([]float32, len(x.Data)/4)
				_ = format.DecodeFloats(format.F32, x.Data, f)
				y := x
				if len(x.Shape) == 2 {
					nb, _ := dt.RowBytes(x.Shape[0])
					y.Type = dt
					y.Data = make([]byte, int(nb)*int(x.Shape[1]))
					cols := int(x.Shape[0])
					for i := 0; i < int(x.Shape[1]); i++ {
						rowb := y.Data[i*int(nb) : (i+1)*int(nb)]
						if err := quantize.EncodeRow(dt, rowb, f[i*cols:(i+1)*cols], nil); err != nil {
							t.Fatal(err)
						}
						if err := quantize.DecodeRow(dt, f[i*cols:(i+1)*cols], rowb); err != nil {
							t.Fatal(err)
						}
					}
				}
				v := make([]float64, len(f))
				for i := range f {
					v[i] = float64(f[i])
				}
				vals[x.Name] = v
				ts = append(ts, y)
			}
			m, err := NewModel(cfg, nil, ts, Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			ref := &refModel{cfg: cfg, get: func(n string) []float64 { return vals[n] }}
			tol := 1e-4
			if dt.Quantized() {
				tol = 6e-2 // 8-bit activations; each product is checked exactly in TestMatmulEveryType
			}
			compareLogits(t, m, ref, toks, tol)
		})
	}
}

func ExampleSession_Generate() {
	cfg := testConfig()
	ts, _ := genTensors(cfg, 1)
	m, err := NewModel(cfg, nil, ts, Options{Threads: 1})
	if err != nil {
		panic(err)
	}
	s := m.NewSession(0)
	var out []int32
	st, err := s.Generate([]int32{1, 2, 3}, 4, NewSampler(SamplerOptions{}), -1, func(tok int32) bool {
		out = append(out, tok)
		return true
	})
	fmt.Println(len(out), st.PromptTokens, st.GenTokens, err, s.Pos())
	// Output: 4 3 4 <nil> 6
}
