// Package crash_test runs the built berth binary, on SQLite and on
// PostgreSQL, and stops or SIGKILLs it at awkward moments (between chunks of
// an upload, in the middle of a 256 MiB PATCH, right after acknowledged
// pushes) or loads it with concurrent pushes of the same layers. It checks
// the two promises of the registry's write path: what was acknowledged is
// durable, and nothing partial is ever visible.
//
// The tests speak the /v2 HTTP API directly (and go-containerregistry for
// the concurrent pushes) and look into the data directory, whose layout is
// drawn in package blob: <data>/blobs/blobs/<alg>/<xx>/<hex> for committed
// content and <data>/blobs/uploads/<id> for uploads in progress.
package crash_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testserver"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

// client speaks the /v2 API to one server as admin with Basic auth.
type client struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func newClient(t testing.TB, p *testserver.Process) *client {
	return &client{t: t, base: p.URL, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// reconnect drops pooled connections, which die with a killed server.
func (c *client) reconnect() { c.hc.CloseIdleConnections() }

func (c *client) url(path string) string {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return path
	}
	return c.base + path
}

// send sends one request. body may be nil; size is its length (-1: unknown,
// sent chunked). hdr holds header name/value pairs.
func (c *client) send(ctx context.Context, method, path string, body io.Reader, size int64, hdr ...string) (*http.Response, error) {
	if body != nil && size == 0 {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), body)
	if err != nil {
		return nil, err
	}
	if body != nil && body != http.NoBody {
		req.ContentLength = size
	}
	req.SetBasicAuth("admin", testserver.AdminPassword)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.hc.Do(req)
}

// do sends a request and fails the test unless the answer has status want.
// It returns the response with its body read into the second result.
func (c *client) do(method, path string, body io.Reader, size int64, want int, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	resp, err := c.send(context.Background(), method, path, body, size, hdr...)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	return resp, b
}

// status returns the status code of a bodiless request.
func (c *client) status(method, path string) int {
	c.t.Helper()
	resp, err := c.send(context.Background(), method, path, nil, 0)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// startUpload opens an upload session in repo and returns its Location.
func (c *client) startUpload(repo string) string {
	c.t.Helper()
	resp, _ := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, 0, http.StatusAccepted)
	loc := resp.Header.Get("Location")
	if loc == "" {
		c.t.Fatal("POST upload: no Location")
	}
	if got := resp.Header.Get("Range"); got != "0-0" {
		c.t.Fatalf("POST upload: Range %q, want 0-0", got)
	}
	return loc
}

// patch sends bytes [off, off+n) of s as one chunk with Content-Range and
// returns the next Location; the acknowledged Range must end at off+n-1.
func (c *client) patch(loc string, s stream, off, n int64) string {
	c.t.Helper()
	resp, _ := c.do(http.MethodPatch, loc, s.reader(off, n), n, http.StatusAccepted,
		"Content-Type", "application/octet-stream", "Content-Range", contentRange(off, n))
	if got, want := resp.Header.Get("Range"), rangeTo(off+n); got != want {
		c.t.Fatalf("PATCH %d-%d: Range %q, want %q", off, off+n-1, got, want)
	}
	return resp.Header.Get("Location")
}

// uploadOffset asks for the state of an upload session and returns how
// many bytes it holds, from the Range header.
func (c *client) uploadOffset(loc string) int64 {
	c.t.Helper()
	resp, _ := c.do(http.MethodGet, loc, nil, 0, http.StatusNoContent)
	r := resp.Header.Get("Range")
	_, end, ok := strings.Cut(r, "-")
	if !strings.HasPrefix(r, "0-") || !ok {
		c.t.Fatalf("upload status: bad Range %q", r)
	}
	e, err := strconv.ParseInt(end, 10, 64)
	if err != nil {
		c.t.Fatalf("upload status: bad Range %q", r)
	}
	if e == 0 {
		return 0 // "0-0" is also what an empty session reports
	}
	return e + 1
}

