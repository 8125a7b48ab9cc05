package kernel

import (
	"encoding/binary"
	"math"

	"github.com/shrink-llm/shrink/format"
)

// Generic is the pure-Go implementation of every kernel. It is always
// registered first and always available.
var Generic = &Impl{
	Name:      "generic",
	Available: true,
	QuantQ8:   quantQ8Generic,
	QuantQ8K:  quantQ8KGeneric,
	DotF32:    dotF32Generic,
	Axpy:      axpyGeneric,
	SiLUMul:   siluMulGeneric,
	DotRows:   dotRowsGeneric,
	AxpyRows:  axpyRowsGeneric,
	ExpShift:  expShiftGeneric,
	GemmTile:  genericGemm,
}

func init() {
	Generic.Dot[format.F32] = dotF32Row
	Generic.Dot[format.F16] = dotF16Row
	Generic.Dot[format.BF16] = dotBF16Row
	Generic.Dot[format.Q8_0] = dotQ8_0
	Generic.Dot[format.Q4_0] = dotQ4_0
	Generic.Dot[format.Q4_1] = dotQ4_1
	Generic.Dot[format.Q5_0] = dotQ5_0
	Generic.Dot[format.Q5_1] = dotQ5_1
	Generic.Dot[format.IQ4_NL] = dotIQ4NL
	Generic.Dot[format.Q2_K] = dotQ2K
	Generic.Dot[format.Q3_K] = dotQ3K
	Generic.Dot[format.Q4_K] = dotQ4K
	Generic.Dot[format.Q5_K] = dotQ5K
	Generic.Dot[format.Q6_K] = dotQ6K
	for i := range f16Table {
		f16Table[i] = format.F16ToF32(uint16(i))
	}
	Register(Generic)
}

// f16Table maps every binary16 bit pattern to its float32 value.
var f16Table [1 << 16]float32

func f16(b []byte) float32 { return f16Table[binary.LittleEndian.Uint16(b)] }

// F16 decodes the little-endian binary16 value at b[0:2] (table lookup).
func F16(b []byte) float32 { return f16(b) }

// roundF16 rounds f to the nearest binary16 value, as storing a ggml block
// scale does.
func roundF16(f float32) float32 { return f16Table[format.F32ToF16(f)] }

// ---- float vectors ----

