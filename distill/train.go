package distill

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Options configures a training run. Zero values take the defaults noted.
type Options struct {
	Steps  int // optimizer steps, the length of the schedule (required)
	Batch  int // sequences per step, their gradients accumulated (1)
	Warmup int // steps of linear learning-rate warm-up (Steps/20)

	LR          float32 // peak learning rate (1e-3)
	MinLR       float32 // final learning rate of the cosine decay (LR/10)
	WeightDecay float32 // AdamW decoupled weight decay of matrices (0.01; negative: none)
	Beta1       float32 // (0.9)
	Beta2       float32 // (0.95)
	Eps         float32 // (1e-8)
	Clip        float32 // global gradient-norm clipping threshold (1; negative: none)
	Seed        uint64  // seeds the data order

	// The loss is KDWeight·Temperature²·KL(teacher||student) at the
	// temperature + CEWeight·cross-entropy on the text's next tokens +
	// HiddenWeight·MSE between the residual streams of matching blocks.
	KDWeight, CEWeight, HiddenWeight float32
	Temperature                      float32 // (1)
}

func (o *Options) defaults() {
	if o.Batch <= 0 {
		o.Batch = 1
	}
	if o.Warmup <= 0 {
		o.Warmup = max(o.Steps/20, 1)
	}
	if o.LR == 0 {
		o.LR = 1e-3
	}
	if o.MinLR == 0 {
		o.MinLR = o.LR / 10
	}
	if o.WeightDecay == 0 {
		o.WeightDecay = 0.01
	}
	o.WeightDecay = max(o.WeightDecay, 0)
	if o.Beta1 == 0 {
		o.Beta1 = 0.9
	}
	if o.Beta2 == 0 {
		o.Beta2 = 0.95
	}
	if o.Eps == 0 {
		o.Eps = 1e-8
	}
	if o.Clip == 0 {
		o.Clip = 1
	}
	if o.Temperature <= 0 {
		o.Temperature = 1
	}
}

// LRAt returns the learning rate of step (0-based): linear warm-up to LR
// over Warmup steps, then cosine decay to MinLR at Steps.
func (o *Options) LRAt(step int) float32 {
	if step < o.Warmup {
		return o.LR * float32(step+1) / float32(o.Warmup)
	}
	span := max(o.Steps-o.Warmup, 1)
	f := min(float64(step-o.Warmup)/float64(span), 1)
	return o.MinLR + float32((o.LR-o.MinLR)*float32(0.5*(1+math.Cos(math.Pi*f))))
}

// Teacher gives the target distribution of a training window.
type Teacher interface {
	// Teach returns the teacher's logits after every token of window
	// number win (tokens, T×VocabSize) and, when hidden states are
	// wanted and known, the residual stream after each of its blocks.
	// They may be overwritten by the next call.
	Teach(win int, tokens []int32, hidden bool) (logits []float32, states [][]float32, err error)
}

// ModelTeacher is a Teacher running a model's forward pass (no gradients).
type ModelTeacher struct{ M *Model }

// Teach implements Teacher.
func (mt ModelTeacher) Teach(win int, tokens []int32, hidden bool) ([]float32, [][]float32, error) {
	ps, err := mt.M.Forward(tokens, false)
	if err != nil {
		return nil, nil, err
	}
	return ps.Logits, ps.Hidden, nil
}

// Windows cuts a token stream into training windows of ctx+1 tokens: bos
// (when >= 0) then ctx tokens of text, stepping ctx tokens at a time; the
// model reads the first ctx tokens of a window and predicts the last ctx.
// Text shorter than one window gives a single shorter window.
func Windows(tokens []int32, ctx int, bos int32) [][]int32 {
	n := ctx
	if bos < 0 {
		n = ctx + 1
	}
	var ws [][]int32
	for off := 0; off == 0 || off+n <= len(tokens); off += ctx {
		end := min(off+n, len(tokens))
		w := make([]int32, 0, ctx+1)
		if bos >= 0 {
			w = append(w, bos)
		}
		w = append(w, tokens[off:end]...)
		if len(w) < 2 {
			return nil
		}
		ws = append(ws, w)
		if end == len(tokens) {
			break
		}
	}
	return ws
}

// Stats reports one step (or an evaluation).
type Stats struct {
	Step     int     // steps done after this one
	Loss     float64 // the weighted loss
	KLD      float64 // mean KL(teacher||student) per token at Options.Temperature
	CE       float64 // mean cross-entropy per predicted token (nats)
	Hidden   float64 // mean squared error of matched hidden states
	Tokens   int     // tokens processed
	LR       float32
	GradNorm float64 // before clipping
}

// Trainer runs the optimisation of a student model.
type Trainer struct {
	Student *Model
	Teacher Teacher // nil: hard labels only (CE)
	Windows [][]int32
	Opt     Options
	Step    int // optimizer steps done

	m, v [][]float32 // AdamW moments, per trainable parameter
}

