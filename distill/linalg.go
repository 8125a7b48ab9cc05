package distill

import (
	"runtime"
	"sync"
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

// matABt computes C[a*nb+b] (+)= dot(A[a*k:], B[b*k:]) for a < na, b < nb:
// C = A·Bᵀ with A (na×k) and B (nb×k) row-major. With acc the product is
// added to C, else it replaces it.
func matABt(c, a, b []float32, na, nb, k int, acc bool) {
	_ = c[na*nb-1]
	split := func(lo, hi int, byA bool) {
		a0, a1, b0, b1 := 0, na, 0, nb
		if byA {
			a0, a1 = lo, hi
		} else {
			b0, b1 = lo, hi
		}
		for i := a0; i < a1; i++ {
			ar := a[i*k : i*k+k]
			cr := c[i*nb : i*nb+nb]
			j := b0
			for ; j+4 <= b1; j += 4 {
				s0, s1, s2, s3 := dot4(ar, b[j*k:j*k+k], b[(j+1)*k:(j+1)*k+k], b[(j+2)*k:(j+2)*k+k], b[(j+3)*k:(j+3)*k+k])
				if acc {
					cr[j] += s0
					cr[j+1] += s1
					cr[j+2] += s2
					cr[j+3] += s3
				} else {
					cr[j], cr[j+1], cr[j+2], cr[j+3] = s0, s1, s2, s3
				}
			}
			for ; j < b1; j++ {
				s := dot(ar, b[j*k:j*k+k])
				if acc {
					cr[j] += s
				} else {
					cr[j] = s
				}
			}
		}
	}
	work := na * nb * k
	if na >= nb || na >= 2*threads {
		parallelFor(na, work, func(lo, hi int) { split(lo, hi, true) })
	} else {
		// Chunks of whole 4-wide blocks, so that every element is summed
		// the same way whatever the split.
		parallelFor((nb+3)/4, work, func(lo, hi int) { split(4*lo, min(4*hi, nb), false) })
	}
}

// transpose writes the transpose of a (rows×cols) to dst (cols×rows).
func transpose(dst, a []float32, rows, cols int) {
	_ = dst[rows*cols-1]
	for r := 0; r < rows; r++ {
		ar := a[r*cols : r*cols+cols]
		for c, v := range ar {
			dst[c*rows+r] = v
		}
	}
}

// dot returns the dot product of a and b (len(b) >= len(a)).
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
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

// dot4 returns the dot products of a with b0..b3.
func dot4(a, b0, b1, b2, b3 []float32) (float32, float32, float32, float32) {
	n := len(a)
	b0, b1, b2, b3 = b0[:n], b1[:n], b2[:n], b3[:n]
	var s0, s1, s2, s3 float32
	var t0, t1, t2, t3 float32
	i := 0
	for ; i+2 <= n; i += 2 {
		x0, x1 := a[i], a[i+1]
		s0 += x0 * b0[i]
		s1 += x0 * b1[i]
		s2 += x0 * b2[i]
		s3 += x0 * b3[i]
		t0 += x1 * b0[i+1]
		t1 += x1 * b1[i+1]
		t2 += x1 * b2[i+1]
		t3 += x1 * b3[i+1]
	}
	for ; i < n; i++ {
		x := a[i]
		s0 += x * b0[i]
		s1 += x * b1[i]
		s2 += x * b2[i]
		s3 += x * b3[i]
	}
	return s0 + t0, s1 + t1, s2 + t2, s3 + t3
}

// axpy adds a·x to y.
func axpy(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}