func dotF32Generic(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyGeneric(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// ---- activation quantization ----

// quantQ8Generic is ggml's quantize_row_q8_1_ref (Q8_0 plus the scaled code
// sum): d = max|x|/127 stored as f16, codes round(x/d) half away from zero.
func quantQ8Generic(v *Vec, x []float32) {
	nb := len(x) / 32
	for b := 0; b < nb; b++ {
		xb := x[b*32 : b*32+32]
		q := v.Q[b*32 : b*32+32]
		var amax float32
		for _, f := range xb {
			if a := float32(math.Abs(float64(f))); a > amax {
				amax = a
			}
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		var sum int32
		for j, f := range xb {
			c := int8(math.Round(float64(f * id)))
			q[j] = c
			sum += int32(c)
		}
		dr := roundF16(d)
		v.D[b] = dr
		v.S[b] = dr * float32(sum)
	}
}

// quantQ8KGeneric is ggml's quantize_row_q8_K_ref: iscale = -127/max with
// max the signed value of largest magnitude, codes min(127,
// nearest_int(iscale*x)), d = 1/iscale, plus the 16-element code sums.
func quantQ8KGeneric(v *Vec, x []float32) {
	nb := len(x) / 256
	for b := 0; b < nb; b++ {
		xb := x[b*256 : b*256+256]
		q := v.Q[b*256 : b*256+256]
		var max, amax float32
		for _, f := range xb {
			if a := float32(math.Abs(float64(f))); a > amax {
				amax, max = a, f
			}
		}
		if amax == 0 {
			v.D[b] = 0
			clear(q)
			clear(v.BSums[b*16 : b*16+16])
			continue
		}
		iscale := -127 / max
		for j, f := range xb {
			c := math.RoundToEven(float64(iscale * f))
			if c > 127 {
				c = 127
			}
			q[j] = int8(c)
		}
		for g := 0; g < 16; g++ {
			var s int16
			for _, c := range q[g*16 : g*16+16] {
				s += int16(c)
			}
			v.BSums[b*16+g] = s
		}
		v.D[b] = 1 / iscale
	}
}

// ---- float weights ----

func dotF32Row(w []byte, x *Vec) float32 {
	f := x.F
	w = w[:4*len(f)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(f); i += 4 {
		b := w[4*i : 4*i+16]
		s0 += math.Float32frombits(binary.LittleEndian.Uint32(b[0:])) * f[i]
		s1 += math.Float32frombits(binary.LittleEndian.Uint32(b[4:])) * f[i+1]
		s2 += math.Float32frombits(binary.LittleEndian.Uint32(b[8:])) * f[i+2]
		s3 += math.Float32frombits(binary.LittleEndian.Uint32(b[12:])) * f[i+3]
	}
	for ; i < len(f); i++ {
		s0 += math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:])) * f[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotF16Row(w []byte, x *Vec) float32 {
	f := x.F
	w = w[:2*len(f)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(f); i += 4 {
		b := w[2*i : 2*i+8]
		s0 += f16Table[binary.LittleEndian.Uint16(b[0:])] * f[i]
		s1 += f16Table[binary.LittleEndian.Uint16(b[2:])] * f[i+1]
		s2 += f16Table[binary.LittleEndian.Uint16(b[4:])] * f[i+2]
		s3 += f16Table[binary.LittleEndian.Uint16(b[6:])] * f[i+3]
	}
	for ; i < len(f); i++ {
		s0 += f16Table[binary.LittleEndian.Uint16(w[2*i:])] * f[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dotBF16Row(w []byte, x *Vec) float32 {
	f := x.F
	w = w[:2*len(f)]
	var s0, s1 float32
	i := 0
	for ; i+2 <= len(f); i += 2 {
		b := w[2*i : 2*i+4]
		s0 += math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[0:]))<<16) * f[i]
		s1 += math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2:]))<<16) * f[i+1]
	}
	for ; i < len(f); i++ {
		s0 += math.Float32frombits(uint32(binary.LittleEndian.Uint16(w[2*i:]))<<16) * f[i]
	}
	return s0 + s1
}

// ---- 32-element block weights (against Q8 blocks) ----

func dotQ8_0(w []byte, x *Vec) float32 {
	nb := len(x.F) / 32
	w = w[:nb*34]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*34 : b*34+34]
		qw := blk[2:34]
		q := x.Q[b*32 : b*32+32]
		var s int32
		for j := 0; j < 32; j += 4 {
			s += int32(int8(qw[j]))*int32(q[j]) + int32(int8(qw[j+1]))*int32(q[j+1]) +
				int32(int8(qw[j+2]))*int32(q[j+2]) + int32(int8(qw[j+3]))*int32(q[j+3])
		}
		sum += f16(blk) * x.D[b] * float32(s)
	}
	return sum
}

func dotQ4_0(w []byte, x *Vec) float32 {
	nb := len(x.F) / 32
	w = w[:nb*18]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*18 : b*18+18]
		qs := blk[2:18]
		q := x.Q[b*32 : b*32+32]
		lo, hi := q[:16], q[16:32]
		// sum((q-8)*x) = sum(q*x) - 8*sum(x); x.S[b] is D*sum(x).
		var s0, s1 int32
		for j := 0; j < 16; j += 2 {
			v, u := qs[j], qs[j+1]
			s0 += int32(v&15)*int32(lo[j]) + int32(v>>4)*int32(hi[j])
			s1 += int32(u&15)*int32(lo[j+1]) + int32(u>>4)*int32(hi[j+1])
		}
		sum += f16(blk) * (x.D[b]*float32(s0+s1) - 8*x.S[b])
	}
	return sum
}

func dotQ4_1(w []byte, x *Vec) float32 {
	nb := len(x.F) / 32
	w = w[:nb*20]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*20 : b*20+20]
		qs := blk[4:20]
		q := x.Q[b*32 : b*32+32]
		lo, hi := q[:16], q[16:32]
		var s int32
		for j, v := range qs {
			s += int32(v&15)*int32(lo[j]) + int32(v>>4)*int32(hi[j])
		}
		sum += f16(blk)*x.D[b]*float32(s) + f16(blk[2:])*x.S[b]
	}
	return sum
}

// q5Dot is the integer dot product of one 32-element 5-bit block (high bits
// qh, nibbles qs, in ggml's Q5_0/Q5_1 order) less bias with 32 activation
// codes q.
func q5Dot(qh uint32, qs []byte, q []int8, bias int32) int32 {
	lo, hi := q[:16], q[16:32]
	var s int32
	for j, v := range qs[:16] {
		a := int32(v&15) | int32((qh>>j)&1)<<4
		c := int32(v>>4) | int32((qh>>(j+16))&1)<<4
		s += (a-bias)*int32(lo[j]) + (c-bias)*int32(hi[j])
	}
	return s
}

