// Package blobtest is the shared test suite every blob.Driver passes: Run
// checks each method against the contract written on the interface in
// package blob (append, resume and truncate, atomic move, walk, path rules,
// cancellation, a large streamed write) and the blob.Store layout on top of
// the driver.
package blobtest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/blob"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
)

// Run runs the suite. open must return a fresh, empty driver.
func Run(t *testing.T, open func(t *testing.T) blob.Driver) {
	tests := []struct {
		name string
		fn   func(t *testing.T, d blob.Driver)
	}{
		{"AppendCreates", testAppendCreates},
		{"AppendContinues", testAppendContinues},
		{"AppendTruncatesFirst", testAppendTruncates},
		{"AppendPastEnd", testAppendPastEnd},
		{"Missing", testMissing},
		{"OpenSeeks", testOpenSeeks},
		{"MoveReplaces", testMoveReplaces},
		{"MoveIsAtomic", testMoveAtomic},
		{"Delete", testDelete},
		{"Walk", testWalk},
		{"InvalidPaths", testInvalidPaths},
		{"Large", testLarge},
		{"CancelStopsAppend", testCancel},
		{"Store", testStore},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// --- helpers ---

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantKind(t *testing.T, err error, k errs.Kind, what string) {
	t.Helper()
	if !errs.Is(err, k) {
		t.Fatalf("%s: got error %v (kind %v), want kind %v", what, err, errs.KindOf(err), k)
	}
}

// appendAt appends s at offset and checks every byte was taken.
func appendAt(t *testing.T, d blob.Driver, path string, offset int64, s string) {
	t.Helper()
	n, err := d.Append(context.Background(), path, offset, strings.NewReader(s))
	must(t, err, fmt.Sprintf("append %d bytes to %s at %d", len(s), path, offset))
	if n != int64(len(s)) {
		t.Fatalf("append to %s at %d wrote %d bytes, want %d", path, offset, n, len(s))
	}
}

// content checks path holds exactly want, by Stat and by Open.
func content(t *testing.T, d blob.Driver, path, want string) {
	t.Helper()
	ctx := context.Background()
	size, err := d.Stat(ctx, path)
	must(t, err, "stat "+path)
	if size != int64(len(want)) {
		t.Fatalf("stat %s = %d, want %d", path, size, len(want))
	}
	r, err := d.Open(ctx, path)
	must(t, err, "open "+path)
	defer r.Close()
	got, err := io.ReadAll(r)
	must(t, err, "read "+path)
	if string(got) != want {
		t.Fatalf("%s holds %q, want %q", path, got, want)
	}
}

// --- append ---

func testAppendCreates(t *testing.T, d blob.Driver) {
	appendAt(t, d, "uploads/a", 0, "hello")
	content(t, d, "uploads/a", "hello")
	appendAt(t, d, "uploads/empty", 0, "") // an upload starts empty
	content(t, d, "uploads/empty", "")
	appendAt(t, d, "deep/ly/nested/dirs/file", 0, "x")
	content(t, d, "deep/ly/nested/dirs/file", "x")
}

func testAppendContinues(t *testing.T, d blob.Driver) {
	appendAt(t, d, "uploads/a", 0, "hello")
	appendAt(t, d, "uploads/a", 5, " world")
	appendAt(t, d, "uploads/a", 11, "")
	appendAt(t, d, "uploads/a", 11, "!")
	content(t, d, "uploads/a", "hello world!")
}

// testAppendTruncates is crash-resume: bytes at or past the offset are ones
// the caller never acknowledged, and are replaced.
func testAppendTruncates(t *testing.T, d blob.Driver) {
	for _, tc := range []struct {
		offset int64
		data   string
		want   string
	}{
		{5, "XY", "helloXY"},
		{0, "abc", "abc"},
		{0, "", ""},
		{10, "", "hello worl"},
		{6, "there, world", "hello there, world"},
	} {
		p := fmt.Sprintf("uploads/t%d-%d", tc.offset, len(tc.data))
		appendAt(t, d, p, 0, "hello world")
		appendAt(t, d, p, tc.offset, tc.data)
		content(t, d, p, tc.want)
	}
}

func testAppendPastEnd(t *testing.T, d blob.Driver) {
	ctx := context.Background()
	appendAt(t, d, "uploads/a", 0, "hello")
	_, err := d.Append(ctx, "uploads/a", 6, strings.NewReader("x"))
	wantKind(t, err, errs.Invalid, "append past the end")
	content(t, d, "uploads/a", "hello")
	_, err = d.Append(ctx, "uploads/missing", 3, strings.NewReader("x"))
	wantKind(t, err, errs.NotFound, "append at an offset to a missing file")
	if _, err := d.Stat(ctx, "uploads/missing"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("failed append created the file: %v", err)
	}
}

// --- read, move, delete ---

func testMissing(t *testing.T, d blob.Driver) {
	ctx := context.Background()
	_, err := d.Stat(ctx, "blobs/nope")
	wantKind(t, err, errs.NotFound, "stat missing")
	_, err = d.Open(ctx, "blobs/nope")
	wantKind(t, err, errs.NotFound, "open missing")
	wantKind(t, d.Move(ctx, "uploads/nope", "blobs/nope"), errs.NotFound, "move missing")
	_, err = d.Stat(ctx, "blobs/nope")
	wantKind(t, err, errs.NotFound, "target of a failed move")
	// A prefix holding files is not itself a file (object stores have no
	// directories).
	appendAt(t, d, "blobs/sha256/ab/abcd", 0, "x")
	for _, p := range []string{"blobs", "blobs/sha256/ab"} {
		_, err = d.Stat(ctx, p)
		wantKind(t, err, errs.NotFound, "stat prefix "+p)
		_, err = d.Open(ctx, p)
		wantKind(t, err, errs.NotFound, "open prefix "+p)
	}
}

func testOpenSeeks(t *testing.T, d blob.Driver) {
	appendAt(t, d, "f", 0, "hello world")
	r, err := d.Open(context.Background(), "f")
	must(t, err, "open")
	defer r.Close()
	for _, tc := range []struct {
		offset int64
		whence int
		pos    int64
		want   string
	}{
		{6, io.SeekStart, 6, "world"},
		{-5, io.SeekEnd, 6, "world"},
		{0, io.SeekStart, 0, "hello world"},
		{0, io.SeekEnd, 11, ""},
	} {
		pos, err := r.Seek(tc.offset, tc.whence)
		must(t, err, "seek")
		if pos != tc.pos {
			t.Fatalf("seek(%d, %d) = %d, want %d", tc.offset, tc.whence, pos, tc.pos)
		}
		got, err := io.ReadAll(r)
		must(t, err, "read")
		if string(got) != tc.want {
			t.Fatalf("after seek(%d, %d) read %q, want %q", tc.offset, tc.whence, got, tc.want)
		}
	}
}

func testMoveReplaces(t *testing.T, d blob.Driver) {
	ctx := context.Background()
	appendAt(t, d, "uploads/a", 0, "new content")
	must(t, d.Move(ctx, "uploads/a", "blobs/x/y/z"), "move into new directories")
	content(t, d, "blobs/x/y/z", "new content")
	_, err := d.Stat(ctx, "uploads/a")
	wantKind(t, err, errs.NotFound, "source after move")

	appendAt(t, d, "uploads/b", 0, "newer")
	must(t, d.Move(ctx, "uploads/b", "blobs/x/y/z"), "move over an existing file")
	content(t, d, "blobs/x/y/z", "newer")
	_, err = d.Stat(ctx, "uploads/b")
	wantKind(t, err, errs.NotFound, "source after replacing move")
}

// testMoveAtomic replaces a file again and again while readers look at it:
// every reader sees one whole version, never a missing or partial file.
func testMoveAtomic(t *testing.T, d blob.Driver) {
	ctx := context.Background()
	versions := []string{strings.Repeat("a", 1000), strings.Repeat("b", 3000)}
	appendAt(t, d, "blobs/target", 0, versions[0])
	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				r, err := d.Open(ctx, "blobs/target")
				if err != nil {
					errc <- fmt.Errorf("open during move: %w", err)
					return
				}
				b, err := io.ReadAll(r)
				r.Close()
				if err != nil || !slices.Contains(versions, string(b)) {
					errc <- fmt.Errorf("read during move: %d bytes, %v", len(b), err)
					return
				}
			}
		})
	}
	for i := range 30 {
		p := fmt.Sprintf("uploads/v%d", i)
		appendAt(t, d, p, 0, versions[(i+1)%2])
		if err := d.Move(ctx, p, "blobs/target"); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("move %d: %v", i, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	content(t, d, "blobs/target", versions[0]) // the last (30th) move wrote versions[0]
}

func testDelete(t *testing.T, d blob.Driver) {
	ctx := context.Background()
	appendAt(t, d, "uploads/a", 0, "x")
	appendAt(t, d, "uploads/b", 0, "y")
	must(t, d.Delete(ctx, "uploads/a"), "delete")
	_, err := d.Stat(ctx, "uploads/a")
	wantKind(t, err, errs.NotFound, "deleted file")
	must(t, d.Delete(ctx, "uploads/a"), "delete a deleted file")
	must(t, d.Delete(ctx, "never/existed"), "delete a missing file")
	content(t, d, "uploads/b", "y")
	// A deleted path can be written again from offset 0.
	appendAt(t, d, "uploads/a", 0, "again")
	content(t, d, "uploads/a", "again")
}

func testWalk(t *testing.T, d blob.Driver) {
	ctx := context.Background()
	start := time.Now().Add(-time.Minute)
	files := map[string]string{
		"blobs/sha256/ab/abcd": "blob one",
		"blobs/sha256/cd/cdef": "blob two, longer",
		"blobs/sha512/00/0011": "",
		"uploads/u1":           "partial",
	}
	for p, c := range files {
		appendAt(t, d, p, 0, c)
	}
	walk := func(prefix string) map[string]int64 {
		t.Helper()
		got := map[string]int64{}
		err := d.Walk(ctx, prefix, func(p string, size int64, mod time.Time) error {
			if _, dup := got[p]; dup {
				t.Errorf("walk %s: %s twice", prefix, p)
			}
			if mod.Before(start) || mod.After(time.Now().Add(time.Minute)) {
				t.Errorf("walk %s: %s modified at %v", prefix, p, mod)
			}
			got[p] = size
			return nil
		})
		must(t, err, "walk "+prefix)
		return got
	}
	want := func(prefix string) map[string]int64 {
		m := map[string]int64{}
		for p, c := range files {
			if strings.HasPrefix(p, prefix+"/") {
				m[p] = int64(len(c))
			}
		}
		return m
	}
	for _, prefix := range []string{"blobs", "blobs/sha256", "uploads", "nothing/here"} {
		got := walk(prefix)
		if fmt.Sprint(got) != fmt.Sprint(want(prefix)) {
			t.Fatalf("walk %s = %v, want %v", prefix, got, want(prefix))
		}
	}
	// An error from fn stops the walk and comes back.
	stopErr := errors.New("stop")
	calls := 0
	err := d.Walk(ctx, "blobs", func(string, int64, time.Time) error { calls++; return stopErr })
	if !errors.Is(err, stopErr) || calls != 1 {
		t.Fatalf("walk with a failing fn: %v after %d calls", err, calls)
	}
}

func testInvalidPaths(t *testing.T, d blob.Driver) {
	ctx := context.Background()
	appendAt(t, d, "uploads/ok", 0, "x")
	for _, p := range []string{"../x", "/abs", "uploads/../../x", "a/../../../etc/passwd", ".."} {
		_, err := d.Stat(ctx, p)
		wantKind(t, err, errs.Invalid, "stat "+p)
		_, err = d.Open(ctx, p)
		wantKind(t, err, errs.Invalid, "open "+p)
		_, err = d.Append(ctx, p, 0, strings.NewReader("x"))
		wantKind(t, err, errs.Invalid, "append "+p)
		wantKind(t, d.Move(ctx, "uploads/ok", p), errs.Invalid, "move to "+p)
		wantKind(t, d.Move(ctx, p, "uploads/moved"), errs.Invalid, "move from "+p)
		wantKind(t, d.Delete(ctx, p), errs.Invalid, "delete "+p)
		wantKind(t, d.Walk(ctx, p, func(string, int64, time.Time) error { return nil }), errs.Invalid, "walk "+p)
	}
	content(t, d, "uploads/ok", "x") // a refused move left its source alone
}

// --- big and cancelled writes ---

// random returns a reader of n deterministic pseudo-random bytes, made as
// they are read (no buffer of n bytes).
func random(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

func testLarge(t *testing.T, d blob.Driver) {
	const size = 64 << 20
	ctx := context.Background()
	// Resumed in two requests, the first cut short: the second Append
	// starts at the acknowledged offset and discards the rest.
	want := sha256.New()
	n, err := d.Append(ctx, "uploads/big", 0, io.TeeReader(random(1, size/2), want))
	must(t, err, "append first half")
	if n != size/2 {
		t.Fatalf("first append wrote %d", n)
	}
	n, err = d.Append(ctx, "uploads/big", size/2, io.TeeReader(random(2, size/2), want))
	must(t, err, "append second half")
	if n != size/2 {
		t.Fatalf("second append wrote %d", n)
	}
	if got, err := d.Stat(ctx, "uploads/big"); err != nil || got != size {
		t.Fatalf("stat = %d, %v; want %d", got, err, size)
	}
	r, err := d.Open(ctx, "uploads/big")
	must(t, err, "open")
	defer r.Close()
	got := sha256.New()
	if n, err := io.Copy(got, r); err != nil || n != size {
		t.Fatalf("read back %d bytes, %v", n, err)
	}
	if string(got.Sum(nil)) != string(want.Sum(nil)) {
		t.Fatal("64 MiB read back differ from what was written")
	}
}

// cancelAfter reads from r and cancels after n bytes have gone by.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if c.n -= int64(k); c.n <= 0 {
		c.cancel()
	}
	return k, err
}

