package format

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTraitsTable checks every type id of the spec (§2) against its block
// size and bytes, and that removed ids are invalid.
func TestTraitsTable(t *testing.T) {
	want := map[DType][3]any{
		F32: {"f32", 1, 4}, F16: {"f16", 1, 2}, Q4_0: {"q4_0", 32, 18}, Q4_1: {"q4_1", 32, 20},
		Q5_0: {"q5_0", 32, 22}, Q5_1: {"q5_1", 32, 24}, Q8_0: {"q8_0", 32, 34}, Q8_1: {"q8_1", 32, 36},
		Q2_K: {"q2_K", 256, 84}, Q3_K: {"q3_K", 256, 110}, Q4_K: {"q4_K", 256, 144}, Q5_K: {"q5_K", 256, 176},
		Q6_K: {"q6_K", 256, 210}, Q8_K: {"q8_K", 256, 292}, IQ2_XXS: {"iq2_xxs", 256, 66}, IQ2_XS: {"iq2_xs", 256, 74},
		IQ3_XXS: {"iq3_xxs", 256, 98}, IQ1_S: {"iq1_s", 256, 50}, IQ4_NL: {"iq4_nl", 32, 18}, IQ3_S: {"iq3_s", 256, 110},
		IQ2_S: {"iq2_s", 256, 82}, IQ4_XS: {"iq4_xs", 256, 136}, I8: {"i8", 1, 1}, I16: {"i16", 1, 2},
		I32: {"i32", 1, 4}, I64: {"i64", 1, 8}, F64: {"f64", 1, 8}, IQ1_M: {"iq1_m", 256, 56}, BF16: {"bf16", 1, 2},
		TQ1_0: {"tq1_0", 256, 54}, TQ2_0: {"tq2_0", 256, 66},
	}
	for id := DType(0); id < NumDTypes+3; id++ {
		w, ok := want[id]
		tr, valid := id.Traits()
		if valid != ok {
			t.Errorf("type %d: valid %v, want %v", id, valid, ok)
			continue
		}
		if !ok {
			continue
		}
		if tr.Name != w[0] || tr.BlockSize != w[1] || tr.BlockBytes != w[2] {
			t.Errorf("type %d: %+v, want %v", id, tr, w)
		}
		if p, ok := ParseDType(strings.ToUpper(tr.Name)); !ok || p != id {
			t.Errorf("ParseDType(%q) = %v, %v", tr.Name, p, ok)
		}
	}
	if got := len(DTypes()); got != len(want) {
		t.Errorf("DTypes has %d entries, want %d", got, len(want))
	}
	if Q4_K.BitsPerWeight() != 4.5 || Q6_K.BitsPerWeight() != 6.5625 {
		t.Errorf("bits per weight: q4_K %g, q6_K %g", Q4_K.BitsPerWeight(), Q6_K.BitsPerWeight())
	}
	if DType(4).String() != "type(4)" {
		t.Errorf("removed id prints %q", DType(4).String())
	}
}

func TestRowBytesAndTensorBytes(t *testing.T) {
	if n, err := Q4_K.RowBytes(512); err != nil || n != 288 {
		t.Errorf("q4_K 512: %d, %v", n, err)
	}
	if _, err := Q4_K.RowBytes(100); err == nil {
		t.Error("q4_K of 100 elements accepted")
	}
	if _, err := F32.RowBytes(1 << 62); err == nil {
		t.Error("overflowing row accepted")
	}
	ti := TensorInfo{Type: Q8_0, Shape: []int64{64, 3, 2}}
	if ti.Bytes() != 2*34*6 || ti.NumElements() != 384 || ti.Rows() != 6 {
		t.Errorf("bytes %d, elements %d, rows %d", ti.Bytes(), ti.NumElements(), ti.Rows())
	}
	if (TensorInfo{Type: F32, Shape: []int64{1 << 40, 1 << 40}}).Bytes() != -1 {
		t.Error("overflowing tensor size not reported")
	}
}

