package prune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/internal/linalg"
)

// TestProjectBlocks: project, which holds blocks of projectRows rows of
// float64 work, gives bit for bit the refit and the errors of the whole
// matrix computation (projectWhole, the earlier implementation), whether
// it compacts G_SS into the Gram's memory or copies it, with one block
// and with several.
func TestProjectBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][3]int{{64, 40, 30}, {700, 300, 600}, {1100, 520, 900}, {300, 100, 1000}} {
		n, k, rows := sz[0], sz[1], sz[2]
		x := make([]float32, 3*n*n/2)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		mk := func() *linalg.Gram { g := linalg.NewGram(n); g.Add(x, len(x)/n); return g }
		w := &Tensor{Name: "w", Shape: []int64{int64(n), int64(rows)}, Data: make([]float32, n*rows)}
		for i := range w.Data {
			w.Data[i] = float32(r.NormFloat64())
		}
		keep := []int{}
		for i := 0; i < n && len(keep) < k; i++ {
			if r.IntN(n) < k*3/2 {
				keep = append(keep, i)
			}
		}
		a, a0, a1, err := projectWhole(mk(), w, keep, "w", true, 1e-3)
		if err != nil {
			t.Fatal(err)
		}
		for _, consume := range []bool{false, true} {
			b, b0, b1, err := project(mk(), w, keep, "w", true, 1e-3, consume)
			if err != nil {
				t.Fatal(err)
			}
			diff := 0
			for i := range a.Data {
				if a.Data[i] != b.Data[i] {
					diff++
				}
			}
			if diff > 0 || a0 != b0 || a1 != b1 {
				t.Errorf("%v consume=%v: %d of %d values differ; errors %v %v, want %v %v", sz, consume, diff, len(a.Data), b0, b1, a0, a1)
			}
		}
	}
}

// projectWhole is project computed on whole float64 copies of W, W G,
// W_S, (W G)_S and G_SS at once: the reference of its blocked form.
func projectWhole(gm *linalg.Gram, w *Tensor, keep []int, name string, repair bool, ridge float64) (*Tensor, float64, float64, error) {
	n, k, rows := w.Cols(), len(keep), w.Rows()
	g := gm.Full()
	gss := make([]float64, k*k)
	var tr float64
	for ii, i := range keep {
		gi := g[i*n : (i+1)*n]
		row := gss[ii*k : (ii+1)*k]
		for jj, j := range keep {
			row[jj] = gi[j]
		}
		tr += row[ii]
	}
	repair = repair && k < n && tr > 0
	out := keepCols(w, name, keep)

	// GW = W G (rows×n): row r is (G w_r)^T.
	wf := make([]float64, rows*n)
	for i, v := range w.Data[:rows*n] {
		wf[i] = float64(v)
	}
	gw := make([]float64, rows*n)
	linalg.Gemm(false, false, 1, linalg.NewMatrix(rows, n, wf), linalg.NewMatrix(n, n, g), 0, linalg.NewMatrix(rows, n, gw))
	var energy, cross float64
	for i, v := range wf {
		energy += v * gw[i]
	}
	// V0 = W_S (rows×k), RHS = (W G)_S; err0 needs V0 G_SS V0^T.
	v0 := make([]float64, rows*k)
	rhs := make([]float64, rows*k)
	for r := 0; r < rows; r++ {
		src, gr := wf[r*n:(r+1)*n], gw[r*n:(r+1)*n]
		vr, hr := v0[r*k:(r+1)*k], rhs[r*k:(r+1)*k]
		for ii, i := range keep {
			vr[ii], hr[ii] = src[i], gr[i]
		}
	}
	wf, gw = nil, nil
	for i, v := range v0 {
		cross += v * rhs[i]
	}
	tmp := make([]float64, rows*k)
	linalg.Gemm(false, false, 1, linalg.NewMatrix(rows, k, v0), linalg.NewMatrix(k, k, gss), 0, linalg.NewMatrix(rows, k, tmp))
	var quad0 float64
	for i, v := range v0 {
		quad0 += v * tmp[i]
	}
	err0 := quad0 - 2*cross + energy
	err1 := err0
	if repair {
		lambda := ridge * tr / float64(k)
		for i := 0; i < k; i++ {
			gss[i*k+i] += lambda
		}
		if !linalg.Cholesky(gss, k) {
			return nil, 0, 0, fmt.Errorf("prune: %s: least-squares repair: matrix not positive definite", name)
		}
		x := tmp // k×rows: RHS^T, solved in place into V^T
		for r := 0; r < rows; r++ {
			for ii, v := range rhs[r*k : (r+1)*k] {
				x[ii*rows+r] = v
			}
		}
		linalg.SolveCholesky(gss, k, x, rows)
		var vh, vv float64
		for r := 0; r < rows; r++ {
			row := out.Data[r*k : (r+1)*k]
			hr := rhs[r*k : (r+1)*k]
			for ii := range row {
				v := x[ii*rows+r]
				row[ii] = float32(v)
				vh += v * hr[ii]
				vv += v * v
			}
		}
		err1 = energy - vh - lambda*vv
	}
	if energy <= 0 {
		return out, 0, 0, nil
	}
	return out, math.Max(0, err0) / energy, math.Max(0, err1) / energy, nil
}
