//go:build !purego

package kernel

// cpuid executes CPUID with the given leaf (eax) and subleaf (ecx).
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// xgetbv reads extended control register 0 (the OS-enabled state
// components); call it only when CPUID reports OSXSAVE.
func xgetbv() (eax, edx uint32)

// x86 holds the CPU features the amd64 kernels need, read once at start
// up as the standard library's internal/cpu does: an instruction-set bit
// counts only when the OS also saves the matching register state (XCR0).
var x86 struct {
	HasAVX2, HasFMA, HasF16C bool
	HasAVX512, HasAVX512VNNI bool // AVX512F+BW+VL; VNNI on top
	HasAVX512VBMI            bool // byte permutes (VPERMB, VPERMT2B)
	HasAMXInt8               bool // AMX-TILE and AMX-INT8, tile state enabled by the OS
	osYMM, osZMM             bool
	maxLeaf                  uint32
}

func isSet(v uint32, bit uint) bool { return v&(1<<bit) != 0 }

func detectX86() {
	maxLeaf, _, _, _ := cpuid(0, 0)
	x86.maxLeaf = maxLeaf
	if maxLeaf < 1 {
		return
	}
	_, _, ecx1, _ := cpuid(1, 0)
	osxsave := isSet(ecx1, 27)
	if osxsave {
		xcr0, _ := xgetbv()
		x86.osYMM = xcr0&0x6 == 0x6
		x86.osZMM = x86.osYMM && xcr0&0xe0 == 0xe0
	}
	avx := isSet(ecx1, 28) && x86.osYMM
	x86.HasFMA = avx && isSet(ecx1, 12)
	x86.HasF16C = avx && isSet(ecx1, 29)
	if maxLeaf < 7 {
		return
	}
	_, ebx7, ecx7, edx7 := cpuid(7, 0)
	x86.HasAVX2 = avx && isSet(ebx7, 5)
	x86.HasAVX512 = x86.osZMM && isSet(ebx7, 16) && isSet(ebx7, 30) && isSet(ebx7, 31)
	x86.HasAVX512VNNI = x86.HasAVX512 && isSet(ecx7, 11)
	x86.HasAVX512VBMI = x86.HasAVX512 && isSet(ecx7, 1)
	if osxsave {
		xcr0, _ := xgetbv()
		x86.HasAMXInt8 = x86.HasAVX512 && isSet(edx7, 24) && isSet(edx7, 25) && xcr0&(3<<17) == 3<<17
	}
}
