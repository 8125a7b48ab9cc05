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

// unpackTileGo is the pure-Go twin of the Q8_0 and Q4_0 unpackers (VNNI
// and AVX2):
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

// tileGo is the pure-Go twin of the tile kernels (tileQ8_0x16x8 and
// tileQ8_0x8x4AVX2 with off 128, the Q4_0 ones with off 8) for weight rows
// i0..i0+rows-1 of the unpacked tile w and activation rows j0..j0+acts-1
// of the pack p, step by step: the exact integer block sum from
// -off*sum(codes), converted, times the weight scale times the activation
// scale, fused-added to the accumulator.
func tileGo(off int32, w, p []byte, i0, rows, j0, acts, nb int, out []float32, stride int) {
	for j := j0; j < j0+acts; j++ {
		for i := i0; i < i0+rows; i++ {
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
			out[(j-j0)*stride+i-i0] = acc
		}
	}
}

// TestTileTwins checks the VNNI and AVX2 tile kernels against their
// pure-Go twins:
// the unpacked weights byte for byte, the products to within the double
// rounding of the twin's float64 FMA (one float32 ulp of the partial
// sums), for weights of every scale mode with all byte values as codes and
// activations up to full-scale codes.
func TestTileTwins(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, tc := range []struct {
		im     *Impl
		dt     format.DType
		off    int32
		unpack unpacker
		kern   tileKernel
	}{
		{AVX512VNNI, format.Q8_0, 128, unpackQ8_0x16Rows, tileKernel{16, 8, tileQ8_0x16x8}},
		{AVX512VNNI, format.Q4_0, 8, unpackQ4_0x16Rows, tileKernel{16, 8, tileQ4_0x16x8}},
		{AVX2, format.Q8_0, 128, unpackQ8_0x16AVX2, tileKernel{8, 4, tileQ8_0x8x4AVX2}},
		{AVX2, format.Q4_0, 8, unpackQ4_0x16AVX2, tileKernel{8, 4, tileQ4_0x8x4AVX2}},
	} {
		if !tc.im.Available {
			continue
		}
		for _, nb := range []int{1, 2, 7} {
			t.Run(fmt.Sprintf("%s/%s/nb=%d", tc.im.Name, tc.dt, nb), func(t *testing.T) {
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
				for i0 := 0; i0 < 16; i0 += tc.kern.rows {
					for j0 := 0; j0 < 16; j0 += tc.kern.acts {
						out, ref := make([]float32, 16*stride), make([]float32, 16*stride)
						a := tileArgs{w: unsafe.Pointer(&got[4*i0]), x: unsafe.Pointer(&p[32*j0]), s: unsafe.Pointer(&p[512+4*j0]),
							nb: nb, out: unsafe.Pointer(&out[0]), stride: 4 * stride}
						tc.kern.kern(&a)
						tileGo(tc.off, got, p, i0, tc.kern.rows, j0, tc.kern.acts, nb, ref, stride)
						for k := range out {
							d := math.Abs(float64(out[k] - ref[k]))
							if d > 1e-6*math.Abs(float64(ref[k]))+1e-37 || math.IsNaN(float64(out[k])) != math.IsNaN(float64(ref[k])) {
								t.Fatalf("rows %d+, activations %d+: out[%d,%d] = %g, twin %g", i0, j0, k/stride, k%stride, out[k], ref[k])
							}
						}
					}
				}
			})
		}
	}
}
