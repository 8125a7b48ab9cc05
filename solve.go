package shrink

// The size and bits-per-weight solver of Quantize: each tensor's predicted
// KLD per candidate type, measured on the calibration text, then the types
// that minimise the total within the budget (quantize.Solve).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"runtime/debug"
	"slices"
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
	"github.com/shrink-llm/shrink/quantize"
)

// DefaultCandidateTypes are the types the solver chooses from unless
// QuantizeOptions.CandidateTypes says otherwise: those both shrink's
// engine and llama.cpp run (the i-quants only where shrink has their
// codec).
const DefaultCandidateTypes = "q2_k,iq3_s,q3_k,iq4_xs,q4_k,q5_k,q6_k,q8_0"

// SolveResult holds the solver's figures for a file written to a size or
// bits-per-weight target.
type SolveResult struct {
	// Tensors is the number of tensors whose type the solver chose.
	Tensors int `json:"tensors"`
	// Sensitivity is the mode the KLDs were predicted with (exact or
	// hybrid); SensitivityAuto reports that --sensitivity auto chose it
	// (AutoExactParams).
	Sensitivity     string `json:"sensitivity"`
	SensitivityAuto bool   `json:"sensitivity_auto"`
	// Reference is the type hybrid measured exactly (its scale applied to
	// the others; empty with exact).
	Reference string `json:"reference,omitempty"`
	// TensorBudget is the bytes the solver could spend on those tensors;
	// Budget the file's.
	TensorBudget int64 `json:"tensor_budget"`
	Budget       int64 `json:"budget"`
	// PredictedKLD is the sum of the chosen types' predicted KLDs;
	// MeasuredKLD the written file's KLD on Chunks calibration chunks.
	PredictedKLD float64 `json:"predicted_kld"`
	MeasuredKLD  float64 `json:"measured_kld"`
	Chunks       int     `json:"chunks"`
	// Pairs is the number of (tensor, type) pairs measured exactly, and
	// SpearmanHessian and SpearmanHybrid the rank correlations of their
	// exact KLDs with the Hessian error and the hybrid prediction.
	Pairs           int     `json:"pairs"`
	SpearmanHessian float64 `json:"spearman_hessian"`
	SpearmanHybrid  float64 `json:"spearman_hybrid"`
	// Cached reports that the sensitivities were read from the
	// sensitivity cache file instead of measured.
	Cached bool `json:"cached"`
	// Types counts the chosen tensors per type.
	Types map[string]int `json:"types"`
	// FileBytes is the written file's size.
	FileBytes int64 `json:"file_bytes"`
	// Recipe is the solved recipe (written with the file).
	Recipe *quantize.Recipe `json:"-"`
}

// solveConfig is what the solver's options ask for.
type solveConfig struct {
	targetSize int64
	targetBPW  float64
	recipeIn   string
	recipeOut  string
	mode       string // auto (until resolveMode), exact or hybrid
	auto       bool   // mode was chosen by resolveMode
	ref        format.DType
	refAuto    bool // ref is chosen by resolveRef
	chunks     int
	candidates []format.DType
}

// AutoExactParams is the most parameters a model may have for
// --sensitivity auto (the default) to measure every tensor at every
// candidate type exactly; larger models use hybrid, one exact measurement
// per tensor. Exact costs about (candidate types) x (tensors) runs of half
// the model on the sensitivity chunks: minutes for the development models
// (millions of parameters), many hours at 1B.
const AutoExactParams = 100_000_000

// resolveMode chooses the sensitivity mode of auto for a model of params
// parameters and the chunks of 0: 8 for exact, 2 for hybrid (whose one
// exact run per tensor costs, per token, about as many runs of half the
// model as it has tensors: the large models' cost).
func (c *solveConfig) resolveMode(params int64) {
	if c.mode == "auto" {
		c.mode, c.auto = "exact", true
		if params > AutoExactParams {
			c.mode = "hybrid"
		}
	}
	if c.chunks == 0 {
		c.chunks = 8
		if c.mode == "hybrid" {
			c.chunks = 2
		}
	}
}

// resolveRef chooses the reference type of --sensitivity-ref auto for a
// budget of bpw bits per weight over the solved tensors: with hybrid, the
// largest K-quant candidate (K-quants are the cheapest types to encode
// with GPTQ) below bpw, else the largest candidate below it, else the
// smallest candidate; with exact, q3_k (the reference then scales only
// tensors the engine cannot patch, and the sensitivity cache stays valid
// for every budget). The hybrid prediction scales every type by the
// reference's measured KLD, so measuring just below the budget's average
// measures where the solved mix will be: on dev-llama-3m at Q6_K's size
// a q5_k reference gave held-out KLDs 0.70-0.75x of q3_k's (README).
func (c *solveConfig) resolveRef(bpw float64) {
	if !c.refAuto || c.mode != "hybrid" || len(c.candidates) == 0 {
		return
	}
	best, bestK, least := -1, -1, 0
	bits := func(i int) float64 { return c.candidates[i].BitsPerWeight() }
	for i, t := range c.candidates {
		if bits(i) < bits(least) {
			least = i
		}
		if bits(i) >= bpw {
			continue
		}
		if best < 0 || bits(i) > bits(best) {
			best = i
		}
		if kQuant(t) && (bestK < 0 || bits(i) > bits(bestK)) {
			bestK = i
		}
	}
	switch {
	case bestK >= 0:
		c.ref = c.candidates[bestK]
	case best >= 0:
		c.ref = c.candidates[best]
	default:
		c.ref = c.candidates[least]
	}
}

