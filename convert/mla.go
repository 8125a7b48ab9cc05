package convert

import (
	"fmt"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/model"
)

// mlaShapes adds the attention tensors of a latent-attention block (prefix
// p) to want, in place of the llama q/k/v/o ones.
func mlaShapes(want map[string][]int64, c *model.Config, l int, p string) {
	for _, k := range []string{"attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight"} {
		delete(want, p+k)
	}
	for name, s := range c.MLAShapes(l) {
		want[p+name] = s
	}
}

// dropMTP reports whether the Hugging Face tensor called hf belongs to a
// layer past the model's blocks: DeepSeek-V3's multi-token-prediction
// layers (num_nextn_predict_layers), which llama.cpp's converter skips as
// its graph has no use for them.
func (m *Model) dropMTP(hf string) bool {
	if m.Config.MLA == nil {
		return false
	}
	l, ok := model.LayerOf(hf)
	if !ok || l < m.Config.Layers {
		return false
	}
	if m.mtpLayers == nil {
		m.mtpLayers = map[int]bool{}
	}
	if !m.mtpLayers[l] {
		m.mtpLayers[l] = true
		m.Notes = append(m.Notes, fmt.Sprintf("dropped layer %d: DeepSeek-V3 next-token-prediction (MTP) weights, which llama.cpp does not run", l))
	}
	return true
}

// SetMLALayout rewrites a latent-attention model's key/value
// up-projection into layout (model.LayoutKVB or model.LayoutSplit): one
// attn_kv_b matrix per layer (kv_lora_rank -> heads x [k_nope | v], rows
// per head) or the per-head attn_k_b (k_nope's rows transposed, ggml
// shape {nope, kv_lora_rank, heads}) and attn_v_b ({kv_lora_rank, v,
// heads}). The new tensors are computed from the old ones when read
// (float types keep their type, block types become F32). Models without
// latent attention are refused.
func (m *Model) SetMLALayout(layout string) error {
	a := m.Config.MLA
	if a == nil {
		return fmt.Errorf("%s: --mla-layout applies to latent-attention (deepseek2) models only", m.Path)
	}
	split := layout == model.LayoutSplit
	if !split && layout != model.LayoutKVB {
		return fmt.Errorf("mla layout %q: want %s or %s", layout, model.LayoutKVB, model.LayoutSplit)
	}
	if a.Split == split {
		return nil
	}
	old := m.Tensors
	m.Tensors, m.byName = nil, nil
	for _, t := range old {
		l, ok := model.LayerOf(t.Name)
		p := fmt.Sprintf("blk.%d.", l)
		switch {
		case ok && split && t.Name == p+"attn_kv_b.weight":
			kb, vb := m.splitKVB(t, l)
			m.add(kb)
			m.add(vb)
		case ok && !split && t.Name == p+"attn_k_b.weight":
			vb, found := findTensor(old, p+"attn_v_b.weight")
			if !found {
				return fmt.Errorf("%s: %s without %sattn_v_b.weight", m.Path, t.Name, p)
			}
			m.add(m.joinKVB(t, vb, l))
		case ok && !split && t.Name == p+"attn_v_b.weight":
		default:
			m.add(t)
		}
	}
	a.Split = split
	return m.check()
}

func findTensor(ts []Tensor, name string) (Tensor, bool) {
	for _, t := range ts {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// mlaDims returns layer l's heads, nope, value length and kv_lora_rank.
func (m *Model) mlaDims(l int) (h, nope, v, r int) {
	c := m.Config
	return c.Heads[l], c.Nope(), c.MLA.ValueLen, c.MLA.KVLoraRank
}

// derivedType is the type of a tensor computed from src: src's own when it
// is a float type, else F32.
func derivedType(src format.DType) format.DType {
	if isFloat(src) && src != format.F64 {
		return src
	}
	return format.F32
}

// splitKVB returns attn_k_b and attn_v_b computed from attn_kv_b t.
func (m *Model) splitKVB(t Tensor, l int) (Tensor, Tensor) {
	h, nope, v, r := m.mlaDims(l)
	typ := derivedType(t.Type)
	p := fmt.Sprintf("blk.%d.", l)
	kb := Tensor{Name: p + "attn_k_b.weight", Type: typ, Shape: []int64{int64(nope), int64(r), int64(h)}}
	vb := Tensor{Name: p + "attn_v_b.weight", Type: typ, Shape: []int64{int64(r), int64(v), int64(h)}}
	kb.SrcName, vb.SrcName = t.SrcName, t.SrcName
	kb.derive = func() ([]byte, error) {
		return m.rearrange(t, typ, h*nope*r, func(x, out []float32) {
			for hh := 0; hh < h; hh++ {
				for i := 0; i < nope; i++ {
					row := x[(hh*(nope+v)+i)*r:][:r]
					for j, w := range row {
						out[(hh*r+j)*nope+i] = w
					}
				}
			}
		})
	}
	vb.derive = func() ([]byte, error) {
		return m.rearrange(t, typ, h*v*r, func(x, out []float32) {
			for hh := 0; hh < h; hh++ {
				copy(out[hh*v*r:(hh+1)*v*r], x[(hh*(nope+v)+nope)*r:])
			}
		})
	}
	return kb, vb
}

// joinKVB returns attn_kv_b computed from attn_k_b kt and attn_v_b vt.
func (m *Model) joinKVB(kt, vt Tensor, l int) Tensor {
	h, nope, v, r := m.mlaDims(l)
	typ := derivedType(kt.Type)
	if derivedType(vt.Type) != typ {
		typ = format.F32
	}
	p := fmt.Sprintf("blk.%d.", l)
	t := Tensor{Name: p + "attn_kv_b.weight", SrcName: kt.SrcName, Type: typ, Shape: []int64{int64(r), int64(h * (nope + v))}}
	t.derive = func() ([]byte, error) {
		kx, err := m.ReadFloat32(kt)
		if err != nil {
			return nil, err
		}
		vx, err := m.ReadFloat32(vt)
		if err != nil {
			return nil, err
		}
		out := make([]float32, h*(nope+v)*r)
		for hh := 0; hh < h; hh++ {
			for i := 0; i < nope; i++ {
				row := out[(hh*(nope+v)+i)*r:][:r]
				for j := range row {
					row[j] = kx[(hh*r+j)*nope+i]
				}
			}
			copy(out[(hh*(nope+v)+nope)*r:][:v*r], vx[hh*v*r:])
		}
		return encodeFloats(typ, out)
	}
	return t
}

// rearrange reads src as float32, lets f fill n output values from it and
// encodes them in typ.
func (m *Model) rearrange(src Tensor, typ format.DType, n int, f func(x, out []float32)) ([]byte, error) {
	x, err := m.ReadFloat32(src)
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	f(x, out)
	return encodeFloats(typ, out)
}

func encodeFloats(typ format.DType, x []float32) ([]byte, error) {
	b := make([]byte, len(x)*typ.BlockBytes())
	if err := format.EncodeFloats(typ, x, b); err != nil {
		return nil, err
	}
	return b, nil
}
