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
// (heads x value length columns) of a latent attention model, the Gram
// matrix of ffn_down's input in its dense leading blocks, and the routing
// of its MoE layers (Experts), so that heads, dense feed-forward channels
// and experts are chosen from one calibration run. Its methods make it an
// engine Observer (and ExpertObserver, ExpertOutputObserver).
type MLAStats struct {
	cfg    *model.Config
	attn   []*linalg.Gram
	ffn    []*linalg.Gram // dense blocks: Gram of ffn_down's input; nil for MoE layers
	exp    *ExpertStats   // nil without routed experts
	tokens int64
	err    error
}

// NewMLAStats returns empty statistics for latent attention model c.
// Memory is (Heads·ValueLen)² float64 values per layer plus FFN² per
// dense leading block.
func NewMLAStats(c *model.Config) (*MLAStats, error) {
	if c.MLA == nil {
		return nil, fmt.Errorf("%w: %s has no latent attention", ErrModel, c.Arch)
	}
	s := &MLAStats{cfg: c, attn: make([]*linalg.Gram, c.Layers), ffn: make([]*linalg.Gram, c.Layers)}
	for l := range s.attn {
		s.attn[l] = linalg.NewGram(c.Heads[l] * c.MLA.ValueLen)
		if !c.MoELayer(l) {
			s.ffn[l] = linalg.NewGram(c.FFN[l])
		}
	}
	if c.Experts > 0 {
		s.exp = NewExpertStats(c)
	}
	return s, nil
}

// Experts returns the routing statistics of the MoE layers, nil when the
// model has no routed experts.
func (s *MLAStats) Experts() *ExpertStats { return s.exp }

// Linear accumulates XᵀX of the inputs of attn_output and, in dense
// blocks, ffn_down.
func (s *MLAStats) Linear(name string, x []float32, rows, cols int) {
	l, rest, ok := splitBlk(name)
	if !ok || l < 0 || l >= s.cfg.Layers {
		return
	}
	var g *linalg.Gram
	switch rest {
	case "attn_output.weight":
		g = s.attn[l]
	case "ffn_down.weight":
		g = s.ffn[l]
	}
	if g == nil {
		return
	}
	if cols != g.N || len(x) < rows*cols {
		if s.err == nil {
			s.err = fmt.Errorf("%w: %s input has %d columns, want %d", ErrStats, name, cols, g.N)
		}
		return
	}
	g.Add(x[:rows*cols], rows)
	if l == 0 && rest == "attn_output.weight" {
		s.tokens += int64(rows)
	}
}

// ExpertLinear is part of engine.ExpertObserver; not used.
func (s *MLAStats) ExpertLinear(string, int, []float32, int, int) {}

// Routing passes the router's choices to the expert statistics.
func (s *MLAStats) Routing(layer int, experts []int32, weights []float32, rows, k int) {
	if s.exp != nil {
		s.exp.Routing(layer, experts, weights, rows, k)
	}
}

// ExpertOutput passes an expert's outputs to the expert statistics.
func (s *MLAStats) ExpertOutput(layer, expert int, slots []int, y []float32, rows, cols int) {
	if s.exp != nil {
		s.exp.ExpertOutput(layer, expert, slots, y, rows, cols)
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
		out[l] = topIndices(MLAHeadScores(m, st, l), keep)
	}
	return out, nil
}

// MLAFFNScores returns the importance of every feed-forward channel of
// dense block l of a latent attention model: ||h_j||²·||W_down[:, j]||²,
// the energy it writes to the residual stream (see the package
// documentation).
func MLAFFNScores(m *Model, st *MLAStats, l int) ([]float64, error) {
	c := m.Config
	if l < 0 || l >= c.Layers || st.ffn[l] == nil {
		return nil, fmt.Errorf("%w: block %d has no dense feed-forward statistics", ErrStats, l)
	}
	F, D := c.FFN[l], c.Dim
	down := m.Tensor(blk(l, "ffn_down.weight"))
	if down == nil || len(down.Data) != F*D {
		return nil, fmt.Errorf("%w: tensor %s missing or misshaped", ErrModel, blk(l, "ffn_down.weight"))
	}
	col := make([]float64, F)
	for r := 0; r < D; r++ {
		for j, v := range down.Data[r*F : (r+1)*F] {
			col[j] += float64(v) * float64(v)
		}
	}
	for j, a := range st.ffn[l].Diag() {
		col[j] *= a
	}
	return col, nil
}

