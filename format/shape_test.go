package format

import "testing"

// TestSameShape checks the ggml_n_dims rule: trailing dimensions of 1 are
// insignificant, the first dimension is always kept.
func TestSameShape(t *testing.T) {
	for _, c := range []struct {
		a, b []int64
		want bool
	}{
		{nil, nil, true},
		{nil, []int64{}, true},
		{[]int64{4096}, []int64{4096}, true},
		{[]int64{4096, 1}, []int64{4096}, true},
		{[]int64{4096, 1, 1, 1}, []int64{4096, 1}, true},
		{[]int64{1}, []int64{1, 1}, true},
		{[]int64{1}, nil, false},
		{[]int64{4096, 32}, []int64{4096, 32, 1}, true},
		{[]int64{4096, 32}, []int64{32, 4096}, false},
		{[]int64{1, 4096}, []int64{4096}, false},
		{[]int64{4096, 1, 2}, []int64{4096, 2}, false},
		{[]int64{4096}, []int64{4095}, false},
	} {
		if got := SameShape(c.a, c.b); got != c.want {
			t.Errorf("SameShape(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := SameShape(c.b, c.a); got != c.want {
			t.Errorf("SameShape(%v, %v) = %v, want %v", c.b, c.a, got, c.want)
		}
	}
}
