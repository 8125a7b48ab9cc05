package llama2c

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/testutil"
)

func TestStories260K(t *testing.T) {
	path := testutil.Shared(t, "models/stories260K/stories260K.bin")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := Header{Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KVHeads: 4, VocabSize: 512, SeqLen: 512, SharedClassifier: true}
	if f.Header != want {
		t.Fatalf("header %+v, want %+v", f.Header, want)
	}
	if f.Header.KVDim() != 32 || f.Header.HeadSize() != 8 {
		t.Errorf("kv_dim %d head size %d", f.Header.KVDim(), f.Header.HeadSize())
	}
	tensors := f.Tensors()
	if len(tensors) != 1+5*9+1 {
		t.Fatalf("%d tensors", len(tensors))
	}
	var params int64
	for _, ti := range tensors {
		if ti.Type != format.F32 {
			t.Errorf("%s: type %v", ti.Name, ti.Type)
		}
		params += ti.NumElements()
	}
	if params != 260032 {
		t.Errorf("params %d, want 260032", params)
	}
	wantOrder := []string{"token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
		"blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_gate.weight",
		"blk.0.ffn_down.weight", "blk.0.ffn_up.weight", "blk.1.attn_norm.weight"}
	for i, n := range wantOrder {
		if tensors[i].Name != n {
			t.Errorf("tensor %d is %s, want %s", i, tensors[i].Name, n)
		}
	}
	if last := tensors[len(tensors)-1].Name; last != "output_norm.weight" {
		t.Errorf("last tensor %s", last)
	}
	shapes := map[string][]int64{
		"token_embd.weight": {64, 512}, "blk.2.attn_k.weight": {64, 32}, "blk.2.attn_q.weight": {64, 64},
		"blk.4.ffn_gate.weight": {64, 172}, "blk.4.ffn_down.weight": {172, 64}, "blk.0.ffn_up.weight": {64, 172},
		"output_norm.weight": {64}, "blk.1.ffn_norm.weight": {64},
	}
	for _, ti := range tensors {
		if s, ok := shapes[ti.Name]; ok && !slices.Equal(s, ti.Shape) {
			t.Errorf("%s shape %v, want %v", ti.Name, ti.Shape, s)
		}
	}
	if _, err := f.TensorData("output.weight"); !errors.Is(err, format.ErrNotFound) {
		t.Errorf("output.weight of a shared model: %v", err)
	}

	// Independent read of blk.3.ffn_down.weight (w2, layer 3) with
	// encoding/binary at the offset computed from the spec.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const D, H, L, V, KV = 64, 172, 5, 512, 32
	off := 28 + 4*(V*D+L*D+L*D*D+2*L*KV*D+L*D*D+L*D+L*H*D) + 4*3*D*H
	at := func(o int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(raw[o:])) }
	down := tensorFloats(t, f, "blk.3.ffn_down.weight")
	if len(down) != D*H {
		t.Fatalf("ffn_down has %d floats", len(down))
	}
	for _, i := range []int{0, 1, 1000, D*H - 1} {
		if down[i] != at(off+4*i) {
			t.Errorf("blk.3.ffn_down.weight[%d] = %v, file has %v", i, down[i], at(off+4*i))
		}
	}
	if down[0] == 0 && down[D*H-1] == 0 {
		t.Error("suspicious zero weights")
	}
	emb := tensorFloats(t, f, "token_embd.weight")
	if emb[0] != at(28) || emb[V*D-1] != at(28+4*(V*D-1)) {
		t.Error("token_embd mismatch")
	}
	norm := tensorFloats(t, f, "output_norm.weight")
	normOff := 28 + 4*(V*D+L*D+L*D*D+2*L*KV*D+L*D*D+L*D+3*L*H*D)
	if norm[63] != at(normOff+4*63) {
		t.Error("output_norm mismatch")
	}

	// The tokenizer beside it is tok512.bin.
	if f.Tokenizer == nil || filepath.Base(f.TokenizerPath) != "tok512.bin" || len(f.Tokenizer.Pieces) != 512 {
		t.Errorf("tokenizer %q not found beside the checkpoint", f.TokenizerPath)
	}

	// format.Open recognises it.
	src, err := format.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, ok := src.(*File); !ok {
		t.Errorf("format.Open gave %T", src)
	}
	if fm, err := format.Detect(path); err != nil || fm.Name != "llama2c" {
		t.Errorf("Detect: %v %v", fm.Name, err)
	}

	// Rewriting gives the same weights and a freq_cis close to the
	// exporter's.
	var buf bytes.Buffer
	if err := Write(&buf, f.Header, f); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != len(raw) {
		t.Fatalf("rewritten size %d, want %d", buf.Len(), len(raw))
	}
	out := buf.Bytes()
	freqOff := normOff + 4*D
	if !bytes.Equal(out[:freqOff], raw[:freqOff]) {
		t.Error("rewritten weights differ")
	}
	var maxDiff float64
	for o := freqOff; o < len(raw); o += 4 {
		d := math.Abs(float64(math.Float32frombits(binary.LittleEndian.Uint32(out[o:]))) - float64(at(o)))
		maxDiff = max(maxDiff, d)
	}
	t.Logf("freq_cis max difference %g", maxDiff)
	if maxDiff > 1e-6 {
		t.Errorf("freq_cis differs from the file's by %g", maxDiff)
	}
}

