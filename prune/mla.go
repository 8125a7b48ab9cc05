package prune

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/shrink-llm/shrink/internal/linalg"
	"github.com/shrink-llm/shrink/model"
)

// Latent attention (deepseek2) heads. A head h of an MLA layer owns the
// rows h·K..h·K+K-1 of attn_q_b (or the lite attn_q; K = key length), the
// rows h·(nope+v).. of attn_kv_b (its k_nope and value up-projection; in
// the split layout, slice h of attn_k_b and attn_v_b) and the columns
// h·v..h·v+v-1 of attn_output. The shared latent (attn_kv_a_mqa, q_a) is
// untouched, so removing heads shrinks q_b, kv_b and o_proj and the
// per-token attention work, not the cache. A head scores the energy of its
// output through attn_output on the calibration text, tr(W_o,h G_hh
// W_o,hᵀ) with G the Gram matrix of attn_output's input, and the kept
// heads' attn_output columns are refitted by least squares on G (the
// dense models' repair, see project). llama.cpp's deepseek2 loader reads
// one head count for all layers, so every layer keeps the same number.

// MLAStats accumulates, per layer, the Gram matrix of attn_output's input
// (heads x value length columns) of a latent attention model. Its Linear
// and Residual methods make it an engine Observer.
type MLAStats struct {
	cfg    *model.Config
	attn   []*linalg.Gram
	tokens int64
	err    error
}

// NewMLAStats returns empty statistics for latent attention model c.
func NewMLAStats(c *model.Config) (*MLAStats, error) {
	if c.MLA == nil {
		return nil, fmt.Errorf("%w: %s has no latent attention", ErrModel, c.Arch)
	}
	s := &MLAStats{cfg: c, attn: make([]*linalg.Gram, c.Layers)}
	for l := range s.attn {
		s.attn[l] = linalg.NewGram(c.Heads[l] * c.MLA.ValueLen)
	}
	return s, nil
}

// Linear accumulates XᵀX of attn_output's input.
func (s *MLAStats) Linear(name string, x []float32, rows, cols int) {
	l, rest, ok := splitBlk(name)
	if !ok || rest != "attn_output.weight" || l < 0 || l >= s.cfg.Layers {
		return
	}
	if want := s.cfg.Heads[l] * s.cfg.MLA.ValueLen; cols != want || len(x) < rows*cols {
		if s.err == nil {
			s.err = fmt.Errorf("%w: %s input has %d columns, want %d", ErrStats, name, cols, want)
		}
		return
	}
	s.attn[l].Add(x[:rows*cols], rows)
	if l == 0 {
		s.tokens += int64(rows)
	}
}

// Residual is part of the observer interface; MLAStats does not use it.
func (s *MLAStats) Residual(int, []float32, int, int) {}

// Tokens returns the number of calibration tokens seen.
func (s *MLAStats) Tokens() int64 { return s.tokens }

// Err returns the first inconsistency seen, or nil.
func (s *MLAStats) Err() error { return s.err }

// MLAHeadScores returns the energy each head of layer l writes through
// attn_output on the calibration text.
func MLAHeadScores(m *Model, st *MLAStats, l int) []float64 {
	c := m.Config
	H, v, D := c.Heads[l], c.MLA.ValueLen, c.Dim
	n := H * v
	o := m.Tensor(blk(l, "attn_output.weight")).Data // D rows of n
	g := st.attn[l].Full()
	scores := make([]float64, H)
	for h := 0; h < H; h++ {
		for r := 0; r < D; r++ {
			w := o[r*n+h*v : r*n+(h+1)*v]
			for i, wi := range w {
				row := g[(h*v+i)*n+h*v:]
				var s float64
				for j, wj := range w {
					s += row[j] * float64(wj)
				}
				scores[h] += float64(wi) * s
			}
		}
	}
	return scores
}

// PlanMLAHeads chooses, in every layer, the keep heads with the highest
// scores (ascending indices).
func PlanMLAHeads(m *Model, st *MLAStats, keep int) ([][]int, error) {
	c := m.Config
	out := make([][]int, c.Layers)
	for l := range out {
		if keep < 1 || keep > c.Heads[l] {
			return nil, fmt.Errorf("%w: keep %d of %d heads in layer %d", ErrModel, keep, c.Heads[l], l)
		}
		sc := MLAHeadScores(m, st, l)
		idx := make([]int, len(sc))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return sc[idx[a]] > sc[idx[b]] })
		k := append([]int(nil), idx[:keep]...)
		sort.Ints(k)
		out[l] = k
	}
	return out, nil
}

