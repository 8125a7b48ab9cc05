package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// TestQuantizeGPTQ: --method gptq on the default model writes a file that
// decodes within the usual bounds, records the method, and diverges less
// from the original on held-out text than --method imatrix with the same
// calibration; --method rtn ignores the calibration; bad uses exit 2.
func TestQuantizeGPTQ(t *testing.T) {
	src := filepath.Join(testutil.RepoRoot(t), "models", "default")
	dir := t.TempDir()
	calib, eval := filepath.Join(dir, "calib.txt"), filepath.Join(dir, "eval.txt")
	if err := os.WriteFile(calib, []byte(goLikeText(1, 3000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(eval, []byte(goLikeText(2, 2000)), 0o644); err != nil {
		t.Fatal(err)
	}
	kld := map[string]float64{}
	for _, method := range []string{"imatrix", "gptq", "rtn"} {
		dst := filepath.Join(dir, method+".gguf")
		quantizeOK(t, src, dst, "--type", "q4_0", "--calib", calib, "--ctx", "64", "--chunks", "20", "--method", method, "-q")
		if method != "gptq" {
			// GPTQ trades weight error for output error: its weights
			// may exceed checkQuantized's bounds; bench below checks
			// that they decode and run.
			checkQuantized(t, src, "", dst)
		}
		g, err := gguf.Open(dst)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := g.Metadata.String("shrink.recipe")
		_, hasCalib := g.Metadata.String("shrink.calib.sha256")
		g.Close()
		if !strings.Contains(rec, "--method="+method) {
			t.Errorf("%s: shrink.recipe %q", method, rec)
		}
		if hasCalib != (method != "rtn") {
			t.Errorf("%s: shrink.calib.sha256 present: %v", method, hasCalib)
		}
		kld[method] = benchKLD(t, dst, src, eval, "16")
	}
	t.Logf("KLD: %v", kld)
	if !(kld["gptq"] > 0 && kld["gptq"] < 0.85*kld["imatrix"] && kld["imatrix"] < kld["rtn"]) {
		t.Errorf("KLD gptq %.5f, imatrix %.5f, rtn %.5f: want gptq at least 15%% below imatrix, below rtn", kld["gptq"], kld["imatrix"], kld["rtn"])
	}
	for _, args := range [][]string{
		{"--type", "q4_0", "--method", "gptq"},
		{"--type", "q4_0", "--method", "optimal", "--calib", calib},
		{"--type", "q4_0", "--method", "gptq", "--calib", calib, "--hessian-mem", "-1"},
	} {
		if code, _, e := run(t, append([]string{"quantize", src, filepath.Join(dir, "x.gguf")}, args...)...); code != 2 || e == "" {
			t.Errorf("%v: exit %d, %q", args, code, e)
		}
	}
}

// goLikeText returns words of Go-like text drawn at random, skewed
// toward the front of the word list.
func goLikeText(seed uint64, words int) string {
	vocab := strings.Fields("func return if else for range var const type struct interface map chan go defer " +
		"string int byte error nil true false len cap append make new copy ( ) { } [ ] := = == != < > + - * / , ; . " +
		"s b n i j k x y err ok buf data name value key result strings.Index bytes.Equal fmt.Sprintf os.Open io.Reader " +
		"// the of a to in is that returns")
	rng := rand.New(rand.NewPCG(seed, 11))
	var sb strings.Builder
	for i := 0; i < words; i++ {
		sb.WriteString(vocab[min(rng.IntN(len(vocab)), rng.IntN(len(vocab)))])
		switch rng.IntN(10) {
		case 0:
			fmt.Fprintf(&sb, " %d ", rng.IntN(1000))
		case 1:
			sb.WriteString("\n\t")
		default:
			sb.WriteByte(' ')
		}
	}
	return sb.String()
}

// TestQuantizeGPTQDevModel: on the untied dev model (whose token
// embedding GPTQ quantizes with its consumers' Hessian), --method gptq
// diverges less than --method imatrix on held-out text, and the embedding
// bytes differ between the two.
func TestQuantizeGPTQDevModel(t *testing.T) {
	src := testutil.Shared(t, "models/dev-llama-3m")
	text, err := os.ReadFile(testutil.Shared(t, "text/shakespeare-eval.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	calib, eval := filepath.Join(dir, "calib.txt"), filepath.Join(dir, "eval.txt")
	half := len(text) / 2
	if err := os.WriteFile(calib, text[:half], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(eval, text[half:], 0o644); err != nil {
		t.Fatal(err)
	}
	kld := map[string]float64{}
	emb := map[string][]byte{}
	for _, method := range []string{"imatrix", "gptq"} {
		dst := filepath.Join(dir, method+".gguf")
		quantizeOK(t, src, dst, "--type", "q3_k_m", "--calib", calib, "--ctx", "128", "--chunks", "8", "--method", method, "-q")
		g, err := gguf.Open(dst)
		if err != nil {
			t.Fatal(err)
		}
		r, err := g.TensorData("token_embd.weight")
		if err != nil {
			t.Fatal(err)
		}
		emb[method], err = io.ReadAll(r)
		g.Close()
		if err != nil {
			t.Fatal(err)
		}
		js := filepath.Join(dir, method+".json")
		if code, _, e := run(t, "bench", dst, "--text", eval, "--baseline", src, "--ctx", "128", "--chunks", "6", "-q", "--json", js); code != 0 {
			t.Fatalf("bench %s: exit %d: %s", method, code, e)
		}
		rep, err := bench.ReadReport(js)
		if err != nil {
			t.Fatal(err)
		}
		kld[method] = rep.KLD.Mean
	}
	t.Logf("KLD: %v", kld)
	if bytes.Equal(emb["imatrix"], emb["gptq"]) {
		t.Error("token_embd.weight is the same with both methods")
	}
	if !(kld["gptq"] < 0.85*kld["imatrix"]) {
		t.Errorf("KLD gptq %.5f, imatrix %.5f: want gptq at least 15%% below", kld["gptq"], kld["imatrix"])
	}
}
