package shrink

// Quantize: a checkpoint to a GGUF of GGML block types, with llama.cpp's
// presets and mix rules, importance matrices or GPTQ from calibration
// text, and the size/bits-per-weight solver (solve.go).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/calib"
	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/internal/linalg"
	"github.com/shrink-llm/shrink/ollama"
	"github.com/shrink-llm/shrink/quantize"
)

// QuantizeOptions are the options of Quantize; each field's JSON name is
// the flag of `shrink quantize` that sets it. The zero value of a field is
// the command's default.
type QuantizeOptions struct {
	// Type is a preset (llama.cpp's, e.g. "q4_k_m") or a pure type;
	// required unless a target or a recipe is given (then "q4_k_m"
	// with Pure set, the types coming from the recipe).
	Type string `json:"type"`
	// Pure applies no mix rules: every quantized tensor gets the type's
	// base type.
	Pure bool `json:"pure"`
	// Rules names whose per-tensor mix rules the preset follows:
	// "llama.cpp" (llama-quantize's; the default when empty) or "ollama"
	// (quantize.RulesOllama).
	Rules string `json:"rules"`
	// TensorType forces types: "PATTERN=TYPE", PATTERN a regular
	// expression or substring of tensor names; the last match wins.
	TensorType []string `json:"tensor-type"`
	// OutputTensorType and TokenEmbeddingType force the types of
	// output.weight and token_embd.weight.
	OutputTensorType   string `json:"output-tensor-type"`
	TokenEmbeddingType string `json:"token-embedding-type"`
	// FallbackType is the type of tensors whose rows fit no block type:
	// bf16 (""), f16 or f32.
	FallbackType string `json:"fallback-type"`
	// Imatrix is an importance matrix file (llama.cpp imatrix.dat) to
	// weight the scale searches; ImatrixOut, where to write the one used.
	Imatrix    string `json:"imatrix"`
	ImatrixOut string `json:"imatrix-out"`
	// Calib is a calibration text file: the model is run over it for
	// GPTQ's Hessians or the importance matrix, and the solver's KLDs.
	Calib string `json:"calib"`
	// Method is "gptq" (the default with Calib), "imatrix" (the default
	// with Imatrix) or "rtn" (the default without either).
	Method string `json:"method"`
	// HessianMem is the MiB one block's input Hessians may take with
	// GPTQ (0: 4096; negative: none, every input uses the imatrix).
	HessianMem int `json:"hessian-mem"`
	// GPTQSequential feeds each block's GPTQ the outputs of the blocks
	// before it as quantized (the reference GPTQ's sequential mode):
	// once a block's tensors are written, the block runs again with its
	// quantized weights to make the next block's inputs. Without it every
	// block's Hessians come from the float model's activations.
	GPTQSequential bool `json:"gptq-sequential"`
	// Ctx is the calibration chunk length in tokens (0: 512; capped at
	// the model's context); Chunks the most chunks used (0: all).
	Ctx    int `json:"ctx"`
	Chunks int `json:"chunks"`
	// Threads is the number of goroutines (0: all cores); the output
	// does not depend on it. It also sets internal/linalg's thread count.
	Threads int `json:"threads"`
	// AllowRequantize allows re-quantizing already quantized tensors.
	AllowRequantize bool `json:"allow-requantize"`
	// Tokenizer is a tokenizer file to use instead of the one found with
	// the source.
	Tokenizer string `json:"tokenizer"`
	// TargetSize (bytes, or with a unit: 1.5GB, 900MiB; see ParseSize)
	// or TargetBPW (bits per weight over the file's tensors) makes the
	// solver choose each tensor's type to minimise the predicted KLD
	// within that budget; both need Calib.
	TargetSize string  `json:"target-size"`
	TargetBPW  float64 `json:"target-bpw"`
	// Recipe applies per-tensor types from a recipe file (RecipeOut of
	// an earlier solve, or a solved GGUF) instead of Type's rules.
	Recipe string `json:"recipe"`
	// RecipeOut is where the solved recipe (JSON) is written.
	RecipeOut string `json:"recipe-out"`
	// Ollama writes an Ollama Modelfile beside dst (package ollama).
	Ollama bool `json:"ollama"`
	// Sensitivity is how the solver predicts each tensor's KLD per type:
	// "exact" (every type measured), "hybrid" (SensitivityRef measured;
	// the others scaled by the Hessian error) or "auto" (""; exact up to
	// AutoExactParams parameters, hybrid above).
	Sensitivity string `json:"sensitivity"`
	// SensitivityRef is the type hybrid measures: a quantized type, or
	// "auto" ("": the largest K-quant candidate below the budget's bits
	// per weight, q3_k with exact).
	SensitivityRef string `json:"sensitivity-ref"`
	// SensitivityChunks is the calibration chunks the KLDs are measured
	// on (0: 8 with exact, 2 with hybrid).
	SensitivityChunks int `json:"sensitivity-chunks"`
	// SensitivityCache is a file of measured sensitivities: read instead
	// of measuring when it holds them for the same source, calibration
	// text, candidate types and options, else written after measuring
	// (a solve at another budget then costs no measurement).
	SensitivityCache string `json:"sensitivity-cache"`
	// CandidateTypes lists, comma-separated, the types the solver
	// chooses from ("": DefaultCandidateTypes).
	CandidateTypes string `json:"candidate-types"`

	// Progress receives progress updates (stages "calibrate",
	// "hessians", "sensitivity", "write", "measure") and warnings (stage
	// "warning", also listed in the result).
	Progress ProgressFunc `json:"-"`
}