func dotQ5_0(w []byte, x *Vec) float32 {
	nb := len(x.F) / 32
	w = w[:nb*22]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*22 : b*22+22]
		s := q5Dot(binary.LittleEndian.Uint32(blk[2:]), blk[6:22], x.Q[b*32:b*32+32], 16)
		sum += f16(blk) * x.D[b] * float32(s)
	}
	return sum
}

func dotQ5_1(w []byte, x *Vec) float32 {
	nb := len(x.F) / 32
	w = w[:nb*24]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*24 : b*24+24]
		s := q5Dot(binary.LittleEndian.Uint32(blk[4:]), blk[8:24], x.Q[b*32:b*32+32], 0)
		sum += f16(blk)*x.D[b]*float32(s) + f16(blk[2:])*x.S[b]
	}
	return sum
}

// iq4nlValues is kvalues_iq4nl, IQ4_NL's non-linear code table.
var iq4nlValues = [16]int32{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

func dotIQ4NL(w []byte, x *Vec) float32 {
	nb := len(x.F) / 32
	w = w[:nb*18]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*18 : b*18+18]
		qs := blk[2:18]
		q := x.Q[b*32 : b*32+32]
		lo, hi := q[:16], q[16:32]
		var s int32
		for j, v := range qs {
			s += iq4nlValues[v&15]*int32(lo[j]) + iq4nlValues[v>>4]*int32(hi[j])
		}
		sum += f16(blk) * x.D[b] * float32(s)
	}
	return sum
}

// ---- K-quant weights (against Q8_K super-blocks) ----

func dot16(a *[16]int8, q []int8) int32 {
	q = q[:16]
	var s int32
	for j := 0; j < 16; j++ {
		s += int32(a[j]) * int32(q[j])
	}
	return s
}

func dotQ2K(w []byte, x *Vec) float32 {
	nb := len(x.F) / 256
	w = w[:nb*84]
	var sum float32
	var tmp [16]int8
	for b := 0; b < nb; b++ {
		blk := w[b*84 : b*84+84]
		scales := blk[0:16]
		qs := blk[16:80]
		d := f16(blk[80:]) * x.D[b]
		dmin := f16(blk[82:]) * x.D[b]
		q := x.Q[b*256 : b*256+256]
		bs := x.BSums[b*16 : b*16+16]
		var isum, msum int32
		for g := 0; g < 16; g++ {
			msum += int32(scales[g]>>4) * int32(bs[g])
		}
		for h := 0; h < 2; h++ {
			for k := 0; k < 4; k++ {
				shift := uint(2 * k)
				for half := 0; half < 2; half++ {
					src := qs[32*h+16*half : 32*h+16*half+16]
					for l, v := range src {
						tmp[l] = int8((v >> shift) & 3)
					}
					g := 8*h + 2*k + half
					isum += int32(scales[g]&15) * dot16(&tmp, q[16*g:])
				}
			}
		}
		sum += d*float32(isum) - dmin*float32(msum)
	}
	return sum
}

func q3Scale(s []byte, g int) int32 {
	var low int32
	if g < 8 {
		low = int32(s[g] & 15)
	} else {
		low = int32(s[g-8] >> 4)
	}
	high := int32(s[8+g%4]>>(2*(g/4))) & 3
	return (low | high<<4) - 32
}

func dotQ3K(w []byte, x *Vec) float32 {
	nb := len(x.F) / 256
	w = w[:nb*110]
	var sum float32
	var tmp [16]int8
	for b := 0; b < nb; b++ {
		blk := w[b*110 : b*110+110]
		hm := blk[0:32]
		qs := blk[32:96]
		sc := blk[96:108]
		d := f16(blk[108:]) * x.D[b]
		q := x.Q[b*256 : b*256+256]
		var isum int32
		for h := 0; h < 2; h++ {
			for k := 0; k < 4; k++ {
				shift := uint(2 * k)
				m := uint8(1) << uint(4*h+k)
				for half := 0; half < 2; half++ {
					t0 := 16 * half
					src := qs[32*h+t0 : 32*h+t0+16]
					hb := hm[t0 : t0+16]
					for l, v := range src {
						c := int8((v >> shift) & 3)
						if hb[l]&m == 0 {
							c -= 4
						}
						tmp[l] = c
					}
					g := 8*h + 2*k + half
					isum += q3Scale(sc, g) * dot16(&tmp, q[16*g:])
				}
			}
		}
		sum += d * float32(isum)
	}
	return sum
}

