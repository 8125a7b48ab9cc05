package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink"
	"github.com/shrink-llm/shrink/bench"
	"github.com/shrink-llm/shrink/internal/testutil"
)

// fakeOpts are the options of the test kinds.
type fakeOpts struct {
	Suffix  string   `json:"suffix"`
	Extra   string   `json:"extra"`
	MaxSize float64  `json:"max-size"`
	Texts   []string `json:"texts"`
	Cache   string   `json:"cache"`
}

// fakes is a test registry: "grow" copies its input (a file, or a model
// folder's model.safetensors) and appends the suffix and any extra file;
// "measure" writes a bench report of the model's size; "check" gates it on
// max-size. runs counts the calls by step id; cancelAt cancels the run in
// the middle of that step, after writing half its output.
type fakes struct {
	runs     map[string]int
	resumed  map[string]bool
	cancelAt string
	cancel   context.CancelFunc
}

func (f *fakes) kinds() map[string]Kind {
	opts := func() any { return &fakeOpts{Suffix: "+"} }
	return map[string]Kind{
		"grow": {Accepts: Model, Produces: Model, Ext: ".bin", Paths: []string{"extra", "texts"}, Scratch: []string{"cache"}, Options: opts, Run: f.grow,
			Check: func(o any) error {
				if o.(*fakeOpts).Suffix == "" {
					return errors.New("empty suffix")
				}
				return nil
			}},
		"measure": {Accepts: Model, Produces: Report, Ext: ".json", Options: opts, Run: f.measure},
		"check":   {Accepts: Report, Produces: Verdict, Ext: ".json", Options: opts, Run: f.check},
	}
}

func (f *fakes) grow(ctx context.Context, c *Call) (*Result, error) {
	f.runs[c.Step]++
	if c.Resume {
		f.resumed[c.Step] = true
	}
	in := c.Input
	if fi, err := os.Stat(in); err == nil && fi.IsDir() {
		in = filepath.Join(in, "model.safetensors")
	}
	data, err := os.ReadFile(in)
	if err != nil {
		return nil, err
	}
	o := c.Options.(*fakeOpts)
	data = append(data, o.Suffix...)
	if o.Cache != "" {
		if _, err := os.Stat(o.Cache); err == nil {
			return nil, errors.New("stale cache " + o.Cache)
		}
		if err := os.WriteFile(o.Cache, data, 0o644); err != nil {
			return nil, err
		}
	}
	if o.Extra != "" {
		extra, err := os.ReadFile(o.Extra)
		if err != nil {
			return nil, err
		}
		data = append(data, extra...)
	}
	if f.cancelAt == c.Step {
		os.WriteFile(c.Output, data[:len(data)/2], 0o644)
		f.cancel()
		return nil, ctx.Err()
	}
	if c.Progress != nil {
		c.Progress(shrink.Progress{Stage: "grow", Done: 1, Total: 1})
	}
	return nil, os.WriteFile(c.Output, data, 0o644)
}

func (f *fakes) measure(ctx context.Context, c *Call) (*Result, error) {
	f.runs[c.Step]++
	if c.Resume {
		f.resumed[c.Step] = true
	}
	fi, err := os.Stat(c.Input)
	if err != nil {
		return nil, err
	}
	r := bench.New()
	r.Model = &bench.ModelInfo{Path: c.Input, FileBytes: fi.Size()}
	return &Result{Report: r, Figures: map[string]float64{"file_bytes": float64(fi.Size())}}, r.WriteFile(c.Output)
}

func (f *fakes) check(ctx context.Context, c *Call) (*Result, error) {
	f.runs[c.Step]++
	r, err := bench.ReadReport(c.Input)
	if err != nil {
		return nil, err
	}
	max := c.Options.(*fakeOpts).MaxSize
	checks := bench.Gate(c.Input, r, bench.Thresholds{MaxSize: &max})
	data, _ := json.Marshal(checks)
	return &Result{Checks: checks}, os.WriteFile(c.Output, data, 0o644)
}