// NewTrainer prepares training of student on windows (see Windows) with
// the given options; teacher may be nil when KDWeight and HiddenWeight are
// zero.
func NewTrainer(student *Model, teacher Teacher, windows [][]int32, opt Options) (*Trainer, error) {
	opt.defaults()
	if opt.Steps <= 0 {
		return nil, fmt.Errorf("distill: %d steps: want a positive number", opt.Steps)
	}
	if len(windows) == 0 {
		return nil, ErrData
	}
	if teacher == nil && (opt.KDWeight != 0 || opt.HiddenWeight != 0) {
		return nil, fmt.Errorf("%w: distillation losses need a teacher", ErrMismatch)
	}
	if opt.KDWeight == 0 && opt.CEWeight == 0 && opt.HiddenWeight == 0 {
		return nil, fmt.Errorf("distill: every loss weight is zero")
	}
	tr := &Trainer{Student: student, Teacher: teacher, Windows: windows, Opt: opt}
	tr.m = make([][]float32, len(student.Params))
	tr.v = make([][]float32, len(student.Params))
	for i, p := range student.Params {
		if !p.Frozen {
			tr.m[i] = make([]float32, len(p.W))
			tr.v[i] = make([]float32, len(p.W))
		}
	}
	student.mergeLoRA()
	return tr, nil
}

// window returns the index of the window the i-th sequence of training
// reads: every epoch visits every window once, in an order shuffled by
// the seed and the epoch, so that a resumed run reads the same data.
func (tr *Trainer) window(i int) int {
	n := len(tr.Windows)
	epoch, k := i/n, i%n
	rng := rand.New(rand.NewPCG(tr.Opt.Seed, uint64(epoch)))
	return rng.Perm(n)[k]
}

// matchLayer returns the teacher block whose output the student's block l
// of ls is compared with, for a teacher of lt blocks: the same relative
// depth.
func matchLayer(l, ls, lt int) int {
	return (l+1)*lt/ls - 1
}

// lossGrad runs the student on one window, adds the gradients of the
// loss scaled by scale to the parameters (when grad) and returns the
// unscaled statistics.
func (tr *Trainer) lossGrad(win int, scale float32, grad bool) (Stats, error) {
	o := &tr.Opt
	m := tr.Student
	w := tr.Windows[win]
	in, target := w[:len(w)-1], w[1:]
	T, V, D := len(in), m.Config.VocabSize, m.Config.Dim
	var st Stats
	var tl []float32
	var th [][]float32
	if tr.Teacher != nil {
		var err error
		if tl, th, err = tr.Teacher.Teach(win, in, o.HiddenWeight != 0); err != nil {
			return st, err
		}
		if len(tl) != T*V {
			return st, fmt.Errorf("%w: teacher gave %d logits for %d tokens of a %d-token vocabulary", ErrMismatch, len(tl), T, V)
		}
	}
	ps, err := m.Forward(in, grad)
	if err != nil {
		return st, err
	}
	var dl []float32
	if grad {
		dl = make([]float32, T*V)
	}
	tau := o.Temperature
	ce, kl := make([]float64, T), make([]float64, T)
	parallelFor(T, T*V*16, func(t0, t1 int) {
		tmp := make([]float32, 2*V)
		for t := t0; t < t1; t++ {
			z := ps.Logits[t*V : (t+1)*V]
			var dz []float32
			if grad {
				dz = dl[t*V : (t+1)*V]
			}
			if o.CEWeight != 0 || tl == nil || !grad { // evaluation always reports CE (perplexity)
				var g []float32
				if o.CEWeight != 0 {
					g = dz
				}
				ce[t] = ceRow(z, int(target[t]), g, scale*o.CEWeight/float32(T), tmp)
			}
			if tl != nil {
				var g []float32
				if o.KDWeight != 0 {
					g = dz
				}
				kl[t] = kdRow(z, tl[t*V:(t+1)*V], tau, g, scale*o.KDWeight/float32(T), tmp)
			}
		}
	})
	for t := range T {
		st.CE += ce[t]
		st.KLD += kl[t]
	}
	st.CE /= float64(T)
	st.KLD /= float64(T)
	var dh [][]float32
	if o.HiddenWeight != 0 && th != nil {
		ls, lt := len(ps.Hidden), len(th)
		dh = make([][]float32, ls)
		n := float32(T * D * ls)
		for l := range ls {
			hs, ht := ps.Hidden[l], th[matchLayer(l, ls, lt)]
			if len(ht) != len(hs) {
				return st, fmt.Errorf("%w: hidden-state loss needs the same width in teacher and student", ErrMismatch)
			}
			dh[l] = make([]float32, len(hs))
			for i := range hs {
				d := hs[i] - ht[i]
				st.Hidden += float64(d) * float64(d)
				dh[l][i] = 2 * d * scale * o.HiddenWeight / n
			}
		}
		st.Hidden /= float64(n)
	}
	st.Loss = float64(float64(o.CEWeight)*st.CE) + float64(float64(o.KDWeight*tau*tau)*st.KLD) + float64(float64(o.HiddenWeight)*st.Hidden)
	st.Tokens = T
	if grad {
		m.Backward(ps, dl, dh)
	}
	return st, nil
}

