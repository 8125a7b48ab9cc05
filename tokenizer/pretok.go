package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Character classes the pre-tokenizers look at. fValid is set for every
// character inside the span being split (llama.cpp's flags are non-zero for
// every code point and zero past the end).
const (
	fLetter uint8 = 1 << iota // \p{L}
	fNumber                   // \p{N}
	fSpace                    // \s (Unicode White_Space)
	fValid
)

var asciiClass [128]uint8

func init() {
	for r := rune(0); r < 128; r++ {
		asciiClass[r] = classifySlow(r)
	}
}

func classifySlow(r rune) uint8 {
	f := fValid
	switch {
	case unicode.IsLetter(r):
		f |= fLetter
	case unicode.IsNumber(r):
		f |= fNumber
	case unicode.Is(unicode.White_Space, r):
		f |= fSpace
	}
	return f
}

func classify(r rune) uint8 {
	if r >= 0 && r < 128 {
		return asciiClass[r]
	}
	return classifySlow(r)
}

// preKind selects a pre-tokenizer.
type preKind uint8

const (
	preGPT2       preKind = iota // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
	preGPT2Digits                // \p{N} cut first, then preGPT2 (StarCoder, Refact, Command-R, SmolLM)
	preLlama3                    // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
	preQwen2                     // as preLlama3 with \p{N} (single digits)
)

// preTokenizer cuts text into words before byte-level BPE.
type preTokenizer struct {
	kind preKind
}

// preFor maps tokenizer.ggml.pre to a pre-tokenizer, and tells whether
// words found whole in the vocabulary skip merging (LLaMA 3). Unknown names
// get GPT-2's.
func preFor(name string) (preTokenizer, bool) {
	if isLlama3Pre(name) {
		return preTokenizer{preLlama3}, true
	}
	switch name {
	case "qwen2", "deepseek-r1-qwen", "megrez":
		return preTokenizer{preQwen2}, false
	case "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva":
		return preTokenizer{preGPT2Digits}, false
	}
	return preTokenizer{preGPT2}, false
}

// isLlama3Pre tells the pre-tokenizer names llama.cpp treats as LLaMA 3's.
func isLlama3Pre(name string) bool {
	switch name {
	case "llama3", "llama-v3", "llama-bpe", "falcon3":
		return true
	}
	return false
}

// span is the text being split, one entry per character. Invalid UTF-8
// bytes are single characters classed as U+FFFD.
type span struct {
	cps  []rune
	fl   []uint8
	offs []int // byte offset of each character, plus len(text)
}

func newSpan(text string) *span {
	s := &span{
		cps:  make([]rune, 0, len(text)),
		fl:   make([]uint8, 0, len(text)),
		offs: make([]int, 0, len(text)+1),
	}
	for i := 0; i < len(text); {
		r, n := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRuneInString(text[i:])
		}
		s.cps = append(s.cps, r)
		s.fl = append(s.fl, classify(r))
		s.offs = append(s.offs, i)
		i += n
	}
	s.offs = append(s.offs, len(text))
	return s
}

// split calls emit for each word of text, in order; the words concatenate
// to text.
func (p preTokenizer) split(text string, emit func(string)) {
	if text == "" {
		return
	}
	s := newSpan(text)
	prev := 0
	cut := func(end int) {
		if end > prev {
			emit(text[s.offs[prev]:s.offs[end]])
			prev = end
		}
	}
	n := len(s.cps)
	switch p.kind {
	case preGPT2:
		s.gpt2(0, n, cut)
	case preGPT2Digits:
		lo := 0
		for i := 0; i < n; i++ {
			if s.fl[i]&fNumber != 0 {
				s.gpt2(lo, i, cut)
				cut(i + 1)
				lo = i + 1
			}
		}
		s.gpt2(lo, n, cut)
	case preLlama3:
		s.llama3(0, n, 3, cut)
	case preQwen2:
		s.llama3(0, n, 1, cut)
	}
}

// at and flag read character i of the range [lo, hi); outside it they
// return -1 and 0, as llama.cpp's OUT_OF_RANGE and empty flags.
func (s *span) at(i, lo, hi int) rune {
	if i >= lo && i < hi {
		return s.cps[i]
	}
	return -1
}

func (s *span) flag(i, lo, hi int) uint8 {
	if i >= lo && i < hi {
		return s.fl[i]
	}
	return 0
}