// reference returns the type hybrid measured exactly ("" with exact).
func (c *solveConfig) reference() string {
	if c.mode != "hybrid" {
		return ""
	}
	return c.ref.String()
}

// kQuant reports whether t is one of the K-quants.
func kQuant(t format.DType) bool {
	switch t {
	case format.Q2_K, format.Q3_K, format.Q4_K, format.Q5_K, format.Q6_K:
		return true
	}
	return false
}

// solving reports whether a budget was given.
func (c *solveConfig) solving() bool { return c.targetSize > 0 || c.targetBPW > 0 }

// newSolveConfig checks the solver's options.
func newSolveConfig(o *QuantizeOptions) (*solveConfig, error) {
	c := &solveConfig{targetBPW: o.TargetBPW, recipeIn: o.Recipe, recipeOut: o.RecipeOut,
		mode: or(o.Sensitivity, "auto"), chunks: o.SensitivityChunks}
	if o.TargetSize != "" {
		n, err := ParseSize(o.TargetSize)
		if err != nil {
			return nil, optionErrorf("--target-size: %v", err)
		}
		c.targetSize = n
	}
	switch {
	case c.targetBPW < 0 || math.IsNaN(c.targetBPW) || c.targetBPW > 32:
		return nil, optionErrorf("--target-bpw must be between 0 and 32")
	case c.targetSize > 0 && c.targetBPW > 0:
		return nil, optionErrorf("give --target-size or --target-bpw, not both")
	case c.recipeIn != "" && c.solving():
		return nil, optionErrorf("give --recipe or a target (--target-size, --target-bpw), not both")
	case c.recipeOut != "" && !c.solving():
		return nil, optionErrorf("--recipe-out needs --target-size or --target-bpw")
	case c.mode != "exact" && c.mode != "hybrid" && c.mode != "auto":
		return nil, optionErrorf("--sensitivity %q: want auto, exact or hybrid", c.mode)
	case c.chunks < 0:
		return nil, optionErrorf("--sensitivity-chunks must not be negative")
	}
	if refName := or(o.SensitivityRef, "auto"); refName == "auto" {
		c.ref, c.refAuto = format.Q3_K, true
	} else {
		ref, err := quantize.ParseWritableType(refName)
		if err != nil || !ref.Quantized() {
			return nil, optionErrorf("--sensitivity-ref %q: want auto or a quantized type", refName)
		}
		c.ref = ref
	}
	for _, s := range strings.Split(or(o.CandidateTypes, DefaultCandidateTypes), ",") {
		s = strings.TrimSpace(s)
		t, ok := format.ParseDType(s)
		if !ok {
			return nil, optionErrorf("--candidate-types: unknown type %q", s)
		}
		if _, err := quantize.ParseWritableType(s); err == nil && t.Quantized() {
			c.candidates = append(c.candidates, t)
		}
	}
	if len(c.candidates) == 0 {
		return nil, optionErrorf("--candidate-types: no quantized type shrink can write")
	}
	return c, nil
}

// or returns s, or def when s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ParseSize reads a byte count (the target-size option): a number with an optional unit, decimal
// (KB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB); "B" or none for bytes.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || !(v > 0) {
		return 0, fmt.Errorf("%q: want a positive size such as 1500000, 1500MB or 1.5GB", s)
	}
	mult := map[string]float64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "k": 1e3, "m": 1e6, "g": 1e9,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", s, unit)
	}
	if v*mult >= 1<<62 {
		return 0, fmt.Errorf("%q: too large", s)
	}
	return int64(v * mult), nil
}

// klEval measures the mean KL divergence of a model's next-token
// distributions from reference ones over calibration chunks. The
// reference is the source model as loaded (a GGUF mapped and streamed:
// one block's weights resident at a time), and a tensor's quantization is
// measured by patching it into that model (engine Model.Patch) in its
// quantized type, as the written file runs it. It keeps, per chunk, the
// reference residual stream entering one block (advanced block by block
// as the measurement goes through the model in order) and the one leaving
// the last block, so a tensor of block l is measured by running blocks
// l.. and the output head only, block by block over all chunks.
type klEval struct {
	m      *engine.Model
	s      *engine.Session
	chunks [][]int32
	ref    [][]float32 // per chunk: log-probabilities, positions × vocab
	vocab  int
	lq     []float64
	layers int
	at     int         // the block res enters
	res    [][]float32 // per chunk: the reference residual stream entering block at
	final  [][]float32 // per chunk: the reference residual stream leaving the last block
	x      [][]float32 // per chunk: the stream of the run being measured
}

// refLogProbBytes bounds the reference log-probabilities (4·vocab bytes
// per position): fewer chunks are measured when they would take more.
const refLogProbBytes = 512 << 20

