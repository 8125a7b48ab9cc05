//go:build !amd64 || purego

package quantize

func q8_0Blocks(dst *byte, src *float32, nb int) { panic("quantize: no AVX2 kernels") }

func q4_0Blocks(dst *byte, src *float32, nb int) { panic("quantize: no AVX2 kernels") }

func anyNonFinite(x *float32, n int) bool { panic("quantize: no AVX2 kernels") }