// finish closes an upload session with digest d and an optional last chunk.
func (c *client) finish(loc, d string, body io.Reader, size int64) {
	c.t.Helper()
	resp, _ := c.do(http.MethodPut, withQuery(loc, "digest", d), body, size, http.StatusCreated,
		"Content-Type", "application/octet-stream")
	if got := resp.Header.Get("Docker-Content-Digest"); got != d {
		c.t.Fatalf("PUT upload: Docker-Content-Digest %q, want %q", got, d)
	}
}

// pushBlob uploads b in one POST ?digest= request and returns its digest.
func (c *client) pushBlob(repo string, b []byte) string {
	c.t.Helper()
	d := digestOf(b)
	c.do(http.MethodPost, withQuery("/v2/"+repo+"/blobs/uploads/", "digest", d), bytes.NewReader(b), int64(len(b)),
		http.StatusCreated, "Content-Type", "application/octet-stream")
	return d
}

// pushManifest puts an OCI image manifest under ref and returns its digest.
func (c *client) pushManifest(repo, ref string, body []byte) string {
	c.t.Helper()
	resp, _ := c.do(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body), int64(len(body)),
		http.StatusCreated, "Content-Type", mediaTypeManifest)
	d := digestOf(body)
	if got := resp.Header.Get("Docker-Content-Digest"); got != d {
		c.t.Fatalf("PUT manifest: Docker-Content-Digest %q, want %q", got, d)
	}
	return d
}

