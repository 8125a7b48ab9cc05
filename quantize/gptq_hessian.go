package quantize

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"unsafe"

	"github.com/shrink-llm/shrink/internal/linalg"
)

// Hessian accumulates the second moment of one weight's input, Σ x xᵀ over
// the calibration tokens x (cols values each), from which GPTQ takes its
// Hessian H = 2·E[x xᵀ]. Memory is cols² float64 for the sum plus a fixed
// scratch (linalg.Gram).
type Hessian struct {
	Cols  int   // input channels
	Count int64 // tokens accumulated
	g     *linalg.Gram

	mu        sync.Mutex
	factor    *GPTQFactor // made by Factor, which releases g
	factorErr error
	diag      []float64 // g's diagonal once g is released
}

// NewHessian returns an empty accumulator for inputs of cols channels.
func NewHessian(cols int) *Hessian {
	return &Hessian{Cols: cols, g: linalg.NewGram(cols)}
}

// Add accumulates rows tokens of x (row-major, Cols values each).
func (h *Hessian) Add(x []float32, rows int) {
	if h.g == nil {
		return
	}
	h.g.Add(x, rows)
	h.Count = h.g.Count
}

// Matrix returns E[x xᵀ] (the sum divided by the token count) as a full
// symmetric Cols×Cols row-major matrix; all zero when nothing was added,
// nil once Factor has released the sum.
func (h *Hessian) Matrix() []float64 {
	if h.g == nil {
		return nil
	}
	return h.g.Mean(float64(h.Count))
}

// Diag returns the mean squared activation of each input channel (the
// importance-matrix row of this input).
func (h *Hessian) Diag() []float32 {
	d := make([]float32, h.Cols)
	if h.Count == 0 {
		return d
	}
	diag := h.diag
	if h.g != nil {
		diag = h.g.Diag()
	}
	for i, v := range diag {
		d[i] = float32(v / float64(h.Count))
	}
	return d
}

// HessianCollector accumulates a Hessian per weight from observed products
// (an engine observer's Linear calls). Weights reported one after the
// other with the same input (q, k and v; gate and up) share one Hessian,
// accumulated once. Inputs wider than allowed by the memory budget are
// skipped (their weights then have no Hessian). It is safe for concurrent
// use.
type HessianCollector struct {
	mu     sync.Mutex
	budget int64 // bytes of Hessian sums still allowed
	byName map[string]*Hessian
	lastH  *Hessian
	lastP  *float32
	lastX  []float32
}

// NewHessianCollector returns an empty collector whose Hessians together
// take at most maxBytes bytes (8·cols² each).
func NewHessianCollector(maxBytes int64) *HessianCollector {
	return &HessianCollector{budget: maxBytes, byName: map[string]*Hessian{}}
}

// Add records the input of one product with the weight name: rows tokens
// of cols channels, row-major.
func (c *HessianCollector) Add(name string, x []float32, rows, cols int) {
	if rows <= 0 || cols <= 0 || rows*cols > len(x) {
		return
	}
	x = x[:rows*cols]
	c.mu.Lock()
	defer c.mu.Unlock()
	same := c.lastH != nil && c.lastH.Cols == cols && c.lastP == unsafe.SliceData(x) &&
		len(c.lastX) == len(x) && equalF32(c.lastX, x)
	h, known := c.byName[name]
	if !known {
		switch {
		case same:
			h = c.lastH
		case int64(cols)*int64(cols)*8 <= c.budget:
			c.budget -= int64(cols) * int64(cols) * 8
			h = NewHessian(cols)
		}
		c.byName[name] = h
	}
	if h == nil || h.Cols != cols {
		return
	}
	if same && h == c.lastH {
		return // this input is already in the shared Hessian
	}
	h.Add(x, rows)
	c.lastH, c.lastP = h, unsafe.SliceData(x)
	c.lastX = append(c.lastX[:0], x...)
}

func equalF32(a, b []float32) bool {
	for i, v := range a {
		if b[i] != v && v == v {
			return false
		}
	}
	return true
}

// Hessian returns the accumulator of the weight called name, or nil.
func (c *HessianCollector) Hessian(name string) *Hessian {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.byName[name]
	if h == nil || h.Count == 0 {
		return nil
	}
	return h
}

// Names returns the weights that have a Hessian, sorted.
func (c *HessianCollector) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for n, h := range c.byName {
		if h != nil && h.Count > 0 {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Factor returns the GPTQ factor of E[x xᵀ] (GPTQFactor, dampening damp;
// 0: 0.01), made once and kept: weights sharing this input (q, k and v)
// share it. It is made in place in the accumulator's own memory, which is
// released afterwards, so Matrix returns nil and Add does nothing from the
// first call on; Diag and Count still answer. Peak memory is the
// accumulator (8·Cols² bytes) plus the factor (4·Cols²), then the factor
// alone.
func (h *Hessian) Factor(damp float64) (*GPTQFactor, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.factor != nil || h.factorErr != nil {
		return h.factor, h.factorErr
	}
	h.diag = h.g.Diag()
	h.factor, h.factorErr = h.factorInPlace(damp)
	h.g = nil
	return h.factor, h.factorErr
}

// factorInPlace makes the factor in the Gram's storage: the strict upper
// triangle keeps the sum (for another try), the lower one and the
// diagonal take H = sum/count.
func (h *Hessian) factorInPlace(damp float64) (*GPTQFactor, error) {
	n := h.Cols
	a := h.g.Sum()
	var inv float64 // Matrix's scale: all zero when nothing was added
	if h.Count > 0 {
		inv = 1 / float64(h.Count)
	}
	d := make([]float64, n)
	for i := 0; i < n; i++ {
		for _, v := range a[i*n+i : (i+1)*n] {
			if m := v * inv; math.IsNaN(m) || math.IsInf(m, 0) {
				return nil, fmt.Errorf("%w: Hessian has non-finite values", ErrGPTQ)
			}
		}
		d[i] = a[i*n+i] * inv
	}
	return factorLower(a, d, damp, func() {
		for i := 0; i < n; i++ {
			row := a[i*n : i*n+i]
			for j := range row {
				row[j] = a[j*n+i] * inv
			}
		}
	})
}
