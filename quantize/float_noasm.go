//go:build !amd64 || purego

package quantize

// useF16C is false without the amd64 kernels: F16 decodes by table.
var useF16C = false

func f16ToF32x8(dst *float32, src *byte, n int) bool { panic("quantize: no F16C kernel") }
