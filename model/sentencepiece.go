package model

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/shrink-llm/shrink/format"
)

// SentencePiece's tokenizer.model is a serialized sentencepiece.ModelProto
// (sentencepiece_model.proto, proto2) in protobuf wire format: a sequence of
// fields, each a varint key (field number << 3 | wire type) followed by a
// varint (type 0), 8 bytes (1), a varint length and that many bytes (2) or
// 4 bytes (5); types 3 and 4 open and close a deprecated group. The fields
// read here:
//
//	ModelProto:      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
//	SentencePiece:   1 piece string, 2 score float, 3 type enum (default NORMAL 1)
//	TrainerSpec:     3 model_type, 35 byte_fallback, 40 unk_id, 41 bos_id, 42 eos_id, 43 pad_id
//	NormalizerSpec:  3 add_dummy_prefix, 4 remove_extra_whitespaces
//
// Absent fields take the proto2 defaults (unk 0, bos 1, eos 2, pad -1,
// add_dummy_prefix and remove_extra_whitespaces true). Unknown fields are
// skipped.

const (
	wireVarint = 0
	wireI64    = 1
	wireLen    = 2
	wireSGroup = 3
	wireEGroup = 4
	wireI32    = 5
)

// maxGroupDepth bounds nesting of deprecated groups while skipping them.
const maxGroupDepth = 64

// pbField is one decoded protobuf field.
type pbField struct {
	num  uint64
	wire int
	u    uint64 // varint, fixed32 or fixed64 value
	b    []byte // length-delimited payload
	off  int    // offset of the field's key within the whole input
	poff int    // offset of a length-delimited payload within the whole input
}

// pbReader iterates over the fields of one message. base is the offset of
// b within the whole input, for error offsets.
type pbReader struct {
	b    []byte
	pos  int
	base int
}

func spErr(off int, msg string, args ...any) error {
	return &format.FormatError{Offset: int64(off), Msg: "sentencepiece: " + fmt.Sprintf(msg, args...)}
}

func (r *pbReader) varint() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.pos:])
	if n <= 0 {
		return 0, spErr(r.base+r.pos, "bad varint")
	}
	r.pos += n
	return v, nil
}

// next returns the next field, or ok false at the end of the message.
func (r *pbReader) next() (f pbField, ok bool, err error) {
	if r.pos >= len(r.b) {
		return f, false, nil
	}
	f.off = r.base + r.pos
	key, err := r.varint()
	if err != nil {
		return f, false, err
	}
	f.num, f.wire = key>>3, int(key&7)
	if f.num == 0 {
		return f, false, spErr(f.off, "field number 0")
	}
	if err := r.value(&f, 0); err != nil {
		return f, false, err
	}
	return f, true, nil
}

// value reads the value of f after its key, skipping groups.
func (r *pbReader) value(f *pbField, depth int) error {
	switch f.wire {
	case wireVarint:
		v, err := r.varint()
		f.u = v
		return err
	case wireI64:
		if len(r.b)-r.pos < 8 {
			return spErr(r.base+r.pos, "truncated fixed64")
		}
		f.u = binary.LittleEndian.Uint64(r.b[r.pos:])
		r.pos += 8
	case wireI32:
		if len(r.b)-r.pos < 4 {
			return spErr(r.base+r.pos, "truncated fixed32")
		}
		f.u = uint64(binary.LittleEndian.Uint32(r.b[r.pos:]))
		r.pos += 4
	case wireLen:
		at := r.base + r.pos
		n, err := r.varint()
		if err != nil {
			return err
		}
		if n > uint64(len(r.b)-r.pos) {
			return spErr(at, "length %d runs past the end (%d bytes left)", n, len(r.b)-r.pos)
		}
		f.b = r.b[r.pos : r.pos+int(n)]
		f.poff = r.base + r.pos
		r.pos += int(n)
	case wireSGroup:
		if depth >= maxGroupDepth {
			return spErr(f.off, "groups nested too deeply")
		}
		for {
			if r.pos >= len(r.b) {
				return spErr(f.off, "unterminated group %d", f.num)
			}
			at := r.base + r.pos
			key, err := r.varint()
			if err != nil {
				return err
			}
			g := pbField{num: key >> 3, wire: int(key & 7), off: at}
			if g.wire == wireEGroup {
				if g.num != f.num {
					return spErr(at, "group %d closed by end of group %d", f.num, g.num)
				}
				return nil
			}
			if err := r.value(&g, depth+1); err != nil {
				return err
			}
		}
	case wireEGroup:
		return spErr(f.off, "unexpected end of group %d", f.num)
	default:
		return spErr(f.off, "invalid wire type %d", f.wire)
	}
	return nil
}

