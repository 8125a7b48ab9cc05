package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/calib"
	"github.com/shrink-llm/shrink/convert"
	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/internal/linalg"
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
			"Peak memory of GPTQ from a GGUF: the mapped model in page cache, plus the calibration chunks' residual stream (chunks·ctx·dim·4 bytes), one block's Hessians and the float32 weight being quantized with its inverse-Hessian factor")
		fs.Int("ctx", 512, "calibration chunk length in tokens")
		fs.Int("chunks", 0, "at most this many calibration chunks (0: all)")
		fs.Int("threads", 0, "goroutines quantizing rows (0: all cores)")
		fs.Bool("allow-requantize", false, "allow re-quantizing tensors that are already quantized (loses quality)")
		fs.String("tokenizer", "", "tokenizer file to use instead of the one found with SRC")
		fs.BoolP("quiet", "q", false, "no progress output")
		solveFlags(fs)
	},
	run: runQuantize,
}

func runQuantize(fs *pflag.FlagSet, args []string) error {
	if err := wantArgs(args, 2, "SRC DST"); err != nil {
		return err
	}
	src, dst := args[0], args[1]
	typeName := flagString(fs, "type")
	pure := flagBool(fs, "pure")
	tts := flagStringArray(fs, "tensor-type")
	outType := flagString(fs, "output-tensor-type")
	embType := flagString(fs, "token-embedding-type")
	imFile := flagString(fs, "imatrix")
	imOut := flagString(fs, "imatrix-out")
	calib := flagString(fs, "calib")
	ctx := flagInt(fs, "ctx")
	chunks := flagInt(fs, "chunks")
	threads := flagInt(fs, "threads")
	allowReq := flagBool(fs, "allow-requantize")
	tok := flagString(fs, "tokenizer")
	quiet := flagBool(fs, "quiet")
	fbType := flagString(fs, "fallback-type")
	method := flagString(fs, "method")
	hessMem := flagInt(fs, "hessian-mem")

	sc, err := readSolveFlags(fs)
	if err != nil {
		return err
	}
	if typeName == "" && (sc.solving() || sc.recipeIn != "") {
		typeName, pure = "q4_k_m", true // file type set from the recipe; no mix rules
	}
	if typeName == "" {
		return usageError{"--type is required (one of " + strings.Join(quantize.Presets(), ", ") + ")"}
	}
	preset, ok := quantize.LookupPreset(typeName)
	if !ok {
		return usageError{fmt.Sprintf("--type %q: want one of %s", typeName, strings.Join(quantize.Presets(), ", "))}
	}
	if !strings.HasSuffix(strings.ToLower(dst), ".gguf") {
		return usageError{"DST must end in .gguf"}
	}
	if imFile != "" && calib != "" {
		return usageError{"give --imatrix or --calib, not both"}
	}
	if method == "" {
		switch {
		case calib != "":
			method = "gptq" // lower KLD than llama.cpp's imatrix at equal type: the GPTQ tests assert at least 15% (they measure 28-51%)
		case imFile != "":
			method = "imatrix"
		default:
			method = "rtn" // nothing to calibrate with: ggml's reference quantizers
		}
		fs.Set("method", method) // so the recipe records the method used
	}
	switch method {
	case "imatrix":
	case "rtn":
		imFile, calib = "", ""
	case "gptq":
		if calib == "" {
			return usageError{"--method gptq needs --calib (the layers' input Hessians come from running the model)"}
		}
	default:
		return usageError{fmt.Sprintf("--method %q: want imatrix, gptq or rtn", method)}
	}
	if sc.solving() && calib == "" {
		return usageError{"--target-size and --target-bpw need --calib TEXT (the tensors' sensitivities come from running the model)"}
	}
	if hessMem < 0 {
		return usageError{"--hessian-mem must not be negative"}
	}
	if ctx < 2 || chunks < 0 {
		return usageError{"--ctx must be at least 2 and --chunks not negative"}
	}
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	linalg.SetThreads(threads)
	pol := quantize.Policy{Preset: preset, Pure: pure}
	pol.Rules = quantize.RuleSet(flagString(fs, "rules"))
	if t, ok := format.ParseDType(fbType); ok && (t == format.F16 || t == format.BF16 || t == format.F32) {
		pol.LastResort = quantize.OptionalType{Type: t, Set: true}
	} else {
		return usageError{fmt.Sprintf("--fallback-type %q: want bf16, f16 or f32", fbType)}
	}
	for _, s := range tts {
		o, err := quantize.ParseOverride(s)
		if err != nil {
			return usageError{"--tensor-type: " + err.Error()}
		}
		pol.Overrides = append(pol.Overrides, o)
	}
	for _, x := range []struct {
		flag, val string
		dst       *quantize.OptionalType
	}{{"--output-tensor-type", outType, &pol.OutputType}, {"--token-embedding-type", embType, &pol.TokenEmbeddingType}} {
		if x.val == "" {
			continue
		}
		t, err := quantize.ParseWritableType(x.val)
		if err != nil {
			return usageError{x.flag + ": " + err.Error()}
		}
		*x.dst = quantize.OptionalType{Type: t, Set: true}
	}

	start := time.Now()
	m, err := convert.Load(src, convert.Options{Tokenizer: tok})
	if err != nil {
		return err
	}
	defer m.Close()

	// The importance matrix: read, or computed from calibration text.
	var im *quantize.Imatrix
	var gc *gptqCalib
	if method == "gptq" || sc.solving() {
		// Calibration holds large pointer-free buffers (the chunks'
		// residual streams, a block's Hessians, a whole float32 tensor):
		// collect garbage at 25% growth instead of 100% to keep the peak
		// near the live size; marking such buffers costs little.
		debug.SetGCPercent(25)
		gc = &gptqCalib{budget: int64(hessMem) << 20, layer: -1, m: m, threads: threads, quiet: quiet}
		defer gc.close()
	}
	var calibSum string
	switch {
	case imFile != "":
		if im, err = quantize.OpenImatrix(imFile); err != nil {
			return err
		}
	case calib != "":
		if im, calibSum, err = calibrate(src, tok, calib, ctx, chunks, threads, quiet, gc); err != nil {
			return err
		}
	}
	pol.HasImatrix = im != nil
	infos := make([]format.TensorInfo, len(m.Tensors))
	for i, t := range m.Tensors {
		infos[i] = t.Info()
	}
	c := m.Config
	mi := quantize.InfoOf(c)
	rec, sv, err := solveOrRead(sc, pol, infos, mi, sensitivityInput{m, gc, im, method == "gptq", threads, quiet}, calib, ctx)
	if err != nil {
		return err
	}
	if sv != nil {
		defer sv.close()
	}
	if rec != nil {
		pol.Overrides = append(rec.Overrides(), pol.Overrides...) // the user's pins win
		if p, ok := dominantPreset(rec); ok {
			preset = p
		}
	}

	choices, err := pol.Choose(infos, mi)
	if err != nil {
		return err
	}
	plans := make([]convert.Plan, len(choices))
	var requant []string
	for i, ch := range choices {
		plans[i] = convert.Plan{Tensor: m.Tensors[i], Out: ch.Type}
		if ch.Src.Quantized() && ch.Type != ch.Src {
			requant = append(requant, fmt.Sprintf("%s (%s -> %s)", ch.Name, ch.Src, ch.Type))
		}
		if im != nil && ch.Type.Quantized() {
			if _, err := im.CheckShape(ch.Name, ch.Shape[0], ch.Shape[2:]...); err != nil {
				return fmt.Errorf("%s: %w", imFile+calib, err)
			}
		}
	}
	if gc != nil {
		// Block by block, as GPTQ's pass calibrates one block at a time
		// (a Hugging Face checkpoint may list blk.10 before blk.2).
		key := func(name string) int {
			if l, ok := blockIndex(name); ok {
				return l
			}
			return -1
		}
		sort.SliceStable(plans, func(a, b int) bool { return key(plans[a].Name) < key(plans[b].Name) })
	}
	if len(requant) > 0 {
		if !allowReq {
			return fmt.Errorf("%s: requantizing is disabled: %d tensor(s) are already quantized, e.g. %s; quantize from the original checkpoint or pass --allow-requantize", src, len(requant), requant[0])
		}
		fmt.Fprintf(os.Stderr, "shrink quantize: warning: re-quantizing %d already quantized tensor(s) (e.g. %s); quality will be worse than quantizing the original\n", len(requant), requant[0])
	}
	if im != nil && imOut != "" {
		if err := im.WriteFile(imOut); err != nil {
			return err
		}
	}

	// Metadata: the model's, then llama-quantize's keys and provenance.
	md, err := m.GGUFMetadata(format.F32)
	if err != nil {
		return err
	}
	md.Set("general.file_type", gguf.Uint32(preset.FileType))
	md.Set("general.quantization_version", gguf.Uint32(2))
	// The source's hash is computed while the tensors are quantized and
	// patched into the header at the end.
	type hashResult struct {
		sum string
		err error
	}
	hashed := make(chan hashResult, 1)
	go func() {
		sum, err := sourceSHA256(m)
		hashed <- hashResult{sum, err}
	}()
	md.Set("shrink.version", gguf.String(version))
	md.Set("shrink.source.sha256", gguf.String(strings.Repeat("0", 2*sha256.Size)))
	md.Set("shrink.recipe", gguf.String(recipe(fs)))
	md.Delete(quantize.RecipeKey)
	if rec != nil {
		md.Set(quantize.RecipeKey, gguf.String(rec.Compact()))
	}
	md.Delete("shrink.calib.sha256")
	for _, k := range []string{"file", "dataset", "entries_count", "chunks_count"} {
		md.Delete("quantize.imatrix." + k)
	}
	if calibSum != "" {
		md.Set("shrink.calib.sha256", gguf.String(calibSum))
	}
	if im != nil {
		name := imFile
		if name == "" {
			name = imOut
		}
		if name != "" {
			md.Set("quantize.imatrix.file", gguf.String(name))
		}
		if im.Dataset != "" {
			md.Set("quantize.imatrix.dataset", gguf.String(im.Dataset))
		}
		md.Set("quantize.imatrix.entries_count", gguf.Int32(int32(len(im.Entries))))
		md.Set("quantize.imatrix.chunks_count", gguf.Int32(int32(im.Chunks)))
	}

	opt := convert.QuantizeOptions{Threads: threads, Deferred: map[string]func() (string, error){
		"shrink.source.sha256": func() (string, error) { r := <-hashed; return r.sum, r.err },
	}}
	if im != nil {
		opt.Importance = func(name string) []float32 {
			t, _ := m.Tensor(name) // every plan is one of m's tensors
			v, _ := im.CheckShape(name, t.Shape[0], t.Shape[2:]...)
			return v
		}
	}
	if gc != nil && method == "gptq" {
		// GPTQ quantizes rows independently given the factor of their
		// input's Hessian (made once, in place, for every tensor sharing
		// the input), so each tensor streams through in chunks of rows.
		opt.Chunked = func(name string, out format.DType) convert.ChunkEncoder {
			if !quantize.GPTQSupported(out) {
				return nil
			}
			if name == "token_embd.weight" {
				return gc.embedding(m, out, threads)
			}
			h, err := gc.hessian(name)
			if err != nil {
				return func([]byte, []float32, int, int, int) error { return err }
			}
			if t, _ := m.Tensor(name); len(t.Shape) == 3 {
				n := int(t.Shape[2])
				return gc.experts(name, n, int(t.Info().Rows())/n, out, threads)
			}
			if h == nil {
				return nil
			}
			return func(dst []byte, x []float32, _, rows, cols int) error {
				if h.Cols != cols {
					return fmt.Errorf("%w: Hessian of %d columns for rows of %d", quantize.ErrGPTQ, h.Cols, cols)
				}
				f, err := h.Factor(0)
				if err != nil {
					return err
				}
				return quantize.GPTQWithFactor(out, dst, x, rows, cols, f, quantize.GPTQOptions{Threads: threads})
			}
		}
	}
	if !quiet && isTerminal(os.Stderr) {
		var total int64
		before := make([]int64, len(plans))
		for i, p := range plans {
			before[i] = total
			total += p.Info().NumElements()
		}
		last := time.Time{}
		opt.Progress = func(i int, p convert.Plan, done int64) {
			if now := time.Now(); now.Sub(last) > 100*time.Millisecond {
				last = now
				fmt.Fprintf(os.Stderr, "\r\033[K[%d/%d] %5.1f%% %s -> %s", i+1, len(plans), 100*float64(before[i]+done)/float64(max(total, 1)), p.Name, p.Out)
			}
		}
	}
	if err := m.WriteQuantized(dst, md, plans, opt); err != nil {
		return err
	}
	if !quiet {
		endProgress()
	}
	printSummary(stdout, dst, preset, choices, time.Since(start))
	if sv != nil {
		return sv.report(stdout, dst, threads)
	}
	return nil
}

