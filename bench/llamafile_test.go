package bench

import (
	"math"
	"path/filepath"
	"testing"
)

// llamaCppFile is a --kl-divergence-base file written by llama.cpp's own
// llama-perplexity (not by shrink): stories260K converted by shrink, two
// chunks of 128 tokens of the TinyStories sample, K/V cache in f32:
//
//	go run ./cmd/shrink convert ../shared/models/stories260K/stories260K.bin /tmp/s.gguf \
//	    --tokenizer ../shared/models/stories260K/tok512.bin
//	head -c 1200 ../shared/text/TinyStories-valid.sample30k.txt > /tmp/t.txt
//	llama-perplexity -m /tmp/s.gguf -f /tmp/t.txt -c 128 --chunks 2 -t 2 -ctk f32 -ctv f32 \
//	    --kl-divergence-base bench/testdata/llama-stories260k-c128.kld
//
// llama-perplexity then prints "Final estimate: PPL = 3.8438 +/- 0.59461",
// and every --kl-divergence run against the file "Mean PPL(base) :
// 3.843845 ± 0.594611" (cmd/shrink's TestLlamaCppKLD runs the models).
var llamaCppFile = filepath.Join("testdata", "llama-stories260k-c128.kld")

// TestLlamaCppFile reads llama.cpp's own file: its header, tokens and
// records, and the baseline perplexity decoded from the records equals the
// one llama.cpp prints.
func TestLlamaCppFile(t *testing.T) {
	b, err := OpenBaseline(llamaCppFile)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Version != 0 || b.Ctx != 128 || b.Vocab != 512 || b.Chunks != 2 || b.BOS != -2 || b.Records() != 126 {
		t.Fatalf("header: version %d, ctx %d, vocab %d, chunks %d, bos %d, %d records", b.Version, b.Ctx, b.Vocab, b.Chunks, b.BOS, b.Records())
	}
	if b.Tokens[0] != 1 || b.Tokens[128] == 1 {
		t.Errorf("tokens %d.., %d..: want BOS (1) first in the text only", b.Tokens[0], b.Tokens[128])
	}
	if got := b.ChunkTokens(1, 1); got[0] != 1 || got[1] != b.Tokens[129] {
		t.Errorf("chunk 1 with BOS: %v", got[:2])
	}
	var rec Record
	var sum, sum2 float64
	n := scoredPerChunk(b.Ctx)
	for i := 0; i < b.Records(); i++ {
		if err := b.Record(i, &rec); err != nil {
			t.Fatal(err)
		}
		c, pos := i/n, b.Ctx/2+i%n
		next := b.Tokens[c*b.Ctx+pos+1]
		// A 260K-parameter model spreads its logits over more than 16 nats.
		if rec.Exact || rec.zeroIsMin() || rec.Codes[rec.Top] != 65535 {
			t.Fatalf("record %d: exact %v, scale %g, top code %d", i, rec.Exact, rec.Scale, rec.Codes[rec.Top])
		}
		nll := -(float64(rec.MinLogProb) + float64(rec.Scale)*float64(rec.Codes[next]))
		sum += nll
		sum2 += nll * nll
	}
	mean := sum / float64(b.Records())
	se := math.Sqrt((sum2/float64(b.Records()) - mean*mean) / float64(b.Records()-1))
	near(t, "PPL(base) from llama.cpp's file", math.Exp(mean), 3.843845, 1e-6)
	near(t, "its uncertainty", math.Exp(mean)*se, 0.594611, 1e-6)
}

// llamaRecord encodes logits as a llama.cpp --kl-divergence-base record
// does (the file format's definition): codes over [max(min, max-16), max]
// with scale (max-min')/65535, code 0 at or below min'.
func llamaRecord(logits []float32) Record {
	mx, mn := logits[0], logits[0]
	for _, v := range logits {
		mx, mn = max(mx, v), min(mn, v)
	}
	mn = max(mn, mx-16)
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - mx))
	}
	rec := Record{Scale: (mx - mn) / 65535, MinLogProb: mn - mx - float32(math.Log(sum)), Codes: make([]uint16, len(logits))}
	for i, v := range logits {
		if v > mn {
			rec.Codes[i] = uint16(math.Round(float64((v - mn) / rec.Scale)))
		}
	}
	top := 0
	for i, c := range rec.Codes {
		if c > rec.Codes[top] {
			top = i
		}
	}
	rec.Top = int32(top)
	return rec
}

// TestLlamaRecordRange: when the logits of a llama.cpp record span less
// than 16 nats, code 0 is the smallest logit and its probability counts;
// when all logits are equal (scale 0) the distribution is uniform.
func TestLlamaRecordRange(t *testing.T) {
	cases := []struct{ base, cand []float32 }{
		{[]float32{0, -3, -5, -1}, []float32{0.1, -2.9, -5.5, -1.2}}, // 5 nats
		{[]float32{2, 2, 2, 2}, []float32{0, 1, 0, -1}},              // scale 0
		{[]float32{0, -3, -25, -1}, []float32{0.1, -2.9, -20, -1.2}}, // clipped at 16 nats
	}
	lp, lq := make([]float64, 4), make([]float64, 4)
	for i, c := range cases {
		rec := llamaRecord(c.base)
		exact := CompareExact(c.base, c.cand, 1, lp, lq)
		coded := CompareCoded(&rec, c.cand, 1, lp, lq)
		tol := 1e-6
		if i == 2 {
			tol = 1e-6 + math.Exp(-25) // the clipped entry's mass is dropped
		}
		near(t, "KLD", coded.KLD, exact.KLD, tol)
		near(t, "base NLL", coded.BaseNLL, exact.BaseNLL, 1e-3)
	}
}
