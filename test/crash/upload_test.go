package crash_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

const repo = "library/crash"

// TestUploadSurvivesRestart stops the server cleanly between the chunks of an
// upload session: after the restart the session reports exactly the
// acknowledged bytes, refuses a chunk that does not continue them, takes
// more chunks (with Content-Range and streamed without it) and closes with
// the digest, and the blob pulls back identical.
func TestUploadSurvivesRestart(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			p := testserver.Start(t, backend)
			c := newClient(t, p)
			s := stream{seed: 1, size: 5*mib + 12345}
			want := s.digest()

			loc := c.startUpload(repo)
			var off int64
			for range 3 {
				loc = c.patch(loc, s, off, mib)
				off += mib
			}
			p.Stop()
			p.Restart()
			c.reconnect()

			resp, _ := c.do(http.MethodGet, loc, nil, 0, http.StatusNoContent)
			if got := resp.Header.Get("Range"); got != rangeTo(off) {
				t.Fatalf("after restart: Range %q, want %q", got, rangeTo(off))
			}
			// A chunk that skips ahead is refused and changes nothing.
			c.do(http.MethodPatch, loc, s.reader(off+1, 10), 10, http.StatusRequestedRangeNotSatisfiable,
				"Content-Range", contentRange(off+1, 10))
			if got := c.uploadOffset(loc); got != off {
				t.Fatalf("after a refused chunk: offset %d, want %d", got, off)
			}
			loc = c.patch(loc, s, off, mib)
			off += mib
			// Streamed (chunked transfer encoding, no Content-Range), as docker does.
			resp, _ = c.do(http.MethodPatch, loc, s.reader(off, mib), -1, http.StatusAccepted,
				"Content-Type", "application/octet-stream")
			off += mib
			if got := resp.Header.Get("Range"); got != rangeTo(off) {
				t.Fatalf("streamed PATCH: Range %q, want %q", got, rangeTo(off))
			}
			loc = resp.Header.Get("Location")

			// Once more across a restart, then close with the rest in the PUT:
			// the digest needs the hash state saved with the acknowledged bytes.
			p.Stop()
			p.Restart()
			c.reconnect()
			if got := c.uploadOffset(loc); got != off {
				t.Fatalf("after the second restart: offset %d, want %d", got, off)
			}
			if st := c.status(http.MethodHead, "/v2/"+repo+"/blobs/"+want); st != http.StatusNotFound {
				t.Fatalf("HEAD of the blob before the closing PUT: %d, want 404", st)
			}
			c.finish(loc, want, s.reader(off, s.size-off), s.size-off)
			c.checkBlob(repo, want, s.size, s.reader(0, s.size))
			if st := c.status(http.MethodGet, loc); st != http.StatusNotFound {
				t.Errorf("upload status after the closing PUT: %d, want 404", st)
			}
			if u := uploadFiles(t, p); len(u) != 0 {
				t.Errorf("files left under uploads/: %v", u)
			}
		})
	}
}

const (
	bigSize  = 256 * mib
	bigChunk = 16 * mib
	// bigAcked is how many chunks are acknowledged before the one cut short.
	bigAcked = 7
)

var (
	bigStream = stream{seed: 256, size: bigSize}
	bigDigest = sync.OnceValue(bigStream.digest)
)

// TestKillDuringLargeUpload SIGKILLs the server while a 16 MiB chunk of a
// 256 MiB upload is half sent and half written. After the restart the
// session holds exactly the acknowledged chunks (the half-written bytes are
// discarded), no partial blob is visible over HTTP or on disk, and the upload
// completes either by resuming the session or by starting over.
func TestKillDuringLargeUpload(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		for _, resume := range []bool{true, false} {
			name := backend + "/resume"
			if !resume {
				name = backend + "/start-over"
			}
			t.Run(name, func(t *testing.T) { killDuringUpload(t, backend, resume) })
		}
	}
}