// newKLEval runs the reference model m over up to n chunks of length
// tokens of toks (first token bos when >= 0) and keeps its
// log-probabilities and residual streams.
func newKLEval(m *engine.Model, toks []int32, n, length int, bos int32) (*klEval, error) {
	c := m.Config
	e := &klEval{m: m, s: m.NewSession(length), vocab: c.VocabSize, layers: c.Layers}
	e.lq = make([]float64, e.vocab)
	n = max(1, min(n, refLogProbBytes/(4*length*e.vocab)))
	for i := 0; i < n && (i+1)*length <= len(toks); i++ {
		ch := append([]int32(nil), toks[i*length:(i+1)*length]...)
		if bos >= 0 {
			ch[0] = bos
		}
		e.chunks = append(e.chunks, ch)
	}
	if len(e.chunks) == 0 {
		return nil, fmt.Errorf("calibration text too short for a chunk of %d tokens", length)
	}
	for i, ch := range e.chunks {
		r := make([]float32, length*c.Dim)
		if err := e.s.Embed(ch, r); err != nil {
			return nil, fmt.Errorf("calibration chunk %d: %w", i, err)
		}
		e.res = append(e.res, r)
		e.x = append(e.x, make([]float32, len(r)))
		e.final = append(e.final, make([]float32, len(r)))
	}
	if err := e.runFrom(0, e.res, e.final); err != nil {
		return nil, err
	}
	for i := range e.chunks {
		logits, err := e.s.Head(e.final[i])
		if err != nil {
			return nil, fmt.Errorf("calibration chunk %d: %w", i, err)
		}
		lp := make([]float32, len(logits))
		for p := 0; p < length; p++ {
			bench.LogSoftmax(e.lq, logits[p*e.vocab:(p+1)*e.vocab])
			for v, x := range e.lq {
				lp[p*e.vocab+v] = float32(x)
			}
		}
		e.ref = append(e.ref, lp)
	}
	return e, nil
}

// runFrom writes to out the streams in run through blocks from.. of the
// model, block by block over all chunks (each block's mapped pages
// released after it).
func (e *klEval) runFrom(from int, in, out [][]float32) error {
	for i := range out {
		copy(out[i], in[i])
	}
	for l := from; l < e.layers; l++ {
		for i := range out {
			if err := e.s.Block(l, out[i]); err != nil {
				return fmt.Errorf("calibration chunk %d: %w", i, err)
			}
		}
		e.m.ReleaseBlock(l)
	}
	return nil
}

// advance moves the reference residual streams to block l (from at, the
// model unpatched).
func (e *klEval) advance(l int) error {
	if l < e.at {
		return fmt.Errorf("solver: block %d measured after block %d", l, e.at)
	}
	for ; e.at < l; e.at++ {
		for i := range e.res {
			if err := e.s.Block(e.at, e.res[i]); err != nil {
				return fmt.Errorf("calibration chunk %d: %w", i, err)
			}
		}
		e.m.ReleaseBlock(e.at)
	}
	return nil
}

// release drops the residual streams (kld needs only the reference
// log-probabilities).
func (e *klEval) release() {
	e.res, e.x, e.final = nil, nil, nil
}

// kld returns the mean KL(reference || m) per position of another model
// m (the written file), run whole.
func (e *klEval) kld(m *engine.Model) (float64, error) {
	s := m.NewSession(len(e.chunks[0]))
	return e.mean(func(i int) ([]float32, error) {
		s.Reset()
		return s.ForwardAll(e.chunks[i])
	})
}

// kldFrom returns the mean KL(reference || patched) per position for the
// reference model with only blocks from on (-1: the embeddings, layers:
// the output head) changed (patched), run from the kept residual streams
// (blocks from on must not have been passed by advance).
func (e *klEval) kldFrom(from int) (float64, error) {
	x := e.x
	switch {
	case from >= e.layers:
		x = e.final
	case from < 0:
		for i, ch := range e.chunks {
			if err := e.s.Embed(ch, e.x[i]); err != nil {
				return 0, err
			}
		}
		if err := e.runFrom(0, e.x, e.x); err != nil {
			return 0, err
		}
	default:
		if err := e.advance(from); err != nil {
			return 0, err
		}
		if err := e.runFrom(from, e.res, e.x); err != nil {
			return 0, err
		}
	}
	return e.mean(func(i int) ([]float32, error) { return e.s.Head(x[i]) })
}

// mean averages the KL divergence of every chunk's logits (from run) from
// the reference over its positions.
func (e *klEval) mean(run func(i int) ([]float32, error)) (float64, error) {
	var sum float64
	n := 0
	for i, c := range e.chunks {
		logits, err := run(i)
		if err != nil {
			return 0, err
		}
		for p := range c {
			bench.LogSoftmax(e.lq, logits[p*e.vocab:(p+1)*e.vocab])
			ref := e.ref[i][p*e.vocab : (p+1)*e.vocab]
			var k float64
			for v, l := range ref {
				lp := float64(l)
				k += math.Exp(lp) * (lp - e.lq[v])
			}
			sum += k
			n++
		}
	}
	return sum / float64(n), nil
}

// solveTensor is one tensor the solver gives a type: its candidate types
// (after llama.cpp's fallback for its row length) with their bytes, proxy
// errors and KLDs (measured; NaN where not).
type solveTensor struct {
	name       string
	rows, cols int
	types      []format.DType
	bytes      []int64
	proxy      []float64
	exact      []float64
	pred       []float64
}

