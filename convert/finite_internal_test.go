package convert

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

func TestFiniteAt(t *testing.T) {
	le := binary.LittleEndian
	f32 := func(v float32) []byte { return le.AppendUint32(nil, math.Float32bits(v)) }
	f64 := func(v float64) []byte { return le.AppendUint64(nil, math.Float64bits(v)) }
	u16 := func(u uint16) []byte { return le.AppendUint16(nil, u) }
	inf, nan := math.Inf(1), math.NaN()
	cases := []struct {
		t    format.DType
		b    []byte
		want float64 // 0: finite
	}{
		{format.F32, f32(math.MaxFloat32), 0},
		{format.F32, f32(-0.0), 0},
		{format.F32, f32(float32(nan)), nan},
		{format.F32, f32(float32(inf)), inf},
		{format.F32, f32(float32(-inf)), -inf},
		{format.F16, u16(0x7bff), 0}, // 65504
		{format.F16, u16(0x7c00), inf},
		{format.F16, u16(0xfc00), -inf},
		{format.F16, u16(0x7e00), nan},
		{format.F16, u16(0xfc01), nan},
		{format.BF16, u16(0x7f7f), 0},
		{format.BF16, u16(0x7f80), inf},
		{format.BF16, u16(0x7fc0), nan},
		{format.F64, f64(math.MaxFloat64), 0},
		{format.F64, f64(-inf), -inf},
		{format.F64, f64(nan), nan},
	}
	for _, c := range cases {
		v, ok := finiteAt(c.t, c.b)
		switch {
		case c.want == 0 && !ok:
			t.Errorf("%s %x: reported non-finite %v", c.t, c.b, v)
		case c.want != 0 && (ok || !(v == c.want || math.IsNaN(v) && math.IsNaN(c.want))):
			t.Errorf("%s %x: %v, %v; want %v", c.t, c.b, v, ok, c.want)
		}
	}
}
