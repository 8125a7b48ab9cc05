package prune

import (
	"fmt"
	"math"
	"sort"

	"github.com/shrink-llm/shrink/model"
)

// ExpertScore names a way of ranking routed experts for removal.
type ExpertScore int

// Expert scores: how much the calibration text uses each expert.
const (
	// ExpertREAP is REAP's saliency (Lasby et al. 2025, arXiv
	// 2510.13999): the mean, over the tokens routed to the expert, of its
	// gate weight times the norm of its output.
	ExpertREAP ExpertScore = iota
	// ExpertFrequency is the share of tokens whose chosen experts
	// include it.
	ExpertFrequency
	// ExpertMass is its gate weight summed over all tokens, per token.
	ExpertMass
)

// ParseExpertScore parses "reap", "freq" or "mass".
func ParseExpertScore(s string) (ExpertScore, bool) {
	switch s {
	case "reap":
		return ExpertREAP, true
	case "freq", "frequency":
		return ExpertFrequency, true
	case "mass":
		return ExpertMass, true
	}
	return 0, false
}

// ExpertStats collects routing statistics of a model's MoE layers over
// calibration text. Set it as a Session's Observer (it implements
// engine.ExpertObserver and engine.ExpertOutputObserver).
type ExpertStats struct {
	cfg    *model.Config
	tokens []int64     // per layer: tokens routed
	freq   [][]float64 // per layer, per expert: tokens choosing it
	mass   [][]float64 // sum of its gate weights
	reap   [][]float64 // sum of gate weight x output norm
	last   [][]float32 // per layer: the weights of the last Routing call
}

// NewExpertStats returns empty statistics for configuration c.
func NewExpertStats(c *model.Config) *ExpertStats {
	s := &ExpertStats{cfg: c, tokens: make([]int64, c.Layers), last: make([][]float32, c.Layers)}
	for _, p := range []*[][]float64{&s.freq, &s.mass, &s.reap} {
		*p = make([][]float64, c.Layers)
		for l := range *p {
			if c.MoELayer(l) {
				(*p)[l] = make([]float64, c.Experts)
			}
		}
	}
	return s
}

// Linear is part of engine.Observer; expert statistics do not use it.
func (s *ExpertStats) Linear(string, []float32, int, int) {}

// Residual is part of engine.Observer; expert statistics do not use it.
func (s *ExpertStats) Residual(int, []float32, int, int) {}

// ExpertLinear is part of engine.ExpertObserver; not used.
func (s *ExpertStats) ExpertLinear(string, int, []float32, int, int) {}

// Routing counts each chosen expert and its gate weight.
func (s *ExpertStats) Routing(layer int, experts []int32, weights []float32, rows, k int) {
	if layer < 0 || layer >= len(s.freq) || s.freq[layer] == nil {
		return
	}
	s.tokens[layer] += int64(rows)
	for i, e := range experts[:rows*k] {
		s.freq[layer][e]++
		s.mass[layer][e] += float64(weights[i])
	}
	s.last[layer] = append(s.last[layer][:0], weights[:rows*k]...)
}

// ExpertOutput adds gate weight x output norm for each routed token.
func (s *ExpertStats) ExpertOutput(layer, expert int, slots []int, y []float32, rows, cols int) {
	if layer < 0 || layer >= len(s.reap) || s.reap[layer] == nil {
		return
	}
	w := s.last[layer]
	for i, sl := range slots[:rows] {
		var ss float64
		for _, v := range y[i*cols : (i+1)*cols] {
			ss += float64(v) * float64(v)
		}
		s.reap[layer][expert] += float64(w[sl]) * math.Sqrt(ss)
	}
}

// Scores returns layer l's score of every expert under method, nil for a
// dense layer.
func (s *ExpertStats) Scores(l int, method ExpertScore) []float64 {
	if s.freq[l] == nil {
		return nil
	}
	out := make([]float64, len(s.freq[l]))
	n := float64(max(s.tokens[l], 1))
	for e := range out {
		switch method {
		case ExpertFrequency:
			out[e] = s.freq[l][e] / n
		case ExpertMass:
			out[e] = s.mass[l][e] / n
		default:
			if s.freq[l][e] > 0 {
				out[e] = s.reap[l][e] / s.freq[l][e]
			}
		}
	}
	return out
}

// ExpertLayer reports one MoE layer's expert pruning.
type ExpertLayer struct {
	Layer   int       `json:"layer"`
	Kept    []int     `json:"kept"`
	Removed []int     `json:"removed"`
	Scores  []float64 `json:"scores"`
	// MassKept is the share of the calibration text's gate mass that
	// went to the kept experts; FreqKept the share of its routing
	// choices.
	MassKept float64 `json:"routed_mass_kept"`
	FreqKept float64 `json:"routing_kept"`
}

// ChooseExperts keeps, in every MoE layer, the keep experts of highest
// score (ties to the lower index), and returns the kept indices per layer
// (increasing; nil for dense layers) with a report per MoE layer. keep
// must be at least the experts each token uses.
func (s *ExpertStats) ChooseExperts(method ExpertScore, keep int) ([][]int, []ExpertLayer, error) {
	c := s.cfg
	if keep < c.ExpertsUsed || keep > c.Experts {
		return nil, nil, fmt.Errorf("prune: keeping %d of %d experts, but each token uses %d", keep, c.Experts, c.ExpertsUsed)
	}
	out := make([][]int, c.Layers)
	var rep []ExpertLayer
	for l := 0; l < c.Layers; l++ {
		sc := s.Scores(l, method)
		if sc == nil {
			continue
		}
		order := make([]int, len(sc))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return sc[order[a]] > sc[order[b]] })
		kept := append([]int(nil), order[:keep]...)
		removed := append([]int(nil), order[keep:]...)
		sort.Ints(kept)
		sort.Ints(removed)
		out[l] = kept
		r := ExpertLayer{Layer: l, Kept: kept, Removed: removed, Scores: sc}
		var mass, freq, massAll, freqAll float64
		for e := range sc {
			massAll += s.mass[l][e]
			freqAll += s.freq[l][e]
		}
		for _, e := range kept {
			mass += s.mass[l][e]
			freq += s.freq[l][e]
		}
		if massAll > 0 {
			r.MassKept, r.FreqKept = mass/massAll, freq/freqAll
		}
		rep = append(rep, r)
	}
	return out, rep, nil
}
