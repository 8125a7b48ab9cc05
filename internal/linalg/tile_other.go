//go:build purego || !amd64

package linalg

const accelerated = false
