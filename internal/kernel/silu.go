package kernel

import "math"

// SwiGLU activation, g[i] = silu(g[i]) * u[i] with silu(x) = x / (1 + e**-x),
// the feed-forward activation of llama-family models, computed in float32
// as llama.cpp's ggml_vec_swiglu_f32 does. The exponential is Cephes' expf
// (S. L. Moshier, Cephes Math Library, expf.c): e**y = 2**n * e**r with
// n = floor(y*log2(e) + 1/2), r = y - n*ln2 (ln2 split in two parts) and
// e**r from a degree-7 minimax polynomial, within about one unit in the
// last place. y = -x is clamped to [-87.3, 88.7], where e**y is a normal
// float32, so silu(x) is x itself for x > 87.3 and a tiny negative number
// for x < -88.7.

const (
	expLog2e = 1.44269504088896341
	expLn2Hi = 0.693359375
	expLn2Lo = -2.12194440e-4
	expHi    = 88.72             // just under log(MaxFloat32)
	expLo    = -87.3365447504019 // log of the smallest normal float32
	expC0    = 1.9875691500e-4
	expC1    = 1.3981999507e-3
	expC2    = 8.3334519073e-3
	expC3    = 4.1665795894e-2
	expC4    = 1.6666665459e-1
	expC5    = 5.0000001201e-1
)

// expClamped returns e**y for y clamped to [expLo, expHi].
func expClamped(y float32) float32 {
	if !(y >= expLo) { // also NaN
		y = expLo
	}
	if y > expHi {
		y = expHi
	}
	n := float32(math.Floor(float64(float32(y*expLog2e) + 0.5)))
	r := y - float32(n*expLn2Hi)
	r -= float32(n * expLn2Lo)
	p := float32(expC0*r) + expC1
	p = float32(p*r) + expC2
	p = float32(p*r) + expC3
	p = float32(p*r) + expC4
	p = float32(p*r) + expC5
	p = float32(p*r*r) + r + 1
	k := int32(n)
	if k > 127 { // 2**128 is not a float32: scale in two steps
		return p * math.Float32frombits(uint32(k+126)<<23) * 2
	}
	return p * math.Float32frombits(uint32(k+127)<<23)
}

// siluMulGeneric sets g[i] = silu(g[i]) * u[i] for i < len(g) (len(u) >=
// len(g)).
func siluMulGeneric(g, u []float32) {
	u = u[:len(g)]
	for i, x := range g {
		g[i] = x / (1 + expClamped(-x)) * u[i]
	}
}
