package tokenizer

import (
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shrink-llm/shrink/model"
)

// spmVocab builds a SentencePiece-style vocabulary: <unk>, <s>, </s>, the
// 256 byte tokens when withBytes, then the given pieces with their scores.
func spmVocab(withBytes bool, pieces ...any) *model.Vocab {
	v := &model.Vocab{Model: "llama", BOS: 1, EOS: 2, UNK: 0, PAD: -1, AddBOS: true, AddSpacePrefix: true}
	add := func(s string, score float32, typ int32) {
		v.Tokens = append(v.Tokens, s)
		v.Scores = append(v.Scores, score)
		v.Types = append(v.Types, typ)
	}
	add("<unk>", 0, model.TokenUnknown)
	add("<s>", 0, model.TokenControl)
	add("</s>", 0, model.TokenControl)
	if withBytes {
		for b := 0; b < 256; b++ {
			add(fmt.Sprintf("<0x%02X>", b), 0, model.TokenByte)
		}
	}
	for i := 0; i < len(pieces); i += 2 {
		add(pieces[i].(string), float32(pieces[i+1].(float64)), model.TokenNormal)
	}
	return v
}

func mustNew(t testing.TB, v *model.Vocab) *Tokenizer {
	t.Helper()
	tk, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// pieces renders ids as their vocabulary texts, for readable comparisons.
func pieces(tk *Tokenizer, ids []int32) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = tk.Token(id)
	}
	return out
}

func TestSPMMergeOrder(t *testing.T) {
	for _, c := range []struct {
		name   string
		vocab  []any
		text   string
		want   []string
		prefix bool
	}{
		{"higher score first", []any{"a", -5.0, "b", -5.0, "c", -5.0, "ab", -2.0, "bc", -1.0}, "abc", []string{"a", "bc"}, false},
		{"other order", []any{"a", -5.0, "b", -5.0, "c", -5.0, "ab", -1.0, "bc", -2.0}, "abc", []string{"ab", "c"}, false},
		{"tie: left first", []any{"a", -5.0, "b", -5.0, "c", -5.0, "ab", -1.0, "bc", -1.0}, "abc", []string{"ab", "c"}, false},
		{"tie on repeats", []any{"a", -5.0, "aa", -1.0}, "aaa", []string{"aa", "a"}, false},
		{"chain", []any{"a", -5.0, "b", -5.0, "c", -5.0, "ab", -2.0, "bc", -1.0, "abc", -3.0}, "abc", []string{"abc"}, false},
		{"token across words", []any{"a", -5.0, "b", -5.0, "▁", -5.0, "a▁", -1.0, "▁b", -2.0}, "a b", []string{"a▁", "b"}, false},
		{"word by word", []any{"a", -5.0, "b", -5.0, "▁", -5.0, "▁▁", -1.0, "▁b", -2.0}, "a  b", []string{"a", "▁▁", "b"}, false},
		{"space prefix", []any{"▁", -5.0, "a", -5.0, "▁a", -1.0, "b", -5.0}, "a b", []string{"▁a", "▁", "b"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := spmVocab(true, c.vocab...)
			v.AddSpacePrefix = c.prefix
			tk := mustNew(t, v)
			ids := tk.Encode(c.text, false)
			if got := pieces(tk, ids); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Encode(%q) = %q, want %q", c.text, got, c.want)
			}
			if got := tk.naiveEncode(c.text); !reflect.DeepEqual(got, ids) {
				t.Fatalf("naive %v, fast %v", got, ids)
			}
			if dec := tk.Decode(ids); dec != c.text {
				t.Fatalf("Decode = %q, want %q", dec, c.text)
			}
		})
	}
}

func TestSPMByteFallbackAndUnknown(t *testing.T) {
	tk := mustNew(t, spmVocab(true, "▁", -1.0, "h", -2.0, "i", -2.0, "▁h", -0.5))
	ids := tk.Encode("hé i", true)
	want := []string{"<s>", "▁h", "<0xC3>", "<0xA9>", "▁", "i"}
	if got := pieces(tk, ids); !reflect.DeepEqual(got, want) {
		t.Fatalf("Encode = %q, want %q", got, want)
	}
	if got := tk.Decode(ids); got != "hé i" {
		t.Fatalf("Decode = %q", got)
	}
	// Invalid UTF-8 survives through byte tokens.
	bad := "h\xff\xe2\x82i"
	if got := tk.Decode(tk.Encode(bad, false)); got != bad {
		t.Fatalf("Decode(Encode(%q)) = %q", bad, got)
	}

	// Without byte tokens an unknown character becomes one <unk>.
	tk = mustNew(t, spmVocab(false, "▁", -1.0, "h", -2.0, "i", -2.0))
	ids = tk.Encode("hé€i", false)
	want = []string{"▁", "h", "<unk>", "<unk>", "i"}
	if got := pieces(tk, ids); !reflect.DeepEqual(got, want) {
		t.Fatalf("Encode = %q, want %q", got, want)
	}
	if got := tk.Decode(ids); got != "h<unk><unk>i" {
		t.Fatalf("Decode = %q", got)
	}
}