// ApplyMLAHeads returns the model keeping heads keep[l] of every layer:
// query, key/value up-projection and output slices cut, attn_output
// refitted by least squares when opt.Repair (st needed), and a plan that
// describes the result for Metadata. Layer reports give the output error
// of attn_output on the calibration inputs without and with the repair.
func ApplyMLAHeads(m *Model, st *MLAStats, keep [][]int, opt Options) (*Model, *Plan, []LayerReport, error) {
	c := m.Config
	if c.MLA == nil || len(keep) != c.Layers {
		return nil, nil, nil, fmt.Errorf("%w: head plan for %d layers of a latent attention model", ErrModel, len(keep))
	}
	if opt.Repair && st == nil {
		return nil, nil, nil, fmt.Errorf("%w: repair needs calibration statistics", ErrStats)
	}
	ridge := opt.Ridge
	if ridge <= 0 {
		ridge = 1e-3
	}
	p := &Plan{Source: c}
	reps := make([]LayerReport, c.Layers)
	for l := range keep {
		all := make([]int, c.FFN[l])
		for i := range all {
			all[i] = i
		}
		p.Layers = append(p.Layers, LayerPlan{Layer: l, FFN: all, KV: keep[l], Heads: keep[l]})
		reps[l] = LayerReport{Layer: l, NewLayer: l, Heads: [2]int{len(keep[l]), c.Heads[l]}, KVHeads: [2]int{len(keep[l]), c.KVHeads[l]},
			FFN: [2]int{c.FFN[l], c.FFN[l]}, Params: [2]int64{0, c.LayerParams(l)}}
	}
	a := c.MLA
	kl, v, nope := a.KeyLength, a.ValueLen, c.Nope()
	out := &Model{Config: p.Config()}
	for _, t := range m.Tensors {
		l, rest, ok := splitBlk(t.Name)
		if !ok || l >= c.Layers {
			out.Tensors = append(out.Tensors, clone(t, t.Name))
			continue
		}
		k := keep[l]
		var nt *Tensor
		var err error
		switch rest {
		case "attn_q_b.weight", "attn_q.weight":
			nt = keepRows(t, t.Name, expand(k, kl))
		case "attn_kv_b.weight":
			nt = keepRows(t, t.Name, expand(k, nope+v))
		case "attn_k_b.weight", "attn_v_b.weight": // {cols, rows, heads}: heads are blocks of rows
			nt = keepRows(t, t.Name, expand(k, int(t.Shape[1])))
			nt.Shape = []int64{t.Shape[0], t.Shape[1], int64(len(k))}
		case "attn_output.weight":
			e := &reps[l].AttnError
			if st == nil {
				nt = keepCols(t, t.Name, expand(k, v))
				break
			}
			nt, e[0], e[1], err = project(st.attn[l], t, expand(k, v), t.Name, opt.Repair, ridge)
		default:
			nt = clone(t, t.Name)
		}
		if err != nil {
			return nil, nil, nil, err
		}
		out.Tensors = append(out.Tensors, nt)
	}
	for l := range reps {
		reps[l].Params[0] = out.Config.LayerParams(l)
	}
	if err := out.checkMLA(); err != nil {
		return nil, nil, nil, err
	}
	return out, p, reps, nil
}

// checkMLA verifies that a latent attention model's attention tensors
// exist with the shapes its configuration implies.
func (m *Model) checkMLA() error {
	c := m.Config
	if c.Layers < 1 || len(c.Heads) != c.Layers || len(c.KVHeads) != c.Layers || len(c.FFN) != c.Layers {
		return fmt.Errorf("%w: configuration has inconsistent layer counts", ErrModel)
	}
	for l := 0; l < c.Layers; l++ {
		for suf, shape := range c.MLAShapes(l) {
			name := "blk." + strconv.Itoa(l) + "." + suf
			t := m.Tensor(name)
			if t == nil {
				return fmt.Errorf("%w: tensor %s missing", ErrModel, name)
			}
			n := 1
			for _, d := range shape {
				n *= int(d)
			}
			if len(t.Shape) != len(shape) || len(t.Data) != n {
				return fmt.Errorf("%w: tensor %s has shape %v, want %v", ErrModel, name, t.Shape, shape)
			}
			for i := range shape {
				if t.Shape[i] != shape[i] {
					return fmt.Errorf("%w: tensor %s has shape %v, want %v", ErrModel, name, t.Shape, shape)
				}
			}
		}
	}
	return nil
}
