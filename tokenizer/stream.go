package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Decoder turns a stream of token ids into text as it is generated. Byte
// tokens can end in the middle of a UTF-8 character; Decoder holds such an
// incomplete tail back until the following tokens complete it. The
// concatenation of everything Next and Flush return equals Decode of all
// the ids.
type Decoder struct {
	t       *Tokenizer
	pending []byte
	strip   bool
}

// NewDecoder returns a streaming decoder starting a new sequence.
func (t *Tokenizer) NewDecoder() *Decoder {
	return &Decoder{t: t, strip: t.addSpacePrefix}
}

// After tells d that the tokens ids came before the ones it will be given
// and are already shown (a prompt), so that those read on from them: in
// particular a SentencePiece space prefix is kept on the first of them, as
// Decode of the whole sequence keeps it.
func (d *Decoder) After(ids []int32) {
	for _, id := range ids {
		if d.strip && id != d.t.bos {
			d.strip = false
		}
	}
}

// Next adds one token and returns the text that is now complete (possibly
// ""). Invalid UTF-8 is passed through, never held back for long.
func (d *Decoder) Next(id int32) string {
	p := d.t.Piece(id)
	if d.strip && id != d.t.bos {
		d.strip = false
		p = strings.TrimPrefix(p, " ")
	}
	d.pending = append(d.pending, p...)
	k := incompleteTail(d.pending)
	out := string(d.pending[:len(d.pending)-k])
	d.pending = append(d.pending[:0], d.pending[len(d.pending)-k:]...)
	return out
}

// Flush returns the text still held back (an incomplete UTF-8 tail) and
// empties the decoder's buffer.
func (d *Decoder) Flush() string {
	out := string(d.pending)
	d.pending = d.pending[:0]
	return out
}

// incompleteTail returns the length of the suffix of b that starts a UTF-8
// character it does not finish (0 to 3 bytes).
func incompleteTail(b []byte) int {
	for k := 1; k <= 3 && k <= len(b); k++ {
		c := b[len(b)-k]
		if c < 0x80 {
			return 0
		}
		if c >= 0xC0 { // lead byte
			if utf8Len(c) > k && !utf8.FullRune(b[len(b)-k:]) {
				return k
			}
			return 0
		}
	}
	return 0
}
