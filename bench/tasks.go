package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/tokenizer"
)

// TaskOptions configure EvaluateTask.
type TaskOptions struct {
	// Ctx is the most tokens an item (its shared prefix and all its
	// continuations, llama.cpp's "required tokens") may take, as
	// llama-perplexity's -c (0: 512). A larger item is an error.
	Ctx int
	// Limit selects that many items at random as llama-perplexity's
	// --hellaswag-tasks, --winogrande-tasks and --multiple-choice-tasks
	// do (same generator, seed and draws). 0: llama.cpp's default, 400
	// for HellaSwag (in a random order, as llama.cpp), all for the others;
	// negative: all. Domain files always use all items in file order.
	Limit int
	// MaxTokens bounds a generation (0: 64).
	MaxTokens int
	// Stop strings end a generation (the output is cut before the first).
	Stop []string
	// Progress, when not nil, is called after every item.
	Progress func(done, total int)
}

// TaskResult is a task's accuracy and per-item results, the "tasks" entry
// of a report.
type TaskResult struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Format string `json:"format"`
	// N is the number of scored items, Correct how many were right.
	N       int `json:"n"`
	Correct int `json:"correct"`
	// Accuracy is Correct/N; Stderr is llama-perplexity's ± figure (as a
	// fraction): sqrt(p(1-p)/(N-1)); CI95 the Wilson score interval.
	Accuracy float64    `json:"accuracy"`
	Stderr   float64    `json:"stderr"`
	CI95     [2]float64 `json:"ci95"`
	// Norm is the length-normalised accuracy (acc_norm) of a "choice"
	// file; Accuracy is then lm-evaluation-harness's acc.
	Norm *Accuracy `json:"acc_norm,omitempty"`
	// Chance is llama.cpp's "random chance": items / answers offered.
	Chance  float64 `json:"chance,omitempty"`
	choices int
	// Skipped counts the rows llama.cpp skips (WinoGrande).
	Skipped int `json:"skipped,omitempty"`
	// Items are the per-item results in evaluation order.
	Items []ItemResult `json:"items"`
}

// Accuracy is a proportion with its standard error and interval.
type Accuracy struct {
	Correct  int        `json:"correct"`
	Accuracy float64    `json:"accuracy"`
	Stderr   float64    `json:"stderr"`
	CI95     [2]float64 `json:"ci95"`
}

// ItemResult is one item's outcome. I is the item's 0-based index in its
// file (WinoGrande: among the rows read), Pred the chosen answer (WinoGrande:
// 1 or 2 as llama.cpp prints it; otherwise 0-based), Gold the correct one,
// OK whether it was right. PredNorm and OKNorm are the acc_norm choice of a
// "choice" item; Output is a generation's text.
type ItemResult struct {
	I        int    `json:"i"`
	Pred     int    `json:"pred"`
	Gold     int    `json:"gold"`
	OK       bool   `json:"ok"`
	PredNorm *int   `json:"pred_norm,omitempty"`
	OKNorm   *bool  `json:"ok_norm,omitempty"`
	Output   string `json:"output,omitempty"`
	// Scores are the per-choice scores the choice was made from (mean
	// log-probabilities; "choice" items: summed log-likelihoods). Not
	// written to reports, which stay small.
	Scores []float64 `json:"-"`
}

// newAccuracy returns the proportion k/n with llama.cpp's standard error
// and the Wilson 95% interval.
func newAccuracy(k, n int) Accuracy {
	a := Accuracy{Correct: k}
	if n == 0 {
		return a
	}
	p := float64(k) / float64(n)
	a.Accuracy = p
	if n > 1 {
		a.Stderr = math.Sqrt(p * (1 - p) / float64(n-1))
	}
	a.CI95 = wilson(k, n, 1.959963984540054)
	return a
}

// wilson returns the Wilson score interval of k successes in n trials.
func wilson(k, n int, z float64) [2]float64 {
	p, nf := float64(k)/float64(n), float64(n)
	d := 1 + z*z/nf
	c := (p + z*z/(2*nf)) / d
	h := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / d
	return [2]float64{math.Max(0, c-h), math.Min(1, c+h)}
}

