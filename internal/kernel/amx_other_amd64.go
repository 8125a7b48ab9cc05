//go:build !purego && !linux

package kernel

// amxPermit reports false: AMX is only enabled on Linux, where the tile
// state permission is requested with arch_prctl.
func amxPermit() bool { return false }
