package bench

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func f(v float64) *float64 { return &v }

func sample(name string, kld, top1 float64, size int64) *Report {
	r := New()
	r.Model = &ModelInfo{Path: "/m/" + name, FileBytes: size, Params: 1000, BitsPerWeight: 4.5, TensorTypes: map[string]int{"q4_0": 3}}
	r.Perplexity = &Perplexity{Value: 10.5, Stderr: 0.2, ScoredTokens: 100}
	r.Baseline = &Baseline{Path: "/m/base", Perplexity: 10}
	r.KLD = &Dist{Mean: kld, Median: kld / 2, P99: kld * 5, Max: kld * 9}
	r.Top1Agreement = &top1
	r.DeltaP = &DeltaP{Mean: -0.001, RMS: 0.02}
	r.Layers = []LayerError{{Layer: -1, RMSE: 0.001, SNRdB: 30}, {Layer: 0, RMSE: 0.002, SNRdB: 25.5}, {Layer: 1, RMSE: 0.003, SNRdB: 20}}
	r.Tensors = []TensorError{{Name: "blk.1.ffn_down.weight", Type: "q4_0", Elements: 10, RMSE: 0.003, SNRdB: 20}}
	return r
}

func TestGate(t *testing.T) {
	r := sample("q4_0.gguf", 0.02, 0.95, 5000)
	th := Thresholds{MaxKLD: f(0.05), MinTop1: f(0.9), MaxPPLRatio: f(1.1), MaxSize: f(6000)}
	checks := Gate("a", r, th)
	if len(checks) != 4 || Failed(checks) != 0 {
		t.Fatalf("passing report: %+v", checks)
	}
	near(t, "kld margin", checks[0].Margin, 0.03, 1e-12)
	near(t, "top1 margin", checks[1].Margin, 0.05, 1e-12)
	near(t, "ratio margin", checks[2].Margin, 1.1-1.05, 1e-12)
	th2 := th.Override(Thresholds{MaxKLD: f(0.01), MinDecodeTPS: f(5)})
	checks = Gate("a", r, th2)
	if Failed(checks) != 2 {
		t.Fatalf("failing report: %+v", checks)
	}
	var miss, fail *Check
	for i := range checks {
		switch checks[i].Metric {
		case "speed.decode_tokens_per_s":
			miss = &checks[i]
		case "kld.mean":
			fail = &checks[i]
		}
	}
	if miss == nil || !miss.Missing || miss.Pass || fail == nil || fail.Pass || fail.Missing {
		t.Fatalf("checks %+v", checks)
	}
	var tab bytes.Buffer
	WriteGateTable(&tab, checks)
	if !strings.Contains(tab.String(), "FAIL (missing)") || !strings.Contains(tab.String(), "kld.mean <= 0.01") {
		t.Errorf("table:\n%s", tab.String())
	}
	var j bytes.Buffer
	if err := WriteJUnit(&j, append(Gate("b", r, th), checks...)); err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(j.Bytes(), &suites); err != nil {
		t.Fatalf("JUnit output is not XML: %v\n%s", err, j.String())
	}
	if suites.Tests != 9 || suites.Failures != 2 || len(suites.Suites) != 2 || suites.Suites[1].Failures != 2 {
		t.Errorf("JUnit: %+v", suites)
	}
	if !strings.Contains(j.String(), `type="missing"`) {
		t.Errorf("JUnit has no missing failure:\n%s", j.String())
	}
}

func TestPolicy(t *testing.T) {
	th, err := ParsePolicy([]byte(`{"max_kld": 0.1, "min_top1": 0.8}`))
	if err != nil || th.MaxKLD == nil || *th.MaxKLD != 0.1 || *th.MinTop1 != 0.8 || th.MaxSize != nil {
		t.Fatalf("%+v %v", th, err)
	}
	if _, err := ParsePolicy([]byte(`{"max_kdl": 0.1}`)); err == nil {
		t.Error("a misspelt key was accepted")
	}
}

func TestReportJSON(t *testing.T) {
	r := sample("x.gguf", 0.01, 0.99, 100)
	b, err := r.MarshalIndent()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"schema": "shrink.bench/v1"`, `"file_bytes": 100`, `"top1_agreement": 0.99`, `"scored_tokens": 100`, `"p99"`, `"rms"`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("JSON lacks %s:\n%s", k, b)
		}
	}
	if bytes.Contains(b, []byte(`"speed"`)) || bytes.Contains(b, []byte(`"memory"`)) {
		t.Errorf("unmeasured keys present:\n%s", b)
	}
	back, err := ParseReport(b)
	if err != nil || back.KLD.Mean != 0.01 || *back.Top1Agreement != 0.99 {
		t.Fatalf("%+v %v", back, err)
	}
	if _, err := ParseReport([]byte(`{"schema":"other"}`)); err == nil {
		t.Error("wrong schema accepted")
	}
}

// TestHTML checks that the page parses as XML and holds the values.
func TestHTML(t *testing.T) {
	reports := []*Report{sample("q8_0.gguf", 0.0012345, 0.99, 9000), sample("q4_0.gguf", 0.0234567, 0.93, 5000)}
	var b bytes.Buffer
	if err := WriteHTML(&b, "compare <&>", reports); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict = true
	svgs, circles, rects := 0, 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, page)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "svg":
				svgs++
			case "circle":
				circles++
			case "rect":
				rects++
			case "script", "link", "img":
				t.Errorf("page has a <%s> element", se.Name.Local)
			}
		}
	}
	if svgs != 2 || circles != 2 || rects < 6 {
		t.Errorf("%d svg, %d points, %d bars", svgs, circles, rects)
	}
	for _, v := range []string{"0.001234", "0.023457", "99.00%", "93.00%", "q8_0.gguf", "q4_0.gguf", "blk.1.ffn_down.weight", "compare &lt;&amp;&gt;"} {
		if !strings.Contains(page, v) {
			t.Errorf("page lacks %q", v)
		}
	}
	if strings.Contains(page, "http://") && strings.Count(page, "http://") != strings.Count(page, "http://www.w3.org/") {
		t.Error("page refers to the network")
	}
	var md bytes.Buffer
	WriteMarkdown(&md, reports)
	if !strings.Contains(md.String(), "| q4_0.gguf |") || !strings.Contains(md.String(), "0.023457") {
		t.Errorf("markdown:\n%s", md.String())
	}
}
