package registry_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/internal/config"
	"github.com/berth-dev/berth/internal/testserver"
)

const mib = 1 << 20

// countingZeros yields n zero bytes and counts how many were taken.
type countingZeros struct {
	left  int64
	taken atomic.Int64
}

func (z *countingZeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.left)
	clear(p[:n])
	z.left -= n
	z.taken.Add(n)
	return int(n), nil
}

// setLimit sets project's storage limit.
func (e *env) setLimit(project string, limit int64) {
	e.t.Helper()
	p, err := e.srv.App.DB.ProjectByName(context.Background(), project)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.srv.App.DB.SetStorageLimit(context.Background(), p.ID, limit); err != nil {
		e.t.Fatal(err)
	}
}

// uploadFiles counts the files under the blob store's uploads/.
func (e *env) uploadFiles() int {
	e.t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.srv.App.Blobs.Driver().(interface{ Root() string }).Root(), "uploads"))
	if err != nil && !os.IsNotExist(err) {
		e.t.Fatal(err)
	}
	return len(entries)
}

// TestUploadsWithinQuota: an upload stops at what the project's storage
// quota can still take, counting the bytes open sessions hold: a streamed
// PATCH is cut off there (not read to its end) and answered DENIED, a
// declared Content-Length over it is refused before it is read, and the
// session and its bytes are gone.
func TestUploadsWithinQuota(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.addProject("small", false, 1)
		e.setLimit("small", 10*mib)

		// A 64 MiB streamed PATCH (no Content-Length) into a 10 MiB quota.
		e.run(t, []step{{name: "start", method: "POST", path: "/v2/small/app/blobs/uploads/", status: 202,
			save: map[string]string{"loc": "Location"}}})
		big := &countingZeros{left: 64 * mib}
		req, _ := http.NewRequest(http.MethodPatch, e.srv.URL+e.vars["loc"], io.NopCloser(big))
		req.SetBasicAuth("admin", testserver.AdminPassword)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := e.c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || !bytes.Contains(body, []byte(`"DENIED"`)) || !bytes.Contains(body, []byte("quota")) {
				t.Fatalf("64 MiB PATCH into a 10 MiB quota: %d %s", resp.StatusCode, truncate(body))
			}
		} // else the server closed the connection while the client still sent: it stopped reading
		// The server stops reading at the quota; what the client got rid of
		// beyond it sits in socket buffers (generously bounded here).
		t.Logf("the client sent %d KiB of the 64 MiB PATCH (err %v)", big.taken.Load()>>10, err)
		if taken := big.taken.Load(); taken > 40*mib {
			t.Errorf("the server read %d MiB of a PATCH refused at 10 MiB", taken/mib)
		}
		e.run(t, []step{{name: "session gone", method: "GET", path: e.vars["loc"], status: 404, code: "BLOB_UPLOAD_UNKNOWN"}})
		if n := e.uploadFiles(); n != 0 {
			t.Errorf("%d upload files left after the refused PATCH", n)
		}

		eleven := string(make([]byte, 11*mib))
		six := string(bytes.Repeat([]byte{'a'}, 6*mib))
		sixB := string(bytes.Repeat([]byte{'b'}, 6*mib))
		e.vars["d11"] = sha256Of([]byte(eleven))
		e.vars["dB"] = sha256Of([]byte(sixB))
		e.run(t, []step{
			{name: "declared length over quota", method: "POST", path: "/v2/small/app/blobs/uploads/", status: 202,
				save: map[string]string{"s1": "Location"}},
			{name: "PATCH 11 MiB refused", method: "PATCH", path: "{s1}", body: eleven, status: 403, code: "DENIED"},
			{name: "its session is gone", method: "GET", path: "{s1}", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
			{name: "monolithic 11 MiB refused", method: "POST", path: "/v2/small/app/blobs/uploads/?digest={d11}", body: eleven,
				status: 403, code: "DENIED"},
			{name: "monolithic chunked 11 MiB refused", method: "POST", path: "/v2/small/app/blobs/uploads/?digest={d11}", body: eleven,
				chunked: true, status: 403, code: "DENIED"},
			// Open sessions count: 6 MiB held by one leaves 4 MiB for another.
			{name: "session A", method: "POST", path: "/v2/small/app/blobs/uploads/", status: 202, save: map[string]string{"a": "Location"}},
			{name: "A takes 6 MiB", method: "PATCH", path: "{a}", body: six, status: 202},
			{name: "session B", method: "POST", path: "/v2/small/app/blobs/uploads/", status: 202, save: map[string]string{"b": "Location"}},
			{name: "B cannot take 6 MiB more", method: "PATCH", path: "{b}", body: sixB, chunked: true, status: 403, code: "DENIED"},
			{name: "closing PUT with a body over quota", method: "POST", path: "/v2/small/app/blobs/uploads/", status: 202,
				save: map[string]string{"c": "Location"}},
			{name: "PUT 6 MiB refused", method: "PUT", path: "{c}?digest={dB}", body: sixB, status: 403, code: "DENIED"},
			{name: "cancel A", method: "DELETE", path: "{a}", status: 204},
			{name: "session B again", method: "POST", path: "/v2/small/app/blobs/uploads/", status: 202, save: map[string]string{"b": "Location"}},
			{name: "B takes 6 MiB now", method: "PATCH", path: "{b}", body: sixB, status: 202},
			{name: "B completes", method: "PUT", path: "{b}?digest={dB}", status: 201},
			{name: "a blob in the project costs nothing", method: "POST", path: "/v2/small/other/blobs/uploads/?digest={dB}", body: sixB,
				chunked: true, status: 201},
			{name: "usage 6 MiB leaves 4", method: "POST", path: "/v2/small/app/blobs/uploads/", status: 202, save: map[string]string{"d": "Location"}},
			{name: "5 MiB refused", method: "PATCH", path: "{d}", body: six[:5*mib], chunked: true, status: 403, code: "DENIED"},
		})
		if n := e.uploadFiles(); n != 0 {
			t.Errorf("%d upload files left", n)
		}
		// A project without a limit takes what it is sent.
		e.addProject("big", false, 1)
		e.run(t, []step{{name: "unlimited", method: "POST", path: "/v2/big/app/blobs/uploads/?digest={d11}", body: eleven, status: 201}})
	})
}

// TestUploadSessionsBounded: a project holds at most upload_sessions open
// sessions; past it a POST is TOOMANYREQUESTS until one ends.
func TestUploadSessionsBounded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.addProject("other", false, 1)
		content := []byte("finished")
		e.vars["d"] = sha256Of(content)
		var steps []step
		for i := range 3 {
			steps = append(steps, step{name: "open " + itoa(i), method: "POST", path: "/v2/library/app/blobs/uploads/", status: 202,
				save: map[string]string{"s" + itoa(i): "Location"}})
		}
		steps = append(steps,
			step{name: "fourth refused", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 429, code: "TOOMANYREQUESTS"},
			step{name: "another project is not bounded by it", method: "POST", path: "/v2/other/app/blobs/uploads/", status: 202},
			step{name: "a monolithic push opens no session", method: "POST", path: "/v2/library/app/blobs/uploads/?digest={d}",
				body: string(content), status: 201},
			step{name: "cancel one", method: "DELETE", path: "{s0}", status: 204},
			step{name: "room again", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 202},
			step{name: "full again", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 429, code: "TOOMANYREQUESTS"},
			step{name: "finish one", method: "PUT", path: "{s1}?digest={d}", body: string(content), status: 201},
			step{name: "room after a finish", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 202},
		)
		e.run(t, steps)
	}, func(c *config.Config) { c.UploadSessions = 3 })
}
