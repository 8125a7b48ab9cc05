package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/format/gguf"
	"github.com/shrink-llm/shrink/internal/testutil"
	"github.com/shrink-llm/shrink/quantize"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1500000": 1500000, "1.5GB": 1500000000, "1500MB": 1500000000, "2 MiB": 2 << 20, "10kb": 10000, "7B": 7} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GB", "-1MB", "1.5XB", "0", "1e30GB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q): no error", bad)
		}
	}
}

// fileTypes returns the tensor types, tensor bytes and parameters of a GGUF.
func fileTypes(t *testing.T, path string) (map[string]string, int64, int64, *quantize.Recipe) {
	t.Helper()
	g, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	types := map[string]string{}
	var bytes, params int64
	for _, ti := range g.Tensors() {
		types[ti.Name] = ti.Type.String()
		bytes += ti.Bytes()
		params += ti.NumElements()
	}
	var rec *quantize.Recipe
	if s, ok := g.Metadata.String(quantize.RecipeKey); ok {
		if rec, err = quantize.ParseRecipe([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	return types, bytes, params, rec
}

// benchKLD returns the mean KLD of model against src on the first chunks
// chunks of 64 tokens of text.
func benchKLD(t *testing.T, model, src, text, chunks string) float64 {
	t.Helper()
	js := filepath.Join(t.TempDir(), "r.json")
	if code, _, e := run(t, "bench", model, "--text", text, "--baseline", src, "--ctx", "64", "--chunks", chunks, "-q", "--json", js); code != 0 {
		t.Fatalf("bench %s: exit %d: %s", model, code, e)
	}
	data, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		KLD struct{ Mean float64 } `json:"kld"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	return rep.KLD.Mean
}

// TestQuantizeTarget: --target-bpw solves within the budget, records the
// recipe it applied, prints predicted and measured KLD, beats the pure
// type of the same size on the calibration text, and --recipe reproduces
// the file's types exactly, with --tensor-type pins winning.
func TestQuantizeTarget(t *testing.T) {
	src := filepath.Join(testutil.RepoRoot(t), "models", "default")
	dir := t.TempDir()
	calib := filepath.Join(dir, "calib.txt")
	if err := os.WriteFile(calib, []byte(goLikeText(1, 3000)), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--calib", calib, "--ctx", "64", "--chunks", "16", "--sensitivity-chunks", "4", "-q"}
	// The pure q5_0 file (rows of 128: no K-quants) sets the size.
	pure := filepath.Join(dir, "pure.gguf")
	quantizeOK(t, append([]string{src, pure, "--type", "q5_0", "--pure"}, common...)...)
	size := fileSize(t, pure)

	solved, rfile := filepath.Join(dir, "solved.gguf"), filepath.Join(dir, "r.json")
	out := quantizeOK(t, append([]string{src, solved, "--target-size", strconv.FormatInt(size, 10), "--recipe-out", rfile}, common...)...)
	m := regexp.MustCompile(`predicted ([0-9.e-]+), measured ([0-9.e-]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no predicted/measured KLD in:\n%s", out)
	}
	pred, _ := strconv.ParseFloat(m[1], 64)
	meas, _ := strconv.ParseFloat(m[2], 64)
	if !(pred > 0 && meas > 0 && meas < 5*pred && pred < 5*meas) {
		t.Errorf("predicted KLD %g, measured %g: want both positive and within 5x", pred, meas)
	}
	if got := fileSize(t, solved); got > size {
		t.Errorf("solved file %d bytes, over the target %d", got, size)
	}
	types, _, _, rec := fileTypes(t, solved)
	if rec == nil || rec.Budget != size || len(rec.Tensors) == 0 {
		t.Fatalf("recipe in the file: %+v", rec)
	}
	for _, rt := range rec.Tensors {
		if types[rt.Name] != rt.Type {
			t.Errorf("%s: file type %s, recipe %s", rt.Name, types[rt.Name], rt.Type)
		}
	}
	kp, ks := benchKLD(t, pure, src, calib, "8"), benchKLD(t, solved, src, calib, "8")
	t.Logf("KLD pure q5_0 %.6f, solved %.6f (predicted %g)", kp, ks, pred)
	if !(ks < kp) {
		t.Errorf("solved KLD %.6f not below the pure q5_0 file's %.6f at the same size", ks, kp)
	}

	// Hybrid (one exact run per tensor, at the K-quant auto picks below
	// the budget's bits) also beats the pure file at its size.
	hybrid := filepath.Join(dir, "hybrid.gguf")
	hout := quantizeOK(t, append([]string{src, hybrid, "--target-size", strconv.FormatInt(size, 10), "--sensitivity", "hybrid"}, common...)...)
	ref := regexp.MustCompile(`sensitivity hybrid, measured at (q[2-6]_K),`).FindStringSubmatch(hout)
	if ref == nil {
		t.Fatalf("hybrid: no 'measured at' K-quant in:\n%s", hout)
	}
	if _, _, _, hrec := fileTypes(t, hybrid); hrec == nil || hrec.Sensitivity != "hybrid" || hrec.Reference != ref[1] {
		t.Errorf("hybrid: the file's recipe %+v, want sensitivity hybrid, reference %s", hrec, ref[1])
	}
	if got := fileSize(t, hybrid); got > size {
		t.Errorf("hybrid file %d bytes, over the target %d", got, size)
	}
	kh := benchKLD(t, hybrid, src, calib, "8")
	t.Logf("KLD hybrid %.6f", kh)
	if !(kh < kp) {
		t.Errorf("hybrid KLD %.6f not below the pure q5_0 file's %.6f at the same size", kh, kp)
	}

	// bench --tensors shows the bits and predicted KLD per layer.
	code, bout, e := run(t, "bench", "--tensors", solved, "--baseline", src)
	if code != 0 || !strings.Contains(bout, "Bits per layer") || !strings.Contains(bout, "predicted KLD") {
		t.Errorf("bench --tensors: exit %d %s:\n%s", code, e, bout)
	}

	// --recipe reproduces; a pin wins over the recipe.
	again := filepath.Join(dir, "again.gguf")
	quantizeOK(t, src, again, "--recipe", rfile, "--calib", calib, "--ctx", "64", "--chunks", "16", "-q", "--tensor-type", `blk\.0\.attn_q=q8_0`)
	types2, _, _, _ := fileTypes(t, again)
	for name, typ := range types {
		want := typ
		if name == "blk.0.attn_q.weight" {
			want = "q8_0"
		}
		if types2[name] != want {
			t.Errorf("--recipe: %s is %s, want %s", name, types2[name], want)
		}
	}

	// The recipe read back from the solved GGUF itself.
	fromFile := filepath.Join(dir, "fromfile.gguf")
	quantizeOK(t, src, fromFile, "--recipe", solved, "--calib", calib, "--ctx", "64", "--chunks", "16", "-q")
	types3, _, _, _ := fileTypes(t, fromFile)
	for name, typ := range types {
		if types3[name] != typ {
			t.Errorf("--recipe FILE.gguf: %s is %s, want %s", name, types3[name], typ)
		}
	}

	for _, args := range [][]string{
		{"--recipe", pure},
		{"--target-size", "12XB", "--calib", calib},
		{"--target-size", "1MB", "--target-bpw", "4", "--calib", calib},
		{"--target-bpw", "4"},
		{"--target-bpw", "4", "--calib", calib, "--sensitivity", "guess"},
		{"--recipe-out", rfile, "--type", "q4_0"},
		{"--target-bpw", "0.5", "--calib", calib},
		{"--recipe", filepath.Join(dir, "missing.json")},
	} {
		if code, _, e := run(t, append([]string{"quantize", src, filepath.Join(dir, "x.gguf")}, args...)...); code == 0 || e == "" {
			t.Errorf("%v: exit %d, %q", args, code, e)
		}
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
