package bench

import "math"

// regIncBeta returns the regularized incomplete beta function I_x(a, b),
// evaluated with the continued fraction (modified Lentz) on the side where
// it converges quickly.
func regIncBeta(x, a, b float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a + b)
	lb, _ := math.Lgamma(a)
	lc, _ := math.Lgamma(b)
	front := math.Exp(la - lb - lc + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaCF(x, a, b) / a
	}
	return 1 - front*betaCF(1-x, b, a)/b
}

// betaCF evaluates the continued fraction of the incomplete beta function.
func betaCF(x, a, b float64) float64 {
	const tiny = 1e-300
	c, d := 1.0, 1-(a+b)*x/(a+1)
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= 10000; m++ {
		fm := float64(m)
		for _, num := range [2]float64{
			fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm)),
			-(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1)),
		} {
			d = 1 + num*d
			if math.Abs(d) < tiny {
				d = tiny
			}
			c = 1 + num/c
			if math.Abs(c) < tiny {
				c = tiny
			}
			d = 1 / d
			h *= d * c
		}
		if math.Abs(d*c-1) < 1e-15 {
			break
		}
	}
	return h
}

// studentTCDF returns P(T ≤ t) for Student's t with df degrees of freedom.
func studentTCDF(t, df float64) float64 {
	tail := 0.5 * regIncBeta(df/(df+t*t), df/2, 0.5)
	if t > 0 {
		return 1 - tail
	}
	return tail
}

// studentTQuantile returns t with P(T ≤ t) = p (0 < p < 1), by bisection.
func studentTQuantile(p, df float64) float64 {
	return bisect(func(t float64) float64 { return studentTCDF(t, df) - p }, -1e6, 1e6)
}

// binomUpperTail returns P(X ≥ k) for X ~ Binomial(n, p).
func binomUpperTail(k, n int, p float64) float64 {
	if k <= 0 {
		return 1
	}
	if k > n {
		return 0
	}
	return regIncBeta(p, float64(k), float64(n-k+1))
}

// clopperPearson returns the exact interval for a proportion of k in n
// whose two tails have probability alpha each (a 1-2·alpha interval).
func clopperPearson(k, n int, alpha float64) (lo, hi float64) {
	lo, hi = 0, 1
	if k > 0 {
		lo = bisect(func(p float64) float64 { return binomUpperTail(k, n, p) - alpha }, 0, 1)
	}
	if k < n {
		hi = bisect(func(p float64) float64 { return alpha - (1 - binomUpperTail(k+1, n, p)) }, 0, 1)
	}
	return lo, hi
}

// bisect returns the root of increasing f in [lo, hi].
func bisect(f func(float64) float64, lo, hi float64) float64 {
	for i := 0; i < 200 && hi-lo > 1e-12*math.Max(1, math.Abs(lo)); i++ {
		mid := (lo + hi) / 2
		if f(mid) < 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}
