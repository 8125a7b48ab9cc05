package main

import (
	"fmt"
	"os"

	"github.com/shrink-llm/shrink/engine"
)

// calibChunks returns the number and the length of the calibration chunks
// of a text of nToks tokens: as many whole chunks of ctx tokens as it
// holds, at most maxChunks when maxChunks > 0, or one chunk of the whole
// text when it is shorter than ctx.
func calibChunks(nToks, ctx, maxChunks int) (n, length int) {
	n, length = nToks/ctx, ctx
	if n == 0 {
		n, length = 1, nToks
	}
	if maxChunks > 0 && n > maxChunks {
		n = maxChunks
	}
	return n, length
}

// runCalib runs s over the first n chunks of length tokens of toks, each
// from an empty cache and with its first token replaced by bos when
// bos >= 0 (as llama-imatrix does). Unless quiet, it writes
// "label: chunk i/n" as a progress line when stderr is a terminal.
func runCalib(s *engine.Session, toks []int32, n, length int, bos int32, label string, quiet bool) error {
	chunk := make([]int32, length)
	for i := 0; i < n; i++ {
		if !quiet && isTerminal(os.Stderr) {
			fmt.Fprintf(os.Stderr, "\r\033[K%s: chunk %d/%d", label, i+1, n)
		}
		copy(chunk, toks[i*length:(i+1)*length])
		if bos >= 0 {
			chunk[0] = bos
		}
		s.Reset()
		if _, err := s.Forward(chunk); err != nil {
			return fmt.Errorf("calibration chunk %d: %w", i, err)
		}
	}
	return nil
}