// testRecipe is a four-step chain on the default model.
func testRecipe(t *testing.T, dir string) *Recipe {
	t.Helper()
	text := filepath.Join(dir, "text.txt")
	if err := os.WriteFile(text, []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	model, err := filepath.Rel(dir, filepath.Join(testutil.RepoRoot(t), "models", "default"))
	if err != nil {
		t.Fatal(err)
	}
	src := `{"name": "test", "inputs": {"model": "` + model + `", "text": "text.txt"},
  "steps": [
    {"id": "a", "kind": "grow", "input": "model", "options": {"suffix": "A", "cache": "a.cache"}},
    {"id": "b", "kind": "grow", "input": "a", "options": {"extra": "@text", "texts": ["text.txt"]}},
    {"id": "m", "kind": "measure", "input": "b"},
    {"id": "g", "kind": "check", "input": "m", "options": {"max-size": 1e9}}
  ]}`
	path := filepath.Join(dir, "recipe.json")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunSkipResume(t *testing.T) {
	dir := t.TempDir()
	r := testRecipe(t, dir)
	out := filepath.Join(dir, "out")
	f := &fakes{runs: map[string]int{}, resumed: map[string]bool{}}
	var skipped []string
	opt := RunOptions{Kinds: f.kinds(), Progress: func(p Progress) {
		if p.Skipped {
			skipped = append(skipped, p.Step)
		}
	}}

	// 1. Interrupted in the middle of step b: a ran, b left nothing.
	ctx, cancel := context.WithCancel(context.Background())
	f.cancelAt, f.cancel = "b", cancel
	if _, err := Run(ctx, r, out, opt); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: err = %v, want context.Canceled", err)
	}
	entries, _ := os.ReadDir(out)
	var names []string
	for _, e := range entries {
		if e.Name() != ".lock" {
			names = append(names, e.Name())
		}
	}
	if got := strings.Join(names, " "); got != ".b.pending.json a.bin a.cache manifest.json" {
		t.Errorf("after the interruption the output folder holds %q, want b's pending record, a.bin and manifest.json only", got)
	}

	// 2. Resumed: a is skipped, b, m and g run.
	f.cancelAt = ""
	m, err := Run(context.Background(), r, out, opt)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"a": 1, "b": 2, "m": 1, "g": 1}; !equalRuns(f.runs, want) {
		t.Errorf("runs after resuming = %v, want %v", f.runs, want)
	}
	if strings.Join(skipped, " ") != "a" {
		t.Errorf("skipped %q, want a", skipped)
	}
	checkManifest(t, out, m)
	if !f.resumed["b"] || f.resumed["m"] {
		t.Errorf("Call.Resume: %v, want b only", f.resumed)
	}
	if _, err := os.Stat(filepath.Join(out, ".b.pending.json")); err == nil {
		t.Error(".b.pending.json is left after b succeeded")
	}

	// 3. Re-run: every step is skipped, nothing recomputed.
	skipped = nil
	if _, err := Run(context.Background(), r, out, opt); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"a": 1, "b": 2, "m": 1, "g": 1}; !equalRuns(f.runs, want) {
		t.Errorf("runs after re-running = %v, want %v", f.runs, want)
	}
	if strings.Join(skipped, " ") != "a b m g" {
		t.Errorf("re-run skipped %q, want every step", skipped)
	}
	plan, err := Plan(context.Background(), r, out, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plan {
		if p.Run || !strings.HasPrefix(p.Reason, "unchanged since ") {
			t.Errorf("plan of a finished chain: %+v", p)
		}
	}
}

func equalRuns(got, want map[string]int) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// checkManifest checks the manifest on disk against the returned one and
// the files it names.
func checkManifest(t *testing.T, out string, m *Manifest) {
	t.Helper()
	disk, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if disk.Schema != ManifestSchema || len(disk.Steps) != 4 || disk.Final != "b.bin" {
		t.Fatalf("manifest: schema %q, %d steps, final %q", disk.Schema, len(disk.Steps), disk.Final)
	}
	b := disk.Steps[1]
	if len(b.Inputs) != 3 || b.Inputs[0].Role != "input" || b.Inputs[1].Role != "extra" || b.Inputs[2].Role != "texts" {
		t.Errorf("step b inputs: %+v", b.Inputs)
	}
	for _, s := range disk.Steps {
		for _, o := range s.Outputs {
			sum, n, err := hashFile(filepath.Join(out, o.Path))
			if err != nil || sum != o.SHA256 || n != o.Bytes {
				t.Errorf("output %s: recorded %s %d bytes, on disk %s %d (%v)", o.Path, o.SHA256, o.Bytes, sum, n, err)
			}
		}
	}
	if g := disk.Steps[3]; g.Passed == nil || !*g.Passed || len(g.Checks) == 0 {
		t.Errorf("gate record: %+v", g)
	}
	if disk.Steps[2].Figures["file_bytes"] != float64(disk.Steps[1].Outputs[0].Bytes) {
		t.Errorf("bench figures %v, b is %d bytes", disk.Steps[2].Figures, disk.Steps[1].Outputs[0].Bytes)
	}
	page, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil || !bytes.Contains(page, []byte("<h2>Chain</h2>")) || !bytes.Contains(page, []byte("<td>PASS</td>")) {
		t.Errorf("report.html lacks the chain table or the gate's verdict (%v)", err)
	}
	card, err := os.ReadFile(filepath.Join(out, CardName))
	if err != nil || disk.Card != CardName {
		t.Fatalf("model card: manifest says %q (%v)", disk.Card, err)
	}
	for _, want := range []string{"base_model: ", "| b.bin |", `"id": "g"`} {
		if !bytes.Contains(card, []byte(want)) {
			t.Errorf("model card lacks %q:\n%s", want, card)
		}
	}
}

