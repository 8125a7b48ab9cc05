package quantize

import "math"

// Fast versions of the scale searches for groups of at most 32 elements
// (every group the codecs use). They compute exactly what the *Generic
// functions in search.go and search_k.go compute, float32 operation for
// float32 operation, but faster:
//
//   - per-element products that do not depend on the trial (w·x, x - min)
//     are computed once per group instead of once per trial; the value is
//     the same float32 because C evaluates w*x[i]*l as (w*x[i])*l;
//   - independent trials are evaluated in the same pass over the group.
//     Every trial's sums are still accumulated element by element in C's
//     order, but the two or three sums of different trials form
//     independent dependency chains that the CPU overlaps, instead of
//     waiting on one chain of float additions at a time;
//   - make_qx_quants' trial scales do not depend on earlier trials, so the
//     codes are written once, for the winning scale, after the search;
//     make_qkx2_quants' and make_qkx3_quants' do (an improving trial moves
//     the range start), so the second trial of a pair is evaluated
//     speculatively and recomputed when the first one wins.
//
// The equivalence with the generic versions is checked bit for bit on
// random and degenerate groups by TestSearchFastMatchesGeneric, and with
// ggml's own output by the golden tests.

// searchMaxN is the largest group the fast searches handle; larger groups
// go to the generic versions.
const searchMaxN = 32

// kxMaxTrials bounds the trials (nstep+1) of the AVX2 path of kxSearch,
// padding included.
const kxMaxTrials = 48

// qxTrials are make_qx_quants' 18 inverse-scale offsets (0.1·is), in C's
// order, grouped three at a time.
var qxTrials = [18]int{-9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9}

// qxNegNum[nmax] holds the negated numerators -(nmax + 0.1·is) of
// make_qx_quants' trial inverse scales in lanes 0..17 (qxTrials' order)
// and -nmax (the plain scale) in lanes 18..23, for nmax up to 32.
var qxNegNum = func() (t [33][24]float32) {
	for nmax := range t {
		qxNumerators(&t[nmax], float32(nmax))
	}
	return t
}()

// qxNumerators fills one qxNegNum row.
func qxNumerators(t *[24]float32, fnmax float32) {
	for k, is := range qxTrials {
		t[k] = -(fnmax + float32(0.1*float32(is)))
	}
	for k := len(qxTrials); k < len(t); k++ {
		t[k] = -fnmax
	}
}

// signedAbsMax returns the first element of largest magnitude (NaN
// ignored) and that magnitude, as ggml's loops "if (ax > amax) { amax =
// ax; max = x[i]; }" find them (0, 0 when every element is zero or NaN).
// The magnitudes are compared as bit patterns, which order like the
// non-negative floats they encode, without branches.
func signedAbsMax(x []float32) (max, amax float32) {
	var mb uint32
	for _, v := range x {
		b := math.Float32bits(v) &^ (1 << 31)
		if b > 0x7f800000 { // NaN
			b = 0
		}
		if b > mb {
			mb = b
		}
	}
	if mb == 0 {
		return 0, 0
	}
	for _, v := range x {
		if math.Float32bits(v)&^(1<<31) == mb {
			return v, math.Float32frombits(mb)
		}
	}
	return 0, 0
}

