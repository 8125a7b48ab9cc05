package quantize

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// The fuzz corpora are seeded from testdata/legacy_golden.json: its ggml
// blocks for decoding, its input rows for encoding.

func FuzzLegacyDecode(f *testing.F) {
	g := loadLegacyGolden(f)
	for _, c := range g.Cases {
		b, _ := hex.DecodeString(c.Bytes)
		f.Add(uint8(dtypeByName(f, c.Type)), b)
	}
	f.Fuzz(func(t *testing.T, typ uint8, src []byte) {
		dt := format.DType(typ)
		tr, ok := dt.Traits()
		if !ok {
			if err := DecodeRow(dt, make([]float32, 32), src); err == nil {
				t.Fatal("invalid type accepted")
			}
			return
		}
		n := len(src) / tr.BlockBytes * tr.BlockSize
		dst := make([]float32, n)
		err := DecodeRow(dt, dst, src)
		if _, has := CodecFor(dt); !has {
			if err == nil {
				t.Fatal("unsupported type accepted")
			}
			return
		}
		if len(src)%tr.BlockBytes == 0 && err != nil {
			t.Fatalf("whole blocks refused: %v", err)
		}
		if len(src)%tr.BlockBytes != 0 && err == nil {
			t.Fatal("partial block accepted")
		}
		if err == nil {
			want := naiveDecode(dt, src, n)
			for i := range want {
				if dst[i] != want[i] && !(dst[i] != dst[i] && want[i] != want[i]) {
					t.Fatalf("%s element %d: %v, naive %v", dt, i, dst[i], want[i])
				}
			}
		}
	})
}

func FuzzLegacyEncode(f *testing.F) {
	g := loadLegacyGolden(f)
	for name, in := range g.Inputs {
		b := make([]byte, 4*len(in))
		for i, u := range in {
			binary.LittleEndian.PutUint32(b[4*i:], u)
		}
		f.Add(uint8(len(name)), b, true)
	}
	f.Fuzz(checkEncodeRow)
}

var fuzzEncodeTypes = []format.DType{format.Q8_0, format.Q4_0, format.Q4_1, format.Q5_0, format.Q5_1, format.IQ4_NL, format.Q8_K, format.F16, format.BF16}

// checkEncodeRow encodes the floats in raw as type number sel and checks
// the decoded row.
func checkEncodeRow(t *testing.T, sel uint8, raw []byte, withImp bool) {
	dt := fuzzEncodeTypes[int(sel)%len(fuzzEncodeTypes)]
	tr, _ := dt.Traits()
	n := len(raw) / 4 / tr.BlockSize * tr.BlockSize
	x := make([]float32, n)
	var amax float32
	for i := range x {
		v := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		if v != v || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 1e4 {
			v = 0 // keep f16 scales finite; NaN/Inf are refused by CheckFinite upstream
		}
		x[i] = v
		amax = max(amax, absf32(v))
	}
	var imp []float32
	if withImp {
		imp = make([]float32, n)
		for i := range imp {
			imp[i] = float32(i%7) * 0.5
		}
	}
	b := make([]byte, rowLen(dt, n))
	if err := EncodeRow(dt, b, x, imp); err != nil {
		t.Fatal(err)
	}
	y := make([]float32, n)
	if err := DecodeRow(dt, y, b); err != nil {
		t.Fatal(err)
	}
	// Every decoded value is finite; without importances it also lies
	// within the row's range, up to the scale's f16 rounding and
	// IQ4_NL's fitted scale. (With importances a weighted least-squares
	// fit may place lightly weighted elements outside it, as in ggml.)
	bound := 1.25*float64(amax) + 1e-6
	if imp != nil {
		bound = math.MaxFloat32
	}
	for i, v := range y {
		if v != v || math.Abs(float64(v)) > bound {
			t.Fatalf("%s element %d: %v decoded from %v (amax %v)", dt, i, v, x[i], amax)
		}
	}
}
