//go:build !purego

package kernel

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/shrink-llm/shrink/format"
)

// unpackTileGo is the pure-Go twin of unpackQ8_0x16 and unpackQ4_0x16:
// sixteen rows rowBytes apart, nb blocks, into the tile layout.
func unpackTileGo(t format.DType, dst, w []byte, rowBytes, nb int) {
	bb := t.BlockBytes()
	for b := 0; b < nb; b++ {
		d := dst[b*tileWBytes : (b+1)*tileWBytes]
		for i := 0; i < 16; i++ {
			blk := w[i*rowBytes+b*bb : i*rowBytes+(b+1)*bb]
			*(*float32)(unsafe.Pointer(&d[512+4*i])) = f16(blk)
			for e := 0; e < 32; e++ {
				var c byte
				switch {
				case t == format.Q8_0:
					c = blk[2+e] ^ 0x80 // code + 128
				case e < 16:
					c = blk[2+e] & 15
				default:
					c = blk[2+e-16] >> 4
				}
				d[64*(e/4)+4*i+e%4] = c
			}
		}
	}
}

// tileGo is the pure-Go twin of tileQ8_0x16x8 (off 128) and
// tileQ4_0x16x8 (off 8), step by step: the exact integer block sum from
// -off*sum(codes), converted, times the weight scale times the activation
// scale, fused-added to the accumulator.
func tileGo(off int32, w, p []byte, nb int, out []float32, stride int) {
	for j := 0; j < 8; j++ {
		for i := 0; i < 16; i++ {
			var acc float32
			for b := 0; b < nb; b++ {
				wb, pb := w[b*tileWBytes:], p[b*tilePBytes:]
				s := off * *(*int32)(unsafe.Pointer(&pb[512+4*j]))
				for e := 0; e < 32; e++ {
					s += int32(wb[64*(e/4)+4*i+e%4]) * int32(int8(pb[32*j+e]))
				}
				dw := *(*float32)(unsafe.Pointer(&wb[512+4*i]))
				dx := *(*float32)(unsafe.Pointer(&pb[576+4*j]))
				acc = float32(math.FMA(float64(float32(s)), float64(dw*dx), float64(acc)))
			}
			out[j*stride+i] = acc
		}
	}
}

// TestTileTwins checks the VNNI tile kernels against their pure-Go twins:
// the unpacked weights byte for byte, the products to within the double
// rounding of the twin's float64 FMA (one float32 ulp of the partial
// sums), for weights of every scale mode with all byte values as codes and
// activations up to full-scale codes.
func TestTileTwins(t *testing.T) {
	if !AVX512VNNI.Available {
		t.Skip("no AVX-512 VNNI")
	}
	r := rand.New(rand.NewPCG(21, 22))
	for _, tc := range []struct {
		dt     format.DType
		off    int32
		unpack func(dst, w *byte, idx *[16]int32, nb int)
		kern   func(*tileArgs)
	}{
		{format.Q8_0, 128, unpackQ8_0x16, tileQ8_0x16x8},
		{format.Q4_0, 8, unpackQ4_0x16, tileQ4_0x16x8},
	} {
		for _, nb := range []int{1, 2, 7} {
			t.Run(fmt.Sprintf("%s/nb=%d", tc.dt, nb), func(t *testing.T) {
				n := 32 * nb
				rb := nb*tc.dt.BlockBytes() + 5 // rows with a gap between them
				w := make([]byte, 16*rb)
				for i := 0; i < 16; i++ {
					copy(w[i*rb:], rawRow(r, tc.dt, n, i%4))
				}
				var idx [16]int32
				for i := range idx {
					idx[i] = int32(i * rb)
				}
				got, want := make([]byte, nb*tileWBytes), make([]byte, nb*tileWBytes)
				tc.unpack(&got[0], &w[0], &idx, nb)
				unpackTileGo(tc.dt, want, w, rb, nb)
				if !bytes.Equal(got, want) {
					t.Fatalf("unpacked weights differ from the Go twin")
				}
				xs := make([]Vec, 16)
				for j := range xs {
					x := randRow(r, n)
					if j%3 == 0 {
						for e := range x {
							x[e] = float32(2*(e&1) - 1) // codes ±127
						}
					}
					Generic.Quantize(&xs[j], x, ActQ8)
				}
				p := make([]byte, nb*tilePBytes)
				packTile(p, xs, nb)
				const stride = 21
				for h := 0; h < 2; h++ {
					out, ref := make([]float32, 8*stride), make([]float32, 8*stride)
					a := tileArgs{w: unsafe.Pointer(&got[0]), x: unsafe.Pointer(&p[256*h]), s: unsafe.Pointer(&p[512+32*h]),
						nb: nb, out: unsafe.Pointer(&out[0]), stride: 4 * stride}
					tc.kern(&a)
					tileGoHalf(tc.off, got, p, h, nb, ref, stride)
					for k := range out {
						d := math.Abs(float64(out[k] - ref[k]))
						if d > 1e-6*math.Abs(float64(ref[k]))+1e-37 || math.IsNaN(float64(out[k])) != math.IsNaN(float64(ref[k])) {
							t.Fatalf("half %d: out[%d,%d] = %g, twin %g", h, k/stride, k%stride, out[k], ref[k])
						}
					}
				}
			})
		}
	}
}

// tileGoHalf runs tileGo on half h (activation rows 8h..8h+7) of the
// packed group p.
func tileGoHalf(off int32, w, p []byte, h, nb int, out []float32, stride int) {
	q := make([]byte, len(p))
	for b := 0; b < nb; b++ {
		src, dst := p[b*tilePBytes:], q[b*tilePBytes:]
		copy(dst[:256], src[256*h:256*h+256])
		copy(dst[512:544], src[512+32*h:544+32*h])
		copy(dst[576:608], src[576+32*h:608+32*h])
	}
	tileGo(off, w, q, nb, out, stride)
}
