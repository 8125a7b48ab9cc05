package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/shrink-llm/shrink/format"
)

// Schema is the value of a report's "schema" key.
const Schema = "shrink.bench/v1"

// ErrReport reports a file that is not a shrink.bench/v1 report.
var ErrReport = errors.New("bench: not a shrink.bench/v1 report")

// Report is one bench run, the shrink.bench/v1 JSON object. Pointer and
// omitempty fields are absent when not measured. Keys beyond the schema of
// DESIGN.md (failure, tensors, layers, synthetic, tasks, per_chunk, tool)
// are extensions.
type Report struct {
	Schema        string      `json:"schema"`
	Model         *ModelInfo  `json:"model,omitempty"`
	Text          *TextInfo   `json:"text,omitempty"`
	Ctx           int         `json:"ctx,omitempty"`
	Chunks        int         `json:"chunks,omitempty"`
	Threads       int         `json:"threads,omitempty"`
	Perplexity    *Perplexity `json:"perplexity,omitempty"`
	Baseline      *Baseline   `json:"baseline,omitempty"`
	KLD           *Dist       `json:"kld,omitempty"`
	Top1Agreement *float64    `json:"top1_agreement,omitempty"`
	DeltaP        *DeltaP     `json:"delta_p,omitempty"`
	Speed         *Speed      `json:"speed,omitempty"`
	Memory        *Memory     `json:"memory,omitempty"`
	// Failure, when present, says why the text measurements are absent:
	// the model could not be evaluated. Gate fails such a report.
	Failure *Failure `json:"failure,omitempty"`

	// Extensions.
	Tensors   []TensorError `json:"tensors,omitempty"`   // per-tensor weight error, worst first
	Layers    []LayerError  `json:"layers,omitempty"`    // per-layer weight error
	Synthetic *Synthetic    `json:"synthetic,omitempty"` // the shape of a --synthetic run
	// Tasks are task accuracies with per-item results (bench --tasks).
	Tasks []TaskResult `json:"tasks,omitempty"`
	// PerChunk holds per-chunk means of the text measurements, what a
	// paired comparison of two reports on the same text needs (gate
	// --against).
	PerChunk *PerChunk `json:"per_chunk,omitempty"`
	Tool     *Tool     `json:"tool,omitempty"` // what produced the report
}

// Failure records why a run measured nothing on the text: a model produced
// a non-finite logit. Every number in it is finite, so the report stays
// valid JSON.
type Failure struct {
	// Reason is one line for people, naming the model, where and why.
	Reason string `json:"reason"`
	// Model is "model" (the one measured) or "baseline" (--baseline).
	Model string `json:"model"`
	// Chunk is the chunk (0-based) whose evaluation failed.
	Chunk int `json:"chunk"`
	// Token is the position in the chunk (0-based) after which the first
	// non-finite logit came out.
	Token int `json:"token"`
	// Layer is the first block whose output is non-finite at a position
	// up to Token (its causal context): -1 when the token embeddings
	// already are, absent when every block's output is finite (the final
	// norm or output.weight made the logits non-finite).
	Layer *int `json:"layer,omitempty"`
}

// ModelInfo describes the measured model file.
type ModelInfo struct {
	Path          string         `json:"path"`
	FileBytes     int64          `json:"file_bytes"`
	Params        int64          `json:"params"`
	BitsPerWeight float64        `json:"bits_per_weight"`
	TensorTypes   map[string]int `json:"tensor_types,omitempty"`
}

// TextInfo describes the evaluation text.
type TextInfo struct {
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	Tokens int    `json:"tokens"`
}

// Perplexity is the candidate's perplexity.
type Perplexity struct {
	Value        float64 `json:"value"`
	Stderr       float64 `json:"stderr"`
	ScoredTokens int     `json:"scored_tokens"`
}

// Baseline names the model the divergence is measured against.
type Baseline struct {
	Path       string  `json:"path"`
	Perplexity float64 `json:"perplexity"`
}

// Dist summarizes a per-token distribution.
type Dist struct {
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
}

// DeltaP summarizes the change in probability of the true next token.
type DeltaP struct {
	Mean float64 `json:"mean"`
	RMS  float64 `json:"rms"`
}

// Speed is throughput on the reference runtime.
type Speed struct {
	PrefillTokensPerS float64 `json:"prefill_tokens_per_s"`
	DecodeTokensPerS  float64 `json:"decode_tokens_per_s"`
	DecodeMsP50       float64 `json:"decode_ms_p50"`
	DecodeMsP95       float64 `json:"decode_ms_p95"`
	PrefillTokens     int     `json:"prefill_tokens,omitempty"`
	DecodeTokens      int     `json:"decode_tokens,omitempty"`
	Repeats           int     `json:"repeats,omitempty"`
}

// Memory is the process's memory use.
type Memory struct {
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// Weights tells where the weights lived: "mapped" (the GGUF file
	// memory-mapped), "copied" (a private huge-page copy) or "read".
	Weights string `json:"weights,omitempty"`
	// HugePageShare is the part of the model file held in 2 MiB pages
	// (Linux; absent when unknown).
	HugePageShare float64 `json:"huge_page_share,omitempty"`
	// KVBytesPerToken is what the engine's key/value cache holds per
	// token over all layers (float32), and KVStandardBytesPerToken what a
	// standard attention with the same heads would hold: they differ for
	// latent attention (deepseek2), whose cache keeps only the latent and
	// rope key.
	KVBytesPerToken         int64 `json:"kv_bytes_per_token,omitempty"`
	KVStandardBytesPerToken int64 `json:"kv_standard_bytes_per_token,omitempty"`
}