func killDuringUpload(t *testing.T, backend string, resume bool) {
	p := testserver.Start(t, backend)
	c := newClient(t, p)
	want := bigDigest()

	loc := c.startUpload(repo)
	id := uploadID(loc)
	var acked int64
	for range bigAcked {
		loc = c.patch(loc, bigStream, acked, bigChunk)
		acked += bigChunk
	}

	// Send half of the next chunk, wait until the server has written some
	// of it past the acknowledged offset, and kill it.
	cut := &haltReader{r: bigStream.reader(acked, bigChunk), left: bigChunk / 2,
		reached: make(chan struct{}), release: make(chan struct{})}
	answered := make(chan error, 1)
	go func() {
		resp, err := c.send(context.Background(), http.MethodPatch, loc, cut, bigChunk,
			"Content-Type", "application/octet-stream", "Content-Range", contentRange(acked, bigChunk))
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("the cut PATCH was answered %s", resp.Status)
		} else {
			err = nil
		}
		answered <- err
	}()
	select {
	case <-cut.reached:
	case err := <-answered:
		t.Fatalf("PATCH ended before half of it was sent: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("half a chunk not sent within a minute")
	}
	waitFor(t, 30*time.Second, "part of the cut chunk on disk", func() bool { return uploadFiles(t, p)[id] > acked })
	p.Kill()
	close(cut.release)
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	onDisk := uploadFiles(t, p)[id]
	t.Logf("killed with %d MiB acknowledged and %.1f MiB of the upload on disk", acked/mib, float64(onDisk)/mib)

	p.Restart()
	c.reconnect()
	noPartialBlob(t, c, p, want)
	if got := c.uploadOffset(loc); got != acked {
		t.Fatalf("after the kill the session holds %d bytes, want the %d acknowledged", got, acked)
	}

	final := loc
	off := acked
	if !resume {
		final = c.startUpload(repo)
		off = 0
	}
	for off < bigSize {
		final = c.patch(final, bigStream, off, bigChunk)
		off += bigChunk
	}
	noPartialBlob(t, c, p, want) // all bytes are in, the closing PUT is not
	c.finish(final, want, nil, 0)
	if !resume {
		// The abandoned session still exists; cancelling it removes its bytes.
		if got := c.uploadOffset(loc); got != acked {
			t.Fatalf("abandoned session holds %d bytes, want %d", got, acked)
		}
		c.do(http.MethodDelete, loc, nil, 0, http.StatusNoContent)
	}

	c.checkBlob(repo, want, bigSize, bigStream.reader(0, bigSize))
	if files := blobFiles(t, p); len(files) != 1 || files[want] != bigSize {
		t.Errorf("blob tree holds %v, want only %s (%d bytes)", files, want, int64(bigSize))
	}
	if u := uploadFiles(t, p); len(u) != 0 {
		t.Errorf("files left under uploads/: %v", u)
	}
}

// noPartialBlob checks that digest d is neither served nor on disk.
func noPartialBlob(t *testing.T, c *client, p *testserver.Process, d string) {
	t.Helper()
	if st := c.status(http.MethodHead, "/v2/"+repo+"/blobs/"+d); st != http.StatusNotFound {
		t.Fatalf("HEAD %s before the closing PUT: %d, want 404", d, st)
	}
	if st := c.status(http.MethodGet, "/v2/"+repo+"/blobs/"+d); st != http.StatusNotFound {
		t.Fatalf("GET %s before the closing PUT: %d, want 404", d, st)
	}
	if files := blobFiles(t, p); len(files) != 0 {
		t.Fatalf("blob tree holds %v before the closing PUT", files)
	}
}

// haltReader passes left bytes of r, then blocks until release is closed
// and fails, as a client cut off mid-request would.
type haltReader struct {
	r                io.Reader
	left             int64
	reached, release chan struct{}
	once             sync.Once
}

var errCutOff = errors.New("client cut off")

