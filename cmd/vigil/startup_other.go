//go:build !linux

package main

// releaseStartupPages is a no-op where /proc/self/maps and madvise are not
// available.
func releaseStartupPages() error { return nil }