// expect checks a known field's wire type.
func (f pbField) expect(wire int) error {
	if f.wire != wire {
		return spErr(f.off, "field %d has wire type %d, want %d", f.num, f.wire, wire)
	}
	return nil
}

// VocabFromSentencePiece parses a SentencePiece tokenizer.model. Every
// piece becomes a token with its score and type (ids are piece indexes);
// the special ids come from trainer_spec (ids outside the vocabulary become
// -1) and AddSpacePrefix/RemoveExtraWhitespace from normalizer_spec. The
// result has Model "llama", Pre "default" and AddBOS true, as llama.cpp's
// converter writes for SentencePiece models.
func VocabFromSentencePiece(data []byte) (*Vocab, error) {
	v := &Vocab{
		Model: "llama", Pre: "default",
		BOS: 1, EOS: 2, UNK: 0, PAD: -1,
		AddBOS: true, AddSpacePrefix: true, RemoveExtraWhitespace: true,
		SPModelType: 1,
	}
	r := pbReader{b: data}
	for {
		f, ok, err := r.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		switch f.num {
		case 1:
			if err := f.expect(wireLen); err != nil {
				return nil, err
			}
			if len(v.Tokens) >= maxVocab {
				return nil, spErr(f.off, "more than %d pieces", maxVocab)
			}
			piece, score, typ, err := parsePiece(f)
			if err != nil {
				return nil, err
			}
			v.Tokens = append(v.Tokens, piece)
			v.Scores = append(v.Scores, score)
			v.Types = append(v.Types, typ)
		case 2:
			if err := f.expect(wireLen); err != nil {
				return nil, err
			}
			if err := parseTrainerSpec(f, v); err != nil {
				return nil, err
			}
		case 3:
			if err := f.expect(wireLen); err != nil {
				return nil, err
			}
			if err := parseNormalizerSpec(f, v); err != nil {
				return nil, err
			}
		}
	}
	if len(v.Tokens) == 0 {
		return nil, spErr(0, "no pieces")
	}
	for _, id := range []*int32{&v.BOS, &v.EOS, &v.UNK, &v.PAD} {
		if *id < 0 || int(*id) >= len(v.Tokens) {
			*id = -1
		}
	}
	return v, nil
}

func parsePiece(f pbField) (piece string, score float32, typ int32, err error) {
	typ = TokenNormal
	r := pbReader{b: f.b, base: f.poff}
	for {
		g, ok, err := r.next()
		if err != nil {
			return "", 0, 0, err
		}
		if !ok {
			return piece, score, typ, nil
		}
		switch g.num {
		case 1:
			if err := g.expect(wireLen); err != nil {
				return "", 0, 0, err
			}
			piece = string(g.b)
		case 2:
			if err := g.expect(wireI32); err != nil {
				return "", 0, 0, err
			}
			score = math.Float32frombits(uint32(g.u))
		case 3:
			if err := g.expect(wireVarint); err != nil {
				return "", 0, 0, err
			}
			typ = int32(int64(g.u))
		}
	}
}