func TestSPMSpecialTokens(t *testing.T) {
	v := spmVocab(true, "▁", -1.0, "a", -2.0, "▁a", -0.1, "<|u|>", 0.0)
	v.Types[len(v.Types)-1] = model.TokenUserDefined
	v.AddEOS = true
	tk := mustNew(t, v)
	// Control tokens in plain text are characters; user-defined ones are cut out.
	got := pieces(tk, tk.Encode("a<s>a<|u|>a", true))
	want := []string{"<s>", "▁a", "<0x3C>", "<0x73>", "<0x3E>", "a", "<|u|>", "▁a", "</s>"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Encode = %q, want %q", got, want)
	}
	got = pieces(tk, tk.EncodeSpecial("<s>a</s>", false))
	want = []string{"<s>", "▁a", "</s>"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("EncodeSpecial = %q, want %q", got, want)
	}
	if tk.BOS() != 1 || tk.EOS() != 2 || tk.VocabSize() != len(v.Tokens) {
		t.Fatalf("BOS %d EOS %d size %d", tk.BOS(), tk.EOS(), tk.VocabSize())
	}
	if got := tk.Encode("", true); !reflect.DeepEqual(got, []int32{1, 2}) {
		t.Fatalf("Encode(\"\", true) = %v", got)
	}
	if got := tk.Encode("", false); len(got) != 0 {
		t.Fatalf("Encode(\"\", false) = %v", got)
	}
	// Decode drops control tokens and the leading space after BOS.
	a := tk.ids["▁a"]
	if got := tk.Decode([]int32{1, a, a, 2, 99999, -5}); got != "a a" {
		t.Fatalf("Decode = %q", got)
	}
	if got := tk.Piece(a); got != " a" {
		t.Fatalf("Piece = %q", got)
	}
}

func TestSPMDefaultsFromOmittedKeys(t *testing.T) {
	v := spmVocab(true, "▁", -1.0)
	v.BOS, v.EOS, v.UNK = -1, -1, -1
	v.AddBOS, v.AddSpacePrefix = false, false
	v.Omit = model.KeyAddBOS | model.KeyAddEOS | model.KeyAddSpacePrefix
	tk := mustNew(t, v)
	if tk.BOS() != 1 || tk.EOS() != 2 || tk.unk != 0 || !tk.addBOS || !tk.addSpacePrefix || tk.addEOS {
		t.Fatalf("defaults: bos %d eos %d unk %d addBOS %v addSpace %v addEOS %v",
			tk.BOS(), tk.EOS(), tk.unk, tk.addBOS, tk.addSpacePrefix, tk.addEOS)
	}
}

// bpeVocab builds a byte-level vocabulary: the 256 mapped bytes (id = byte),
// then the results of merges in rank order, then <|endoftext|>.
func bpeVocab(pre string, merges ...string) *model.Vocab {
	v := &model.Vocab{Model: "gpt2", Pre: pre, BOS: -1, EOS: -1, UNK: -1, PAD: -1}
	seen := map[string]bool{}
	for b := 0; b < 256; b++ {
		v.Tokens = append(v.Tokens, byteMap[b])
		seen[byteMap[b]] = true
	}
	for _, m := range merges {
		s := strings.Replace(m, " ", "", 1)
		if !seen[s] {
			v.Tokens = append(v.Tokens, s)
			seen[s] = true
		}
	}
	v.Merges = merges
	v.Tokens = append(v.Tokens, "<|endoftext|>")
	v.Types = make([]int32, len(v.Tokens))
	for i := range v.Types {
		v.Types[i] = model.TokenNormal
	}
	v.Types[len(v.Types)-1] = model.TokenControl
	v.BOS, v.EOS = int32(len(v.Tokens)-1), int32(len(v.Tokens)-1)
	return v
}

