package tokenizer

import (
	"unicode"
	"unicode/utf8"

	"github.com/shrink-llm/shrink/model"
)

// Character classes the pre-tokenizers look at. fValid is set for every
// character inside the span being split (llama.cpp's flags are non-zero for
// every code point and zero past the end).
const (
	fLetter uint8 = 1 << iota // \p{L}
	fNumber                   // \p{N}
	fSpace                    // \s (Unicode White_Space)
	fPunct                    // \p{P}
	fSymbol                   // \p{S}
	fMark                     // \p{M}
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
	case unicode.IsPunct(r):
		f |= fPunct
	case unicode.IsSymbol(r):
		f |= fSymbol
	case unicode.IsMark(r):
		f |= fMark
	}
	return f
}

func classify(r rune) uint8 {
	if r >= 0 && r < 128 {
		return asciiClass[r]
	}
	return classifySlow(r)
}

// A pass is one expression of a pre-tokenizer: it cuts the characters
// [lo, hi) of one word of the previous pass into words. As in llama.cpp's
// unicode_regex_split, text between two matches is a word too, and each
// expression applies to the words the previous one made.
type pass func(s *span, lo, hi int, c *cutter)

// preTokenizer cuts text into words before byte-level BPE.
type preTokenizer struct {
	passes []pass
}