func testCancel(t *testing.T, d blob.Driver) {
	const limit = 256 << 20 // what an Append that ignores ctx would write
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, err := d.Append(ctx, "uploads/c", 0, &cancelAfter{r: random(3, limit), n: 1 << 20, cancel: cancel})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a cancelled context: %d bytes, error %v; want context.Canceled", n, err)
	}
	if n >= limit {
		t.Fatalf("append went on for %d bytes after cancellation", n)
	}
	// Already cancelled: nothing is read.
	read := false
	_, err = d.Append(ctx, "uploads/c2", 0, readerFunc(func(p []byte) (int, error) { read = true; return len(p), nil }))
	if !errors.Is(err, context.Canceled) || read {
		t.Fatalf("append with a context cancelled before: %v, read=%v", err, read)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// --- blob.Store ---

func testStore(t *testing.T, d blob.Driver) {
	ctx := context.Background()
	s := blob.New(d)
	if s.Driver() != d {
		t.Fatal("Store.Driver is not the driver it was made with")
	}
	body := "layer bytes"
	dg := oci.FromBytes([]byte(body))
	hex256, hex512 := "0b"+strings.Repeat("ab", 31), "fe"+strings.Repeat("cd", 63)
	for _, tc := range []struct {
		d    oci.Digest
		want string
	}{
		{oci.Digest("sha256:" + hex256), "blobs/sha256/0b/" + hex256},
		{oci.Digest("sha512:" + hex512), "blobs/sha512/fe/" + hex512},
	} {
		if got := blob.Path(tc.d); got != tc.want {
			t.Fatalf("Path(%s) = %s, want %s", tc.d, got, tc.want)
		}
	}
	if got := blob.UploadPath("0a1b"); got != "uploads/0a1b" {
		t.Fatalf("UploadPath = %s", got)
	}

	// Upload in two pieces, then commit.
	n, err := s.Append(ctx, "up1", 0, strings.NewReader("layer "))
	must(t, err, "append")
	n2, err := s.Append(ctx, "up1", n, strings.NewReader("bytes"))
	must(t, err, "append")
	if size, err := s.UploadSize(ctx, "up1"); err != nil || size != n+n2 || size != int64(len(body)) {
		t.Fatalf("upload size = %d, %v", size, err)
	}
	r, err := s.OpenUpload(ctx, "up1")
	must(t, err, "open upload")
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != body {
		t.Fatalf("upload holds %q", b)
	}
	_, err = s.Stat(ctx, dg)
	wantKind(t, err, errs.NotFound, "blob before commit")
	must(t, s.Commit(ctx, "up1", dg), "commit")
	_, err = s.UploadSize(ctx, "up1")
	wantKind(t, err, errs.NotFound, "upload after commit")
	content(t, d, blob.Path(dg), body)
	r, err = s.Open(ctx, dg)
	must(t, err, "open blob")
	b, _ = io.ReadAll(r)
	r.Close()
	if string(b) != body {
		t.Fatalf("blob holds %q", b)
	}
	if size, err := s.Stat(ctx, dg); err != nil || size != int64(len(body)) {
		t.Fatalf("blob size = %d, %v", size, err)
	}
	var walked []string
	must(t, d.Walk(ctx, "blobs", func(p string, _ int64, _ time.Time) error { walked = append(walked, p); return nil }), "walk")
	if !slices.Equal(walked, []string{blob.Path(dg)}) {
		t.Fatalf("walk blobs = %v, want [%s]", walked, blob.Path(dg))
	}

	// Abort discards; aborting again, or an unknown upload, is fine.
	_, err = s.Append(ctx, "up2", 0, strings.NewReader("abandoned"))
	must(t, err, "append")
	must(t, s.Abort(ctx, "up2"), "abort")
	_, err = s.UploadSize(ctx, "up2")
	wantKind(t, err, errs.NotFound, "aborted upload")
	_, err = s.OpenUpload(ctx, "up2")
	wantKind(t, err, errs.NotFound, "open aborted upload")
	must(t, s.Abort(ctx, "up2"), "abort twice")

	must(t, s.Delete(ctx, dg), "delete blob")
	_, err = s.Stat(ctx, dg)
	wantKind(t, err, errs.NotFound, "deleted blob")
	_, err = s.Open(ctx, dg)
	wantKind(t, err, errs.NotFound, "open deleted blob")
	must(t, s.Delete(ctx, dg), "delete twice")
	wantKind(t, s.Commit(ctx, "up2", dg), errs.NotFound, "commit of an aborted upload")
}