// finish fills the totals from the items.
func (r *TaskResult) finish() {
	k := 0
	kn, hasNorm := 0, false
	for _, it := range r.Items {
		if it.OK {
			k++
		}
		if it.OKNorm != nil {
			hasNorm = true
			if *it.OKNorm {
				kn++
			}
		}
	}
	r.N = len(r.Items)
	if r.choices > 0 {
		r.Chance = float64(r.N) / float64(r.choices)
	}
	a := newAccuracy(k, r.N)
	r.Correct, r.Accuracy, r.Stderr, r.CI95 = a.Correct, a.Accuracy, a.Stderr, a.CI95
	if hasNorm {
		an := newAccuracy(kn, r.N)
		r.Norm = &an
	}
}

// taskRunner scores token sequences that share a prefix on one session.
type taskRunner struct {
	m    *engine.Model
	tok  *tokenizer.Tokenizer
	s    *engine.Session
	ctx  int
	V    int
	keep []float32 // rows of the shared prefix kept for scoring
	last []float32 // the last row of the first sequence (WinoGrande)
}

func newTaskRunner(m *engine.Model, ctx int) (*taskRunner, error) {
	if m.Vocab == nil {
		return nil, fmt.Errorf("bench: the model has no tokenizer")
	}
	tok, err := tokenizer.New(m.Vocab)
	if err != nil {
		return nil, err
	}
	if ctx <= 0 {
		ctx = 512
	}
	return &taskRunner{m: m, tok: tok, s: m.NewSession(ctx), ctx: ctx, V: m.Config.VocabSize}, nil
}

// tokenLogProb returns log softmax(row)[t].
func tokenLogProb(row []float32, t int32) float64 {
	mx := row[0]
	for _, v := range row[1:] {
		mx = max(mx, v)
	}
	var sum float64
	for _, v := range row {
		sum += math.Exp(float64(v - mx))
	}
	return float64(row[t]-mx) - math.Log(sum)
}

// commonPrefix returns the number of leading tokens all seqs share, at
// most one less than the shortest so that every sequence has a token of
// its own (llama.cpp reads past the end there).
func commonPrefix(seqs [][]int32) int {
	short := len(seqs[0])
	for _, s := range seqs {
		short = min(short, len(s))
	}
	n := 0
	for n < short-1 {
		for _, s := range seqs[1:] {
			if s[n] != seqs[0][n] {
				return n
			}
		}
		n++
	}
	return n
}

// score evaluates seqs as llama.cpp's batch does (their common prefix once,
// then each continuation after it) and returns, per sequence s, the
// log-probabilities of its tokens from[s] .. len-1 (token j given the
// tokens before it; from[s] ≥ 1). With wgQuirk, the token at the common
// prefix of the second sequence is scored with the first sequence's last
// logits instead of its own, as llama-perplexity's WinoGrande does when its
// scoring starts there (its FIXME).
func (r *taskRunner) score(seqs [][]int32, from []int, wgQuirk bool) ([][]float64, error) {
	cp := commonPrefix(seqs)
	need := cp
	lo := cp
	for i, s := range seqs {
		need += len(s) - cp
		if from[i] < 1 || from[i] > len(s) {
			return nil, fmt.Errorf("bench: nothing to score")
		}
		lo = min(lo, from[i])
	}
	if cp == 0 {
		return nil, fmt.Errorf("the choices share no first token (the vocabulary adds no BOS)")
	}
	if need > r.ctx {
		return nil, fmt.Errorf("needs %d tokens, more than the context of %d (raise --ctx)", need, r.ctx)
	}
	V := r.V
	r.s.Reset()
	logits, err := r.s.ForwardAll(seqs[0][:cp])
	if err != nil {
		return nil, err
	}
	if err := finiteRows(logits); err != nil {
		return nil, err
	}
	r.keep = append(r.keep[:0], logits[(lo-1)*V:cp*V]...)
	out := make([][]float64, len(seqs))
	for i, s := range seqs {
		r.s.Truncate(cp)
		rows, err := r.s.ForwardAll(s[cp:])
		if err != nil {
			return nil, err
		}
		if err := finiteRows(rows); err != nil {
			return nil, err
		}
		lp := make([]float64, 0, len(s)-from[i])
		for j := from[i]; j < len(s); j++ {
			var row []float32
			switch p := j - 1; {
			case wgQuirk && i == 1 && j == cp && r.last != nil:
				row = r.last
			case p < cp:
				row = r.keep[(p-lo+1)*V : (p-lo+2)*V]
			default:
				row = rows[(p-cp)*V : (p-cp+1)*V]
			}
			lp = append(lp, tokenLogProb(row, s[j]))
		}
		out[i] = lp
		if i == 0 && wgQuirk {
			r.last = append(r.last[:0], rows[len(rows)-V:]...)
		}
	}
	return out, nil
}