// sensitivityInput is what the sensitivities are measured with.
type sensitivityInput struct {
	m        *convert.Model
	gc       *gptqCalib // Hessians, block by block
	im       *quantize.Imatrix
	gptq     bool // the file is written with GPTQ
	threads  int
	progress func(stage string, done, total int, msg string)
	// cache is the sensitivity cache file ("": none) and keyBase the
	// job's part of its key (cacheKeyBase).
	cache, keyBase string
}

// measureSensitivity fills the proxy errors and the exact KLDs the mode
// asks for, tensor by tensor: the tensors outside the blocks first, then
// block by block (the Hessians' pass and the reference streams advance
// with it), within a block the tensors sharing an input together.
func measureSensitivity(ctx context.Context, in sensitivityInput, c *solveConfig, ts []*solveTensor, ev *klEval) error {
	order := make([]*solveTensor, len(ts))
	copy(order, ts)
	sort.SliceStable(order, func(a, b int) bool {
		ba, bb := blockKey(order[a].name), blockKey(order[b].name)
		return ba < bb || ba == bb && inputGroup(order[a].name) < inputGroup(order[b].name)
	})
	start := time.Now()
	hc := &hessianCache{}
	for k, st := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		in.progress("sensitivity", k, len(order), fmt.Sprintf("sensitivity: [%d/%d] %s  %.0fs", k+1, len(order), st.name, time.Since(start).Seconds()))
		if err := measureTensor(in, c, st, ev, hc); err != nil {
			return fmt.Errorf("sensitivity of %s: %w", st.name, err)
		}
	}
	in.progress("sensitivity", len(order), len(order), "")
	return nil
}

// blockKey orders tensors by block, those outside the blocks first.
func blockKey(name string) int {
	if l, ok := blockIndex(name); ok {
		return l
	}
	return -1
}

// inputGroup orders a block's tensors by the input they share (one
// Hessian each): attention's q/k/v (latent attention's q_a and kv_a), its
// output, the feed-forward's gate/up (a shared expert's too), its down
// projection, then the rest (whose inputs are their own).
func inputGroup(name string) int {
	for i, keys := range [][]string{
		{".attn_q.", ".attn_k.", ".attn_v.", ".attn_q_a.", ".attn_kv_a_mqa."}, {".attn_output."},
		{".ffn_gate.", ".ffn_up.", ".ffn_gate_shexp.", ".ffn_up_shexp.", ".ffn_gate_inp."}, {".ffn_down."},
	} {
		for _, k := range keys {
			if strings.Contains(name, k) {
				return i
			}
		}
	}
	return 4
}

// hessianCache keeps, for the input Hessian last asked for, its matrix
// (for the proxy) and its GPTQ factor: the tensors sharing an input use
// one copy and one factor, dropped when the next input's are made.
type hessianCache struct {
	h *quantize.Hessian
	H []float64
	f *quantize.GPTQFactor
}

// get returns the Hessian matrix and factor of the tensor st (nil, nil
// when it has none; the factor nil too when the file is not written with
// GPTQ).
func (hc *hessianCache) get(in sensitivityInput, st *solveTensor) ([]float64, *quantize.GPTQFactor, error) {
	if in.gc == nil || st.name == "token_embd.weight" {
		return nil, nil, nil
	}
	h, err := in.gc.hessian(st.name)
	if err != nil || h == nil || h.Cols != st.cols {
		return nil, nil, err
	}
	if h != hc.h {
		*hc = hessianCache{}
		debug.FreeOSMemory() // the previous input's copy
		H := h.Matrix()
		if H == nil {
			return nil, nil, fmt.Errorf("the Hessian of %s was released (its input's other tensors were measured apart from it)", st.name)
		}
		f, err := h.Factor(0)
		if err != nil {
			return nil, nil, err
		}
		debug.FreeOSMemory() // the sum Factor released: the copy and the factor replace it
		*hc = hessianCache{h: h, H: H, f: f}
	}
	if !in.gptq {
		return hc.H, nil, nil
	}
	return hc.H, hc.f, nil
}