// QuantizeResult is what Quantize did.
type QuantizeResult struct {
	// Output is the written file; FileBytes its size.
	Output    string `json:"output"`
	FileBytes int64  `json:"file_bytes"`
	// Preset is the file type recorded (the dominant type's preset when
	// the types come from a recipe).
	Preset quantize.Preset `json:"preset"`
	// Method is the method used: gptq, imatrix or rtn.
	Method string `json:"method"`
	// Tensors are the per-tensor choices, in the source's order.
	Tensors []quantize.Choice `json:"tensors"`
	// Params and TensorBytes total the tensors; BPW is their bits per
	// weight.
	Params      int64   `json:"params"`
	TensorBytes int64   `json:"tensor_bytes"`
	BPW         float64 `json:"bpw"`
	// Warnings are the warnings given (re-quantized tensors, a file over
	// its budget).
	Warnings []string `json:"warnings,omitempty"`
	// Calibrate, Solve and Write time the stages; Elapsed runs from the
	// start to the written file (the solver's measurement of the written
	// file comes after).
	Calibrate time.Duration `json:"calibrate_ns"`
	Solve     time.Duration `json:"solve_ns"`
	Write     time.Duration `json:"write_ns"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	// Solver holds the solver's figures when a target was given.
	Solver *SolveResult `json:"solver,omitempty"`
	// Modelfile is the Ollama Modelfile written beside the output
	// (Ollama set) and ModelfilePath its path.
	Modelfile     *ollama.Modelfile `json:"modelfile,omitempty"`
	ModelfilePath string            `json:"modelfile_path,omitempty"`
}

// optionErrorf returns a UsageError: options invalid alone or together.
func optionErrorf(format string, args ...any) error {
	return usageErr(fmt.Sprintf(format, args...))
}

// Quantize writes the checkpoint src (a GGUF, safetensors folder or
// llama2.c file) quantized as opt asks to the GGUF file dst, through a
// temporary file renamed into place when complete. ctx is checked between
// calibration blocks and chunks, sensitivity measurements and tensors.
//
// Memory: the source is read a chunk of rows at a time; with GPTQ the
// calibration model is a streamed mapping (one block resident), and the
// peak beside it is the chunks' residual stream (chunks·ctx·dim·4 bytes),
// one block's input Hessians (8·cols² bytes per distinct input) and the
// factor of the one being used (4·cols²).
func Quantize(ctx context.Context, src, dst string, opt QuantizeOptions) (*QuantizeResult, error) {
	j, err := newQuantizeJob(ctx, src, dst, opt)
	if err != nil {
		return nil, err
	}
	linalg.SetThreads(j.threads)
	m, err := convert.Load(src, convert.Options{Tokenizer: opt.Tokenizer})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	j.m = m
	if j.method == "gptq" || j.sc.solving() {
		// Calibration holds large pointer-free buffers (the chunks'
		// residual streams, a block's Hessians): collect garbage at 25%
		// growth instead of 100% to keep the peak near the live size;
		// marking such buffers costs little.
		defer debug.SetGCPercent(debug.SetGCPercent(25))
		j.gc = &gptqCalib{ctx: ctx, budget: j.hessBytes, layer: -1, qLayer: -1, m: m, threads: j.threads, progress: j.progress}
		defer j.gc.close()
	}
	if err := j.calibrate(); err != nil {
		return nil, err
	}
	t := time.Now()
	sv, err := j.solve()
	if err != nil {
		return nil, err
	}
	if sv != nil {
		defer sv.close()
	}
	j.res.Solve = time.Since(t)
	if err := j.write(); err != nil {
		return nil, err
	}
	if sv != nil {
		if j.res.Solver, err = sv.report(dst, j.threads, j.warn); err != nil {
			return nil, err
		}
	}
	if opt.Ollama {
		if j.res.ModelfilePath, j.res.Modelfile, err = ollama.Write(dst); err != nil {
			return nil, err
		}
	}
	return j.res, nil
}

// quantizeJob is one Quantize call: its resolved options and what the
// stages hand on.
type quantizeJob struct {
	ctx       context.Context
	src, dst  string
	opt       QuantizeOptions // Method resolved
	cmdLine   string          // the options as given, Method resolved, for provenance
	method    string
	preset    quantize.Preset
	pol       quantize.Policy
	sc        *solveConfig
	ctxLen    int
	threads   int
	hessBytes int64
	start     time.Time
	res       *QuantizeResult

	m        *convert.Model
	im       *quantize.Imatrix
	gc       *gptqCalib
	calibSum string
	rec      *quantize.Recipe
}

// newQuantizeJob checks the options and resolves their defaults.
func newQuantizeJob(ctx context.Context, src, dst string, opt QuantizeOptions) (*quantizeJob, error) {
	j := &quantizeJob{ctx: ctx, src: src, dst: dst, start: time.Now(), res: &QuantizeResult{Output: dst}}
	given := opt
	sc, err := newSolveConfig(&opt)
	if err != nil {
		return nil, err
	}
	j.sc = sc
	pure := opt.Pure
	if opt.Type == "" && (sc.solving() || sc.recipeIn != "") {
		opt.Type, pure = "q4_k_m", true // file type set from the recipe; no mix rules
	}
	if opt.Type == "" {
		return nil, optionErrorf("--type is required (one of %s)", strings.Join(quantize.Presets(), ", "))
	}
	preset, ok := quantize.LookupPreset(opt.Type)
	if !ok {
		return nil, optionErrorf("--type %q: want one of %s", opt.Type, strings.Join(quantize.Presets(), ", "))
	}
	j.preset = preset
	if !strings.HasSuffix(strings.ToLower(dst), ".gguf") {
		return nil, optionErrorf("DST must end in .gguf")
	}
	if err := j.resolveMethod(&opt); err != nil {
		return nil, err
	}
	j.ctxLen = opt.Ctx
	if j.ctxLen == 0 {
		j.ctxLen = 512
	}
	if j.ctxLen < 2 || opt.Chunks < 0 {
		return nil, optionErrorf("--ctx must be at least 2 and --chunks not negative")
	}
	switch {
	case opt.HessianMem == 0:
		j.hessBytes = 4096 << 20
	case opt.HessianMem > 0:
		j.hessBytes = int64(opt.HessianMem) << 20
	}
	j.threads = opt.Threads
	if j.threads <= 0 {
		j.threads = runtime.NumCPU()
	}
	if j.pol, err = policy(preset, pure, &opt); err != nil {
		return nil, err
	}
	j.opt, j.method = opt, opt.Method
	given.Method = opt.Method // so the provenance records the method used
	j.cmdLine = given.commandLine()
	j.res.Method = opt.Method
	return j, nil
}

// resolveMethod sets opt.Method's default and checks it against the
// calibration options.
func (j *quantizeJob) resolveMethod(opt *QuantizeOptions) error {
	if opt.Imatrix != "" && opt.Calib != "" {
		return optionErrorf("give --imatrix or --calib, not both")
	}
	if opt.Method == "" {
		switch {
		case opt.Calib != "":
			opt.Method = "gptq" // lower KLD than llama.cpp's imatrix at equal type: the GPTQ tests assert at least 15% (they measure 28-51%)
		case opt.Imatrix != "":
			opt.Method = "imatrix"
		default:
			opt.Method = "rtn" // nothing to calibrate with: ggml's reference quantizers
		}
	}
	switch opt.Method {
	case "imatrix":
	case "rtn":
		opt.Imatrix, opt.Calib = "", ""
	case "gptq":
		if opt.Calib == "" {
			return optionErrorf("--method gptq needs --calib (the layers' input Hessians come from running the model)")
		}
	default:
		return optionErrorf("--method %q: want imatrix, gptq or rtn", opt.Method)
	}
	if opt.GPTQSequential && opt.Method != "gptq" {
		return optionErrorf("--gptq-sequential needs --method gptq (with --calib)")
	}
	if j.sc.solving() && opt.Calib == "" {
		return optionErrorf("--target-size and --target-bpw need --calib TEXT (the tensors' sensitivities come from running the model)")
	}
	return nil
}

// policy builds the type policy of the options.
func policy(preset quantize.Preset, pure bool, opt *QuantizeOptions) (quantize.Policy, error) {
	pol := quantize.Policy{Preset: preset, Pure: pure, Rules: quantize.RuleSet(opt.Rules)}
	fb := or(opt.FallbackType, "bf16")
	if t, ok := format.ParseDType(fb); ok && (t == format.F16 || t == format.BF16 || t == format.F32) {
		pol.LastResort = quantize.OptionalType{Type: t, Set: true}
	} else {
		return pol, optionErrorf("--fallback-type %q: want bf16, f16 or f32", fb)
	}
	for _, s := range opt.TensorType {
		o, err := quantize.ParseOverride(s)
		if err != nil {
			return pol, optionErrorf("--tensor-type: %v", err)
		}
		pol.Overrides = append(pol.Overrides, o)
	}
	for _, x := range []struct {
		flag, val string
		dst       *quantize.OptionalType
	}{{"--output-tensor-type", opt.OutputTensorType, &pol.OutputType}, {"--token-embedding-type", opt.TokenEmbeddingType, &pol.TokenEmbeddingType}} {
		if x.val == "" {
			continue
		}
		t, err := quantize.ParseWritableType(x.val)
		if err != nil {
			return pol, optionErrorf("%s: %v", x.flag, err)
		}
		*x.dst = quantize.OptionalType{Type: t, Set: true}
	}
	return pol, nil
}

// progress reports a stage's progress to the options' callback.
func (j *quantizeJob) progress(stage string, done, total int, msg string) {
	j.opt.Progress.report(Progress{Stage: stage, Done: done, Total: total, Message: msg, Elapsed: time.Since(j.start)})
}

// warn records a warning and reports it as stage "warning".
func (j *quantizeJob) warn(msg string) {
	j.res.Warnings = append(j.res.Warnings, msg)
	j.progress("warning", 0, 0, msg)
}

// calibrate reads the importance matrix, or computes it (and with GPTQ or
// the solver, the residual statistics and output.weight's Hessian) from
// the calibration text.
func (j *quantizeJob) calibrate() error {
	t := time.Now()
	defer func() { j.res.Calibrate = time.Since(t) }()
	var err error
	switch {
	case j.opt.Imatrix != "":
		j.im, err = quantize.OpenImatrix(j.opt.Imatrix)
	case j.opt.Calib != "":
		j.im, j.calibSum, err = j.calibrateText()
	}
	j.pol.HasImatrix = j.im != nil
	return err
}

// solve returns the solver when a target was given, after applying its
// recipe, or a recipe read from the options, to the policy.
func (j *quantizeJob) solve() (*solver, error) {
	infos := j.infos()
	in := sensitivityInput{m: j.m, gc: j.gc, im: j.im, gptq: j.method == "gptq", threads: j.threads, progress: j.progress}
	if j.sc.solving() && j.opt.SensitivityCache != "" {
		base, err := j.cacheKeyBase()
		if err != nil {
			return nil, err
		}
		in.cache, in.keyBase = j.opt.SensitivityCache, base
	}
	rec, sv, err := solveOrRead(j.ctx, j.sc, j.pol, infos, quantize.InfoOf(j.m.Config), in, j.opt.Calib, j.ctxLen)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		j.pol.Overrides = append(rec.Overrides(), j.pol.Overrides...) // the user's pins win
		if p, ok := dominantPreset(rec); ok {
			j.preset = p
		}
	}
	j.rec = rec
	return sv, nil
}

// infos returns the source's tensor infos.
func (j *quantizeJob) infos() []format.TensorInfo {
	infos := make([]format.TensorInfo, len(j.m.Tensors))
	for i, t := range j.m.Tensors {
		infos[i] = t.Info()
	}
	return infos
}

// plan chooses every tensor's type and orders the plans: block by block
// with GPTQ, as its pass calibrates one block at a time (a Hugging Face
// checkpoint may list blk.10 before blk.2).
func (j *quantizeJob) plan() ([]quantize.Choice, []convert.Plan, error) {
	choices, err := j.pol.Choose(j.infos(), quantize.InfoOf(j.m.Config))
	if err != nil {
		return nil, nil, err
	}
	plans := make([]convert.Plan, len(choices))
	var requant []string
	for i, ch := range choices {
		plans[i] = convert.Plan{Tensor: j.m.Tensors[i], Out: ch.Type}
		if ch.Src.Quantized() && ch.Type != ch.Src {
			requant = append(requant, fmt.Sprintf("%s (%s -> %s)", ch.Name, ch.Src, ch.Type))
		}
		if j.im != nil && ch.Type.Quantized() {
			if _, err := j.im.CheckShape(ch.Name, ch.Shape[0], ch.Shape[2:]...); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", j.opt.Imatrix+j.opt.Calib, err)
			}
		}
	}
	if j.gc != nil {
		key := func(name string) int {
			if l, ok := blockIndex(name); ok {
				return l
			}
			return -1
		}
		sort.SliceStable(plans, func(a, b int) bool { return key(plans[a].Name) < key(plans[b].Name) })
	}
	if len(requant) > 0 {
		if !j.opt.AllowRequantize {
			return nil, nil, fmt.Errorf("%s: requantizing is disabled: %d tensor(s) are already quantized, e.g. %s; quantize from the original checkpoint or pass --allow-requantize", j.src, len(requant), requant[0])
		}
		j.warn(fmt.Sprintf("re-quantizing %d already quantized tensor(s) (e.g. %s); quality will be worse than quantizing the original", len(requant), requant[0]))
	}
	return choices, plans, nil
}

// write writes the file and fills the result's totals.
func (j *quantizeJob) write() error {
	t := time.Now()
	choices, plans, err := j.plan()
	if err != nil {
		return err
	}
	if j.im != nil && j.opt.ImatrixOut != "" {
		if err := j.im.WriteFile(j.opt.ImatrixOut); err != nil {
			return err
		}
	}
	md, err := j.metadata()
	if err != nil {
		return err
	}
	// The source's hash is computed while the tensors are quantized and
	// patched into the header at the end.
	type hashResult struct {
		sum string
		err error
	}
	hashed := make(chan hashResult, 1)
	go func() {
		sum, err := sourceSHA256(j.m)
		hashed <- hashResult{sum, err}
	}()
	opt := convert.QuantizeOptions{Threads: j.threads, Context: j.ctx, Deferred: map[string]func() (string, error){
		"shrink.source.sha256": func() (string, error) { r := <-hashed; return r.sum, r.err },
	}}
	if j.im != nil {
		opt.Importance = func(name string) []float32 {
			t, _ := j.m.Tensor(name) // every plan is one of m's tensors
			v, _ := j.im.CheckShape(name, t.Shape[0], t.Shape[2:]...)
			return v
		}
	}
	if j.gc != nil && j.method == "gptq" {
		opt.Chunked = j.gc.encoder
		if j.opt.GPTQSequential {
			j.gc.sequential(opt.Importance, j.warn)
		}
	}
	opt.Progress = writeProgress(plans, j.progress)
	if err := j.m.WriteQuantized(j.dst, md, plans, opt); err != nil {
		return err
	}
	j.progress("write", len(plans), len(plans), "")
	j.res.Write, j.res.Elapsed = time.Since(t), time.Since(j.start)
	j.res.Preset, j.res.Tensors = j.preset, choices
	for _, c := range choices {
		info := format.TensorInfo{Name: c.Name, Type: c.Type, Shape: c.Shape}
		j.res.Params += info.NumElements()
		j.res.TensorBytes += info.Bytes()
	}
	j.res.BPW = 8 * float64(j.res.TensorBytes) / float64(max(j.res.Params, 1))
	j.res.FileBytes = bench.DiskSize(j.dst)
	return nil
}

// writeProgress returns the writer's progress callback: the plan, and the
// share of all elements written.
func writeProgress(plans []convert.Plan, progress func(string, int, int, string)) func(int, convert.Plan, int64) {
	var total int64
	before := make([]int64, len(plans))
	for i, p := range plans {
		before[i] = total
		total += p.Info().NumElements()
	}
	return func(i int, p convert.Plan, done int64) {
		progress("write", i, len(plans), fmt.Sprintf("[%d/%d] %5.1f%% %s -> %s", i+1, len(plans), 100*float64(before[i]+done)/float64(max(total, 1)), p.Name, p.Out))
	}
}

// metadata returns the model's metadata with llama-quantize's keys and
// shrink's provenance; shrink.source.sha256 holds a placeholder.
func (j *quantizeJob) metadata() (*gguf.Metadata, error) {
	md, err := j.m.GGUFMetadata(format.F32)
	if err != nil {
		return nil, err
	}
	md.Set("general.file_type", gguf.Uint32(j.preset.FileType))
	md.Set("general.quantization_version", gguf.Uint32(2))
	md.Set("shrink.version", gguf.String(Version))
	md.Set("shrink.source.sha256", gguf.String(strings.Repeat("0", 2*sha256.Size)))
	md.Set("shrink.recipe", gguf.String(j.cmdLine))
	md.Delete(quantize.RecipeKey)
	if j.rec != nil {
		md.Set(quantize.RecipeKey, gguf.String(j.rec.Compact()))
	}
	md.Delete("shrink.calib.sha256")
	for _, k := range []string{"file", "dataset", "entries_count", "chunks_count"} {
		md.Delete("quantize.imatrix." + k)
	}
	if j.calibSum != "" {
		md.Set("shrink.calib.sha256", gguf.String(j.calibSum))
	}
	if im := j.im; im != nil {
		name := or(j.opt.Imatrix, j.opt.ImatrixOut)
		if name != "" {
			md.Set("quantize.imatrix.file", gguf.String(name))
		}
		if im.Dataset != "" {
			md.Set("quantize.imatrix.dataset", gguf.String(im.Dataset))
		}
		md.Set("quantize.imatrix.entries_count", gguf.Int32(int32(len(im.Entries))))
		md.Set("quantize.imatrix.chunks_count", gguf.Int32(int32(im.Chunks)))
	}
	return md, nil
}

// quantizeDefaults are the values the zero options stand for.
var quantizeDefaults = QuantizeOptions{Rules: string(quantize.RulesLlamaCpp), FallbackType: "bf16", HessianMem: 4096, Ctx: 512, Sensitivity: "auto",
	SensitivityRef: "auto", CandidateTypes: DefaultCandidateTypes}

// commandLine returns the command line of these options, for provenance:
// "shrink quantize" and every option that differs from its default as
// --name=value, by name.
func (o QuantizeOptions) commandLine() string {
	v, def := reflect.ValueOf(o), reflect.ValueOf(quantizeDefaults)
	type flag struct{ name, val string }
	var flags []flag
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		f := v.Field(i)
		if name == "" || name == "-" || f.IsZero() || f.Kind() != reflect.Slice && f.Interface() == def.Field(i).Interface() {
			continue
		}
		switch f.Kind() {
		case reflect.Slice:
			for k := 0; k < f.Len(); k++ {
				flags = append(flags, flag{name, fmt.Sprint(f.Index(k).Interface())})
			}
		case reflect.Float64:
			flags = append(flags, flag{name, strconv.FormatFloat(f.Float(), 'g', -1, 64)})
		default:
			flags = append(flags, flag{name, fmt.Sprint(f.Interface())})
		}
	}
	sort.SliceStable(flags, func(a, b int) bool { return flags[a].name < flags[b].name })
	parts := []string{"shrink quantize"}
	for _, f := range flags {
		parts = append(parts, "--"+f.name+"="+f.val)
	}
	return strings.Join(parts, " ")
}

// sourceSHA256 hashes the checkpoint's weight files, streamed: the file
// itself, or a folder's *.safetensors files in name order.
func sourceSHA256(m *convert.Model) (string, error) {
	files := []string{m.Path}
	if fi, err := os.Stat(m.Path); err == nil && fi.IsDir() {
		names, _ := filepath.Glob(filepath.Join(m.Path, "*.safetensors"))
		sort.Strings(names)
		files = names
	}
	h := sha256.New()
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// blockIndex returns N of a tensor named "blk.N.*".
func blockIndex(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return 0, false
	}
	i := strings.IndexByte(rest, '.')
	if i <= 0 {
		return 0, false
	}
	n, err := strconv.Atoi(rest[:i])
	return n, err == nil && n >= 0
}

// imatrixObserver feeds every linear layer's input to a collector, and
// each routed expert's inputs to its per-expert importances.
type imatrixObserver struct {
	c       *quantize.Collector
	experts int // routed experts per MoE layer
}

// Linear collects the importances of a weight's input.
func (o imatrixObserver) Linear(name string, x []float32, rows, cols int) {
	o.c.Add(name, x, rows, cols)
}

// Residual is part of engine.Observer; the importances need none.
func (o imatrixObserver) Residual(int, []float32, int, int) {}

// Routing is part of engine.ExpertObserver; the importances need only the
// inputs each expert sees.
func (o imatrixObserver) Routing(int, []int32, []float32, int, int) {}

// ExpertLinear collects per-expert importances of a stacked expert weight.
func (o imatrixObserver) ExpertLinear(name string, expert int, x []float32, rows, cols int) {
	o.c.AddExpert(name, expert, o.experts, x, rows, cols)
}

// hessianObserver feeds every product's input to a Hessian collector.
type hessianObserver struct{ h *quantize.HessianCollector }

// Linear accumulates a weight's input into its Hessian.
func (o hessianObserver) Linear(name string, x []float32, rows, cols int) {
	o.h.Add(name, x, rows, cols)
}

// Residual is part of engine.Observer; the Hessians need none.
func (o hessianObserver) Residual(int, []float32, int, int) {}

// Routing is part of engine.ExpertObserver; the Hessians need only the
// inputs each expert sees.
func (o hessianObserver) Routing(int, []int32, []float32, int, int) {}

// ExpertLinear feeds the inputs routed to one expert of a stacked expert
// weight to that expert's Hessian.
func (o hessianObserver) ExpertLinear(name string, expert int, x []float32, rows, cols int) {
	o.h.Add(expertKey(name, expert), x, rows, cols)
}

// expertKey names expert e's Hessian of a stacked expert weight.
func expertKey(name string, e int) string { return fmt.Sprintf("%s#%d", name, e) }

// gptqCalib holds what GPTQ collects: the mean square of the residual
// stream entering each block and output.weight's input Hessian (from the
// calibration pass) and, block by block as the tensors are written, one
// block's input Hessians.
type gptqCalib struct {
	resSum []float64
	resN   []int64
	out    *quantize.Hessian // output.weight's, from the calibration pass

	ctx      context.Context
	m        *convert.Model
	em       *engine.Model      // the calibration model, kept open for run
	run      *calib.LayerRunner // block-by-block pass over the calibration chunks
	h        *quantize.HessianCollector
	layer    int                         // the block whose Hessians h holds (-1: none)
	seq      bool                        // sequential: Hessians from the quantized blocks' outputs
	imp      func(name string) []float32 // rounding's importances (seq)
	q        []engine.Tensor             // block qLayer's written tensors (seq)
	qLayer   int                         // -1: none
	patched  bool                        // a block has run quantized (seq)
	warn     func(string)                // reports a weight Patch refused (seq)
	warned   map[string]bool             // the weights reported, block prefix cut
	budget   int64                       // bytes of one block's Hessians
	threads  int
	progress func(stage string, done, total int, msg string)
}

// close releases the calibration model.
func (g *gptqCalib) close() {
	if g.em != nil {
		g.em.Close()
		g.em = nil
	}
}

// encoder returns the GPTQ encoder of a tensor written as out, or nil
// when GPTQ does not write it (importance-weighted rounding instead). GPTQ
// quantizes rows independently given the factor of their input's Hessian
// (made once, in place, for every tensor sharing the input), so each
// tensor streams through in chunks of rows.
func (g *gptqCalib) encoder(name string, out format.DType) convert.ChunkEncoder {
	enc := g.gptqEncoder(name, out)
	if g.seq {
		return g.record(name, out, enc)
	}
	return enc
}

// gptqEncoder is encoder without the sequential pass's recording.
func (g *gptqCalib) gptqEncoder(name string, out format.DType) convert.ChunkEncoder {
	if !quantize.GPTQSupported(out) {
		return nil
	}
	if name == "token_embd.weight" {
		return g.embedding(out)
	}
	h, err := g.hessian(name)
	if err != nil {
		return func([]byte, []float32, int, int, int) error { return err }
	}
	if t, _ := g.m.Tensor(name); len(t.Shape) == 3 {
		n := int(t.Shape[2])
		return g.experts(name, n, int(t.Info().Rows())/n, out)
	}
	if h == nil {
		return nil
	}
	return func(dst []byte, x []float32, _, rows, cols int) error {
		if err := g.ctx.Err(); err != nil {
			return err
		}
		if h.Cols != cols {
			return fmt.Errorf("%w: Hessian of %d columns for rows of %d", quantize.ErrGPTQ, h.Cols, cols)
		}
		f, err := h.Factor(0)
		if err != nil {
			return err
		}
		return quantize.GPTQWithFactor(out, dst, x, rows, cols, f, quantize.GPTQOptions{Threads: g.threads})
	}
}

// experts returns the GPTQ encoder of a stacked expert tensor of n
// experts of per rows: each expert's rows with the Hessian of the tokens
// routed to it. It returns nil (importance-weighted rounding instead) when
// an expert has no Hessian (never routed, or beyond the memory budget).
func (g *gptqCalib) experts(name string, n, per int, out format.DType) convert.ChunkEncoder {
	hs := make([]*quantize.Hessian, n)
	for e := range hs {
		if hs[e] = g.h.Hessian(expertKey(name, e)); hs[e] == nil {
			return nil
		}
	}
	return func(dst []byte, x []float32, row0, rows, cols int) error {
		rb, err := out.RowBytes(int64(cols))
		if err != nil {
			return err
		}
		// The chunk's rows, expert by expert.
		for a := 0; a < rows; {
			e := (row0 + a) / per
			b := min(rows, (e+1)*per-row0)
			h := hs[e]
			if h.Cols != cols {
				return fmt.Errorf("%w: Hessian of %d columns for rows of %d", quantize.ErrGPTQ, h.Cols, cols)
			}
			f, err := h.Factor(0)
			if err == nil {
				err = quantize.GPTQWithFactor(out, dst[int64(a)*rb:int64(b)*rb], x[a*cols:b*cols], b-a, cols, f, quantize.GPTQOptions{Threads: g.threads})
			}
			if err != nil {
				return fmt.Errorf("expert %d: %w", e, err)
			}
			a = b
		}
		return nil
	}
}

// hessian returns the input Hessian of the weight called name, or nil when
// it has none (not a product's weight, or over the memory budget). For a
// block's weight it runs the block-by-block pass up to that block (from
// the start again if the pass is past it; the plans are written in block
// order), releasing the previous block's Hessians first.
func (g *gptqCalib) hessian(name string) (*quantize.Hessian, error) {
	if name == "output.weight" {
		if g.out == nil || g.out.Count == 0 {
			return nil, nil
		}
		return g.out, nil
	}
	l, ok := blockIndex(name)
	if g.run == nil || !ok || l >= g.em.Config.Layers {
		return nil, nil
	}
	if l != g.layer {
		if g.h != nil {
			// The previous block's Hessians, freed before the next are
			// made: its tensors are written.
			g.h = nil
			debug.FreeOSMemory()
		}
		if err := g.advance(l); err != nil {
			return nil, err
		}
		g.h = quantize.NewHessianCollector(g.budget)
		step := g.run.Step
		if g.seq {
			// The residuals stay at the block's input: once its tensors
			// are written it runs again, quantized (advance).
			step = func(obs engine.Observer, _ func(in, out []float32)) error { return g.run.Observe(obs) }
		}
		if err := step(hessianObserver{g.h}, nil); err != nil {
			return nil, err
		}
		g.layer = l
		g.progress("hessians", l+1, g.em.Config.Layers, "")
	}
	return g.h.Hessian(name), nil
}

// advance moves the block-by-block pass to block l (from the start again
// when it is past it).
func (g *gptqCalib) advance(l int) error {
	if l < g.run.Next() {
		if g.patched {
			return fmt.Errorf("sequential GPTQ: block %d is needed after block %d ran quantized", l, g.run.Next()-1)
		}
		if err := g.run.Restart(); err != nil {
			return err
		}
	}
	for g.run.Next() < l {
		if err := g.ctx.Err(); err != nil {
			return err
		}
		if err := g.stepQuantized(); err != nil {
			return err
		}
	}
	return g.ctx.Err()
}

// stepQuantized runs the pass's next block, with its written tensors in
// place of the float ones when the sequential pass recorded them.
func (g *gptqCalib) stepQuantized() error {
	l := g.run.Next()
	if !g.seq || l != g.qLayer {
		return g.run.Step(nil, nil)
	}
	var restores []func()
	defer func() {
		for i := len(restores) - 1; i >= 0; i-- {
			restores[i]()
		}
		g.q, g.qLayer = nil, -1
	}()
	for _, t := range g.q {
		restore, err := g.em.Patch(t)
		if errors.Is(err, engine.ErrPatch) {
			// A weight the engine cannot replace runs as float.
			_, kind, _ := strings.Cut(strings.TrimPrefix(t.Name, "blk."), ".")
			if g.warn != nil && !g.warned[kind] {
				g.warned[kind] = true
				g.warn(fmt.Sprintf("--gptq-sequential: %v; it feeds the next block unquantized (in every block)", err))
			}
			continue
		}
		if err != nil {
			return err
		}
		restores = append(restores, restore)
	}
	g.patched = true
	return g.run.Step(nil, nil)
}

// sequential turns on the sequential pass for the write (imp: the
// rounding's importances of tensors GPTQ does not write; warn: reports
// a weight the engine cannot replace): the Hessians a solve may have
// left are dropped, as they came from float inputs.
func (g *gptqCalib) sequential(imp func(name string) []float32, warn func(string)) {
	g.seq, g.imp, g.warn, g.warned = true, imp, warn, map[string]bool{}
	g.h, g.layer = nil, -1
	g.q, g.qLayer = nil, -1
}

// record wraps enc (nil: importance-weighted rounding, as the writer
// does without an encoder) to keep a block's written bytes for the
// sequential pass, which runs the block with them once all are written.
func (g *gptqCalib) record(name string, out format.DType, enc convert.ChunkEncoder) convert.ChunkEncoder {
	l, ok := blockIndex(name)
	t, found := g.m.Tensor(name)
	if !ok || !found || g.run == nil || l >= g.em.Config.Layers {
		return enc
	}
	info := format.TensorInfo{Name: name, Type: out, Shape: t.Shape}
	rows := info.Rows()
	if enc == nil {
		enc = g.rounding(name, out, int(rows))
	}
	data := make([]byte, info.Bytes())
	return func(dst []byte, x []float32, row0, n, cols int) error {
		if err := enc(dst, x, row0, n, cols); err != nil {
			return err
		}
		rb := int64(len(dst)) / int64(max(n, 1))
		copy(data[int64(row0)*rb:], dst)
		if int64(row0+n) == rows {
			if l != g.qLayer {
				g.q, g.qLayer = nil, l
			}
			g.q = append(g.q, engine.Tensor{Name: name, Type: out, Shape: t.Shape, Data: data})
		}
		return nil
	}
}

// rounding returns the importance-weighted rounding the writer applies
// to a tensor of rows rows without an encoder (a stacked expert tensor's
// importances per expert), as a chunk encoder.
func (g *gptqCalib) rounding(name string, out format.DType, rows int) convert.ChunkEncoder {
	var imp []float32
	if g.imp != nil {
		imp = g.imp(name)
	}
	return func(dst []byte, x []float32, row0, n, cols int) error {
		return quantize.EncodeExpertRows(out, dst, x, cols, imp, row0, rows, g.threads)
	}
}

// embedding returns the GPTQ encoder of the token embedding, with the
// Hessian of its consumers (quantize.EmbeddingHessian) factored at its
// first chunk, or nil when the model ties it to the output.
func (g *gptqCalib) embedding(out format.DType) convert.ChunkEncoder {
	if _, ok := g.m.Tensor("output.weight"); !ok {
		return nil // tied: the embedding is also the output projection
	}
	var f *quantize.GPTQFactor // made at the first chunk; nil: no Hessian
	made := false
	return func(dst []byte, x []float32, _, rows, cols int) error {
		if !made {
			made = true
			if H := g.embeddingHessian(cols); H != nil {
				var err error
				if f, err = quantize.NewGPTQFactor(H, cols, 0); err != nil {
					return err
				}
			}
		}
		if f == nil {
			return quantize.EncodeRows(out, dst, x, cols, nil, g.threads)
		}
		return quantize.GPTQWithFactor(out, dst, x, rows, cols, f, quantize.GPTQOptions{Threads: g.threads})
	}
}

// embeddingConsumers are the projections reading each block's normalised
// residual stream, by the norm they read it through: a dense block's q, k,
// v, gate and up; latent attention's (deepseek2) query and key/value
// down-projections; a mixture-of-experts block's shared expert and its
// routed experts (stacked: the mean expert, as a token's output is a
// weighted mix of experts). Without the MoE and latent-attention names
// the embedding's Hessian of those models missed their feed-forward or
// attention entirely and over-weighted the rest.
var embeddingConsumers = []struct {
	norm string
	ws   []string
}{
	{"attn_norm", []string{"attn_q", "attn_k", "attn_v", "attn_q_a", "attn_kv_a_mqa"}},
	{"ffn_norm", []string{"ffn_gate", "ffn_up", "ffn_gate_shexp", "ffn_up_shexp", "ffn_gate_exps", "ffn_up_exps"}},
}

// embeddingHessian returns the token embedding's Hessian from its
// consumers (quantize.EmbeddingHessian), one consumer weight in memory at
// a time, or nil when it has none.
func (g *gptqCalib) embeddingHessian(cols int) []float64 {
	m := g.m
	read := func(name string) []float32 {
		t, ok := m.Tensor(name)
		if !ok {
			return nil
		}
		v, err := m.ReadFloat32(t)
		if err != nil {
			return nil
		}
		return v
	}
	var H []float64
	layers := min(m.Config.Layers, len(g.resN))
	// About 4·10⁹ multiply-adds at most.
	maxRows := max(64, int(4e9/(float64(cols)*float64(cols)*float64(max(5*layers, 1)))))
	for l := 0; l < layers; l++ {
		if g.resN[l] == 0 || !(g.resSum[l] > 0) {
			continue
		}
		scale := float64(g.resN[l]) / g.resSum[l]
		p := fmt.Sprintf("blk.%d.", l)
		for _, c := range embeddingConsumers {
			gain := read(p + c.norm + ".weight")
			if len(gain) != cols {
				continue
			}
			for _, w := range c.ws {
				if v, rows := readSampled(m, p+w+".weight", cols, maxRows); v != nil {
					s := scale
					if strings.HasSuffix(w, "_exps") {
						// All the experts' rows: their mean, one expert's worth.
						s /= float64(max(m.Config.Experts, 1))
					}
					t := quantize.EmbeddingHessian(cols, []quantize.EmbeddingTerm{{Norm: gain, Weight: v, Scale: s, Rows: rows}}, maxRows)
					if H == nil {
						H = t
					} else {
						for i, v := range t {
							H[i] += v
						}
					}
				}
			}
		}
	}
	return H
}

// readSampled streams the weight called name (rows of cols values) and
// keeps the rows EmbeddingHessian samples from it (quantize.SampleStep),
// so a stacked expert tensor is never held whole; it returns them and the
// weight's row count, or nil when there is no such tensor or it cannot be
// read.
func readSampled(m *convert.Model, name string, cols, maxRows int) ([]float32, int) {
	t, ok := m.Tensor(name)
	if !ok || t.Info().Shape[0] != int64(cols) {
		return nil, 0
	}
	rows := int(t.Info().Rows())
	r, err := m.Open(convert.Plan{Tensor: t, Out: format.F32}, false)
	if err != nil {
		return nil, 0
	}
	step := quantize.SampleStep(rows, maxRows)
	buf := make([]byte, 4*cols)
	out := make([]float32, 0, (rows+step-1)/step*cols)
	for i := 0; i < rows; i++ {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, 0
		}
		if i%step == 0 {
			out = out[:len(out)+cols]
			if format.DecodeFloats(format.F32, buf, out[len(out)-cols:]) != nil {
				return nil, 0
			}
		}
	}
	return out, rows
}

// calibrateText runs the model over the calibration text in chunks (BOS
// first in each, as llama-imatrix does) and returns the importance matrix
// and the text's SHA-256. With GPTQ or the solver (j.gc set) the pass runs
// block by block over a streamed mapping of the model (engine
// Options.Stream; one block's weights resident at a time), collects the
// residual statistics and output.weight's Hessian too, and leaves the
// model and the chunks in j.gc for the Hessians' own block-by-block pass.
func (j *quantizeJob) calibrateText() (*quantize.Imatrix, string, error) {
	gc, textFile := j.gc, j.opt.Calib
	text, err := os.ReadFile(textFile)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(text)
	em, err := engine.Load(j.src, engine.Options{Threads: j.threads, Tokenizer: j.opt.Tokenizer, Stream: gc != nil})
	if err != nil {
		return nil, "", err
	}
	keep := false
	defer func() {
		if !keep {
			em.Close()
		}
	}()
	toks, bos, err := bench.Tokenize(em.Vocab, string(text))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", j.src, err)
	}
	if len(toks) < 2 {
		return nil, "", fmt.Errorf("%s: calibration text gives %d tokens, too few", textFile, len(toks))
	}
	ctxLen := j.ctxLen
	if max := em.Config.Context; max > 0 && ctxLen > max {
		ctxLen = max
	}
	n, cl := calib.Chunks(len(toks), ctxLen, j.opt.Chunks)
	col := quantize.NewCollector()
	obs := imatrixObserver{c: col, experts: em.Config.Experts}
	if gc == nil {
		s := em.NewSession(cl)
		s.Observer = obs
		err := calib.RunContext(j.ctx, s, toks, n, cl, bos, func(i, n int) {
			j.progress("calibrate", i-1, n, fmt.Sprintf("calibrating: chunk %d/%d", i, n))
		})
		if err != nil {
			return nil, "", err
		}
		return col.Imatrix(n, filepath.Base(textFile)), hex.EncodeToString(sum[:]), nil
	}
	run, err := calib.NewLayerRunner(em, toks, n, cl, bos)
	if err != nil {
		return nil, "", err
	}
	run.Progress = j.blockProgress("calibrate", "calibrating", em.Config.Layers)
	c := em.Config
	gc.resSum, gc.resN = make([]float64, c.Layers), make([]int64, c.Layers)
	for run.Next() < c.Layers {
		if err := j.ctx.Err(); err != nil {
			return nil, "", err
		}
		l := run.Next()
		err := run.Step(obs, func(in, _ []float32) {
			for _, v := range in {
				gc.resSum[l] += float64(v) * float64(v)
			}
			gc.resN[l] += int64(len(in))
		})
		if err != nil {
			return nil, "", err
		}
	}
	if err := gc.outputInput(run, col); err != nil {
		return nil, "", err
	}
	if err := run.Restart(); err != nil {
		return nil, "", err
	}
	run.Progress = j.blockProgress("hessians", "GPTQ Hessians", c.Layers)
	gc.run, gc.em, keep = run, em, true
	return col.Imatrix(n, filepath.Base(textFile)), hex.EncodeToString(sum[:]), nil
}

// blockProgress returns a LayerRunner's progress callback reporting stage
// as "label: block l, chunk i/n".
func (j *quantizeJob) blockProgress(stage, label string, layers int) func(block, chunk, n int) {
	return func(block, chunk, n int) {
		j.progress(stage, block, layers, fmt.Sprintf("%s: block %d, chunk %d/%d", label, block, chunk, n))
	}
}

// outputInput feeds the input of output.weight (the final RMSNorm of the
// residual stream leaving the last block, every token) to the importance
// collector and to output.weight's Hessian.
func (g *gptqCalib) outputInput(run *calib.LayerRunner, col *quantize.Collector) error {
	c := run.Model().Config
	t, ok := g.m.Tensor("output_norm.weight")
	if !ok {
		return nil
	}
	gain, err := g.m.ReadFloat32(t)
	if err != nil {
		return err
	}
	if len(gain) != c.Dim {
		return fmt.Errorf("output_norm.weight has %d values for a width of %d", len(gain), c.Dim)
	}
	g.out = quantize.NewHessian(c.Dim)
	var xn []float32
	for _, x := range run.Residuals() {
		xn = append(xn[:0], x...)
		calib.FinalNorm(xn, x, gain, c.NormEps)
		rows := len(x) / c.Dim
		col.Add("output.weight", xn, rows, c.Dim)
		g.out.Add(xn, rows)
	}
	return nil
}