func TestTok512(t *testing.T) {
	path := testutil.Shared(t, "models/stories260K/tok512.bin")
	tk, err := OpenTokenizer(path, 512)
	if err != nil {
		t.Fatal(err)
	}
	if tk.MaxTokenLength != 7 || len(tk.Pieces) != 512 || len(tk.Scores) != 512 {
		t.Fatalf("max %d, %d pieces, %d scores", tk.MaxTokenLength, len(tk.Pieces), len(tk.Scores))
	}
	if tk.Pieces[0] != "<unk>" || tk.Pieces[1] != "\n<s>\n" || tk.Pieces[2] != "\n</s>\n" {
		t.Errorf("special pieces %q", tk.Pieces[:3])
	}
	for b := range 256 {
		want := "<0x" + strings.ToUpper(hex2(b)) + ">"
		if tk.Pieces[3+b] != want {
			t.Fatalf("piece %d is %q, want %q", 3+b, tk.Pieces[3+b], want)
		}
	}
	if tk.Pieces[259] != " t" || tk.Pieces[300] != " ha" || tk.Scores[300] != -41 || tk.Scores[511] != -252 || tk.Scores[1] != 0 {
		t.Errorf("pieces/scores: %q %q %v %v", tk.Pieces[259], tk.Pieces[300], tk.Scores[300], tk.Scores[511])
	}
	// Reading to the end gives the same, and a wrong count is an error.
	all, err := OpenTokenizer(path, 0)
	if err != nil || sameTokenizer(all, tk) != nil {
		t.Errorf("read to end: %v", err)
	}
	if _, err := OpenTokenizer(path, 511); !errors.Is(err, format.ErrFormat) {
		t.Errorf("vocab 511: %v", err)
	}
	if _, err := OpenTokenizer(path, 513); !errors.Is(err, format.ErrFormat) {
		t.Errorf("vocab 513: %v", err)
	}
	// Round trip is byte-exact.
	raw, _ := os.ReadFile(path)
	if !bytes.Equal(tokBytes(t, tk), raw) {
		t.Error("WriteTokenizer does not reproduce tok512.bin")
	}
}

func hex2(b int) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