// recipe returns the command's type and the flags given, for provenance.
func recipe(fs *pflag.FlagSet) string {
	var parts []string
	fs.Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "quiet", "help":
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				parts = append(parts, "--"+f.Name+"="+v)
			}
			return
		}
		parts = append(parts, "--"+f.Name+"="+f.Value.String())
	})
	return "shrink quantize " + strings.Join(parts, " ")
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

// imatrixObserver feeds every linear layer's input to a collector, and
// each routed expert's inputs to its per-expert importances.
type imatrixObserver struct {
	c       *quantize.Collector
	experts int // routed experts per MoE layer
}

// Routing is part of engine.ExpertObserver; the importances need only the
// inputs each expert sees.
func (o imatrixObserver) Routing(int, []int32, []float32, int, int) {}

// ExpertLinear collects per-expert importances of a stacked expert weight.
func (o imatrixObserver) ExpertLinear(name string, expert int, x []float32, rows, cols int) {
	o.c.AddExpert(name, expert, o.experts, x, rows, cols)
}

// expertKey names expert e's Hessian of a stacked expert weight.
func expertKey(name string, e int) string { return fmt.Sprintf("%s#%d", name, e) }

// experts returns the GPTQ encoder of a stacked expert tensor of n
// experts of per rows: each expert's rows with the Hessian of the tokens
// routed to it.
// It returns nil (importance-weighted rounding instead) when an expert
// has no Hessian (never routed, or beyond --hessian-mem).
func (g *gptqCalib) experts(name string, n, per int, out format.DType, threads int) convert.ChunkEncoder {
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
				err = quantize.GPTQWithFactor(out, dst[int64(a)*rb:int64(b)*rb], x[a*cols:b*cols], b-a, cols, f, quantize.GPTQOptions{Threads: threads})
			}
			if err != nil {
				return fmt.Errorf("expert %d: %w", e, err)
			}
			a = b
		}
		return nil
	}
}

