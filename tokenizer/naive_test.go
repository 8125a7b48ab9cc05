package tokenizer

import (
	"strings"
)

// naiveEncode is the baseline the tests and benchmarks compare with: the
// same algorithms written as the plain O(n²) loop that rescans every
// adjacent pair after each merge. It handles plain text only (no special
// tokens).
func (t *Tokenizer) naiveEncode(text string) []int32 {
	var out []int32
	if text == "" {
		return out
	}
	if t.kind == kindSPM {
		return t.naiveSPM(string(escapeSPM(text, t.addSpacePrefix)), out)
	}
	t.pre.split(text, func(w string) {
		var sb strings.Builder
		for i := 0; i < len(w); i++ {
			sb.WriteString(byteMap[w[i]])
		}
		enc := sb.String()
		if t.ignoreMerges {
			if id, ok := t.ids[enc]; ok {
				out = append(out, id)
				return
			}
		}
		syms := chars(enc)
		for {
			best, bestRank := -1, int32(0)
			for i := 0; i+1 < len(syms); i++ {
				m, ok := t.ranks[syms[i]+" "+syms[i+1]]
				if ok && int(m.leftLen) == len(syms[i]) && (best < 0 || m.rank < bestRank) {
					best, bestRank = i, m.rank
				}
			}
			if best < 0 {
				break
			}
			syms[best] += syms[best+1]
			syms = append(syms[:best+1], syms[best+2:]...)
		}
		for _, s := range syms {
			if id, ok := t.ids[s]; ok {
				out = append(out, id)
				continue
			}
			for j := 0; j < len(s); j++ {
				if id, ok := t.ids[s[j:j+1]]; ok {
					out = append(out, id)
				}
			}
		}
	})
	return out
}

func (t *Tokenizer) naiveSPM(text string, out []int32) []int32 {
	syms := chars(text)
	for {
		best := -1
		var bestScore float32
		for i := 0; i+1 < len(syms); i++ {
			id, ok := t.ids[syms[i]+syms[i+1]]
			if ok && (best < 0 || t.scores[id] > bestScore) {
				best, bestScore = i, t.scores[id]
			}
		}
		if best < 0 {
			break
		}
		syms[best] += syms[best+1]
		syms = append(syms[:best+1], syms[best+2:]...)
	}
	for _, s := range syms {
		if id, ok := t.ids[s]; ok {
			out = append(out, id)
		} else {
			out = t.byteFallback([]byte(s), out)
		}
	}
	return out
}

// chars splits s into UTF-8 characters as splitChars does.
func chars(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		n := min(utf8Len(s[i]), len(s)-i)
		out = append(out, s[i:i+n])
		i += n
	}
	return out
}
