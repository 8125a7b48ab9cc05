package quantize

// Q4_K (144 bytes per 256 elements): d f16 | dmin f16 | scales[12] | qs[128].
// Q5_K (176 bytes): d f16 | dmin f16 | scales[12] | qh[32] | qs[128].
// Sub-block j (32 elements) has x = d·sc_j·q - dmin·m_j with 6-bit sc_j and
// m_j packed by kqPutScaleMin. Chunk c (64 elements) keeps its low nibbles in
// qs[32c:32c+32]: element 64c+l in the low nibble of qs[32c+l], element
// 64c+32+l in the high nibble. Q5_K's fifth bit of element 64c+l is bit 2c
// of qh[l], of element 64c+32+l bit 2c+1.

// decodeQ4K is ggml's dequantize_row_q4_K for one super-block.
func decodeQ4K(y []float32, b []byte) {
	d, dmin := f16(b[0:]), f16(b[2:])
	s := b[4:16]
	q := b[16:144]
	y = y[:kqSuper]
	for c := 0; c < 4; c++ {
		sc, m := kqScaleMin(2*c, s)
		d1, m1 := d*float32(sc), float32(dmin*float32(m))
		sc, m = kqScaleMin(2*c+1, s)
		d2, m2 := d*float32(sc), float32(dmin*float32(m))
		qq := q[32*c : 32*c+32]
		lo, hi := y[64*c:64*c+32], y[64*c+32:64*c+64]
		for l, v := range qq {
			lo[l] = float32(d1*float32(v&0xF)) - m1
			hi[l] = float32(d2*float32(v>>4)) - m2
		}
	}
}

// decodeQ5K is ggml's dequantize_row_q5_K for one super-block.
func decodeQ5K(y []float32, b []byte) {
	d, dmin := f16(b[0:]), f16(b[2:])
	s := b[4:16]
	qh := b[16:48]
	q := b[48:176]
	y = y[:kqSuper]
	for c := 0; c < 4; c++ {
		sc, m := kqScaleMin(2*c, s)
		d1, m1 := d*float32(sc), float32(dmin*float32(m))
		sc, m = kqScaleMin(2*c+1, s)
		d2, m2 := d*float32(sc), float32(dmin*float32(m))
		u1, u2 := uint8(1)<<(2*c), uint8(2)<<(2*c)
		qq := q[32*c : 32*c+32]
		lo, hi := y[64*c:64*c+32], y[64*c+32:64*c+64]
		for l, v := range qq {
			a, bb := v&0xF, v>>4
			if qh[l]&u1 != 0 {
				a += 16
			}
			if qh[l]&u2 != 0 {
				bb += 16
			}
			lo[l] = float32(d1*float32(a)) - m1
			hi[l] = float32(d2*float32(bb)) - m2
		}
	}
}

