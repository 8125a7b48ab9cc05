package quantize

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/floats"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/linalg"
)

// Sensitivity of a model's output to the quantization of one tensor.
//
// The exact figure is the KLD between the original model's next-token
// distributions and those of the model with only that tensor quantized,
// over calibration text (measured by the caller, who runs the model). The
// second-order proxy is the layer's output error under its input Hessian,
// tr(ΔW H ΔWᵀ) = Σ_rows δᵀ H δ with H = E[x xᵀ] (Hessian.Matrix), the
// quantity GPTQ minimises: the KLD a small perturbation of one weight adds
// is, to second order, a quadratic form in ΔW, and for a layer whose
// output error is spread like its inputs that form is proportional to
// tr(ΔW H ΔWᵀ) with a factor (how much the rest of the network amplifies
// that layer's output error) that depends on the tensor, not on the type.
// SensitivityScale turns the proxy into a KLD with that factor measured
// once per tensor.

// RoundTrip quantizes w (rows of cols) to type t the way shrink quantize
// writes it and returns the decoded weights: with GPTQ over h when h is
// not nil and GPTQ supports t, else with the codec's importance-weighted
// search over imp (nil: the reference search).
func RoundTrip(t format.DType, w []float32, rows, cols int, h []float64, imp []float32, threads int) ([]float32, error) {
	var f *GPTQFactor
	if h != nil && GPTQSupported(t) {
		var err error
		if f, err = NewGPTQFactor(h, cols, 0); err != nil {
			return nil, err
		}
	}
	data, err := Encode(t, w, rows, cols, f, imp, threads)
	if err != nil {
		return nil, err
	}
	return Decode(t, data, rows, cols)
}

// Encode quantizes w (rows of cols) to type t the way shrink quantize
// writes it and returns the bytes: GPTQ with the Hessian factor f
// (Hessian.Factor) when f is not nil and GPTQ supports t, else the codec's
// importance-weighted search over imp (nil: the reference search).
func Encode(t format.DType, w []float32, rows, cols int, f *GPTQFactor, imp []float32, threads int) ([]byte, error) {
	rb, err := t.RowBytes(int64(cols))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLength, err)
	}
	dst := make([]byte, int64(rows)*rb)
	if f != nil && GPTQSupported(t) {
		err = GPTQWithFactor(t, dst, w, rows, cols, f, GPTQOptions{Threads: threads, Importance: imp})
	} else {
		err = EncodeRows(t, dst, w, cols, imp, threads)
	}
	if err != nil {
		return nil, err
	}
	return dst, nil
}

// Decode returns the rows × cols values of data, rows of type t.
func Decode(t format.DType, data []byte, rows, cols int) ([]float32, error) {
	out := make([]float32, rows*cols)
	if !t.Quantized() {
		if err := format.DecodeFloats(t, data, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	rb, err := t.RowBytes(int64(cols))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLength, err)
	}
	if int64(len(data)) != int64(rows)*rb {
		return nil, fmt.Errorf("%w: %d bytes for %d rows of %d %s", ErrLength, len(data), rows, cols, t)
	}
	for r := 0; r < rows; r++ {
		if err := DecodeRow(t, out[r*cols:(r+1)*cols], data[int64(r)*rb:int64(r+1)*rb]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// HessianError returns Σ_r δ_rᵀ H δ_r over the rows of δ = wq − w (rows of
// cols), with h the cols×cols Hessian; nil h stands for the identity (the
// plain squared error). At most maxRows rows, evenly spaced (SampledRows),
// are summed and the sum scaled to all rows (maxRows <= 0: every row).
func HessianError(w, wq []float32, rows, cols int, h []float64, maxRows int) float64 {
	idx := SampledRows(rows, maxRows)
	ws := make([]float32, 0, len(idx)*cols)
	wqs := make([]float32, 0, len(idx)*cols)
	for _, r := range idx {
		ws = append(ws, w[r*cols:(r+1)*cols]...)
		wqs = append(wqs, wq[r*cols:(r+1)*cols]...)
	}
	return HessianErrorSampled(ws, wqs, rows, cols, h, maxRows)
}

// HessianErrorSampled is HessianError with w and wq holding only the rows
// SampledRows(rows, maxRows) picks, in order (the same sum, bit for bit):
// the proxy of a type without quantizing the rows it does not sum.
func HessianErrorSampled(ws, wqs []float32, rows, cols int, h []float64, maxRows int) float64 {
	n := len(SampledRows(rows, maxRows))
	return hessianErrorRows(ws[:n*cols], wqs[:n*cols], n, cols, h) * float64(rows) / float64(max(n, 1))
}

// hessianErrorRows returns Σ_r δ_rᵀ H δ_r over the n rows of δ = wq − w
// (h nil: Σ δ_r·δ_r), as one matrix product D·H (linalg's tiled GEMM: at
// 1.1B the proxy's rows × cols² multiply-adds per type were the solver's
// third cost as row-by-row dot products) and the sum of D∘(D·H).
func hessianErrorRows(w, wq []float32, n, cols int, h []float64) float64 {
	d := make([]float64, n*cols)
	for i := range d {
		d[i] = float64(wq[i]) - float64(w[i])
	}
	if h == nil || n == 0 {
		return floats.Dot(d, d)
	}
	y := make([]float64, n*cols)
	linalg.Gemm(false, false, 1, linalg.NewMatrix(n, cols, d), linalg.NewMatrix(cols, cols, h), 0, linalg.NewMatrix(n, cols, y))
	return floats.Dot(d, y)
}

// SampledRows returns the rows HessianError sums: every step-th row from
// 0, step the smallest that leaves at most maxRows (maxRows <= 0: all).
func SampledRows(rows, maxRows int) []int {
	step := SampleStep(rows, maxRows)
	idx := make([]int, 0, (rows+step-1)/step)
	for r := 0; r < rows; r += step {
		idx = append(idx, r)
	}
	return idx
}

// Spearman returns the rank correlation of a and b (equal lengths, at
// least 2; ties get their mean rank); NaN when either is constant.
func Spearman(a, b []float64) float64 {
	if len(a) != len(b) || len(a) < 2 {
		return math.NaN()
	}
	ra, rb := ranks(a), ranks(b)
	return pearson(ra, rb)
}

func ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return x[idx[i]] < x[idx[j]] })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		for k := i; k <= j; k++ {
			r[idx[k]] = float64(i+j) / 2
		}
		i = j + 1
	}
	return r
}

func pearson(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		sab += float64((a[i] - ma) * (b[i] - mb))
		saa += float64((a[i] - ma) * (a[i] - ma))
		sbb += float64((b[i] - mb) * (b[i] - mb))
	}
	if saa == 0 || sbb == 0 {
		return math.NaN()
	}
	return sab / math.Sqrt(saa*sbb)
}

// SensitivityScale returns the factor turning a tensor's proxy errors into
// KLDs, from one exact measurement: exact KLD over the proxy of the same
// type (0 when the proxy is 0).
func SensitivityScale(exactKLD, proxy float64) float64 {
	if !(proxy > 0) {
		return 0
	}
	return math.Max(exactKLD, 0) / proxy
}
