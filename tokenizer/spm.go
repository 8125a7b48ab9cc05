package tokenizer

import "strings"

// symbol is one piece of the text being merged: bytes [start, start+n) of
// the working buffer, linked to its neighbours. n == 0 marks a symbol that
// was merged into its left neighbour.
type symbol struct {
	start, n   int32
	prev, next int32
}

// spmBigram is a candidate merge of symbols left and right (adjacent when
// queued) into a token with the given score; size is the merged length,
// which tells a stale candidate from a live one.
type spmBigram struct {
	left, right int32
	score       float32
	size        int32
}

// before: highest score first, then leftmost.
func (a spmBigram) before(b spmBigram) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.left < b.left
}

// utf8Len is the length of the UTF-8 sequence a byte starts, as llama.cpp's
// unicode_len_utf8 computes it (continuation bytes count as 1).
func utf8Len(b byte) int {
	return [16]int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4}[b>>4]
}

// splitChars cuts buf into one symbol per UTF-8 character.
func splitChars(buf []byte, syms []symbol) []symbol {
	for off := 0; off < len(buf); {
		n := min(utf8Len(buf[off]), len(buf)-off)
		i := int32(len(syms))
		syms = append(syms, symbol{start: int32(off), n: int32(n), prev: i - 1, next: i + 1})
		off += n
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}
	return syms
}

// escapeSPM returns text with spaces replaced by "▁", prefixed by "▁" when
// prefix is set.
func escapeSPM(text string, prefix bool) []byte {
	buf := make([]byte, 0, len(text)+len(text)/4+3)
	if prefix {
		buf = append(buf, "▁"...)
	}
	for i := 0; i < len(text); i++ {
		if text[i] == ' ' {
			buf = append(buf, "▁"...)
		} else {
			buf = append(buf, text[i])
		}
	}
	return buf
}

// encodeSPM appends the SentencePiece-style tokens of text to out.
//
// llama.cpp merges the whole text as one sequence. When no token holds a
// "▁" right after another character (t.cutBeforeSpace, true of LLaMA's
// vocabulary), no merge can cross the boundary before a word's "▁", so
// each word is merged on its own: the result is the same and the queue
// stays small.
func (t *Tokenizer) encodeSPM(text string, prefix bool, out []int32) []int32 {
	buf := escapeSPM(text, prefix)
	st := spmState{t: t}
	if !t.cutBeforeSpace {
		return st.merge(buf, out)
	}
	// Cut at character boundaries as splitChars finds them.
	const space = "▁"
	lo, prevSpace := 0, true
	for i := 0; i < len(buf); {
		n := min(utf8Len(buf[i]), len(buf)-i)
		isSpace := string(buf[i:i+n]) == space
		if isSpace && !prevSpace {
			out = st.merge(buf[lo:i], out)
			lo = i
		}
		prevSpace = isSpace
		i += n
	}
	return st.merge(buf[lo:], out)
}

// spmState is the scratch space of one encodeSPM call.
type spmState struct {
	t    *Tokenizer
	syms []symbol
	q    queue[spmBigram]
}

// merge appends the tokens of the escaped text buf to out.
func (st *spmState) merge(buf []byte, out []int32) []int32 {
	t := st.t
	syms := splitChars(buf, st.syms[:0])
	st.q = st.q[:0]
	try := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		a := syms[l].start
		b := syms[r].start + syms[r].n
		id, ok := t.ids[string(buf[a:b])]
		if !ok {
			return
		}
		st.q.push(spmBigram{left: l, right: r, score: t.scores[id], size: b - a})
	}
	for i := 1; i < len(syms); i++ {
		try(int32(i-1), int32(i))
	}
	for len(st.q) > 0 {
		bg := st.q.pop()
		l, r := &syms[bg.left], &syms[bg.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != bg.size {
			continue // stale
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = bg.left
		}
		try(l.prev, bg.left)
		try(bg.left, l.next)
	}
	st.syms = syms
	if len(syms) == 0 {
		return out
	}
	for i := int32(0); i != -1; i = syms[i].next {
		s := buf[syms[i].start : syms[i].start+syms[i].n]
		if id, ok := t.ids[string(s)]; ok {
			out = append(out, id)
			continue
		}
		out = t.byteFallback(s, out)
	}
	return out
}

// spaceInside reports whether some token holds "▁" right after a character
// other than "▁", so that a merge could cross the start of a word.
func spaceInside(tokens []string) bool {
	const space = "▁"
	for _, tok := range tokens {
		for i := 1; ; {
			j := strings.Index(tok[i:], space)
			if j < 0 {
				break
			}
			j += i
			if !strings.HasSuffix(tok[:j], space) {
				return true
			}
			i = j + 1
		}
	}
	return false
}

// byteFallback appends the byte tokens of a character that is not a token,
// or the unknown token once when the vocabulary lacks one of its byte
// tokens (llama.cpp aborts there; SentencePiece emits <unk>). Without an
// unknown token the character is dropped.
func (t *Tokenizer) byteFallback(s []byte, out []int32) []int32 {
	for _, c := range s {
		if t.byteTok[c] < 0 {
			if t.unk >= 0 {
				out = append(out, t.unk)
			}
			return out
		}
	}
	for _, c := range s {
		out = append(out, t.byteTok[c])
	}
	return out
}
