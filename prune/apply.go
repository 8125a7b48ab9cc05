package prune

import (
	"fmt"
	"math"
	"strconv"

	"github.com/shrink-llm/shrink/internal/linalg"
)

// Options adjust Apply.
type Options struct {
	// Repair refits attn_output and ffn_down by least squares on the
	// calibration statistics (needs Stats).
	Repair bool
	// Ridge is the regularisation λ relative to the mean diagonal of the
	// kept inputs' Gram matrix (0: 1e-3).
	Ridge float64
}

// LayerReport is what happened to one block.
type LayerReport struct {
	Layer     int        `json:"layer"`           // source index
	NewLayer  int        `json:"new_layer"`       // index in the pruned model, -1 when removed
	Heads     [2]int     `json:"heads"`           // kept, original
	KVHeads   [2]int     `json:"kv_heads"`        // kept, original
	FFN       [2]int     `json:"ffn"`             // kept, original
	Params    [2]int64   `json:"params"`          // after, before
	Influence float64    `json:"block_influence"` // ShortGPT BI (0 without statistics)
	FFNError  [2]float64 `json:"ffn_rel_error"`   // relative output error of ffn_down on calibration data: without, with repair
	AttnError [2]float64 `json:"attn_rel_error"`  // same for attn_output
}

// Apply builds the pruned model: kept rows and columns of every block's
// tensors, blocks renumbered, Config updated, and (with opt.Repair) the
// consuming projections refitted. The returned reports have one entry per
// source block. m is not modified.
func Apply(m *Model, st *Stats, p *Plan, opt Options) (*Model, []LayerReport, error) {
	return apply(m, st, p, opt, nil, false)
}

// ApplyLazy is Apply building a lazy model: each tensor of the result is
// computed from m's (which may itself be lazy, FromConvertLazy) when its
// values are asked for (Tensor.Values, WriteGGUF), and not kept, so that
// writing the result holds one tensor at a time. The repair of block l
// uses the Gram matrices of st when it holds them, else those of the
// statistics grams(l) returns (NewStatsFor with block l, filled), called
// when block l's attn_output or ffn_down is computed: each of those two
// Gram matrices is taken out of them and overwritten by the repair (its
// memory holds G_SS), so that grams must compute block l's again once
// Spent(l), and may return the same statistics before. The reports are
// complete once every tensor was computed.
func ApplyLazy(m *Model, st *Stats, p *Plan, opt Options, grams func(l int) (*Stats, error)) (*Model, []LayerReport, error) {
	return apply(m, st, p, opt, grams, true)
}

func apply(m *Model, st *Stats, p *Plan, opt Options, grams func(l int) (*Stats, error), lazy bool) (*Model, []LayerReport, error) {
	c := m.Config
	if opt.Repair && st == nil {
		return nil, nil, fmt.Errorf("%w: repair needs calibration statistics", ErrStats)
	}
	ridge := opt.Ridge
	if ridge <= 0 {
		ridge = 1e-3
	}
	out := &Model{Config: p.Config()}
	newIndex := map[int]int{}
	for i, lp := range p.Layers {
		newIndex[lp.Layer] = i
	}
	reps := make([]LayerReport, c.Layers)
	for l := range reps {
		reps[l] = LayerReport{Layer: l, NewLayer: -1, Heads: [2]int{0, c.Heads[l]}, KVHeads: [2]int{0, c.KVHeads[l]},
			FFN: [2]int{0, c.FFN[l]}, Params: [2]int64{0, c.LayerParams(l)}}
		if st != nil {
			reps[l].Influence = st.BlockInfluence(l)
		}
	}
	plans := map[int]*LayerPlan{}
	for i := range p.Layers {
		plans[p.Layers[i].Layer] = &p.Layers[i]
	}
	for _, t := range m.Tensors {
		l, rest, ok := splitBlk(t.Name)
		name := t.Name
		var lp *LayerPlan
		if ok {
			if lp = plans[l]; lp == nil {
				continue // removed block (or one the config does not have)
			}
			name = "blk." + strconv.Itoa(newIndex[l]) + "." + rest
		}
		shape, mk := pruneTensor(t, l, rest, lp, name, c.HeadDim, st, grams, opt.Repair, ridge, reps)
		if !lazy {
			nt, err := mk()
			if err != nil {
				return nil, nil, err
			}
			out.Tensors = append(out.Tensors, nt)
			continue
		}
		out.Tensors = append(out.Tensors, &Tensor{Name: name, Type: t.Type, Shape: shape,
			load: func() ([]float32, error) {
				nt, err := mk()
				if err != nil {
					return nil, err
				}
				return nt.Data, nil
			}})
	}
	for i, lp := range p.Layers {
		r := &reps[lp.Layer]
		r.NewLayer = i
		r.Heads[0], r.KVHeads[0], r.FFN[0] = len(lp.Heads), len(lp.KV), len(lp.FFN)
		r.Params[0] = out.Config.LayerParams(i)
	}
	if err := out.check(); err != nil {
		return nil, nil, err
	}
	return out, reps, nil
}

