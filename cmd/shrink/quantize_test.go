package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/format/safetensors"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/quantize"
)

// maxRelRMSE bounds the relative RMS error of one tensor per stored type
// (weights near Gaussian).
var maxRelRMSE = map[format.DType]float64{
	format.F32: 0, format.F16: 1e-3, format.BF16: 5e-3,
	format.Q8_0: 0.01, format.Q6_K: 0.03, format.Q5_0: 0.06, format.Q5_1: 0.06, format.Q5_K: 0.06,
	format.Q4_0: 0.13, format.Q4_1: 0.13, format.Q4_K: 0.13, format.IQ4_NL: 0.13,
	format.Q3_K: 0.25, format.Q2_K: 0.45,
}

// checkQuantized compares every tensor of the GGUF at dst with the source
// model's values and returns the tensor types found.
func checkQuantized(t *testing.T, src, tok, dst string) map[string]format.DType {
	t.Helper()
	m, err := convert.Load(src, convert.Options{Tokenizer: tok})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g, err := gguf.Open(dst)
	if err != nil {
		t.Fatalf("re-reading %s: %v", dst, err)
	}
	defer g.Close()
	types := map[string]format.DType{}
	if len(g.Tensors()) != len(m.Tensors) {
		t.Fatalf("%d tensors written, %d in the source", len(g.Tensors()), len(m.Tensors))
	}
	for _, info := range g.Tensors() {
		types[info.Name] = info.Type
		st, ok := m.Tensor(info.Name)
		if !ok {
			t.Fatalf("%s not in the source", info.Name)
		}
		want, err := m.ReadFloat32(st)
		if err != nil {
			t.Fatal(err)
		}
		r, err := g.TensorData(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(want))
		if err := quantize.DecodeRow(info.Type, got, raw); err != nil {
			t.Fatalf("%s: %v", info.Name, err)
		}
		var se, ss float64
		for i := range want {
			d := float64(got[i] - want[i])
			se += d * d
			ss += float64(want[i]) * float64(want[i])
		}
		rel := math.Sqrt(se / max(ss, 1e-30))
		bound, ok := maxRelRMSE[info.Type]
		if !ok {
			t.Errorf("%s: unexpected type %s", info.Name, info.Type)
		}
		if rel > bound {
			t.Errorf("%s (%s): relative RMSE %.4f > %.4f", info.Name, info.Type, rel, bound)
		}
	}
	return types
}

func quantizeOK(t *testing.T, args ...string) string {
	t.Helper()
	code, out, e := run(t, append([]string{"quantize"}, args...)...)
	if code != 0 {
		t.Fatalf("quantize %v: exit %d: %s", args, code, e)
	}
	return out
}

