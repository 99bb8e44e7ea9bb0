package crash_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testserver"
)

// image is a small OCI image pushed over raw HTTP: a config and two layers.
type image struct {
	repo, tag string
	blobs     [][]byte // config first
	manifest  []byte
	digest    string
}

func newImage(seed uint64, repo, tag string) *image {
	cfg := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","config":{"Labels":{"seed":"%d"}},"rootfs":{"type":"layers","diff_ids":[]}}`, seed)
	img := &image{repo: repo, tag: tag, blobs: [][]byte{cfg, randomBytes(seed, 3*kib+int64(seed)), randomBytes(seed+1<<32, 200*kib)}}
	img.manifest = imageManifest(
		descriptor{mediaTypeConfig, digestOf(cfg), int64(len(cfg))},
		descriptor{mediaTypeLayer, digestOf(img.blobs[1]), int64(len(img.blobs[1]))},
		descriptor{mediaTypeLayer, digestOf(img.blobs[2]), int64(len(img.blobs[2]))},
	)
	img.digest = digestOf(img.manifest)
	return img
}

// push uploads the image's blobs three ways (monolithic POST, POST + PUT,
// POST + two PATCHes + PUT) and then its manifest. It returns an error
// rather than failing the test, so pushers can run in goroutines and be
// killed mid-push.
func (c *client) push(ctx context.Context, img *image) error {
	expect := func(want int, method, path string, body []byte, hdr ...string) (*http.Response, error) {
		var r io.Reader
		if body != nil {
			r = bytes.NewReader(body)
		}
		resp, err := c.send(ctx, method, path, r, int64(len(body)), hdr...)
		if err != nil {
			return nil, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			return nil, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
		}
		return resp, nil
	}
	uploads := "/v2/" + img.repo + "/blobs/uploads/"
	cfg, l1, l2 := img.blobs[0], img.blobs[1], img.blobs[2]
	if _, err := expect(http.StatusCreated, http.MethodPost, withQuery(uploads, "digest", digestOf(cfg)), cfg); err != nil {
		return err
	}
	resp, err := expect(http.StatusAccepted, http.MethodPost, uploads, nil)
	if err != nil {
		return err
	}
	if _, err := expect(http.StatusCreated, http.MethodPut, withQuery(resp.Header.Get("Location"), "digest", digestOf(l1)), l1); err != nil {
		return err
	}
	if resp, err = expect(http.StatusAccepted, http.MethodPost, uploads, nil); err != nil {
		return err
	}
	half := len(l2) / 2
	if resp, err = expect(http.StatusAccepted, http.MethodPatch, resp.Header.Get("Location"), l2[:half],
		"Content-Range", contentRange(0, int64(half))); err != nil {
		return err
	}
	if resp, err = expect(http.StatusAccepted, http.MethodPatch, resp.Header.Get("Location"), l2[half:],
		"Content-Range", contentRange(int64(half), int64(len(l2)-half))); err != nil {
		return err
	}
	if _, err := expect(http.StatusCreated, http.MethodPut, withQuery(resp.Header.Get("Location"), "digest", digestOf(l2)), nil); err != nil {
		return err
	}
	_, err = expect(http.StatusCreated, http.MethodPut, "/v2/"+img.repo+"/manifests/"+img.tag, img.manifest,
		"Content-Type", mediaTypeManifest)
	return err
}

// checkImage pulls img by tag and by digest and every blob of it.
func (c *client) checkImage(img *image) {
	c.t.Helper()
	for _, ref := range []string{img.tag, img.digest} {
		resp, body := c.do(http.MethodGet, "/v2/"+img.repo+"/manifests/"+ref, nil, 0, http.StatusOK,
			"Accept", mediaTypeManifest)
		if !bytes.Equal(body, img.manifest) || resp.Header.Get("Docker-Content-Digest") != img.digest {
			c.t.Fatalf("%s:%s pulled back a different manifest (%s)", img.repo, ref, resp.Header.Get("Docker-Content-Digest"))
		}
	}
	for _, b := range img.blobs {
		c.checkBlob(img.repo, digestOf(b), int64(len(b)), bytes.NewReader(b))
	}
}