// scaleMinK4 is ggml's get_scale_min_k4: the 6-bit scale and min of
// sub-block j from the 12 packed bytes s.
func scaleMinK4(j int, s []byte) (int32, int32) {
	if j < 4 {
		return int32(s[j] & 63), int32(s[j+4] & 63)
	}
	sc := (s[j+4] & 15) | ((s[j-4] >> 6) << 4)
	m := (s[j+4] >> 4) | ((s[j] >> 6) << 4)
	return int32(sc), int32(m)
}

func dotQ4K(w []byte, x *Vec) float32 {
	nb := len(x.F) / 256
	w = w[:nb*144]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*144 : b*144+144]
		s := blk[4:16]
		qs := blk[16:144]
		q := x.Q[b*256 : b*256+256]
		bs := x.BSums[b*16 : b*16+16]
		var isum, msum int32
		for c := 0; c < 4; c++ {
			sc1, m1 := scaleMinK4(2*c, s)
			sc2, m2 := scaleMinK4(2*c+1, s)
			qq := qs[32*c : 32*c+32]
			lo := q[64*c : 64*c+32]
			hi := q[64*c+32 : 64*c+64]
			var s1, s2 int32
			for l, v := range qq {
				s1 += int32(v&15) * int32(lo[l])
				s2 += int32(v>>4) * int32(hi[l])
			}
			isum += sc1*s1 + sc2*s2
			msum += m1*int32(bs[4*c]+bs[4*c+1]) + m2*int32(bs[4*c+2]+bs[4*c+3])
		}
		sum += f16(blk)*x.D[b]*float32(isum) - f16(blk[2:])*x.D[b]*float32(msum)
	}
	return sum
}

func dotQ5K(w []byte, x *Vec) float32 {
	nb := len(x.F) / 256
	w = w[:nb*176]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*176 : b*176+176]
		s := blk[4:16]
		qh := blk[16:48]
		qs := blk[48:176]
		q := x.Q[b*256 : b*256+256]
		bs := x.BSums[b*16 : b*16+16]
		var isum, msum int32
		for c := 0; c < 4; c++ {
			sc1, m1 := scaleMinK4(2*c, s)
			sc2, m2 := scaleMinK4(2*c+1, s)
			u1, u2 := uint(2*c), uint(2*c+1)
			qq := qs[32*c : 32*c+32]
			lo := q[64*c : 64*c+32]
			hi := q[64*c+32 : 64*c+64]
			var s1, s2 int32
			for l, v := range qq {
				h := qh[l]
				s1 += (int32(v&15) | int32((h>>u1)&1)<<4) * int32(lo[l])
				s2 += (int32(v>>4) | int32((h>>u2)&1)<<4) * int32(hi[l])
			}
			isum += sc1*s1 + sc2*s2
			msum += m1*int32(bs[4*c]+bs[4*c+1]) + m2*int32(bs[4*c+2]+bs[4*c+3])
		}
		sum += f16(blk)*x.D[b]*float32(isum) - f16(blk[2:])*x.D[b]*float32(msum)
	}
	return sum
}

func dotQ6K(w []byte, x *Vec) float32 {
	nb := len(x.F) / 256
	w = w[:nb*210]
	var sum float32
	for b := 0; b < nb; b++ {
		blk := w[b*210 : b*210+210]
		d := f16(blk[208:]) * x.D[b]
		sc := blk[192:208]
		q := x.Q[b*256 : b*256+256]
		var isum int32
		for h := 0; h < 2; h++ {
			ql := blk[64*h : 64*h+64]
			qh := blk[128+32*h : 128+32*h+32]
			qb := q[128*h : 128*h+128]
			var s [8]int32 // per 16-group partial sums, groups 8h..8h+7
			for l := 0; l < 32; l++ {
				hb := qh[l]
				a := int32(ql[l]&15) | int32(hb&3)<<4
				bq := int32(ql[l+32]&15) | int32((hb>>2)&3)<<4
				c := int32(ql[l]>>4) | int32((hb>>4)&3)<<4
				e := int32(ql[l+32]>>4) | int32((hb>>6)&3)<<4
				gl := l / 16
				s[gl] += (a - 32) * int32(qb[l])
				s[2+gl] += (bq - 32) * int32(qb[l+32])
				s[4+gl] += (c - 32) * int32(qb[l+64])
				s[6+gl] += (e - 32) * int32(qb[l+96])
			}
			for g := 0; g < 8; g++ {
				isum += int32(int8(sc[8*h+g])) * s[g]
			}
		}
		sum += d * float32(isum)
	}
	return sum
}
