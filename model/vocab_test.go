package model

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/internal/testutil"
)

func TestSentencePieceDevLlama(t *testing.T) {
	data, err := os.ReadFile(testutil.Shared(t, "models/dev-llama-3m/tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := VocabFromSentencePiece(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Tokens) != 2048 || len(v.Scores) != 2048 || len(v.Types) != 2048 {
		t.Fatalf("%d tokens, %d scores, %d types", len(v.Tokens), len(v.Scores), len(v.Types))
	}
	// Values read by an independent parse of the protobuf (a few lines of
	// Python walking the wire format), checked by hand.
	want := []struct {
		id    int
		piece string
		score float32
		typ   int32
	}{
		{0, "<unk>", 0, TokenUnknown}, {1, "<s>", 0, TokenControl}, {2, "</s>", 0, TokenControl},
		{3, "<0x00>", 0, TokenByte}, {13, "<0x0A>", 0, TokenByte}, {258, "<0xFF>", 0, TokenByte},
		{259, "▁t", 0, TokenNormal}, {260, "he", -1, TokenNormal}, {300, "▁{", -41, TokenNormal},
		{1000, "▁first", -741, TokenNormal}, {2047, "ÿ", -1788, TokenNormal},
	}
	for _, w := range want {
		if v.Tokens[w.id] != w.piece || v.Scores[w.id] != w.score || v.Types[w.id] != w.typ {
			t.Errorf("id %d = %q %g %d, want %q %g %d", w.id, v.Tokens[w.id], v.Scores[w.id], v.Types[w.id], w.piece, w.score, w.typ)
		}
	}
	for b := 0; b < 256; b++ {
		if id := 3 + b; v.Types[id] != TokenByte || !isBytePiece(v.Tokens[id]) {
			t.Errorf("id %d = %q type %d, want a byte piece", id, v.Tokens[id], v.Types[id])
		}
	}
	if v.UNK != 0 || v.BOS != 1 || v.EOS != 2 || v.PAD != -1 {
		t.Errorf("special ids unk %d bos %d eos %d pad %d", v.UNK, v.BOS, v.EOS, v.PAD)
	}
	// trainer_spec model_type BPE; normalizer_spec: no add_dummy_prefix
	// field (default true), remove_extra_whitespaces 0.
	if v.Model != "llama" || !v.AddBOS || v.AddEOS || !v.AddSpacePrefix || v.RemoveExtraWhitespace || v.SPModelType != 2 {
		t.Errorf("flags: %+v", v)
	}
	// Re-encoding and re-parsing gives the same vocabulary.
	enc, err := EncodeSentencePiece(v)
	if err != nil {
		t.Fatal(err)
	}
	w, err := VocabFromSentencePiece(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, w) {
		t.Error("re-encoded vocabulary differs")
	}
	// GGUF round trip.
	var md gguf.Metadata
	v.SetGGUF(&md)
	g, err := VocabFromGGUF(&md)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v.Tokens, g.Tokens) || !reflect.DeepEqual(v.Scores, g.Scores) || !reflect.DeepEqual(v.Types, g.Types) ||
		g.BOS != 1 || g.EOS != 2 || g.UNK != 0 || g.PAD != -1 || !g.AddBOS || !g.AddSpacePrefix || g.Omit != 0 || g.Pre != "default" {
		t.Errorf("GGUF round trip differs: %+v", g)
	}
}

// tinyVocab is a small SentencePiece vocabulary with every token type.
func tinyVocab() *Vocab {
	return &Vocab{
		Model: "llama", Pre: "default",
		Tokens: []string{"<unk>", "<s>", "</s>", "<0x0A>", "<0x20>", "▁a", "b", "▁ab", "<pad>", "<|user|>", "x\x00y"},
		Scores: []float32{0, 0, 0, 0, 0, -1, -2, -3, 0, 0, float32(math.Inf(-1))},
		Types:  []int32{2, 3, 3, 6, 6, 1, 1, 1, 5, 4, 1},
		BOS:    1, EOS: 2, UNK: 0, PAD: 8,
		AddBOS: true, AddSpacePrefix: false, RemoveExtraWhitespace: true,
		SPModelType: 2,
	}
}