// TrainStep runs one optimizer step over Opt.Batch windows and returns
// their mean statistics.
func (tr *Trainer) TrainStep() (Stats, error) {
	o := &tr.Opt
	m := tr.Student
	m.zeroGrads()
	var st Stats
	for b := 0; b < o.Batch; b++ {
		s, err := tr.lossGrad(tr.window(tr.Step*o.Batch+b), 1/float32(o.Batch), true)
		if err != nil {
			return st, err
		}
		st.Loss += s.Loss / float64(o.Batch)
		st.KLD += s.KLD / float64(o.Batch)
		st.CE += s.CE / float64(o.Batch)
		st.Hidden += s.Hidden / float64(o.Batch)
		st.Tokens += s.Tokens
	}
	m.loraGrads()
	st.GradNorm = math.Sqrt(gradSumSq(m.Params))
	gscale := float32(1)
	if o.Clip > 0 && st.GradNorm > float64(o.Clip) {
		gscale = float32(float64(o.Clip) / st.GradNorm)
	}
	lr := o.LRAt(tr.Step)
	st.LR = lr
	t := float64(tr.Step + 1)
	bc1 := float32(1 - math.Pow(float64(o.Beta1), t))
	bc2 := float32(1 - math.Pow(float64(o.Beta2), t))
	for i, p := range m.Params {
		if p.Frozen {
			continue
		}
		mm, vv := tr.m[i], tr.v[i]
		decay := float32(1)
		if p.Decay {
			decay = 1 - float32(lr*o.WeightDecay)
		}
		parallelFor(len(p.G), len(p.G)*8, func(lo, hi int) {
			w, mm, vv := p.W[lo:hi], mm[lo:hi], vv[lo:hi]
			for j, g := range p.G[lo:hi] {
				g *= gscale
				mm[j] = float32(o.Beta1*mm[j]) + float32((1-o.Beta1)*g)
				vv[j] = float32(o.Beta2*vv[j]) + float32((1-o.Beta2)*g*g)
				mh := mm[j] / bc1
				vh := vv[j] / bc2
				w[j] = float32(w[j]*decay) - lr*mh/(float32(math.Sqrt(float64(vh)))+o.Eps)
			}
		})
	}
	m.mergeLoRA()
	tr.Step++
	st.Step = tr.Step
	return st, nil
}

// gradSumSq returns the sum of the squares of the trainable parameters'
// gradients, in float64: fixed chunks summed in parallel, then in order.
func gradSumSq(ps []*Param) float64 {
	var total float64
	for _, p := range ps {
		if p.Frozen {
			continue
		}
		const chunk = 1 << 15
		part := make([]float64, (len(p.G)+chunk-1)/chunk)
		parallelFor(len(part), len(p.G)*4, func(c0, c1 int) {
			for c := c0; c < c1; c++ {
				var s float64
				for _, g := range p.G[c*chunk : min(c*chunk+chunk, len(p.G))] {
					s += float64(g) * float64(g)
				}
				part[c] = s
			}
		})
		for _, s := range part {
			total += s
		}
	}
	return total
}

// Evaluate returns the mean statistics of the student over windows (no
// training) under the trainer's loss weights; a teacher (which may differ
// from the training one, e.g. a model instead of a cache) gives KLD too.
func (tr *Trainer) Evaluate(windows [][]int32, teacher Teacher) (Stats, error) {
	saved, savedT := tr.Windows, tr.Teacher
	tr.Windows, tr.Teacher = windows, teacher
	defer func() { tr.Windows, tr.Teacher = saved, savedT }()
	var st Stats
	for i := range windows {
		s, err := tr.lossGrad(i, 1, false)
		if err != nil {
			return st, err
		}
		n := float64(len(windows))
		st.Loss += s.Loss / n
		st.KLD += s.KLD / n
		st.CE += s.CE / n
		st.Hidden += s.Hidden / n
		st.Tokens += s.Tokens
	}
	st.Step = tr.Step
	return st, nil
}

// TimeStep measures the time of one training step of batch windows on m
// (forward and backward, no update), to plan a run's length: the second
// of two passes over a window, the first paying one-time costs (memory
// first touched, tables built).
func TimeStep(m *Model, windows [][]int32, batch int) (time.Duration, error) {
	tr := &Trainer{Student: m, Windows: windows, Opt: Options{CEWeight: 1}}
	tr.Opt.defaults()
	m.zeroGrads()
	var d time.Duration
	for range 2 {
		start := time.Now()
		if _, err := tr.lossGrad(0, 1, true); err != nil {
			return 0, err
		}
		d = time.Since(start)
	}
	m.zeroGrads()
	return d * time.Duration(max(batch, 1)), nil
}

// ReplanSteps returns the schedule length for a run of budget that has
// done done steps (of planned) in elapsed: planned, or more when the real
// pace fits more in the budget (a single measured step can be slow on a
// busy machine); never fewer, the time limit stopping a slower run.
func ReplanSteps(planned, done int, elapsed, budget time.Duration) int {
	if done <= 0 || elapsed <= 0 || elapsed >= budget {
		return planned
	}
	per := elapsed / time.Duration(done)
	return max(planned, done+int((budget-elapsed)/per))
}
