package quantize

// Q6_K (210 bytes per 256 elements): ql[128] | qh[64] | scales[16] int8 | d f16.
// Group g (16 elements) has x = d·scales[g]·(q-32), q = low4 | high2<<4.
// Half h (128 elements) uses ql[64h:64h+64] and qh[32h:32h+32]; for
// l < 32, element 128h+l takes the low nibble of ql[64h+l] and bits 0-1
// of qh[32h+l], element 128h+32+l the low nibble of ql[64h+32+l] and bits
// 2-3, element 128h+64+l the high nibble of ql[64h+l] and bits 4-5, and
// element 128h+96+l the high nibble of ql[64h+32+l] and bits 6-7.

// decodeQ6K is ggml's dequantize_row_q6_K for one super-block.
func decodeQ6K(y []float32, b []byte) {
	d := f16(b[208:])
	y = y[:kqSuper]
	for h := 0; h < 2; h++ {
		ql := b[64*h : 64*h+64]
		qh := b[128+32*h : 128+32*h+32]
		sc := b[192+8*h : 192+8*h+8]
		out := y[128*h : 128*h+128]
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int32(ql[l]&0xF|(qh[l]>>0&3)<<4) - 32
			q2 := int32(ql[l+32]&0xF|(qh[l]>>2&3)<<4) - 32
			q3 := int32(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
			q4 := int32(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
			out[l] = d * float32(int8(sc[is])) * float32(q1)
			out[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
			out[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
			out[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
		}
	}
}

// encodeQ6KRef is ggml's quantize_row_q6_K_ref for one super-block.
func encodeQ6KRef(b []byte, x []float32) { encodeQ6KImpl(b, x, nil) }

// encodeQ6KImpl is ggml's quantize_row_q6_K_impl for one super-block (and,
// with qw == nil, quantize_row_q6_K_ref, which computes the same thing):
// per group make_qx_quants (nmax 32, rmse type 1) weighted by x², or by qw
// itself when given (ggml's Q6_K does not use the sqrt(sigma2 + x²)
// factor), the signed max-magnitude group scale mapped to -128 and every
// group scale coded as int8 against it, then every element re-quantized
// against its rounded scale. A super-block whose scales are all below
// GROUP_MAX_EPS is stored as all zero bytes.
func encodeQ6KImpl(b []byte, x, qw []float32) {
	var (
		L      [kqSuper]int8
		scales [16]float32
	)
	var maxScale, maxAbsScale float32
	for ib := 0; ib < 16; ib++ {
		var w []float32
		if qw != nil {
			w = qw[16*ib : 16*ib+16]
		}
		scale := makeQXQuants(16, 32, x[16*ib:], L[16*ib:], 1, w)
		scales[ib] = scale
		if a := absf32(scale); a > maxAbsScale {
			maxAbsScale = a
			maxScale = scale
		}
	}
	b = b[:q6KBytes]
	if maxAbsScale < groupMaxEps {
		clear(b)
		return
	}
	iscale := -128 / maxScale
	d0 := putF16(b[208:], 1/iscale)
	sc := b[192:208]
	for ib := range sc {
		sc[ib] = uint8(int8(min(127, nearestInt(iscale*scales[ib]))))
	}
	for j := 0; j < 16; j++ {
		d := d0 * float32(int8(sc[j]))
		if d == 0 {
			continue
		}
		for ii := 0; ii < 16; ii++ {
			l := nearestInt(x[16*j+ii] / d)
			L[16*j+ii] = int8(clampInt32(l, -32, 31) + 32)
		}
	}
	for h := 0; h < 2; h++ {
		ql := b[64*h : 64*h+64]
		qh := b[128+32*h : 128+32*h+32]
		Lh := L[128*h : 128*h+128]
		for l := 0; l < 32; l++ {
			a, c, e, f := uint8(Lh[l]), uint8(Lh[l+32]), uint8(Lh[l+64]), uint8(Lh[l+96])
			ql[l] = a&0xF | (e&0xF)<<4
			ql[l+32] = c&0xF | (f&0xF)<<4
			qh[l] = a>>4 | (c>>4)<<2 | (e>>4)<<4 | (f>>4)<<6
		}
	}
}
