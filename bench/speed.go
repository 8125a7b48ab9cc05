package bench

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/shrink-llm/shrink/engine"
)

// SpeedOptions configure MeasureSpeed.
type SpeedOptions struct {
	Prefill int // tokens in the prompt (default 128)
	Decode  int // tokens decoded one at a time after it (default 32)
	Repeats int // measured repetitions (default 3); one warm-up run precedes them
}

// MeasureSpeed times m on the reference runtime: the prefill of a prompt of
// Prefill tokens in one batch, then Decode single-token steps, Repeats times
// after a warm-up run. Token throughputs are medians over the repeats;
// decode latency percentiles are over every measured step. The tokens are a
// fixed pseudo-random sequence (speed does not depend on their values).
func MeasureSpeed(ctx context.Context, m *engine.Model, opt SpeedOptions) (*Speed, error) {
	if opt.Prefill <= 0 {
		opt.Prefill = 128
	}
	if opt.Decode <= 0 {
		opt.Decode = 32
	}
	if opt.Repeats <= 0 {
		opt.Repeats = 3
	}
	V := m.Config.VocabSize
	prompt := make([]int32, opt.Prefill)
	for i := range prompt {
		prompt[i] = int32((i*7919 + 13) % V)
	}
	s := m.NewSession(opt.Prefill + opt.Decode)
	var prefill, decode, steps []float64
	for rep := 0; rep <= opt.Repeats; rep++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.Reset()
		t0 := time.Now()
		logits, err := s.Forward(prompt)
		if err != nil {
			return nil, fmt.Errorf("bench: prefill: %w", err)
		}
		dp := time.Since(t0)
		tok := engine.Argmax(logits)
		t1 := time.Now()
		var st []float64
		for i := 0; i < opt.Decode; i++ {
			ts := time.Now()
			if logits, err = s.Forward([]int32{tok}); err != nil {
				return nil, fmt.Errorf("bench: decode: %w", err)
			}
			tok = engine.Argmax(logits)
			st = append(st, float64(time.Since(ts))/1e6)
		}
		dd := time.Since(t1)
		if rep == 0 {
			continue // warm-up
		}
		prefill = append(prefill, float64(opt.Prefill)/dp.Seconds())
		decode = append(decode, float64(opt.Decode)/dd.Seconds())
		steps = append(steps, st...)
	}
	sort.Float64s(prefill)
	sort.Float64s(decode)
	sort.Float64s(steps)
	return &Speed{
		PrefillTokensPerS: Percentile(prefill, 0.5),
		DecodeTokensPerS:  Percentile(decode, 0.5),
		DecodeMsP50:       Percentile(steps, 0.5),
		DecodeMsP95:       Percentile(steps, 0.95),
		PrefillTokens:     opt.Prefill,
		DecodeTokens:      opt.Decode,
		Repeats:           opt.Repeats,
	}, nil
}

// MemoryOf returns the process's memory use with model m loaded.
func MemoryOf(m *engine.Model) *Memory {
	res := m.Residence()
	kv, std := m.CacheBytesPerToken()
	return &Memory{PeakRSSBytes: PeakRSS(), Weights: res.Mode, HugePageShare: res.HugeShare,
		KVBytesPerToken: kv, KVStandardBytesPerToken: std}
}
