package quantize

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"

	"github.com/shrink-llm/shrink/format"
)

// ErrSolve is wrapped by the errors of the type solver and of recipes.
var ErrSolve = errors.New("quantize: solve")

// SolveOption is one candidate type of a tensor: the bytes it takes and
// the KLD it is predicted to add to the model's output.
type SolveOption struct {
	Type  format.DType
	Bytes int64
	KLD   float64
}

// SolveItem is one tensor to give a type to, with its candidate types.
type SolveItem struct {
	Name    string
	Options []SolveOption
}

// Solve chooses one option per item minimising the sum of the predicted
// KLDs with the sum of the bytes at most budget: a multiple-choice
// knapsack, solved as its Lagrangian relaxation (each item walks up the
// lower convex hull of its (bytes, KLD) options, the steps of all items
// taken in order of KLD saved per byte while they fit), then the bytes
// left are spent on the single upgrades that save the most KLD per byte.
// It returns the index of the option chosen for each item. A budget below
// the cheapest choice, or an item without options, is an error.
func Solve(items []SolveItem, budget int64) ([]int, error) {
	pick := make([]int, len(items))
	var used int64
	for i, it := range items {
		if len(it.Options) == 0 {
			return nil, fmt.Errorf("%w: tensor %s has no candidate type", ErrSolve, it.Name)
		}
		pick[i] = cheapest(it.Options)
		used += it.Options[pick[i]].Bytes
	}
	if used > budget {
		return nil, fmt.Errorf("%w: the smallest types take %d bytes, over the budget of %d", ErrSolve, used, budget)
	}
	type step struct {
		item, to int
		slope    float64
	}
	var steps []step
	for i, it := range items {
		h := hull(it.Options)
		for k := 1; k < len(h); k++ {
			a, b := it.Options[h[k-1]], it.Options[h[k]]
			steps = append(steps, step{i, h[k], (a.KLD - b.KLD) / float64(b.Bytes-a.Bytes)})
		}
	}
	// Slopes decrease along each hull, so in this order an item's steps
	// come in hull order.
	sort.SliceStable(steps, func(a, b int) bool { return steps[a].slope > steps[b].slope })
	blocked := make([]bool, len(items))
	for _, s := range steps {
		if blocked[s.item] {
			continue
		}
		o := items[s.item].Options
		d := o[s.to].Bytes - o[pick[s.item]].Bytes
		if used+d > budget {
			blocked[s.item] = true // later steps of this item build on this one
			continue
		}
		used += d
		pick[s.item] = s.to
	}
	fill(items, pick, used, budget)
	return pick, nil
}

// fill spends the bytes left on the upgrades (any option of more bytes and
// less KLD) that save the most KLD per byte, one at a time.
func fill(items []SolveItem, pick []int, used, budget int64) {
	for {
		bi, bo, best := -1, -1, 0.0
		for i, it := range items {
			cur := it.Options[pick[i]]
			for j, o := range it.Options {
				d := o.Bytes - cur.Bytes
				if d <= 0 || used+d > budget || o.KLD >= cur.KLD {
					continue
				}
				if s := (cur.KLD - o.KLD) / float64(d); s > best {
					bi, bo, best = i, j, s
				}
			}
		}
		if bi < 0 {
			return
		}
		used += items[bi].Options[bo].Bytes - items[bi].Options[pick[bi]].Bytes
		pick[bi] = bo
	}
}

// cheapest returns the index of the option of fewest bytes (least KLD
// among equals).
func cheapest(o []SolveOption) int {
	b := 0
	for i, x := range o {
		if x.Bytes < o[b].Bytes || x.Bytes == o[b].Bytes && x.KLD < o[b].KLD {
			b = i
		}
	}
	return b
}