func int32Field(g pbField) (int32, error) {
	if err := g.expect(wireVarint); err != nil {
		return 0, err
	}
	return int32(int64(g.u)), nil
}

func parseTrainerSpec(f pbField, v *Vocab) error {
	r := pbReader{b: f.b, base: f.poff}
	for {
		g, ok, err := r.next()
		if err != nil || !ok {
			return err
		}
		var dst *int32
		switch g.num {
		case 3:
			dst = &v.SPModelType
		case 40:
			dst = &v.UNK
		case 41:
			dst = &v.BOS
		case 42:
			dst = &v.EOS
		case 43:
			dst = &v.PAD
		default:
			continue
		}
		if *dst, err = int32Field(g); err != nil {
			return err
		}
	}
}

func parseNormalizerSpec(f pbField, v *Vocab) error {
	r := pbReader{b: f.b, base: f.poff}
	for {
		g, ok, err := r.next()
		if err != nil || !ok {
			return err
		}
		switch g.num {
		case 3, 4:
			if err := g.expect(wireVarint); err != nil {
				return err
			}
			if g.num == 3 {
				v.AddSpacePrefix = g.u != 0
			} else {
				v.RemoveExtraWhitespace = g.u != 0
			}
		}
	}
}

// EncodeSentencePiece serializes a "llama" vocabulary as a SentencePiece
// tokenizer.model: pieces with scores and types, a trainer_spec with the
// model type (BPE when SPModelType is 0), vocab size, byte fallback (when
// the vocabulary has byte tokens) and special ids, and an identity
// normalizer_spec with add_dummy_prefix and remove_extra_whitespaces.
// VocabFromSentencePiece reads the result back to an equal vocabulary.
func EncodeSentencePiece(v *Vocab) ([]byte, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	if v.Model != "llama" {
		return nil, fmt.Errorf("%w: tokenizer model %q is not SentencePiece", ErrUnsupported, v.Model)
	}
	var out []byte
	byteFallback := false
	for i, tok := range v.Tokens {
		var p []byte
		p = appendBytesField(p, 1, []byte(tok))
		var score float32
		if v.Scores != nil {
			score = v.Scores[i]
		}
		p = binary.AppendUvarint(p, 2<<3|wireI32)
		p = binary.LittleEndian.AppendUint32(p, math.Float32bits(score))
		typ := int32(TokenNormal)
		if v.Types != nil {
			typ = v.Types[i]
		}
		if typ == TokenByte {
			byteFallback = true
		}
		if typ != TokenNormal {
			p = appendVarintField(p, 3, uint64(int64(typ)))
		}
		out = appendBytesField(out, 1, p)
	}
	mt := v.SPModelType
	if mt == 0 {
		mt = 2
	}
	var t []byte
	t = appendVarintField(t, 3, uint64(int64(mt)))
	t = appendVarintField(t, 4, uint64(len(v.Tokens)))
	if byteFallback {
		t = appendVarintField(t, 35, 1)
	}
	t = appendVarintField(t, 40, uint64(int64(v.UNK)))
	t = appendVarintField(t, 41, uint64(int64(v.BOS)))
	t = appendVarintField(t, 42, uint64(int64(v.EOS)))
	t = appendVarintField(t, 43, uint64(int64(v.PAD)))
	out = appendBytesField(out, 2, t)
	var n []byte
	n = appendBytesField(n, 1, []byte("identity"))
	n = appendVarintField(n, 3, b2u(v.AddSpacePrefix))
	n = appendVarintField(n, 4, b2u(v.RemoveExtraWhitespace))
	n = appendVarintField(n, 5, 1)
	out = appendBytesField(out, 3, n)
	return out, nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func appendVarintField(b []byte, num int, v uint64) []byte {
	b = binary.AppendUvarint(b, uint64(num)<<3|wireVarint)
	return binary.AppendUvarint(b, v)
}

func appendBytesField(b []byte, num int, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(num)<<3|wireLen)
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}