// PlanMLAFFN chooses, in every dense leading block of a latent attention
// model, the keep feed-forward channels with the highest scores
// (ascending indices; nil for MoE layers). llama.cpp's deepseek2 loader
// reads one feed-forward width (layer 0's) for all dense blocks, so every
// dense block keeps the same number.
func PlanMLAFFN(m *Model, st *MLAStats, keep int) ([][]int, error) {
	c := m.Config
	out := make([][]int, c.Layers)
	for l := range out {
		if c.MoELayer(l) {
			continue
		}
		if keep < 1 || keep > c.FFN[l] {
			return nil, fmt.Errorf("%w: keep %d of %d feed-forward channels in block %d", ErrTarget, keep, c.FFN[l], l)
		}
		sc, err := MLAFFNScores(m, st, l)
		if err != nil {
			return nil, err
		}
		out[l] = topIndices(sc, keep)
	}
	return out, nil
}

// topIndices returns the indices of the k highest scores, ascending (ties
// to the lower index).
func topIndices(sc []float64, k int) []int {
	idx := make([]int, len(sc))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return sc[idx[a]] > sc[idx[b]] })
	out := append([]int(nil), idx[:k]...)
	sort.Ints(out)
	return out
}

// MLAPlan is what a latent attention model keeps, per source layer: its
// heads (nil: all) and, in dense blocks, its feed-forward channels (nil:
// all). Routed experts are cut before, from the checkpoint
// (convert.Model.KeepExperts).
type MLAPlan struct {
	Heads [][]int
	FFN   [][]int
}

// ApplyMLAHeads returns the model keeping heads keep[l] of every layer:
// ApplyMLA with only heads removed.
func ApplyMLAHeads(m *Model, st *MLAStats, keep [][]int, opt Options) (*Model, *Plan, []LayerReport, error) {
	return ApplyMLA(m, st, MLAPlan{Heads: keep}, opt)
}

