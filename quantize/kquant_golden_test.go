package quantize

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"testing"

	"github.com/shrink-llm/shrink/format"
)

// testdata/kquant_golden.json holds the bytes ggml's own quantize_q2_K ..
// quantize_q6_K produced (ggml built without FMA contraction) for the input
// that kqGoldenInput regenerates, once without importances (the *_ref
// quantizers) and once with kqGoldenInput's importance vector (the *_impl
// quantizers), plus an FNV-1a hash of what ggml's dequantize_row_* made of
// each. Only the resulting bytes are committed.

const (
	kqGoldenRows = 7
	kqGoldenN    = 512
)

// kqXorshift is the xorshift32 generator the golden input was made with.
type kqXorshift uint32

func (s *kqXorshift) next() uint32 {
	v := uint32(*s)
	v ^= v << 13
	v ^= v >> 17
	v ^= v << 5
	*s = kqXorshift(v)
	return v
}

// unif is exact in float32: an integer below 2^24 times 2^-23.
func (s *kqXorshift) unif() float32 {
	return float32(int32(s.next()>>8)-8388608) * (1.0 / 8388608.0)
}

func (s *kqXorshift) gauss() float32 {
	v := s.unif()
	v = v + s.unif()
	v = v + s.unif()
	v = v + s.unif()
	return v * 0.8660254
}

// kqGoldenInput returns the 7 rows of 512 values and the importance vector
// the golden file was generated from: Gaussian, Gaussian with 12x outliers,
// heavy-tailed (cubed uniform), constant then zero, all-negative then tiny,
// channel-scaled, and all-positive rows.
func kqGoldenInput() (x, imp []float32) {
	s := kqXorshift(0x2545F491)
	const N = kqGoldenN
	x = make([]float32, kqGoldenRows*N)
	for j := 0; j < N; j++ {
		x[0*N+j] = s.gauss() * 0.02
	}
	for j := 0; j < N; j++ {
		g := s.gauss()
		if s.next()%61 == 0 {
			g = g * 12
		}
		x[1*N+j] = g
	}
	for j := 0; j < N; j++ {
		u := s.unif()
		x[2*N+j] = float32(u*u*u*0.5) + float32(s.gauss()*0.01)
	}
	for j := 0; j < N; j++ {
		if j < 256 {
			x[3*N+j] = 0.3
		}
	}
	for j := 0; j < N; j++ {
		if j < 256 {
			x[4*N+j] = -absf32(s.gauss()) - 0.1
		} else {
			x[4*N+j] = s.gauss() * 1e-6
		}
	}
	for j := 0; j < N; j++ {
		x[5*N+j] = s.gauss() * float32(1+j%7)
	}
	for j := 0; j < N; j++ {
		x[6*N+j] = absf32(s.gauss()) + 0.05
	}
	imp = make([]float32, N)
	for j := 0; j < N; j++ {
		w := float32(s.next()>>8) * (4.0 / 16777216.0)
		if j%13 == 0 {
			w = 0
		}
		imp[j] = w
	}
	return x, imp
}

type kqGolden struct {
	Ref           string `json:"ref"`
	RefDecodedFNV string `json:"ref_decoded_fnv"`
	Imp           string `json:"imp"`
	ImpDecodedFNV string `json:"imp_decoded_fnv"`
	BigRefFNV     string `json:"big_ref_fnv"`
	BigImpFNV     string `json:"big_imp_fnv"`
}

const (
	kqBigRows = 48
	kqBigN    = 1024
)

// kqGoldenBigInput returns the larger input whose ggml encodings the golden
// file records only as FNV-1a hashes: 48 rows of 1024 cycling through
// Gaussian, cubed-uniform with outliers, channel-scaled Gaussian and
// offset uniform rows at scales 2^-6 .. 2^-2, and a squared-uniform
// importance vector.
func kqGoldenBigInput() (x, imp []float32) {
	s := kqXorshift(0x9E3779B9)
	x = make([]float32, kqBigRows*kqBigN)
	for r := 0; r < kqBigRows; r++ {
		scale := float32(int(1)<<(r%5)) * (1.0 / 64.0)
		for j := 0; j < kqBigN; j++ {
			var v float32
			switch r % 4 {
			case 0:
				v = s.gauss() * scale
			case 1:
				u := s.unif()
				v = u * u * u * scale
				if s.next()%97 == 0 {
					v = v + float32(30*scale)
				}
			case 2:
				v = float32(s.gauss()*scale) * float32(1+j%11)
			default:
				v = float32(s.unif()*scale) + float32(0.25*scale)
			}
			x[r*kqBigN+j] = v
		}
	}
	imp = make([]float32, kqBigN)
	for j := range imp {
		u := float32(s.next()>>8) * (1.0 / 16777216.0)
		imp[j] = u * u * 10
	}
	return x, imp
}

