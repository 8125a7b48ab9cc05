package format

import "slices"

// SameShape reports whether a and b describe the same tensor shape (ggml
// order) once trailing dimensions of 1 are dropped, keeping at least one
// dimension: the ggml_n_dims rule, under which {4096, 1} and {4096} are the
// same shape. An empty shape equals only another empty shape.
func SameShape(a, b []int64) bool {
	return slices.Equal(trimOnes(a), trimOnes(b))
}

// trimOnes returns s without its trailing dimensions of 1, keeping the first.
func trimOnes(s []int64) []int64 {
	for len(s) > 1 && s[len(s)-1] == 1 {
		s = s[:len(s)-1]
	}
	return s
}
