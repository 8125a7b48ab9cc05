package distill

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(rng *rand.Rand, n int, std float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * std)
	}
	return s
}

// weighted returns Σ out[i]·r[i] in float64, the scalar every operation's
// gradient check differentiates.
func weighted(out, r []float32) float64 {
	var s float64
	for i := range out {
		s += float64(out[i]) * float64(r[i])
	}
	return s
}

// checkGrad compares the analytic gradient grad of loss with respect to x
// against central finite differences at up to n coordinates.
func checkGrad(t *testing.T, what string, x, grad []float32, loss func() float64, n int, eps float32) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(len(x))))
	idx := rng.Perm(len(x))
	if len(idx) > n {
		idx = idx[:n]
	}
	var worst float64
	for _, i := range idx {
		old := x[i]
		x[i] = old + eps
		lp := loss()
		x[i] = old - eps
		lm := loss()
		x[i] = old
		num := (lp - lm) / (2 * float64(eps))
		an := float64(grad[i])
		err := math.Abs(num-an) / max(math.Abs(num)+math.Abs(an), 1e-2)
		worst = max(worst, err)
		if err > 2e-2 {
			t.Errorf("%s[%d]: analytic %g, numeric %g", what, i, an, num)
		}
	}
	t.Logf("%s: worst relative error %.2g over %d coordinates", what, worst, len(idx))
}

func TestGradLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	T, in, out := 5, 7, 9
	x, w, r := randSlice(rng, T*in, 1), randSlice(rng, out*in, 1), randSlice(rng, T*out, 1)
	loss := func() float64 {
		y := make([]float32, T*out)
		linFwd(y, x, w, T, in, out)
		return weighted(y, r)
	}
	dx, dw := make([]float32, T*in), make([]float32, out*in)
	linBwd(dx, dw, r, x, w, T, in, out)
	checkGrad(t, "dx", x, dx, loss, 100, 1e-2)
	checkGrad(t, "dw", w, dw, loss, 100, 1e-2)
}

// TestMatMulLayouts checks matMul in the three layouts training uses (A·Bᵀ
// forward, A·B and Aᵀ·B backward) against float64 and that the result is
// the same with 1 and 3 goroutines.
func TestMatMulLayouts(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	defer SetThreads(0)
	for _, sz := range [][3]int{{1, 1, 1}, {3, 70, 33}, {70, 3, 5}, {64, 64, 64}, {5, 513, 17}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, lay := range [][2]bool{{false, true}, {false, false}, {true, false}} {
			a, b := randSlice(rng, m*k, 1), randSlice(rng, k*n, 1)
			sa, sb := k, n
			if lay[0] {
				sa = m
			}
			if lay[1] {
				sb = k
			}
			at := func(x []float32, st int, tr bool, i, j int) float64 {
				if tr {
					return float64(x[j*st+i])
				}
				return float64(x[i*st+j])
			}
			got := make([]float32, m*n)
			SetThreads(3)
			matMul(got, mat(a, sa, lay[0]), mat(b, sb, lay[1]), m, n, k, false)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var s float64
					for l := 0; l < k; l++ {
						s += at(a, sa, lay[0], i, l) * at(b, sb, lay[1], l, j)
					}
					if d := math.Abs(float64(got[i*n+j]) - s); d > 1e-4*(1+math.Abs(s)) {
						t.Fatalf("%v %v: C[%d,%d] = %g, want %g", sz, lay, i, j, got[i*n+j], s)
					}
				}
			}
			one := make([]float32, m*n)
			SetThreads(1)
			matMul(one, mat(a, sa, lay[0]), mat(b, sb, lay[1]), m, n, k, false)
			for i := range one {
				if one[i] != got[i] {
					t.Fatalf("%v %v: result depends on the number of threads at %d: %g vs %g", sz, lay, i, one[i], got[i])
				}
			}
		}
	}
}

func TestGradRMSNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	T, D := 4, 16
	x, w, r := randSlice(rng, T*D, 1), randSlice(rng, D, 1), randSlice(rng, T*D, 1)
	loss := func() float64 {
		y, ri := make([]float32, T*D), make([]float32, T)
		rmsFwd(y, ri, x, w, T, D, 1e-5)
		return weighted(y, r)
	}
	y, ri := make([]float32, T*D), make([]float32, T)
	rmsFwd(y, ri, x, w, T, D, 1e-5)
	dx, dw := make([]float32, T*D), make([]float32, D)
	rmsBwd(dx, dw, r, x, w, ri, T, D)
	checkGrad(t, "dx", x, dx, loss, 64, 1e-2)
	checkGrad(t, "dw", w, dw, loss, 16, 1e-2)
}

