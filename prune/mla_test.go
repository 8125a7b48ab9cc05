package prune

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/convert"

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
	checkZeroedCols(t, m, pm, "attn_output.weight", keep, m.Config.MLA.ValueLen)
}

// TestDevDeepseek2DenseFFN removes a quarter of the feed-forward channels
// of dev-deepseek2-moe's dense leading block, calibrated on Go source:
// without repair the result equals the source with those channels'
// ffn_down columns zeroed; the repair lowers ffn_down's error on the
// calibration inputs; MoE layers are untouched; and the domain keeps more
// of its perplexity than Shakespeare.
func TestDevDeepseek2DenseFFN(t *testing.T) {
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
	m := loadConverted(t, dir)
	if m.Config.DenseLead != 1 || m.Config.FFN[0] != 256 {
		t.Fatalf("dense blocks %d, width %v", m.Config.DenseLead, m.Config.FFN)
	}
	ffn, err := PlanMLAFFN(m, st, 192)
	if err != nil {
		t.Fatal(err)
	}
	if len(ffn[0]) != 192 || ffn[1] != nil {
		t.Fatalf("plan keeps %d channels of block 0, %v of block 1", len(ffn[0]), ffn[1])
	}
	plain, _, _, err := ApplyMLA(m, nil, MLAPlan{FFN: ffn}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkZeroedCols(t, m, plain, "ffn_down.weight", ffn, 1)
	pm, _, reps, err := ApplyMLA(m, st, MLAPlan{FFN: ffn}, Options{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := reps[0]; !(r.FFNError[1] < r.FFNError[0]) || r.FFN != [2]int{192, 256} {
		t.Errorf("block 0: ffn %v, ffn_down error %.4f without repair, %.4f with", r.FFN, r.FFNError[0], r.FFNError[1])
	}
	if !pm.Config.Uniform() || pm.Config.FFN[3] != 192 || pm.Config.Experts != 8 {
		t.Errorf("pruned config: ffn %v, %d experts", pm.Config.FFN, pm.Config.Experts)
	}
	for _, name := range []string{"blk.1.ffn_down_exps.weight", "blk.2.attn_output.weight", "blk.0.attn_kv_b.weight"} {
		if a, b := m.Tensor(name), pm.Tensor(name); !slices.Equal(a.Data, b.Data) {
			t.Errorf("%s changed", name)
		}
	}
	baseDom, baseGen := d.ppl(d.em, d.heldOut()), d.ppl(d.em, d.gen)
	pem := engineModel(t, pm)
	dom, gen := d.ppl(pem, d.heldOut()), d.ppl(pem, d.gen)
	t.Logf("dense FFN 256 -> 192: domain %.3f -> %.3f (x%.3f), general %.3f -> %.3f (x%.3f)", baseDom, dom, dom/baseDom, baseGen, gen, gen/baseGen)
	if !(dom/baseDom < gen/baseGen) {
		t.Errorf("domain loses x%.3f, general x%.3f: the domain should keep more", dom/baseDom, gen/baseGen)
	}
}

// TestDevDeepseek2Together prunes heads, experts and dense feed-forward
// channels of dev-deepseek2-moe from one calibration run: the statistics
// count the same routing as ExpertStats alone, the result's attention and
// dense tensors equal those of ApplyMLA on the unnarrowed model and its
// expert tensors those of the kept experts, and the domain keeps more of
// its perplexity than Shakespeare.
func TestDevDeepseek2Together(t *testing.T) {
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
	alone := NewExpertStats(d.em.Config)
	d.calibrate(alone)
	keepE, _, err := st.Experts().ChooseExperts(ExpertREAP, 6)
	if err != nil {
		t.Fatal(err)
	}
	keepA, _, err := alone.ChooseExperts(ExpertREAP, 6)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(keepE, keepA, slices.Equal) {
		t.Fatalf("experts kept %v, by ExpertStats alone %v", keepE, keepA)
	}
	m := loadConverted(t, dir)
	heads, err := PlanMLAHeads(m, st, 3)
	if err != nil {
		t.Fatal(err)
	}
	ffn, err := PlanMLAFFN(m, st, 192)
	if err != nil {
		t.Fatal(err)
	}
	kp := MLAPlan{Heads: heads, FFN: ffn}
	ref, _, _, err := ApplyMLA(m, st, kp, Options{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := convert.Load(dir, convert.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cm.Close()
	if err := cm.KeepExperts(keepE); err != nil {
		t.Fatal(err)
	}
	nm, _, err := FromConvert(cm)
	if err != nil {
		t.Fatal(err)
	}
	pm, _, _, err := ApplyMLA(nm, st, kp, Options{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := pm.Config; c.Experts != 6 || c.Heads[2] != 3 || c.FFN[0] != 192 {
		t.Fatalf("pruned config: %d experts, heads %v, ffn %v", c.Experts, c.Heads, c.FFN)
	}
	for _, x := range pm.Tensors {
		l, rest, _ := splitBlk(x.Name)
		if strings.Contains(rest, "_exps.") || rest == "ffn_gate_inp.weight" {
			src := m.Tensor(x.Name)
			per := len(src.Data) / 8
			var want []float32
			for _, e := range keepE[l] {
				want = append(want, src.Data[e*per:(e+1)*per]...)
			}
			if !slices.Equal(x.Data, want) {
				t.Errorf("%s: not the kept experts' slices", x.Name)
			}
		} else if !slices.Equal(x.Data, ref.Tensor(x.Name).Data) {
			t.Errorf("%s differs from the heads-and-channels cut", x.Name)
		}
	}
	baseDom, baseGen := d.ppl(d.em, d.heldOut()), d.ppl(d.em, d.gen)
	pem := engineModel(t, pm)
	dom, gen := d.ppl(pem, d.heldOut()), d.ppl(pem, d.gen)
	t.Logf("heads 4->3, experts 8->6, dense FFN 256->192 (params %d -> %d): domain %.3f -> %.3f (x%.3f), general %.3f -> %.3f (x%.3f)",
		m.Config.Params(), pm.Config.Params(), baseDom, dom, dom/baseDom, baseGen, gen, gen/baseGen)
	if !(dom/baseDom < gen/baseGen) {
		t.Errorf("domain loses x%.3f, general x%.3f: the domain should keep more", dom/baseDom, gen/baseGen)
	}
}

// checkZeroedCols: the model pruned without repair gives the logits of
// the source with the columns of the named block tensor outside
// keep[l] (units of width columns each) set to zero.
func checkZeroedCols(t *testing.T, m, pm *Model, suffix string, keep [][]int, width int) {
	t.Helper()
	z := &Model{Config: m.Config}
	for _, x := range m.Tensors {
		y := clone(x, x.Name)
		if l, rest, ok := splitBlk(x.Name); ok && rest == suffix && keep[l] != nil {
			kept := map[int]bool{}
			for _, u := range keep[l] {
				kept[u] = true
			}
			n := y.Cols()
			for r := 0; r < y.Rows(); r++ {
				for j := 0; j < n; j++ {
					if !kept[j/width] {
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
		t.Errorf("pruned logits differ from the zeroed columns' by %.3g", e)
	}
}
