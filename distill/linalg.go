package distill

import (
	"runtime"
	"sync"

	"github.com/shrink-llm/shrink/internal/kernel"
)

// threads is the number of goroutines the products are split across.
var threads = runtime.NumCPU()

// SetThreads sets the number of goroutines training and evaluation split
// their matrix products across (n <= 0: all cores). Results do not depend
// on it: every output element is computed by one goroutine in a fixed order.
func SetThreads(n int) {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	threads = n
}

// parallelFor runs f over [0, n) split into contiguous chunks across the
// goroutines; work is a rough operation count below which it runs inline.
func parallelFor(n, work int, f func(lo, hi int)) {
	th := threads
	if th <= 1 || n < 2 || work < 1<<14 {
		f(0, n)
		return
	}
	th = min(th, n)
	chunk := (n + th - 1) / th
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		if hi == n {
			f(lo, hi)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// mat describes a row-major operand of matMul: data with row stride st,
// transposed when t.
func mat(data []float32, st int, t bool) kernel.Mat {
	return kernel.Mat{Data: data, Stride: st, T: t}
}

// matMul computes C (m×n, row stride n) = A·B, or C += A·B with acc, for A
// (m×k) and B (k×n) read in place as a and b describe them, on the
// kernels' blocked products (kernel.MatMulF32) across the training
// goroutines. Every element is summed in one fixed order, whatever the
// number of goroutines.
func matMul(c []float32, a, b kernel.Mat, m, n, k int, acc bool) {
	kernel.Active().MatMulF32(m, n, k, a, b, c, n, acc, threads)
}

// axpy adds a·x to y.
func axpy(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += float32(a * v)
	}
}