func TestChangedOptionRerunsFromThere(t *testing.T) {
	dir := t.TempDir()
	r := testRecipe(t, dir)
	out := filepath.Join(dir, "out")
	f := &fakes{runs: map[string]int{}, resumed: map[string]bool{}}
	opt := RunOptions{Kinds: f.kinds()}
	if _, err := Run(context.Background(), r, out, opt); err != nil {
		t.Fatal(err)
	}
	r.Steps[1].Options = json.RawMessage(`{"extra": "@text", "texts": ["text.txt"], "suffix": "BB"}`)
	plan, err := Plan(context.Background(), r, out, opt)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	WritePlan(&b, plan)
	want := []string{"skip", "run", "run", "run"}
	for i, p := range plan {
		if (want[i] == "run") != p.Run {
			t.Errorf("plan:\n%s", b.String())
			break
		}
	}
	if !strings.Contains(b.String(), "options changed") || !strings.Contains(b.String(), "reads the output of b, which runs") {
		t.Errorf("plan reasons:\n%s", b.String())
	}
	if _, err := Run(context.Background(), r, out, opt); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"a": 1, "b": 2, "m": 2, "g": 2}; !equalRuns(f.runs, want) {
		t.Errorf("runs = %v, want %v", f.runs, want)
	}
	// A changed input file reruns the step that reads it.
	os.WriteFile(filepath.Join(dir, "text.txt"), []byte("package other\n"), 0o644)
	if _, err := Run(context.Background(), r, out, opt); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"a": 1, "b": 3, "m": 3, "g": 3}; !equalRuns(f.runs, want) {
		t.Errorf("runs after changing text.txt = %v, want %v", f.runs, want)
	}
	// A deleted output reruns its step only (it comes out identical).
	os.Remove(filepath.Join(out, "a.bin"))
	if _, err := Run(context.Background(), r, out, opt); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"a": 2, "b": 3, "m": 3, "g": 3}; !equalRuns(f.runs, want) {
		t.Errorf("runs after deleting a.bin = %v, want %v", f.runs, want)
	}
}

func TestFailedGateStops(t *testing.T) {
	dir := t.TempDir()
	r := testRecipe(t, dir)
	r.Steps[3].Options = json.RawMessage(`{"max-size": 10}`)
	r.Steps = append(r.Steps, Step{ID: "after", Kind: "grow", Input: "b"})
	out := filepath.Join(dir, "out")
	f := &fakes{runs: map[string]int{}, resumed: map[string]bool{}}
	opt := RunOptions{Kinds: f.kinds()}
	for i := range 2 { // the second time from the manifest's record
		m, err := Run(context.Background(), r, out, opt)
		if !errors.Is(err, ErrGateFailed) || !strings.Contains(err.Error(), "model.file_bytes <= 10") {
			t.Fatalf("run %d: err = %v, want a failed gate naming its check", i+1, err)
		}
		if f.runs["after"] != 0 || f.runs["g"] != 1 {
			t.Fatalf("run %d: runs %v: the step after the failed gate ran, or the gate ran twice", i+1, f.runs)
		}
		if g := m.Steps[len(m.Steps)-1]; g.ID != "g" || g.Passed == nil || *g.Passed {
			t.Errorf("run %d: last record %+v", i+1, g)
		}
	}
	page, _ := os.ReadFile(filepath.Join(out, "report.html"))
	if !bytes.Contains(page, []byte("FAIL: model.file_bytes &lt;= 10")) {
		t.Error("report.html does not show the failed gate")
	}
	if _, err := os.Stat(filepath.Join(out, CardName)); err == nil {
		t.Error("a chain whose gate failed has a model card")
	}
}

