package bench

import (
	"bytes"
	"strings"
	"testing"
)

// TestBudgetTables: layers carrying their bytes get a bits-per-layer table
// (bpw = 8·bytes/parameters, the solver's predicted KLD) in Markdown and
// HTML; reports without bytes get none.
func TestBudgetTables(t *testing.T) {
	r := New()
	r.Model = &ModelInfo{Path: "solved.gguf", FileBytes: 1000, Params: 1000}
	r.Tensors = []TensorError{{Name: "blk.0.attn_q.weight", Type: "q4_K", Elements: 512, RMSE: 0.01, SNRdB: 20, Bytes: 288, PredictedKLD: 0.0125}}
	r.Layers = []LayerError{{Layer: -1, RMSE: 0.001, SNRdB: 30, Elements: 100, Bytes: 850}, {Layer: 0, RMSE: 0.01, SNRdB: 20, Elements: 512, Bytes: 288, PredictedKLD: 0.0125}}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, []*Report{r}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Bits per layer of", "| 0 | 512 | 288 | 4.500 | 0.0125 |", "| other | 100 | 850 | 68.000 | - |", "| blk.0.attn_q.weight | q4_K | 4.50 |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	var h bytes.Buffer
	if err := WriteHTML(&h, "t", []*Report{r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.String(), "<td>0</td><td>512</td><td>288</td><td>4.500</td><td>0.0125</td>") {
		t.Errorf("HTML lacks the layer row")
	}
	r.Layers[0].Bytes = 0
	md.Reset()
	WriteMarkdown(&md, []*Report{r})
	if strings.Contains(md.String(), "Bits per layer") {
		t.Errorf("table without bytes:\n%s", md.String())
	}
}
