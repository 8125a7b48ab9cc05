package prune

import (
	"fmt"
	"math"
	"testing"

	"github.com/shrink-llm/shrink/model"
)

// TestChooseExperts scores hand-made routing: frequency, gate mass and
// REAP (mean gate weight x output norm over routed tokens) each rank the
// experts as computed by hand, the kept sets are the best ones, and the
// reported shares of routed mass and choices are exact.
func TestChooseExperts(t *testing.T) {
	c := &model.Config{Layers: 2, MoE: model.MoE{Experts: 4, ExpertsUsed: 1, DenseLead: 1}}
	s := NewExpertStats(c)
	// Layer 1, four tokens, one expert each: e0 twice (weights .5, .5),
	// e1 once (.9), e2 once (.2), e3 never.
	s.Routing(1, []int32{0, 1, 0, 2}, []float32{0.5, 0.9, 0.5, 0.2}, 4, 1)
	s.ExpertOutput(1, 0, []int{0, 2}, []float32{3, 4, 0, 2}, 2, 2) // norms 5, 2
	s.ExpertOutput(1, 1, []int{1}, []float32{1, 0}, 1, 2)          // norm 1
	s.ExpertOutput(1, 2, []int{3}, []float32{0, 10}, 1, 2)         // norm 10
	near := func(got, want []float64) bool {
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-6 {
				return false
			}
		}
		return len(got) == len(want)
	}
	if sc := s.Scores(1, ExpertFrequency); !near(sc, []float64{0.5, 0.25, 0.25, 0}) {
		t.Errorf("frequency %v", sc)
	}
	if sc := s.Scores(1, ExpertMass); !near(sc, []float64{0.25, 0.225, 0.05, 0}) {
		t.Errorf("mass %v", sc)
	}
	if sc := s.Scores(1, ExpertREAP); !near(sc, []float64{(2.5 + 1) / 2, 0.9, 2, 0}) {
		t.Errorf("REAP %v", sc)
	}
	if s.Scores(0, ExpertREAP) != nil {
		t.Error("dense layer has scores")
	}
	keep, rep, err := s.ChooseExperts(ExpertREAP, 2)
	if err != nil {
		t.Fatal(err)
	}
	if keep[0] != nil || fmt.Sprint(keep[1]) != "[0 2]" || len(rep) != 1 || fmt.Sprint(rep[0].Removed) != "[1 3]" {
		t.Fatalf("keep %v report %+v", keep, rep)
	}
	if math.Abs(rep[0].MassKept-1.2/2.1) > 1e-6 || rep[0].FreqKept != 0.75 {
		t.Errorf("mass kept %g, routes kept %g", rep[0].MassKept, rep[0].FreqKept)
	}
	if keep, _, _ := s.ChooseExperts(ExpertFrequency, 2); fmt.Sprint(keep[1]) != "[0 1]" {
		t.Errorf("frequency keeps %v, want [0 1] (tie to the lower index)", keep[1])
	}
	if _, _, err := s.ChooseExperts(ExpertREAP, 0); err == nil {
		t.Error("keeping fewer experts than each token uses was accepted")
	}
}