// pruneTensor returns the shape of the pruned tensor t (named name in the
// result; lp nil for a tensor outside the blocks) and the function that
// computes it, recording the repair's errors in reps.
func pruneTensor(t *Tensor, l int, rest string, lp *LayerPlan, name string, hd int, st *Stats,
	grams func(l int) (*Stats, error), repair bool, ridge float64, reps []LayerReport) ([]int64, func() (*Tensor, error)) {
	shape := append([]int64(nil), t.Shape...)
	values := func() (*Tensor, error) {
		data, err := t.Values()
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		return &Tensor{Name: t.Name, Type: t.Type, Shape: t.Shape, Data: data}, nil
	}
	// as is returns the values under the new name: read now for a lazy
	// source (not kept, so not copied), else a copy.
	asIs := func() (*Tensor, error) {
		src, err := values()
		if err != nil {
			return nil, err
		}
		if t.Data != nil {
			return clone(src, name), nil
		}
		return &Tensor{Name: name, Type: src.Type, Shape: append([]int64(nil), src.Shape...), Data: src.Data}, nil
	}
	if lp == nil {
		return shape, asIs
	}
	var rows []int
	switch rest {
	case "attn_q.weight", "attn_q.bias":
		rows = expand(lp.Heads, hd)
	case "attn_k.weight", "attn_k.bias", "attn_v.weight", "attn_v.bias":
		rows = expand(lp.KV, hd)
	case "ffn_gate.weight", "ffn_gate.bias", "ffn_up.weight", "ffn_up.bias":
		rows = lp.FFN
	case "attn_output.weight", "ffn_down.weight":
		keep, e := lp.FFN, &reps[l].FFNError
		if rest == "attn_output.weight" {
			keep, e = expand(lp.Heads, hd), &reps[l].AttnError
		}
		shape[0] = int64(len(keep))
		return shape, func() (*Tensor, error) {
			src, err := values()
			if err != nil {
				return nil, err
			}
			g, consume, err := gramOf(st, grams, l, rest)
			if err != nil {
				return nil, err
			}
			if g == nil {
				return keepCols(src, name, keep), nil
			}
			nt, e0, e1, err := project(g, src, keep, name, repair, ridge, consume)
			if err != nil {
				return nil, err
			}
			e[0], e[1] = e0, e1
			return nt, nil
		}
	default:
		return shape, asIs
	}
	if len(shape) == 1 {
		shape[0] = int64(len(rows))
	} else {
		shape[1] = int64(len(rows))
	}
	return shape, func() (*Tensor, error) {
		src, err := values()
		if err != nil {
			return nil, err
		}
		return keepRows(src, name, rows), nil
	}
}

// gramOf returns the Gram matrix of the input of block l's attn_output or
// ffn_down (rest): st's, else the one grams(l) gives, taken out of those
// statistics (consume: the caller may overwrite it), else nil.
func gramOf(st *Stats, grams func(l int) (*Stats, error), l int, rest string) (g *linalg.Gram, consume bool, err error) {
	if st != nil && st.HasGram(l) {
		return st.gram(l, rest), false, nil
	}
	if grams == nil {
		return nil, false, nil
	}
	s, err := grams(l)
	if err != nil {
		return nil, false, err
	}
	if s == nil {
		return nil, false, nil
	}
	if g = s.take(l, rest); g != nil {
		return g, true, nil
	}
	if l < len(s.spent) && s.spent[l] > 0 {
		return nil, false, fmt.Errorf("%w: the statistics of block %d for %s were used already", ErrStats, l, rest)
	}
	return nil, false, nil
}