// finiteRows fails on a non-finite logit: an answer chosen from NaN scores
// would be meaningless.
func finiteRows(x []float32) error {
	for _, v := range x {
		if v-v != 0 {
			return fmt.Errorf("the model gives a non-finite logit")
		}
	}
	return nil
}

func sum(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s
}

// argmaxFirst returns the index of the largest value, the first on ties
// (a later value must be strictly larger, as in llama.cpp).
func argmaxFirst(x []float64) int {
	best := 0
	for i, v := range x[1:] {
		if v > x[best] {
			best = i + 1
		}
	}
	return best
}

// EvaluateTask scores the items of f on m and returns the task's accuracy
// and per-item results.
func EvaluateTask(ctx context.Context, m *engine.Model, f *TaskFile, opt TaskOptions) (*TaskResult, error) {
	r, err := newTaskRunner(m, opt.Ctx)
	if err != nil {
		return nil, err
	}
	res := &TaskResult{Name: f.Name, Path: f.Path, Format: f.Format, Skipped: f.Skipped}
	switch f.Format {
	case FormatHellaSwag:
		err = r.hellaSwag(ctx, f.HellaSwag, opt, res)
	case FormatWinoGrande:
		err = r.winoGrande(ctx, f.WinoGrande, opt, res)
	case FormatMultipleChoice:
		err = r.multipleChoice(ctx, f.MultipleChoice, opt, res)
	case FormatChoice:
		err = r.choice(ctx, f.Choice, opt, res)
	case FormatGenerate:
		err = r.generate(ctx, f.Generate, opt, res)
	default:
		err = fmt.Errorf("%w: unknown format %q", ErrTaskFile, f.Format)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	res.finish()
	return res, nil
}

// forEach runs fn for every index of order, checking ctx and reporting
// progress.
func forEach(ctx context.Context, order []int, opt TaskOptions, fn func(i int) error) error {
	for done, i := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(i); err != nil {
			return fmt.Errorf("item %d: %w", i+1, err)
		}
		if opt.Progress != nil {
			opt.Progress(done+1, len(order))
		}
	}
	return nil
}

// hellaSwagOrder returns the items llama-perplexity's --hellaswag scores, in
// its order: limit draws (default 400, at most all) of a uniformly chosen
// remaining item with std::mt19937(1).
func hellaSwagOrder(n, limit int) []int {
	if limit == 0 {
		limit = 400
	}
	if limit < 0 || limit > n {
		limit = n
	}
	rng := newMT19937(1)
	left := make([]int, n)
	for i := range left {
		left[i] = i
	}
	order := make([]int, limit)
	for i := range order {
		k := int(rng.uniform(uint64(len(left))))
		order[i] = left[k]
		left = append(left[:k], left[k+1:]...)
	}
	return order
}

// subsetOrder returns llama.cpp's WinoGrande / multiple-choice selection:
// all items in order when limit is 0, negative or at least n; otherwise
// limit draws j = int(2^-32·rng()·remaining) from std::mt19937(1), each
// drawn item replaced by the last remaining one.
func subsetOrder(n, limit int) []int {
	aux := make([]int, n)
	for i := range aux {
		aux[i] = i
	}
	if limit <= 0 || limit >= n {
		return aux
	}
	rng := newMT19937(1)
	order := make([]int, limit)
	for i := range order {
		j := rng.pickScaled(len(aux))
		order[i] = aux[j]
		aux[j] = aux[len(aux)-1]
		aux = aux[:len(aux)-1]
	}
	return order
}

// hellaSwag scores each ending as context + " " + ending (with BOS) by the
// mean log-probability of its tokens after the common prefix and picks the
// largest (acc_norm in llama.cpp's terms).
func (r *taskRunner) hellaSwag(ctx context.Context, items []HellaSwagItem, opt TaskOptions, res *TaskResult) error {
	return forEach(ctx, hellaSwagOrder(len(items), opt.Limit), opt, func(i int) error {
		it := &items[i]
		seqs := make([][]int32, 4)
		for k, e := range it.Endings {
			seqs[k] = r.tok.Encode(it.Context+" "+e, true)
		}
		pred, means, err := r.meanChoice(seqs)
		if err != nil {
			return err
		}
		res.choices += 4
		res.Items = append(res.Items, ItemResult{I: i, Pred: pred, Gold: it.Gold, OK: pred == it.Gold, Scores: means})
		return nil
	})
}

