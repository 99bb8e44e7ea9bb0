package crash_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testserver"
)

// failedPush is one way a push goes wrong. run does it in repo (a new
// repository) and returns the digests that must not be visible, and
// optionally a check to run after the nothing-visible checks.
type failedPush struct {
	name string
	run  func(t *testing.T, c *client, p *testserver.Process, repo string) (hidden []string, after func())
}

var failedPushes = []failedPush{
	{"wrong digest, monolithic", func(t *testing.T, c *client, p *testserver.Process, repo string) ([]string, func()) {
		b := randomBytes(501, mib+7)
		wrong := digestOf(append([]byte("other"), b...))
		_, body := c.do(http.MethodPost, withQuery("/v2/"+repo+"/blobs/uploads/", "digest", wrong), bytes.NewReader(b), int64(len(b)),
			http.StatusBadRequest)
		wantCode(t, body, "DIGEST_INVALID")
		return []string{wrong, digestOf(b)}, nil
	}},
	{"wrong digest, chunked", func(t *testing.T, c *client, p *testserver.Process, repo string) ([]string, func()) {
		s := stream{seed: 502, size: 3 * mib}
		wrong := digestOf([]byte("not the content"))
		loc := c.startUpload(repo)
		loc = c.patch(loc, s, 0, 2*mib)
		_, body := c.do(http.MethodPut, withQuery(loc, "digest", wrong), s.reader(2*mib, mib), mib, http.StatusBadRequest)
		wantCode(t, body, "DIGEST_INVALID")
		if st := c.status(http.MethodGet, loc); st != http.StatusNotFound {
			t.Errorf("session after a failed closing PUT: %d, want 404", st)
		}
		return []string{wrong, s.digest()}, nil
	}},
	{"manifest names a missing blob", func(t *testing.T, c *client, p *testserver.Process, repo string) ([]string, func()) {
		cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
		c.pushBlob(repo, cfg) // acknowledged, so it may stay
		missing := randomBytes(503, 1000)
		m := imageManifest(descriptor{mediaTypeConfig, digestOf(cfg), int64(len(cfg))},
			descriptor{mediaTypeLayer, digestOf(missing), int64(len(missing))})
		_, body := c.do(http.MethodPut, "/v2/"+repo+"/manifests/v1", bytes.NewReader(m), int64(len(m)),
			http.StatusBadRequest, "Content-Type", mediaTypeManifest)
		wantCode(t, body, "MANIFEST_BLOB_UNKNOWN")
		for _, ref := range []string{"v1", digestOf(m)} {
			if st := c.status(http.MethodGet, "/v2/"+repo+"/manifests/"+ref); st != http.StatusNotFound {
				t.Errorf("manifest %s after a refused push: %d, want 404", ref, st)
			}
		}
		return []string{digestOf(missing)}, nil
	}},
	{"client disconnects mid-PATCH", func(t *testing.T, c *client, p *testserver.Process, repo string) ([]string, func()) {
		s := stream{seed: 504, size: 8 * mib}
		loc := c.startUpload(repo)
		cutOff(t, p, uploadID(loc), func(ctx context.Context, body *haltReader) error {
			resp, err := c.send(ctx, http.MethodPatch, loc, body, s.size, "Content-Range", contentRange(0, s.size))
			if err == nil {
				resp.Body.Close()
			}
			return err
		}, s.reader(0, s.size), s.size/2)
		if got := c.uploadOffset(loc); got != 0 {
			t.Errorf("session after a cut PATCH holds %d bytes, want 0", got)
		}
		// The session is intact: it takes the whole content again.
		return []string{s.digest()}, func() {
			loc := c.patch(loc, s, 0, s.size)
			c.finish(loc, s.digest(), nil, 0)
			c.checkBlob(repo, s.digest(), s.size, s.reader(0, s.size))
		}
	}},
	{"client disconnects mid monolithic POST", func(t *testing.T, c *client, p *testserver.Process, repo string) ([]string, func()) {
		s := stream{seed: 505, size: 8 * mib}
		file := cutOff(t, p, "", func(ctx context.Context, body *haltReader) error {
			resp, err := c.send(ctx, http.MethodPost, withQuery("/v2/"+repo+"/blobs/uploads/", "digest", s.digest()), body, s.size)
			if err == nil {
				resp.Body.Close()
			}
			return err
		}, s.reader(0, s.size), s.size/2)
		// The server drops the bytes of a monolithic upload it gave up on.
		waitFor(t, 10*time.Second, "the cut upload's file to go", func() bool { _, ok := uploadFiles(t, p)[file]; return !ok })
		return []string{s.digest()}, nil
	}},
}

// cutOff runs send with a body that stops after half bytes of r, waits
// until the server has written some of them (to upload id, or to any new
// upload file when id is ""), then cancels the request as a client that
// goes away would.
func cutOff(t *testing.T, p *testserver.Process, id string, send func(context.Context, *haltReader) error, r io.Reader, half int64) (file string) {
	t.Helper()
	before := uploadFiles(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	body := &haltReader{r: r, left: half, reached: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- send(ctx, body) }()
	select {
	case <-body.reached:
	case err := <-done:
		t.Fatalf("request ended before half of it was sent: %v", err)
	}
	waitFor(t, 10*time.Second, "part of the body on disk", func() bool {
		for f, n := range uploadFiles(t, p) {
			if n > 0 && (f == id || id == "" && before[f] == 0) {
				file = f
				return true
			}
		}
		return false
	})
	cancel()
	close(body.release)
	if err := <-done; err == nil {
		t.Fatal("the cut request was answered")
	}
	return file
}

// TestFailedPushLeavesNothing makes pushes fail in the ways a client can
// (wrong digest, a manifest naming a missing blob, a disconnect mid-PATCH
// or mid-POST) each into a new repository, and checks that nothing of it is
// visible: no blob, no manifest, no tag list, no catalog entry, no file
// in the blob tree.
func TestFailedPushLeavesNothing(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			p := testserver.Start(t, backend)
			c := newClient(t, p)
			catalog := c.catalog()
			for i, fp := range failedPushes {
				t.Run(strings.ReplaceAll(fp.name, " ", "_"), func(t *testing.T) {
					c := &client{t: t, base: c.base, hc: c.hc}
					repo := "library/failed-" + string(rune('a'+i))
					hidden, after := fp.run(t, c, p, repo)
					if tags, ok := c.tags(repo); ok {
						t.Errorf("tags/list %s after a failed push: %v, want 404", repo, tags)
					}
					if got := c.catalog(); !slices.Equal(got, catalog) {
						t.Errorf("catalog after a failed push: %v, want %v", got, catalog)
					}
					files := blobFiles(t, p)
					for _, d := range hidden {
						if st := c.status(http.MethodHead, "/v2/"+repo+"/blobs/"+d); st != http.StatusNotFound {
							t.Errorf("HEAD %s after a failed push: %d, want 404", d, st)
						}
						if _, ok := files[d]; ok {
							t.Errorf("blob tree holds %s after a failed push", d)
						}
					}
					if after != nil && !t.Failed() {
						after()
					}
				})
			}
		})
	}
}

// wantCode checks an OCI error body names code.
func wantCode(t *testing.T, body []byte, code string) {
	t.Helper()
	var v struct{ Errors []struct{ Code string } }
	if err := json.Unmarshal(body, &v); err != nil || len(v.Errors) == 0 || v.Errors[0].Code != code {
		t.Errorf("error body %s, want code %s", body, code)
	}
}
