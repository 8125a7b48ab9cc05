package shrink_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/shrink-llm/shrink"
	"github.com/shrink-llm/shrink/bench"
)

// Gate a bench report (here made by hand; usually shrink.Bench's or
// bench.ReadReport's) against a release policy: each check, its limit, the
// measured value and the verdict.
func ExampleGate() {
	r := bench.New()
	r.Model = &bench.ModelInfo{Path: "models/default-q4_k_m.gguf", FileBytes: 300_000}
	r.KLD = &bench.Dist{Mean: 0.004}
	top1 := 0.93
	r.Top1Agreement = &top1

	maxKLD, minTop1, maxSize := 0.01, 0.95, int64(400_000)
	res, err := shrink.Gate(r, shrink.GateOptions{MaxKLD: &maxKLD, MinTop1: &minTop1, MaxSize: &maxSize})
	if err != nil {
		panic(err)
	}
	for _, c := range res.Checks {
		fmt.Printf("%s %s %g: %g pass=%v\n", c.Metric, c.Op, c.Threshold, c.Value, c.Pass)
	}
	fmt.Println("passed:", res.Passed())
	fmt.Println(res.Summary())
	// Output:
	// kld.mean <= 0.01: 0.004 pass=true
	// top1_agreement >= 0.95: 0.93 pass=false
	// model.file_bytes <= 400000: 300000 pass=true
	// passed: false
	// 1 of 3 checks
}

// Gate report files as shrink gate does, against the last release's report
// with paired tests: without relative limits, KL divergence and perplexity
// must not regress significantly (here the new report is the old one).
func ExampleGateFiles() {
	dir, err := os.MkdirTemp("", "shrink-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	r := bench.New()
	r.Model = &bench.ModelInfo{Path: "m.gguf", FileBytes: 300_000}
	r.Perplexity = &bench.Perplexity{Value: 20}
	r.PerChunk = &bench.PerChunk{NLL: []float64{3.1, 2.9, 3.0, 3.2}}
	old := filepath.Join(dir, "release-1.json")
	if err := r.WriteFile(old); err != nil {
		panic(err)
	}
	res, err := shrink.GateFiles([]string{old}, shrink.GateOptions{Against: old, JUnit: filepath.Join(dir, "junit.xml")})
	if err != nil {
		panic(err)
	}
	for _, c := range res.Checks {
		fmt.Printf("%s relative=%v pass=%v\n", c.Metric, c.Relative, c.Pass)
	}
	fmt.Println("passed:", res.Passed())
	// Output:
	// perplexity increase relative=true pass=true
	// passed: true
}