// measureTensor quantizes one tensor to each candidate type as the file
// will be written and fills its proxy errors and the KLDs the mode asks
// for (the tensor patched into the reference model in that type). Types
// only the proxy needs quantize just the rows the proxy samples.
func measureTensor(in sensitivityInput, c *solveConfig, st *solveTensor, ev *klEval, hc *hessianCache) error {
	H, f, err := hc.get(in, st)
	if err != nil {
		return err
	}
	var imp []float32
	if in.im != nil {
		imp, _ = in.im.CheckShape(st.name, int64(st.cols))
	}
	t, ok := in.m.Tensor(st.name)
	if !ok {
		return fmt.Errorf("%s: no tensor %s", in.m.Path, st.name)
	}
	raw, err := in.m.ReadRaw(t)
	if err != nil {
		return err
	}
	src, err := newSourceRows(t.Type, raw, st.rows, st.cols)
	if err != nil {
		return fmt.Errorf("%s: %w", in.m.Path, err)
	}
	maxRows := proxyRows
	idx := quantize.SampledRows(st.rows, maxRows)
	ws := make([]float32, 0, len(idx)*st.cols)
	for _, r := range idx {
		w, err := src.read(r, r+1)
		if err != nil {
			return err
		}
		ws = append(ws, w...)
	}
	ref := refIndex(st.types, c.ref)
	patchable := true
	for i, typ := range st.types {
		st.exact[i] = math.NaN()
		if !patchable || c.mode != "exact" && i != ref {
			data, err := quantize.Encode(typ, ws, len(idx), st.cols, f, imp, in.threads)
			if err != nil {
				return err
			}
			wqs, err := quantize.Decode(typ, data, len(idx), st.cols)
			if err != nil {
				return err
			}
			st.proxy[i] = quantize.HessianErrorSampled(ws, wqs, st.rows, st.cols, H, maxRows)
			continue
		}
		data, err := src.encode(typ, f, imp, in.threads)
		if err != nil {
			return err
		}
		if st.proxy[i], err = sampledProxy(typ, data, ws, idx, st, H, maxRows); err != nil {
			return err
		}
		st.exact[i], err = patchedKLD(ev, st, typ, data)
		if errors.Is(err, engine.ErrPatch) {
			st.exact[i], patchable = math.NaN(), false // predicted from the proxy (predict)
			in.progress("warning", 0, 0, fmt.Sprintf("%v: %s predicted from its Hessian error with the other tensors' median scale", err, st.name))
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// sourceRows reads a tensor's rows from its stored bytes (the source's
// type) as float32, a range at a time, so that a large tensor (the output
// head, the embeddings) is never held in float32 whole.
type sourceRows struct {
	typ        format.DType
	raw        []byte
	rb         int64
	rows, cols int
}

// newSourceRows checks raw's length for rows of cols values of typ.
func newSourceRows(typ format.DType, raw []byte, rows, cols int) (*sourceRows, error) {
	rb, err := typ.RowBytes(int64(cols))
	if err != nil || int64(len(raw)) != int64(rows)*rb {
		return nil, fmt.Errorf("%d bytes for %d rows of %d %s values", len(raw), rows, cols, typ)
	}
	return &sourceRows{typ: typ, raw: raw, rb: rb, rows: rows, cols: cols}, nil
}

// read returns rows a..b-1 as float32.
func (s *sourceRows) read(a, b int) ([]float32, error) {
	return quantize.Decode(s.typ, s.raw[int64(a)*s.rb:int64(b)*s.rb], b-a, s.cols)
}

// encodeChunkBytes bounds the float32 rows encode decodes at a time.
const encodeChunkBytes = 32 << 20

// encode quantizes every row to typ as quantize.Encode does, in chunks of
// rows (rows are quantized independently, so the bytes are those of one
// call over all of them).
func (s *sourceRows) encode(typ format.DType, f *quantize.GPTQFactor, imp []float32, threads int) ([]byte, error) {
	rb, err := typ.RowBytes(int64(s.cols))
	if err != nil {
		return nil, err
	}
	dst := make([]byte, 0, int64(s.rows)*rb)
	step := max(1, encodeChunkBytes/(4*s.cols))
	for a := 0; a < s.rows; a += step {
		b := min(s.rows, a+step)
		w, err := s.read(a, b)
		if err != nil {
			return nil, err
		}
		d, err := quantize.Encode(typ, w, b-a, s.cols, f, imp, threads)
		if err != nil {
			return nil, err
		}
		dst = append(dst, d...)
	}
	return dst, nil
}

// sampledProxy returns the Hessian error of a tensor's quantization data
// (all rows) over the rows idx the proxy samples (ws: their weights).
func sampledProxy(typ format.DType, data []byte, ws []float32, idx []int, st *solveTensor, H []float64, maxRows int) (float64, error) {
	rb, err := typ.RowBytes(int64(st.cols))
	if err != nil {
		return 0, err
	}
	rows := make([]byte, 0, int64(len(idx))*rb)
	for _, r := range idx {
		rows = append(rows, data[int64(r)*rb:int64(r+1)*rb]...)
	}
	wqs, err := quantize.Decode(typ, rows, len(idx), st.cols)
	if err != nil {
		return 0, err
	}
	return quantize.HessianErrorSampled(ws, wqs, st.rows, st.cols, H, maxRows), nil
}

// patchedKLD returns the KLD of the reference model with st patched in as
// data of type typ.
func patchedKLD(ev *klEval, st *solveTensor, typ format.DType, data []byte) (float64, error) {
	restore, err := ev.m.Patch(engine.Tensor{Name: st.name, Type: typ, Shape: []int64{int64(st.cols), int64(st.rows)}, Data: data})
	if err != nil {
		return 0, err
	}
	defer restore()
	return ev.kldFrom(firstBlock(st.name, ev.layers))
}

// proxyRows is the rows HessianError samples, evenly spaced, in every
// mode: its cost is rows x cols² per type (at 1.1B the 512 rows hybrid
// took made it the solver's largest cost, 130 CPU-seconds for each
// ffn_down), and 128 rows rank the types and tensors as 512 do on the
// development models.
const proxyRows = 128

// firstBlock returns the first block whose output depends on the tensor
// name: its block, layers for output.weight, -1 (the embeddings) for
// token_embd.weight and any other tensor outside the blocks.
func firstBlock(name string, layers int) int {
	if l, ok := blockIndex(name); ok {
		return l
	}
	if name == "output.weight" {
		return layers
	}
	return -1
}

// refIndex returns the index of ref among the candidates, else of the
// candidate closest in bits to it (iq3_s and q3_k both take 3.4375 bits:
// the type asked for is measured, not the first of equals).
func refIndex(types []format.DType, ref format.DType) int {
	if i := slices.Index(types, ref); i >= 0 {
		return i
	}
	best, bi := math.Inf(1), 0
	for i, t := range types {
		if d := math.Abs(t.BitsPerWeight() - ref.BitsPerWeight()); d < best {
			best, bi = d, i
		}
	}
	return bi
}

// predict turns the measurements into each option's predicted KLD. A
// tensor the engine could not patch (no exact KLD) is predicted from its
// proxy with the median of the other tensors' scales.
func predict(c *solveConfig, ts []*solveTensor) {
	var scales []float64
	for _, st := range ts {
		r := refIndex(st.types, c.ref)
		if !math.IsNaN(st.exact[r]) {
			scales = append(scales, quantize.SensitivityScale(st.exact[r], st.proxy[r]))
		}
	}
	sort.Float64s(scales)
	median := 0.0
	if len(scales) > 0 {
		median = scales[len(scales)/2]
	}
	for _, st := range ts {
		r := refIndex(st.types, c.ref)
		scale := median
		if !math.IsNaN(st.exact[r]) {
			scale = quantize.SensitivityScale(st.exact[r], st.proxy[r])
		}
		for i := range st.types {
			if c.mode == "exact" && !math.IsNaN(st.exact[i]) {
				st.pred[i] = math.Max(st.exact[i], 0)
			} else {
				st.pred[i] = scale * st.proxy[i]
			}
		}
	}
}

// agreement returns the rank correlations, over every (tensor, type)
// measured exactly, of the exact KLD with the raw Hessian error and with
// the hybrid prediction (the Hessian error scaled by the tensor's exact
// KLD at the reference type), and the number of pairs.
func agreement(c *solveConfig, ts []*solveTensor) (raw, hybrid float64, n int) {
	var ex, px, hy []float64
	for _, st := range ts {
		r := refIndex(st.types, c.ref)
		scale := quantize.SensitivityScale(st.exact[r], st.proxy[r])
		for i := range st.types {
			if math.IsNaN(st.exact[i]) {
				continue
			}
			ex = append(ex, st.exact[i])
			px = append(px, st.proxy[i])
			hy = append(hy, scale*st.proxy[i])
		}
	}
	return quantize.Spearman(ex, px), quantize.Spearman(ex, hy), len(ex)
}

// newSolveTensors lists the tensors the solver decides: quantized ones the
// user did not pin, each with its distinct candidate types after the
// fallback for its row length. It also returns the bytes of the others.
func newSolveTensors(choices []quantize.Choice, c *solveConfig, last format.DType) ([]*solveTensor, int64) {
	var ts []*solveTensor
	var fixed int64
	for _, ch := range choices {
		info := format.TensorInfo{Name: ch.Name, Type: ch.Type, Shape: ch.Shape}
		if !ch.Quantize || pinned(ch.Reason) || len(ch.Shape) < 2 {
			fixed += info.Bytes()
			continue
		}
		st := &solveTensor{name: ch.Name, cols: int(ch.Shape[0]), rows: int(info.NumElements() / ch.Shape[0])}
		seen := map[format.DType]bool{}
		for _, t := range c.candidates {
			a, _ := quantize.Fallback(t, ch.Shape[0], last)
			if seen[a] || !a.Quantized() {
				continue
			}
			seen[a] = true
			st.types = append(st.types, a)
			st.bytes = append(st.bytes, format.TensorInfo{Name: ch.Name, Type: a, Shape: ch.Shape}.Bytes())
		}
		if len(st.types) == 0 {
			fixed += info.Bytes()
			continue
		}
		n := len(st.types)
		st.proxy, st.exact, st.pred = make([]float64, n), make([]float64, n), make([]float64, n)
		ts = append(ts, st)
	}
	return ts, fixed
}

// pinned reports whether a policy reason is the user's explicit choice.
func pinned(reason string) bool {
	return strings.HasPrefix(reason, "tensor-type") || reason == "output-tensor-type" || reason == "token-embedding-type"
}

// solveRecipe chooses the types of ts within budget bytes.
func solveRecipe(ts []*solveTensor, budget, fileBudget int64, mode string) (*quantize.Recipe, error) {
	items := make([]quantize.SolveItem, len(ts))
	for i, st := range ts {
		items[i].Name = st.name
		for k, t := range st.types {
			items[i].Options = append(items[i].Options, quantize.SolveOption{Type: t, Bytes: st.bytes[k], KLD: st.pred[k]})
		}
	}
	pick, err := quantize.Solve(items, budget)
	if err != nil {
		return nil, err
	}
	r := &quantize.Recipe{Budget: fileBudget, Sensitivity: mode}
	for i, st := range ts {
		k := pick[i]
		r.PredictedKLD += st.pred[k]
		r.Tensors = append(r.Tensors, quantize.RecipeTensor{Name: st.name, Type: st.types[k].String(),
			Params: int64(st.rows) * int64(st.cols), Bytes: st.bytes[k], KLD: st.pred[k]})
	}
	return r, nil
}

// ggufOverhead estimates the bytes of a GGUF file beyond its tensor data
// (header, metadata, tensor infos, alignment padding) for tensors of the
// given names and dimension counts.
func ggufOverhead(md *gguf.Metadata, names []string, dims []int) int64 {
	n := int64(4 + 4 + 8 + 8)
	for _, kv := range md.KVs() {
		n += 8 + int64(len(kv.Key)) + 4 + valueBytes(kv.Value)
	}
	for i, name := range names {
		n += 8 + int64(len(name)) + 4 + 8*int64(dims[i]) + 4 + 8
	}
	const align = 32
	return n + align + align*int64(len(names)) // padding: at most align per tensor
}

// valueBytes returns the encoded size of a metadata value.
func valueBytes(v gguf.Value) int64 {
	if v.Type == gguf.TypeString {
		s, _ := v.Data.(string)
		return 8 + int64(len(s))
	}
	if v.Type != gguf.TypeArray {
		return elemSize(v.Type)
	}
	rv := reflect.ValueOf(v.Data)
	if rv.Kind() != reflect.Slice {
		return 12
	}
	n := int64(12)
	if v.Elem == gguf.TypeString {
		for i := 0; i < rv.Len(); i++ {
			n += 8 + int64(len(rv.Index(i).String()))
		}
		return n
	}
	return n + int64(rv.Len())*elemSize(v.Elem)
}

func elemSize(t gguf.ValueType) int64 {
	switch t {
	case gguf.TypeUint8, gguf.TypeInt8, gguf.TypeBool:
		return 1
	case gguf.TypeUint16, gguf.TypeInt16:
		return 2
	case gguf.TypeUint64, gguf.TypeInt64, gguf.TypeFloat64:
		return 8
	}
	return 4
}

// calibTokens tokenizes the calibration text as calibrate does.
func calibTokens(m *convert.Model, textFile string) ([]int32, int32, error) {
	text, err := os.ReadFile(textFile)
	if err != nil {
		return nil, 0, err
	}
	toks, bos, err := bench.Tokenize(m.Vocab, string(text))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", m.Path, err)
	}
	return toks, bos, nil
}

// solver carries a solve from the sensitivities to the final measurement.
type solver struct {
	c      *solveConfig
	recipe *quantize.Recipe
	ev     *klEval
	ts     []*solveTensor
	budget int64 // tensor bytes the solver could spend
	cached bool  // the sensitivities came from the cache file
}

// close releases the reference streams and log-probabilities.
func (s *solver) close() {
	if s.ev != nil {
		s.ev.release()
		s.ev.ref = nil
	}
}

// solve measures the sensitivities of the tensors the policy quantizes and
// chooses their types within the budget.
func (s *solver) solve(ctx context.Context, in sensitivityInput, pol quantize.Policy, infos []format.TensorInfo, mi quantize.ModelInfo, calibPath string, ctxLen int) error {
	choices, err := pol.Choose(infos, mi)
	if err != nil {
		return err
	}
	last := format.BF16
	if pol.LastResort.Set {
		last = pol.LastResort.Type
	}
	ts, fixed := newSolveTensors(choices, s.c, last)
	if len(ts) == 0 {
		return fmt.Errorf("%s: no tensor left for the solver to choose a type for", in.m.Path)
	}
	md, err := in.m.GGUFMetadata(format.F32)
	if err != nil {
		return err
	}
	names := make([]string, len(infos))
	dims := make([]int, len(infos))
	var params int64
	for i, t := range infos {
		names[i], dims[i] = t.Name, len(t.Shape)
		params += t.NumElements()
	}
	// The provenance keys and the recipe written with the file: at most
	// 4 KiB and 200 bytes of JSON per tensor (measured after a first solve).
	base := ggufOverhead(md, names, dims)
	over := base + 4096 + 200*int64(len(ts))
	fileBudget := s.c.targetSize
	if s.c.targetBPW > 0 {
		fileBudget = quantize.BytesForBPW(params, s.c.targetBPW) + over
	}
	s.budget = fileBudget - over - fixed
	if s.budget <= 0 {
		return optionErrorf("the budget of %d bytes is below the %d bytes of the tensors not quantized and the file's metadata", fileBudget, fixed+over)
	}
	toks, bos, err := calibTokens(in.m, calibPath)
	if err != nil {
		return err
	}
	if max := in.m.Config.Context; max > 0 && ctxLen > max {
		ctxLen = max
	}
	s.c.resolveMode(params)
	var solved int64
	for _, st := range ts {
		solved += int64(st.rows) * int64(st.cols)
	}
	s.c.resolveRef(8 * float64(s.budget) / float64(max(solved, 1)))
	n, length := calib.Chunks(len(toks), ctxLen, s.c.chunks)
	if in.gc == nil || in.gc.em == nil {
		return fmt.Errorf("%s: the solver needs the calibration model", in.m.Path)
	}
	if s.ev, err = newKLEval(in.gc.em, toks, n, length, bos); err != nil {
		return fmt.Errorf("%s: %w", calibPath, err)
	}
	if err := s.sensitivities(ctx, in, ts); err != nil {
		return err
	}
	s.ev.release() // the written file is measured from the log-probabilities alone
	predict(s.c, ts)
	s.ts = ts
	if s.recipe, err = solveRecipe(ts, s.budget, fileBudget, s.c.mode); err != nil {
		return err
	}
	// Again with the recipe's own length (its numbers may take a few
	// more characters once the types change), and 2 KiB for the
	// command line and the other provenance keys.
	over2 := base + int64(len(s.recipe.Compact())) + 8*int64(len(ts)) + 2048 + int64(len(calibPath))
	if s.c.targetSize > 0 && over2 < over {
		s.budget = fileBudget - over2 - fixed
		if s.recipe, err = solveRecipe(ts, s.budget, fileBudget, s.c.mode); err != nil {
			return err
		}
	}
	s.recipe.Reference = s.c.reference()
	if s.c.recipeOut != "" {
		if err := os.WriteFile(s.c.recipeOut, s.recipe.JSON(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// sensitivities measures ts's sensitivities, or reads them from the
// cache file when it holds them for the same inputs (and writes them
// there after measuring otherwise).
func (s *solver) sensitivities(ctx context.Context, in sensitivityInput, ts []*solveTensor) error {
	if in.cache == "" {
		return measureSensitivity(ctx, in, s.c, ts, s.ev)
	}
	key := cacheKey(in.keyBase, s.c, ts)
	hit, err := readSensitivities(in.cache, key, ts)
	if err != nil || hit {
		s.cached = hit
		return err
	}
	if err := measureSensitivity(ctx, in, s.c, ts, s.ev); err != nil {
		return err
	}
	return writeSensitivities(in.cache, key, ts)
}

// report measures the written file's KLD on the calibration chunks and
// returns it with the solver's figures; warn receives a warning when the
// file is over the budget.
func (s *solver) report(dst string, threads int, warn func(string)) (*SolveResult, error) {
	raw, hyb, n := agreement(s.c, s.ts)
	r := &SolveResult{Tensors: len(s.recipe.Tensors), Sensitivity: s.c.mode, SensitivityAuto: s.c.auto, TensorBudget: s.budget,
		Reference:    s.c.reference(),
		PredictedKLD: s.recipe.PredictedKLD, Pairs: n, SpearmanHessian: raw, SpearmanHybrid: hyb,
		Types: map[string]int{}, Chunks: len(s.ev.chunks), Budget: s.recipe.Budget, Recipe: s.recipe, Cached: s.cached}
	for _, t := range s.recipe.Tensors {
		r.Types[t.Type]++
	}
	// Streamed: one block's pages resident at a time, not the whole
	// written file beside the calibration model (at 1.1B the mapped file
	// raised the command's peak RSS from 1.48 to 1.82 GB).
	qm, err := engine.Load(dst, engine.Options{Threads: threads, Stream: true})
	if err != nil {
		return nil, err
	}
	defer qm.Close()
	if r.MeasuredKLD, err = s.ev.kld(qm); err != nil {
		return nil, err
	}
	r.FileBytes = bench.DiskSize(dst)
	if r.FileBytes > r.Budget {
		warn(fmt.Sprintf("the file is %d bytes over the budget (metadata larger than estimated)", r.FileBytes-r.Budget))
	}
	return r, nil
}

// dominantPreset returns the preset of the type holding the most
// parameters among the recipe's tensors (for general.file_type).
func dominantPreset(r *quantize.Recipe) (quantize.Preset, bool) {
	by := map[string]int64{}
	for _, t := range r.Tensors {
		by[t.Type] += t.Params
	}
	best, bt := int64(-1), ""
	for t, n := range by {
		if n > best || n == best && t < bt {
			best, bt = n, t
		}
	}
	for _, name := range []string{bt + "_m", bt} {
		if p, ok := quantize.LookupPreset(name); ok {
			return p, true
		}
	}
	return quantize.Preset{}, false
}

// solveOrRead returns the recipe to apply: solved when a target was given
// (with the solver, to report on the written file), read from the recipe
// option, or nil.
func solveOrRead(ctx context.Context, sc *solveConfig, pol quantize.Policy, infos []format.TensorInfo, mi quantize.ModelInfo, in sensitivityInput, calibPath string, ctxLen int) (*quantize.Recipe, *solver, error) {
	if sc.recipeIn != "" {
		r, err := readRecipe(sc.recipeIn)
		return r, nil, err
	}
	if !sc.solving() {
		return nil, nil, nil
	}
	s := &solver{c: sc}
	if err := s.solve(ctx, in, pol, infos, mi, calibPath, ctxLen); err != nil {
		return nil, nil, err
	}
	return s.recipe, s, nil
}

// readRecipe reads a recipe file, or the recipe recorded in a solved GGUF.
func readRecipe(path string) (*quantize.Recipe, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	head := make([]byte, 4)
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil || string(head) != gguf.Magic {
		return quantize.ReadRecipe(path)
	}
	g, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer g.Close()
	s, ok := g.Metadata.String(quantize.RecipeKey)
	if !ok {
		return nil, fmt.Errorf("%s: no %s: not a file written by shrink quantize --target-size/--target-bpw", path, quantize.RecipeKey)
	}
	r, err := quantize.ParseRecipe([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}
