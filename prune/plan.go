package prune

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/shrink-llm/shrink/model"
)

// Score selects how units are ranked.
type Score int

// Scoring methods.
const (
	// Activation weighs weights by their calibration inputs (Wanda/FLAP):
	// the energy a unit contributes to the residual stream.
	Activation Score = iota
	// Magnitude ranks by weight norms only, the baseline.
	Magnitude
)

// String returns "activation" or "magnitude".
func (s Score) String() string {
	if s == Magnitude {
		return "magnitude"
	}
	return "activation"
}

// ParseScore parses "activation" or "magnitude".
func ParseScore(s string) (Score, bool) {
	switch strings.ToLower(s) {
	case "activation", "act", "":
		return Activation, true
	case "magnitude", "mag":
		return Magnitude, true
	}
	return 0, false
}

// Targets says how much to remove. Ratios are fractions of the whole
// model's units, allocated across layers by score.
type Targets struct {
	FFN    float64 // fraction of all feed-forward channels to remove, in [0, 1)
	Heads  float64 // fraction of all query heads to remove, in [0, 1)
	Layers int     // number of whole blocks to remove
	// Params, when above 0, is the parameter budget to keep (Config.Params
	// terms): a fraction of the original when at most 1, else a count.
	// Feed-forward channels and heads are then removed together, cheapest
	// energy per parameter first; FFN and Heads must be 0.
	Params float64
	// MinKeep is the floor: every layer keeps at least this fraction of
	// its original channels and heads (and at least one of each).
	MinKeep float64
	Score   Score
	// Multiple, when above 1, rounds every layer's kept feed-forward
	// channels to a multiple of it (the nearest one, downwards under a
	// parameter budget), e.g. 32 or 256 so block quantization fits the
	// rows of ffn_down.
	Multiple int
	// Relative divides a layer's unit scores by the energy of the residual
	// stream leaving the block, so that units compete by the share of the
	// stream they write rather than by absolute energy.
	Relative bool
}

// ParseParams parses a --target-params value: a fraction in (0, 1] or a
// parameter count, with an optional k, M or G suffix.
func ParseParams(s string) (float64, error) {
	s = strings.TrimSpace(s)
	mul := 1.0
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mul, s = 1e3, s[:n-1]
		case 'm', 'M':
			mul, s = 1e6, s[:n-1]
		case 'g', 'G', 'b', 'B':
			mul, s = 1e9, s[:n-1]
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return 0, fmt.Errorf("%w: parameter target %q: want a fraction in (0, 1] or a count", ErrTarget, s)
	}
	v *= mul
	if v > 1 && v != math.Trunc(v) {
		return 0, fmt.Errorf("%w: parameter target %q: a count must be whole", ErrTarget, s)
	}
	return v, nil
}

// LayerPlan is what one kept block keeps, in source indices.
type LayerPlan struct {
	Layer int   // index of the block in the source model
	FFN   []int // kept feed-forward channels, ascending
	KV    []int // kept key/value heads, ascending
	// Heads are the kept query heads, len(KV)·g of them: for each kept
	// key/value head in order, the g query heads it keeps, ascending.
	Heads []int
}

// Plan is the structure the pruned model keeps.
type Plan struct {
	Source  *model.Config
	Layers  []LayerPlan // kept blocks in order
	Removed []int       // removed blocks, source indices ascending
	Score   Score
}

// Config returns the configuration of the pruned model.
func (p *Plan) Config() *model.Config {
	c := p.Source.Clone()
	c.Layers = len(p.Layers)
	c.Heads = make([]int, c.Layers)
	c.KVHeads = make([]int, c.Layers)
	c.FFN = make([]int, c.Layers)
	for i, lp := range p.Layers {
		c.Heads[i], c.KVHeads[i], c.FFN[i] = len(lp.Heads), len(lp.KV), len(lp.FFN)
	}
	return c
}

// floor returns the number of units a layer of n keeps at least.
func floor(n int, frac float64) int {
	return max(1, min(n, int(math.Ceil(frac*float64(n)-1e-9))))
}

// FFNScores returns the importance of every feed-forward channel of layer
// l (source index): see the package documentation.
func FFNScores(m *Model, st *Stats, l int, score Score) []float64 {
	c := m.Config
	F, D := c.FFN[l], c.Dim
	down := m.Tensor(blk(l, "ffn_down.weight")).Data // D rows of F
	col := make([]float64, F)
	for r := 0; r < D; r++ {
		row := down[r*F : (r+1)*F]
		for j, v := range row {
			col[j] += float64(v) * float64(v)
		}
	}
	if score == Activation && st != nil {
		for j := range col {
			col[j] *= st.ChannelActivation(l, j)
		}
		return col
	}
	for _, name := range []string{"ffn_gate.weight", "ffn_up.weight"} {
		w := m.Tensor(blk(l, name)).Data // F rows of D
		for j := 0; j < F; j++ {
			for _, v := range w[j*D : (j+1)*D] {
				col[j] += float64(v) * float64(v)
			}
		}
	}
	return col
}