// makeQXQuants is ggml's make_qx_quants; see makeQXQuantsGeneric for the
// algorithm. Groups of up to 32 elements with rmseType > 0 take the fast
// path.
func makeQXQuants(n, nmax int, x []float32, L []int8, rmseType int, qw []float32) float32 {
	if n <= 0 || n > searchMaxN || rmseType <= 0 {
		return makeQXQuantsGeneric(n, nmax, x, L, rmseType, qw)
	}
	x = x[:n]
	L = L[:len(x)]
	max, amax := signedAbsMax(x)
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	var wBuf, wxBuf [searchMaxN]float32
	w, wx := wBuf[:len(x)], wxBuf[:len(x)]
	if qw != nil {
		qw = qw[:len(x)]
		for i, v := range x {
			w[i] = qw[i]
			wx[i] = qw[i] * v
		}
	} else {
		for i, v := range x {
			wi := qxWeight(v, rmseType)
			w[i] = wi
			wx[i] = wi * v
		}
	}
	lo, hi := int32(-nmax), int32(nmax-1)
	fnmax := float32(nmax)
	if useAVX2 {
		// Lanes 0..17: the trials; lane 18: the plain scale -nmax/max.
		negnum := &qxNegNum[0]
		if nmax < len(qxNegNum) {
			negnum = &qxNegNum[nmax]
		} else {
			negnum = new([24]float32)
			qxNumerators(negnum, fnmax)
		}
		var out [72]float32
		qxTrials24(&x[0], &w[0], &wx[0], len(x), &negnum[0], max, lo, hi, &out[0])
		const plain = len(qxTrials)
		bestIscale := out[plain]
		sumlx, suml2 := out[24+plain], out[48+plain]
		var scale float32
		if suml2 != 0 {
			scale = sumlx / suml2
		}
		best := scale * sumlx
		for j := range len(qxTrials) {
			sx, s2 := out[24+j], out[48+j]
			if s2 > 0 && sx*sx > best*s2 {
				scale = sx / s2
				best = scale * sx
				bestIscale = out[j]
			}
		}
		for i, v := range x {
			L[i] = int8(int32(nmax) + clampInt32(nearestInt(bestIscale*v), lo, hi))
		}
		return scale
	}
	iscale := -fnmax / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt32(nearestInt(iscale*v), lo, hi)
		L[i] = int8(l + int32(nmax))
		fl := float32(l)
		sumlx += float32(wx[i] * fl)
		suml2 += float32(float32(w[i]*fl) * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	bestIscale, improved := iscale, false
	for k := 0; k < len(qxTrials); k += 3 {
		ia := -(fnmax + float32(0.1*float32(qxTrials[k]))) / max
		ib := -(fnmax + float32(0.1*float32(qxTrials[k+1]))) / max
		ic := -(fnmax + float32(0.1*float32(qxTrials[k+2]))) / max
		var sxa, s2a, sxb, s2b, sxc, s2c float32
		for i, v := range x {
			wi, wxi := w[i], wx[i]
			la := float32(clampInt32(nearestInt(ia*v), lo, hi))
			lb := float32(clampInt32(nearestInt(ib*v), lo, hi))
			lc := float32(clampInt32(nearestInt(ic*v), lo, hi))
			sxa += float32(wxi * la)
			s2a += float32(float32(wi*la) * la)
			sxb += float32(wxi * lb)
			s2b += float32(float32(wi*lb) * lb)
			sxc += float32(wxi * lc)
			s2c += float32(float32(wi*lc) * lc)
		}
		if s2a > 0 && sxa*sxa > best*s2a {
			scale = sxa / s2a
			best = scale * sxa
			bestIscale, improved = ia, true
		}
		if s2b > 0 && sxb*sxb > best*s2b {
			scale = sxb / s2b
			best = scale * sxb
			bestIscale, improved = ib, true
		}
		if s2c > 0 && sxc*sxc > best*s2c {
			scale = sxc / s2c
			best = scale * sxc
			bestIscale, improved = ic, true
		}
	}
	if improved {
		for i, v := range x {
			L[i] = int8(int32(nmax) + clampInt32(nearestInt(bestIscale*v), lo, hi))
		}
	}
	return scale
}

// kxFit is the weighted least-squares fit of make_qkx2_quants and
// make_qkx3_quants from one trial's sums: ok is false when the
// determinant is not positive (the trial is skipped).
func kxFit(sumW, sumX, sumL, sumL2, sumXL float32) (scale, mn float32, ok bool) {
	D := float32(sumW*sumL2) - float32(sumL*sumL)
	if !(D > 0) {
		return 0, 0, false
	}
	scale = (float32(sumW*sumXL) - float32(sumX*sumL)) / D
	mn = (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
	if mn > 0 {
		mn = 0
		scale = sumXL / sumL2
	}
	return scale, mn, true
}

// kxError is the weighted error Σ w·e of the codes L against x with
// e = |scale·l + mn - x| (useMad) or its square.
func kxError(x, w []float32, L []uint8, scale, mn float32, useMad bool) float32 {
	w = w[:len(x)]
	L = L[:len(x)]
	var e float32
	if useMad {
		for i, v := range x {
			diff := float32(scale*float32(L[i])) + mn - v
			e += float32(w[i] * absf32(diff))
		}
		return e
	}
	for i, v := range x {
		diff := float32(scale*float32(L[i])) + mn - v
		e += float32(w[i] * float32(diff*diff))
	}
	return e
}

// kxError2 is kxError for two fits at once.
func kxError2(x, w []float32, La, Lb []uint8, sa, ma, sb, mb float32, useMad bool) (ea, eb float32) {
	w = w[:len(x)]
	La = La[:len(x)]
	Lb = Lb[:len(x)]
	if useMad {
		for i, v := range x {
			da := float32(sa*float32(La[i])) + ma - v
			db := float32(sb*float32(Lb[i])) + mb - v
			ea += float32(w[i] * absf32(da))
			eb += float32(w[i] * absf32(db))
		}
		return ea, eb
	}
	for i, v := range x {
		da := float32(sa*float32(La[i])) + ma - v
		db := float32(sb*float32(Lb[i])) + mb - v
		ea += float32(w[i] * float32(da*da))
		eb += float32(w[i] * float32(db*db))
	}
	return ea, eb
}

// qkx2Sums is one make_qkx2_quants trial over xm = x - min: the codes
// (into La) and the sums Σw·l, Σw·l², Σw·l·x.
func qkx2Sums(x, xm, w []float32, La []uint8, iscale float32, nmax int32) (sumL, sumL2, sumXL float32) {
	xm = xm[:len(x)]
	w = w[:len(x)]
	La = La[:len(x)]
	for i, v := range x {
		l := clampInt32(nearestInt(iscale*xm[i]), 0, nmax)
		La[i] = uint8(l)
		fl := float32(l)
		wl := float32(w[i] * fl)
		sumL += wl
		sumL2 += float32(wl * fl)
		sumXL += float32(wl * v)
	}
	return
}

// qkx2Sums2 is qkx2Sums for two trial scales at once.
func qkx2Sums2(x, xm, w []float32, La, Lb []uint8, ia, ib float32, nmax int32) (sLa, sL2a, sXLa, sLb, sL2b, sXLb float32) {
	xm = xm[:len(x)]
	w = w[:len(x)]
	La = La[:len(x)]
	Lb = Lb[:len(x)]
	for i, v := range x {
		xi, wi := xm[i], w[i]
		la := clampInt32(nearestInt(ia*xi), 0, nmax)
		lb := clampInt32(nearestInt(ib*xi), 0, nmax)
		La[i] = uint8(la)
		Lb[i] = uint8(lb)
		fa, fb := float32(la), float32(lb)
		wa, wb := float32(wi*fa), float32(wi*fb)
		sLa += wa
		sL2a += float32(wa * fa)
		sXLa += float32(wa * v)
		sLb += wb
		sL2b += float32(wb * fb)
		sXLb += float32(wb * v)
	}
	return
}

// qkx3Sums is one make_qkx3_quants trial: as qkx2Sums, but only positive
// products are rounded, after clamping to nmax (the range start may sit
// at or near the maximum, making the product huge, Inf or NaN).
func qkx3Sums(x, xm, w []float32, La []uint8, iscale float32, nmax int32) (sumL, sumL2, sumXL float32) {
	xm = xm[:len(x)]
	w = w[:len(x)]
	La = La[:len(x)]
	fnmax := float32(nmax)
	for i, v := range x {
		t := iscale * xm[i]
		var l int32
		if t > 0 {
			if t > fnmax {
				t = fnmax
			}
			l = nearestInt(t)
		}
		La[i] = uint8(l)
		fl := float32(l)
		wl := float32(w[i] * fl)
		sumL += wl
		sumL2 += float32(wl * fl)
		sumXL += float32(wl * v)
	}
	return
}

// qkx3Sums2 is qkx3Sums for two trial scales at once.
func qkx3Sums2(x, xm, w []float32, La, Lb []uint8, ia, ib float32, nmax int32) (sLa, sL2a, sXLa, sLb, sL2b, sXLb float32) {
	xm = xm[:len(x)]
	w = w[:len(x)]
	La = La[:len(x)]
	Lb = Lb[:len(x)]
	fnmax := float32(nmax)
	for i, v := range x {
		xi, wi := xm[i], w[i]
		ta, tb := ia*xi, ib*xi
		var la, lb int32
		if ta > 0 {
			if ta > fnmax {
				ta = fnmax
			}
			la = nearestInt(ta)
		}
		if tb > 0 {
			if tb > fnmax {
				tb = fnmax
			}
			lb = nearestInt(tb)
		}
		La[i] = uint8(la)
		Lb[i] = uint8(lb)
		fa, fb := float32(la), float32(lb)
		wa, wb := float32(wi*fa), float32(wi*fb)
		sLa += wa
		sL2a += float32(wa * fa)
		sXLa += float32(wa * v)
		sLb += wb
		sL2b += float32(wb * fb)
		sXLb += float32(wb * v)
	}
	return
}

// makeQKX2Quants is ggml's make_qkx2_quants; see makeQKX2QuantsGeneric for
// the algorithm. Groups of up to 32 elements take the fast path.
func makeQKX2Quants(n, nmax int, x, weights []float32, L, Laux []uint8, min *float32, rmin, rdelta float32, nstep int, useMad bool) float32 {
	if n <= 0 || n > searchMaxN {
		return makeQKX2QuantsGeneric(n, nmax, x, weights, L, Laux, min, rmin, rdelta, nstep, useMad)
	}
	return kxSearch(n, nmax, x, weights[:n], L, min, rmin, rdelta, nstep, useMad, false)
}

// makeQKX3Quants is ggml's make_qkx3_quants; see makeQKX3QuantsGeneric for
// the algorithm. Groups of up to 32 elements take the fast path.
func makeQKX3Quants(n, nmax int, x, weights []float32, L, Laux []uint8, min *float32, rmin, rdelta float32, nstep int, useMad bool) float32 {
	if n <= 0 || n > searchMaxN {
		return makeQKX3QuantsGeneric(n, nmax, x, weights, L, Laux, min, rmin, rdelta, nstep, useMad)
	}
	var wBuf [searchMaxN]float32
	if weights == nil {
		for i, v := range x[:n] {
			wBuf[i] = v * v
		}
		weights = wBuf[:n]
	}
	return kxSearch(n, nmax, x, weights[:n], L, min, rmin, rdelta, nstep, useMad, true)
}

// kxSearch is the body of make_qkx2_quants (x3 false) and
// make_qkx3_quants (x3 true) for n <= 32 with explicit weights w.
func kxSearch(n, nmax int, x, w []float32, L []uint8, minOut *float32, rmin, rdelta float32, nstep int, useMad, x3 bool) float32 {
	x = x[:n]
	w = w[:len(x)]
	L = L[:len(x)]
	mn, mx := x[0], x[0]
	sumW := w[0]
	sumX := sumW * x[0]
	for i := 1; i < len(x); i++ {
		if x[i] < mn {
			mn = x[i]
		}
		if x[i] > mx {
			mx = x[i]
		}
		sumW += w[i]
		sumX += float32(w[i] * x[i])
	}
	if mn > 0 {
		mn = 0
	}
	if mx == mn || (x3 && mx < mn) {
		clear(L)
		*minOut = -mn
		return 0
	}
	var xmBuf [searchMaxN]float32
	xm := xmBuf[:len(x)]
	for i, v := range x {
		xm[i] = v - mn
	}
	fnmax := float32(nmax)
	inmax := int32(nmax)
	iscale := fnmax / (mx - mn)
	scale := 1 / iscale
	var bestError float32
	for i, v := range x {
		l := clampInt32(nearestInt(iscale*xm[i]), 0, inmax)
		L[i] = uint8(l)
		diff := float32(scale*float32(l)) + mn - v
		if useMad {
			diff = absf32(diff)
		} else {
			diff = diff * diff
		}
		bestError += float32(w[i] * diff)
	}
	if nstep < 1 {
		*minOut = -mn
		return scale
	}
	if useAVX2 && nstep < kxMaxTrials-8 {
		// Eight trials per pass against the current range start; the
		// first one that improves is taken, and the search goes on from
		// the next trial with the new start.
		var (
			num   [kxMaxTrials]float32 // numerators of the inverse scales
			out   [32]float32
			codes [8 * searchMaxN]int32
		)
		for is := range nstep + 8 {
			num[is] = rmin + float32(rdelta*float32(min(is, nstep))) + fnmax
		}
		for cur := 0; cur <= nstep; {
			k := min(8, nstep+1-cur)
			kxTrial8(&x[0], &xm[0], &w[0], len(x), &num[cur], mx-mn, sumW, sumX, inmax, x3, useMad, &out[0], &codes[0])
			acc := -1
			for j := 0; j < k; j++ {
				if math.Float32bits(out[24+j]) != 0 && out[16+j] < bestError {
					acc = j
					break
				}
			}
			if acc < 0 {
				cur += k
				continue
			}
			for i := range L {
				L[i] = uint8(codes[8*i+acc])
			}
			bestError, scale, mn = out[16+acc], out[acc], out[8+acc]
			for i, v := range x {
				xm[i] = v - mn
			}
			cur += acc + 1
		}
		*minOut = -mn
		return scale
	}
	var laBuf, lbBuf [searchMaxN]uint8
	La, Lb := laBuf[:len(x)], lbBuf[:len(x)]
	for is := 0; is <= nstep; {
		den := mx - mn
		ia := (rmin + float32(rdelta*float32(is)) + fnmax) / den
		var (
			sa, ma, sb, mb, ea, eb float32
			oka, okb               bool
		)
		if is == nstep {
			var sL, sL2, sXL float32
			if x3 {
				sL, sL2, sXL = qkx3Sums(x, xm, w, La, ia, inmax)
			} else {
				sL, sL2, sXL = qkx2Sums(x, xm, w, La, ia, inmax)
			}
			if sa, ma, oka = kxFit(sumW, sumX, sL, sL2, sXL); oka {
				ea = kxError(x, w, La, sa, ma, useMad)
			}
		} else {
			ib := (rmin + float32(rdelta*float32(is+1)) + fnmax) / den
			var sLa, sL2a, sXLa, sLb, sL2b, sXLb float32
			if x3 {
				sLa, sL2a, sXLa, sLb, sL2b, sXLb = qkx3Sums2(x, xm, w, La, Lb, ia, ib, inmax)
			} else {
				sLa, sL2a, sXLa, sLb, sL2b, sXLb = qkx2Sums2(x, xm, w, La, Lb, ia, ib, inmax)
			}
			sa, ma, oka = kxFit(sumW, sumX, sLa, sL2a, sXLa)
			sb, mb, okb = kxFit(sumW, sumX, sLb, sL2b, sXLb)
			switch {
			case oka && okb:
				ea, eb = kxError2(x, w, La, Lb, sa, ma, sb, mb, useMad)
			case oka:
				ea = kxError(x, w, La, sa, ma, useMad)
			case okb:
				eb = kxError(x, w, Lb, sb, mb, useMad)
			}
		}
		if oka && ea < bestError {
			copy(L, La)
			bestError, scale, mn = ea, sa, ma
			for i, v := range x {
				xm[i] = v - mn
			}
			// The range start moved: trial is+1 (if evaluated) is
			// evaluated again against it.
			is++
			continue
		}
		if okb && eb < bestError {
			copy(L, Lb)
			bestError, scale, mn = eb, sb, mb
			for i, v := range x {
				xm[i] = v - mn
			}
		}
		is += 2
	}
	*minOut = -mn
	return scale
}