// unknownFields appends fields of every wire type that the parser must skip.
func unknownFields(b []byte) []byte {
	b = appendVarintField(b, 99, 12345)
	b = binary.AppendUvarint(b, 98<<3|wireI64)
	b = binary.LittleEndian.AppendUint64(b, 7)
	b = binary.AppendUvarint(b, 97<<3|wireI32)
	b = binary.LittleEndian.AppendUint32(b, 7)
	b = appendBytesField(b, 96, []byte("skip me"))
	b = binary.AppendUvarint(b, 95<<3|wireSGroup)
	b = appendVarintField(b, 1, 1)
	b = binary.AppendUvarint(b, 94<<3|wireSGroup)
	b = binary.AppendUvarint(b, 94<<3|wireEGroup)
	b = binary.AppendUvarint(b, 95<<3|wireEGroup)
	return b
}

func seedFile(t *testing.T, name string, data []byte) {
	t.Helper()
	testutil.Golden(t, filepath.Join("testdata", name), data)
}

func TestSentencePieceSeedFiles(t *testing.T) {
	v := tinyVocab()
	enc, err := EncodeSentencePiece(v)
	if err != nil {
		t.Fatal(err)
	}
	seedFile(t, "tiny.model", enc)
	got, err := VocabFromSentencePiece(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Errorf("tiny round trip:\n got %+v\nwant %+v", got, v)
	}
	// The same with unknown fields at the top level and inside a piece,
	// trainer_spec and normalizer_spec.
	var b []byte
	b = unknownFields(b)
	piece := unknownFields(appendBytesField(nil, 1, []byte("<unk>")))
	piece = appendVarintField(piece, 3, TokenUnknown)
	b = appendBytesField(b, 1, piece)
	rest := enc[len(appendBytesField(nil, 1, appendVarintField(appendFloatField(appendBytesField(nil, 1, []byte("<unk>")), 2, 0), 3, TokenUnknown))):]
	b = append(b, rest...)
	b = appendBytesField(b, 2, unknownFields(appendVarintField(nil, 43, uint64(int64(8)))))
	b = appendBytesField(b, 3, unknownFields(appendVarintField(nil, 3, 0)))
	seedFile(t, "unknown-fields.model", b)
	got, err = VocabFromSentencePiece(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Errorf("with unknown fields:\n got %+v\nwant %+v", got, v)
	}
}

func appendFloatField(b []byte, num int, f float32) []byte {
	b = binary.AppendUvarint(b, uint64(num)<<3|wireI32)
	return binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
}

func TestSentencePieceDefaultsAndErrors(t *testing.T) {
	// Just two pieces, no specs: proto2 defaults.
	b := appendBytesField(nil, 1, appendBytesField(nil, 1, []byte("a")))
	b = appendBytesField(b, 1, appendBytesField(nil, 1, []byte("b")))
	v, err := VocabFromSentencePiece(b)
	if err != nil {
		t.Fatal(err)
	}
	if v.Types[0] != TokenNormal || v.Scores[1] != 0 || v.UNK != 0 || v.BOS != 1 || v.EOS != -1 || v.PAD != -1 ||
		!v.AddSpacePrefix || !v.RemoveExtraWhitespace || v.SPModelType != 1 {
		t.Errorf("defaults: %+v", v)
	}
	enc, _ := EncodeSentencePiece(tinyVocab())
	for name, bad := range map[string][]byte{
		"empty":           nil,
		"truncated":       enc[:len(enc)-3],
		"bad varint":      {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"huge length":     {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'},
		"wire type 7":     {0x0f, 0x00},
		"field 0":         {0x02, 0x00},
		"pieces varint":   {0x08, 0x01},
		"open group":      {0x0b, 0x08, 0x01},
		"stray end group": {0x0c},
		"score as varint": appendBytesField(nil, 1, appendVarintField(nil, 2, 1)),
	} {
		_, err := VocabFromSentencePiece(bad)
		var fe *format.FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v, want a FormatError", name, err)
		}
	}
	// Deeply nested groups are refused, not recursed without bound.
	var deep []byte
	for i := 0; i < 1000; i++ {
		deep = binary.AppendUvarint(deep, 5<<3|wireSGroup)
	}
	if _, err := VocabFromSentencePiece(deep); err == nil {
		t.Error("deep groups accepted")
	}
}

func FuzzSentencePiece(f *testing.F) {
	for _, name := range []string{"tiny.model", "unknown-fields.model"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := VocabFromSentencePiece(data)
		if err != nil {
			return
		}
		if len(v.Tokens) == 0 || len(v.Tokens) > len(data) || len(v.Scores) != len(v.Tokens) || len(v.Types) != len(v.Tokens) {
			t.Fatalf("%d tokens, %d scores, %d types from %d bytes", len(v.Tokens), len(v.Scores), len(v.Types), len(data))
		}
		if err := v.Validate(); err != nil {
			t.Fatal(err)
		}
		enc, err := EncodeSentencePiece(v)
		if err != nil {
			t.Fatal(err)
		}
		w, err := VocabFromSentencePiece(enc)
		if err != nil {
			t.Fatal(err)
		}
		if v.SPModelType == 0 {
			v.SPModelType = 2
		}
		sv, sw := v.Scores, w.Scores
		v.Scores, w.Scores = nil, nil
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("re-encoded vocabulary differs:\n%+v\n%+v", v, w)
		}
		for i := range sv {
			if math.Float32bits(sv[i]) != math.Float32bits(sw[i]) {
				t.Fatalf("score %d: %g != %g", i, sv[i], sw[i])
			}
		}
	})
}