// hull returns the indices of the options on the lower convex hull of
// (bytes, KLD), by increasing bytes and decreasing KLD, starting at the
// cheapest option.
func hull(o []SolveOption) []int {
	idx := make([]int, len(o))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := o[idx[a]], o[idx[b]]
		return x.Bytes < y.Bytes || x.Bytes == y.Bytes && x.KLD < y.KLD
	})
	var h []int
	for _, i := range idx {
		if len(h) > 0 && (o[i].Bytes == o[h[len(h)-1]].Bytes || o[i].KLD >= o[h[len(h)-1]].KLD) {
			continue // same size and no better, or bigger and no better
		}
		for len(h) >= 2 {
			a, b := o[h[len(h)-2]], o[h[len(h)-1]]
			// b is above the segment a-i: drop it.
			if (b.KLD-a.KLD)*float64(o[i].Bytes-a.Bytes) >= (o[i].KLD-a.KLD)*float64(b.Bytes-a.Bytes) {
				h = h[:len(h)-1]
				continue
			}
			break
		}
		h = append(h, i)
	}
	return h
}

// Recipe is a solved type assignment: the type of every tensor the solver
// chose, with its bytes and predicted KLD, and the budget it met. It is
// stored as JSON in a GGUF (metadata key RecipeKey) and in recipe files.
type Recipe struct {
	// Budget is the file size aimed at, in bytes (0: not known).
	Budget int64 `json:"budget_bytes,omitempty"`
	// Sensitivity says how the KLDs were estimated, and Reference the
	// type hybrid measured exactly.
	Sensitivity string `json:"sensitivity,omitempty"`
	Reference   string `json:"reference,omitempty"`
	// PredictedKLD is the sum of the tensors' predicted KLDs.
	PredictedKLD float64 `json:"predicted_kld"`
	// Tensors are the chosen types, in the model's order.
	Tensors []RecipeTensor `json:"tensors"`
}

// RecipeTensor is one tensor's entry of a Recipe.
type RecipeTensor struct {
	Name   string  `json:"name"`
	Type   string  `json:"type"`
	Params int64   `json:"params"`
	Bytes  int64   `json:"bytes"`
	KLD    float64 `json:"kld"`
}

// RecipeKey is the GGUF metadata key holding a solved Recipe as JSON.
const RecipeKey = "shrink.recipe.tensors"

// JSON returns the recipe as indented JSON.
func (r *Recipe) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", " ") // plain data: cannot fail
	return append(b, '\n')
}

// ParseRecipe reads a recipe from its JSON, checking every type name.
func ParseRecipe(data []byte) (*Recipe, error) {
	var r Recipe
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: recipe: %v", ErrSolve, err)
	}
	if len(r.Tensors) == 0 {
		return nil, fmt.Errorf("%w: recipe has no tensors", ErrSolve)
	}
	for _, t := range r.Tensors {
		if t.Name == "" {
			return nil, fmt.Errorf("%w: recipe has a tensor without a name", ErrSolve)
		}
		if _, err := ParseWritableType(t.Type); err != nil {
			return nil, fmt.Errorf("%w: recipe tensor %s: %v", ErrSolve, t.Name, err)
		}
	}
	return &r, nil
}

// ReadRecipe reads a recipe file (ParseRecipe).
func ReadRecipe(path string) (*Recipe, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := ParseRecipe(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Overrides returns one policy override per tensor of the recipe, matching
// exactly its name, so that Policy.Choose gives it the recipe's type.
func (r *Recipe) Overrides() []Override {
	out := make([]Override, 0, len(r.Tensors))
	for _, t := range r.Tensors {
		typ, _ := ParseWritableType(t.Type) // checked by ParseRecipe
		re := regexp.MustCompile("^" + regexp.QuoteMeta(t.Name) + "$")
		out = append(out, Override{Pattern: re, Type: typ, Spec: t.Name + "=" + t.Type})
	}
	return out
}

// BytesForBPW returns the tensor bytes of params weights at bpw bits each.
func BytesForBPW(params int64, bpw float64) int64 {
	return int64(math.Floor(float64(params) * bpw / 8))
}

// Compact returns the recipe as one line of JSON (for GGUF metadata).
func (r *Recipe) Compact() string {
	b, _ := json.Marshal(r) // plain data: cannot fail
	return string(b)
}