func (o imatrixObserver) Linear(name string, x []float32, rows, cols int) {
	o.c.Add(name, x, rows, cols)
}

func (o imatrixObserver) Residual(int, []float32, int, int) {}

// gptqCalib holds what --method gptq collects: the mean square of the
// residual stream entering each block and output.weight's input Hessian
// (from the calibration pass) and, block by block as the tensors are
// written, one block's input Hessians.
type gptqCalib struct {
	resSum []float64
	resN   []int64
	out    *quantize.Hessian // output.weight's, from the calibration pass

	m       *convert.Model
	em      *engine.Model      // the calibration model, kept open for run
	run     *calib.LayerRunner // block-by-block pass over the calibration chunks
	h       *quantize.HessianCollector
	layer   int   // the block whose Hessians h holds (-1: none)
	budget  int64 // bytes of one block's Hessians
	threads int
	quiet   bool
}

// close releases the calibration model.
func (g *gptqCalib) close() {
	if g.em != nil {
		g.em.Close()
		g.em = nil
	}
}

// hessian returns the input Hessian of the weight called name, or nil when
// it has none (not a product's weight, or over the memory budget). For a
// block's weight it runs the block-by-block pass up to that block (from
// the start again if the pass is past it; the plans are written in block
// order), dropping the previous block's Hessians.
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
		if l < g.run.Next() {
			if err := g.run.Restart(); err != nil {
				return nil, err
			}
		}
		for g.run.Next() < l {
			if err := g.run.Step(nil, nil); err != nil {
				return nil, err
			}
		}
		g.h = quantize.NewHessianCollector(g.budget)
		if err := g.run.Step(hessianObserver{g.h}, nil); err != nil {
			return nil, err
		}
		g.layer = l
		if !g.quiet && isTerminal(os.Stderr) {
			endProgress()
		}
	}
	return g.h.Hessian(name), nil
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