func TestBPEMergeOrder(t *testing.T) {
	for _, c := range []struct {
		name   string
		merges []string
		text   string
		want   []string
	}{
		{"lowest rank first", []string{"b c", "a b"}, "abc", []string{"a", "bc"}},
		{"other order", []string{"a b", "b c"}, "abc", []string{"ab", "c"}},
		{"tie: left first", []string{"a a"}, "aaa", []string{"aa", "a"}},
		{"chain", []string{"h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o"}, "hello wo", []string{"hello", "Ġwo"}},
		{"no merge across words", []string{"o Ġ", "Ġ w"}, "o w", []string{"o", "Ġw"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tk := mustNew(t, bpeVocab("gpt-2", c.merges...))
			ids := tk.Encode(c.text, true)
			if got := pieces(tk, ids); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Encode(%q) = %q, want %q", c.text, got, c.want)
			}
			if got := tk.naiveEncode(c.text); !reflect.DeepEqual(got, ids) {
				t.Fatalf("naive %v, fast %v", got, ids)
			}
			if dec := tk.Decode(ids); dec != c.text {
				t.Fatalf("Decode = %q, want %q", dec, c.text)
			}
		})
	}
}

func TestBPEIgnoreMergesAndSpecial(t *testing.T) {
	// LLaMA 3 takes a word found whole in the vocabulary without merging.
	v := bpeVocab("llama-bpe", "a b", "b c")
	v.Tokens = append(v.Tokens, "abc")
	v.Types = append(v.Types, model.TokenNormal)
	v.AddBOS = true
	tk := mustNew(t, v)
	got := pieces(tk, tk.Encode("abc", true))
	if want := []string{"<|endoftext|>", "abc"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("llama-bpe Encode = %q, want %q", got, want)
	}
	v.Pre = "gpt-2"
	tk = mustNew(t, v)
	if got := pieces(tk, tk.Encode("abc", false)); !reflect.DeepEqual(got, []string{"ab", "c"}) {
		t.Fatalf("gpt-2 Encode = %q", got)
	}
	got = pieces(tk, tk.EncodeSpecial("a<|endoftext|>b", false))
	if want := []string{"a", "<|endoftext|>", "b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("EncodeSpecial = %q, want %q", got, want)
	}
	if got := tk.Decode(tk.EncodeSpecial("a<|endoftext|>b", false)); got != "ab" {
		t.Fatalf("Decode = %q", got)
	}
	if got := len(tk.Encode("a<|endoftext|>b", false)); got <= 3 {
		t.Fatalf("control token parsed without EncodeSpecial (%d ids)", got)
	}
}

// preNamed returns the pre-tokenizer of a tokenizer.ggml.pre name.
func preNamed(t testing.TB, name string) preTokenizer {
	t.Helper()
	r, err := (&model.Vocab{Model: "gpt2", Pre: name, Tokens: []string{"a"}, BOS: -1, EOS: -1, UNK: -1, PAD: -1}).Resolve()
	if err != nil {
		t.Fatal(err)
	}
	return preFor(r.Pre)
}

func TestPreTokenizers(t *testing.T) {
	const text = "Hello world's  3.14159!!\n\n  x I'M"
	for _, c := range []struct {
		pre  string
		want []string
	}{
		{"gpt-2", []string{"Hello", " world", "'s", " ", " 3", ".", "14159", "!!", "\n\n ", " x", " I", "'", "M"}},
		{"llama-bpe", []string{"Hello", " world", "'s", " ", " ", "3", ".", "141", "59", "!!\n\n", " ", " x", " I", "'M"}},
		{"qwen2", []string{"Hello", " world", "'s", " ", " ", "3", ".", "1", "4", "1", "5", "9", "!!\n\n", " ", " x", " I", "'M"}},
		{"starcoder", []string{"Hello", " world", "'s", "  ", "3", ".", "1", "4", "1", "5", "9", "!!", "\n\n ", " x", " I", "'", "M"}},
	} {
		p := preNamed(t, c.pre)
		var got []string
		p.split(text, func(w string) { got = append(got, w) })
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got  %q\n want %q", c.pre, got, c.want)
		}
	}
	// Trailing whitespace, tabs, Unicode letters, marks and numbers.
	p := preNamed(t, "gpt-2")
	var got []string
	p.split("\tnaïve ٣٤ x  ", func(w string) { got = append(got, w) })
	if want := []string{"\t", "naïve", " ٣٤", " x", "  "}; !reflect.DeepEqual(got, want) {
		t.Errorf("gpt-2: got %q want %q", got, want)
	}
	p = preNamed(t, "llama-bpe")
	got = nil
	p.split("a \r\n b\n", func(w string) { got = append(got, w) })
	if want := []string{"a", " \r\n", " b", "\n"}; !reflect.DeepEqual(got, want) {
		t.Errorf("llama-bpe: got %q want %q", got, want)
	}
}

