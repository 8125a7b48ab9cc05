package quantize

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// tensorWeightedErr returns sum over rows and columns of imp[j]*(x-y)².
func tensorWeightedErr(x, y, imp []float32, rowLen int) float64 {
	var s float64
	for i := range x {
		d := float64(x[i] - y[i])
		s += float64(imp[i%rowLen]) * d * d
	}
	return s
}

// TestEncodeRowsImportance: a tensor whose input channels have skewed
// importances is encoded with a lower importance-weighted error when the
// importances are given, for every type that uses them, and threads do not
// change the bytes.
func TestEncodeRowsImportance(t *testing.T) {
	const rowLen, rows = 512, 24
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, rowLen*rows)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	imp := make([]float32, rowLen)
	for j := range imp {
		imp[j] = 0.01
		if j%16 == 3 || j%37 == 0 {
			imp[j] = 100 // a few channels carry large activations
		}
	}
	for _, typ := range []format.DType{format.Q4_0, format.Q4_1, format.Q5_0, format.Q5_1, format.IQ4_NL,
		format.Q2_K, format.Q3_K, format.Q4_K, format.Q5_K, format.Q6_K} {
		rb, _ := typ.RowBytes(rowLen)
		plain := make([]byte, rb*rows)
		weighted := make([]byte, rb*rows)
		if err := EncodeRows(typ, plain, x, rowLen, nil, 1); err != nil {
			t.Fatal(err)
		}
		if err := EncodeRows(typ, weighted, x, rowLen, imp, 1); err != nil {
			t.Fatal(err)
		}
		par := make([]byte, rb*rows)
		if err := EncodeRows(typ, par, x, rowLen, imp, 5); err != nil {
			t.Fatal(err)
		}
		if string(par) != string(weighted) {
			t.Errorf("%s: 5 threads encode differently from 1", typ)
		}
		yp := make([]float32, len(x))
		yw := make([]float32, len(x))
		if err := DecodeRow(typ, yp, plain); err != nil {
			t.Fatal(err)
		}
		if err := DecodeRow(typ, yw, weighted); err != nil {
			t.Fatal(err)
		}
		ep, ew := tensorWeightedErr(x, yp, imp, rowLen), tensorWeightedErr(x, yw, imp, rowLen)
		if !(ew < 0.9*ep) {
			t.Errorf("%s: weighted error %.4g with importances, %.4g without", typ, ew, ep)
		}
	}
}

func TestEncodeRowsErrors(t *testing.T) {
	x := make([]float32, 64)
	if err := EncodeRows(format.Q4_0, make([]byte, 36), x, 48, nil, 1); err == nil {
		t.Error("64 values as rows of 48 accepted")
	}
	if err := EncodeRows(format.Q4_K, make([]byte, 144), x, 64, nil, 1); err == nil {
		t.Error("rows of 64 as q4_K accepted")
	}
	if err := EncodeRows(format.Q4_0, make([]byte, 35), x, 64, nil, 1); err == nil {
		t.Error("short dst accepted")
	}
	if err := EncodeRows(format.Q4_0, make([]byte, 36), x, 64, make([]float32, 3), 1); err == nil {
		t.Error("short imp accepted")
	}
	dst := make([]byte, 128)
	x[1] = 0.5
	if err := EncodeRows(format.F16, dst, x, 32, nil, 2); err != nil || format.F16ToF32(uint16(dst[2])|uint16(dst[3])<<8) != 0.5 {
		t.Errorf("f16 rows: %v", err)
	}
}

// TestEncodeExpertRows checks that a chunk of a stacked expert tensor
// spanning an expert boundary gets each expert's importances: the same
// bytes as encoding each expert's rows alone, and errors on importances
// that do not divide the tensor into experts.
func TestEncodeExpertRows(t *testing.T) {
	const cols, experts, per = 256, 3, 4
	rng := rand.New(rand.NewPCG(4, 2))
	w := make([]float32, experts*per*cols)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	imp := make([]float32, experts*cols)
	for i := range imp {
		imp[i] = float32(rng.ExpFloat64())
	}
	rb, _ := format.Q4_K.RowBytes(cols)
	want := make([]byte, experts*per*int(rb))
	for e := 0; e < experts; e++ {
		if err := EncodeRows(format.Q4_K, want[e*per*int(rb):(e+1)*per*int(rb)], w[e*per*cols:(e+1)*per*cols], cols, imp[e*cols:(e+1)*cols], 1); err != nil {
			t.Fatal(err)
		}
	}
	row0, n := 2, 7 // rows 2..8: experts 0, 1 and 2
	got := make([]byte, n*int(rb))
	if err := EncodeExpertRows(format.Q4_K, got, w[row0*cols:(row0+n)*cols], cols, imp, row0, experts*per, 2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want[row0*int(rb):(row0+n)*int(rb)]) {
		t.Error("rows 2..8 differ from each expert encoded with its own importances")
	}
	if err := EncodeExpertRows(format.Q4_K, got, w[row0*cols:(row0+n)*cols], cols, imp, row0, experts*per+1, 1); !errors.Is(err, ErrLength) {
		t.Errorf("13 rows for 3 experts: err %v, want ErrLength", err)
	}
}
