package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/shrink-llm/shrink/bench"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/model"
)

var inspectCmd = &command{
	name:    "inspect",
	args:    "PATH [--json]",
	summary: "show a checkpoint's format, architecture, tokenizer and tensors",
	flags: func(fs *pflag.FlagSet) {
		fs.Bool("json", false, "print one JSON object instead of tables")
		fs.Bool("metadata", false, "also list every GGUF metadata key")
	},
	run: runInspect,
}

type inspectReport struct {
	Path        string            `json:"path"`
	Format      string            `json:"format"`
	FileBytes   int64             `json:"file_bytes"`
	Arch        string            `json:"architecture,omitempty"`
	Config      *configJSON       `json:"config,omitempty"`
	ModelError  string            `json:"model_error,omitempty"`
	Tokenizer   *tokenizerJSON    `json:"tokenizer,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Tensors     []tensorJSON      `json:"tensors"`
	TensorTypes map[string]int    `json:"tensor_types"`
	Totals      totalsJSON        `json:"totals"`
}

type configJSON struct {
	Dim            int      `json:"dim"`
	Layers         int      `json:"layers"`
	Heads          []int    `json:"heads"`
	KVHeads        []int    `json:"kv_heads"`
	FFN            []int    `json:"ffn"`
	HeadDim        int      `json:"head_dim"`
	Vocab          int      `json:"vocab_size"`
	Context        int      `json:"context_length"`
	NormEps        float32  `json:"norm_eps"`
	RopeBase       float32  `json:"rope_freq_base"`
	TiedEmbeddings bool     `json:"tied_embeddings"`
	QKVBias        bool     `json:"qkv_bias,omitempty"`
	MoE            *moeJSON `json:"moe,omitempty"`
	// MLA is DeepSeek's latent attention, whose configuration is read
	// but which is not run yet.
	MLA *model.MLA `json:"mla,omitempty"`
}

// moeJSON is the mixture-of-experts part of inspect's configuration.
type moeJSON struct {
	Experts       int     `json:"experts"`
	ExpertsUsed   int     `json:"experts_used"`
	ExpertFFN     int     `json:"expert_ffn"`
	SharedExperts int     `json:"shared_experts,omitempty"`
	SharedFFN     int     `json:"shared_ffn,omitempty"`
	DenseLead     int     `json:"leading_dense_blocks,omitempty"`
	Gating        string  `json:"gating"`
	Norm          bool    `json:"weights_norm"`
	Scale         float32 `json:"weights_scale,omitempty"`
	ProbsBias     bool    `json:"selection_bias,omitempty"`
	Groups        int     `json:"groups,omitempty"`
	GroupsUsed    int     `json:"groups_used,omitempty"`
}

func moeOf(c *model.Config) *moeJSON {
	e := c.MoE
	if e.Experts == 0 {
		return nil
	}
	g := "softmax"
	if e.Gating == model.GatingSigmoid {
		g = "sigmoid"
	}
	return &moeJSON{e.Experts, e.ExpertsUsed, e.ExpertFFN, e.SharedExperts, e.SharedFFN, e.DenseLead, g, e.Norm, e.Scale,
		e.ProbsBias, e.Groups, e.GroupsUsed}
}

type tokenizerJSON struct {
	Model  string `json:"model"`
	Tokens int    `json:"tokens"`
	Merges int    `json:"merges,omitempty"`
	BOS    int32  `json:"bos"`
	EOS    int32  `json:"eos"`
	Pre    string `json:"pre,omitempty"`
}

// newTokenizerJSON describes a vocabulary with the special ids llama.cpp
// uses (its defaults where the file has no key).
func newTokenizerJSON(v *model.Vocab) *tokenizerJSON {
	t := &tokenizerJSON{v.Model, len(v.Tokens), len(v.Merges), v.BOS, v.EOS, v.Pre}
	if r, err := v.Resolve(); err == nil {
		t.BOS, t.EOS = r.BOS, r.EOS
	}
	return t
}

type tensorJSON struct {
	Name  string  `json:"name"`
	Shape []int64 `json:"shape"`
	Type  string  `json:"type"`
	Bytes int64   `json:"bytes"`
}

type totalsJSON struct {
	Tensors       int     `json:"tensors"`
	Params        int64   `json:"params"`
	Bytes         int64   `json:"bytes"`
	BitsPerWeight float64 `json:"bits_per_weight"`
}

func runInspect(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 1, "PATH"); err != nil {
		return err
	}
	path := args[0]
	asJSON := flagBool(fs, "json")
	showMeta := flagBool(fs, "metadata")
	f, err := format.Detect(path)
	if err != nil {
		return err
	}
	src, err := f.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	r := inspectReport{Path: path, Format: f.Name, FileBytes: bench.DiskSize(path), TensorTypes: map[string]int{}}
	for _, t := range src.Tensors() {
		b := t.Bytes()
		r.Tensors = append(r.Tensors, tensorJSON{t.Name, t.Shape, t.Type.String(), b})
		r.TensorTypes[t.Type.String()]++
		r.Totals.Tensors++
		r.Totals.Params += t.NumElements()
		r.Totals.Bytes += b
	}
	if r.Totals.Params > 0 {
		r.Totals.BitsPerWeight = float64(r.Totals.Bytes*8) / float64(r.Totals.Params)
	}
	if gf, ok := src.(*gguf.File); ok && (showMeta || asJSON) {
		r.Metadata = map[string]string{}
		for _, kv := range gf.Metadata.KVs() {
			r.Metadata[kv.Key] = valueSummary(kv.Value)
		}
	}
	if m, err := convert.Load(path, convert.Options{}); err != nil {
		r.ModelError = err.Error()
		if f.Name == "gguf" { // vocabulary-only, or an architecture shrink cannot run
			if v, err := ggufVocab(path); err == nil {
				r.Tokenizer = newTokenizerJSON(v)
			}
		}
		if c := configOnly(path, src); c != nil && errors.Is(err, model.ErrUnsupported) {
			r.Arch = c.Arch
			r.Config = &configJSON{c.Dim, c.Layers, c.Heads, c.KVHeads, c.FFN, c.HeadDim, c.VocabSize, c.Context, c.NormEps, c.RopeBase, c.TiedEmbeddings, c.QKVBias, moeOf(c), c.MLA}
		}
	} else {
		c := m.Config
		r.Arch = c.Arch
		r.Config = &configJSON{c.Dim, c.Layers, c.Heads, c.KVHeads, c.FFN, c.HeadDim, c.VocabSize, c.Context, c.NormEps, c.RopeBase, c.TiedEmbeddings, c.QKVBias, moeOf(c), c.MLA}
		if v := m.Vocab; v != nil {
			r.Tokenizer = newTokenizerJSON(v)
		}
		m.Close()
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printInspect(stdout, &r, showMeta)
	return nil
}

func valueSummary(v gguf.Value) string {
	if v.Type == gguf.TypeArray {
		s := fmt.Sprintf("[%d]%s", v.Len(), v.Elem)
		if v.Len() <= 8 {
			s += fmt.Sprint(v.Data)
		}
		return s
	}
	if s, ok := v.Data.(string); ok {
		if len(s) > 60 {
			s = s[:60] + "..."
		}
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v.Data)
}

func printInspect(w io.Writer, r *inspectReport, showMeta bool) {
	fmt.Fprintf(w, "%s: %s, %s\n", r.Path, r.Format, bench.HumanBytes(r.FileBytes))
	if c := r.Config; c != nil {
		fmt.Fprintf(w, "architecture: %s\n", r.Arch)
		fmt.Fprintf(w, "config: dim %d, layers %d, heads %s, kv heads %s, ffn %s, head dim %d, vocab %d, context %d, eps %g, rope base %g, tied %v\n",
			c.Dim, c.Layers, perLayer(c.Heads), perLayer(c.KVHeads), perLayer(c.FFN), c.HeadDim, c.Vocab, c.Context, c.NormEps, c.RopeBase, c.TiedEmbeddings)
		if e := c.MoE; e != nil {
			fmt.Fprintf(w, "experts: %d routed, %d used per token, expert ffn %d, shared experts %d (ffn %d), leading dense blocks %d, gating %s, renormalise %v, scale %g, selection bias %v, groups %d (%d used)\n",
				e.Experts, e.ExpertsUsed, e.ExpertFFN, e.SharedExperts, e.SharedFFN, e.DenseLead, e.Gating, e.Norm, e.Scale, e.ProbsBias, e.Groups, e.GroupsUsed)
		}
		if a := c.MLA; a != nil {
			fmt.Fprintf(w, "attention: multi-head latent, q_lora_rank %d, kv_lora_rank %d, key length %d, value length %d (not run yet)\n",
				a.QLoraRank, a.KVLoraRank, a.KeyLength, a.ValueLen)
		}
	} else if r.ModelError != "" {
		fmt.Fprintf(w, "model: not readable as a llama-family model: %s\n", r.ModelError)
	}
	if t := r.Tokenizer; t != nil {
		fmt.Fprintf(w, "tokenizer: %s, %d tokens", t.Model, t.Tokens)
		if t.Merges > 0 {
			fmt.Fprintf(w, ", %d merges", t.Merges)
		}
		fmt.Fprintf(w, ", bos %d, eos %d\n", t.BOS, t.EOS)
	}
	if showMeta && len(r.Metadata) > 0 {
		keys := make([]string, 0, len(r.Metadata))
		for k := range r.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(w, "metadata:")
		for _, k := range keys {
			fmt.Fprintf(w, "  %s = %s\n", k, r.Metadata[k])
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "tensor\tshape\ttype\tbytes\t")
	for _, t := range r.Tensors {
		fmt.Fprintf(tw, "%s\t%v\t%s\t%d\t\n", t.Name, t.Shape, t.Type, t.Bytes)
	}
	tw.Flush()
	var types []string
	for k, n := range r.TensorTypes {
		types = append(types, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(types)
	fmt.Fprintf(w, "total: %d tensors (%s), %d parameters, %s, %.3f bits per weight\n",
		r.Totals.Tensors, strings.Join(types, ", "), r.Totals.Params, bench.HumanBytes(r.Totals.Bytes), r.Totals.BitsPerWeight)
}

func perLayer(v []int) string {
	if len(v) == 0 {
		return "-"
	}
	if !model.AllEqual(v) {
		return fmt.Sprint(v)
	}
	return fmt.Sprint(v[0])
}

// configOnly reads the configuration of a checkpoint that cannot be loaded
// as a model (an architecture shrink reads the configuration of but does
// not run, such as DeepSeek's latent attention), or nil.
func configOnly(path string, src format.Source) *model.Config {
	if gf, ok := src.(*gguf.File); ok {
		c, _ := model.ConfigFromGGUF(&gf.Metadata)
		return c
	}
	dir := path
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() {
		dir = filepath.Dir(path)
	}
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil
	}
	c, _ := model.ConfigFromHF(data)
	return c
}