func TestVocabFromLlama2c(t *testing.T) {
	pieces := []string{"<unk>", "\n<s>\n", "\n</s>\n", "<0x00>", "<0xFF>", " the", "a b", "x"}
	scores := []float32{0, 0, 0, 0, 0, -1.5, -2, -3}
	v := VocabFromLlama2c(pieces, scores)
	want := &Vocab{
		Model: "llama", Pre: "default",
		Tokens: []string{"<unk>", "<s>", "</s>", "<0x00>", "<0xFF>", "▁the", "a▁b", "x"},
		Scores: scores,
		Types:  []int32{TokenUnknown, TokenControl, TokenControl, TokenByte, TokenByte, TokenNormal, TokenNormal, TokenNormal},
		BOS:    1, EOS: 2, UNK: 0, PAD: -1, AddBOS: true, AddSpacePrefix: true,
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("got %+v\nwant %+v", v, want)
	}
	if err := v.Validate(); err != nil {
		t.Error(err)
	}
}

func TestVocabGGUFRoundTrip(t *testing.T) {
	v := tinyVocab()
	v.ChatTemplate = "{{ messages }}"
	v.Extra = []gguf.KV{{Key: "tokenizer.ggml.eot_token_id", Value: gguf.Uint32(9)}}
	var md gguf.Metadata
	v.SetGGUF(&md)
	for key, typ := range map[string]gguf.ValueType{
		"tokenizer.ggml.model": gguf.TypeString, "tokenizer.ggml.tokens": gguf.TypeArray,
		"tokenizer.ggml.scores": gguf.TypeArray, "tokenizer.ggml.token_type": gguf.TypeArray,
		"tokenizer.ggml.bos_token_id": gguf.TypeUint32, "tokenizer.ggml.padding_token_id": gguf.TypeUint32,
		"tokenizer.ggml.add_bos_token": gguf.TypeBool, "tokenizer.ggml.add_space_prefix": gguf.TypeBool,
		"tokenizer.chat_template": gguf.TypeString, "tokenizer.ggml.eot_token_id": gguf.TypeUint32,
	} {
		if val, ok := md.Get(key); !ok || val.Type != typ {
			t.Errorf("%s: %+v", key, val)
		}
	}
	if val, _ := md.Get("tokenizer.ggml.scores"); val.Elem != gguf.TypeFloat32 {
		t.Errorf("scores elem %v", val.Elem)
	}
	if val, _ := md.Get("tokenizer.ggml.token_type"); val.Elem != gguf.TypeInt32 {
		t.Errorf("token_type elem %v", val.Elem)
	}
	if _, ok := md.Get("tokenizer.ggml.merges"); ok {
		t.Error("merges written for a vocabulary without merges")
	}
	got, err := VocabFromGGUF(&md)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, v) && !equalExceptSPType(got, v) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, v)
	}
	// Missing or inconsistent keys.
	for _, mut := range []func(*gguf.Metadata){
		func(m *gguf.Metadata) { m.Delete("tokenizer.ggml.model") },
		func(m *gguf.Metadata) { m.Delete("tokenizer.ggml.tokens") },
		func(m *gguf.Metadata) { m.Set("tokenizer.ggml.scores", gguf.Float32s([]float32{1})) },
		func(m *gguf.Metadata) { m.Set("tokenizer.ggml.token_type", gguf.Strings([]string{"a"})) },
		func(m *gguf.Metadata) { m.Set("tokenizer.ggml.merges", gguf.Int32s([]int32{1})) },
	} {
		var m gguf.Metadata
		v.SetGGUF(&m)
		mut(&m)
		if _, err := VocabFromGGUF(&m); !errors.Is(err, ErrVocab) {
			t.Errorf("bad metadata accepted: %v", err)
		}
	}
}

