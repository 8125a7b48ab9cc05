package bench

// mt19937 is the 32-bit Mersenne Twister (std::mt19937), which llama.cpp's
// task scoring seeds with 1 to pick a random subset of the tasks. The
// selection is reproduced exactly so that a subset (--hellaswag-tasks and
// friends) names the same items as llama-perplexity.
type mt19937 struct {
	mt  [624]uint32
	idx int
}

// newMT19937 seeds the generator as std::mt19937(seed) does.
func newMT19937(seed uint32) *mt19937 {
	g := &mt19937{idx: 624}
	g.mt[0] = seed
	for i := 1; i < 624; i++ {
		g.mt[i] = 1812433253*(g.mt[i-1]^(g.mt[i-1]>>30)) + uint32(i)
	}
	return g
}

// next returns the next 32-bit output.
func (g *mt19937) next() uint32 {
	if g.idx >= 624 {
		g.twist()
	}
	y := g.mt[g.idx]
	g.idx++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

func (g *mt19937) twist() {
	for i := 0; i < 624; i++ {
		y := g.mt[i]&0x80000000 | g.mt[(i+1)%624]&0x7fffffff
		v := g.mt[(i+397)%624] ^ y>>1
		if y&1 != 0 {
			v ^= 0x9908b0df
		}
		g.mt[i] = v
	}
	g.idx = 0
}

// uniform returns an integer uniformly distributed in [0, n) as
// libstdc++'s std::uniform_int_distribution<size_t>(0, n-1) draws it from a
// 32-bit generator (Lemire's multiply-and-reject method), n ≤ 2^32.
func (g *mt19937) uniform(n uint64) uint64 {
	r := uint32(n)
	if n > 1<<32-1 || n == 0 {
		return 0
	}
	prod := uint64(g.next()) * uint64(r)
	low := uint32(prod)
	if low < r {
		threshold := -r % r
		for low < threshold {
			prod = uint64(g.next()) * uint64(r)
			low = uint32(prod)
		}
	}
	return prod >> 32
}

// pickScaled returns int(scale·g()·n) computed in single precision with
// scale = 1/(1+2^32-1) as llama.cpp's WinoGrande and multiple-choice subset
// selection does.
func (g *mt19937) pickScaled(n int) int {
	const scale = float32(1.0 / 4294967296.0)
	j := int(float32(float32(g.next())*scale) * float32(n))
	return min(j, n-1)
}
