package quantize

import "math"

// This file holds the scale searches that ggml's quantizers share
// (ggml-quants.c: nearest_int, make_qx_quants, make_qkx3_quants), written
// anew in Go so that they compute the same float32 results as ggml's C.
//
// Products that C adds to a sum are wrapped in an explicit float32
// conversion: Go may otherwise fuse x*y+z into one FMA instruction on some
// architectures, which rounds differently from ggml's separate multiply and
// add, and the chosen codes would then differ from ggml's.

// groupMaxEps is ggml's GROUP_MAX_EPS: a group whose largest magnitude is
// below it is treated as all zero.
const groupMaxEps = 1e-15

// nearestInt rounds fval to the nearest integer, ties to even, the way
// ggml's nearest_int does: adding 1.5*2^23 puts the integer part in the low
// mantissa bits. It is exact for |fval| < 2^22 (ggml asserts
// |fval| <= 4194303); outside that range the result is meaningless, as in
// ggml, so callers clamp first.
func nearestInt(fval float32) int32 {
	val := float32(fval) + 12582912
	i := int32(math.Float32bits(val))
	return (i & 0x007fffff) - 0x00400000
}

// qxWeight is the weight of element xi in makeQXQuants for the given
// rmseType when there are no explicit weights.
func qxWeight(xi float32, rmseType int) float32 {
	switch rmseType {
	case 1:
		return xi * xi
	case 2:
		return 1
	case 3:
		return float32(math.Abs(float64(xi)))
	default:
		return float32(math.Sqrt(math.Abs(float64(xi))))
	}
}

func clampInt32(v, lo, hi int32) int32 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// makeQXQuantsGeneric is ggml's make_qx_quants: symmetric quantization of x[:n] to
// the levels -nmax..nmax-1, stored in L offset by nmax (0..2*nmax-1). The
// scale is anchored on the signed max-magnitude element (which maps to
// -nmax). rmseType 0 returns that plain scale; otherwise the scale is refined
// by a weighted least-squares fit and a search over 18 nearby inverse scales
// (nmax ± 0.1·k). Weights are qw when not nil, else x² (rmseType 1),
// 1 (2), |x| (3) or sqrt|x| (other). A negative rmseType fits once and
// returns the mean of the fitted and the plain scale, skipping the search.
// It returns the scale d such that x ≈ d·(L - nmax).
func makeQXQuantsGeneric(n, nmax int, x []float32, L []int8, rmseType int, qw []float32) float32 {
	x = x[:n]
	L = L[:n]
	var max, amax float32
	for _, v := range x {
		ax := float32(math.Abs(float64(v)))
		if ax > amax {
			amax = ax
			max = v
		}
	}
	if amax < groupMaxEps {
		for i := range L {
			L[i] = 0
		}
		return 0
	}
	lo, hi := int32(-nmax), int32(nmax-1)
	fnmax := float32(nmax)
	iscale := -fnmax / max
	if rmseType == 0 {
		for i, v := range x {
			l := nearestInt(iscale * v)
			L[i] = int8(int32(nmax) + clampInt32(l, lo, hi))
		}
		return 1 / iscale
	}
	returnEarly := false
	if rmseType < 0 {
		rmseType = -rmseType
		returnEarly = true
	}
	weight := func(i int) float32 {
		if qw != nil {
			return qw[i]
		}
		return qxWeight(x[i], rmseType)
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampInt32(nearestInt(iscale*v), lo, hi)
		L[i] = int8(l + int32(nmax))
		w := weight(i)
		fl := float32(l)
		sumlx += float32(w * v * fl)
		suml2 += float32(w * fl * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	if returnEarly {
		if suml2 > 0 {
			return 0.5 * (scale + 1/iscale)
		}
		return 1 / iscale
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(fnmax + float32(0.1*float32(is))) / max
		sumlx, suml2 = 0, 0
		for i, v := range x {
			l := clampInt32(nearestInt(iscale*v), lo, hi)
			w := weight(i)
			fl := float32(l)
			sumlx += float32(w * v * fl)
			suml2 += float32(w * fl * fl)
		}
		if suml2 > 0 && sumlx*sumlx > best*suml2 {
			for i, v := range x {
				l := nearestInt(iscale * v)
				L[i] = int8(int32(nmax) + clampInt32(l, lo, hi))
			}
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

// makeQKX3QuantsGeneric is ggml's make_qkx3_quants: asymmetric quantization of
// x[:n] to levels 0..nmax with x ≈ scale·L - min (min ≥ 0 is stored through
// the min pointer). Starting from the range [min(x,0), max(x)], it tries
// nstep+1 inverse scales (rmin + rdelta·is + nmax)/(max-min), fits scale and
// offset by weighted least squares for each, and keeps the fit with the
// least weighted error (absolute error when useMad, else squared). weights
// may be nil: the weights are then x². Laux is scratch of length n.
// It returns the scale.
func makeQKX3QuantsGeneric(n, nmax int, x, weights []float32, L, Laux []uint8, min *float32, rmin, rdelta float32, nstep int, useMad bool) float32 {
	x = x[:n]
	L = L[:n]
	Laux = Laux[:n]
	weight := func(i int) float32 {
		if weights != nil {
			return weights[i]
		}
		return x[i] * x[i]
	}
	mn, mx := x[0], x[0]
	sumW := weight(0)
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		if x[i] < mn {
			mn = x[i]
		}
		if x[i] > mx {
			mx = x[i]
		}
		w := weight(i)
		sumW += w
		sumX += float32(w * x[i])
	}
	if mn > 0 {
		mn = 0
	}
	if mx <= mn {
		for i := range L {
			L[i] = 0
		}
		*min = -mn
		return 0
	}
	fnmax := float32(nmax)
	iscale := fnmax / (mx - mn)
	scale := 1 / iscale
	var bestMad float32
	for i, v := range x {
		l := clampInt32(nearestInt(iscale*(v-mn)), 0, int32(nmax))
		L[i] = uint8(l)
		diff := float32(scale*float32(l)) + mn - v
		if useMad {
			diff = float32(math.Abs(float64(diff)))
		} else {
			diff = diff * diff
		}
		bestMad += float32(weight(i) * diff)
	}
	if nstep < 1 {
		*min = -mn
		return scale
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + fnmax) / (mx - mn)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			// mn is the best fit so far and may sit at or near mx, so the
			// product can be huge, Inf or NaN: only positive values are
			// rounded, after clamping to nmax.
			t := iscale * (v - mn)
			var l int32
			if t > 0 {
				if t > fnmax {
					t = fnmax
				}
				l = nearestInt(t)
			}
			Laux[i] = uint8(l)
			w := weight(i)
			fl := float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(w * fl * fl)
			sumXL += float32(w * fl * v)
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var mad float32
			for i, v := range x {
				diff := float32(thisScale*float32(Laux[i])) + thisMin - v
				if useMad {
					diff = float32(math.Abs(float64(diff)))
				} else {
					diff = diff * diff
				}
				mad += float32(weight(i) * diff)
			}
			if mad < bestMad {
				copy(L, Laux)
				bestMad = mad
				scale = thisScale
				mn = thisMin
			}
		}
	}
	*min = -mn
	return scale
}
