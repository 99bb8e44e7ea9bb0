package fs

import "os"

// writebackChunk is how many written bytes go to the disk in the
// background before the next chunk is written: a large upload is then
// mostly on disk when Append's closing fsync runs, instead of all at once.
const writebackChunk = 8 << 20

// writeback writes to f and starts writeback of each full chunk.
type writeback struct {
	f          *os.File
	off, start int64 // current offset; start of the range not yet handed to writeback
}

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.start >= writebackChunk {
		startWriteback(w.f, w.start, w.off-w.start)
		w.start = w.off
	}
	return n, err
}
