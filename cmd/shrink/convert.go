package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/format"
)

var convertCmd = &command{
	name:    "convert",
	args:    "SRC DST [--dtype f32|f16|bf16] [--tokenizer FILE] [--mla-layout kv_b|split]",
	summary: "convert any checkpoint to a llama GGUF (DST ending in .gguf) or a Hugging Face folder",
	flags: func(fs *pflag.FlagSet) {
		fs.String("dtype", "", "type of the matrices in the output: f32, f16 or bf16 (default: as stored; 1-D tensors stay f32 in GGUF)")
		fs.String("tokenizer", "", "tokenizer file to use instead of the one found with SRC (tokenizer.model, tokenizer.json, tokenizer.bin or a GGUF)")
		fs.BoolP("quiet", "q", false, "no progress output")
		fs.String("mla-layout", "kv_b", "deepseek2 latent attention's key/value up-projection in the GGUF: kv_b (one attn_kv_b per layer, "+
			"the layout llama.cpp builds before April 2025 load, and the only one the llama.cpp this is tested against reads) or split "+
			"(attn_k_b/attn_v_b with key_length_mla, later llama.cpp's)")
	},
	run: runConvert,
}

func runConvert(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 2, "SRC DST"); err != nil {
		return err
	}
	src, dst := args[0], args[1]
	dtypeName := flagString(fs, "dtype")
	tok := flagString(fs, "tokenizer")
	quiet := flagBool(fs, "quiet")
	var dtype format.DType
	keep := dtypeName == ""
	if !keep {
		var ok bool
		dtype, ok = format.ParseDType(dtypeName)
		if !ok || (dtype != format.F32 && dtype != format.F16 && dtype != format.BF16) {
			return usageError{fmt.Sprintf("--dtype %q: want f32, f16 or bf16 (use 'shrink quantize' for block types)", dtypeName)}
		}
	}
	start := time.Now()
	m, err := convert.Load(src, convert.Options{Tokenizer: tok})
	if err != nil {
		return err
	}
	defer m.Close()
	if err := applyMLALayout(fs, m); err != nil {
		return err
	}
	m.NonFinite = warnNonFinite(os.Stderr)
	if strings.HasSuffix(strings.ToLower(dst), ".gguf") {
		plans := convert.PlanDType(m, dtype, keep)
		ftype := dominantType(plans)
		md, err := m.GGUFMetadata(ftype)
		if err != nil {
			return err
		}
		progress := progressFunc(quiet, len(plans))
		if err := m.WriteGGUF(dst, md, plans, progress); err != nil {
			return err
		}
	} else {
		if keep {
			dtype = dominantType(convert.PlanDType(m, 0, true))
		}
		if err := m.WriteHF(dst, dtype); err != nil {
			return err
		}
	}
	if !quiet {
		endProgress()
		fmt.Fprintf(os.Stderr, "wrote %s (%s) in %.1fs\n", dst, bench.HumanBytes(bench.DiskSize(dst)), time.Since(start).Seconds())
	}
	return nil
}

// warnNonFinite returns a convert.Model.NonFinite callback that prints one
// warning line per tensor copied with NaN or infinite values (convert copies
// them as they are; quantize refuses them).
func warnNonFinite(w io.Writer) func(convert.Tensor, int64, float64, int64) {
	return func(t convert.Tensor, elem int64, v float64, n int64) {
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
		endProgress()
		fmt.Fprintf(w, "shrink convert: warning: tensor %s element %d%s is %v%s; copied as is (shrink quantize refuses it)\n", name, elem, row, v, more)
	}
}

// dominantType returns the type holding the most parameters among 2-D
// tensors, which names the file's general.file_type.
func dominantType(plans []convert.Plan) format.DType {
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

// progressFunc returns a per-tensor progress callback that draws on stderr
// when it is a terminal, or nil.
func progressFunc(quiet bool, total int) func(int, convert.Plan) {
	if quiet || !isTerminal(os.Stderr) {
		return nil
	}
	return func(i int, p convert.Plan) {
		fmt.Fprintf(os.Stderr, "\r\033[K[%d/%d] %s -> %s", i+1, total, p.Name, p.Out)
	}
}

// endProgress clears a progress line drawn on a terminal.
func endProgress() {
	if isTerminal(os.Stderr) {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
}

// applyMLALayout sets a latent-attention model's up-projection layout from
// --mla-layout and prints the loader's notes (dropped MTP layers); the
// flag given for another model is an error.
func applyMLALayout(fs *pflag.FlagSet, m *convert.Model) error {
	layout := flagString(fs, "mla-layout")
	for _, n := range m.Notes {
		fmt.Fprintf(os.Stderr, "shrink convert: note: %s\n", n)
	}
	if m.Config.MLA == nil {
		if fs.Changed("mla-layout") {
			return usageError{"--mla-layout applies to deepseek2 (latent attention) models only"}
		}
		return nil
	}
	if layout != "kv_b" && layout != "split" {
		return usageError{fmt.Sprintf("--mla-layout %q: want kv_b or split", layout)}
	}
	return m.SetMLALayout(layout)
}