// q45KRefSearch is the common first half of quantize_row_q4_K_ref and
// quantize_row_q5_K_ref: per sub-block make_qkx2_quants with weights
// av_x + |x| (av_x the sub-block's RMS) and the given search range, then
// the 8 scales and 8 mins coded in 6 bits against max/63 (d and dmin).
func q45KRefSearch(b []byte, x []float32, L []uint8, nmax int, rmin, rdelta float32, nstep int) {
	var (
		Laux    [32]uint8
		weights [32]float32
		mins    [8]float32
		scales  [8]float32
	)
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrtf32(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + absf32(v)
		}
		scales[j] = makeQKX2Quants(32, nmax, xs, weights[:], L[32*j:], Laux[:], &mins[j], rmin, rdelta, nstep, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	s := b[4:16]
	for j := 0; j < 8; j++ {
		ls := min(63, uint8(nearestInt(invScale*scales[j])))
		lm := min(63, uint8(nearestInt(invMin*mins[j])))
		kqPutScaleMin(j, s, ls, lm)
	}
	putF16(b[0:], maxScale/63)
	putF16(b[2:], maxMin/63)
}

// q45KImplSearch is the common first half of quantize_row_q4_K_impl and
// quantize_row_q5_K_impl: weights qw·sqrt(sigma2 + x²) with
// sigma2 = 2·mean(x²), per sub-block make_qkx3_quants (37 trial scales from
// rmin -0.9 in steps of 0.05), then the 8 scales and the 8 mins each coded
// to 6 bits by make_qp_quants weighted by the sub-blocks' weight sums.
// clamp63 applies Q5_K's extra MIN(63, ...) on the codes (Q4_K has none).
func q45KImplSearch(b []byte, x, qw []float32, L []uint8, nmax int, clamp63 bool) {
	var (
		Laux    [32]uint8
		Ls, Lm  [8]uint8
		weights [32]float32
		sw      [8]float32
		mins    [8]float32
		scales  [8]float32
	)
	var sumX2 float32
	for _, v := range x[:kqSuper] {
		sumX2 += float32(v * v)
	}
	sigma2 := float32(2 * sumX2 / kqSuper)
	for j := 0; j < 8; j++ {
		for l := 0; l < 32; l++ {
			v := x[32*j+l]
			weights[l] = qw[32*j+l] * sqrtf32(sigma2+float32(v*v))
		}
		var sumw float32
		for l := 0; l < 32; l++ {
			sumw += weights[l]
		}
		sw[j] = sumw
		scales[j] = makeQKX3Quants(32, nmax, x[32*j:], weights[:], L[32*j:], Laux[:], &mins[j], -0.9, 0.05, 36, false)
	}
	dBlock := makeQPQuants(8, 63, scales[:], Ls[:], sw[:])
	mBlock := makeQPQuants(8, 63, mins[:], Lm[:], sw[:])
	s := b[4:16]
	for j := 0; j < 8; j++ {
		ls, lm := Ls[j], Lm[j]
		if clamp63 {
			ls, lm = min(63, ls), min(63, lm)
		}
		kqPutScaleMin(j, s, ls, lm)
	}
	putF16(b[0:], dBlock)
	putF16(b[2:], mBlock)
}

// q45KRequantize re-quantizes every sub-block to 0..nmax against its stored
// (rounded) scale and min; sub-blocks with a zero scale keep their search
// codes.
func q45KRequantize(b []byte, x []float32, L []uint8, nmax int32) {
	d0, m0 := f16(b[0:]), f16(b[2:])
	s := b[4:16]
	for j := 0; j < 8; j++ {
		sc, m := kqScaleMin(j, s)
		d := d0 * float32(sc)
		if d == 0 {
			continue
		}
		dm := float32(m0 * float32(m))
		for ii := 0; ii < 32; ii++ {
			l := nearestInt((x[32*j+ii] + dm) / d)
			L[32*j+ii] = uint8(clampInt32(l, 0, nmax))
		}
	}
}

// q4KPack stores the 4-bit codes L into qs (chunk order described above).
func q4KPack(qs []byte, L []uint8) {
	for c := 0; c < 4; c++ {
		for l := 0; l < 32; l++ {
			qs[32*c+l] = L[64*c+l] | L[64*c+l+32]<<4
		}
	}
}

// q5KPack stores the 5-bit codes L into qh and qs.
func q5KPack(qh, qs []byte, L []uint8) {
	clear(qh[:32])
	for c := 0; c < 4; c++ {
		m1, m2 := uint8(1)<<(2*c), uint8(2)<<(2*c)
		for j := 0; j < 32; j++ {
			l1, l2 := L[64*c+j], L[64*c+j+32]
			if l1 > 15 {
				l1 -= 16
				qh[j] |= m1
			}
			if l2 > 15 {
				l2 -= 16
				qh[j] |= m2
			}
			qs[32*c+j] = l1 | l2<<4
		}
	}
}

// encodeQ4KRef is ggml's quantize_row_q4_K_ref for one super-block
// (make_qkx2_quants with nmax 15, rmin -1, rdelta 0.1, 21 trials).
func encodeQ4KRef(b []byte, x []float32) {
	var L [kqSuper]uint8
	q45KRefSearch(b, x, L[:], 15, -1, 0.1, 20)
	q45KRequantize(b, x, L[:], 15)
	q4KPack(b[16:144], L[:])
}

// encodeQ4KImpl is ggml's quantize_row_q4_K_impl for one super-block.
func encodeQ4KImpl(b []byte, x, qw []float32) {
	var L [kqSuper]uint8
	q45KImplSearch(b, x, qw, L[:], 15, false)
	q45KRequantize(b, x, L[:], 15)
	q4KPack(b[16:144], L[:])
}

// encodeQ5KRef is ggml's quantize_row_q5_K_ref for one super-block
// (make_qkx2_quants with nmax 31, rmin -0.5, rdelta 0.1, 16 trials).
func encodeQ5KRef(b []byte, x []float32) {
	var L [kqSuper]uint8
	q45KRefSearch(b, x, L[:], 31, -0.5, 0.1, 15)
	q45KRequantize(b, x, L[:], 31)
	q5KPack(b[16:48], b[48:176], L[:])
}

// encodeQ5KImpl is ggml's quantize_row_q5_K_impl for one super-block.
func encodeQ5KImpl(b []byte, x, qw []float32) {
	var L [kqSuper]uint8
	q45KImplSearch(b, x, qw, L[:], 31, true)
	q45KRequantize(b, x, L[:], 31)
	q5KPack(b[16:48], b[48:176], L[:])
}
