package quantize

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// bruteSolve returns the least total KLD over every assignment within budget.
func bruteSolve(items []SolveItem, budget int64) float64 {
	best := math.Inf(1)
	var rec func(i int, bytes int64, kld float64)
	rec = func(i int, bytes int64, kld float64) {
		if bytes > budget {
			return
		}
		if i == len(items) {
			best = math.Min(best, kld)
			return
		}
		for _, o := range items[i].Options {
			rec(i+1, bytes+o.Bytes, kld+o.KLD)
		}
	}
	rec(0, 0, 0)
	return best
}

func randomItems(r *rand.Rand, n int) []SolveItem {
	types := []format.DType{format.Q2_K, format.Q3_K, format.Q4_K, format.Q5_K, format.Q6_K, format.Q8_0}
	items := make([]SolveItem, n)
	for i := range items {
		size := int64(1000 + r.IntN(9000))
		sens := math.Exp(3 * r.NormFloat64())
		for k, t := range types {
			bpw := []float64{2.625, 3.4375, 4.5, 5.5, 6.5625, 8.5}[k]
			// KLD falls about 4x per bit, with noise.
			kld := sens * math.Pow(4, -bpw) * (1 + 0.2*r.Float64())
			items[i].Options = append(items[i].Options, SolveOption{Type: t, Bytes: int64(float64(size) * bpw / 8), KLD: kld})
		}
		items[i].Name = "t"
	}
	return items
}

func TestSolveNearOptimal(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	worst := 0.0
	for trial := 0; trial < 40; trial++ {
		items := randomItems(r, 5)
		var lo, hi int64
		for _, it := range items {
			lo += it.Options[0].Bytes
			hi += it.Options[len(it.Options)-1].Bytes
		}
		budget := lo + int64(r.Float64()*float64(hi-lo))
		pick, err := Solve(items, budget)
		if err != nil {
			t.Fatal(err)
		}
		var bytes int64
		var kld float64
		for i, p := range pick {
			bytes += items[i].Options[p].Bytes
			kld += items[i].Options[p].KLD
		}
		if bytes > budget {
			t.Fatalf("trial %d: %d bytes over the budget %d", trial, bytes, budget)
		}
		opt := bruteSolve(items, budget)
		if kld < opt*(1-1e-12) {
			t.Fatalf("trial %d: KLD %g below the optimum %g", trial, kld, opt)
		}
		worst = math.Max(worst, kld/opt)
	}
	// Lagrangian plus greedy fill: within 25% of the optimum on these.
	if worst > 1.25 {
		t.Errorf("worst KLD / optimum = %.3f, want <= 1.25", worst)
	}
	t.Logf("worst KLD / optimum %.4f", worst)
}

func TestSolveBudget(t *testing.T) {
	items := []SolveItem{{Name: "a", Options: []SolveOption{{format.Q2_K, 10, 5}, {format.Q4_K, 20, 1}, {format.Q8_0, 40, 0.1}}},
		{Name: "b", Options: []SolveOption{{format.Q2_K, 10, 50}, {format.Q4_K, 20, 2}, {format.Q8_0, 40, 1}}}}
	if _, err := Solve(items, 19); !errors.Is(err, ErrSolve) {
		t.Fatalf("budget below the cheapest: err %v", err)
	}
	pick, err := Solve(items, 30)
	if err != nil {
		t.Fatal(err)
	}
	// b's first step saves 48 for 10 bytes, a's 4: b gets q4_k.
	if pick[0] != 0 || pick[1] != 1 {
		t.Errorf("budget 30: picks %v, want [0 1]", pick)
	}
	pick, _ = Solve(items, 1000)
	if pick[0] != 2 || pick[1] != 2 {
		t.Errorf("budget 1000: picks %v, want [2 2]", pick)
	}
	if _, err := Solve([]SolveItem{{Name: "x"}}, 10); !errors.Is(err, ErrSolve) {
		t.Errorf("no options: err %v", err)
	}
}

