package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// The expressions below have no hand-written splitter in llama.cpp; it runs
// them with std::regex, and so do these matchers, with its semantics:
//
//   - The leftmost match wins, alternatives are tried in order, greedy
//     repetition backs off as far as needed (ECMAScript, like Perl).
//   - An expression that uses \p{..} sees every non-ASCII character
//     collapsed to its class: whitespace, or one byte per category (L, N,
//     P, M, S, other). The ASCII members of \p{P} and \p{S} are spelled out
//     by llama.cpp, and its \p{S} lacks '~': here isS leaves '~' out too.
//   - An expression without \p{..} compares code points, except that
//     non-ASCII whitespace reads as \v: it matches \s and no listed range.
//   - \s is ASCII whitespace, plus non-ASCII Unicode White_Space as said.
//
// A matcher returns the end of the match that starts at pos, or pos when
// none does; it sees only the word [.., hi) being split.
type matcher func(s *span, pos, hi int) int

// scan turns a matcher into a pass: it tries every position from left to
// right and cuts before and after each match.
func scan(m matcher) pass {
	return func(s *span, lo, hi int, c *cutter) {
		for pos := lo; pos < hi; {
			if end := m(s, pos, hi); end > pos {
				c.cut(pos)
				c.cut(end)
				pos = end
			} else {
				pos++
			}
		}
	}
}

func (s *span) isL(i int) bool  { return s.fl[i]&fLetter != 0 }
func (s *span) isN(i int) bool  { return s.fl[i]&fNumber != 0 }
func (s *span) isWS(i int) bool { return s.fl[i]&fSpace != 0 }
func (s *span) isP(i int) bool  { return s.fl[i]&fPunct != 0 }
func (s *span) isM(i int) bool  { return s.fl[i]&fMark != 0 }

// isS is \p{S} as llama.cpp's collapsed expressions see it ('~' excluded).
func (s *span) isS(i int) bool { return s.fl[i]&fSymbol != 0 && s.cps[i] != '~' }

// wr is character i as an expression without \p{..} sees it.
func (s *span) wr(i int) rune {
	if r := s.cps[i]; r < utf8.RuneSelf || !s.isWS(i) {
		return r
	}
	return '\v'
}

// run returns the end of the run of characters from pos that satisfy in.
func (s *span) run(pos, hi int, in func(i int) bool) int {
	for pos < hi && in(pos) {
		pos++
	}
	return pos
}

// optSpaceRun matches \s?X+ (sp is the \s or ' ' test) at pos.
func (s *span) optSpaceRun(pos, hi int, sp, in func(i int) bool) int {
	if sp(pos) && pos+1 < hi && in(pos+1) {
		return s.run(pos+1, hi, in)
	}
	return s.run(pos, hi, in)
}

// runeRanges is a character class given as pairs of inclusive bounds.
type runeRanges []rune

// has tells whether r is in the class.
func (rr runeRanges) has(r rune) bool {
	for i := 0; i+1 < len(rr); i += 2 {
		if r >= rr[i] && r <= rr[i+1] {
			return true
		}
	}
	return false
}

// parseRanges reads a bracket expression's body of single characters and
// a-b ranges (no escapes).
func parseRanges(class string) runeRanges {
	rs := []rune(class)
	var rr runeRanges
	for i := 0; i < len(rs); i++ {
		if i+2 < len(rs) && rs[i+1] == '-' {
			rr = append(rr, rs[i], rs[i+2])
			i += 2
			continue
		}
		rr = append(rr, rs[i], rs[i])
	}
	return rr
}

// The code-point classes of the DeepSeek expressions.
var (
	// deepseekLetters is [A-Za-zµÀ-ÖØ-ö...] of DeepSeek LLM's second
	// expression. Characters that Unicode normalization would change are
	// escaped, so that no editor can alter them.
	deepseekLetters = parseRanges("A-Za-zµ\u00C0-\u00D6Ø-\u00F6ø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿ\u0386\u0388-\u038A\u038C\u038E-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚ\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFCℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃")
	// deepseekPunct is [!-/:-~！-／：-～‘-‟　-。] of its third.
	deepseekPunct = parseRanges("!-/:-~！-／：-～‘-‟　-。")
	// cjkHangul is [一-龥ࠀ-一가-퟿] (DeepSeek LLM and Coder).
	cjkHangul = parseRanges("一-龥ࠀ-一가-퟿")
	// cjkKana is [一-龥぀-ゟ゠-ヿ] (DeepSeek V3).
	cjkKana = parseRanges("一-龥぀-ゟ゠-ヿ")
	// bloomStop is the negated class [^(\s|.,!?…。，、।۔،)] less \s.
	bloomStop = parseRanges("(|.,!?…。，、।۔،)")
)

