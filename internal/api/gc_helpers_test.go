package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// gcEnv is a server with the principals the GC tests use: anonymous, the
// administrator, a user with no system role, a system robot holding every
// garbage-collection permission, and a system robot holding others.
type gcEnv struct {
	t                                    *testing.T
	srv                                  *testserver.InProcess
	anon, admin, user, gcRobot, otherBot gcWho
}

type gcWho struct{ name, pass string }

func newGCEnv(t *testing.T, backend string) *gcEnv {
	t.Helper()
	srv := testserver.NewInProcess(t, backend)
	e := &gcEnv{t: t, srv: srv, admin: gcWho{"admin", testserver.AdminPassword}}
	hash, err := auth.HashPassword("Gc-User-Pass-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.App.DB.CreateUser(context.Background(), store.User{Username: "gcuser", Email: "gcuser@example.com", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	e.user = gcWho{"gcuser", "Gc-User-Pass-1"}
	var access []map[string]string
	for _, a := range []string{"read", "create", "list", "update", "stop"} {
		access = append(access, map[string]string{"resource": "garbage-collection", "action": a})
	}
	e.gcRobot = e.robot("gcsys", access)
	e.otherBot = e.robot("gcother", []map[string]string{{"resource": "purge-audit", "action": "read"}, {"resource": "purge-audit", "action": "create"}})
	return e
}

func (e *gcEnv) robot(name string, access []map[string]string) gcWho {
	e.t.Helper()
	r := e.do("POST", "/api/v2.0/robots", e.admin, map[string]any{"name": name, "level": "system", "duration": -1, "secret": "Robot-Secret-1x",
		"permissions": []map[string]any{{"kind": "system", "namespace": "/", "access": access}}})
	var out struct {
		Name string `json:"name"`
	}
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &out) != nil {
		e.t.Fatalf("create robot %s: %d %s", name, r.status, r.body)
	}
	return gcWho{out.Name, "Robot-Secret-1x"}
}

type gcResp struct {
	status int
	header http.Header
	body   []byte
}

func (r gcResp) code() string {
	var eb struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	json.Unmarshal(r.body, &eb)
	if len(eb.Errors) == 0 {
		return ""
	}
	return eb.Errors[0].Code
}

// do sends method path (under the server root) as who; a string body is
// sent as is, anything else as JSON.
func (e *gcEnv) do(method, path string, who gcWho, body any) gcResp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who.name != "" {
		req.SetBasicAuth(who.name, who.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return gcResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// run starts a manual collection as admin with params and returns its ID.
func (e *gcEnv) run(params map[string]any) int64 {
	e.t.Helper()
	r := e.do("POST", "/api/v2.0/system/gc/schedule", e.admin, map[string]any{"schedule": map[string]any{"type": "Manual"}, "parameters": params})
	loc := r.header.Get("Location")
	id, err := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
	if r.status != http.StatusCreated || err != nil || !strings.HasPrefix(loc, "/api/v2.0/system/gc/") {
		e.t.Fatalf("manual gc: %d %q %s", r.status, loc, r.body)
	}
	return id
}

func (e *gcEnv) history(id int64) api.GCHistory {
	e.t.Helper()
	r := e.do("GET", "/api/v2.0/system/gc/"+strconv.FormatInt(id, 10), e.admin, nil)
	var h api.GCHistory
	if r.status != http.StatusOK || json.Unmarshal(r.body, &h) != nil {
		e.t.Fatalf("get gc %d: %d %s", id, r.status, r.body)
	}
	return h
}

// wait waits until collection id ends with status and returns its log.
func (e *gcEnv) wait(id int64, status string) (api.GCHistory, string) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var h api.GCHistory
	for {
		h = e.history(id)
		if h.JobStatus == "Success" || h.JobStatus == "Error" || h.JobStatus == "Stopped" {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("gc %d still %s after 30s", id, h.JobStatus)
		}
		time.Sleep(20 * time.Millisecond)
	}
	log := e.do("GET", fmt.Sprintf("/api/v2.0/system/gc/%d/log", id), e.admin, nil)
	if h.JobStatus != status {
		e.t.Fatalf("gc %d ended %s, want %s; log:\n%s", id, h.JobStatus, status, log.body)
	}
	return h, string(log.body)
}

func gcRandom(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func gcDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// push stores an image (a config and one random layer) in repo as admin,
// tagged tag, and returns the manifest's and the layer's digests.
func (e *gcEnv) push(repo, tag string) (manifest, layer string) {
	e.t.Helper()
	put := func(b []byte) string {
		d := gcDigest(b)
		req, _ := http.NewRequest("POST", e.srv.URL+"/v2/"+repo+"/blobs/uploads/?digest="+d, bytes.NewReader(b))
		req.SetBasicAuth("admin", testserver.AdminPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			e.t.Fatalf("upload blob: %v %v", err, resp.Status)
		}
		resp.Body.Close()
		return d
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	l := gcRandom(2048)
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cfg), "size": len(cfg)},
		"layers": []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": put(l), "size": len(l)}}})
	req, _ := http.NewRequest("PUT", e.srv.URL+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(m))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	req.SetBasicAuth("admin", testserver.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("push manifest: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	return gcDigest(m), gcDigest(l)
}

// registry sends a /v2 request as admin and returns the status.
func (e *gcEnv) registry(method, path string) int {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	req.SetBasicAuth("admin", testserver.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
