// Command gendefault generates the small default checkpoint that ships with
// shrink (models/default): a Hugging Face llama folder with config.json, an
// F16 model.safetensors with random weights, and a SentencePiece BPE
// tokenizer.model whose merges are learned from the Go toolchain's own
// source (the strings package of the Go installation that runs it).
//
// Usage (from the repository root):
//
//	go run ./internal/cmd/gendefault [-out models/default] [-seed 1]
//	go run ./internal/cmd/gendefault -out /tmp/qwen05 -preset qwen2.5-0.5b
//
// The weights depend only on the seed; the tokenizer depends on the Go
// version's source text, so the committed files record the version used.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/safetensors"
	"github.com/shrink-llm/shrink/model"
)

// The model's shape. The defaults are the shipped model: small enough to ship
// (a few hundred KB in F16) and to test quickly, with grouped-query
// attention. Larger shapes serve memory measurements (a 1 GB checkpoint).
var (
	dim     = 128
	layers  = 2
	heads   = 4
	kvHeads = 2
	ffn     = 256
	vocab   = 512
	context = 256
	theta   = 10000.0
	eps     = 1e-5
)

// presets are the shapes of published models that -preset selects, for
// memory and speed measurements at real size (random weights, llama
// architecture: no attention biases).
var presets = map[string]func(){
	// Qwen2.5-0.5B: 896 wide, 24 blocks, 14/2 heads of 64, FFN 4864,
	// a 151936-token vocabulary, tied embeddings.
	"qwen2.5-0.5b": func() {
		dim, layers, heads, kvHeads, ffn, vocab = 896, 24, 14, 2, 4864, 151936
		context, theta, eps = 32768, 1e6, 1e-6
	},
}

func main() {
	out := flag.String("out", "models/default", "output folder")
	seed := flag.Uint64("seed", 1, "random seed of the weights")
	flag.IntVar(&dim, "dim", dim, "hidden size")
	flag.IntVar(&layers, "layers", layers, "number of layers")
	flag.IntVar(&heads, "heads", heads, "attention heads")
	flag.IntVar(&kvHeads, "kv-heads", kvHeads, "key/value heads")
	flag.IntVar(&ffn, "ffn", ffn, "feed-forward width")
	flag.IntVar(&vocab, "vocab", vocab, "vocabulary size (at least 300)")
	preset := flag.String("preset", "", "a published model's shape, overriding the shape flags: qwen2.5-0.5b")
	flag.Parse()
	if *preset != "" {
		set, ok := presets[*preset]
		if !ok {
			fmt.Fprintf(os.Stderr, "gendefault: unknown preset %q\n", *preset)
			os.Exit(2)
		}
		set()
	}
	if err := run(*out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "gendefault:", err)
		os.Exit(1)
	}
}

func run(out string, seed uint64) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if vocab < 300 {
		return fmt.Errorf("vocabulary of %d: want at least 300", vocab)
	}
	v, err := trainVocab(filepath.Join(runtime.GOROOT(), "src", "strings"), vocab)
	if err != nil {
		return err
	}
	spm, err := model.EncodeSentencePiece(v)
	if err != nil {
		return err
	}
	if err := format.WriteFileAtomic(filepath.Join(out, "tokenizer.model"), spm); err != nil {
		return err
	}
	cfg := map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"hidden_size":             dim,
		"intermediate_size":       ffn,
		"num_attention_heads":     heads,
		"num_key_value_heads":     kvHeads,
		"num_hidden_layers":       layers,
		"vocab_size":              vocab,
		"rms_norm_eps":            eps,
		"rope_theta":              theta,
		"max_position_embeddings": context,
		"tie_word_embeddings":     true,
		"bos_token_id":            1,
		"eos_token_id":            2,
		"hidden_act":              "silu",
		"torch_dtype":             "float16",
		"attention_bias":          false,
	}
	cj, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := format.WriteFileAtomic(filepath.Join(out, "config.json"), append(cj, '\n')); err != nil {
		return err
	}
	return writeWeights(filepath.Join(out, "model.safetensors"), seed)
}

type tensor struct {
	name  string
	shape []int64 // ggml order
	std   float64 // 0: ones (norm weights)
}