func TestRoundTrip(t *testing.T) {
	for _, h := range []Header{tinyShared, tinyUnshared} {
		m := tinyModel(t, h)
		data := tinyBytes(t, h)
		want, _ := h.FileSize()
		if int64(len(data)) != want {
			t.Fatalf("wrote %d bytes, want %d", len(data), want)
		}
		f, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if f.Header != h {
			t.Errorf("header %+v, want %+v", f.Header, h)
		}
		if err := sameSource(m, f); err != nil {
			t.Error(err)
		}
		if got := binary.LittleEndian.Uint32(data[20:]); int32(got) != map[bool]int32{true: 16, false: -16}[h.SharedClassifier] {
			t.Errorf("vocab field %d", int32(got))
		}
		var again bytes.Buffer
		if err := Write(&again, f.Header, f); err != nil || !bytes.Equal(again.Bytes(), data) {
			t.Errorf("rewrite differs: %v", err)
		}
	}
	// Write rejects missing or misshapen tensors.
	m := tinyModel(t, tinyShared)
	unshared := tinyShared
	unshared.SharedClassifier = false
	if err := Write(io.Discard, unshared, m); !errors.Is(err, format.ErrNotFound) {
		t.Errorf("missing output.weight: %v", err)
	}
	m.infos[1].Shape = []int64{9}
	if err := Write(io.Discard, tinyShared, m); err == nil {
		t.Error("wrong shape accepted")
	}
	if err := Write(io.Discard, Header{Dim: 8}, m); err == nil {
		t.Error("invalid header accepted")
	}
}

func TestTokenizerRoundTrip(t *testing.T) {
	tk := tinyTokenizer()
	data := tokBytes(t, tk)
	got, err := ReadTokenizer(bytes.NewReader(data), int64(len(data)), 16)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameTokenizer(tk, got); err != nil {
		t.Error(err)
	}
	if err := WriteTokenizer(io.Discard, &Tokenizer{MaxTokenLength: 1, Pieces: []string{"ab"}, Scores: []float32{0}}); err == nil {
		t.Error("piece over max length written")
	}
	if err := WriteTokenizer(io.Discard, &Tokenizer{MaxTokenLength: 1, Pieces: []string{"a"}}); err == nil {
		t.Error("missing score written")
	}
}

func TestOpenFindsTokenizer(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.bin")
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("model.bin", tinyBytes(t, tinyShared))
	open := func() *File {
		f, err := Open(model)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		return f
	}
	if f := open(); f.Tokenizer != nil {
		t.Error("tokenizer found in an empty folder")
	}
	big := tinyTokenizer()
	big.Pieces = append(big.Pieces, "zz")
	big.Scores = append(big.Scores, -20)
	write("tokenizer.bin", tokBytes(t, big)) // 17 entries: does not match
	write("tok16.bin", tokBytes(t, tinyTokenizer()))
	if f := open(); f.Tokenizer == nil || filepath.Base(f.TokenizerPath) != "tok16.bin" {
		t.Errorf("got %q", f.TokenizerPath)
	}
	write("tok16b.bin", tokBytes(t, tinyTokenizer()))
	if f := open(); f.Tokenizer != nil {
		t.Errorf("ambiguous tok*.bin gave %q", f.TokenizerPath)
	}
	write("tokenizer.bin", tokBytes(t, tinyTokenizer()))
	if f := open(); f.Tokenizer == nil || filepath.Base(f.TokenizerPath) != "tokenizer.bin" {
		t.Errorf("got %q", f.TokenizerPath)
	}
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "m.bin")
	os.WriteFile(good, tinyBytes(t, tinyUnshared), 0o644)
	if fm, err := format.Detect(good); err != nil || fm.Name != "llama2c" {
		t.Errorf("Detect: %q %v", fm.Name, err)
	}
	bad := filepath.Join(dir, "bad.bin")
	os.WriteFile(bad, append(tinyBytes(t, tinyUnshared), 0), 0o644)
	if _, err := format.Detect(bad); err == nil {
		t.Error("off-by-one file detected as llama2c")
	}
	if _, err := Open(bad); !errors.Is(err, ErrSizeMismatch) || !strings.Contains(err.Error(), bad) {
		t.Errorf("Open: %v", err)
	}
}

