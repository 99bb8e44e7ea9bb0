// Package blob is Berth's content-addressed blob store and the small driver
// interface that storage backends implement.
//
// Layout, relative to the driver's root:
//
//	blobs/<alg>/<first two hex chars>/<hex>   committed content, named by digest
//	uploads/<upload id>                       bytes of an upload in progress
//
// Invariants:
//   - A path under blobs/ only ever holds the complete content of its digest:
//     content reaches it by Driver.Move from uploads/ after the uploader has
//     checked the digest, and Move is atomic and durable.
//   - Upload bytes are durable once Append returns; the acknowledged length of
//     an upload is recorded by the caller (the metadata store), and bytes past
//     it (a write cut short by a crash) are discarded by the next Append.
//   - Nothing is read whole into memory: Append streams, Open returns a
//     seekable reader that the HTTP layer streams (sendfile where the driver
//     hands out an *os.File).
package blob

import (
	"context"
	"io"
	"time"

	"github.com/berth-dev/berth/internal/oci"
)

// Driver stores byte sequences by slash-separated path. A path is relative
// and has no ".." element (otherwise errs.Invalid); a prefix under which files
// lie is not itself a file. Every backend runs the shared suite in package
// blobtest.
type Driver interface {
	// Stat returns the size of the file at path, or an errs.NotFound error.
	Stat(ctx context.Context, path string) (int64, error)
	// Open returns a reader over the file at path, or errs.NotFound.
	Open(ctx context.Context, path string) (io.ReadSeekCloser, error)
	// Append writes r into the file at path starting at offset, first
	// discarding anything at or past offset and creating the file if offset
	// is 0. An offset beyond the file's end is an errs.Invalid error, a
	// missing file at an offset > 0 errs.NotFound. The bytes are durable when
	// Append returns; it returns how many were written. It stops when ctx is
	// cancelled, with an error that wraps ctx.Err().
	Append(ctx context.Context, path string, offset int64, r io.Reader) (int64, error)
	// Move renames from to to atomically and durably, replacing to.
	Move(ctx context.Context, from, to string) error
	// Delete removes the file at path; a missing file is not an error.
	Delete(ctx context.Context, path string) error
	// Walk calls fn for every file under prefix (none if there is none),
	// with the path as the other methods take it, and stops at fn's first
	// error, returning it wrapped.
	Walk(ctx context.Context, prefix string, fn func(path string, size int64, mod time.Time) error) error
}

// Store lays out blobs and uploads on a Driver.
type Store struct{ d Driver }

// New returns a Store over d.
func New(d Driver) *Store { return &Store{d: d} }

// Driver returns the underlying driver.
func (s *Store) Driver() Driver { return s.d }

// Path returns where content of digest d lives.
func Path(d oci.Digest) string {
	h := d.Hex()
	return "blobs/" + d.Algorithm() + "/" + h[:2] + "/" + h
}

// UploadPath returns where the bytes of upload id live.
func UploadPath(id string) string { return "uploads/" + id }

// Stat returns the stored size of d.
func (s *Store) Stat(ctx context.Context, d oci.Digest) (int64, error) {
	return s.d.Stat(ctx, Path(d))
}

// Open returns a reader over the content of d.
func (s *Store) Open(ctx context.Context, d oci.Digest) (io.ReadSeekCloser, error) {
	return s.d.Open(ctx, Path(d))
}

// Append writes r to upload id at offset.
func (s *Store) Append(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	return s.d.Append(ctx, UploadPath(id), offset, r)
}

// OpenUpload returns a reader over the bytes of upload id so far.
func (s *Store) OpenUpload(ctx context.Context, id string) (io.ReadSeekCloser, error) {
	return s.d.Open(ctx, UploadPath(id))
}

// UploadSize returns how many bytes upload id holds.
func (s *Store) UploadSize(ctx context.Context, id string) (int64, error) {
	return s.d.Stat(ctx, UploadPath(id))
}

// Commit moves the bytes of upload id to the content path of d. The caller
// has verified that they hash to d.
func (s *Store) Commit(ctx context.Context, id string, d oci.Digest) error {
	return s.d.Move(ctx, UploadPath(id), Path(d))
}

// Abort discards upload id.
func (s *Store) Abort(ctx context.Context, id string) error {
	return s.d.Delete(ctx, UploadPath(id))
}

// Delete removes the content of d.
func (s *Store) Delete(ctx context.Context, d oci.Digest) error {
	return s.d.Delete(ctx, Path(d))
}
