package engine

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/shrink-llm/shrink/internal/kernel"
)

// The products of a forward pass are split into tiles of rows that
// persistent worker goroutines and the calling goroutine take from a shared
// atomic counter, so a core slowed by other load simply takes fewer tiles.
// Tasks live in the Session and reach the workers as interface values
// holding a pointer, so a decode step allocates nothing.

// tasker is a unit of parallel work: run is called once by each of the
// participating goroutines with its index (0 for the caller).
type tasker interface {
	run(worker int)
}

type poolJob struct {
	t      tasker
	worker int
	wg     *sync.WaitGroup
}

// pool is a Model's set of worker goroutines, started on first use and
// stopped when the Model is garbage collected.
type pool struct {
	mu sync.Mutex
	n  int // workers started
	ch chan poolJob
}

func workerLoop(ch chan poolJob) {
	for j := range ch {
		j.t.run(j.worker)
		j.wg.Done()
	}
}

// ensure starts workers until there are n.
func (m *Model) ensureWorkers(n int) *pool {
	p := &m.pool
	p.mu.Lock()
	if p.ch == nil {
		p.ch = make(chan poolJob)
		runtime.AddCleanup(m, func(ch chan poolJob) { close(ch) }, p.ch)
	}
	for ; p.n < n; p.n++ {
		go workerLoop(p.ch)
	}
	p.mu.Unlock()
	return p
}

// runParallel runs t on n goroutines (the caller and n-1 workers) and waits
// for all of them; wg is the caller's (reused) wait group.
func (m *Model) runParallel(t tasker, n int, wg *sync.WaitGroup) {
	if n <= 1 {
		t.run(0)
		return
	}
	p := m.ensureWorkers(n - 1)
	wg.Add(n - 1)
	for i := 1; i < n; i++ {
		p.ch <- poolJob{t: t, worker: i, wg: wg}
	}
	t.run(0)
	wg.Wait()
}

// matmulTask is one product W·x for T activation rows, split in tiles of
// weight rows; each weight row is read once for all T activation rows.
type matmulTask struct {
	kern *kernel.Impl
	w    *weight
	vs   []kernel.Vec
	out  []float32
	tile int
	next atomic.Int64
}

func (t *matmulTask) run(int) {
	w := t.w
	for {
		r0 := int(t.next.Add(int64(t.tile))) - t.tile
		if r0 >= w.rows {
			return
		}
		r1 := min(r0+t.tile, w.rows)
		t.kern.MatMulRows(w.typ, w.data, w.rowBytes, r0, r1, t.vs, t.out, w.rows)
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
	next         atomic.Int64
	nJobs, chunk int
}