func header(v ...int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func TestMalformed(t *testing.T) {
	good := tinyBytes(t, tinyShared)
	withHeader := func(h []byte) []byte { return append(h, good[28:]...) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"truncated header", good[:20], "truncated"},
		{"size minus one", good[:len(good)-1], "found"},
		{"size plus one", append(append([]byte(nil), good...), 0), "found"},
		{"negative dim", withHeader(header(-8, 12, 2, 2, 1, 16, 4)), "dim"},
		{"negative layers", withHeader(header(8, 12, -2, 2, 1, 16, 4)), "n_layers"},
		{"zero seq_len", withHeader(header(8, 12, 2, 2, 1, 16, 0)), "seq_len"},
		{"zero vocab", withHeader(header(8, 12, 2, 2, 1, 0, 4)), "vocab_size"},
		{"min int vocab", withHeader(header(8, 12, 2, 2, 1, math.MinInt32, 4)), "vocab_size"},
		{"kv heads not dividing", withHeader(header(12, 12, 2, 3, 2, 16, 4)), "multiple"},
		{"kv heads over heads", withHeader(header(8, 12, 2, 2, 4, 16, 4)), "multiple"},
		{"heads not dividing dim", withHeader(header(8, 12, 2, 3, 1, 16, 4)), "multiple"},
		{"odd head size", withHeader(header(6, 12, 2, 2, 1, 16, 4)), "odd"},
		{"overflow", withHeader(header(1<<30, math.MaxInt32, math.MaxInt32, 2, 1, 16, 4)), "overflow"},
		{"huge but no overflow", withHeader(header(1<<20, 1<<20, 1<<10, 2, 1, 1<<20, 4)), "found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewReader(bytes.NewReader(tc.data), int64(len(tc.data)))
			checkFormatError(t, f, err, tc.want)
		})
	}
	if _, err := NewReader(bytes.NewReader(good), int64(len(good))); err != nil {
		t.Fatalf("good file rejected: %v", err)
	}
}

func TestMalformedTokenizer(t *testing.T) {
	good := tokBytes(t, tinyTokenizer())
	mod := func(off int, v int32) []byte {
		b := append([]byte(nil), good...)
		binary.LittleEndian.PutUint32(b[off:], uint32(v))
		return b
	}
	// Entry 0 is at 4: score at 4, length at 8, bytes "<unk>" at 12.
	tests := []struct {
		name  string
		data  []byte
		vocab int
		want  string
	}{
		{"empty", nil, 0, "max_token_length"},
		{"zero max length", mod(0, 0), 0, "max_token_length"},
		{"negative max length", mod(0, -3), 0, "max_token_length"},
		{"truncated mid-piece", good[:14], 0, "beyond"},
		{"truncated mid-score", good[:6], 0, "score"},
		{"truncated mid-length", good[:len(good)-3], 0, "length"},
		{"negative piece length", mod(8, -1), 0, "negative"},
		{"piece length beyond file", mod(8, 1<<30), 0, "length"},
		{"piece over max length", mod(8, 7), 0, "max_token_length"},
		{"vocab larger than file", good, 1 << 40, "cannot fit"},
		{"vocab too large", good, 17, "truncated"},
		{"trailing bytes", good, 15, "left"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, err := ReadTokenizer(bytes.NewReader(tc.data), int64(len(tc.data)), tc.vocab)
			checkFormatError(t, tk, err, tc.want)
		})
	}
	// With a short max length the length check fires at the entry's length
	// field.
	_, err := ReadTokenizer(bytes.NewReader(mod(0, 4)), int64(len(good)), 0)
	var fe *format.FormatError
	if !errors.As(err, &fe) || fe.Offset != 8 {
		t.Errorf("max length 4: %v", err)
	}
}

func checkFormatError[T any](t *testing.T, v *T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted: %+v", v)
	}
	var fe *format.FormatError
	if !errors.As(err, &fe) || !errors.Is(err, format.ErrFormat) {
		t.Fatalf("not a FormatError: %T %v", err, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "offset") || !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
		t.Errorf("message %q, want one line with offset and %q", msg, want)
	}
}