// contraction matches 's|'t|'re|'ve|'m|'ll|'d at pos and returns its
// length in characters, or 0. fold lower-cases the letters first.
func (s *span) contraction(pos, hi int, fold bool) int {
	if s.cps[pos] != '\'' || pos+1 >= hi {
		return 0
	}
	lower := func(r rune) rune {
		if fold {
			return unicode.ToLower(r)
		}
		return r
	}
	c := lower(s.cps[pos+1])
	if c == 's' || c == 't' || c == 'm' || c == 'd' {
		return 2
	}
	if pos+2 < hi {
		c2 := lower(s.cps[pos+2])
		if c == 'r' && c2 == 'e' || c == 'v' && c2 == 'e' || c == 'l' && c2 == 'l' {
			return 3
		}
	}
	return 0
}

const (
	fWordish = fLetter | fNumber | fSpace
)

// gpt2 splits characters [lo, hi) with GPT-2's expression, as llama.cpp's
// unicode_regex_split_custom_gpt2.
func (s *span) gpt2(lo, hi int, cut func(int)) {
	for pos := lo; pos < hi; {
		c, f := s.cps[pos], s.fl[pos]
		if k := s.contraction(pos, hi, false); k > 0 {
			pos += k
			cut(pos)
			continue
		}
		f2 := f
		if c == ' ' {
			f2 = s.flag(pos+1, lo, hi)
		}
		switch {
		case f2&fLetter != 0: // ' ?\p{L}+'
			if c == ' ' {
				pos++
			}
			for s.flag(pos, lo, hi)&fLetter != 0 {
				pos++
			}
			cut(pos)
			continue
		case f2&fNumber != 0: // ' ?\p{N}+'
			if c == ' ' {
				pos++
			}
			for s.flag(pos, lo, hi)&fNumber != 0 {
				pos++
			}
			cut(pos)
			continue
		case f2&fWordish == 0 && f2 != 0: // ' ?[^\s\p{L}\p{N}]+'
			if c == ' ' {
				pos++
			}
			for f2&fWordish == 0 && f2 != 0 {
				pos++
				f2 = s.flag(pos, lo, hi)
			}
			cut(pos)
			continue
		}
		pos = s.spaces(pos, lo, hi, cut)
	}
}

// spaces handles \s+(?!\S)|\s+ at pos and returns the new position; with
// no whitespace at pos it takes one character.
func (s *span) spaces(pos, lo, hi int, cut func(int)) int {
	ns := 0
	for s.flag(pos+ns, lo, hi)&fSpace != 0 {
		ns++
	}
	switch {
	case ns > 1 && pos+ns < hi: // \s+(?!\S): leave the last one for the next word
		pos += ns - 1
	case ns > 0:
		pos += ns
	default:
		pos++
	}
	cut(pos)
	return pos
}

// llama3 splits characters [lo, hi) with LLaMA 3's expression (numbers in
// runs of at most maxDigits), as llama.cpp's
// unicode_regex_split_custom_llama3.
func (s *span) llama3(lo, hi, maxDigits int, cut func(int)) {
	for pos := lo; pos < hi; {
		c, f := s.cps[pos], s.fl[pos]
		if k := s.contraction(pos, hi, true); k > 0 {
			pos += k
			cut(pos)
			continue
		}
		// [^\r\n\p{L}\p{N}]?\p{L}+
		if !(c == '\r' || c == '\n' || f&fNumber != 0) {
			if f&fLetter != 0 || s.flag(pos+1, lo, hi)&fLetter != 0 {
				pos++
				for s.flag(pos, lo, hi)&fLetter != 0 {
					pos++
				}
				cut(pos)
				continue
			}
		}
		// \p{N}{1,maxDigits}
		if f&fNumber != 0 {
			ini := pos
			for s.flag(pos, lo, hi)&fNumber != 0 {
				pos++
				if pos-ini >= maxDigits {
					cut(pos)
					ini = pos
				}
			}
			cut(pos)
			continue
		}
		// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
		f2 := f
		if c == ' ' {
			f2 = s.flag(pos+1, lo, hi)
		}
		if f2&fWordish == 0 && f != 0 {
			if c == ' ' {
				pos++
			}
			for f2&fWordish == 0 && f2 != 0 {
				pos++
				f2 = s.flag(pos, lo, hi)
			}
			for c2 := s.at(pos, lo, hi); c2 == '\r' || c2 == '\n'; c2 = s.at(pos, lo, hi) {
				pos++
			}
			cut(pos)
			continue
		}
		// \s*[\r\n]+
		ns, lastRN := 0, 0
		for s.flag(pos+ns, lo, hi)&fSpace != 0 {
			if c2 := s.cps[pos+ns]; c2 == '\r' || c2 == '\n' {
				lastRN = pos + ns + 1
			}
			ns++
		}
		if lastRN > 0 {
			pos = lastRN
			cut(pos)
			continue
		}
		pos = s.spaces(pos, lo, hi, cut)
	}
}
