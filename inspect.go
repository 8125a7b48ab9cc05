package shrink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/model"
)

// InspectOptions are the options of Inspect, named as shrink inspect's
// flags.
type InspectOptions struct {
	// Metadata collects every GGUF metadata key (values summarised).
	Metadata bool `json:"metadata"`
}

// Inspect describes the checkpoint at path (any format shrink reads): its
// format, size, architecture and configuration, tokenizer, tensors and
// totals. A checkpoint that cannot be loaded as a model is still described
// (ModelError says why). ctx is checked before the model is loaded.
func Inspect(ctx context.Context, path string, opt InspectOptions) (*InspectResult, error) {
	f, err := format.Detect(path)
	if err != nil {
		return nil, err
	}
	src, err := f.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	r := &InspectResult{Path: path, Format: f.Name, FileBytes: bench.DiskSize(path), TensorTypes: map[string]int{}}
	for _, t := range src.Tensors() {
		b := t.Bytes()
		r.Tensors = append(r.Tensors, InspectTensor{t.Name, t.Shape, t.Type.String(), b})
		r.TensorTypes[t.Type.String()]++
		r.Totals.Tensors++
		r.Totals.Params += t.NumElements()
		r.Totals.Bytes += b
	}
	if r.Totals.Params > 0 {
		r.Totals.BitsPerWeight = float64(r.Totals.Bytes*8) / float64(r.Totals.Params)
	}
	gf, isGGUF := src.(*gguf.File)
	if isGGUF && opt.Metadata {
		r.Metadata = map[string]string{}
		for _, kv := range gf.Metadata.KVs() {
			r.Metadata[kv.Key] = valueSummary(kv.Value)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m, err := convert.Load(path, convert.Options{})
	if err != nil {
		r.ModelError = err.Error()
		if isGGUF { // vocabulary-only, or an architecture shrink cannot run
			if _, ok := gf.Metadata.Get("tokenizer.ggml.model"); ok {
				if v, err := model.VocabFromGGUF(&gf.Metadata); err == nil {
					r.Tokenizer = newInspectTokenizer(v)
				}
			}
		}
		if c := configOnly(path, src); c != nil && errors.Is(err, model.ErrUnsupported) {
			r.Arch, r.Config = c.Arch, newInspectConfig(c)
		}
		return r, nil
	}
	defer m.Close()
	r.Arch, r.Config = m.Config.Arch, newInspectConfig(m.Config)
	if v := m.Vocab; v != nil {
		r.Tokenizer = newInspectTokenizer(v)
	}
	return r, nil
}

// newInspectConfig describes a configuration.
func newInspectConfig(c *model.Config) *InspectConfig {
	return &InspectConfig{c.Dim, c.Layers, c.Heads, c.KVHeads, c.FFN, c.HeadDim, c.VocabSize, c.Context, c.NormEps, c.RopeBase, c.TiedEmbeddings, c.QKVBias, moeOf(c), c.MLA}
}

// InspectResult describes a checkpoint: what shrink inspect prints, and
// its JSON form.
type InspectResult struct {
	Path        string            `json:"path"`
	Format      string            `json:"format"`
	FileBytes   int64             `json:"file_bytes"`
	Arch        string            `json:"architecture,omitempty"`
	Config      *InspectConfig    `json:"config,omitempty"`
	ModelError  string            `json:"model_error,omitempty"`
	Tokenizer   *InspectTokenizer `json:"tokenizer,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Tensors     []InspectTensor   `json:"tensors"`
	TensorTypes map[string]int    `json:"tensor_types"`
	Totals      InspectTotals     `json:"totals"`
}

// InspectConfig is the model configuration part of InspectResult.
type InspectConfig struct {
	Dim            int         `json:"dim"`
	Layers         int         `json:"layers"`
	Heads          []int       `json:"heads"`
	KVHeads        []int       `json:"kv_heads"`
	FFN            []int       `json:"ffn"`
	HeadDim        int         `json:"head_dim"`
	Vocab          int         `json:"vocab_size"`
	Context        int         `json:"context_length"`
	NormEps        float32     `json:"norm_eps"`
	RopeBase       float32     `json:"rope_freq_base"`
	TiedEmbeddings bool        `json:"tied_embeddings"`
	QKVBias        bool        `json:"qkv_bias,omitempty"`
	MoE            *InspectMoE `json:"moe,omitempty"`
	// MLA is DeepSeek's latent attention, whose configuration is read
	// but which is not run yet.
	MLA *model.MLA `json:"mla,omitempty"`
}

// InspectMoE is the mixture-of-experts part of inspect's configuration.
type InspectMoE struct {
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

// moeOf describes c's experts, or nil without.
func moeOf(c *model.Config) *InspectMoE {
	e := c.MoE
	if e.Experts == 0 {
		return nil
	}
	g := "softmax"
	if e.Gating == model.GatingSigmoid {
		g = "sigmoid"
	}
	return &InspectMoE{e.Experts, e.ExpertsUsed, e.ExpertFFN, e.SharedExperts, e.SharedFFN, e.DenseLead, g, e.Norm, e.Scale,
		e.ProbsBias, e.Groups, e.GroupsUsed}
}

// InspectTokenizer summarises the checkpoint's tokenizer.
type InspectTokenizer struct {
	Model  string `json:"model"`
	Tokens int    `json:"tokens"`
	Merges int    `json:"merges,omitempty"`
	BOS    int32  `json:"bos"`
	EOS    int32  `json:"eos"`
	Pre    string `json:"pre,omitempty"`
}

// newInspectTokenizer describes a vocabulary with the special ids llama.cpp
// uses (its defaults where the file has no key).
func newInspectTokenizer(v *model.Vocab) *InspectTokenizer {
	t := &InspectTokenizer{v.Model, len(v.Tokens), len(v.Merges), v.BOS, v.EOS, v.Pre}
	if r, err := v.Resolve(); err == nil {
		t.BOS, t.EOS = r.BOS, r.EOS
	}
	return t
}

// InspectTensor is one tensor of the checkpoint.
type InspectTensor struct {
	Name  string  `json:"name"`
	Shape []int64 `json:"shape"`
	Type  string  `json:"type"`
	Bytes int64   `json:"bytes"`
}

// InspectTotals sums the checkpoint's tensors.
type InspectTotals struct {
	Tensors       int     `json:"tensors"`
	Params        int64   `json:"params"`
	Bytes         int64   `json:"bytes"`
	BitsPerWeight float64 `json:"bits_per_weight"`
}

// valueSummary is a metadata value shortened for display.
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

// WriteText writes the description as shrink inspect's text: header
// lines, the metadata when collected, the tensor table and the totals.
func (r *InspectResult) WriteText(w io.Writer) error {
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
	if len(r.Metadata) > 0 {
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
	if err := tw.Flush(); err != nil {
		return err
	}
	var types []string
	for k, n := range r.TensorTypes {
		types = append(types, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(types)
	_, err := fmt.Fprintf(w, "total: %d tensors (%s), %d parameters, %s, %.3f bits per weight\n",
		r.Totals.Tensors, strings.Join(types, ", "), r.Totals.Params, bench.HumanBytes(r.Totals.Bytes), r.Totals.BitsPerWeight)
	return err
}

// perLayer shows a per-layer count as one number when all are equal.
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
