package distill

import (
	"fmt"

	"github.com/shrink-llm/shrink/engine"
)

// EngineTeacher is a Teacher running the inference engine: the teacher's
// weights stay in their stored type (F16, BF16, Q8_0, K-quants...) and
// its products run on the engine's kernels, so a quantized teacher costs
// less memory and time than a float32 distill.Model. It has no hidden
// states (the hidden-state loss needs ModelTeacher).
type EngineTeacher struct {
	m   *engine.Model
	s   *engine.Session
	buf []float32 // the logits returned, reused by the next call
}

// NewEngineTeacher returns a Teacher running m.
func NewEngineTeacher(m *engine.Model) *EngineTeacher {
	return &EngineTeacher{m: m}
}

// VocabSize returns the number of logits the teacher gives per token.
func (et *EngineTeacher) VocabSize() int { return et.m.Config.VocabSize }

// Teach implements Teacher: the logits after every token of a fresh
// sequence (T×VocabSize), in a buffer the next call reuses.
func (et *EngineTeacher) Teach(win int, tokens []int32, hidden bool) ([]float32, [][]float32, error) {
	if et.s == nil || et.s.Context() < len(tokens) {
		et.s = et.m.NewSession(max(len(tokens), et.m.Config.Context))
	}
	et.s.Reset()
	logits, err := et.s.ForwardAll(tokens)
	if err != nil {
		return nil, nil, fmt.Errorf("distill: teacher: %w", err)
	}
	et.buf = append(et.buf[:0], logits...)
	return et.buf, nil, nil
}
