// Package linalg is the dense linear algebra of calibration: Gram
// (Hessian) accumulation from activation rows, Cholesky factorisation,
// inverse factors and multi-right-hand-side solves, on gonum
// (gonum.org/v1/gonum/mat and lapack64).
//
// Importing the package makes gonum's float64 BLAS run the large matrix
// products (Dgemm, and the triangular Dtrmm and Dtrsm that Cholesky
// factorisation, inversion and solves spend their time in) on the AVX-512
// tile kernels of this package (tile_amd64.s; their pure-Go twins are in
// tile.go) where the CPU has them, split over
// SetThreads goroutines; everything else, and every product on other CPUs,
// is gonum's own pure-Go BLAS. Every result element is summed in an order
// fixed by the matrix shapes, so results do not depend on the thread count.
//
// The kernels live here rather than in internal/kernel because package
// quantize uses them, and internal/kernel's tests import quantize.
package linalg

import (
	"runtime"
	"sync"
	"sync/atomic"
)

var threads atomic.Int32

func init() { threads.Store(int32(runtime.NumCPU())) }

// SetThreads sets the number of goroutines the products are split across
// (n <= 0: all cores). Results do not depend on it.
func SetThreads(n int) {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	threads.Store(int32(n))
}

// Threads returns the number of goroutines set by SetThreads.
func Threads() int { return int(threads.Load()) }

// Parallel runs f(i) for i in [0, n) on up to Threads goroutines, each
// taking the next index in turn. f must write disjoint results per i; the
// results then do not depend on the thread count.
func Parallel(n int, f func(i int)) { parallel(n, f) }

// parallel is Parallel.
func parallel(n int, f func(i int)) {
	th := min(Threads(), n)
	if th <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < th; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}
