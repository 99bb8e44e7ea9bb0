//go:build !unix

package httplimit

// FileLimit returns 0: the platform has no RLIMIT_NOFILE.
func FileLimit() int { return 0 }