func (h *haltReader) Read(p []byte) (int, error) {
	if h.left <= 0 {
		h.once.Do(func() { close(h.reached) })
		<-h.release
		return 0, errCutOff
	}
	if int64(len(p)) > h.left {
		p = p[:h.left]
	}
	n, err := h.r.Read(p)
	h.left -= int64(n)
	return n, err
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCommitCutShortRecovers puts the data directory in the state a kill
// leaves between the two steps of a closing PUT (the bytes moved to their
// content path, the blob not yet recorded) and checks that the session can
// still be closed with its digest, and only with its digest: naming another
// stored blob of the same size (here one in a private project) must not make
// that blob visible in the session's project. Both digest algorithms go
// through this path: sha256 is checked against the session's saved hash
// state, sha512 by hashing the stored content.
func TestCommitCutShortRecovers(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		for _, alg := range []string{"sha256", "sha512"} {
			t.Run(backend+"/"+alg, func(t *testing.T) { commitCutShort(t, backend, alg) })
		}
	}
}

func commitCutShort(t *testing.T, backend, alg string) {
	p := testserver.Start(t, backend)
	c := newClient(t, p)
	p.Stop()
	dsn := p.DSN
	if dsn == "" {
		dsn = filepath.Join(p.DataDir, "berth.db")
	}
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.CreateProject(context.Background(), store.Project{Name: "vault", OwnerID: 1})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	p.Restart()
	c.reconnect()

	secret := randomBytes(601, mib)
	secretDigest := digestAlg(alg, bytes.NewReader(secret))
	c.do(http.MethodPost, withQuery("/v2/vault/secret/blobs/uploads/", "digest", secretDigest), bytes.NewReader(secret), mib,
		http.StatusCreated)
	s := stream{seed: 602, size: mib}
	d := digestAlg(alg, s.reader(0, s.size))
	loc := c.startUpload(repo)
	loc = c.patch(loc, s, 0, s.size)
	p.Stop()
	// What a kill right after the closing PUT's rename leaves behind.
	hexd := d[len(alg)+1:]
	dst := filepath.Join(p.DataDir, "blobs", "blobs", alg, hexd[:2], hexd)
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(p.DataDir, "blobs", "uploads", uploadID(loc)), dst); err != nil {
		t.Fatal(err)
	}
	p.Restart()
	c.reconnect()

	if st := c.status(http.MethodHead, "/v2/"+repo+"/blobs/"+d); st != http.StatusNotFound {
		t.Fatalf("HEAD %s before the closing PUT is retried: %d, want 404", d, st)
	}
	_, body := c.do(http.MethodPut, withQuery(loc, "digest", secretDigest), nil, 0, http.StatusBadRequest)
	wantCode(t, body, "DIGEST_INVALID")
	if st := c.status(http.MethodHead, "/v2/"+repo+"/blobs/"+secretDigest); st != http.StatusNotFound {
		t.Fatalf("a closing PUT naming another project's blob linked it here: HEAD %d, want 404", st)
	}
	if st := c.status(http.MethodHead, "/v2/"+repo+"/blobs/"+d); st != http.StatusNotFound {
		t.Fatalf("HEAD %s after a refused closing PUT: %d, want 404", d, st)
	}
	c.finish(loc, d, nil, 0)
	resp, err := c.send(context.Background(), http.MethodGet, "/v2/"+repo+"/blobs/"+d, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := digestAlg(alg, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || got != d {
		t.Fatalf("GET %s: status %d, content %s", d, resp.StatusCode, got)
	}
	if files := blobFiles(t, p); len(files) != 2 {
		t.Errorf("blob tree holds %v, want the two blobs", keys(files))
	}
	if u := uploadFiles(t, p); len(u) != 0 {
		t.Errorf("files left under uploads/: %v", u)
	}
}

// digestAlg hashes r with alg ("sha256" or "sha512").
func digestAlg(alg string, r io.Reader) string {
	h := sha256.New()
	if alg == "sha512" {
		h = sha512.New()
	}
	io.Copy(h, r)
	return alg + ":" + hex.EncodeToString(h.Sum(nil))
}