// ApplyMLA returns the model keeping what kp says: query, key/value
// up-projection and output slices of the kept heads, gate and up rows of
// the kept dense feed-forward channels, attn_output and ffn_down refitted
// by least squares when opt.Repair (st needed), and a plan that describes
// the result for Metadata. Layer reports give the output errors of
// attn_output and ffn_down on the calibration inputs without and with the
// repair. MoE layers' feed_forward_length becomes the dense blocks' kept
// width, which is what it means in llama.cpp's deepseek2.
func ApplyMLA(m *Model, st *MLAStats, kp MLAPlan, opt Options) (*Model, *Plan, []LayerReport, error) {
	c := m.Config
	if c.MLA == nil || (kp.Heads != nil && len(kp.Heads) != c.Layers) || (kp.FFN != nil && len(kp.FFN) != c.Layers) {
		return nil, nil, nil, fmt.Errorf("%w: plan for %d layers of a latent attention model", ErrModel, max(len(kp.Heads), len(kp.FFN)))
	}
	if opt.Repair && st == nil {
		return nil, nil, nil, fmt.Errorf("%w: repair needs calibration statistics", ErrStats)
	}
	ridge := opt.Ridge
	if ridge <= 0 {
		ridge = 1e-3
	}
	heads, ffn, dense := make([][]int, c.Layers), make([][]int, c.Layers), -1
	for l := range heads {
		heads[l], ffn[l] = seq(c.Heads[l]), seq(c.FFN[l])
		if kp.Heads != nil && kp.Heads[l] != nil {
			heads[l] = kp.Heads[l]
		}
		if kp.FFN != nil && kp.FFN[l] != nil {
			if c.MoELayer(l) {
				return nil, nil, nil, fmt.Errorf("%w: block %d has routed experts, no feed-forward channels to keep", ErrModel, l)
			}
			ffn[l] = kp.FFN[l]
		}
		if !c.MoELayer(l) {
			if dense >= 0 && len(ffn[l]) != dense {
				return nil, nil, nil, fmt.Errorf("%w: dense blocks keep %d and %d channels; deepseek2 has one width", ErrTarget, dense, len(ffn[l]))
			}
			dense = len(ffn[l])
		}
	}
	p := &Plan{Source: c}
	reps := make([]LayerReport, c.Layers)
	for l := range heads {
		p.Layers = append(p.Layers, LayerPlan{Layer: l, FFN: ffn[l], KV: heads[l], Heads: heads[l]})
		reps[l] = LayerReport{Layer: l, NewLayer: l, Heads: [2]int{len(heads[l]), c.Heads[l]}, KVHeads: [2]int{len(heads[l]), c.KVHeads[l]},
			FFN: [2]int{len(ffn[l]), c.FFN[l]}, Params: [2]int64{0, c.LayerParams(l)}}
	}
	out := &Model{Config: p.Config()}
	for l := range out.Config.FFN {
		if c.MoELayer(l) && dense > 0 {
			out.Config.FFN[l], reps[l].FFN[0] = dense, dense
		}
	}
	for _, t := range m.Tensors {
		nt, err := mlaTensor(t, c, st, heads, ffn, reps, opt.Repair, ridge)
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

// seq returns 0..n-1.
func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// mlaTensor returns tensor t of a latent attention model cut to the kept
// heads and feed-forward channels of its layer, repairing attn_output and
// ffn_down on st's Gram matrices (st nil: plain cut).
func mlaTensor(t *Tensor, c *model.Config, st *MLAStats, heads, ffn [][]int, reps []LayerReport, repair bool, ridge float64) (*Tensor, error) {
	l, rest, ok := splitBlk(t.Name)
	if !ok || l >= c.Layers {
		return clone(t, t.Name), nil
	}
	a := c.MLA
	k, f := heads[l], ffn[l]
	cutHeads, cutFFN := len(k) < c.Heads[l], len(f) < c.FFN[l] && !c.MoELayer(l)
	var nt *Tensor
	var err error
	switch {
	case cutHeads && (rest == "attn_q_b.weight" || rest == "attn_q.weight"):
		nt = keepRows(t, t.Name, expand(k, a.KeyLength))
	case cutHeads && rest == "attn_kv_b.weight":
		nt = keepRows(t, t.Name, expand(k, c.Nope()+a.ValueLen))
	case cutHeads && (rest == "attn_k_b.weight" || rest == "attn_v_b.weight"): // {cols, rows, heads}: heads are blocks of rows
		nt = keepRows(t, t.Name, expand(k, int(t.Shape[1])))
		nt.Shape = []int64{t.Shape[0], t.Shape[1], int64(len(k))}
	case cutHeads && rest == "attn_output.weight":
		if st == nil {
			return keepCols(t, t.Name, expand(k, a.ValueLen)), nil
		}
		e := &reps[l].AttnError
		nt, e[0], e[1], err = project(st.attn[l], t, expand(k, a.ValueLen), t.Name, repair, ridge, false)
	case cutFFN && (rest == "ffn_gate.weight" || rest == "ffn_up.weight"):
		nt = keepRows(t, t.Name, f)
	case cutFFN && rest == "ffn_down.weight":
		if st == nil || st.ffn[l] == nil {
			return keepCols(t, t.Name, f), nil
		}
		e := &reps[l].FFNError
		nt, e[0], e[1], err = project(st.ffn[l], t, f, t.Name, repair, ridge, false)
	default:
		nt = clone(t, t.Name)
	}
	return nt, err
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
