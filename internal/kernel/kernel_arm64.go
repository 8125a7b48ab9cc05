//go:build !purego

package kernel

import (
	"encoding/binary"
	"os"
	"runtime"

	"github.com/shrink-llm/shrink/format"
)

// NEON is the arm64 implementation for every ARMv8-A CPU (Advanced SIMD is
// mandatory there): Q8_0, Q4_0 and Q4_K dot products that follow the
// generic kernels step by step, forming each block's integer dot product
// with SMULL/SADALP.
var NEON = &Impl{Name: "neon", Available: true}

// NEONDot is NEON with the signed byte dot product instruction SDOT
// (FEAT_DotProd: Cortex-A55/A76 and later, Apple M1 and later, Neoverse).
var NEONDot = &Impl{Name: "neondot"}

//go:noescape
func dotQ8_0NEON(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ8_0DOT(w *byte, q *int8, d *float32, nb int) float32

//go:noescape
func dotQ4_0NEON(w *byte, q *int8, d, s *float32, nb int) float32

//go:noescape
func dotQ4_0DOT(w *byte, q *int8, d, s *float32, nb int) float32

//go:noescape
func dotQ4_KNEON(w *byte, q *int8, d *float32, bs *int16, nb int) float32

//go:noescape
func dotQ4_KDOT(w *byte, q *int8, d *float32, bs *int16, nb int) float32

// neonExtras are further NEON and NEONDot entries, added by files of their
// own through addNEON (from package-level variable initializers, which run
// before init) and applied by init before the two are registered.
var neonExtras []func(neon, dot *Impl)

// addNEON records f to fill in entries of NEON and NEONDot (dot is used
// only where the CPU has SDOT); it returns true so that a file can call it
// as `var _ = addNEON(...)`.
func addNEON(f func(neon, dot *Impl)) bool {
	neonExtras = append(neonExtras, f)
	return true
}

func init() {
	NEONDot.Available = hasDotProd()
	for _, p := range []struct {
		im  *Impl
		q8  func(*byte, *int8, *float32, int) float32
		q40 func(*byte, *int8, *float32, *float32, int) float32
		q4k func(*byte, *int8, *float32, *int16, int) float32
	}{
		{NEON, dotQ8_0NEON, dotQ4_0NEON, dotQ4_KNEON},
		{NEONDot, dotQ8_0DOT, dotQ4_0DOT, dotQ4_KDOT},
	} {
		p.im.Dot[format.Q8_0] = block32(p.q8, 34)
		p.im.Dot[format.Q4_0] = block32S(p.q40, 18)
		p.im.Dot[format.Q4_K] = blockK(p.q4k, 144)
	}
	for _, f := range neonExtras {
		f(NEON, NEONDot)
	}
	Register(NEON)
	Register(NEONDot)
}

// hasDotProd reports FEAT_DotProd: from the ELF auxiliary vector's
// AT_HWCAP (HWCAP_ASIMDDP) on Linux and Android; every Apple arm64 CPU
// has it.
func hasDotProd() bool {
	switch runtime.GOOS {
	case "darwin", "ios":
		return true
	case "linux", "android":
	default:
		return false
	}
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return false
	}
	const atHWCap, hwcapASIMDDP = 16, 1 << 20
	for ; len(b) >= 16; b = b[16:] {
		if binary.LittleEndian.Uint64(b) == atHWCap {
			return binary.LittleEndian.Uint64(b[8:])&hwcapASIMDDP != 0
		}
	}
	return false
}