// equalExceptSPType compares vocabularies ignoring SPModelType, which GGUF
// does not carry.
func equalExceptSPType(a, b *Vocab) bool {
	x, y := *a, *b
	x.SPModelType, y.SPModelType = 0, 0
	return reflect.DeepEqual(&x, &y)
}

func TestVocabGGUFFiles(t *testing.T) {
	for _, name := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"} {
		t.Run(name, func(t *testing.T) {
			f, err := gguf.Open(testutil.Shared(t, "tokenizer-vectors/"+name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			v, err := VocabFromGGUF(&f.Metadata)
			if err != nil {
				t.Fatal(err)
			}
			var md gguf.Metadata
			v.SetGGUF(&md)
			n := 0
			for _, kv := range f.Metadata.KVs() {
				if len(kv.Key) < 10 || kv.Key[:10] != "tokenizer." {
					continue
				}
				n++
				got, ok := md.Get(kv.Key)
				if !ok {
					t.Errorf("%s not re-written", kv.Key)
					continue
				}
				if !reflect.DeepEqual(got, kv.Value) {
					t.Errorf("%s: got %v %v, want %v %v", kv.Key, got.Type, got.Elem, kv.Value.Type, kv.Value.Elem)
				}
			}
			if md.Len() != n {
				t.Errorf("wrote %d keys, file has %d tokenizer keys", md.Len(), n)
			}
			switch name {
			case "ggml-vocab-llama-spm.gguf":
				if len(v.Tokens) != 32000 || v.Types[0] != TokenUnknown || v.Tokens[3] != "<0x00>" || v.BOS != 1 || v.PAD != -1 ||
					v.Omit != KeyAddSpacePrefix|KeyRemoveExtraWhitespace {
					t.Errorf("llama-spm: %d tokens, bos %d pad %d omit %b", len(v.Tokens), v.BOS, v.PAD, v.Omit)
				}
				// The file also carries LLaMA 7B's hyperparameters.
				c, err := ConfigFromGGUF(&f.Metadata)
				if err != nil {
					t.Fatal(err)
				}
				if c.Dim != 4096 || c.Layers != 32 || c.FFN[31] != 11008 || c.Heads[0] != 32 || c.KVHeads[0] != 32 ||
					c.HeadDim != 128 || c.VocabSize != 32000 || c.Context != 4096 || c.NormEps != 1e-5 || c.RopeBase != 10000 {
					t.Errorf("llama-spm config: %+v", c)
				}
				if p := c.Params(); p != 6738415616 { // LLaMA-2 7B
					t.Errorf("Params = %d, want 6738415616", p)
				}
			case "ggml-vocab-gpt-2.gguf":
				if len(v.Tokens) != 50257 || len(v.Merges) != 50000 || v.Merges[0] != "Ġ t" || v.Scores != nil ||
					v.BOS != 50256 || v.UNK != -1 || v.Pre != "gpt-2" {
					t.Errorf("gpt-2: %d tokens, %d merges, bos %d unk %d pre %q", len(v.Tokens), len(v.Merges), v.BOS, v.UNK, v.Pre)
				}
			}
		})
	}
}