func TestQuantizeDefaultModel(t *testing.T) {
	src := filepath.Join(testutil.RepoRoot(t), "models", "default")
	dir := t.TempDir()
	for _, typ := range []string{"q4_0", "q8_0", "q4_k_m", "q6_k", "q2_k", "iq4_nl", "q5_k_s", "f16"} {
		t.Run(typ, func(t *testing.T) {
			dst := filepath.Join(dir, typ+".gguf")
			out := quantizeOK(t, src, dst, "--type", typ, "-q", "--threads", "3")
			if !strings.Contains(out, "total") {
				t.Errorf("no summary: %q", out)
			}
			types := checkQuantized(t, src, "", dst)
			g, err := gguf.Open(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			p, _ := quantize.LookupPreset(typ)
			if ft, ok := g.Metadata.Uint32("general.file_type"); !ok || ft != p.FileType {
				t.Errorf("general.file_type %d, want %d", ft, p.FileType)
			}
			if qv, ok := g.Metadata.Uint32("general.quantization_version"); !ok || qv != 2 {
				t.Errorf("general.quantization_version %d %v", qv, ok)
			}
			raw, err := os.ReadFile(filepath.Join(src, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			if s, _ := g.Metadata.String("shrink.source.sha256"); s != fmt.Sprintf("%x", sha256.Sum256(raw)) {
				t.Errorf("shrink.source.sha256 %q", s)
			}
			if s, _ := g.Metadata.String("shrink.recipe"); !strings.Contains(s, "--type="+typ) {
				t.Errorf("shrink.recipe %q", s)
			}
			if s, _ := g.Metadata.String("shrink.version"); s != version {
				t.Errorf("shrink.version %q", s)
			}
			if types["blk.0.attn_norm.weight"] != format.F32 {
				t.Errorf("norm stored as %s", types["blk.0.attn_norm.weight"])
			}
			// The reference runtime runs the result.
			em, err := engine.Load(dst, engine.Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer em.Close()
			logits, err := em.NewSession(16).Forward([]int32{1, 20, 30, 40})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range logits {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatal("non-finite logits")
				}
			}
		})
	}
	if types := checkQuantized(t, src, "", filepath.Join(dir, "q4_k_m.gguf")); types["blk.1.ffn_down.weight"] != format.Q6_K || types["blk.0.ffn_down.weight"] != format.Q4_K {
		t.Errorf("q4_k_m ffn_down types %s %s", types["blk.0.ffn_down.weight"], types["blk.1.ffn_down.weight"])
	}
}

func TestQuantizeStories260K(t *testing.T) {
	bin := testutil.Shared(t, "models/stories260K/stories260K.bin")
	tok := testutil.Shared(t, "models/stories260K/tok512.bin")
	dir := t.TempDir()
	for _, typ := range []string{"q8_0", "q4_0", "q4_k_m"} {
		t.Run(typ, func(t *testing.T) {
			dst := filepath.Join(dir, typ+".gguf")
			out := quantizeOK(t, bin, dst, "--type", typ, "--tokenizer", tok, "-q")
			// ffn_down has rows of 172: llama.cpp aborts, shrink falls back.
			if !strings.Contains(out, "blk.0.ffn_down.weight: rows of 172") {
				t.Errorf("fallback not reported: %s", out)
			}
			types := checkQuantized(t, bin, tok, dst)
			if ty := types["blk.0.ffn_down.weight"]; ty.BlockSize() == 0 || 172%ty.BlockSize() != 0 {
				t.Errorf("ffn_down stored as %s", ty)
			}
		})
	}
}

// TestRequantizeRefused: quantizing an already quantized GGUF needs
// --allow-requantize; without it the exit code is 2 and the message says why.
func TestRequantizeRefused(t *testing.T) {
	src := filepath.Join(testutil.RepoRoot(t), "models", "default")
	dir := t.TempDir()
	q := filepath.Join(dir, "q4.gguf")
	quantizeOK(t, src, q, "--type", "q4_0", "-q")
	dst := filepath.Join(dir, "q8.gguf")
	code, _, e := run(t, "quantize", q, dst, "--type", "q8_0", "-q")
	if code != 2 || !strings.Contains(e, "requantiz") || !strings.Contains(e, "--allow-requantize") || strings.Count(e, "\n") != 1 {
		t.Errorf("requantize: exit %d, %q", code, e)
	}
	if _, err := os.Stat(dst); err == nil {
		t.Error("output written despite the refusal")
	}
	quantizeOK(t, q, dst, "--type", "q8_0", "-q", "--allow-requantize")
	if _, err := os.Stat(dst); err != nil {
		t.Error(err)
	}
}

func TestQuantizeUsage(t *testing.T) {
	src := filepath.Join(testutil.RepoRoot(t), "models", "default")
	dst := filepath.Join(t.TempDir(), "x.gguf")
	for _, args := range [][]string{
		{src, dst},
		{src, dst, "--type", "q7_k"},
		{src, dst, "--type", "q4_0", "--tensor-type", "ffn_down"},
		{src, dst, "--type", "q4_0", "--output-tensor-type", "tq1_0"},
		{src, dst, "--type", "q4_0", "--tensor-type", "ffn_down=iq2_xs"}, // needs an imatrix
		{src, "x.bin", "--type", "q4_0"},
		{src, dst, "--type", "q4_0", "--imatrix", "a", "--calib", "b"},
		{src, dst, "--type", "q4_0", "--fallback-type", "zz"},
		{src, dst, "--type", "q4_0", "--fallback-type", "q8_0"},
	} {
		if code, _, e := run(t, append([]string{"quantize"}, args...)...); code != 2 || e == "" {
			t.Errorf("%v: exit %d, %q", args, code, e)
		}
	}
}

// TestQuantizeIQ1NeedsImatrix: the iq1_s and iq1_m presets without --calib
// or --imatrix are refused in one line naming both flags, writing nothing.
func TestQuantizeIQ1NeedsImatrix(t *testing.T) {
	src := filepath.Join(testutil.RepoRoot(t), "models", "default")
	dst := filepath.Join(t.TempDir(), "x.gguf")
	for _, typ := range []string{"iq1_s", "iq1_m"} {
		code, _, e := run(t, "quantize", src, dst, "--type", typ, "-q")
		if code != 2 || strings.Count(strings.TrimSpace(e), "\n") != 0 || !strings.Contains(e, "--calib") ||
			!strings.Contains(e, "--imatrix") || !strings.Contains(e, typ) {
			t.Errorf("%s without an imatrix: exit %d, %q", typ, code, e)
		}
		if _, err := os.Stat(dst); err == nil {
			t.Errorf("%s: output written despite the refusal", typ)
		}
	}
}

// TestQuantizeOverridesAndNaN: --tensor-type and --output-tensor-type take
// effect; a NaN in the source is refused naming the tensor.
func TestQuantizeOverridesAndNaN(t *testing.T) {
	src := filepath.Join(testutil.RepoRoot(t), "models", "default")
	dir := t.TempDir()
	dst := filepath.Join(dir, "o.gguf")
	quantizeOK(t, src, dst, "--type", "q4_0", "--tensor-type", "ffn_down=q8_0", "--tensor-type", `blk\.1\.attn_q=f16`,
		"--token-embedding-type", "q5_1", "-q", "--pure")
	types := checkQuantized(t, src, "", dst)
	for name, want := range map[string]format.DType{"blk.0.ffn_down.weight": format.Q8_0, "blk.1.attn_q.weight": format.F16,
		"blk.0.attn_q.weight": format.Q4_0, "token_embd.weight": format.Q5_1} {
		if types[name] != want {
			t.Errorf("%s: %s, want %s", name, types[name], want)
		}
	}

	// A copy of the default model with one NaN.
	bad := filepath.Join(dir, "nan")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "tokenizer.model", "model.safetensors"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bad, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sf, err := safetensors.Open(filepath.Join(bad, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	sr, err := sf.TensorData("model.layers.1.mlp.down_proj.weight")
	if err != nil {
		t.Fatal(err)
	}
	_, off, _ := sr.Outer()
	sf.Close()
	f, err := os.OpenFile(filepath.Join(bad, "model.safetensors"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0x00, 0x7e}, off+2*10) // f16 NaN at element 10
	f.Close()
	code, _, e := run(t, "quantize", bad, filepath.Join(dir, "nan.gguf"), "--type", "q4_0", "-q")
	if code != 2 || !strings.Contains(e, "blk.1.ffn_down.weight") || !strings.Contains(e, "element 10") {
		t.Errorf("NaN: exit %d, %q", code, e)
	}
}

// TestCalibration: --calib collects an importance matrix through the
// engine, --imatrix-out writes it, --imatrix reads it back, and a matrix
// that does not fit the model is refused naming the tensor.
func TestCalibration(t *testing.T) {
	src := filepath.Join(testutil.RepoRoot(t), "models", "default")
	dir := t.TempDir()
	text := filepath.Join(dir, "calib.txt")
	var sb strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&sb, "func f%d(s string) int { return strings.Index(s, %q) }\n", i, fmt.Sprint(i*7))
	}
	if err := os.WriteFile(text, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	imOut := filepath.Join(dir, "imatrix.dat")
	dst := filepath.Join(dir, "c.gguf")
	quantizeOK(t, src, dst, "--type", "q4_k_m", "--calib", text, "--method", "imatrix", "--ctx", "64", "--chunks", "3", "--imatrix-out", imOut, "-q")
	im, err := quantize.OpenImatrix(imOut)
	if err != nil {
		t.Fatal(err)
	}
	if im.Chunks != 3 || im.Dataset != "calib.txt" {
		t.Errorf("imatrix chunks %d dataset %q", im.Chunks, im.Dataset)
	}
	for _, name := range []string{"blk.0.attn_q.weight", "blk.1.ffn_down.weight", "blk.0.attn_output.weight"} {
		v, ok := im.Get(name)
		want := 128
		if strings.Contains(name, "ffn_down") {
			want = 256
		}
		if !ok || len(v) != want {
			t.Errorf("%s: %d values (%v), want %d", name, len(v), ok, want)
		}
	}
	g, err := gguf.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := g.Metadata.String("shrink.calib.sha256"); len(s) != 64 {
		t.Errorf("shrink.calib.sha256 %q", s)
	}
	if v, ok := g.Metadata.Get("quantize.imatrix.entries_count"); !ok || v.Type != gguf.TypeInt32 {
		t.Errorf("quantize.imatrix.entries_count %v", v)
	}
	g.Close()
	checkQuantized(t, src, "", dst)

	dst2 := filepath.Join(dir, "i.gguf")
	quantizeOK(t, src, dst2, "--type", "q4_0", "--imatrix", imOut, "-q")
	g2, err := gguf.Open(dst2)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := g2.Metadata.String("quantize.imatrix.file"); s != imOut {
		t.Errorf("quantize.imatrix.file %q", s)
	}
	g2.Close()

	// A wrong-sized entry is refused, naming the tensor.
	im.Set(quantize.ImatrixEntry{Name: "blk.0.attn_k.weight", NCall: 1, Values: make([]float32, 7)})
	badIm := filepath.Join(dir, "bad.dat")
	if err := im.WriteFile(badIm); err != nil {
		t.Fatal(err)
	}
	code, _, e := run(t, "quantize", src, filepath.Join(dir, "b.gguf"), "--type", "q4_0", "--imatrix", badIm, "-q")
	if code != 2 || !strings.Contains(e, "blk.0.attn_k.weight") {
		t.Errorf("bad imatrix: exit %d, %q", code, e)
	}
}

// writeWideModel writes a 1-layer HF llama folder of TinyLlama's width
// (dim 2048, FFN 5632, 32 heads, 4 KV heads) with a small vocabulary.
func writeWideModel(tb testing.TB, dir string) int64 {
	tb.Helper()
	const dim, ffn, heads, kvHeads, vocab = 2048, 5632, 32, 4, 512
	cfg := map[string]any{"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
		"hidden_size": dim, "intermediate_size": ffn, "num_attention_heads": heads, "num_key_value_heads": kvHeads,
		"num_hidden_layers": 1, "vocab_size": vocab, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
		"max_position_embeddings": 2048, "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2}
	cj, _ := json.Marshal(cfg)
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "config.json"), cj, 0o644))
	v := &model.Vocab{Model: "llama", BOS: 1, EOS: 2, UNK: 0, PAD: -1, AddBOS: true, AddSpacePrefix: true}
	for i := 0; i < vocab; i++ {
		p, ty := fmt.Sprintf("▁w%d", i), int32(model.TokenNormal)
		switch {
		case i == 0:
			p, ty = "<unk>", model.TokenUnknown
		case i < 3:
			p, ty = []string{"", "<s>", "</s>"}[i], model.TokenControl
		case i < 259:
			p, ty = fmt.Sprintf("<0x%02X>", i-3), model.TokenByte
		}
		v.Tokens, v.Scores, v.Types = append(v.Tokens, p), append(v.Scores, -float32(i)), append(v.Types, ty)
	}
	spm, err := model.EncodeSentencePiece(v)
	must(err)
	must(os.WriteFile(filepath.Join(dir, "tokenizer.model"), spm, 0o644))
	kv := int64(dim / heads * kvHeads)
	infos := []format.TensorInfo{
		{Name: "model.embed_tokens.weight", Type: format.F16, Shape: []int64{dim, vocab}},
		{Name: "model.layers.0.input_layernorm.weight", Type: format.F16, Shape: []int64{dim}},
		{Name: "model.layers.0.self_attn.q_proj.weight", Type: format.F16, Shape: []int64{dim, dim}},
		{Name: "model.layers.0.self_attn.k_proj.weight", Type: format.F16, Shape: []int64{dim, kv}},
		{Name: "model.layers.0.self_attn.v_proj.weight", Type: format.F16, Shape: []int64{dim, kv}},
		{Name: "model.layers.0.self_attn.o_proj.weight", Type: format.F16, Shape: []int64{dim, dim}},
		{Name: "model.layers.0.post_attention_layernorm.weight", Type: format.F16, Shape: []int64{dim}},
		{Name: "model.layers.0.mlp.gate_proj.weight", Type: format.F16, Shape: []int64{dim, ffn}},
		{Name: "model.layers.0.mlp.up_proj.weight", Type: format.F16, Shape: []int64{dim, ffn}},
		{Name: "model.layers.0.mlp.down_proj.weight", Type: format.F16, Shape: []int64{ffn, dim}},
		{Name: "model.norm.weight", Type: format.F16, Shape: []int64{dim}},
		{Name: "lm_head.weight", Type: format.F16, Shape: []int64{dim, vocab}},
	}
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	must(err)
	defer f.Close()
	w, err := safetensors.NewWriter(f, infos, nil)
	must(err)
	rng := rand.New(rand.NewPCG(5, 6))
	var total int64
	for _, info := range infos {
		x := make([]float32, info.NumElements())
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 0.02)
		}
		b := make([]byte, info.Bytes())
		must(format.EncodeFloats(format.F16, x, b))
		must(w.WriteTensor(b))
		total += int64(len(b))
	}
	must(w.Close())
	return total
}