// hessianObserver feeds every product's input to a Hessian collector.
type hessianObserver struct{ h *quantize.HessianCollector }

func (o hessianObserver) Linear(name string, x []float32, rows, cols int) {
	o.h.Add(name, x, rows, cols)
}

func (o hessianObserver) Residual(int, []float32, int, int) {}

// Routing is part of engine.ExpertObserver; the Hessians need only the
// inputs each expert sees.
func (o hessianObserver) Routing(int, []int32, []float32, int, int) {}

// ExpertLinear feeds the inputs routed to one expert of a stacked expert
// weight to that expert's Hessian.
func (o hessianObserver) ExpertLinear(name string, expert int, x []float32, rows, cols int) {
	o.h.Add(expertKey(name, expert), x, rows, cols)
}

// embedding returns the GPTQ encoder of the token embedding, with the
// Hessian of its consumers (quantize.EmbeddingHessian), or nil when the
// model ties it to the output or lacks the tensors.
func (g *gptqCalib) embedding(m *convert.Model, out format.DType, threads int) convert.ChunkEncoder {
	if _, ok := m.Tensor("output.weight"); !ok {
		return nil // tied: the embedding is also the output projection
	}
	var f *quantize.GPTQFactor // made at the first chunk; nil: no Hessian
	made := false
	return func(dst []byte, x []float32, _, rows, cols int) error {
		if !made {
			made = true
			if H := g.embeddingHessian(m, cols); H != nil {
				var err error
				if f, err = quantize.NewGPTQFactor(H, cols, 0); err != nil {
					return err
				}
			}
		}
		if f == nil {
			return quantize.EncodeRows(out, dst, x, cols, nil, threads)
		}
		return quantize.GPTQWithFactor(out, dst, x, rows, cols, f, quantize.GPTQOptions{Threads: threads})
	}
}

