package shrink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/format"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/quantize"
)

// TestExpertGPTQ: the inputs routed to each expert build that expert's
// Hessian (in the block-by-block pass) and importances (in the calibration
// pass), and a stacked expert tensor is GPTQ-quantized expert by
// expert, each with its own Hessian; an expert that saw no token leaves
// the tensor to the importance-weighted path (nil encoder).
func TestExpertGPTQ(t *testing.T) {
	const name, cols, per, n = "blk.0.ffn_up_exps.weight", 64, 8, 2
	g := &gptqCalib{h: quantize.NewHessianCollector(1 << 20), threads: 1}
	o := imatrixObserver{c: quantize.NewCollector(), experts: n}
	ho := hessianObserver{g.h}
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := func(k int) []float32 {
		x := make([]float32, k)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	x0 := rnd(5 * cols)
	o.ExpertLinear(name, 0, x0, 5, cols)
	ho.ExpertLinear(name, 0, x0, 5, cols)
	if g.experts(name, n, per, format.Q4_0) != nil {
		t.Fatal("encoder built although expert 1 saw no token")
	}
	x1 := rnd(7 * cols)
	o.ExpertLinear(name, 1, x1, 7, cols)
	ho.ExpertLinear(name, 1, x1, 7, cols)
	w := rnd(n * per * cols)
	rb := cols / 32 * 18
	want := make([]byte, n*per*rb)
	for e := 0; e < n; e++ {
		h := g.h.Hessian(expertKey(name, e))
		if err := quantize.GPTQ(format.Q4_0, want[e*per*rb:(e+1)*per*rb], w[e*per*cols:(e+1)*per*cols], per, cols, h.Matrix(), quantize.GPTQOptions{Threads: 1}); err != nil {
			t.Fatal(err)
		}
	}
	enc := g.experts(name, n, per, format.Q4_0)
	if enc == nil {
		t.Fatal("no encoder with both experts' Hessians")
	}
	got := make([]byte, n*per*rb)
	// Two chunks, the first ending inside expert 0, the second spanning
	// both experts.
	for _, c := range [][2]int{{0, 5}, {5, n * per}} {
		if err := enc(got[c[0]*rb:c[1]*rb], w[c[0]*cols:c[1]*cols], c[0], c[1]-c[0], cols); err != nil {
			t.Fatal(err)
		}
	}
	for e := 0; e < n; e++ {
		if !bytes.Equal(got[e*per*rb:(e+1)*per*rb], want[e*per*rb:(e+1)*per*rb]) {
			t.Errorf("expert %d not quantized with its own Hessian", e)
		}
	}
	if v, ok := o.c.Imatrix(1, "").Get(name); !ok || len(v) != n*cols {
		t.Errorf("per-expert importances: %d values", len(v))
	}
}

// TestQuantizeCancel: a cancelled context stops Quantize with its error
// and leaves no output, in the calibration and in the writing.
func TestQuantizeCancel(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "calib.txt")
	if err := os.WriteFile(text, []byte(bench.DemoText), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"calibrate", "hessians", "write"} {
		ctx, cancel := context.WithCancel(context.Background())
		dst := filepath.Join(dir, stage+".gguf")
		_, err := Quantize(ctx, "models/default", dst, QuantizeOptions{Type: "q4_k_m", Calib: text, Ctx: 64, Chunks: 2,
			Progress: func(p Progress) {
				if p.Stage == stage {
					cancel()
				}
			}})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled in %s: error %v", stage, err)
		}
		if _, err := os.Stat(dst); !os.IsNotExist(err) {
			t.Errorf("cancelled in %s: output left (%v)", stage, err)
		}
		cancel()
	}
}