// meanChoice returns the sequence with the largest mean log-probability of
// the tokens after the common prefix.
func (r *taskRunner) meanChoice(seqs [][]int32) (int, []float64, error) {
	cp := commonPrefix(seqs)
	from := make([]int, len(seqs))
	for k := range from {
		from[k] = cp
	}
	lps, err := r.score(seqs, from, false)
	if err != nil {
		return 0, nil, err
	}
	means := make([]float64, len(seqs))
	for k, lp := range lps {
		means[k] = sum(lp) / float64(len(lp))
	}
	return argmaxFirst(means), means, nil
}

// multipleChoice scores question + " " + answer as HellaSwag does; an item
// is right when the chosen answer's label is 1.
func (r *taskRunner) multipleChoice(ctx context.Context, items []MultipleChoiceItem, opt TaskOptions, res *TaskResult) error {
	return forEach(ctx, subsetOrder(len(items), opt.Limit), opt, func(i int) error {
		it := &items[i]
		seqs := make([][]int32, len(it.Answers))
		for k, a := range it.Answers {
			seqs[k] = r.tok.Encode(it.Question+" "+a, true)
		}
		pred, means, err := r.meanChoice(seqs)
		if err != nil {
			return err
		}
		gold := -1
		for k, l := range it.Labels {
			if l == 1 {
				gold = k
				break
			}
		}
		res.choices += len(it.Answers)
		res.Items = append(res.Items, ItemResult{I: i, Pred: pred, Gold: gold, OK: it.Labels[pred] == 1, Scores: means})
		return nil
	})
}

// sameStart reports whether the shorter of a and b is a prefix of the
// longer.
func sameStart(a, b []int32) bool {
	n := min(len(a), len(b))
	return slices.Equal(a[:n], b[:n])
}

// winoGrandeMinTrailing is llama.cpp's k_min_trailing_ctx: with more than
// this many tokens after the common prefix in both sentences, only the
// tokens after the choice word are scored.
const winoGrandeMinTrailing = 3

// winoGrande scores first + choice + second (with BOS) for both choices by
// the mean log-probability of the tokens after the choice (or, with a short
// remainder, after the common prefix), the last token excluded when more
// than one is left, and answers 1 when the first is strictly larger.
func (r *taskRunner) winoGrande(ctx context.Context, items []WinoGrandeItem, opt TaskOptions, res *TaskResult) error {
	return forEach(ctx, subsetOrder(len(items), opt.Limit), opt, func(i int) error {
		it := &items[i]
		var seqs [2][]int32
		var base [2]int
		for k := range seqs {
			seqs[k] = r.tok.Encode(it.First+it.Choices[k]+it.Second, true)
			base[k] = len(r.tok.Encode(it.First+it.Choices[k], true))
		}
		if sameStart(seqs[0], seqs[1]) {
			// One sentence starts with all of the other (the same choice
			// twice): llama.cpp scores no token of it, a NaN, and answers 2.
			nan := math.NaN()
			res.choices += 2
			res.Items = append(res.Items, ItemResult{I: i, Pred: 2, Gold: it.Answer, OK: it.Answer == 2, Scores: []float64{nan, nan}})
			return nil
		}
		cp := commonPrefix(seqs[:])
		skip := len(seqs[0])-cp > winoGrandeMinTrailing && len(seqs[1])-cp > winoGrandeMinTrailing
		var from, last [2]int
		for k := range seqs {
			if !skip {
				base[k] = cp
			}
			base[k] = min(max(base[k], 1), len(seqs[k]))
			if len(seqs[k])-base[k] > 1 {
				last[k] = 1
			}
			from[k] = base[k]
		}
		r.last = nil
		// llama.cpp scores the second sentence's token at the common prefix
		// with the first sentence's last logits (its FIXME): whenever
		// scoring starts there, the choice word skipped or not.
		lps, err := r.score(seqs[:], from[:], from[1] == cp)
		if err != nil {
			return err
		}
		var sc [2]float32
		for k, lp := range lps {
			lp = lp[:len(lp)-last[k]]
			var s float32
			for _, v := range lp {
				s += float32(v)
			}
			sc[k] = s / float32(len(lp))
		}
		pred := 2
		if sc[0] > sc[1] {
			pred = 1
		}
		res.choices += 2
		res.Items = append(res.Items, ItemResult{I: i, Pred: pred, Gold: it.Answer, OK: pred == it.Answer, Scores: []float64{float64(sc[0]), float64(sc[1])}})
		return nil
	})
}

