package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/ollama"
	"github.com/shrink-llm/shrink/quantize"
)

var quantizeCmd = &command{
	name: "quantize",
	args: "SRC DST --type TYPE [--calib TEXT [--method imatrix|gptq|rtn]] [--imatrix FILE] [--threads N]\n" +
		"       shrink quantize SRC DST --target-size BYTES | --target-bpw X --calib TEXT [--recipe-out FILE]\n       shrink quantize SRC DST --recipe FILE [--calib TEXT]",
	summary: "quantize any checkpoint to a GGUF of GGML block types (llama.cpp presets and mix rules)",
	flags: func(fs *pflag.FlagSet) {
		fs.String("type", "", "preset or pure type: "+strings.Join(quantize.Presets(), " "))
		fs.Bool("pure", false, "no mix rules: every quantized tensor gets the type's base type")
		fs.String("rules", "llama.cpp", "whose per-tensor mix rules: llama.cpp (llama-quantize's) or ollama (ollama create --quantize's Go rules: deepseek2 attn_q_a, attn_q_b, attn_kv_a_mqa, attn_k_b, attn_v_b at q8_0 (attn_kv_b not); ffn_down's use-more-bits layers counted in file order, expert tensors one behind; no 70B attn_v rule; only q4_k_m, q4_k_s, q8_0 and f16/bf16/f32)")
		fs.StringArray("tensor-type", nil, "PATTERN=TYPE: force the type of tensors whose name matches PATTERN (regex or substring; repeatable, last match wins)")
		fs.String("output-tensor-type", "", "type of output.weight")
		fs.String("token-embedding-type", "", "type of token_embd.weight")
		fs.String("fallback-type", "bf16", "type for tensors whose rows fit no block type: bf16, f16 (llama.cpp's choice; can overflow activations) or f32")
		fs.String("imatrix", "", "importance matrix to weight the scale searches (llama.cpp imatrix.dat)")
		fs.String("imatrix-out", "", "write the importance matrix used (from --calib or --imatrix) to this file")
		fs.String("calib", "", "calibration text file: run the model over it and quantize with GPTQ on each layer's input Hessian (XᵀX); with --method imatrix, use the mean squared activations as llama.cpp's importance matrix instead")
		fs.String("method", "", "gptq (the default with --calib: GPTQ error feedback over each layer's input Hessian, imatrix for the types it cannot write), imatrix (importance-weighted scale searches only, as llama.cpp; the default with --imatrix) or rtn (ignore calibration; the default without either)")
		fs.Int("hessian-mem", 4096, "--method gptq: MiB of memory for one block's input Hessians (8·cols² bytes per distinct input; blocks are calibrated one at a time); inputs beyond it use the imatrix. "+
			"Peak memory of GPTQ from a GGUF, beside the streamed mapping of the model (one block resident): the calibration chunks' residual stream (chunks·ctx·dim·4 bytes), one block's Hessians (8·cols² bytes per distinct input), "+
			"the inverse-Hessian factor of the input in use (4·cols²) and a chunk of rows; no tensor is held whole, so peak RSS stays within 25% of an F16 file's size plus one block's statistics (its Hessians and the factor in use)")
		fs.Int("ctx", 512, "calibration chunk length in tokens")
		fs.Int("chunks", 0, "at most this many calibration chunks (0: all)")
		fs.Int("threads", 0, "goroutines quantizing rows (0: all cores)")
		fs.Bool("allow-requantize", false, "allow re-quantizing tensors that are already quantized (loses quality)")
		fs.String("tokenizer", "", "tokenizer file to use instead of the one found with SRC")
		fs.BoolP("quiet", "q", false, "no progress output")
		solveFlags(fs)
		fs.Bool("ollama", false, "write an Ollama Modelfile beside DST: FROM, TEMPLATE translated from the chat template, PARAMETER stop")
	},
	run: runQuantize,
}

func runQuantize(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 2, "SRC DST"); err != nil {
		return err
	}
	src, dst := args[0], args[1]
	opt, err := quantizeOptions(fs)
	if err != nil {
		return err
	}
	quiet := flagBool(fs, "quiet")
	opt.Progress = quantizeProgress(quiet)
	ctx, stop := interruptContext()
	defer stop()
	res, err := shrink.Quantize(ctx, src, dst, opt)
	if !quiet {
		endProgress()
	}
	if err != nil {
		return fromLib(err)
	}
	printSummary(stdout, dst, res.Preset, res.Tensors, res.Elapsed)
	if res.Solver != nil {
		printSolve(stdout, res.Solver)
	}
	if res.Modelfile != nil {
		printModelfile(res.ModelfilePath, res.Modelfile)
	}
	return nil
}

// printModelfile says what the Ollama Modelfile at path holds.
func printModelfile(path string, m *ollama.Modelfile) {
	family := m.Family
	if family == "" {
		family = "none"
	}
	fmt.Fprintf(stdout, "Modelfile: %s (chat template family: %s; %d stop sequences); ollama create NAME -f %s\n", path, family, len(m.Stop), path)
	for _, n := range m.Notes {
		fmt.Fprintf(stdout, "  note: %s\n", n)
	}
}

