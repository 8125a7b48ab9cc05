package convert

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shrink-llm/shrink/model"
)

// expertTensors are the per-layer tensors with one slice per routed
// expert, along their last dimension.
var expertTensors = []string{"ffn_gate_exps.weight", "ffn_up_exps.weight", "ffn_down_exps.weight",
	"ffn_gate_inp.weight", "exp_probs_b.bias"}

// KeepExperts keeps, in every MoE layer l, only the routed experts
// keep[l] (increasing indices, the same number in every MoE layer, as
// GGUF's expert_count is one number, and no fewer than ExpertsUsed): the
// stacked expert tensors, the router's rows and the selection bias are
// narrowed to them, read from the source as they are written, and the
// configuration's expert count is updated. Layers without experts take
// nil.
func (m *Model) KeepExperts(keep [][]int) error {
	c := m.Config
	if c.Experts == 0 {
		return fmt.Errorf("%s: %w: the model has no experts", m.Path, model.ErrUnsupported)
	}
	if len(keep) != c.Layers {
		return fmt.Errorf("keep lists for %d layers, the model has %d", len(keep), c.Layers)
	}
	n := -1
	for l, k := range keep {
		if !c.MoELayer(l) {
			if k != nil {
				return fmt.Errorf("layer %d has no experts to keep", l)
			}
			continue
		}
		if n < 0 {
			n = len(k)
		}
		if len(k) != n {
			return fmt.Errorf("layer %d keeps %d experts, another layer %d: GGUF has one expert count", l, len(k), n)
		}
		if n < c.ExpertsUsed {
			return fmt.Errorf("layer %d would keep %d experts, fewer than the %d each token uses", l, n, c.ExpertsUsed)
		}
		if !increasing(k) || k[0] < 0 || k[n-1] >= c.Experts {
			return fmt.Errorf("layer %d: experts to keep %v must be increasing indices below %d", l, k, c.Experts)
		}
	}
	for i := range m.Tensors {
		t := &m.Tensors[i]
		l, ok := model.LayerOf(t.Name)
		if !ok || keep[l] == nil || !isExpertTensor(t.Name) {
			continue
		}
		if err := narrow(t, c.Experts, keep[l]); err != nil {
			return fmt.Errorf("%s: %w", m.Path, err)
		}
	}
	c.Experts = n
	return nil
}

func isExpertTensor(name string) bool {
	for _, s := range expertTensors {
		if strings.HasSuffix(name, "."+s) {
			return true
		}
	}
	return false
}

// narrow keeps the slices keep of t's last dimension (experts of them).
func narrow(t *Tensor, experts int, keep []int) error {
	last := len(t.Shape) - 1
	if t.Shape[last] != int64(experts) {
		return fmt.Errorf("tensor %s: shape %v has no dimension of %d experts last", t.Name, t.Shape, experts)
	}
	size := t.Info().Bytes()
	if size < 0 || size%int64(experts) != 0 {
		return fmt.Errorf("tensor %s: %s rows cannot be split per expert", t.Name, t.Type)
	}
	per := size / int64(experts)
	var spans [][2]int64
	if t.spans != nil {
		return fmt.Errorf("tensor %s: experts already narrowed", t.Name)
	}
	for _, e := range keep {
		spans = append(spans, [2]int64{int64(e) * per, per})
	}
	t.spans = spans
	t.Shape = append(slices.Clone(t.Shape[:last]), int64(len(keep)))
	return nil
}

// increasing reports whether k is strictly increasing.
func increasing(k []int) bool {
	for i := 1; i < len(k); i++ {
		if k[i] <= k[i-1] {
			return false
		}
	}
	return true
}