// TensorError is the weight error of one tensor against its source.
type TensorError struct {
	Name     string  `json:"name"`
	Type     string  `json:"type"`
	Elements int64   `json:"elements"`
	RMSE     float64 `json:"rmse"`
	SNRdB    float64 `json:"snr_db"`
	Bytes    int64   `json:"bytes,omitempty"` // stored bytes in the candidate
	// PredictedKLD is the KLD the type solver predicted this tensor adds
	// (from the candidate's shrink.recipe.tensors; 0 when not solved).
	PredictedKLD float64 `json:"predicted_kld,omitempty"`
}

// LayerError aggregates the tensors of one block (Layer -1: tensors outside
// the blocks, such as token_embd and output).
type LayerError struct {
	Layer        int     `json:"layer"`
	RMSE         float64 `json:"rmse"`
	SNRdB        float64 `json:"snr_db"`
	Elements     int64   `json:"elements,omitempty"`
	Bytes        int64   `json:"bytes,omitempty"`         // stored bytes of the layer's tensors
	PredictedKLD float64 `json:"predicted_kld,omitempty"` // sum of its tensors' (solved files)
}

// PerChunk holds, for every evaluated chunk in order, the mean NLL of its
// scored tokens and, with a baseline, their mean KL divergence (single
// precision, which keeps the report small).
type PerChunk struct {
	NLL []float64 `json:"nll"`
	KLD []float64 `json:"kld,omitempty"`
}

// Synthetic records the shape and type of a synthetic speed run.
type Synthetic struct {
	Shape string `json:"shape"`
	Type  string `json:"type"`
}

// Tool records the program that produced a report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Created string `json:"created,omitempty"`
}

// New returns an empty report with its schema set.
func New() *Report { return &Report{Schema: Schema} }

// Name returns a short label for the report: the model file's base name,
// or the synthetic shape.
func (r *Report) Name() string {
	switch {
	case r.Model != nil && r.Model.Path != "":
		return baseName(r.Model.Path)
	case r.Synthetic != nil:
		return r.Synthetic.Shape + " " + r.Synthetic.Type
	}
	return "report"
}

// PPLRatio returns perplexity / baseline perplexity, and false when either
// is missing.
func (r *Report) PPLRatio() (float64, bool) {
	if r.Perplexity == nil || r.Baseline == nil || !(r.Baseline.Perplexity > 0) {
		return 0, false
	}
	return r.Perplexity.Value / r.Baseline.Perplexity, true
}

// MarshalIndent returns the report as indented JSON with a final newline;
// objects and arrays without nested ones (a task item, a list of numbers)
// are written on one line, which keeps per-item and per-chunk data small.
func (r *Report) MarshalIndent() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(compactLeaves(b), '\n'), nil
}

// compactLeaves rewrites every object or array of valid JSON b that holds
// no object or array on one line.
func compactLeaves(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		switch c := b[i]; c {
		case '"':
			j := skipString(b, i)
			out = append(out, b[i:j]...)
			i = j
		case '{', '[':
			if j, leaf := leafEnd(b, i); leaf {
				var buf bytes.Buffer
				if json.Compact(&buf, b[i:j]) == nil {
					out = append(out, spaceAfterCommas(buf.Bytes())...)
					i = j
					continue
				}
			}
			out = append(out, c)
			i++
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

// skipString returns the index after the JSON string starting at b[i].
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// leafEnd returns the index after the container opened at b[i] and whether
// it holds no nested container.
func leafEnd(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); {
		switch b[j] {
		case '"':
			j = skipString(b, j)
			continue
		case '{', '[':
			return 0, false
		case '}', ']':
			return j + 1, true
		}
		j++
	}
	return 0, false
}

// spaceAfterCommas adds a space after the commas and colons of compact
// JSON outside strings.
func spaceAfterCommas(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/4)
	for i := 0; i < len(b); {
		if b[i] == '"' {
			j := skipString(b, i)
			out = append(out, b[i:j]...)
			i = j
			continue
		}
		out = append(out, b[i])
		if b[i] == ',' || b[i] == ':' {
			out = append(out, ' ')
		}
		i++
	}
	return out
}

// WriteFile writes the report as JSON to path atomically.
func (r *Report) WriteFile(path string) error {
	b, err := r.MarshalIndent()
	if err != nil {
		return err
	}
	return format.WriteFileAtomic(path, b)
}

// maxReportBytes bounds the size of a report file read by ReadReport.
const maxReportBytes = 64 << 20

// ParseReport decodes a shrink.bench/v1 report. Unknown keys are ignored
// (later versions may extend the schema); a missing or different schema is
// an error.
func ParseReport(data []byte) (*Report, error) {
	var r Report
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrReport, err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("%w: schema %q", ErrReport, r.Schema)
	}
	return &r, nil
}

// ReadReport reads a report file.
func ReadReport(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxReportBytes {
		return nil, &format.FormatError{File: path, Offset: -1, Msg: fmt.Sprintf("report of %d bytes is larger than %d", fi.Size(), maxReportBytes), Err: ErrReport}
	}
	data, err := format.ReadAt(f, fi.Size(), 0, fi.Size())
	if err != nil {
		return nil, err
	}
	r, err := ParseReport(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

func baseName(p string) string {
	for len(p) > 1 && (p[len(p)-1] == '/' || p[len(p)-1] == '\\') {
		p = p[:len(p)-1]
	}
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' || p[i] == '\\' {
			return p[i+1:]
		}
	}
	return p
}