func writeWeights(path string, seed uint64) error {
	dim, vocab, ffn, hd := int64(dim), int64(vocab), int64(ffn), int64(dim/heads)
	heads, kvHeads := int64(heads), int64(kvHeads)
	ts := []tensor{{"model.embed_tokens.weight", []int64{dim, vocab}, 0.02}}
	for l := 0; l < layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		ts = append(ts,
			tensor{p + "input_layernorm.weight", []int64{dim}, 0},
			tensor{p + "self_attn.q_proj.weight", []int64{dim, heads * hd}, 0.02},
			tensor{p + "self_attn.k_proj.weight", []int64{dim, kvHeads * hd}, 0.02},
			tensor{p + "self_attn.v_proj.weight", []int64{dim, kvHeads * hd}, 0.02},
			tensor{p + "self_attn.o_proj.weight", []int64{heads * hd, dim}, 0.02},
			tensor{p + "post_attention_layernorm.weight", []int64{dim}, 0},
			tensor{p + "mlp.gate_proj.weight", []int64{dim, ffn}, 0.02},
			tensor{p + "mlp.up_proj.weight", []int64{dim, ffn}, 0.02},
			tensor{p + "mlp.down_proj.weight", []int64{ffn, dim}, 0.02},
		)
	}
	ts = append(ts, tensor{"model.norm.weight", []int64{dim}, 0})
	infos := make([]format.TensorInfo, len(ts))
	for i, t := range ts {
		infos[i] = format.TensorInfo{Name: t.name, Type: format.F16, Shape: t.shape}
	}
	rng := rand.New(rand.NewPCG(seed, 0x5348524e4b)) // "SHRNK"
	return safetensors.WriteFile(path, infos, map[string]string{"format": "pt"}, func(i int, w io.Writer) error {
		t := ts[i]
		x := make([]float32, infos[i].NumElements())
		for i := range x {
			if t.std == 0 {
				x[i] = 1
			} else {
				x[i] = float32(rng.NormFloat64() * t.std)
			}
		}
		buf := make([]byte, infos[i].Bytes())
		if err := format.EncodeFloats(format.F16, x, buf); err != nil {
			return err
		}
		_, err := w.Write(buf)
		return err
	})
}

// trainVocab learns a SentencePiece-style BPE vocabulary of size n from the
// non-test Go files in dir: <unk>, <s>, </s>, the 256 byte-fallback pieces,
// then merged pieces in merge order (score -rank) and the single characters
// they start from.
func trainVocab(dir string, n int) (*model.Vocab, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	words := map[string]int{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(data), "\n") {
			for _, w := range strings.Fields(line) {
				words["▁"+w]++
			}
		}
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("no Go source found in %s", dir)
	}
	v := &model.Vocab{Model: "llama", BOS: 1, EOS: 2, UNK: 0, PAD: -1, AddBOS: true, AddSpacePrefix: true}
	add := func(piece string, score float32, typ int32) {
		v.Tokens = append(v.Tokens, piece)
		v.Scores = append(v.Scores, score)
		v.Types = append(v.Types, typ)
	}
	add("<unk>", 0, model.TokenUnknown)
	add("<s>", 0, model.TokenControl)
	add("</s>", 0, model.TokenControl)
	for b := 0; b < 256; b++ {
		add(fmt.Sprintf("<0x%02X>", b), 0, model.TokenByte)
	}
	// Characters seen often enough become pieces; the rest fall back to bytes.
	chars := map[string]int{}
	type word struct {
		syms  []string
		count int
	}
	var ws []word
	keys := make([]string, 0, len(words))
	for w := range words {
		keys = append(keys, w)
	}
	sort.Strings(keys)
	for _, w := range keys {
		var syms []string
		for _, r := range w {
			syms = append(syms, string(r))
			chars[string(r)] += words[w]
		}
		ws = append(ws, word{syms, words[w]})
	}
	var charList []string
	for c, k := range chars {
		if k >= 20 {
			charList = append(charList, c)
		}
	}
	sort.Slice(charList, func(i, j int) bool {
		if chars[charList[i]] != chars[charList[j]] {
			return chars[charList[i]] > chars[charList[j]]
		}
		return charList[i] < charList[j]
	})
	known := map[string]bool{}
	for _, c := range charList {
		known[c] = true
	}
	budget := n - len(v.Tokens) - len(charList)
	var merges []string
	for len(merges) < budget {
		pairs := map[[2]string]int{}
		for _, w := range ws {
			for i := 0; i+1 < len(w.syms); i++ {
				if known[w.syms[i]] && known[w.syms[i+1]] {
					pairs[[2]string{w.syms[i], w.syms[i+1]}] += w.count
				}
			}
		}
		var best [2]string
		bestN := 0
		for p, k := range pairs {
			if k > bestN || (k == bestN && p[0]+"\x00"+p[1] < best[0]+"\x00"+best[1]) {
				best, bestN = p, k
			}
		}
		if bestN < 2 {
			break
		}
		merged := best[0] + best[1]
		known[merged] = true
		merges = append(merges, merged)
		for wi := range ws {
			s := ws[wi].syms
			out := s[:0]
			for i := 0; i < len(s); i++ {
				if i+1 < len(s) && s[i] == best[0] && s[i+1] == best[1] {
					out = append(out, merged)
					i++
					continue
				}
				out = append(out, s[i])
			}
			ws[wi].syms = out
		}
	}
	for i, m := range merges {
		add(m, -float32(i), model.TokenNormal)
	}
	for i, c := range charList {
		add(c, -float32(len(merges)+i), model.TokenNormal)
	}
	for len(v.Tokens) < n { // pad with unused pieces if the text ran out of merges
		add(fmt.Sprintf("<unused%d>", len(v.Tokens)), -1e9, model.TokenUnused)
	}
	return v, nil
}