// inRanges returns the test "character i, read as by wr, is in rr".
func (s *span) inRanges(rr runeRanges) func(int) bool {
	return func(i int) bool { return rr.has(s.wr(i)) }
}

// matchCRLF matches [\r\n].
func matchCRLF(s *span, pos, hi int) int {
	if c := s.cps[pos]; c == '\r' || c == '\n' {
		return pos + 1
	}
	return pos
}

// matchDeepseekLetters matches \s?[A-Za-zµÀ-Ö...]+.
func matchDeepseekLetters(s *span, pos, hi int) int {
	return s.optSpaceRun(pos, hi, s.isWS, s.inRanges(deepseekLetters))
}

// matchDeepseekPunct matches \s?[!-/:-~！-／：-～‘-‟　-。]+.
func matchDeepseekPunct(s *span, pos, hi int) int {
	return s.optSpaceRun(pos, hi, s.isWS, s.inRanges(deepseekPunct))
}

// trailingSpace is the pass of \s+$: the whitespace that ends the word.
func trailingSpace(s *span, lo, hi int, c *cutter) {
	start := hi
	for start > lo && s.isWS(start-1) {
		start--
	}
	c.cut(start)
}

// matchCJKHangul matches [一-龥ࠀ-一가-퟿]+.
func matchCJKHangul(s *span, pos, hi int) int { return s.run(pos, hi, s.inRanges(cjkHangul)) }

// matchCJKKana matches [一-龥぀-ゟ゠-ヿ]+.
func matchCJKKana(s *span, pos, hi int) int { return s.run(pos, hi, s.inRanges(cjkKana)) }

// matchNumbers matches \p{N}+.
func matchNumbers(s *span, pos, hi int) int { return s.run(pos, hi, s.isN) }

// matchDigit matches \p{N}.
func matchDigit(s *span, pos, hi int) int {
	if s.isN(pos) {
		return pos + 1
	}
	return pos
}

// matchDigits3 matches \p{N}{1,3}.
func matchDigits3(s *span, pos, hi int) int {
	end := pos
	for end < hi && end-pos < 3 && s.isN(end) {
		end++
	}
	return end
}

// matchThreeDigits matches [0-9][0-9][0-9].
func matchThreeDigits(s *span, pos, hi int) int {
	if pos+3 > hi {
		return pos
	}
	for i := pos; i < pos+3; i++ {
		if s.cps[i] < '0' || s.cps[i] > '9' {
			return pos
		}
	}
	return pos + 3
}

// matchSpaceLetters matches \s?\p{L}+.
func matchSpaceLetters(s *span, pos, hi int) int { return s.optSpaceRun(pos, hi, s.isWS, s.isL) }

// matchSpacePunct matches \s?\p{P}+.
func matchSpacePunct(s *span, pos, hi int) int { return s.optSpaceRun(pos, hi, s.isWS, s.isP) }

// matchPunctRun returns the matcher of [\p{P}extra]+ (extra: ASCII).
func matchPunctRun(extra string) matcher {
	return func(s *span, pos, hi int) int {
		return s.run(pos, hi, func(i int) bool {
			return s.isP(i) || s.cps[i] < utf8.RuneSelf && strings.ContainsRune(extra, s.cps[i])
		})
	}
}

// matchBloom matches ' ?[^(\s|.,!?…。，、।۔،)]+' (BLOOM, Poro, Viking,
// GPT-3 Finnish).
func matchBloom(s *span, pos, hi int) int {
	in := func(i int) bool { return !s.isWS(i) && !bloomStop.has(s.wr(i)) }
	return s.optSpaceRun(pos, hi, func(i int) bool { return s.cps[i] == ' ' }, in)
}

// isASCIIPunct tells the ASCII punctuation and symbols
// [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~].
func isASCIIPunct(r rune) bool {
	return r >= '!' && r <= '/' || r >= ':' && r <= '@' || r >= '[' && r <= '`' || r >= '{' && r <= '~'
}

func isASCIILetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