func TestNewErrors(t *testing.T) {
	good := spmVocab(true, "▁", -1.0)
	for _, c := range []struct {
		name string
		edit func(v *model.Vocab)
		want error
	}{
		{"model", func(v *model.Vocab) { v.Model = "bert" }, ErrUnsupported},
		{"no tokens", func(v *model.Vocab) { v.Tokens, v.Scores, v.Types = nil, nil, nil }, ErrInvalidVocab},
		{"scores", func(v *model.Vocab) { v.Scores = v.Scores[:3] }, ErrInvalidVocab},
		{"types", func(v *model.Vocab) { v.Types = v.Types[:3] }, ErrInvalidVocab},
		{"bos", func(v *model.Vocab) { v.BOS = int32(len(v.Tokens)) }, ErrInvalidVocab},
		{"eos", func(v *model.Vocab) { v.EOS = -7 }, ErrInvalidVocab},
		{"merge", func(v *model.Vocab) { v.Model = "gpt2"; v.Merges = []string{"ab"} }, ErrInvalidVocab},
	} {
		v := *good
		v.Tokens = append([]string(nil), good.Tokens...)
		c.edit(&v)
		if _, err := New(&v); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := New(nil); !errors.Is(err, ErrInvalidVocab) {
		t.Errorf("nil: %v", err)
	}
}

func TestDecoderStreaming(t *testing.T) {
	tk := mustNew(t, spmVocab(true, "▁", -1.0, "h", -2.0, "▁h", -0.5))
	text := "h€😀 h\xff"
	ids := tk.Encode(text, true)
	d := tk.NewDecoder()
	var sb strings.Builder
	for _, id := range ids {
		s := d.Next(id)
		if !utf8.ValidString(s) && !strings.Contains(s, "\xff") {
			t.Fatalf("Next returned a broken character %q", s)
		}
		sb.WriteString(s)
	}
	sb.WriteString(d.Flush())
	if sb.String() != text || tk.Decode(ids) != text {
		t.Fatalf("streamed %q, Decode %q, want %q", sb.String(), tk.Decode(ids), text)
	}
	// After a prompt, the continuation keeps its space prefix: prompt text
	// plus streamed continuation equals Decode of the whole sequence.
	prompt, cont := tk.Encode("h h", true), tk.Encode("h", false) // cont: "▁h"
	d = tk.NewDecoder()
	d.After(prompt)
	got := tk.Decode(prompt)
	for _, id := range cont {
		got += d.Next(id)
	}
	if want := tk.Decode(append(append([]int32(nil), prompt...), cont...)); got+d.Flush() != want || want != "h h h" {
		t.Fatalf("prompt + continuation %q, Decode of both %q, want %q", got, want, "h h h")
	}
	// An incomplete character is held until Flush.
	d = tk.NewDecoder()
	if s := d.Next(tk.byteTok[0xE2]); s != "" {
		t.Fatalf("Next = %q, want nothing yet", s)
	}
	if s := d.Flush(); s != "\xe2" {
		t.Fatalf("Flush = %q", s)
	}
}

// TestFastMatchesNaive checks the priority-queue merge loops against the
// rescanning baseline on random text.
func TestFastMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	spm := mustNew(t, spmVocab(true, "▁", -1.0, "a", -3.0, "b", -3.0, "ab", -1.0, "ba", -1.0, "aa", -2.0, "▁a", -0.5, "aba", -1.5, "bab", -1.5, "abab", -2.5))
	bpe := mustNew(t, bpeVocab("gpt-2", "a b", "b a", "a a", "ab a", "b ab", "Ġ a", "ab ab", "Ġa b", "ba b"))
	alphabet := []string{"a", "b", " ", "é", "\n", "1"}
	for i := 0; i < 2000; i++ {
		var sb strings.Builder
		for n := rng.Intn(40); n > 0; n-- {
			sb.WriteString(alphabet[rng.Intn(len(alphabet))])
		}
		s := sb.String()
		for _, tk := range []*Tokenizer{spm, bpe} {
			fast, slow := tk.Encode(s, false), tk.naiveEncode(s)
			if !slices.Equal(fast, slow) && !(len(fast) == 0 && len(slow) == 0) {
				t.Fatalf("%q: fast %v, naive %v", s, fast, slow)
			}
			if dec := tk.Decode(fast); dec != s {
				t.Fatalf("Decode(Encode(%q)) = %q", s, dec)
			}
		}
	}
}
