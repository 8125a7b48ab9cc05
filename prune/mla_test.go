package prune

import (
	"math"
	"testing"

	"github.com/shrink-llm/shrink/internal/testutil"
)

// TestDevDeepseek2Heads prunes one of the four latent attention heads of
// every layer of dev-deepseek2-moe, calibrated on Go source (the domain):
// without repair the result equals the unpruned model with those heads'
// attn_output columns zeroed (the slices are the heads'); the repair
// lowers attn_output's error on the calibration inputs in every layer; and
// the domain keeps more of its perplexity than Shakespeare (the general
// text).
func TestDevDeepseek2Heads(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := testutil.Shared(t, "models/dev-deepseek2-moe")
	d := loadDomain(t, dir)
	st, err := NewMLAStats(d.em.Config)
	if err != nil {
		t.Fatal(err)
	}
	d.calibrate(st)
	if st.Err() != nil || st.Tokens() != domainCalib*domainCtx {
		t.Fatalf("statistics: %v, %d tokens", st.Err(), st.Tokens())
	}
	m := loadConverted(t, dir)
	keep, err := PlanMLAHeads(m, st, 3)
	if err != nil {
		t.Fatal(err)
	}
	plain, _, _, err := ApplyMLAHeads(m, nil, keep, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkZeroedHeads(t, m, plain, keep)
	pm, _, reps, err := ApplyMLAHeads(m, st, keep, Options{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reps {
		if !(r.AttnError[1] < r.AttnError[0]) || r.Heads != [2]int{3, 4} {
			t.Errorf("layer %d: heads %v, attn_output error %.4f without repair, %.4f with", r.Layer, r.Heads, r.AttnError[0], r.AttnError[1])
		}
	}
	baseDom, baseGen := d.ppl(d.em, d.heldOut()), d.ppl(d.em, d.gen)
	pem := engineModel(t, pm)
	dom, gen := d.ppl(pem, d.heldOut()), d.ppl(pem, d.gen)
	t.Logf("heads %v; domain %.3f -> %.3f (x%.3f), general %.3f -> %.3f (x%.3f)", keep, baseDom, dom, dom/baseDom, baseGen, gen, gen/baseGen)
	if !(dom/baseDom < gen/baseGen) {
		t.Errorf("domain loses x%.3f, general x%.3f: the domain should keep more", dom/baseDom, gen/baseGen)
	}
}

// checkZeroedHeads: the model pruned without repair gives the logits of
// the source with the removed heads' attn_output columns set to zero.
func checkZeroedHeads(t *testing.T, m, pm *Model, keep [][]int) {
	t.Helper()
	z := &Model{Config: m.Config}
	v := m.Config.MLA.ValueLen
	for _, x := range m.Tensors {
		y := clone(x, x.Name)
		if l, rest, ok := splitBlk(x.Name); ok && rest == "attn_output.weight" {
			kept := map[int]bool{}
			for _, h := range keep[l] {
				kept[h] = true
			}
			n := y.Cols()
			for r := 0; r < y.Rows(); r++ {
				for j := 0; j < n; j++ {
					if !kept[j/v] {
						y.Data[r*n+j] = 0
					}
				}
			}
		}
		z.Tensors = append(z.Tensors, y)
	}
	toks := tokens(3, 40, m.Config.VocabSize)
	a, err := engineModel(t, z).NewSession(0).ForwardAll(toks)
	if err != nil {
		t.Fatal(err)
	}
	a = append([]float32(nil), a...)
	b, err := engineModel(t, pm).NewSession(0).ForwardAll(toks)
	if err != nil {
		t.Fatal(err)
	}
	var num, den float64
	for i := range a {
		d := float64(a[i] - b[i])
		num, den = num+d*d, den+float64(a[i])*float64(a[i])
	}
	if e := math.Sqrt(num / den); e > 1e-5 {
		t.Errorf("pruned logits differ from the zeroed heads' by %.3g", e)
	}
}