// BenchmarkQuantize quantizes a 1-layer model of TinyLlama's width per type
// (MB/s of F16 source), with all cores and with one thread as a baseline.
func BenchmarkQuantize(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "wide")
	if err := os.MkdirAll(src, 0o755); err != nil {
		b.Fatal(err)
	}
	size := writeWideModel(b, src)
	for _, typ := range []string{"f16", "q8_0", "q4_0", "iq4_nl", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"} {
		for _, threads := range []string{"1", "0"} {
			name := typ + "/threads=all"
			if threads == "1" {
				name = typ + "/threads=1"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(size)
				dst := filepath.Join(dir, typ+".gguf")
				for i := 0; i < b.N; i++ {
					if code := runMain([]string{"quantize", src, dst, "--type", typ, "--threads", threads, "-q"}, io.Discard, io.Discard); code != 0 {
						b.Fatalf("exit %d", code)
					}
				}
			})
		}
	}
}

// TestQuantizeRules: --rules ollama reaches the policy (Ollama keeps
// deepseek2's latent projections at q8_0, llama.cpp's rules do not), and
// an unknown rule set is bad usage.
func TestQuantizeRules(t *testing.T) {
	src := testutil.Shared(t, "models/dev-deepseek2-moe")
	dir := t.TempDir()
	types := map[string]format.DType{}
	for _, rules := range []string{"llama.cpp", "ollama"} {
		dst := filepath.Join(dir, rules+".gguf")
		quantizeOK(t, src, dst, "--type", "q4_k_m", "--rules", rules, "-q")
		g, err := gguf.Open(dst)
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range g.Tensors() {
			if info.Name == "blk.1.attn_kv_a_mqa.weight" {
				types[rules] = info.Type
			}
		}
		g.Close()
	}
	if types["ollama"] != format.Q8_0 || types["llama.cpp"] == format.Q8_0 {
		t.Errorf("blk.1.attn_kv_a_mqa.weight: llama.cpp rules %s, ollama rules %s; want ollama's q8_0 only", types["llama.cpp"], types["ollama"])
	}
	if code := runMain([]string{"quantize", src, filepath.Join(dir, "x.gguf"), "--type", "q4_k_m", "--rules", "bogus", "-q"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("--rules bogus: exit %d, want 2", code)
	}
}
