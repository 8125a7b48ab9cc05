package main

import (
	"fmt"
	"os"
)

// chunkProgress returns calib.Run's progress callback: "label: chunk i/n"
// as a progress line when stderr is a terminal, or nil when quiet.
func chunkProgress(label string, quiet bool) func(chunk, n int) {
	if quiet {
		return nil
	}
	return func(chunk, n int) {
		if isTerminal(os.Stderr) {
			fmt.Fprintf(os.Stderr, "\r\033[K%s: chunk %d/%d", label, chunk, n)
		}
	}
}

// blockProgress returns calib.LayerRunner's progress callback:
// "label: block l, chunk i/n" as a progress line when stderr is a
// terminal, or nil when quiet.
func blockProgress(label string, quiet bool) func(block, chunk, n int) {
	if quiet {
		return nil
	}
	return func(block, chunk, n int) {
		if isTerminal(os.Stderr) {
			fmt.Fprintf(os.Stderr, "\r\033[K%s: block %d, chunk %d/%d", label, block, chunk, n)
		}
	}
}
