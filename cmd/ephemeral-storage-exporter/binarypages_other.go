//go:build !linux

package main

// releaseBinaryPages is a no-op where there is no madvise(MADV_PAGEOUT).
func releaseBinaryPages() (int64, error) { return 0, nil }
