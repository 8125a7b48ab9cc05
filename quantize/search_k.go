package quantize

import "math"

// This file holds the scale searches used only by the K-quants
// (ggml-quants.c: make_qkx2_quants, make_q3_quants, make_qp_quants),
// written anew in Go to compute the same float32 results as ggml's C.
//
// As in search.go, every product that C adds to (or subtracts from) another
// value is wrapped in an explicit float32 conversion, which forbids Go from
// fusing the two into one FMA (it may on arm64, ppc64, s390x, riscv64); the
// results then match ggml compiled without FMA contraction.

// absf32 is C's fabsf.
func absf32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// sqrtf32 is C's sqrtf (a correctly rounded float64 square root rounds to
// the correctly rounded float32 one).
func sqrtf32(v float32) float32 { return float32(math.Sqrt(float64(v))) }

// makeQKX2QuantsGeneric is ggml's make_qkx2_quants: asymmetric quantization of
// x[:n] to levels 0..nmax with x ≈ scale·L - min, weighted by weights
// (required). Starting from the range [min(x,0), max(x)] it tries nstep+1
// inverse scales (rmin + rdelta·is + nmax)/(max - min), fits scale and offset
// by weighted least squares for each, and keeps the fit with the least
// weighted error (absolute error when useMad, squared otherwise). As in
// ggml, once a better fit is found its offset becomes the range start of
// the following trials. The offset, made non-negative, is stored through
// min; Laux is scratch of length n. It returns the scale.
//
// Unlike makeQKX3Quants, the initial error (of the plain min/max scale) is
// the baseline a trial must beat, and there is no x² default for weights.
func makeQKX2QuantsGeneric(n, nmax int, x, weights []float32, L, Laux []uint8, min *float32, rmin, rdelta float32, nstep int, useMad bool) float32 {
	x = x[:n]
	weights = weights[:n]
	L = L[:n]
	Laux = Laux[:n]
	mn, mx := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		if x[i] < mn {
			mn = x[i]
		}
		if x[i] > mx {
			mx = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if mn > 0 {
		mn = 0
	}
	if mx == mn {
		for i := range L {
			L[i] = 0
		}
		*min = -mn
		return 0
	}
	fnmax := float32(nmax)
	iscale := fnmax / (mx - mn)
	scale := 1 / iscale
	var bestError float32
	for i, v := range x {
		l := clampInt32(nearestInt(iscale*(v-mn)), 0, int32(nmax))
		L[i] = uint8(l)
		diff := float32(scale*float32(l)) + mn - v
		if useMad {
			diff = absf32(diff)
		} else {
			diff = diff * diff
		}
		bestError += float32(weights[i] * diff)
	}
	if nstep < 1 {
		*min = -mn
		return scale
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + fnmax) / (mx - mn)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			// nearestInt is total (any float32 gives some int32, as the
			// C bit trick does), and the clamp bounds the code, so even a
			// degenerate range start cannot index out of bounds.
			l := clampInt32(nearestInt(iscale*(v-mn)), 0, int32(nmax))
			Laux[i] = uint8(l)
			w := weights[i]
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
			var curError float32
			for i, v := range x {
				diff := float32(thisScale*float32(Laux[i])) + thisMin - v
				if useMad {
					diff = absf32(diff)
				} else {
					diff = diff * diff
				}
				curError += float32(weights[i] * diff)
			}
			if curError < bestError {
				copy(L, Laux)
				bestError = curError
				scale = thisScale
				mn = thisMin
			}
		}
	}
	*min = -mn
	return scale
}

