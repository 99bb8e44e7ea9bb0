package registry_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/internal/config"
	"github.com/berth-dev/berth/internal/testserver"
)

// tmpfs mounts a tmpfs of size bytes on a fresh directory, unmounted at
// cleanup; it skips (fails under CI) when it cannot (not root).
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		testserver.SkipOrFail(t, "mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file into dir until the file system has no space left.
func fill(t *testing.T, dir string) (path string) {
	t.Helper()
	path = filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 20, 4 << 10, 1} {
		b := make([]byte, chunk)
		for {
			if _, err := f.Write(b); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill: %v", err)
				}
				break
			}
		}
	}
	return path
}

// TestDiskFull: with the data directory (blobs, and the SQLite database)
// on a full file system, writes answer 507 "storage is full" (an OCI body
// on /v2, Harbor's on the API), while pulls and logins go on working; once
// space is freed, pushes succeed again without a restart.
func TestDiskFull(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			dir := tmpfs(t, "24m")
			srv := testserver.NewInProcess(t, backend, func(c *config.Config) { c.DataDir = dir })
			e := &env{t: t, srv: srv, c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			}}, vars: map[string]string{}}
			img := e.image("library/app", false)
			e.pushManifest("library/app", "v1", mtOCIManifest, img)
			var m manifest
			if err := json.Unmarshal(img, &m); err != nil {
				t.Fatal(err)
			}
			e.vars["layer"] = m.Layers[0].Digest

			e.run(t, []step{{name: "session", method: "POST", path: "/v2/library/app/blobs/uploads/", save: map[string]string{"s": "Location"},
				status: 202}})
			filler := fill(t, dir)
			blob := randomBytes(64 << 10)
			e.vars["d"] = sha256Of(blob)
			full := func(t *testing.T, _ http.Header, body []byte) {
				t.Helper()
				if !bytes.Contains(body, []byte(`"storage is full"`)) {
					t.Errorf("body %s, want the message storage is full", truncate(body))
				}
			}
			e.run(t, []step{
				{name: "monolithic push", method: "POST", path: "/v2/library/app/blobs/uploads/?digest={d}", body: string(blob),
					status: 507, code: "UNKNOWN", check: full},
				{name: "pull manifest", method: "GET", path: "/v2/library/app/manifests/v1", status: 200},
				{name: "pull blob", method: "GET", path: "/v2/library/app/blobs/{layer}", status: 200},
				{name: "token login", method: "GET", path: "/service/token?service=berth&scope=repository:library/app:pull", status: 200},
				{name: "basic login", method: "GET", path: "/v2/", status: 200},
				{name: "API read", method: "GET", path: "/api/v2.0/projects/library/repositories/app/artifacts/v1", status: 200},
				{name: "catalog", method: "GET", path: "/v2/_catalog", status: 200},
			})
			consoleLogin := step{name: "console login", method: "POST", path: "/c/login", body: "principal=admin&password=" + testserver.AdminPassword,
				header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, status: 200}
			if backend == "sqlite" {
				// The database shares the full file system: its writes are
				// refused as clearly, on both surfaces. A console session is
				// a row: signing in to the console waits for space too.
				consoleLogin.status, consoleLogin.code, consoleLogin.check = 507, "INSUFFICIENT_STORAGE", full
				e.run(t, []step{
					{name: "manifest push", method: "PUT", path: "/v2/library/app/manifests/v9", body: string(img),
						header: map[string]string{"Content-Type": mtOCIManifest}, status: 507, code: "UNKNOWN", check: full},
					{name: "API write", method: "POST", path: "/api/v2.0/projects", body: `{"project_name":"newproj"}`,
						header: map[string]string{"Content-Type": "application/json"}, status: 507, code: "INSUFFICIENT_STORAGE", check: full},
				})
			}
			e.run(t, []step{consoleLogin})
			// A session started before: its bytes find no room.
			e.run(t, []step{{name: "chunk", method: "PATCH", path: "{s}", body: string(blob), status: 507, code: "UNKNOWN", check: full}})
			if backend == "sqlite" {
				e.run(t, []step{{name: "new session", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 507, code: "UNKNOWN", check: full}})
			}

			// Space returns: the same server takes pushes again.
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			e.run(t, []step{
				{name: "push after space returns", method: "POST", path: "/v2/library/app/blobs/uploads/?digest={d}", body: string(blob), status: 201},
				{name: "chunk after space returns", method: "PATCH", path: "{s}", body: string(blob), status: 202},
				{name: "console login after space returns", method: "POST", path: "/c/login", body: "principal=admin&password=" + testserver.AdminPassword,
					header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, status: 200},
				{name: "API write after space returns", method: "POST", path: "/api/v2.0/projects", body: `{"project_name":"newproj"}`,
					header: map[string]string{"Content-Type": "application/json"}, status: 201},
			})
			e.pushManifest("library/app", "v2", mtOCIManifest, e.image("library/app", false))
		})
	}
}