// Refit repairs, in the pruned model pm that Apply built from m and p, the
// layers whose full Gram matrices st holds (see NewStatsFor), and records
// their output errors in reps (Apply's reports). It lets a caller bounded
// in memory collect and use the Gram matrices one group of layers at a
// time.
func Refit(pm, m *Model, st *Stats, p *Plan, opt Options, reps []LayerReport) error {
	ridge := opt.Ridge
	if ridge <= 0 {
		ridge = 1e-3
	}
	for i, lp := range p.Layers {
		l := lp.Layer
		if !st.HasGram(l) {
			continue
		}
		for _, part := range []struct {
			suffix string
			g      *linalg.Gram
			keep   []int
			e      *[2]float64
		}{
			{"attn_output.weight", st.attn[l], expand(lp.Heads, m.Config.HeadDim), &reps[l].AttnError},
			{"ffn_down.weight", st.ffn[l], lp.FFN, &reps[l].FFNError},
		} {
			src := m.Tensor(blk(l, part.suffix))
			name := blk(i, part.suffix)
			dst := pm.Tensor(name)
			if src == nil || dst == nil {
				return fmt.Errorf("%w: tensor %s missing", ErrModel, name)
			}
			nt, e0, e1, err := project(part.g, src, part.keep, name, opt.Repair, ridge, false)
			if err != nil {
				return err
			}
			if len(nt.Data) != len(dst.Data) {
				return fmt.Errorf("%w: %s does not match the plan", ErrModel, name)
			}
			copy(dst.Data, nt.Data)
			part.e[0], part.e[1] = e0, e1
		}
	}
	return nil
}

// expand turns unit indices into their rows: unit u covers u*n .. u*n+n-1.
func expand(units []int, n int) []int {
	rows := make([]int, 0, len(units)*n)
	for _, u := range units {
		for i := 0; i < n; i++ {
			rows = append(rows, u*n+i)
		}
	}
	return rows
}

