package convert

// SetChunkBytes sets the streaming chunk size for a test and returns a
// function restoring it.
func SetChunkBytes(n int64) (restore func()) {
	old := chunkBytes
	chunkBytes = n
	return func() { chunkBytes = old }
}

// SetQuantChunkElems sets WriteQuantized's chunk size per thread for a test
// and returns a function restoring it.
func SetQuantChunkElems(n int64) (restore func()) {
	old := chunkElemsPerThread
	chunkElemsPerThread = n
	return func() { chunkElemsPerThread = old }
}