// matchDeepseek3 matches DeepSeek V3's third expression,
// [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+.
func matchDeepseek3(s *span, pos, hi int) int {
	ascii := func(i int) bool { return isASCIILetter(s.cps[i]) }
	if isASCIIPunct(s.cps[pos]) && pos+1 < hi && ascii(pos+1) {
		return s.run(pos+1, hi, ascii)
	}
	lm := func(i int) bool { return s.isL(i) || s.isM(i) }
	c := s.cps[pos]
	if c != '\r' && c != '\n' && !s.isL(pos) && !s.isP(pos) && !s.isS(pos) && pos+1 < hi && lm(pos+1) {
		return s.run(pos+1, hi, lm)
	}
	if lm(pos) {
		return s.run(pos, hi, lm)
	}
	ps := func(i int) bool { return s.isP(i) || s.isS(i) }
	if end := s.optSpaceRun(pos, hi, func(i int) bool { return s.cps[i] == ' ' }, ps); end > pos {
		return s.runCRLF(end, hi)
	}
	return s.spaceTail(pos, hi)
}

// spaceTail matches \s*[\r\n]+|\s+(?!\S)|\s+ at pos.
func (s *span) spaceTail(pos, hi int) int {
	if end := s.spaceNewlines(pos, hi); end > pos {
		return end
	}
	end := s.run(pos, hi, s.isWS)
	if end-pos > 1 && end < hi { // \s+(?!\S) backs off one
		return end - 1
	}
	return end
}

// matchTekken matches Tekken's expression (Mistral NeMo),
// [^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+:
// a letter that is not a-z is "upper", one that is not A-Z "lower" (a
// non-ASCII letter is both).
func matchTekken(s *span, pos, hi int) int {
	upper := func(i int) bool { return s.isL(i) && !(s.cps[i] >= 'a' && s.cps[i] <= 'z') }
	lower := func(i int) bool { return s.isL(i) && !(s.cps[i] >= 'A' && s.cps[i] <= 'Z') }
	c := s.cps[pos]
	lead := c != '\r' && c != '\n' && !s.isL(pos) && !s.isN(pos) // [^\r\n\p{L}\p{N}]
	// upper* lower+, backing off the upper run until a lower follows.
	upperLower := func(p int) int {
		for k := s.run(p, hi, upper); k >= p; k-- {
			if k < hi && lower(k) {
				return s.run(k, hi, lower)
			}
		}
		return p
	}
	// upper+ lower*
	upperThenLower := func(p int) int {
		if q := s.run(p, hi, upper); q > p {
			return s.run(q, hi, lower)
		}
		return p
	}
	for _, alt := range []func(int) int{upperLower, upperThenLower} {
		if lead && pos+1 < hi {
			if end := alt(pos + 1); end > pos+1 {
				return end
			}
		}
		if end := alt(pos); end > pos {
			return end
		}
	}
	if s.isN(pos) {
		return pos + 1
	}
	notWord := func(i int) bool { return !s.isWS(i) && !s.isL(i) && !s.isN(i) }
	if end := s.optSpaceRun(pos, hi, func(i int) bool { return s.cps[i] == ' ' }, notWord); end > pos {
		return s.run(end, hi, func(i int) bool { return s.cps[i] == '\r' || s.cps[i] == '\n' || s.cps[i] == '/' })
	}
	return s.spaceTail(pos, hi)
}

// matchSentinel matches <sentinel:[0-9]+>.
func matchSentinel(s *span, pos, hi int) int {
	const pre = "<sentinel:"
	p := pos
	for _, r := range pre {
		if p >= hi || s.cps[p] != r {
			return pos
		}
		p++
	}
	d := s.run(p, hi, func(i int) bool { return s.cps[i] >= '0' && s.cps[i] <= '9' })
	if d == p || d >= hi || s.cps[d] != '>' {
		return pos
	}
	return d + 1
}

// matchImageToken matches (IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z.
func matchImageToken(s *span, pos, hi int) int {
	p := pos
	for _, r := range "IMGIMG" {
		if p >= hi || s.cps[p] != r {
			return pos
		}
		p++
	}
	q := p
	for q < hi && q-p < 4 && s.cps[q] >= 'A' && s.cps[q] <= 'I' {
		q++
	}
	if q == p || q >= hi || s.cps[q] != 'Z' {
		return pos
	}
	return q + 1
}

// matchChameleonSpace matches ([\t\n]|    |  ).
func matchChameleonSpace(s *span, pos, hi int) int {
	if c := s.cps[pos]; c == '\t' || c == '\n' {
		return pos + 1
	}
	n := s.run(pos, min(hi, pos+4), func(i int) bool { return s.cps[i] == ' ' }) - pos
	switch {
	case n == 4:
		return pos + 4
	case n >= 2:
		return pos + 2
	}
	return pos
}

// matchChameleonPunct matches [\p{P}!-/:-@\[-`{-~].
func matchChameleonPunct(s *span, pos, hi int) int {
	if s.isP(pos) || isASCIIPunct(s.cps[pos]) {
		return pos + 1
	}
	return pos
}
