package fs

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to begin writing the range to disk
// without waiting (sync_file_range with SYNC_FILE_RANGE_WRITE). It is a
// hint: durability still comes from the fsync at the end of Append.
func startWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