// makeQ3Quants is ggml's make_q3_quants: symmetric quantization of x[:n] to
// levels -nmax..nmax-1 (stored in L offset by nmax), anchored on the signed
// max-magnitude element. With doRmse it then improves the codes one element
// at a time (up to 5 passes) wherever that raises the x²-weighted
// least-squares objective (Σw·x·l)²/Σw·l², and returns the fitted scale;
// otherwise it returns the anchor scale.
func makeQ3Quants(n, nmax int, x []float32, L []int8, doRmse bool) float32 {
	x = x[:n]
	L = L[:n]
	var max, amax float32
	for _, v := range x {
		if ax := absf32(v); ax > amax {
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
	iscale := float32(-nmax) / max
	if doRmse {
		var sumlx, suml2 float32
		for i, v := range x {
			l := clampInt32(nearestInt(iscale*v), lo, hi)
			L[i] = int8(l)
			w := v * v
			fl := float32(l)
			sumlx += float32(w * v * fl)
			suml2 += float32(w * fl * fl)
		}
		for itry := 0; itry < 5; itry++ {
			changed := 0
			for i, v := range x {
				w := v * v
				fl := float32(L[i])
				slx := sumlx - float32(w*v*fl)
				if slx > 0 {
					sl2 := suml2 - float32(w*fl*fl)
					newL := clampInt32(nearestInt(v*sl2/slx), lo, hi)
					if newL != int32(L[i]) {
						fn := float32(newL)
						slx += float32(w * v * fn)
						sl2 += float32(w * fn * fn)
						if sl2 > 0 && slx*slx*suml2 > sumlx*sumlx*sl2 {
							L[i] = int8(newL)
							sumlx = slx
							suml2 = sl2
							changed++
						}
					}
				}
			}
			if changed == 0 {
				break
			}
		}
		for i := range L {
			L[i] += int8(nmax)
		}
		if suml2 > 0 {
			return sumlx / suml2
		}
		return 0
	}
	for i, v := range x {
		l := clampInt32(nearestInt(iscale*v), lo, hi)
		L[i] = int8(l + int32(nmax))
	}
	return 1 / iscale
}

// makeQPQuants is ggml's make_qp_quants: quantization of the non-negative
// values x[:n] (sub-block scales or mins) to levels 0..nmax with a scale
// alone, weighted by qw (required). It tries the inverse scale nmax/max(x)
// and 8 neighbours (nmax ± 0.1·k)/max, keeps the one of least weighted
// squared error, then improves the codes one at a time (up to 5 passes) as
// makeQ3Quants does, and returns the weighted least-squares scale.
//
// As in ggml, codes are stored as uint8 truncations of the rounded values
// (a negative input wraps around) while the sums use the rounded int.
func makeQPQuants(n, nmax int, x []float32, L []uint8, qw []float32) float32 {
	x = x[:n]
	L = L[:n]
	qw = qw[:n]
	var max float32
	for _, v := range x {
		if !(max > v) { // C's MAX(max, x[i]), NaN included
			max = v
		}
	}
	if max < groupMaxEps {
		for i := range L {
			L[i] = 0
		}
		return 0
	}
	fnmax := float32(nmax)
	iscale := fnmax / max
	for i, v := range x {
		L[i] = uint8(nearestInt(iscale * v))
	}
	scale := 1 / iscale
	var bestMSE float32
	for i, v := range x {
		diff := v - float32(scale*float32(L[i]))
		bestMSE += float32(qw[i] * diff * diff)
	}
	for is := -4; is <= 4; is++ {
		if is == 0 {
			continue
		}
		iscaleIs := (float32(float32(0.1)*float32(is)) + fnmax) / max
		scaleIs := 1 / iscaleIs
		var mse float32
		for i, v := range x {
			l := nearestInt(iscaleIs * v)
			if l > int32(nmax) {
				l = int32(nmax)
			}
			diff := v - float32(scaleIs*float32(l))
			mse += float32(qw[i] * diff * diff)
		}
		if mse < bestMSE {
			bestMSE = mse
			iscale = iscaleIs
		}
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := nearestInt(iscale * v)
		if l > int32(nmax) {
			l = int32(nmax)
		}
		L[i] = uint8(l)
		w := qw[i]
		fl := float32(l)
		sumlx += float32(w * v * fl)
		suml2 += float32(w * fl * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i, v := range x {
			w := qw[i]
			fl := float32(L[i])
			slx := sumlx - float32(w*v*fl)
			sl2 := suml2 - float32(w*fl*fl)
			if slx > 0 && sl2 > 0 {
				newL := nearestInt(v * sl2 / slx)
				if newL > int32(nmax) {
					newL = int32(nmax)
				}
				if newL != int32(L[i]) {
					fn := float32(newL)
					slx += float32(w * v * fn)
					sl2 += float32(w * fn * fn)
					if slx*slx*suml2 > sumlx*sumlx*sl2 {
						L[i] = uint8(newL)
						sumlx = slx
						suml2 = sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}
