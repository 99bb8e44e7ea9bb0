//go:build unix

package httplimit

import "syscall"

// FileLimit returns the process's limit on open files (RLIMIT_NOFILE, the
// soft limit: Go's os package raises it to the hard limit at start), or 0
// when it is unknown or unlimited.
func FileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 { // RLIM_INFINITY is all ones
		return 0
	}
	return int(r.Cur)
}
