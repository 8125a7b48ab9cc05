package engine

import (
	"errors"
	"fmt"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/kernel"
)

// ErrPatch reports a weight Model.Patch cannot replace.
var ErrPatch = errors.New("engine: cannot replace weight")

// Patch replaces the matrix weight t.Name (a block's products, a routed
// expert stack, token_embd.weight or output.weight) by t, of the same
// shape and any type with a matrix kernel, until the returned function
// restores the original. t.Data is used in place and never released by
// ReleaseBlock. The model's other weights, and a file mapping behind
// them, are untouched: a type solver measures one tensor's quantization
// this way on the source model as it is, without a copy of the model.
// Patch and restore must not run while a session of m runs; latent
// attention's attn_kv_b (and attn_k_b, attn_v_b) cannot be replaced.
func (m *Model) Patch(t Tensor) (restore func(), err error) {
	ws, views := m.weightsNamed(t.Name)
	if len(ws) == 0 {
		return nil, fmt.Errorf("%w %s: no such matrix", ErrPatch, t.Name)
	}
	old := *ws[0]
	if views > 0 {
		old.rows *= views
	}
	info := format.TensorInfo{Name: t.Name, Type: t.Type, Shape: t.Shape}
	switch {
	case !kernel.Supported(t.Type):
		return nil, fmt.Errorf("%w %s: type %s has no matrix kernel", ErrPatch, t.Name, t.Type)
	case info.NumElements() != int64(old.rows)*int64(old.cols) || len(t.Shape) == 0 || t.Shape[0] != int64(old.cols):
		return nil, fmt.Errorf("%w %s: shape %v for %d rows of %d", ErrPatch, t.Name, t.Shape, old.rows, old.cols)
	case info.Bytes() != int64(len(t.Data)):
		return nil, fmt.Errorf("%w %s: %d data bytes, expected %d", ErrPatch, t.Name, len(t.Data), info.Bytes())
	}
	rb, _ := t.Type.RowBytes(int64(old.cols))
	nw := weight{name: old.name, typ: t.Type, rows: old.rows, cols: old.cols, rowBytes: int(rb), data: t.Data, owned: true}
	saved := make([]weight, len(ws))
	for i, w := range ws {
		saved[i] = *w
	}
	if views > 0 {
		for i, v := range expertViews(nw, views) {
			*ws[i] = v
		}
	} else {
		for _, w := range ws {
			*w = nw
		}
	}
	return func() {
		for i, w := range ws {
			*w = saved[i]
		}
	}, nil
}

// weightsNamed returns the weights holding the matrix called name: one,
// two for tied embeddings (token_embd is also the output), or a routed
// expert stack's per-expert views (then views is their number).
func (m *Model) weightsNamed(name string) (ws []*weight, views int) {
	if m.tokEmbd.name == name {
		ws = append(ws, &m.tokEmbd)
		if m.Config.TiedEmbeddings {
			ws = append(ws, &m.output)
		}
		return ws, 0
	}
	if !m.Config.TiedEmbeddings && m.output.name == name {
		return []*weight{&m.output}, 0
	}
	for l := range m.layers {
		L := &m.layers[l]
		for _, w := range []*weight{&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down} {
			if w.name == name && w.data != nil {
				return []*weight{w}, 0
			}
		}
		if X := L.moe; X != nil {
			for _, w := range []*weight{&X.sGate, &X.sUp, &X.sDown} {
				if w.name == name && w.data != nil {
					return []*weight{w}, 0
				}
			}
			for i, s := range []*[]weight{&X.gate, &X.up, &X.down} {
				if X.names[i] == name {
					for e := range *s {
						ws = append(ws, &(*s)[e])
					}
					return ws, len(ws)
				}
			}
		}
		if X := L.mla; X != nil {
			for _, w := range []*weight{&X.qa, &X.qb, &X.q, &X.kva} {
				if w.name == name && w.data != nil {
					return []*weight{w}, 0
				}
			}
		}
	}
	return nil, 0
}