// HeadScores returns the importance of every query head of layer l
// (source index) and of every key/value group: see the package
// documentation.
func HeadScores(m *Model, st *Stats, l int, score Score) (heads, groups []float64) {
	c := m.Config
	H, KV, hd, D := c.Heads[l], c.KVHeads[l], c.HeadDim, c.Dim
	qd := H * hd
	o := m.Tensor(blk(l, "attn_output.weight")).Data // D rows of qd
	heads = make([]float64, H)
	if score == Activation && st != nil {
		// energy_h = Σ_r w_r,h^T G_hh w_r,h over output rows r.
		tmp := make([]float64, hd)
		for h := 0; h < H; h++ {
			base := h * hd
			g := st.heads[l][h*hd*hd : (h+1)*hd*hd]
			var e float64
			for r := 0; r < D; r++ {
				w := o[r*qd+base : r*qd+base+hd]
				for i := 0; i < hd; i++ {
					var s float64
					for j := 0; j < hd; j++ {
						s += gramAt(g, hd, i, j) * float64(w[j])
					}
					tmp[i] = s
				}
				for i := 0; i < hd; i++ {
					e += float64(w[i]) * tmp[i]
				}
			}
			heads[h] = e
		}
	} else {
		q := m.Tensor(blk(l, "attn_q.weight")).Data // qd rows of D
		for h := 0; h < H; h++ {
			var e float64
			for _, v := range q[h*hd*D : (h+1)*hd*D] {
				e += float64(v) * float64(v)
			}
			for r := 0; r < D; r++ {
				for _, v := range o[r*qd+h*hd : r*qd+(h+1)*hd] {
					e += float64(v) * float64(v)
				}
			}
			heads[h] = e
		}
	}
	groups = make([]float64, KV)
	per := H / KV
	for h, e := range heads {
		groups[h/per] += e
	}
	if score == Magnitude || st == nil {
		for _, name := range []string{"attn_k.weight", "attn_v.weight"} {
			w := m.Tensor(blk(l, name)).Data
			for k := 0; k < KV; k++ {
				for _, v := range w[k*hd*D : (k+1)*hd*D] {
					groups[k] += float64(v) * float64(v)
				}
			}
		}
	}
	return heads, groups
}

// headState is the greedy allocator's view of one layer's heads.
type headState struct {
	layer  int
	kept   []int     // kept key/value heads
	order  [][]int   // per key/value head: its query heads, best first
	score  []float64 // per query head
	g      int       // query heads kept per group
	floorH int
	qp, kp int64 // parameters of one query head (q rows + o columns), of one k+v head
}

// groupCost returns the cost of the kept group k (its g best heads).
func (s *headState) groupCost(k int) float64 {
	var e float64
	for _, h := range s.order[k][:s.g] {
		e += s.score[h]
	}
	return e
}

// moves returns the cheapest move of each kind: drop a whole group (index
// into kept, or -1) and drop one head from every group.
func (s *headState) moves() (gi int, gCost float64, gHeads int, gParams int64, hCost float64, hHeads int, hParams int64) {
	gi = -1
	n := len(s.kept)
	if n > 1 && (n-1)*s.g >= s.floorH {
		for i, k := range s.kept {
			if c := s.groupCost(k); gi < 0 || c < gCost {
				gi, gCost = i, c
			}
		}
		gHeads, gParams = s.g, int64(s.g)*s.qp+s.kp
	}
	hHeads = -1
	if s.g > 1 && n*(s.g-1) >= s.floorH {
		for _, k := range s.kept {
			hCost += s.score[s.order[k][s.g-1]]
		}
		hHeads, hParams = n, int64(n)*s.qp
	}
	return
}

