package quantize

import (
	"bytes"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// TestSampledProxy: quantizing only the rows the proxy samples (GPTQ with
// a factor, and the importance search) gives those rows' bytes of the
// whole tensor's quantization, and HessianErrorSampled over them equals
// HessianError over the whole tensor bit for bit; SampledRows keeps at
// most maxRows rows.
func TestSampledProxy(t *testing.T) {
	const rows, cols, maxRows = 37, 256, 8
	w, x := gptqLayer(3, rows, cols, 512)
	hs := NewHessian(cols)
	hs.Add(x, 512)
	h := hs.Matrix()
	f, err := NewGPTQFactor(h, cols, 0)
	if err != nil {
		t.Fatal(err)
	}
	idx := SampledRows(rows, maxRows)
	if len(idx) > maxRows || idx[0] != 0 || len(SampledRows(rows, 0)) != rows {
		t.Fatalf("SampledRows(%d, %d) = %v", rows, maxRows, idx)
	}
	var ws []float32
	for _, r := range idx {
		ws = append(ws, w[r*cols:(r+1)*cols]...)
	}
	for _, fac := range []*GPTQFactor{f, nil} {
		all, err := Encode(format.Q4_K, w, rows, cols, fac, hs.Diag(), 2)
		if err != nil {
			t.Fatal(err)
		}
		some, err := Encode(format.Q4_K, ws, len(idx), cols, fac, hs.Diag(), 1)
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := format.Q4_K.RowBytes(cols)
		for i, r := range idx {
			if !bytes.Equal(some[int64(i)*rb:int64(i+1)*rb], all[int64(r)*rb:int64(r+1)*rb]) {
				t.Fatalf("factor %v: row %d quantized alone differs", fac != nil, r)
			}
		}
		wq, err := Decode(format.Q4_K, all, rows, cols)
		if err != nil {
			t.Fatal(err)
		}
		wqs, err := Decode(format.Q4_K, some, len(idx), cols)
		if err != nil {
			t.Fatal(err)
		}
		full, sampled := HessianError(w, wq, rows, cols, h, maxRows), HessianErrorSampled(ws, wqs, rows, cols, h, maxRows)
		if full != sampled || !(full > 0) {
			t.Errorf("factor %v: HessianError %g, HessianErrorSampled %g", fac != nil, full, sampled)
		}
	}
	if _, err := Decode(format.Q4_K, make([]byte, 10), 1, cols); err == nil {
		t.Error("Decode of a short row: no error")
	}
}