// choice scores a domain item as lm-evaluation-harness does a
// multiple_choice task with target delimiter " ": context = query (its
// trailing white space moved to the continuation), continuation = " " +
// choice; the continuation's tokens are those of context+continuation after
// the context's (both with BOS when the vocabulary adds it). acc picks the
// largest summed log-likelihood, acc_norm the largest per character of the
// choice (len() of the Python string), both the first on ties.
func (r *taskRunner) choice(ctx context.Context, items []ChoiceItem, opt TaskOptions, res *TaskResult) error {
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	return forEach(ctx, order, opt, func(i int) error {
		it := &items[i]
		q := strings.TrimRight(it.Query, " \t\n\r\v\f")
		space := it.Query[len(q):]
		nctx := max(len(r.tok.Encode(q, true)), 1)
		seqs := make([][]int32, len(it.Choices))
		from := make([]int, len(it.Choices))
		for k, c := range it.Choices {
			seqs[k] = r.tok.Encode(q+space+" "+c, true)
			if nctx >= len(seqs[k]) {
				return fmt.Errorf("choice %d adds no token to the query", k)
			}
			from[k] = nctx
		}
		lps, err := r.score(seqs, from, false)
		if err != nil {
			return err
		}
		ll := make([]float64, len(seqs))
		norm := make([]float64, len(seqs))
		for k, lp := range lps {
			ll[k] = sum(lp)
			norm[k] = ll[k] / float64(utf8.RuneCountInString(it.Choices[k]))
		}
		pred, pn := argmaxFirst(ll), argmaxFirst(norm)
		okn := pn == *it.Gold
		res.choices += len(it.Choices)
		res.Items = append(res.Items, ItemResult{I: i, Pred: pred, Gold: *it.Gold, OK: pred == *it.Gold, PredNorm: &pn, OKNorm: &okn, Scores: ll})
		return nil
	})
}

// generate runs each prompt (with BOS) greedily: the most likely token
// each step (the first on ties), until the end-of-sequence token,
// MaxTokens tokens (default 64), a full context, or a stop string (the
// options' and the item's), the output being cut before the first stop
// string. A "target" item is right when the output equals the target, both
// stripped of surrounding white space; a "pattern" item when the regular
// expression (Go RE2 syntax) matches somewhere in the output.
func (r *taskRunner) generate(ctx context.Context, items []GenerateItem, opt TaskOptions, res *TaskResult) error {
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	maxTok := opt.MaxTokens
	if maxTok <= 0 {
		maxTok = 64
	}
	return forEach(ctx, order, opt, func(i int) error {
		it := &items[i]
		out, err := r.greedy(it.Prompt, maxTok, append(append([]string(nil), opt.Stop...), it.Stop...))
		if err != nil {
			return err
		}
		ok := false
		if it.Target != nil {
			ok = strings.TrimSpace(out) == strings.TrimSpace(*it.Target)
		} else {
			ok = it.re.MatchString(out)
		}
		pred := 0
		if ok {
			pred = 1
		}
		res.Items = append(res.Items, ItemResult{I: i, Pred: pred, Gold: 1, OK: ok, Output: out})
		return nil
	})
}

// greedy returns the greedy continuation of prompt.
func (r *taskRunner) greedy(prompt string, maxTok int, stop []string) (string, error) {
	toks := r.tok.Encode(prompt, true)
	if len(toks) == 0 {
		return "", fmt.Errorf("the prompt has no tokens")
	}
	if len(toks) >= r.ctx {
		return "", fmt.Errorf("the prompt has %d tokens, the context %d (raise --ctx)", len(toks), r.ctx)
	}
	r.s.Reset()
	logits, err := r.s.Forward(toks)
	if err != nil {
		return "", err
	}
	var gen []int32
	text := ""
	for len(gen) < maxTok {
		if err := finiteRows(logits); err != nil {
			return "", err
		}
		t := engine.Argmax(logits)
		if t == r.tok.EOS() {
			break
		}
		gen = append(gen, t)
		text = r.tok.Decode(gen)
		if cut, ok := cutStop(text, stop); ok {
			return cut, nil
		}
		if r.s.Pos() >= r.ctx {
			break
		}
		if logits, err = r.s.Forward([]int32{t}); err != nil {
			return "", err
		}
	}
	return text, nil
}

// cutStop returns text before the earliest stop string, and whether one
// occurs.
func cutStop(text string, stop []string) (string, bool) {
	at := -1
	for _, s := range stop {
		if s == "" {
			continue
		}
		if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	if at < 0 {
		return text, false
	}
	return text[:at], true
}
