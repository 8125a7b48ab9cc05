package quantize

// Q2_K (84 bytes per 256 elements): scales[16] | qs[64] | d f16 | dmin f16.
// Group g (16 elements) has x = d·(scales[g]&15)·q - dmin·(scales[g]>>4),
// q in 0..3, 2-bit codes packed by kqPack2.

// decodeQ2K is ggml's dequantize_row_q2_K for one super-block.
func decodeQ2K(y []float32, b []byte) {
	scales := b[0:16]
	q := b[16:80]
	d := f16(b[80:])
	dmin := f16(b[82:])
	y = y[:kqSuper]
	is := 0
	for n := 0; n < kqSuper; n += 128 {
		qq := q[n/4 : n/4+32]
		for shift := uint(0); shift < 8; shift += 2 {
			for half := 0; half < 2; half++ {
				sc := scales[is]
				is++
				dl := d * float32(sc&0xF)
				ml := float32(dmin * float32(sc>>4))
				src := qq[16*half : 16*half+16]
				out := y[:16]
				for l, v := range src {
					out[l] = float32(dl*float32((v>>shift)&3)) - ml
				}
				y = y[16:]
			}
		}
	}
}

// encodeQ2KRef is ggml's quantize_row_q2_K_ref for one super-block: per
// group make_qkx2_quants (nmax 3, weights |x|, 16 trial scales from
// rmin -0.5 in steps of 0.1, absolute error), 4-bit scale and min codes
// against max_scale/15 and max_min/15, then every element re-quantized
// against the rounded group scale and min.
func encodeQ2KRef(b []byte, x []float32) {
	var (
		L       [kqSuper]uint8
		Laux    [16]uint8
		weights [16]float32
		mins    [16]float32
		scales  [16]float32
	)
	const q4scale = 15
	var maxScale, maxMin float32
	for j := 0; j < 16; j++ {
		xs := x[16*j : 16*j+16]
		for l, v := range xs {
			weights[l] = absf32(v)
		}
		scales[j] = makeQKX2Quants(16, 3, xs, weights[:], L[16*j:], Laux[:], &mins[j], -0.5, 0.1, 15, true)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	sc := b[0:16]
	if maxScale > 0 {
		iscale := q4scale / maxScale
		for j := range sc {
			sc[j] = uint8(nearestInt(iscale * scales[j]))
		}
		putF16(b[80:], maxScale/q4scale)
	} else {
		clear(sc)
		putF16(b[80:], 0)
	}
	if maxMin > 0 {
		iscale := q4scale / maxMin
		for j := range sc {
			sc[j] |= uint8(nearestInt(iscale*mins[j]) << 4)
		}
		putF16(b[82:], maxMin/q4scale)
	} else {
		putF16(b[82:], 0)
	}
	q2KRequantize(b, x, L[:])
	kqPack2(b[16:80], L[:])
}

// q2KRequantize re-quantizes every group against its stored (rounded)
// scale and min; groups with a zero scale keep their search codes. Shared
// by quantize_row_q2_K_ref and quantize_row_q2_K_impl.
func q2KRequantize(b []byte, x []float32, L []uint8) {
	d, dmin := f16(b[80:]), f16(b[82:])
	for j := 0; j < 16; j++ {
		dj := d * float32(b[j]&0xF)
		if dj == 0 {
			continue
		}
		dm := float32(dmin * float32(b[j]>>4))
		for ii := 0; ii < 16; ii++ {
			l := nearestInt((x[16*j+ii] + dm) / dj)
			L[16*j+ii] = uint8(clampInt32(l, 0, 3))
		}
	}
}

// encodeQ2KImpl is ggml's quantize_row_q2_K_impl for one super-block:
// weights qw·sqrt(sigma2 + x²) with sigma2 = mean(x²) of the super-block
// (Q2_K, unlike the other K-quants, does not double it), per group
// make_qkx3_quants (37 trial scales from rmin -0.9 in steps of 0.05,
// squared error), then the 16 scales and 16 mins each quantized to 4 bits
// by make_qp_quants weighted by the groups' weight sums, and re-quantization.
func encodeQ2KImpl(b []byte, x, qw []float32) {
	var (
		L      [kqSuper]uint8
		Laux   [16]uint8
		mins   [16]float32
		scales [16]float32
		sw     [16]float32
		weight [16]float32
		Ls, Lm [16]uint8
	)
	var sumx2 float32
	for _, v := range x[:kqSuper] {
		sumx2 += float32(v * v)
	}
	sigma2 := float32(sumx2 / kqSuper)
	for j := 0; j < 16; j++ {
		for l := 0; l < 16; l++ {
			v := x[16*j+l]
			weight[l] = qw[16*j+l] * sqrtf32(sigma2+float32(v*v))
		}
		for l := 0; l < 16; l++ {
			sw[j] += weight[l]
		}
		scales[j] = makeQKX3Quants(16, 3, x[16*j:], weight[:], L[16*j:], Laux[:], &mins[j], -0.9, 0.05, 36, false)
	}
	dm := makeQPQuants(16, 15, scales[:], Ls[:], sw[:])
	mm := makeQPQuants(16, 15, mins[:], Lm[:], sw[:])
	putF16(b[80:], dm)
	putF16(b[82:], mm)
	for j := 0; j < 16; j++ {
		b[j] = Ls[j] | Lm[j]<<4
	}
	q2KRequantize(b, x, L[:])
	kqPack2(b[16:80], L[:])
}