func TestGradRoPE(t *testing.T) {
	for _, neox := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(4, 4))
		T, heads, hd := 6, 3, 8
		cos, sin := ropeTable(T, hd, 10000, 1, nil)
		x, r := randSlice(rng, T*heads*hd, 1), randSlice(rng, T*heads*hd, 1)
		loss := func() float64 {
			y := append([]float32(nil), x...)
			ropeApply(y, T, heads, hd, hd, cos, sin, neox, false)
			return weighted(y, r)
		}
		dx := append([]float32(nil), r...)
		ropeApply(dx, T, heads, hd, hd, cos, sin, neox, true)
		checkGrad(t, "dx", x, dx, loss, 100, 1e-2)
	}
}

func TestGradAttention(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	T, heads, kvHeads, hd := 7, 4, 2, 8
	qd, kd := heads*hd, kvHeads*hd
	q, k, v := randSlice(rng, T*qd, 1), randSlice(rng, T*kd, 1), randSlice(rng, T*kd, 1)
	r := randSlice(rng, T*qd, 1)
	fwd := func() ([]float32, []float32) {
		out, p := make([]float32, T*qd), make([]float32, heads*T*T)
		attnFwd(out, p, q, k, v, T, heads, kvHeads, hd)
		return out, p
	}
	loss := func() float64 { out, _ := fwd(); return weighted(out, r) }
	_, p := fwd()
	dq, dk, dv := make([]float32, T*qd), make([]float32, T*kd), make([]float32, T*kd)
	attnBwd(dq, dk, dv, r, p, q, k, v, T, heads, kvHeads, hd)
	checkGrad(t, "dq", q, dq, loss, 120, 1e-2)
	checkGrad(t, "dk", k, dk, loss, 112, 1e-2)
	checkGrad(t, "dv", v, dv, loss, 112, 1e-2)
	// Causality: the first token's output depends on itself only.
	out, _ := fwd()
	for h := 0; h < heads; h++ {
		g := h / (heads / kvHeads)
		for i := 0; i < hd; i++ {
			if out[h*hd+i] != v[g*hd+i] {
				t.Fatalf("head %d: first output %g, want v %g", h, out[h*hd+i], v[g*hd+i])
			}
		}
	}
}

func TestGradSwiGLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	n := 50
	g, u, r := randSlice(rng, n, 2), randSlice(rng, n, 1), randSlice(rng, n, 1)
	loss := func() float64 {
		a := make([]float32, n)
		swigluFwd(a, g, u)
		return weighted(a, r)
	}
	dg, du := make([]float32, n), make([]float32, n)
	swigluBwd(dg, du, r, g, u)
	checkGrad(t, "dg", g, dg, loss, n, 1e-2)
	checkGrad(t, "du", u, du, loss, n, 1e-2)
}

func TestGradCrossEntropy(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	V := 30
	z := randSlice(rng, V, 2)
	tmp := make([]float32, 2*V)
	loss := func() float64 { return ceRow(z, 3, nil, 1, tmp) }
	dz := make([]float32, V)
	l := ceRow(z, 3, dz, 1, tmp)
	checkGrad(t, "dz", z, dz, loss, V, 1e-2)
	// Value: -log softmax.
	var sum float64
	for _, v := range z {
		sum += math.Exp(float64(v))
	}
	if want := math.Log(sum) - float64(z[3]); math.Abs(l-want) > 1e-6 {
		t.Errorf("cross-entropy %g, want %g", l, want)
	}
}

func TestGradKL(t *testing.T) {
	for _, tau := range []float32{1, 2.5} {
		rng := rand.New(rand.NewPCG(9, 9))
		V := 30
		zs, zt := randSlice(rng, V, 2), randSlice(rng, V, 2)
		tmp := make([]float32, 2*V)
		loss := func() float64 { return float64(tau*tau) * kdRow(zs, zt, tau, nil, 1, tmp) }
		dz := make([]float32, V)
		kdRow(zs, zt, tau, dz, 1, tmp)
		checkGrad(t, "dz", zs, dz, loss, V, 1e-2)
		if kl := kdRow(zt, zt, tau, nil, 1, tmp); kl != 0 {
			t.Errorf("KL of a distribution with itself = %g", kl)
		}
	}
}
