package quantize

// Q3_K (110 bytes per 256 elements): hmask[32] | qs[64] | scales[12] | d f16.
// Group g (16 elements) has x = d·(s_g-32)·(q-4) with a 6-bit s_g packed by
// kqPutQ3Scale and a 3-bit q: low 2 bits packed by kqPack2, high bit of
// element e in bit e/32 of hmask[e%32].

// decodeQ3K is ggml's dequantize_row_q3_K for one super-block.
func decodeQ3K(y []float32, b []byte) {
	hm := b[0:32]
	q := b[32:96]
	s := b[96:108]
	dAll := f16(b[108:])
	y = y[:kqSuper]
	is := 0
	m := uint8(1)
	for n := 0; n < kqSuper; n += 128 {
		qq := q[n/4 : n/4+32]
		for shift := uint(0); shift < 8; shift += 2 {
			for half := 0; half < 2; half++ {
				dl := dAll * float32(kqQ3Scale(is, s))
				is++
				src := qq[16*half : 16*half+16]
				h := hm[16*half : 16*half+16]
				out := y[:16]
				for l, v := range src {
					c := int32((v >> shift) & 3)
					if h[l]&m == 0 {
						c -= 4
					}
					out[l] = dl * float32(c)
				}
				y = y[16:]
			}
			m <<= 1
		}
	}
}

// encodeQ3KRef is ggml's quantize_row_q3_K_ref for one super-block: per
// group make_q3_quants (nmax 4, with the rmse refinement), the signed
// max-magnitude group scale mapped to -32 and every scale coded in 6 bits
// against it, then every element re-quantized against its rounded scale.
func encodeQ3KRef(b []byte, x []float32) {
	var (
		L      [kqSuper]int8
		scales [16]float32
	)
	var maxScale, amax float32
	for j := 0; j < 16; j++ {
		scales[j] = makeQ3Quants(16, 4, x[16*j:], L[16*j:], true)
		if s := absf32(scales[j]); s > amax {
			amax = s
			maxScale = scales[j]
		}
	}
	s := b[96:108]
	clear(s)
	if maxScale != 0 {
		iscale := -32 / maxScale
		for j := 0; j < 16; j++ {
			l := int8(nearestInt(iscale * scales[j]))
			l = int8(clampInt32(int32(l), -32, 31)) + 32
			kqPutQ3Scale(j, s, uint8(l))
		}
		putF16(b[108:], 1/iscale)
	} else {
		putF16(b[108:], 0)
	}
	q3KFinish(b, x, L[:])
}

// q3KFinish re-quantizes every group against its stored scale (groups with
// a zero scale keep their search codes) and packs the codes: high bits into
// hmask, low 2 bits into qs. Shared by quantize_row_q3_K_ref and
// quantize_row_q3_K_impl.
func q3KFinish(b []byte, x []float32, L []int8) {
	s := b[96:108]
	d0 := f16(b[108:])
	for j := 0; j < 16; j++ {
		d := d0 * float32(kqQ3Scale(j, s))
		if d == 0 {
			continue
		}
		for ii := 0; ii < 16; ii++ {
			l := nearestInt(x[16*j+ii] / d)
			L[16*j+ii] = int8(clampInt32(l, -4, 3) + 4)
		}
	}
	hmask := b[0:32]
	clear(hmask)
	var U [kqSuper]uint8
	for j := 0; j < kqSuper; j++ {
		l := L[j]
		if l > 3 {
			hmask[j%32] |= 1 << (j / 32)
			l -= 4
		}
		U[j] = uint8(l)
	}
	kqPack2(b[32:96], U[:])
}

// encodeQ3KImpl is ggml's quantize_row_q3_K_impl for one super-block:
// weights qw·sqrt(sigma2 + x²) with sigma2 = 2·mean(x²), per group
// make_qx_quants (nmax 4, rmse type 1, those weights), the 16 group scales
// coded to 6 bits by make_qx_quants (nmax 32) weighted by the groups'
// weight sums, then re-quantization.
func encodeQ3KImpl(b []byte, x, qw []float32) {
	var (
		L      [kqSuper]int8
		scales [16]float32
		weight [16]float32
		sw     [16]float32
		Ls     [16]int8
	)
	var sumx2 float32
	for _, v := range x[:kqSuper] {
		sumx2 += float32(v * v)
	}
	sigma2 := float32(2 * sumx2 / kqSuper)
	for j := 0; j < 16; j++ {
		for l := 0; l < 16; l++ {
			v := x[16*j+l]
			weight[l] = qw[16*j+l] * sqrtf32(sigma2+float32(v*v))
		}
		var sumw float32
		for l := 0; l < 16; l++ {
			sumw += weight[l]
		}
		sw[j] = sumw
		scales[j] = makeQXQuants(16, 4, x[16*j:], L[16*j:], 1, weight[:])
	}
	s := b[96:108]
	clear(s)
	dBlock := makeQXQuants(16, 32, scales[:], Ls[:], 1, sw[:])
	for j := 0; j < 16; j++ {
		kqPutQ3Scale(j, s, uint8(Ls[j]))
	}
	putF16(b[108:], dBlock)
	q3KFinish(b, x, L[:])
}
