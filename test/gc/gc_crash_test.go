package gc_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testserver"
)

// TestGCSurvivesShutdownAndKill interrupts a slow collection (one worker,
// thousands of garbage files) twice: by a shutdown, after which the job
// system runs the same collection again to success, and by SIGKILL, after
// which the job system ends the lost run and a new one finishes the work.
// Live images pull back intact throughout, the stores are consistent after
// the kill, and clean at the end.
func TestGCSurvivesShutdownAndKill(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			start := time.Now()
			p := testserver.Start(t, backend)
			db := openDB(t, p)
			var live []liveImage
			for i := 0; i < 3; i++ {
				live = append(live, pushImage(t, p, fmt.Sprintf("library/live%d", i), "v1"))
			}
			params := map[string]any{"time_window_seconds": 0, "stale_upload_hours": 0, "workers": 1}

			// A shutdown: the run goes back to pending and runs again.
			garbage := makeGarbage(t, p, 60, 1500)
			id := startGC(t, p, params)
			waitProgress(t, p, garbage)
			p.Stop()
			p.Restart()
			r := waitGC(t, p, id, 2*time.Minute)
			if r.Status != "Success" || !strings.Contains(r.Log, "interrupted by shutdown") ||
				strings.Count(r.Log, "garbage collection started") != 2 {
				t.Fatalf("collection %d after a shutdown: %s; log:\n%s", id, r.Status, tail(r.Log))
			}
			checkClean(t, p, db)
			checkLive(t, p, live)

			// SIGKILL: the run's lease runs out, the job system ends it,
			// and the next run deletes the rest.
			garbage = makeGarbage(t, p, 60, 1500)
			id = startGC(t, p, params)
			waitProgress(t, p, garbage)
			p.Kill()
			checkReferenced(t, p, db)
			p.Restart()
			checkLive(t, p, live)
			r = waitGC(t, p, id, 2*time.Minute)
			if r.Status != "Error" {
				t.Fatalf("killed collection %d ended %s, want Error; log:\n%s", id, r.Status, tail(r.Log))
			}
			params["workers"] = 5
			id = startGC(t, p, params)
			if r := waitGC(t, p, id, 2*time.Minute); r.Status != "Success" {
				t.Fatalf("collection after the kill: %s; log:\n%s", r.Status, tail(r.Log))
			}
			checkClean(t, p, db)
			checkLive(t, p, live)
			for _, d := range garbage {
				if _, ok := blobFiles(t, p)[d]; ok {
					t.Fatalf("garbage %s left", d)
				}
			}
			t.Logf("%s: %v", backend, time.Since(start).Round(time.Millisecond))
		})
	}
}

// liveImage is an image pushed over HTTP: its manifest and blobs.
type liveImage struct {
	repo, tag, digest string
	manifest          []byte
	blobs             map[string][]byte
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func registry(t testing.TB, p *testserver.Process, method, path, ctype string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, p.URL+path, bytes.NewReader(body))
	req.SetBasicAuth("admin", testserver.AdminPassword)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func upload(t testing.TB, p *testserver.Process, repo string, b []byte) string {
	t.Helper()
	d := sha(b)
	if st, body := registry(t, p, "POST", "/v2/"+repo+"/blobs/uploads/?digest="+d, "application/octet-stream", b); st != http.StatusCreated {
		t.Fatalf("upload to %s: %d %s", repo, st, body)
	}
	return d
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func pushImage(t testing.TB, p *testserver.Process, repo, tag string) liveImage {
	t.Helper()
	img := liveImage{repo: repo, tag: tag, blobs: map[string][]byte{}}
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"Labels":{"repo":%q}},"rootfs":{"type":"layers","diff_ids":[]}}`, repo))
	layer := randomBytes(8192)
	for _, b := range [][]byte{cfg, layer} {
		img.blobs[upload(t, p, repo, b)] = b
	}
	img.manifest = []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`, sha(cfg), len(cfg), sha(layer), len(layer)))
	if st, body := registry(t, p, "PUT", "/v2/"+repo+"/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", img.manifest); st != http.StatusCreated {
		t.Fatalf("push %s:%s: %d %s", repo, tag, st, body)
	}
	img.digest = sha(img.manifest)
	return img
}

// checkLive pulls each image by tag and each of its blobs, comparing bytes.
func checkLive(t testing.TB, p *testserver.Process, live []liveImage) {
	t.Helper()
	for _, img := range live {
		if st, b := registry(t, p, "GET", "/v2/"+img.repo+"/manifests/"+img.tag, "", nil); st != http.StatusOK || !bytes.Equal(b, img.manifest) {
			t.Errorf("%s:%s: %d, manifest intact %t", img.repo, img.tag, st, bytes.Equal(b, img.manifest))
		}
		for d, want := range img.blobs {
			if st, b := registry(t, p, "GET", "/v2/"+img.repo+"/blobs/"+d, "", nil); st != http.StatusOK || !bytes.Equal(b, want) {
				t.Errorf("%s blob %s: %d, intact %t", img.repo, d, st, bytes.Equal(b, want))
			}
		}
	}
}

// makeGarbage stores blobs nothing references (uploaded, so with rows and
// links) and orphan files (content under blobs/ with no row, as a crash
// between storing and recording leaves), and returns their digests.
func makeGarbage(t testing.TB, p *testserver.Process, uploaded, orphans int) []string {
	t.Helper()
	var out []string
	for i := 0; i < uploaded; i++ {
		out = append(out, upload(t, p, "library/junk", randomBytes(512)))
	}
	root := filepath.Join(p.DataDir, "blobs", "blobs", "sha256")
	for i := 0; i < orphans; i++ {
		b := randomBytes(256)
		d := sha(b)
		hexd := strings.TrimPrefix(d, "sha256:")
		dir := filepath.Join(root, hexd[:2])
		if err := os.MkdirAll(dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, hexd), b, 0o640); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	// Older than the run that will start: its window is 0.
	time.Sleep(10 * time.Millisecond)
	return out
}

// waitProgress waits until the running collection deleted a tenth of
// garbage but not all of it.
func waitProgress(t testing.TB, p *testserver.Process, garbage []string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		files := blobFiles(t, p)
		left := 0
		for _, d := range garbage {
			if _, ok := files[d]; ok {
				left++
			}
		}
		if left < len(garbage)*9/10 {
			if left == 0 {
				t.Fatal("the collection finished before it could be interrupted; give it more garbage")
			}
			t.Logf("interrupting with %d of %d garbage files left", left, len(garbage))
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the collection made no progress within a minute")
}

// checkReferenced checks, with the server down, that every blob an
// artifact references has its row, its link in the artifact's project and
// its file.
func checkReferenced(t testing.TB, p *testserver.Process, db *sql.DB) {
	t.Helper()
	if n := count(t, db, `SELECT COUNT(*) FROM artifact_blobs ab JOIN artifacts a ON a.id = ab.artifact_id
		WHERE NOT EXISTS (SELECT 1 FROM project_blobs pb WHERE pb.project_id = a.project_id AND pb.blob_digest = ab.blob_digest)
		OR NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = ab.blob_digest)`); n != 0 {
		t.Errorf("%d artifact blob references lost their link or row", n)
	}
	files := blobFiles(t, p)
	for d := range digests(t, db, `SELECT DISTINCT blob_digest, 0 FROM artifact_blobs`) {
		if _, ok := files[d]; !ok {
			t.Errorf("referenced blob %s has no file", d)
		}
	}
}

// tail returns the end of a long log.
func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}
