package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shrink-llm/shrink/internal/kernel"
)

// The products of a forward pass are split into tiles of rows that
// persistent worker goroutines and the calling goroutine take from a shared
// atomic counter, so a core slowed by other load simply takes fewer tiles.
// The caller never waits for a worker that has not started: it offers the
// task to the workers without blocking, works through the tiles itself,
// and then waits only for tiles a worker has claimed and not yet finished.
// Each task run is a new generation of its counter; a worker that picks a
// task up late finds the generation gone and drops it without touching
// the task's data. Tasks live in the Session and reach the workers as
// interface values holding a pointer, so a decode step allocates nothing.

// tasker is a unit of parallel work: run is called by each participating
// goroutine with the generation it was offered and its index (0 for the
// caller; worker indices are distinct within a generation).
type tasker interface {
	run(gen uint64, worker int)
}

// tiles hands out the tile indices of one generation of a task. state packs
// the generation (high 24 bits), the number of tiles (20 bits) and the next
// tile (20 bits), so that one atomic load tells a late worker that its
// generation is over.
type tiles struct {
	state atomic.Uint64
	done  atomic.Int64
	// sig receives one token per generation, from whoever finishes its
	// last tile; the caller waits for it.
	sig chan struct{}
}

const (
	tileBits = 20
	maxTiles = 1<<tileBits - 1
)

// start opens generation gen with n tiles (n <= maxTiles); the task's
// fields must be set before.
func (c *tiles) start(gen uint64, n int) {
	if c.sig == nil {
		c.sig = make(chan struct{}, 1)
	}
	c.done.Store(0)
	c.state.Store(gen<<(2*tileBits) | uint64(n)<<tileBits)
}

// claim returns the next tile of generation gen and the number of tiles,
// or false when there is none left or the generation is over.
func (c *tiles) claim(gen uint64) (i, n int, ok bool) {
	for {
		v := c.state.Load()
		if v>>(2*tileBits) != gen&(1<<(64-2*tileBits)-1) {
			return 0, 0, false
		}
		n, i := int(v>>tileBits&maxTiles), int(v&maxTiles)
		if i >= n {
			return 0, 0, false
		}
		if c.state.CompareAndSwap(v, v+1) {
			return i, n, true
		}
	}
}

// finish records a finished tile of a generation of n tiles; the last one
// sends the generation's token.
func (c *tiles) finish(n int) {
	if c.done.Add(1) == int64(n) {
		c.sig <- struct{}{}
	}
}

// wait returns when the generation's n tiles are finished: it polls for a
// while (see spinTime), then sleeps until the token comes, which it always
// takes.
func (c *tiles) wait(n int) {
	spinWhile(func() bool { return c.done.Load() < int64(n) })
	<-c.sig
}

// spinWhile polls busy until it reports false or spinTime has passed,
// reading the clock every 256 polls.
func spinWhile(busy func() bool) {
	var deadline time.Time
	for i := 0; busy(); i++ {
		if i&255 == 255 {
			if now := time.Now(); deadline.IsZero() {
				deadline = now.Add(spinTime)
			} else if now.After(deadline) {
				return
			}
		}
	}
}

// spinTime bounds the polling of a goroutine before it sleeps. Waking a
// sleeping goroutine takes 20-200 µs on a virtual machine, far longer than
// a tile, and a decode step hands out a task every 50-300 µs: with a
// shorter poll, a third of the tasks started without the worker.
const spinTime = 300 * time.Microsecond

type poolJob struct {
	t      tasker
	gen    uint64
	worker int
}

// pool is a Model's set of worker goroutines, started on first use and
// stopped when the Model is garbage collected.
type pool struct {
	mu sync.Mutex
	n  int // workers started
	ch chan poolJob
}

func workerLoop(ch chan poolJob) {
	for {
		spinWhile(func() bool { return len(ch) == 0 })
		j, ok := <-ch
		if !ok {
			return
		}
		j.t.run(j.gen, j.worker)
	}
}

