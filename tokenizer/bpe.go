package tokenizer

import (
	"unicode/utf8"
)

// byteMap is GPT-2's bytes_to_unicode table: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100 onwards in byte order, so every
// byte string becomes printable text without spaces.
var byteMap [256]string

// byteUnmap inverts byteMap (rune -> byte + 1; 0 means not a mapped rune).
var byteUnmap = map[rune]byte{}

func init() {
	n := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF) {
			r = rune(256 + n)
			n++
		}
		byteMap[b] = string(r)
		byteUnmap[r] = byte(b)
	}
}

// unmapBytes turns byte-level token text back into the bytes it stands for.
// Characters outside the table are kept as they are.
func unmapBytes(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if b, ok := byteUnmap[r]; ok && !(r == utf8.RuneError && n == 1) {
			out = append(out, b)
		} else {
			out = append(out, s[i:i+n]...)
		}
		i += n
	}
	return string(out)
}

// bpeBigram is a candidate merge of adjacent symbols left and right with
// the merge's rank; ln and rn are the symbol lengths when queued, which
// tell a stale candidate from a live one.
type bpeBigram struct {
	left, right int32
	rank        int32
	ln, rn      int32
}

// before: lowest rank first, then leftmost.
func (a bpeBigram) before(b bpeBigram) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.left < b.left
}

// bpeState is the scratch space of one encodeBPE call.
type bpeState struct {
	t    *Tokenizer
	buf  []byte
	key  []byte
	syms []symbol
	q    queue[bpeBigram]
}

func (s *bpeState) add(l, r int32) {
	if l < 0 || r < 0 {
		return
	}
	a, b := &s.syms[l], &s.syms[r]
	s.key = append(s.key[:0], s.buf[a.start:a.start+a.n]...)
	s.key = append(s.key, ' ')
	s.key = append(s.key, s.buf[b.start:b.start+b.n]...)
	m, ok := s.t.ranks[string(s.key)]
	if !ok || m.leftLen != a.n {
		return
	}
	s.q.push(bpeBigram{left: l, right: r, rank: m.rank, ln: a.n, rn: b.n})
}

// word appends the tokens of one pre-tokenized word to out.
func (s *bpeState) word(w string, out []int32) []int32 {
	t := s.t
	s.buf = s.buf[:0]
	for i := 0; i < len(w); i++ {
		s.buf = append(s.buf, byteMap[w[i]]...)
	}
	if t.ignoreMerges {
		if id, ok := t.ids[string(s.buf)]; ok {
			return append(out, id)
		}
	}
	s.syms = splitChars(s.buf, s.syms[:0])
	s.q = s.q[:0]
	for i := 1; i < len(s.syms); i++ {
		s.add(int32(i-1), int32(i))
	}
	for len(s.q) > 0 {
		bg := s.q.pop()
		l, r := &s.syms[bg.left], &s.syms[bg.right]
		if l.n != bg.ln || r.n != bg.rn || r.n == 0 {
			continue // stale
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			s.syms[r.next].prev = bg.left
		}
		s.add(l.prev, bg.left)
		s.add(bg.left, l.next)
	}
	if len(s.syms) == 0 {
		return out
	}
	for i := int32(0); i != -1; i = s.syms[i].next {
		p := s.buf[s.syms[i].start : s.syms[i].start+s.syms[i].n]
		if id, ok := t.ids[string(p)]; ok {
			out = append(out, id)
			continue
		}
		// As llama.cpp: fall back to single-byte tokens of the mapped text.
		for j := range p {
			if id, ok := t.ids[string(p[j:j+1])]; ok {
				out = append(out, id)
			}
		}
	}
	return out
}

// encodeBPE appends the byte-level BPE tokens of text to out.
func (t *Tokenizer) encodeBPE(text string, out []int32) []int32 {
	s := bpeState{t: t}
	t.pre.split(text, func(w string) {
		out = s.word(w, out)
	})
	return out
}