// quantizeOptions reads the flags into the library's options, with the
// checks whose zero value the options read as a default.
func quantizeOptions(fs *pflag.FlagSet) (shrink.QuantizeOptions, error) {
	opt := shrink.QuantizeOptions{
		Type: flagString(fs, "type"), Pure: flagBool(fs, "pure"), Rules: flagString(fs, "rules"), TensorType: flagStringArray(fs, "tensor-type"),
		OutputTensorType: flagString(fs, "output-tensor-type"), TokenEmbeddingType: flagString(fs, "token-embedding-type"),
		FallbackType: flagString(fs, "fallback-type"), Imatrix: flagString(fs, "imatrix"), ImatrixOut: flagString(fs, "imatrix-out"),
		Calib: flagString(fs, "calib"), Method: flagString(fs, "method"), HessianMem: flagInt(fs, "hessian-mem"),
		Ctx: flagInt(fs, "ctx"), Chunks: flagInt(fs, "chunks"), Threads: flagInt(fs, "threads"),
		AllowRequantize: flagBool(fs, "allow-requantize"), Tokenizer: flagString(fs, "tokenizer"),
		TargetSize: flagString(fs, "target-size"), TargetBPW: flagFloat64(fs, "target-bpw"),
		Recipe: flagString(fs, "recipe"), RecipeOut: flagString(fs, "recipe-out"), Ollama: flagBool(fs, "ollama"),
		Sensitivity: flagString(fs, "sensitivity"), SensitivityRef: flagString(fs, "sensitivity-ref"),
		SensitivityChunks: flagInt(fs, "sensitivity-chunks"), CandidateTypes: flagString(fs, "candidate-types"),
		SensitivityCache: flagString(fs, "sensitivity-cache"),
	}
	switch {
	case opt.FallbackType == "":
		return opt, usageError{`--fallback-type "": want bf16, f16 or f32`}
	case opt.SensitivityChunks < 0:
		return opt, usageError{"--sensitivity-chunks must not be negative"}
	case opt.HessianMem < 0:
		return opt, usageError{"--hessian-mem must not be negative"}
	case opt.Ctx < 2 || opt.Chunks < 0:
		return opt, usageError{"--ctx must be at least 2 and --chunks not negative"}
	}
	if opt.HessianMem == 0 {
		opt.HessianMem = -1 // no Hessians: every input uses the imatrix
	}
	return opt, nil
}

// quantizeProgress returns the progress callback of shrink quantize:
// warnings on stderr, and unless quiet, each stage's progress as a line
// redrawn in place when stderr is a terminal.
func quantizeProgress(quiet bool) shrink.ProgressFunc {
	stage, shown := "", false
	var last time.Time
	return func(p shrink.Progress) {
		if p.Stage == "warning" {
			if shown {
				endProgress()
				shown = false
			}
			fmt.Fprintf(os.Stderr, "shrink quantize: warning: %s\n", p.Message)
			return
		}
		if quiet || !isTerminal(os.Stderr) {
			return
		}
		if shown && (p.Stage != stage || p.Message == "") {
			endProgress()
			shown = false
		}
		stage = p.Stage
		if p.Message == "" {
			return
		}
		now := time.Now()
		if p.Stage == "write" && now.Sub(last) < 100*time.Millisecond {
			return
		}
		last = now
		fmt.Fprintf(os.Stderr, "\r\033[K%s", p.Message)
		shown = true
	}
}

// printSummary writes the table of types, fallbacks and totals.
func printSummary(w io.Writer, dst string, preset quantize.Preset, choices []quantize.Choice, took time.Duration) {
	type row struct {
		tensors       int
		params, bytes int64
	}
	rows := map[format.DType]*row{}
	var params, bytes int64
	var fallbacks []string
	for _, c := range choices {
		info := format.TensorInfo{Name: c.Name, Type: c.Type, Shape: c.Shape}
		r := rows[c.Type]
		if r == nil {
			r = &row{}
			rows[c.Type] = r
		}
		r.tensors++
		r.params += info.NumElements()
		r.bytes += info.Bytes()
		params += info.NumElements()
		bytes += info.Bytes()
		if c.Fallback {
			fallbacks = append(fallbacks, fmt.Sprintf("  %s: rows of %d do not fit %s, using %s", c.Name, c.Shape[0], c.Wanted, c.Type))
		}
	}
	types := make([]format.DType, 0, len(rows))
	for t := range rows {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool { return types[i] < types[j] })
	fmt.Fprintf(w, "%s (%s, file type %d)\n", dst, preset.Name, preset.FileType)
	fmt.Fprintf(w, "  %-8s %8s %14s %12s %6s\n", "type", "tensors", "parameters", "bytes", "bpw")
	for _, t := range types {
		r := rows[t]
		fmt.Fprintf(w, "  %-8s %8d %14d %12d %6.2f\n", t, r.tensors, r.params, r.bytes, 8*float64(r.bytes)/float64(max(r.params, 1)))
	}
	fmt.Fprintf(w, "  %-8s %8d %14d %12d %6.2f\n", "total", len(choices), params, bytes, 8*float64(bytes)/float64(max(params, 1)))
	if len(fallbacks) > 0 {
		fmt.Fprintf(w, "fallbacks (%d):\n%s\n", len(fallbacks), strings.Join(fallbacks, "\n"))
	}
	fmt.Fprintf(w, "time %.2fs\n", took.Seconds())
}
