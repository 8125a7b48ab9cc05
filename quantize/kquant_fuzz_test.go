package quantize

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzKQuant drives the K codecs with arbitrary bytes: data[0] picks the
// type, the rest is decoded as (zero-padded) blocks and, read as float32s,
// encoded with and without importances derived from the same bytes. Any
// byte pattern must decode without panicking; any finite input must encode
// to blocks that decode to finite values no larger than a few times the
// input's largest magnitude. Seeds: testdata/kquant_fuzz/*.bin.
func FuzzKQuant(f *testing.F) {
	seeds, err := filepath.Glob("testdata/kquant_fuzz/*.bin")
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/kquant_fuzz (%v)", err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		typ := kqTypes[int(data[0])%len(kqTypes)]
		c, _ := CodecFor(typ)
		data = data[1:]
		bb := typ.BlockBytes()

		// Decode: any bytes.
		nb := max(1, (len(data)+bb-1)/bb)
		raw := make([]byte, nb*bb)
		copy(raw, data)
		c.Decode(make([]float32, nb*kqSuper), raw)

		// Encode: the bytes as float32s, made finite and bounded (beyond
		// ~1e4 the f16 super-block scales overflow, in ggml as here).
		n := max(1, (len(data)/4+kqSuper-1)/kqSuper) * kqSuper
		x := make([]float32, n)
		imp := make([]float32, n)
		var amax float32
		for i := 0; i < len(data)/4; i++ {
			v := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			if v != v || math.IsInf(float64(v), 0) {
				v = 0
			}
			v = max(-1000, min(1000, v))
			x[i] = v
			amax = max(amax, absf32(v))
			imp[i] = float32(data[4*i]) / 16
		}
		enc := make([]byte, n/kqSuper*bb)
		y := make([]float32, n)
		for _, w := range [][]float32{nil, imp} {
			c.Encode(enc, x, w)
			c.Decode(y, enc)
			for i, v := range y {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || absf32(v) > 8*amax+1e-3 {
					t.Fatalf("%s imp=%v: element %d: x=%g decodes to %g (max |x| %g)", typ, w != nil, i, x[i], v, amax)
				}
			}
		}
	})
}