func TestRecipeRoundTrip(t *testing.T) {
	r := &Recipe{Budget: 123, PredictedKLD: 0.5, Tensors: []RecipeTensor{{Name: "blk.0.attn_q.weight", Type: "q4_k", Params: 256, Bytes: 144, KLD: 0.5}}}
	got, err := ParseRecipe(r.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if got.Budget != 123 || len(got.Tensors) != 1 || got.Tensors[0] != r.Tensors[0] {
		t.Fatalf("round trip: %+v", got)
	}
	ov := got.Overrides()
	if len(ov) != 1 || ov[0].Type != format.Q4_K || !ov[0].Pattern.MatchString("blk.0.attn_q.weight") || ov[0].Pattern.MatchString("blk.10.attn_q.weight") {
		t.Errorf("overrides %+v", ov)
	}
	for _, bad := range []string{`{`, `{"tensors":[]}`, `{"tensors":[{"name":"a","type":"q9_k"}]}`, `{"tensors":[{"type":"q4_k"}]}`} {
		if _, err := ParseRecipe([]byte(bad)); !errors.Is(err, ErrSolve) {
			t.Errorf("%s: err %v", bad, err)
		}
	}
}

func TestSpearman(t *testing.T) {
	if s := Spearman([]float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}); math.Abs(s-1) > 1e-12 {
		t.Errorf("monotone: %g", s)
	}
	if s := Spearman([]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}); math.Abs(s+1) > 1e-12 {
		t.Errorf("reversed: %g", s)
	}
	// Ties: ranks (0.5,0.5,2) vs (0,1,2): pearson = 0.866.
	if s := Spearman([]float64{1, 1, 2}, []float64{1, 2, 3}); math.Abs(s-math.Sqrt(3)/2) > 1e-12 {
		t.Errorf("ties: %g", s)
	}
}

func TestHessianError(t *testing.T) {
	w := []float32{1, 2, 3, 4}
	wq := []float32{1.5, 2, 3, 3}
	h := []float64{2, 1, 1, 3}
	// Row 0: δ=(0.5,0): 0.25·2 = 0.5; row 1: δ=(0,-1): 3.
	if e := HessianError(w, wq, 2, 2, h, 0); math.Abs(e-3.5) > 1e-12 {
		t.Errorf("error %g, want 3.5", e)
	}
	if e := HessianError(w, wq, 2, 2, nil, 0); math.Abs(e-1.25) > 1e-12 {
		t.Errorf("identity: %g, want 1.25", e)
	}
	// One row of two sampled, scaled by 2.
	if e := HessianError(w, wq, 2, 2, h, 1); math.Abs(e-1) > 1e-12 {
		t.Errorf("sampled: %g, want 1", e)
	}
}

// TestRoundTripProxyOrder: on a random layer the Hessian error falls as the
// type gets more bits, and GPTQ's is below the importance search's (for the
// i-quants GPTQ writes too).
func TestRoundTripProxyOrder(t *testing.T) {
	w, x := gptqLayer(7, 32, 256, 512)
	hs := NewHessian(256)
	hs.Add(x, 512)
	h := hs.Matrix()
	prev := math.Inf(1)
	for _, typ := range []format.DType{format.Q2_K, format.Q3_K, format.Q4_K, format.Q5_K, format.Q6_K, format.Q8_0} {
		g, err := RoundTrip(typ, w, 32, 256, h, nil, 1)
		if err != nil {
			t.Fatal(err)
		}
		eg := HessianError(w, g, 32, 256, h, 0)
		r, err := RoundTrip(typ, w, 32, 256, nil, hs.Diag(), 1)
		if err != nil {
			t.Fatal(err)
		}
		er := HessianError(w, r, 32, 256, h, 0)
		if !(eg < prev) || !(eg < er) {
			t.Errorf("%s: GPTQ error %g (previous type %g), importance search %g", typ, eg, prev, er)
		}
		prev = eg
	}
	// The i-quants GPTQ writes: its error is below the importance search's.
	for _, typ := range []format.DType{format.IQ4_NL, format.IQ4_XS, format.IQ3_S, format.IQ2_XS} {
		g, err := RoundTrip(typ, w, 32, 256, h, hs.Diag(), 1)
		if err != nil {
			t.Fatal(err)
		}
		r, err := RoundTrip(typ, w, 32, 256, nil, hs.Diag(), 1)
		if err != nil {
			t.Fatal(err)
		}
		if eg, er := HessianError(w, g, 32, 256, h, 0), HessianError(w, r, 32, 256, h, 0); !(eg < er) {
			t.Errorf("%s: GPTQ error %g, importance search %g", typ, eg, er)
		}
	}
}
