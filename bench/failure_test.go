package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/shrink-llm/shrink/engine"
	"github.com/shrink-llm/shrink/internal/testutil"
)

var f16NaN = []byte{0x00, 0x7e}

// TestNonFiniteFailure evaluates copies of the default model (2 blocks,
// tied embeddings) with one NaN weight: the run stops with a failure that
// names the first block whose output is non-finite, the report carries it
// as valid JSON, and Gate fails it with its reason.
func TestNonFiniteFailure(t *testing.T) {
	good, toks, bos := loadDemo(t, defaultModel(t))
	cases := []struct {
		tensor   string
		elem     int64
		layer    int // -2: absent
		baseline bool
	}{
		{"model.layers.1.mlp.down_proj.weight", 1000, 1, false},
		{"model.layers.0.self_attn.v_proj.weight", 7, 0, false},
		{"model.embed_tokens.weight", int64(bos)*128 + 5, -1, false}, // BOS starts every chunk
		{"model.norm.weight", 5, -2, false},                          // every block's output finite
		{"model.layers.1.mlp.down_proj.weight", 1000, 1, true},
	}
	for _, c := range cases {
		dir := testutil.PatchedModel(t, defaultModel(t), c.tensor, c.elem, f16NaN)
		bad, err := engine.Load(dir, engine.Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		opt := EvalOptions{Ctx: 64, Chunks: 2, BOS: bos}
		m, which := bad, "model"
		if c.baseline {
			m, opt.Baseline, which = good, bad, "baseline"
		}
		res, err := Evaluate(context.Background(), m, toks, opt)
		bad.Close()
		if err != nil {
			t.Fatalf("%s: %v", c.tensor, err)
		}
		f := res.Failure
		if f == nil {
			t.Fatalf("%s: NaN weight, no failure (PPL %v)", c.tensor, res.Stats.KLD())
		}
		layer := -2
		if f.Layer != nil {
			layer = *f.Layer
		}
		if f.Model != which || f.Chunk != 0 || f.Token != 0 || layer != c.layer || !strings.Contains(f.Reason, "NaN") {
			t.Errorf("%s: failure %+v (layer %d), want %s, chunk 0, token 0, layer %d", c.tensor, f, layer, which, c.layer)
		}
		checkFailedReport(t, res)
	}
}

// checkFailedReport checks the report of a failed evaluation: the failure
// and no measurement in valid JSON, a failed gate, FAILED in the table.
func checkFailedReport(t *testing.T, res *Result) {
	t.Helper()
	r := New()
	r.Model = &ModelInfo{Path: "bad", FileBytes: 1000}
	res.Fill(r, "base")
	if r.Perplexity != nil || r.KLD != nil || r.Failure == nil {
		t.Fatalf("report of a failed run: perplexity %v, kld %v, failure %v", r.Perplexity, r.KLD, r.Failure)
	}
	data, err := r.MarshalIndent()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ReplaceAll(data, []byte("logit (NaN,"), nil), []byte("NaN")) {
		t.Errorf("NaN value in the JSON:\n%s", data)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil || raw["failure"] == nil {
		t.Fatalf("JSON %v:\n%s", err, data)
	}
	back, err := ParseReport(data)
	if err != nil || back.Failure == nil || back.Failure.Reason != r.Failure.Reason {
		t.Fatalf("round trip: %v %+v", err, back.Failure)
	}
	size := 1e12
	checks := Gate("r.json", back, Thresholds{MaxSize: &size})
	if Failed(checks) != 1 || checks[0].Metric != "failure" || FirstFailure(checks) != "r.json: "+r.Failure.Reason {
		t.Errorf("gate of a failed report: %+v", checks)
	}
	var tab, md bytes.Buffer
	if err := WriteGateTable(&tab, checks); err != nil || !strings.Contains(tab.String(), "FAIL ("+r.Failure.Reason+")") {
		t.Errorf("gate table %v:\n%s", err, tab.String())
	}
	if err := WriteMarkdown(&md, []*Report{back}); err != nil || !strings.Contains(md.String(), "**FAILED**") {
		t.Errorf("markdown %v:\n%s", err, md.String())
	}
}