// checkBlob pulls d from repo and compares it byte for byte with want,
// streaming; it also checks the size HEAD reports.
func (c *client) checkBlob(repo, d string, size int64, want io.Reader) {
	c.t.Helper()
	resp, _ := c.do(http.MethodHead, "/v2/"+repo+"/blobs/"+d, nil, 0, http.StatusOK)
	if resp.ContentLength != size {
		c.t.Fatalf("HEAD %s: Content-Length %d, want %d", d, resp.ContentLength, size)
	}
	resp, err := c.send(context.Background(), http.MethodGet, "/v2/"+repo+"/blobs/"+d, nil, 0)
	if err != nil {
		c.t.Fatalf("GET blob %s: %v", d, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("GET blob %s: status %d: %s", d, resp.StatusCode, b)
	}
	h := sha256.New()
	cmp := &compareWriter{want: want, diff: -1}
	n, err := io.Copy(io.MultiWriter(h, cmp), resp.Body)
	if err != nil {
		c.t.Fatalf("GET blob %s: after %d bytes: %v", d, n, err)
	}
	if cmp.diff >= 0 {
		c.t.Fatalf("GET blob %s: content differs from what was pushed at byte %d", d, cmp.diff)
	}
	if extra, _ := io.Copy(io.Discard, want); extra != 0 || n != size {
		c.t.Fatalf("GET blob %s: got %d bytes, want %d", d, n, size)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != d {
		c.t.Fatalf("GET blob %s: content hashes to %s", d, got)
	}
}

// catalog returns the repositories the admin sees.
func (c *client) catalog() []string {
	c.t.Helper()
	_, b := c.do(http.MethodGet, "/v2/_catalog", nil, 0, http.StatusOK)
	var v struct{ Repositories []string }
	if err := json.Unmarshal(b, &v); err != nil {
		c.t.Fatalf("catalog: %v: %s", err, b)
	}
	return v.Repositories
}

// tags returns the tags of repo, or nil with ok false on 404.
func (c *client) tags(repo string) (tags []string, ok bool) {
	c.t.Helper()
	resp, err := c.send(context.Background(), http.MethodGet, "/v2/"+repo+"/tags/list", nil, 0)
	if err != nil {
		c.t.Fatalf("tags/list %s: %v", repo, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusNotFound:
		return nil, false
	case http.StatusOK:
	default:
		c.t.Fatalf("tags/list %s: status %d: %s", repo, resp.StatusCode, b)
	}
	var v struct{ Tags []string }
	if err := json.Unmarshal(b, &v); err != nil {
		c.t.Fatalf("tags/list %s: %v", repo, err)
	}
	return v.Tags, true
}

// compareWriter compares what is written with want; diff is the first
// differing offset, or -1.
type compareWriter struct {
	want io.Reader
	off  int64
	diff int64
	buf  []byte
}

func (w *compareWriter) Write(p []byte) (int, error) {
	if len(w.buf) < len(p) {
		w.buf = make([]byte, len(p))
	}
	b := w.buf[:len(p)]
	n, _ := io.ReadFull(w.want, b)
	if w.diff < 0 {
		for i := range p {
			if i >= n || p[i] != b[i] {
				w.diff = w.off + int64(i)
				break
			}
		}
	}
	w.off += int64(len(p))
	return len(p), nil
}

func contentRange(off, n int64) string { return fmt.Sprintf("%d-%d", off, off+n-1) }

// rangeTo is the Range header of a session holding n bytes.
func rangeTo(n int64) string {
	if n == 0 {
		return "0-0"
	}
	return "0-" + strconv.FormatInt(n-1, 10)
}

func withQuery(loc, k, v string) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + k + "=" + url.QueryEscape(v)
}

// uploadID is the last path element of an upload Location.
func uploadID(loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return ""
	}
	return u.Path[strings.LastIndex(u.Path, "/")+1:]
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// stream is deterministic pseudo-random content that can be read from any
// offset without holding it: 1 MiB block i is the ChaCha8 key stream for
// (seed, i).
type stream struct {
	seed uint64
	size int64
}

const streamBlock = mib

func (s stream) reader(off, n int64) io.Reader {
	if off+n > s.size {
		n = s.size - off
	}
	return &streamReader{seed: s.seed, off: off, end: off + n, blk: -1}
}

// digest hashes the whole stream.
func (s stream) digest() string {
	h := sha256.New()
	io.Copy(h, s.reader(0, s.size))
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

type streamReader struct {
	seed     uint64
	off, end int64
	blk      int64
	buf      []byte
}

func (r *streamReader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	if b := r.off / streamBlock; b != r.blk {
		if r.buf == nil {
			r.buf = make([]byte, streamBlock)
		}
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:8], r.seed)
		binary.LittleEndian.PutUint64(key[8:16], uint64(b))
		rand.NewChaCha8(key).Read(r.buf)
		r.blk = b
	}
	i := r.off % streamBlock
	lim := min(int64(len(r.buf)), i+(r.end-r.off))
	n := copy(p, r.buf[i:lim])
	r.off += int64(n)
	return n, nil
}

// blobFiles lists the committed content files of a server as digests
// ("sha256:<hex>") with their sizes.
func blobFiles(t testing.TB, p *testserver.Process) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	root := filepath.Join(p.DataDir, "blobs", "blobs")
	err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if de.IsDir() {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 3 || !strings.HasPrefix(parts[2], parts[1]) {
			t.Errorf("unexpected file in the blob tree: %s", rel)
			return nil
		}
		out[parts[0]+":"+parts[2]] = fi.Size()
		return nil
	})
	if err != nil {
		t.Fatalf("walking blobs: %v", err)
	}
	return out
}

// uploadFiles lists the files under <data>/blobs/uploads with their sizes.
func uploadFiles(t testing.TB, p *testserver.Process) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	ents, err := os.ReadDir(filepath.Join(p.DataDir, "blobs", "uploads"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the listing: it is not there
		}
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fi.Size()
	}
	return out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

const (
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
)

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// imageManifest returns an OCI image manifest over config and layers.
func imageManifest(config descriptor, layers ...descriptor) []byte {
	b, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeManifest,
		"config":        config,
		"layers":        layers,
	})
	return b
}

// randomBytes returns n deterministic bytes for seed.
func randomBytes(seed uint64, n int64) []byte {
	b := make([]byte, n)
	io.ReadFull(stream{seed: seed, size: n}.reader(0, n), b)
	return b
}