// embeddingHessian returns the token embedding's Hessian from its
// consumers (quantize.EmbeddingHessian), one consumer weight in memory at
// a time, or nil when it has none.
func (g *gptqCalib) embeddingHessian(m *convert.Model, cols int) []float64 {
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
	nTerms := 0
	for l := 0; l < m.Config.Layers && l < len(g.resN); l++ {
		nTerms += 5
	}
	// About 4·10⁹ multiply-adds at most.
	maxRows := max(64, int(4e9/(float64(cols)*float64(cols)*float64(max(nTerms, 1)))))
	for l := 0; l < m.Config.Layers && l < len(g.resN); l++ {
		if g.resN[l] == 0 || !(g.resSum[l] > 0) {
			continue
		}
		scale := float64(g.resN[l]) / g.resSum[l]
		p := fmt.Sprintf("blk.%d.", l)
		for _, c := range []struct {
			norm string
			ws   []string
		}{{"attn_norm", []string{"attn_q", "attn_k", "attn_v"}}, {"ffn_norm", []string{"ffn_gate", "ffn_up"}}} {
			gain := read(p + c.norm + ".weight")
			if len(gain) != cols {
				continue
			}
			for _, w := range c.ws {
				if v := read(p + w + ".weight"); v != nil {
					t := quantize.EmbeddingHessian(cols, []quantize.EmbeddingTerm{{Norm: gain, Weight: v, Scale: scale}}, maxRows)
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

// calibrate runs the model over the text file in chunks of ctx tokens (BOS
// first in each, as llama-imatrix does) and returns the importance matrix
// and the text's SHA-256. When gc is not nil (GPTQ) the pass runs block by
// block over a streamed mapping of the model (engine Options.Stream; one
// block's weights resident at a time), collects the residual statistics
// and output.weight's Hessian too, and leaves the model and the chunks in
// gc for the Hessians' own block-by-block pass.
func calibrate(src, tokFile, textFile string, ctx, maxChunks, threads int, quiet bool, gc *gptqCalib) (*quantize.Imatrix, string, error) {
	text, err := os.ReadFile(textFile)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(text)
	em, err := engine.Load(src, engine.Options{Threads: threads, Tokenizer: tokFile, Stream: gc != nil})
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
		return nil, "", fmt.Errorf("%s: %w", src, err)
	}
	if len(toks) < 2 {
		return nil, "", fmt.Errorf("%s: calibration text gives %d tokens, too few", textFile, len(toks))
	}
	if max := em.Config.Context; max > 0 && ctx > max {
		ctx = max
	}
	n, cl := calib.Chunks(len(toks), ctx, maxChunks)
	col := quantize.NewCollector()
	if gc == nil {
		s := em.NewSession(cl)
		s.Observer = imatrixObserver{c: col, experts: em.Config.Experts}
		if err := calib.Run(s, toks, n, cl, bos, chunkProgress("calibrating", quiet)); err != nil {
			return nil, "", err
		}
		return col.Imatrix(n, filepath.Base(textFile)), hex.EncodeToString(sum[:]), nil
	}
	run, err := calib.NewLayerRunner(em, toks, n, cl, bos)
	if err != nil {
		return nil, "", err
	}
	run.Progress = blockProgress("calibrating", quiet)
	c := em.Config
	gc.resSum, gc.resN = make([]float64, c.Layers), make([]int64, c.Layers)
	for run.Next() < c.Layers {
		l := run.Next()
		err := run.Step(imatrixObserver{c: col, experts: em.Config.Experts}, func(in, _ []float32) {
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
	if !quiet && isTerminal(os.Stderr) {
		endProgress()
	}
	if err := run.Restart(); err != nil {
		return nil, "", err
	}
	run.Progress = blockProgress("GPTQ Hessians", quiet)
	gc.run, gc.em, keep = run, em, true
	return col.Imatrix(n, filepath.Base(textFile)), hex.EncodeToString(sum[:]), nil
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
