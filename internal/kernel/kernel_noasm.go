//go:build purego || !(amd64 || arm64)

package kernel

// Without assembly (the purego build tag, or an architecture with no
// kernels) only Generic is registered.
