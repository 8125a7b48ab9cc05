package engine

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/internal/kernel"
	"github.com/shrink-llm/shrink/model"
	"github.com/shrink-llm/shrink/quantize"
)

// tinyLlamaConfig has TinyLlama-1.1B's shape.
func tinyLlamaConfig() *model.Config {
	n := 22
	rep := func(v int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = v
		}
		return s
	}
	return &model.Config{
		Arch: "llama", Dim: 2048, Layers: n, Heads: rep(32), KVHeads: rep(4), FFN: rep(5632),
		HeadDim: 64, VocabSize: 32000, Context: 2048, NormEps: 1e-5, RopeBase: 10000, RopeDim: 64,
	}
}

// randomModel builds a model of cfg with matrices of type dt. To keep the
// build fast, each matrix tiles a pool of 64 randomly generated (and
// encoded) rows.
func randomModel(tb testing.TB, cfg *model.Config, dt format.DType) *Model {
	r := rand.New(rand.NewPCG(42, uint64(dt)))
	pools := map[int][]byte{}
	pool := func(cols int) []byte {
		if p, ok := pools[cols]; ok {
			return p
		}
		rb, err := dt.RowBytes(int64(cols))
		if err != nil {
			tb.Fatal(err)
		}
		p := make([]byte, 64*rb)
		x := make([]float32, cols)
		for i := 0; i < 64; i++ {
			for j := range x {
				x[j] = float32(r.NormFloat64() * 0.02)
			}
			if err := quantize.EncodeRow(dt, p[int64(i)*rb:int64(i+1)*rb], x, nil); err != nil {
				tb.Fatal(err)
			}
		}
		pools[cols] = p
		return p
	}
	var ts []Tensor
	mat := func(name string, cols, rows int) {
		p := pool(cols)
		rb := len(p) / 64
		data := make([]byte, rows*rb)
		for off := 0; off < len(data); off += len(p) {
			copy(data[off:], p)
		}
		ts = append(ts, Tensor{Name: name, Type: dt, Shape: []int64{int64(cols), int64(rows)}, Data: data})
	}
	norm := func(name string, n int) {
		f := make([]float32, n)
		for i := range f {
			f[i] = 1
		}
		data := make([]byte, 4*n)
		_ = format.EncodeFloats(format.F32, f, data)
		ts = append(ts, Tensor{Name: name, Type: format.F32, Shape: []int64{int64(n)}, Data: data})
	}
	D := cfg.Dim
	mat("token_embd.weight", D, cfg.VocabSize)
	mat("output.weight", D, cfg.VocabSize)
	norm("output_norm.weight", D)
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		norm(p+"attn_norm.weight", D)
		norm(p+"ffn_norm.weight", D)
		mat(p+"attn_q.weight", D, cfg.QDim(l))
		mat(p+"attn_k.weight", D, cfg.KVDim(l))
		mat(p+"attn_v.weight", D, cfg.KVDim(l))
		mat(p+"attn_output.weight", cfg.QDim(l), D)
		mat(p+"ffn_gate.weight", D, cfg.FFN[l])
		mat(p+"ffn_up.weight", D, cfg.FFN[l])
		mat(p+"ffn_down.weight", cfg.FFN[l], D)
	}
	m, err := NewModel(cfg, nil, ts, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkTinyLlama measures decode (one token at a time after a 16-token
// prompt) and prefill (a 32-token batch) on a TinyLlama-1.1B-shaped model
// with random weights, for the common storage types. It builds up to 2.2 GB
// of weights; run it with -benchtime=1x or a few x on small machines:
//
//	go test ./engine -run '^$' -bench TinyLlama -benchtime 3x
func BenchmarkTinyLlama(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 1.1B-parameter model")
	}
	cfg := tinyLlamaConfig()
	for _, dt := range []format.DType{format.F16, format.Q8_0, format.Q4_0, format.Q4_K} {
		var m *Model
		build := func(b *testing.B) {
			if m == nil {
				m = randomModel(b, cfg, dt)
			}
		}
		toks := testTokens(48, cfg.VocabSize)
		b.Run(dt.String()+"/decode", func(b *testing.B) {
			build(b)
			s := m.NewSession(256)
			if _, err := s.Forward(toks[:16]); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if s.Pos() >= 200 {
					s.Truncate(16)
				}
				if _, err := s.Forward(toks[i%len(toks) : i%len(toks)+1]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
		b.Run(dt.String()+"/prefill32", func(b *testing.B) {
			build(b)
			s := m.NewSession(256)
			b.ResetTimer()
			for b.Loop() {
				s.Reset()
				if _, err := s.Forward(toks[:32]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(32*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
		m = nil
		runtime.GC()
	}
}

// BenchmarkGGUF times a GGUF file named by SHRINK_BENCH_GGUF (a
// comma-separated list) the way llama-bench -p 64 -n 32 does: a 64-token
// prompt processed as one batch, and 32 tokens generated one at a time
// from an empty context. Threads: SHRINK_BENCH_THREADS (default 2);
// SHRINK_BENCH_KERNEL names a kernel implementation to force (kernel.Select).
//
//	SHRINK_BENCH_GGUF=/tmp/tl-Q4_0.gguf go test ./engine -run '^$' -bench GGUF -benchtime 3x
func BenchmarkGGUF(b *testing.B) {
	files := os.Getenv("SHRINK_BENCH_GGUF")
	if files == "" {
		b.Skip("SHRINK_BENCH_GGUF not set")
	}
	threads := 2
	if v, err := strconv.Atoi(os.Getenv("SHRINK_BENCH_THREADS")); err == nil {
		threads = v
	}
	if name := os.Getenv("SHRINK_BENCH_KERNEL"); name != "" {
		if err := kernel.Select(name); err != nil {
			b.Fatal(err)
		}
		defer kernel.Select("")
	}
	for _, path := range strings.Split(files, ",") {
		m, err := Load(path, Options{Threads: threads, Mmap: os.Getenv("SHRINK_BENCH_MMAP") == "1"})
		if err != nil {
			b.Fatal(err)
		}
		toks := testTokens(64, m.Config.VocabSize)
		name := filepath.Base(path)
		r := m.Residence()
		b.Logf("%s: %s, %.0f%% in 2 MiB pages", name, r.Mode, 100*r.HugeShare)
		b.Run(name+"/pp64", func(b *testing.B) {
			s := m.NewSession(256)
			if _, err := s.Forward(toks); err != nil { // warm-up, as llama-bench does
				b.Fatal(err)
			}
			c0 := cpuSeconds()
			for b.Loop() {
				s.Reset()
				if _, err := s.Forward(toks); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(float64(64*b.N)/(cpuSeconds()-c0), "tokens/cpu-s")
		})
		b.Run(name+"/tg32", func(b *testing.B) {
			s := m.NewSession(256)
			if _, err := s.Forward(toks[:1]); err != nil { // warm-up
				b.Fatal(err)
			}
			c0 := cpuSeconds()
			for b.Loop() {
				s.Reset()
				for i := 0; i < 32; i++ {
					if _, err := s.Forward(toks[i : i+1]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(32*b.N)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(float64(32*b.N)/(cpuSeconds()-c0), "tokens/cpu-s")
		})
		m.Close()
	}
}
