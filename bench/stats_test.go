package bench

import (
	"math"
	"testing"
)

func TestStudentT(t *testing.T) {
	// Reference quantiles of Student's t (tables): t_{0.975,1} = 12.7062,
	// t_{0.95,4} = 2.13185, t_{0.975,30} = 2.04227; CDF(2, 10) = 0.963306.
	for _, c := range []struct{ p, df, want float64 }{{0.975, 1, 12.7062}, {0.95, 4, 2.13185}, {0.975, 30, 2.04227}, {0.5, 7, 0}} {
		if got := studentTQuantile(c.p, c.df); math.Abs(got-c.want) > 1e-4 {
			t.Errorf("t quantile %g, df %g: %g, want %g", c.p, c.df, got, c.want)
		}
	}
	if got := studentTCDF(2, 10); math.Abs(got-0.963306) > 1e-6 {
		t.Errorf("CDF(2, 10) = %g", got)
	}
}

func TestBinomial(t *testing.T) {
	// P(X ≥ 8 | n 10, p 0.5) = 56/1024.
	if got := binomUpperTail(8, 10, 0.5); math.Abs(got-56.0/1024) > 1e-12 {
		t.Errorf("tail %g", got)
	}
	// Clopper-Pearson 95% for 8/10: 0.44390 .. 0.97479 (R's binom.test).
	lo, hi := clopperPearson(8, 10, 0.025)
	if math.Abs(lo-0.44390) > 1e-5 || math.Abs(hi-0.97479) > 1e-5 {
		t.Errorf("Clopper-Pearson 8/10: %g %g", lo, hi)
	}
	if lo, hi := clopperPearson(0, 5, 0.025); lo != 0 || math.Abs(hi-0.52182) > 1e-5 {
		t.Errorf("Clopper-Pearson 0/5: %g %g", lo, hi)
	}
}
