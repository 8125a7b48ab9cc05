package quantize

import (
	"sort"
	"sync"
	"unsafe"
)

// hessianChunk is the number of tokens Hessian.Add converts at a time: its
// scratch holds hessianChunk·cols float64 whatever the input's length.
const hessianChunk = 64

// Hessian accumulates the second moment of one weight's input, Σ x xᵀ over
// the calibration tokens x (cols values each), from which GPTQ takes its
// Hessian H = 2·E[x xᵀ]. Memory is cols² float64 for the sum plus a fixed
// scratch of hessianChunk tokens.
type Hessian struct {
	Cols  int   // input channels
	Count int64 // tokens accumulated
	sum   []float64
	xt    []float64 // scratch: cols x hessianChunk, transposed chunk
}

// NewHessian returns an empty accumulator for inputs of cols channels.
func NewHessian(cols int) *Hessian {
	return &Hessian{Cols: cols, sum: make([]float64, cols*cols)}
}

// Add accumulates rows tokens of x (row-major, Cols values each), a chunk
// of hessianChunk tokens at a time. Only the upper triangle is summed.
func (h *Hessian) Add(x []float32, rows int) {
	n := h.Cols
	if rows*n > len(x) {
		rows = len(x) / max(n, 1)
	}
	if h.xt == nil {
		h.xt = make([]float64, n*hessianChunk)
	}
	for t0 := 0; t0 < rows; t0 += hessianChunk {
		T := min(hessianChunk, rows-t0)
		xt := h.xt[:n*T]
		for t := 0; t < T; t++ {
			row := x[(t0+t)*n : (t0+t+1)*n]
			for i, v := range row {
				xt[i*T+t] = float64(v)
			}
		}
		i := 0
		for ; i+4 <= n; i += 4 {
			// Four rows of the sum at once: each column chunk loaded
			// once for four products.
			a0, a1, a2, a3 := xt[i*T:i*T+T], xt[(i+1)*T:(i+1)*T+T], xt[(i+2)*T:(i+2)*T+T], xt[(i+3)*T:(i+3)*T+T]
			for j := i; j < n; j++ {
				b := xt[j*T : j*T+T]
				a0, a1, a2, a3 := a0[:len(b)], a1[:len(b)], a2[:len(b)], a3[:len(b)]
				var s0, s1, s2, s3 float64
				for t, v := range b {
					s0 += a0[t] * v
					s1 += a1[t] * v
					s2 += a2[t] * v
					s3 += a3[t] * v
				}
				h.sum[i*n+j] += s0
				if j > i {
					h.sum[(i+1)*n+j] += s1
				}
				if j > i+1 {
					h.sum[(i+2)*n+j] += s2
				}
				if j > i+2 {
					h.sum[(i+3)*n+j] += s3
				}
			}
		}
		for ; i < n; i++ {
			xi := xt[i*T : i*T+T]
			s := h.sum[i*n : i*n+n]
			for j := i; j < n; j++ {
				s[j] += dot64(xi, xt[j*T:j*T+T])
			}
		}
	}
	h.Count += int64(rows)
}

func dot64(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Matrix returns E[x xᵀ] (the sum divided by the token count) as a full
// symmetric Cols×Cols row-major matrix; all zero when nothing was added.
func (h *Hessian) Matrix() []float64 {
	n := h.Cols
	m := make([]float64, n*n)
	if h.Count == 0 {
		return m
	}
	inv := 1 / float64(h.Count)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			v := h.sum[i*n+j] * inv
			m[i*n+j], m[j*n+i] = v, v
		}
	}
	return m
}

// Diag returns the mean squared activation of each input channel (the
// importance-matrix row of this input).
func (h *Hessian) Diag() []float32 {
	d := make([]float32, h.Cols)
	if h.Count == 0 {
		return d
	}
	for i := range d {
		d[i] = float32(h.sum[i*h.Cols+i] / float64(h.Count))
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