func TestRecipeErrors(t *testing.T) {
	f := &fakes{runs: map[string]int{}, resumed: map[string]bool{}}
	for _, c := range []struct{ recipe, want string }{
		{`{"steps": []}`, "no steps"},
		{`{"steps": [{"id": "a", "kind": "grow", "input": "nope"}]}`, `input "nope" is neither an input nor an earlier step`},
		{`{"inputs": {"m": "x"}, "steps": [{"id": "a", "kind": "grow", "input": "m"}, {"id": "a", "kind": "grow", "input": "m"}]}`, `id "a" is already`},
		{`{"inputs": {"m": "x"}, "steps": [{"id": "a", "kind": "grow", "input": "m", "options": {"sufix": "x"}}]}`, `unknown field "sufix"`},
		{`{"inputs": {"m": "x"}, "steps": [{"id": "a", "kind": "grow", "input": "m", "options": {"extra": "@nope"}}]}`, `"@nope" names neither`},
		{`{"inputs": {"m": "x"}, "steps": [{"id": "a", "kind": "prune", "input": "m"}]}`, `kind "prune" is not available`},
		{`{"inputs": {"m": "x"}, "steps": [{"id": "a", "kind": "measure", "input": "m"}, {"id": "b", "kind": "grow", "input": "a"}]}`, `input "a" is a report; a grow step reads a model`},
		{`{"inputs": {"m": "x"}, "steps": [{"id": "a", "kind": "grow", "input": "m", "options": {"suffix": 3}}]}`, "cannot unmarshal number"},
		{"{\"inputs\": {\"m\": \"x\"},\n \"steps\": [}", "line 2"},
		{`{"inputz": {}}`, `unknown field "inputz"`},
		{`{"inputs": {"m": "x"}, "steps": [{"id": "a", "kind": "grow", "input": "m", "options": {"suffix": ""}}]}`, `step "a" (grow): empty suffix`},
	} {
		r, err := Parse([]byte(c.recipe), t.TempDir())
		if err == nil {
			_, err = Run(context.Background(), r, t.TempDir(), RunOptions{Kinds: f.kinds()})
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.recipe, err, c.want)
		}
	}
	if len(f.runs) != 0 {
		t.Errorf("bad recipes ran steps: %v", f.runs)
	}
}

// TestFailedGateKeepsLaterRecords: a gate failing after a complete run
// keeps the records of the steps after it, so passing again reruns nothing
// beyond the gate.
func TestFailedGateKeepsLaterRecords(t *testing.T) {
	dir := t.TempDir()
	r := testRecipe(t, dir)
	r.Steps = append(r.Steps, Step{ID: "after", Kind: "grow", Input: "b"})
	out := filepath.Join(dir, "out")
	f := &fakes{runs: map[string]int{}, resumed: map[string]bool{}}
	opt := RunOptions{Kinds: f.kinds()}
	for i, limit := range []string{"1e9", "10", "1e9"} {
		r.Steps[3].Options = json.RawMessage(`{"max-size": ` + limit + `}`)
		_, err := Run(context.Background(), r, out, opt)
		if (limit == "10") != errors.Is(err, ErrGateFailed) {
			t.Fatalf("run %d (max-size %s): err = %v", i+1, limit, err)
		}
		disk, err := ReadManifest(out)
		if err != nil || len(disk.Steps) != 5 {
			t.Fatalf("run %d: the manifest lost records (%v)", i+1, err)
		}
	}
	if want := map[string]int{"a": 1, "b": 1, "m": 1, "g": 3, "after": 1}; !equalRuns(f.runs, want) {
		t.Errorf("runs = %v, want %v", f.runs, want)
	}
}

// TestConcurrentRunRefused: a run into a folder another run is writing
// into fails at once, naming the folder.
func TestConcurrentRunRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no folder lock on Windows")
	}
	dir := t.TempDir()
	r := testRecipe(t, dir)
	out := filepath.Join(dir, "out")
	f := &fakes{runs: map[string]int{}, resumed: map[string]bool{}}
	kinds := f.kinds()
	inner := kinds["grow"]
	var nested error
	grow := inner.Run
	inner.Run = func(ctx context.Context, c *Call) (*Result, error) {
		if c.Step == "a" {
			_, nested = Run(ctx, r, out, RunOptions{Kinds: kinds})
		}
		return grow(ctx, c)
	}
	kinds["grow"] = inner
	if _, err := Run(context.Background(), r, out, RunOptions{Kinds: kinds}); err != nil {
		t.Fatal(err)
	}
	if nested == nil || !strings.Contains(nested.Error(), "another run is writing into this folder") {
		t.Errorf("second run: err = %v, want the folder's lock refusing it", nested)
	}
}