func clone(t *Tensor, name string) *Tensor {
	return &Tensor{Name: name, Type: t.Type, Shape: append([]int64(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// keepRows returns the tensor made of the given rows of t (a 1-D tensor
// keeps the given elements).
func keepRows(t *Tensor, name string, rows []int) *Tensor {
	cols := t.Cols()
	if len(t.Shape) == 1 {
		cols = 1
	}
	data := make([]float32, 0, len(rows)*cols)
	for _, r := range rows {
		data = append(data, t.Data[r*cols:(r+1)*cols]...)
	}
	shape := append([]int64(nil), t.Shape...)
	if len(shape) == 1 {
		shape[0] = int64(len(rows))
	} else {
		shape[1] = int64(len(rows))
	}
	return &Tensor{Name: name, Type: t.Type, Shape: shape, Data: data}
}

// keepCols returns the tensor made of the given columns of every row of t.
func keepCols(t *Tensor, name string, cols []int) *Tensor {
	n, rows := t.Cols(), t.Rows()
	data := make([]float32, 0, rows*len(cols))
	for r := 0; r < rows; r++ {
		row := t.Data[r*n : (r+1)*n]
		for _, j := range cols {
			data = append(data, row[j])
		}
	}
	shape := append([]int64(nil), t.Shape...)
	shape[0] = int64(len(cols))
	return &Tensor{Name: name, Type: t.Type, Shape: shape, Data: data}
}

// projectRows is the number of output rows project handles at a time:
// its scratch is a few such blocks instead of whole float64 copies of the
// projection.
const projectRows = 256

// project returns the columns keep of the projection w and, with repair,
// their least-squares refit against the calibration inputs whose Gram
// matrix is g. It also returns the relative output error on those inputs
// without and with the refit:
//
//	||X_S V^T - X W^T||² / ||X W^T||²
//	  = Σ_r (v_r^T G_SS v_r - 2 v_r^T (G w_r)_S + w_r^T G w_r) / Σ_r w_r^T G w_r.
//
// The refit solves (G_SS + λI) V^T = (W G)_S^T, the normal equations of
// min ||X_S v_r - X w_r||² + λ||v_r||² for every output row r at once (one
// Cholesky factorisation, one multi-right-hand-side solve, done
// projectRows right-hand sides at a time), with λ = ridge times the mean
// of diag(G_SS). At the solution v_r^T G_SS v_r = v_r^T (G w_r)_S -
// λ||v_r||², which gives the repaired error. With consume, G_SS is
// compacted into g's own memory (g is garbage afterwards); else it is a
// copy. Beyond g (and G_SS) it holds (W G)_S (rows × kept float64) and
// blocks of projectRows rows.
func project(gm *linalg.Gram, w *Tensor, keep []int, name string, repair bool, ridge float64, consume bool) (*Tensor, float64, float64, error) {
	n, k, rows := w.Cols(), len(keep), w.Rows()
	g := gm.Full()
	var tr float64
	for _, i := range keep {
		tr += g[i*n+i]
	}
	repair = repair && k < n && tr > 0
	out := keepCols(w, name, keep)
	rhs, energy, cross := projectRHS(g, w, keep)
	gss := compact(g, n, keep, consume)
	quad0 := keptQuad(gss, w, keep)
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
		vh, vv := solveRows(gss, k, rhs, rows, out.Data)
		err1 = energy - vh - lambda*vv
	}
	if energy <= 0 {
		return out, 0, 0, nil
	}
	return out, math.Max(0, err0) / energy, math.Max(0, err1) / energy, nil
}

// projectRHS returns (W G)_S transposed (kept × rows, the right-hand
// sides of the refit), the energy Σ_r w_r^T G w_r and the cross term
// Σ_r (w_r)_S · (G w_r)_S, computing W G projectRows rows at a time.
func projectRHS(g []float64, w *Tensor, keep []int) (rhs []float64, energy, cross float64) {
	n, k, rows := w.Cols(), len(keep), w.Rows()
	rhs = make([]float64, k*rows)
	b := min(projectRows, rows)
	wf, gw := make([]float64, b*n), make([]float64, b*n)
	for r0 := 0; r0 < rows; r0 += b {
		m := min(b, rows-r0)
		for i, v := range w.Data[r0*n : (r0+m)*n] {
			wf[i] = float64(v)
		}
		linalg.Gemm(false, false, 1, linalg.NewMatrix(m, n, wf), linalg.NewMatrix(n, n, g), 0, linalg.NewMatrix(m, n, gw))
		for i, v := range wf[:m*n] {
			energy += v * gw[i]
		}
		for r := 0; r < m; r++ {
			src, gr := wf[r*n:(r+1)*n], gw[r*n:(r+1)*n]
			for ii, i := range keep {
				cross += src[i] * gr[i]
				rhs[ii*rows+r0+r] = gr[i]
			}
		}
	}
	return rhs, energy, cross
}

// compact returns G_SS (kept × kept, row-major): written over g's own
// memory when consume (keep ascending, so every value moves towards the
// start), else a copy.
func compact(g []float64, n int, keep []int, consume bool) []float64 {
	k := len(keep)
	gss := g[:k*k]
	if !consume {
		gss = make([]float64, k*k)
	}
	for ii, i := range keep {
		gi := g[i*n : (i+1)*n]
		row := gss[ii*k : (ii+1)*k]
		for jj, j := range keep {
			row[jj] = gi[j]
		}
	}
	return gss
}

// keptQuad returns Σ_r (w_r)_S^T G_SS (w_r)_S, projectRows rows at a time.
func keptQuad(gss []float64, w *Tensor, keep []int) float64 {
	n, k, rows := w.Cols(), len(keep), w.Rows()
	b := min(projectRows, rows)
	v0, tmp := make([]float64, b*k), make([]float64, b*k)
	var quad float64
	for r0 := 0; r0 < rows; r0 += b {
		m := min(b, rows-r0)
		for r := 0; r < m; r++ {
			src := w.Data[(r0+r)*n : (r0+r+1)*n]
			for ii, i := range keep {
				v0[r*k+ii] = float64(src[i])
			}
		}
		linalg.Gemm(false, false, 1, linalg.NewMatrix(m, k, v0), linalg.NewMatrix(k, k, gss), 0, linalg.NewMatrix(m, k, tmp))
		for i, v := range v0[:m*k] {
			quad += v * tmp[i]
		}
	}
	return quad
}

// solveRows solves U^T U V^T = rhs (k × rows) projectRows right-hand
// sides at a time, writes V (rows × k) to out as float32 and returns
// Σ v·rhs and Σ v².
func solveRows(u []float64, k int, rhs []float64, rows int, out []float32) (vh, vv float64) {
	b := min(projectRows, rows)
	x := make([]float64, k*b)
	for r0 := 0; r0 < rows; r0 += b {
		m := min(b, rows-r0)
		for ii := 0; ii < k; ii++ {
			copy(x[ii*m:(ii+1)*m], rhs[ii*rows+r0:ii*rows+r0+m])
		}
		linalg.SolveCholesky(u, k, x[:k*m], m)
		for r := 0; r < m; r++ {
			row := out[(r0+r)*k : (r0+r+1)*k]
			for ii := range row {
				v := x[ii*m+r]
				row[ii] = float32(v)
				vh += v * rhs[ii*rows+r0+r]
				vv += v * v
			}
		}
	}
	return vh, vv
}
