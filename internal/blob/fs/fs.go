// Package fs is the filesystem blob driver: one file per path under a root
// directory. Writes go to the file in place and are fsynced before Append
// returns; Move is rename(2) followed by an fsync of the target directory, so
// a committed blob survives a crash. Open returns the *os.File itself, which
// lets net/http send it with sendfile(2).
package fs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/errs"
)

// Driver is a filesystem blob driver rooted at a directory.
type Driver struct{ root string }

// New returns a driver rooted at dir, creating it if needed.
func New(dir string) (*Driver, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, errs.Wrap("open blob directory", err)
	}
	return &Driver{root: dir}, nil
}

func (d *Driver) full(p string) (string, error) {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "..") || strings.Contains(p, "\\") {
		return "", errs.E(errs.Invalid, "blob path", "invalid path %q", p)
	}
	return filepath.Join(d.root, filepath.FromSlash(p)), nil
}

func notFound(op, p string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &errs.Error{Kind: errs.NotFound, Op: op, Msg: "no such blob file " + p, Err: err}
	}
	return errs.Wrap(op, err)
}

// Stat implements blob.Driver.
func (d *Driver) Stat(_ context.Context, p string) (int64, error) {
	f, err := d.full(p)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(f)
	if err != nil {
		return 0, notFound("stat", p, err)
	}
	if fi.IsDir() { // a directory is a prefix, not a file
		return 0, notFound("stat", p, fs.ErrNotExist)
	}
	return fi.Size(), nil
}

// Open implements blob.Driver. The reader is an *os.File.
func (d *Driver) Open(_ context.Context, p string) (io.ReadSeekCloser, error) {
	f, err := d.full(p)
	if err != nil {
		return nil, err
	}
	fh, err := os.Open(f)
	if err != nil {
		return nil, notFound("open", p, err)
	}
	if fi, err := fh.Stat(); err != nil || fi.IsDir() {
		fh.Close()
		if err == nil {
			err = fs.ErrNotExist // a directory is a prefix, not a file
		}
		return nil, notFound("open", p, err)
	}
	return fh, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// Append implements blob.Driver.
func (d *Driver) Append(ctx context.Context, p string, offset int64, r io.Reader) (int64, error) {
	f, err := d.full(p)
	if err != nil {
		return 0, err
	}
	fh, err := os.OpenFile(f, os.O_WRONLY, 0)
	created := false
	if offset == 0 && errors.Is(err, fs.ErrNotExist) {
		// A new file's directory entry is synced too, below, or a crash
		// could lose the file along with its acknowledged bytes.
		if err := mkdirAllSync(filepath.Dir(f)); err != nil {
			return 0, errs.Wrap("append", err)
		}
		fh, err = os.OpenFile(f, os.O_WRONLY|os.O_CREATE, 0o640)
		created = true
	}
	if err != nil {
		return 0, notFound("append", p, err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return 0, errs.Wrap("append", err)
	}
	if fi.Size() < offset {
		return 0, errs.E(errs.Invalid, "append", "offset %d is past the end (%d)", offset, fi.Size())
	}
	if fi.Size() > offset {
		if err := fh.Truncate(offset); err != nil {
			return 0, errs.Wrap("append", err)
		}
	}
	if _, err := fh.Seek(offset, io.SeekStart); err != nil {
		return 0, errs.Wrap("append", err)
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	// A plain writer wrapper hides *os.File's ReadFrom, so the copy goes
	// through our large buffer instead of many small reads.
	n, err := io.CopyBuffer(&writeback{f: fh, off: offset, start: offset}, ctxReader{ctx, r}, *bp)
	if err != nil {
		return n, errs.Wrap("append", err)
	}
	if err := fh.Sync(); err != nil {
		return n, errs.Wrap("append", err)
	}
	if created {
		if err := syncDir(filepath.Dir(f)); err != nil {
			return n, err
		}
	}
	return n, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Move implements blob.Driver.
func (d *Driver) Move(_ context.Context, from, to string) error {
	src, err := d.full(from)
	if err != nil {
		return err
	}
	dst, err := d.full(to)
	if err != nil {
		return err
	}
	dir := filepath.Dir(dst)
	if err := mkdirAllSync(dir); err != nil {
		return errs.Wrap("move", err)
	}
	if err := os.Rename(src, dst); err != nil {
		return notFound("move", from, err)
	}
	return syncDir(dir)
}

// mkdirAllSync creates dir and any missing parents, fsyncing the parent of
// each directory it creates so the new entries survive a power failure.
func mkdirAllSync(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllSync(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o750); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	fh, err := os.Open(dir)
	if err != nil {
		return errs.Wrap("sync dir", err)
	}
	defer fh.Close()
	if err := fh.Sync(); err != nil {
		return errs.Wrap("sync dir", err)
	}
	return nil
}

// Delete implements blob.Driver.
func (d *Driver) Delete(_ context.Context, p string) error {
	f, err := d.full(p)
	if err != nil {
		return err
	}
	if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return errs.Wrap("delete", err)
	}
	return nil
}

// Walk implements blob.Driver.
func (d *Driver) Walk(ctx context.Context, prefix string, fn func(string, int64, time.Time) error) error {
	start, err := d.full(prefix)
	if err != nil {
		return err
	}
	err = filepath.WalkDir(start, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if de.IsDir() {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(d.root, path)
		return fn(filepath.ToSlash(rel), fi.Size(), fi.ModTime())
	})
	if err != nil {
		return errs.Wrap("walk", err)
	}
	return nil
}

// Root returns the directory the driver stores under.
func (d *Driver) Root() string { return d.root }