// absent reports whether no trace of img's manifest is served: by tag and
// by digest both 404.
func (c *client) absent(img *image) bool {
	c.t.Helper()
	byTag := c.status(http.MethodGet, "/v2/"+img.repo+"/manifests/"+img.tag)
	byDigest := c.status(http.MethodGet, "/v2/"+img.repo+"/manifests/"+img.digest)
	if byTag != byDigest {
		c.t.Fatalf("%s:%s half there after the kill: by tag %d, by digest %d", img.repo, img.tag, byTag, byDigest)
	}
	return byTag == http.StatusNotFound
}

// TestAcknowledgedPushesSurviveKill SIGKILLs the server right after the
// last 201 of a series of pushes, and in the middle of concurrent pushes.
// After the restart every acknowledged manifest, tag and blob is there and
// pulls back identical; a push cut short is there entirely or not at all.
func TestAcknowledgedPushesSurviveKill(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend+"/after-last-201", func(t *testing.T) {
			p := testserver.Start(t, backend)
			c := newClient(t, p)
			var imgs []*image
			for i := range 12 {
				img := newImage(uint64(100+i), fmt.Sprintf("library/ack-%d", i%3), fmt.Sprintf("v%d", i))
				if err := c.push(context.Background(), img); err != nil {
					t.Fatal(err)
				}
				imgs = append(imgs, img)
			}
			p.Kill() // immediately after the last 201
			p.Restart()
			c.reconnect()
			checkAcknowledged(t, c, imgs)
		})

		t.Run(backend+"/mid-push", func(t *testing.T) {
			p := testserver.Start(t, backend)
			c := newClient(t, p)
			const workers, killAt = 4, 10
			var (
				mu        sync.Mutex
				acked     []*image
				cut       []*image
				ackCount  atomic.Int32
				wg        sync.WaitGroup
				enough    = make(chan struct{})
				closeOnce sync.Once
			)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						img := newImage(uint64(1000*w+i), fmt.Sprintf("library/mid-%d", w), fmt.Sprintf("v%d", i))
						err := c.push(context.Background(), img)
						mu.Lock()
						if err != nil {
							cut = append(cut, img)
						} else {
							acked = append(acked, img)
						}
						mu.Unlock()
						if err != nil {
							return
						}
						if ackCount.Add(1) >= killAt {
							closeOnce.Do(func() { close(enough) })
						}
					}
				}()
			}
			select {
			case <-enough:
			case <-time.After(time.Minute):
				t.Fatal("pushers did not get going within a minute")
			}
			p.Kill()
			wg.Wait()
			p.Restart()
			c.reconnect()
			t.Logf("%d pushes acknowledged, %d cut short", len(acked), len(cut))
			checkAcknowledged(t, c, acked)
			for _, img := range cut {
				if !c.absent(img) {
					c.checkImage(img) // committed before the kill, just not answered
				}
			}
		})
	}
}

// checkAcknowledged checks every image pulls back and every acknowledged
// tag is listed.
func checkAcknowledged(t *testing.T, c *client, imgs []*image) {
	t.Helper()
	want := map[string][]string{}
	for _, img := range imgs {
		c.checkImage(img)
		want[img.repo] = append(want[img.repo], img.tag)
	}
	catalog := c.catalog()
	for repo, tags := range want {
		if !slices.Contains(catalog, repo) {
			t.Errorf("catalog %v lacks %s", catalog, repo)
		}
		got, ok := c.tags(repo)
		if !ok {
			t.Fatalf("tags/list %s: 404", repo)
		}
		for _, tag := range tags {
			if !slices.Contains(got, tag) {
				t.Errorf("tags of %s: %v lacks acknowledged %s", repo, got, tag)
			}
		}
	}
}