// NewPlan chooses what to keep. Stats may be nil only for magnitude
// scoring without layer removal.
func NewPlan(m *Model, st *Stats, t Targets) (*Plan, error) {
	c := m.Config
	if st == nil && (t.Score == Activation || t.Layers > 0) {
		return nil, fmt.Errorf("%w: activation scores and layer removal need calibration statistics", ErrStats)
	}
	if st != nil && st.Tokens() == 0 {
		return nil, fmt.Errorf("%w: no calibration tokens were seen", ErrStats)
	}
	if st != nil && st.Err() != nil {
		return nil, st.Err()
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"ffn", t.FFN}, {"heads", t.Heads}, {"min-keep", t.MinKeep}} {
		if math.IsNaN(r.v) || r.v < 0 || r.v >= 1 {
			return nil, fmt.Errorf("%w: --%s %g: want a fraction in [0, 1) (1 would leave layers empty)", ErrTarget, r.name, r.v)
		}
	}
	if t.Layers < 0 || t.Layers >= c.Layers {
		return nil, fmt.Errorf("%w: removing %d of %d layers would leave the model empty", ErrTarget, t.Layers, c.Layers)
	}
	if t.Params > 0 && (t.FFN > 0 || t.Heads > 0) {
		return nil, fmt.Errorf("%w: a parameter budget replaces the --ffn and --heads ratios", ErrTarget)
	}
	p := &Plan{Source: c, Score: t.Score}

	// Layers: lowest block influence first.
	removed := map[int]bool{}
	if t.Layers > 0 {
		idx := make([]int, c.Layers)
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return st.BlockInfluence(idx[a]) < st.BlockInfluence(idx[b]) })
		for _, l := range idx[:t.Layers] {
			removed[l] = true
			p.Removed = append(p.Removed, l)
		}
		sort.Ints(p.Removed)
	}
	var layers []int
	for l := 0; l < c.Layers; l++ {
		if !removed[l] {
			layers = append(layers, l)
		}
	}

	// Per-layer state.
	D := int64(c.Dim)
	ffnKeep := map[int][]bool{}
	ffnOrder := map[int][]int{} // ascending score
	ffnScore := map[int][]float64{}
	ffnLeft := map[int]int{}
	ffnFloor := map[int]int{}
	hs := map[int]*headState{}
	for _, l := range layers {
		lm, err := m.withLayer(l)
		if err != nil {
			return nil, err
		}
		sc := FFNScores(lm, st, l, t.Score)
		hsc, _ := HeadScores(lm, st, l, t.Score)
		if t.Relative && st != nil && st.ResidualEnergy(l+1) > 0 {
			for i := range sc {
				sc[i] /= st.ResidualEnergy(l + 1)
			}
			for i := range hsc {
				hsc[i] /= st.ResidualEnergy(l + 1)
			}
		}
		ord := make([]int, len(sc))
		for i := range ord {
			ord[i] = i
		}
		sort.SliceStable(ord, func(a, b int) bool { return sc[ord[a]] < sc[ord[b]] })
		keep := make([]bool, len(sc))
		for i := range keep {
			keep[i] = true
		}
		ffnKeep[l], ffnOrder[l], ffnScore[l], ffnLeft[l] = keep, ord, sc, len(sc)
		ffnFloor[l] = floor(len(sc), t.MinKeep)

		H, KV := c.Heads[l], c.KVHeads[l]
		per := H / KV
		s := &headState{layer: l, score: hsc, g: per, floorH: floor(H, t.MinKeep)}
		for k := 0; k < KV; k++ {
			s.kept = append(s.kept, k)
			o := make([]int, per)
			for i := range o {
				o[i] = k*per + i
			}
			sort.SliceStable(o, func(a, b int) bool { return hsc[o[a]] > hsc[o[b]] })
			s.order = append(s.order, o)
		}
		s.qp = 2 * int64(c.HeadDim) * D
		s.kp = 2 * int64(c.HeadDim) * D
		if c.QKVBias {
			s.qp += int64(c.HeadDim)
			s.kp += 2 * int64(c.HeadDim)
		}
		hs[l] = s
	}
	chanParams := 3 * D
	if c.FFNBias {
		chanParams += 2
	}
	ffnNext := func(l int) int { // position in ffnOrder of the next removable channel, or -1
		if ffnLeft[l] <= ffnFloor[l] {
			return -1
		}
		return len(ffnKeep[l]) - ffnLeft[l]
	}
	dropChannel := func(l int) {
		j := ffnOrder[l][len(ffnKeep[l])-ffnLeft[l]]
		ffnKeep[l][j] = false
		ffnLeft[l]--
	}
	applyHead := func(s *headState, group bool, gi int) {
		if group {
			s.kept = append(s.kept[:gi:gi], s.kept[gi+1:]...)
		} else {
			s.g--
		}
	}

	if t.Params > 0 {
		target := t.Params
		if target <= 1 {
			target *= float64(c.Params())
		}
		cur := c.Params()
		for _, l := range p.Removed {
			cur -= c.LayerParams(l)
		}
		for float64(cur) > target {
			bestCost, bestL, kind, bestGi := math.Inf(1), -1, 0, -1
			var bestP int64
			for _, l := range layers {
				if i := ffnNext(l); i >= 0 {
					if cst := ffnScore[l][ffnOrder[l][i]] / float64(chanParams); cst < bestCost {
						bestCost, bestL, kind, bestP = cst, l, 0, chanParams
					}
				}
				gi, gc, _, gp, hc, hh, hp := hs[l].moves()
				if gi >= 0 && gc/float64(gp) < bestCost {
					bestCost, bestL, kind, bestGi, bestP = gc/float64(gp), l, 1, gi, gp
				}
				if hh > 0 && hc/float64(hp) < bestCost {
					bestCost, bestL, kind, bestP = hc/float64(hp), l, 2, hp
				}
			}
			if bestL < 0 {
				return nil, fmt.Errorf("%w: a budget of %.0f parameters would take layers below their floor (the smallest reachable is %d)", ErrTarget, target, cur)
			}
			switch kind {
			case 0:
				dropChannel(bestL)
			case 1:
				applyHead(hs[bestL], true, bestGi)
			case 2:
				applyHead(hs[bestL], false, 0)
			}
			cur -= bestP
		}
	} else {
		// FFN channels: globally lowest score first, above the floors.
		if t.FFN > 0 {
			total := 0
			type unit struct {
				l, j int
				s    float64
			}
			var all []unit
			for _, l := range layers {
				total += len(ffnKeep[l])
				for j, s := range ffnScore[l] {
					all = append(all, unit{l, j, s})
				}
			}
			want := int(math.Round(t.FFN * float64(total)))
			sort.SliceStable(all, func(a, b int) bool { return all[a].s < all[b].s })
			done := 0
			for _, u := range all {
				if done == want {
					break
				}
				if ffnLeft[u.l] <= ffnFloor[u.l] {
					continue
				}
				ffnKeep[u.l][u.j] = false
				ffnLeft[u.l]--
				done++
			}
			if done < want {
				return nil, fmt.Errorf("%w: removing %d of %d feed-forward channels would take layers below their floor (%.0f%% kept per layer)", ErrTarget, want, total, 100*t.MinKeep)
			}
		}
		if t.Heads > 0 {
			total := 0
			for _, l := range layers {
				total += c.Heads[l]
			}
			want := int(math.Round(t.Heads * float64(total)))
			done := 0
			for done < want {
				bestCost, bestL, group, bestGi, anyMove := math.Inf(1), -1, false, -1, false
				for _, l := range layers {
					gi, gc, gh, _, hc, hh, _ := hs[l].moves()
					if gi >= 0 {
						anyMove = true
						if gh <= want-done && gc/float64(gh) < bestCost {
							bestCost, bestL, group, bestGi = gc/float64(gh), l, true, gi
						}
					}
					if hh > 0 {
						anyMove = true
						if hh <= want-done && hc/float64(hh) < bestCost {
							bestCost, bestL, group = hc/float64(hh), l, false
						}
					}
				}
				if !anyMove {
					return nil, fmt.Errorf("%w: removing %d of %d attention heads would take layers below their floor", ErrTarget, want, total)
				}
				if bestL < 0 {
					break // the remaining moves overshoot: stop short
				}
				s := hs[bestL]
				if group {
					done += s.g
				} else {
					done += len(s.kept)
				}
				applyHead(s, group, bestGi)
			}
		}
	}

	if t.Multiple > 1 {
		for _, l := range layers {
			keep, ord := ffnKeep[l], ffnOrder[l]
			F, k := len(keep), ffnLeft[l]
			if F < t.Multiple {
				continue
			}
			r := (k + t.Multiple/2) / t.Multiple * t.Multiple
			if t.Params > 0 {
				r = k / t.Multiple * t.Multiple
			}
			r = max(t.Multiple, min(r, F/t.Multiple*t.Multiple))
			for _, j := range ord { // ascending: worst first
				if k <= r {
					break
				}
				if keep[j] {
					keep[j] = false
					k--
				}
			}
			for i := len(ord) - 1; i >= 0 && k < r; i-- { // too few: restore the best removed
				if j := ord[i]; !keep[j] {
					keep[j] = true
					k++
				}
			}
			ffnLeft[l] = k
		}
	}
	for _, l := range layers {
		lp := LayerPlan{Layer: l}
		for j, k := range ffnKeep[l] {
			if k {
				lp.FFN = append(lp.FFN, j)
			}
		}
		s := hs[l]
		lp.KV = append(lp.KV, s.kept...)
		for _, k := range s.kept {
			hh := append([]int(nil), s.order[k][:s.g]...)
			sort.Ints(hh)
			lp.Heads = append(lp.Heads, hh...)
		}
		p.Layers = append(p.Layers, lp)
	}
	return p, nil
}