// TestQuantizeOptions: invalid options are a UsageError, and the
// provenance lists the options that differ from their defaults by name.
func TestQuantizeOptions(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "x.gguf")
	for _, o := range []QuantizeOptions{
		{Type: "q9_z"},
		{},
		{Type: "q4_0", Method: "gptq"},
		{Type: "q4_0", Imatrix: "a", Calib: "b"},
		{Type: "q4_0", TargetBPW: 4},
		{Type: "q4_0", Ctx: 1},
		{Type: "q4_0", Sensitivity: "guess"},
		{Type: "q4_0", FallbackType: "q8_0"},
		{Type: "q4_0", GPTQSequential: true},
		{Type: "q4_0", Imatrix: "a", GPTQSequential: true},
	} {
		_, err := Quantize(context.Background(), "models/default", dst, o)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%+v: error %v, want a UsageError", o, err)
		}
	}
	o := QuantizeOptions{Type: "q4_k_m", Ctx: 512, Chunks: 4, TensorType: []string{"a=q8_0", "b=q6_k"}, TargetBPW: 4.25, FallbackType: "bf16"}
	want := "shrink quantize --chunks=4 --target-bpw=4.25 --tensor-type=a=q8_0 --tensor-type=b=q6_k --type=q4_k_m"
	if got := o.commandLine(); got != want {
		t.Errorf("commandLine\n got %s\nwant %s", got, want)
	}
}

// TestQuantizeGPTQThreads: the GPTQ file (calibration, Hessians, row
// chunks and slabs that follow the thread count) is the same bytes with 1
// and 3 threads, but for the thread count in the provenance.
func TestQuantizeGPTQThreads(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "calib.txt")
	if err := os.WriteFile(text, []byte(bench.DemoText), 0o644); err != nil {
		t.Fatal(err)
	}
	var files [][]byte
	for _, th := range []int{1, 3} {
		dst := filepath.Join(dir, fmt.Sprintf("t%d.gguf", th))
		if _, err := Quantize(context.Background(), "models/default", dst, QuantizeOptions{Type: "q4_k_m", Calib: text, Ctx: 128, Chunks: 3, Threads: th}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, bytes.Replace(b, []byte(fmt.Sprintf("--threads=%d", th)), []byte("--threads=N"), 1))
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("GPTQ output differs between 1 and 3 threads")
	}
}

// TestQuantizeGPTQSequential: with GPTQSequential block 0 (whose inputs
// are the embeddings either way) and the tensors outside the blocks are
// the same bytes as without it, every tensor of block 1 (calibrated on
// block 0's quantized outputs) differs, no weight is left unreplaced
// (no warning), and the file does not depend on the thread count.
func TestQuantizeGPTQSequential(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "calib.txt")
	if err := os.WriteFile(text, []byte(bench.DemoText), 0o644); err != nil {
		t.Fatal(err)
	}
	quant := func(name string, seq bool, th int) string {
		dst := filepath.Join(dir, name)
		res, err := Quantize(context.Background(), "models/default", dst, QuantizeOptions{Type: "q4_k_m", Calib: text, Ctx: 128, Chunks: 3, Threads: th, GPTQSequential: seq})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range res.Warnings {
			if strings.Contains(w, "sequential") {
				t.Errorf("warning: %s (every weight of a llama block can be replaced)", w)
			}
		}
		return dst
	}
	float, seq1, seq3 := quant("f.gguf", false, 2), quant("s1.gguf", true, 1), quant("s3.gguf", true, 3)
	a, b := tensorBytes(t, seq1), tensorBytes(t, seq3)
	for name, v := range a {
		if !bytes.Equal(v, b[name]) {
			t.Errorf("%s differs between 1 and 3 threads", name)
		}
	}
	f := tensorBytes(t, float)
	changed := 0
	for name, v := range a {
		l, ok := blockIndex(name)
		same := bytes.Equal(v, f[name])
		switch {
		case (!ok || l == 0) && !same:
			t.Errorf("%s differs from the float-input GPTQ's", name)
		case ok && l == 1 && strings.HasSuffix(name, ".weight") && !strings.Contains(name, "norm"):
			if same {
				t.Errorf("%s is the float-input GPTQ's bytes", name)
			}
			changed++
		}
	}
	if changed != 7 {
		t.Errorf("%d products of block 1 checked, want 7", changed)
	}
}

// tensorBytes reads every tensor's bytes of a GGUF file.
func tensorBytes(t *testing.T, path string) map[string][]byte {
	t.Helper()
	g, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	out := map[string][]byte{}
	for _, ti := range g.Tensors() {
		r, err := g.TensorData(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if out[ti.Name], err = io.ReadAll(r); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