// ensureWorkers starts workers until there are n.
func (m *Model) ensureWorkers(n int) *pool {
	p := &m.pool
	p.mu.Lock()
	if p.ch == nil {
		p.ch = make(chan poolJob, 256)
		runtime.AddCleanup(m, func(ch chan poolJob) { close(ch) }, p.ch)
	}
	for ; p.n < n; p.n++ {
		go workerLoop(p.ch)
	}
	p.mu.Unlock()
	return p
}

// runParallel runs generation gen of task t, whose counter c has ntiles
// tiles, on the caller and up to n-1 workers, and returns when every tile
// is done.
func (m *Model) runParallel(t tasker, c *tiles, gen uint64, ntiles, n int) {
	if ntiles <= 0 {
		return
	}
	c.start(gen, ntiles)
	if n > 1 && ntiles > 1 {
		p := m.ensureWorkers(n - 1)
		for i := 1; i < n; i++ {
			select {
			case p.ch <- poolJob{t: t, gen: gen, worker: i}:
			default: // workers busy: the caller does the work
			}
		}
	}
	t.run(gen, 0)
	c.wait(ntiles)
}

// matmulTask is up to three products W·x sharing one input (q, k and v;
// gate and up) for T activation rows, split in tiles of weight rows and
// run as one parallel task so that the threads meet once; each weight row
// is read once for all T activation rows.
type matmulTask struct {
	kern   *kernel.Impl
	parts  [3]mmPart
	np     int
	glu    bool  // parts are gate and up: see Session.matmulN
	T      int   // activation rows
	starts []int // first weight row of each tile
	c      tiles
}

// mmPart is one product of a matmulTask: its tiles are t0..t1-1 of the
// task, tile i starting at weight row starts[i].
type mmPart struct {
	w      *weight
	vs     []kernel.Vec
	out    []float32
	bias   []float32 // added by the task itself with glu
	t0, t1 int
}

func (t *matmulTask) run(gen uint64, _ int) {
	for {
		i, n, ok := t.c.claim(gen)
		if !ok {
			return
		}
		p := &t.parts[0]
		for k := 1; k < t.np && i >= p.t1; k++ {
			p = &t.parts[k]
		}
		w := p.w
		r0, r1 := t.starts[i], w.rows
		if i+1 < p.t1 {
			r1 = t.starts[i+1]
		}
		t.kern.MatMulRows(w.typ, w.data, w.rowBytes, r0, r1, p.vs, p.out, w.rows)
		if t.glu {
			u := &t.parts[1]
			t.kern.MatMulRows(u.w.typ, u.w.data, u.w.rowBytes, r0, r1, u.vs, u.out, w.rows)
			swiglu(t.kern, p.out, u.out, p.bias, u.bias, w.rows, r0, r1, t.T)
		}
		t.c.finish(n)
	}
}

// swiglu sets g[t*rows+r] = silu(g+bg) * (u+bu) for the rows r0 <= r < r1
// of the T activation rows (bg, bu: biases or nil).
func swiglu(kern *kernel.Impl, g, u, bg, bu []float32, rows, r0, r1, T int) {
	for t := 0; t < T; t++ {
		gt, ut := g[t*rows+r0:t*rows+r1], u[t*rows+r0:t*rows+r1]
		if bg != nil {
			for i, b := range bg[r0:r1] {
				gt[i] += b
			}
		}
		if bu != nil {
			for i, b := range bu[r0:r1] {
				ut[i] += b
			}
		}
		kern.SiLUMul(gt, ut)
	}
}

// attnTask is causal attention for T new tokens over all heads, split in
// chunks of (token, head) pairs; worker i uses the score buffer
// s.scores[i].
type attnTask struct {
	s            *Session
	L            *layer
	T, qd, kd    int
	hd, group    int
	scale        float32
	kc, vc       []float32
	c            tiles
	nJobs, chunk int
}