func kqFNVBytes(b []byte) string {
	h := fnv.New64a()
	h.Write(b)
	return fmt.Sprintf("%016x", h.Sum64())
}

func kqFNV(y []float32) string {
	h := fnv.New64a()
	var b [4]byte
	for _, v := range y {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		h.Write(b[:])
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// readGolden reads a golden file: entries by type name.
func readGolden(t *testing.T, path string) map[string]kqGolden {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var golden map[string]kqGolden
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	return golden
}

func TestKQuantGolden(t *testing.T) {
	golden := readGolden(t, "testdata/kquant_golden.json")
	x, imp := kqGoldenInput()
	bx, bimp := kqGoldenBigInput()
	for _, typ := range kqTypes {
		t.Run(typ.String(), func(t *testing.T) {
			g, ok := golden[typ.String()]
			if !ok {
				t.Fatalf("no golden entry for %s", typ)
			}
			c, _ := CodecFor(typ)
			rowBytes := kqGoldenN / kqSuper * typ.BlockBytes()
			for _, mode := range []struct {
				name, want, wantFNV string
				imp                 []float32
			}{{"ref", g.Ref, g.RefDecodedFNV, nil}, {"imp", g.Imp, g.ImpDecodedFNV, imp}} {
				want, err := hex.DecodeString(mode.want)
				if err != nil || len(want) != kqGoldenRows*rowBytes {
					t.Fatalf("%s: bad golden bytes (%d, %v)", mode.name, len(want), err)
				}
				got := make([]byte, len(want))
				for i := range got {
					got[i] = 0xAA // stale bytes must all be overwritten
				}
				for r := 0; r < kqGoldenRows; r++ {
					c.Encode(got[r*rowBytes:(r+1)*rowBytes], x[r*kqGoldenN:(r+1)*kqGoldenN], mode.imp)
				}
				for r := 0; r < kqGoldenRows; r++ {
					for blk := 0; blk < kqGoldenN/kqSuper; blk++ {
						o := r*rowBytes + blk*typ.BlockBytes()
						gb, wb := got[o:o+typ.BlockBytes()], want[o:o+typ.BlockBytes()]
						if string(gb) != string(wb) {
							t.Errorf("%s: row %d block %d differs from ggml:\n got  %x\n want %x", mode.name, r, blk, gb, wb)
						}
					}
				}
				y := make([]float32, kqGoldenRows*kqGoldenN)
				c.Decode(y, want)
				if h := kqFNV(y); h != mode.wantFNV {
					t.Errorf("%s: decoding ggml's bytes: hash %s, ggml's dequantize_row gives %s", mode.name, h, mode.wantFNV)
				}
			}
			bigRow := kqBigN / kqSuper * typ.BlockBytes()
			big := make([]byte, kqBigRows*bigRow)
			for _, mode := range []struct {
				name, want string
				imp        []float32
			}{{"big ref", g.BigRefFNV, nil}, {"big imp", g.BigImpFNV, bimp}} {
				for r := 0; r < kqBigRows; r++ {
					c.Encode(big[r*bigRow:(r+1)*bigRow], bx[r*kqBigN:(r+1)*kqBigN], mode.imp)
				}
				if h := kqFNVBytes(big); h != mode.want {
					t.Errorf("%s: encoding hash %s, ggml's bytes hash to %s", mode.name, h, mode.want)
				}
			}
		})
	}
}

var kqTypes = []format.DType{format.Q2_K, format.Q3_K, format.Q4_K, format.Q5_K, format.Q6_K}