// preFor returns the pre-tokenizer of a llama.cpp pre-tokenizer type, its
// expressions as llama.cpp's llm_tokenizer_bpe lists them.
func preFor(p model.PreType) preTokenizer {
	switch p {
	case model.PreLlama3, model.PreDBRX, model.PreSmaug, model.PreChatGLM4:
		return preTokenizer{[]pass{llama3Pass(3)}}
	case model.PreStableLM2, model.PreQwen2:
		return preTokenizer{[]pass{llama3Pass(1)}}
	case model.PreDeepseekLLM:
		return preTokenizer{[]pass{scan(matchCRLF), scan(matchDeepseekLetters), scan(matchDeepseekPunct),
			trailingSpace, scan(matchCJKHangul), scan(matchNumbers)}}
	case model.PreDeepseek3LLM:
		return preTokenizer{[]pass{scan(matchDigits3), scan(matchCJKKana), scan(matchDeepseek3)}}
	case model.PreDeepseekCoder:
		return preTokenizer{[]pass{scan(matchCRLF), scan(matchSpaceLetters), scan(matchSpacePunct),
			scan(matchCJKHangul), scan(matchDigit)}}
	case model.PreFalcon:
		return preTokenizer{[]pass{scan(matchPunctRun("$+<=>^~|`")), gpt2Pass, scan(matchThreeDigits)}}
	case model.PreStarcoder, model.PreRefact, model.PreCommandR, model.PreSmolLM,
		model.PreCodeShell, model.PreExaone, model.PreMinerva:
		return preTokenizer{[]pass{scan(matchDigit), gpt2Pass}}
	case model.PreGPT2, model.PreMPT, model.PreOlmo, model.PreJais:
		return preTokenizer{[]pass{gpt2Pass}}
	case model.PrePoro, model.PreBloom, model.PreGPT3Finnish:
		return preTokenizer{[]pass{scan(matchBloom)}}
	case model.PreViking:
		return preTokenizer{[]pass{scan(matchBloom), scan(matchDigit)}}
	case model.PreTekken:
		return preTokenizer{[]pass{scan(matchTekken)}}
	case model.PreChameleon:
		return preTokenizer{[]pass{scan(matchSentinel), scan(matchImageToken), scan(matchChameleonSpace),
			scan(matchDigit), scan(matchChameleonPunct), gpt2Pass}}
	}
	return preTokenizer{[]pass{scan(matchPunctRun("$+<=>^~|")), gpt2Pass, scan(matchNumbers), scan(matchThreeDigits)}}
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

// cutter collects the word ends of one pass.
type cutter struct {
	ends []int
	prev int
}

// cut ends a word at end (nothing when no character was added since the
// last cut).
func (c *cutter) cut(end int) {
	if end > c.prev {
		c.ends = append(c.ends, end)
		c.prev = end
	}
}

// split calls emit for each word of text, in order; the words concatenate
// to text.
func (p preTokenizer) split(text string, emit func(string)) {
	if text == "" {
		return
	}
	s := newSpan(text)
	ends := []int{len(s.cps)}
	var c cutter
	for _, ps := range p.passes {
		c = cutter{ends: make([]int, 0, len(ends)*2)}
		lo := 0
		for _, hi := range ends {
			ps(s, lo, hi, &c)
			c.cut(hi)
			lo = hi
		}
		ends = c.ends
	}
	lo := 0
	for _, hi := range ends {
		emit(text[s.offs[lo]:s.offs[hi]])
		lo = hi
	}
}

// flag reads character i of the range [lo, hi); outside it, it returns 0,
// as llama.cpp's empty flags past the end.
func (s *span) flag(i, lo, hi int) uint8 {
	if i >= lo && i < hi {
		return s.fl[i]
	}
	return 0
}

// at reads character i of [lo, hi), -1 outside it (OUT_OF_RANGE).
func (s *span) at(i, lo, hi int) rune {
	if i >= lo && i < hi {
		return s.cps[i]
	}
	return -1
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

// gpt2Pass splits with GPT-2's expression
// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S),
// as llama.cpp's unicode_regex_split_custom_gpt2 (which also takes
// whitespace the expression leaves).
func gpt2Pass(s *span, lo, hi int, c *cutter) {
	for pos := lo; pos < hi; {
		ch, f := s.cps[pos], s.fl[pos]
		if k := s.contraction(pos, hi, false); k > 0 {
			pos += k
			c.cut(pos)
			continue
		}
		f2 := f
		if ch == ' ' {
			f2 = s.flag(pos+1, lo, hi)
		}
		switch {
		case f2&fLetter != 0: // ' ?\p{L}+'
			if ch == ' ' {
				pos++
			}
			for s.flag(pos, lo, hi)&fLetter != 0 {
				pos++
			}
			c.cut(pos)
			continue
		case f2&fNumber != 0: // ' ?\p{N}+'
			if ch == ' ' {
				pos++
			}
			for s.flag(pos, lo, hi)&fNumber != 0 {
				pos++
			}
			c.cut(pos)
			continue
		case f2&fWordish == 0 && f2 != 0: // ' ?[^\s\p{L}\p{N}]+'
			if ch == ' ' {
				pos++
			}
			for f2&fWordish == 0 && f2 != 0 {
				pos++
				f2 = s.flag(pos, lo, hi)
			}
			c.cut(pos)
			continue
		}
		pos = s.spaces(pos, lo, hi, c)
	}
}

// spaces handles \s+(?!\S)|\s+ at pos and returns the new position; with
// no whitespace at pos it takes one character.
func (s *span) spaces(pos, lo, hi int, c *cutter) int {
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
	c.cut(pos)
	return pos
}

// llama3Pass splits with LLaMA 3's expression (numbers in runs of at most
// maxDigits; Qwen2's has single digits),
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+,
// as llama.cpp's unicode_regex_split_custom_llama3.
func llama3Pass(maxDigits int) pass {
	return func(s *span, lo, hi int, c *cutter) {
		for pos := lo; pos < hi; {
			pos = s.llama3Word(pos, lo, hi, maxDigits, c)
		}
	}
}

// llama3Word cuts the word that starts at pos and returns its end.
func (s *span) llama3Word(pos, lo, hi, maxDigits int, c *cutter) int {
	ch, f := s.cps[pos], s.fl[pos]
	if k := s.contraction(pos, hi, true); k > 0 {
		c.cut(pos + k)
		return pos + k
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if !(ch == '\r' || ch == '\n' || f&fNumber != 0) && (f&fLetter != 0 || s.flag(pos+1, lo, hi)&fLetter != 0) {
		pos++
		for s.flag(pos, lo, hi)&fLetter != 0 {
			pos++
		}
		c.cut(pos)
		return pos
	}
	// \p{N}{1,maxDigits}
	if f&fNumber != 0 {
		ini := pos
		for s.flag(pos, lo, hi)&fNumber != 0 {
			pos++
			if pos-ini >= maxDigits {
				c.cut(pos)
				ini = pos
			}
		}
		c.cut(pos)
		return pos
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	f2 := f
	if ch == ' ' {
		f2 = s.flag(pos+1, lo, hi)
	}
	if f2&fWordish == 0 && f != 0 {
		if ch == ' ' {
			pos++
		}
		for f2&fWordish == 0 && f2 != 0 {
			pos++
			f2 = s.flag(pos, lo, hi)
		}
		pos = s.runCRLF(pos, hi)
		c.cut(pos)
		return pos
	}
	if end := s.spaceNewlines(pos, hi); end > pos { // \s*[\r\n]+
		c.cut(end)
		return end
	}
	return s.spaces(pos, lo, hi, c)
}

// runCRLF returns the end of the run of \r and \n starting at pos.
func (s *span) runCRLF(pos, hi int) int {
	for pos < hi && (s.cps[pos] == '\r' || s.cps[pos] == '\n') {
		pos++
	}
	return pos
}

// spaceNewlines matches \s*[\r\n]+ at pos: the whitespace up to and
// including its last \r or \n. It returns pos when there is none.
func (s *span) spaceNewlines(pos, hi int) int {
	end := pos
	for i := pos; i < hi && s.fl[i]&fSpace != 0; i++ {
		if s.cps[i] == '\r' || s.cps[i] == '\n' {
			end = i + 1
		}
	}
	return end
}
