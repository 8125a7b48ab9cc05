package shrink

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
)

// ConvertOptions are the options of Convert, named as shrink convert's
// flags.
type ConvertOptions struct {
	// DType is the type of the matrices in the output: f32, f16 or bf16;
	// empty keeps the stored types (1-D tensors stay f32 in GGUF).
	DType string `json:"dtype"`
	// Tokenizer is a tokenizer file to use instead of the one found with
	// the source.
	Tokenizer string `json:"tokenizer"`
	// MLALayout is deepseek2 latent attention's key/value up-projection
	// in a GGUF output: kv_b or split; empty means kv_b. Given for another
	// architecture, it is an error.
	MLALayout string `json:"mla-layout"`

	// Progress receives one update before each tensor is written.
	Progress ProgressFunc `json:"-"`
	// Log, when set, receives each note and warning line as it arises
	// ("note: ..." for the loader's remarks, "warning: tensor ..." for a
	// tensor copied with NaN or infinite values); they are also listed in
	// the result.
	Log func(line string) `json:"-"`
}

// ConvertResult describes what Convert wrote.
type ConvertResult struct {
	// Path is the output: a GGUF file or a Hugging Face folder.
	Path string `json:"path"`
	// Format is "gguf" or "hf".
	Format string `json:"format"`
	// Bytes is the size of the output on disk.
	Bytes int64 `json:"bytes"`
	// Tensors is the number of tensors written.
	Tensors int `json:"tensors"`
	// DType is the output's dominant matrix type.
	DType string `json:"dtype"`
	// Notes are the note and warning lines, as Log received them.
	Notes []string `json:"notes,omitempty"`
	// Elapsed is the time the conversion took.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Convert converts the checkpoint at src (GGUF file, safetensors file or
// Hugging Face folder, llama2.c checkpoint) to a llama GGUF file when dst
// ends in .gguf, else to a Hugging Face folder, streaming tensor by tensor.
// It stops between tensors when ctx is done, leaving no output file.
func Convert(ctx context.Context, src, dst string, opt ConvertOptions) (*ConvertResult, error) {
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var dtype format.DType
	keep := opt.DType == ""
	if !keep {
		var ok bool
		dtype, ok = format.ParseDType(opt.DType)
		if !ok || (dtype != format.F32 && dtype != format.F16 && dtype != format.BF16) {
			return nil, usageErr(fmt.Sprintf("--dtype %q: want f32, f16 or bf16 (use 'shrink quantize' for block types)", opt.DType))
		}
	}
	res := &ConvertResult{Path: dst}
	logf := func(line string) {
		res.Notes = append(res.Notes, line)
		if opt.Log != nil {
			opt.Log(line)
		}
	}
	m, err := convert.Load(src, convert.Options{Tokenizer: opt.Tokenizer})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	for _, n := range m.Notes {
		logf("note: " + n)
	}
	if err := setMLALayout(m, opt.MLALayout); err != nil {
		return nil, err
	}
	m.NonFinite = func(t convert.Tensor, elem int64, v float64, n int64) { logf(nonFiniteLine(t, elem, v, n)) }
	if strings.HasSuffix(strings.ToLower(dst), ".gguf") {
		err = convertGGUF(ctx, m, dst, dtype, keep, res, opt.Progress, start)
	} else {
		err = convertHF(ctx, m, dst, dtype, keep, res)
	}
	if err != nil {
		return nil, err
	}
	res.Bytes = bench.DiskSize(dst)
	res.Elapsed = time.Since(start)
	return res, nil
}

// convertGGUF writes m as a GGUF file.
func convertGGUF(ctx context.Context, m *convert.Model, dst string, dtype format.DType, keep bool, res *ConvertResult, progress ProgressFunc, start time.Time) error {
	plans := convert.PlanDType(m, dtype, keep)
	ftype := DominantType(plans)
	md, err := m.GGUFMetadata(ftype)
	if err != nil {
		return err
	}
	var each func(int, convert.Plan)
	if progress != nil {
		each = func(i int, p convert.Plan) {
			progress.report(Progress{Stage: "convert", Done: i, Total: len(plans),
				Message: fmt.Sprintf("%s -> %s", p.Name, p.Out), Elapsed: time.Since(start)})
		}
	}
	res.Format, res.Tensors, res.DType = "gguf", len(plans), ftype.String()
	return m.WriteGGUFContext(ctx, dst, md, plans, each)
}

// convertHF writes m as a Hugging Face folder.
func convertHF(ctx context.Context, m *convert.Model, dst string, dtype format.DType, keep bool, res *ConvertResult) error {
	if keep {
		dtype = DominantType(convert.PlanDType(m, 0, true))
	}
	res.Format, res.DType = "hf", dtype.String()
	res.Tensors = len(convert.PlanDType(m, dtype, false))
	return m.WriteHFContext(ctx, dst, dtype)
}

// setMLALayout sets a latent-attention model's up-projection layout
// (empty: kv_b); a layout given for another model is an error.
func setMLALayout(m *convert.Model, layout string) error {
	if m.Config.MLA == nil {
		if layout != "" {
			return usageErr("--mla-layout applies to deepseek2 (latent attention) models only")
		}
		return nil
	}
	if layout == "" {
		layout = "kv_b"
	}
	if layout != "kv_b" && layout != "split" {
		return usageErr(fmt.Sprintf("--mla-layout %q: want kv_b or split", layout))
	}
	return m.SetMLALayout(layout)
}

// nonFiniteLine is the warning for a tensor copied with NaN or infinite
// values (convert copies them as they are; quantize refuses them).
func nonFiniteLine(t convert.Tensor, elem int64, v float64, n int64) string {
	name := t.Name
	if t.SrcName != "" && t.SrcName != t.Name {
		name += " (" + t.SrcName + ")"
	}
	more := ""
	if n > 1 {
		more = fmt.Sprintf(", %d non-finite values in all", n)
	}
	row := ""
	if len(t.Shape) > 1 && t.Shape[0] > 0 {
		row = fmt.Sprintf(" (row %d)", elem/t.Shape[0])
	}
	return fmt.Sprintf("warning: tensor %s element %d%s is %v%s; copied as is (shrink quantize refuses it)", name, elem, row, v, more)
}

// DominantType returns the type holding the most parameters among the
// plans' matrices (2-D and larger), which names a GGUF file's
// general.file_type.
func DominantType(plans []convert.Plan) format.DType {
	count := map[format.DType]int64{}
	for _, p := range plans {
		if len(p.Shape) >= 2 {
			count[p.Out] += p.Info().NumElements()
		}
	}
	best, n := format.F32, int64(-1)
	for t, c := range count {
		if c > n || (c == n && t < best) {
			best, n = t, c
		}
	}
	return best
}