// TestF16 checks round-to-nearest-even and special values against hand
// computed binary16 patterns.
func TestF16(t *testing.T) {
	cases := []struct {
		f float32
		h uint16
	}{
		{0, 0x0000}, {float32(math.Copysign(0, -1)), 0x8000}, {1, 0x3c00}, {-2, 0xc000},
		{65504, 0x7bff}, {65520, 0x7c00}, // rounds up to +Inf
		{float32(math.Inf(1)), 0x7c00},
		{1 + 1.0/2048, 0x3c00},          // halfway between 1 and 1+2^-10: ties to even (1)
		{1 + 3.0/2048, 0x3c02},          // halfway, ties to even (up)
		{5.960464477539063e-08, 0x0001}, // smallest subnormal
		{0.333251953125, 0x3555},
	}
	for _, c := range cases {
		if got := F32ToF16(c.f); got != c.h {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	if F16ToF32(0x3555) != 0.333251953125 || F16ToF32(0x0001) != 5.960464477539063e-08 {
		t.Error("F16ToF32 wrong")
	}
	if !math.IsNaN(float64(F16ToF32(F32ToF16(float32(math.NaN()))))) {
		t.Error("NaN not kept")
	}
}

// TestBF16 checks ggml's rounding: add 0x7fff plus bit 16, keep the top half;
// NaN becomes quiet.
func TestBF16(t *testing.T) {
	cases := []struct {
		bits uint32
		want uint16
	}{
		{0x3f800000, 0x3f80},
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81},
		{0x7f7fffff, 0x7f80}, // max float rounds to Inf
		{0x7fc00001, 0x7fc0},
		{0x7f800001, 0x7fc0}, // signalling NaN made quiet
	}
	for _, c := range cases {
		if got := F32ToBF16(math.Float32frombits(c.bits)); got != c.want {
			t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x", c.bits, got, c.want)
		}
	}
	if BF16ToF32(0x3f80) != 1 {
		t.Error("BF16ToF32(0x3f80) != 1")
	}
}

func TestEncodeDecodeFloats(t *testing.T) {
	x := []float32{1, -2.5, 0.1, 1e-3, 65504}
	for _, ty := range []DType{F32, F16, BF16} {
		buf := make([]byte, len(x)*ty.BlockBytes())
		if err := EncodeFloats(ty, x, buf); err != nil {
			t.Fatal(err)
		}
		y := make([]float32, len(x))
		if err := DecodeFloats(ty, buf, y); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			tol := map[DType]float64{F32: 0, F16: 1e-3, BF16: 8e-3}[ty]
			if math.Abs(float64(y[i]-x[i])) > tol*math.Abs(float64(x[i])) {
				t.Errorf("%s: %g -> %g", ty, x[i], y[i])
			}
		}
	}
	if err := DecodeFloats(F32, make([]byte, 3), make([]float32, 1)); err == nil {
		t.Error("short buffer accepted")
	}
	if err := EncodeFloats(Q4_0, x, nil); err == nil {
		t.Error("encoding plain floats as q4_0 accepted")
	}
}

func TestReadAtBounds(t *testing.T) {
	r := bytes.NewReader([]byte("0123456789"))
	if b, err := ReadAt(r, 10, 2, 3); err != nil || string(b) != "234" {
		t.Errorf("ReadAt: %q, %v", b, err)
	}
	for _, c := range [][2]int64{{8, 3}, {-1, 1}, {0, -1}, {11, 0}, {0, 1 << 62}} {
		if _, err := ReadAt(r, 10, c[0], c[1]); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ReadAt(%d, %d): %v", c[0], c[1], err)
		}
	}
	// A size that lies about the reader: the short read is caught.
	if _, err := ReadAt(r, 1<<40, 0, 100); err == nil {
		t.Error("short read accepted")
	}
	if _, err := ReadAt(r, 1<<40, 0, 3*chunk); err == nil {
		t.Error("short chunked read accepted")
	}
}

func TestFormatError(t *testing.T) {
	e := &FormatError{File: "m.gguf", Tensor: "blk.0.attn_q.weight", Offset: 1234, Msg: "bad shape"}
	if got := e.Error(); got != `m.gguf: tensor "blk.0.attn_q.weight": offset 1234: bad shape` {
		t.Errorf("Error() = %q", got)
	}
	if !errors.Is(e, ErrFormat) {
		t.Error("FormatError is not ErrFormat")
	}
	w := &FormatError{File: "x", Offset: -1, Msg: "m", Err: io.ErrUnexpectedEOF}
	if !errors.Is(w, io.ErrUnexpectedEOF) || !errors.Is(w, ErrFormat) || strings.Contains(w.Error(), "offset") {
		t.Errorf("wrapped error: %q", w.Error())
	}
}

func TestAtomicFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "out.bin")
	f, err := CreateAtomic(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("partial"))
	f.Abort()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("aborted file exists")
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 0 {
		t.Errorf("temporary file left: %v", ents)
	}
	f, err = CreateAtomic(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("done"))
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("file visible before Commit")
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // no effect after Commit
	if b, _ := os.ReadFile(p); string(b) != "done" {
		t.Errorf("committed content %q", b)
	}
}

func TestDetectUnknown(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.bin")
	os.WriteFile(p, []byte("hello world"), 0o644)
	_, err := Detect(p)
	if !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "offset 0") {
		t.Errorf("Detect: %v", err)
	}
}
