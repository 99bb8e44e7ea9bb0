package api_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// Helpers of the artifact, repository, label and search tests (prefix art).

// artEnv is one in-process server on one backend.
type artEnv struct {
	t   *testing.T
	srv *testserver.InProcess
}

func newArtEnv(t *testing.T, backend string) *artEnv {
	return &artEnv{t: t, srv: testserver.NewInProcess(t, backend)}
}

// artUser is a caller; the zero value is anonymous.
type artUser struct{ name, pass string }

var artAdmin = artUser{"admin", testserver.AdminPassword}

const artPassword = "Art-Test-Pass-1"

// user creates a user and returns it with its ID.
func (e *artEnv) user(name string) (artUser, int64) {
	e.t.Helper()
	hash, err := auth.HashPassword(artPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := e.srv.App.DB.CreateUser(context.Background(), store.User{Username: name, Email: name + "@example.com", PasswordHash: hash})
	if err != nil {
		e.t.Fatal(err)
	}
	return artUser{name, artPassword}, id
}

// project creates a project owned by admin and returns its ID.
func (e *artEnv) project(name string, public bool) int64 {
	e.t.Helper()
	id, err := e.srv.App.DB.CreateProject(context.Background(), store.Project{Name: name, Public: public, OwnerID: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *artEnv) member(projectID, userID int64, role rbac.Role) {
	e.t.Helper()
	if _, err := e.srv.App.DB.AddMember(context.Background(), store.Member{
		ProjectID: projectID, EntityType: store.EntityUser, EntityID: userID, Role: int(role)}); err != nil {
		e.t.Fatal(err)
	}
}

// artResp is an answer.
type artResp struct {
	status int
	header http.Header
	body   []byte
}

// code is the first Harbor error code of the body, or "".
func (r artResp) code() string {
	var v struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	json.Unmarshal(r.body, &v)
	if len(v.Errors) == 0 {
		return ""
	}
	return v.Errors[0].Code
}

// call sends method path as u. body is nil, a string or []byte sent as
// is, or a value sent as JSON.
func (e *artEnv) call(method, path string, u artUser, body any) artResp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if u.name != "" {
		req.SetBasicAuth(u.name, u.pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return artResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// expect checks status (and the error code, if code is not "").
func (e *artEnv) expect(what string, r artResp, status int, code string) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	if code != "" && r.code() != code {
		e.t.Fatalf("%s: error code %q, want %q: %s", what, r.code(), code, r.body)
	}
}

// get calls GET path as u, expects 200 and decodes the body into out.
func (e *artEnv) get(path string, u artUser, out any) artResp {
	e.t.Helper()
	r := e.call("GET", path, u, nil)
	e.expect("GET "+path, r, http.StatusOK, "")
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("GET %s: %v: %s", path, err, r.body)
		}
	}
	return r
}

// waitAudit waits for an audit entry (they are written asynchronously).
func (e *artEnv) waitAudit(username, operation, resourceType, resource string) {
	e.t.Helper()
	q := &query.Query{Conds: []query.Cond{
		{Key: "operation", Value: operation}, {Key: "resource_type", Value: resourceType}, {Key: "resource", Value: resource},
	}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, _, err := e.srv.App.DB.ListAuditEntries(context.Background(), q, true, nil, 0, 100)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, en := range entries {
			if en.Username == username && en.Success {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no audit entry %s %s %s by %s", operation, resourceType, resource, username)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Content pushed through /v2.

const (
	artOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	artOCIIndex    = "application/vnd.oci.image.index.v1+json"
	artOCIConfig   = "application/vnd.oci.image.config.v1+json"
	artOCILayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
	artHelmConfig  = "application/vnd.cncf.helm.config.v1+json"
	artHelmChart   = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	artCosignSig   = "application/vnd.dev.cosign.artifact.sig.v1+json"
	artCosignLayer = "application/vnd.dev.cosign.simplesigning.v1+json"
	artEmptyJSON   = "application/vnd.oci.empty.v1+json"
)

type artDesc struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     map[string]string `json:"platform,omitempty"`
	URLs         []string          `json:"urls,omitempty"`
}

type artManifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        *artDesc          `json:"config,omitempty"`
	Layers        []artDesc         `json:"layers,omitempty"`
	Manifests     []artDesc         `json:"manifests,omitempty"`
	Subject       *artDesc          `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// artPushed is a manifest in the registry.
type artPushed struct {
	digest    string
	mediaType string
	body      []byte
	size      int64 // Harbor's size: the manifest, its config and layers
}

func artDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func artRandom(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// blob pushes b into repo and returns its descriptor.
func (e *artEnv) blob(repo, mediaType string, b []byte) artDesc {
	e.t.Helper()
	d := artDigest(b)
	req, _ := http.NewRequest("POST", e.srv.URL+"/v2/"+repo+"/blobs/uploads/?digest="+d, bytes.NewReader(b))
	req.SetBasicAuth(artAdmin.name, artAdmin.pass)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("push blob to %s: status %d", repo, resp.StatusCode)
	}
	return artDesc{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// push puts m into repo under ref (a tag, or "" for by digest).
func (e *artEnv) push(repo, ref string, m artManifest) artPushed {
	e.t.Helper()
	body, _ := json.Marshal(m)
	d := artDigest(body)
	if ref == "" {
		ref = d
	}
	req, _ := http.NewRequest("PUT", e.srv.URL+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body))
	req.SetBasicAuth(artAdmin.name, artAdmin.pass)
	req.Header.Set("Content-Type", m.MediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("push manifest %s:%s: status %d: %s", repo, ref, resp.StatusCode, b)
	}
	size := int64(len(body))
	if m.Config != nil {
		size += m.Config.Size
	}
	for _, l := range m.Layers {
		size += l.Size
	}
	return artPushed{digest: d, mediaType: m.MediaType, body: body, size: size}
}

// artImageConfig is the config of the test images.
func artImageConfig(arch string) []byte {
	return []byte(`{"architecture":"` + arch + `","os":"linux","created":"2024-01-02T03:04:05Z",` +
		`"config":{"Env":["PATH=/usr/bin"],"Labels":{"maintainer":"tester@example.com"}},` +
		`"rootfs":{"type":"layers","diff_ids":[]},` +
		`"history":[{"created":"2024-01-02T03:04:05Z","created_by":"/bin/sh -c #(nop) ADD file:` + hex.EncodeToString(artRandom(4)) + `"}]}`)
}

// image pushes a one-layer image for arch to repo under tag ("" for by digest).
func (e *artEnv) image(repo, tag, arch string) artPushed {
	e.t.Helper()
	cfg := e.blob(repo, artOCIConfig, artImageConfig(arch))
	layer := e.blob(repo, artOCILayer, artRandom(300))
	return e.push(repo, tag, artManifest{SchemaVersion: 2, MediaType: artOCIManifest, Config: &cfg, Layers: []artDesc{layer},
		Annotations: map[string]string{"org.opencontainers.image.title": "test " + arch}})
}

// index pushes an index over children (pushed before) under tag.
func (e *artEnv) index(repo, tag string, children ...artPushed) artPushed {
	e.t.Helper()
	m := artManifest{SchemaVersion: 2, MediaType: artOCIIndex}
	for i, c := range children {
		m.Manifests = append(m.Manifests, artDesc{MediaType: c.mediaType, Digest: c.digest, Size: int64(len(c.body)),
			Platform: map[string]string{"os": "linux", "architecture": []string{"amd64", "arm64"}[i%2]}})
	}
	p := e.push(repo, tag, m)
	for _, c := range children {
		p.size += c.size
	}
	return p
}

// artChartArchive is a Helm chart archive: a top-level chart directory with
// Chart.yaml (one dependency), values.yaml, README.md, a template and a
// subchart whose files must not be mistaken for the chart's.
func artChartArchive(t *testing.T) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	files := []struct{ name, body string }{
		{"mychart/Chart.yaml", "apiVersion: v2\nname: mychart\nversion: 0.1.0\ndescription: A test chart\n" +
			"dependencies:\n- name: redis\n  version: 1.2.3\n  repository: https://charts.example.com\n  condition: redis.enabled\n"},
		{"mychart/charts/sub/values.yaml", "sub: true\n"},
		{"mychart/values.yaml", "replicaCount: 3\nimage: nginx\n"},
		{"mychart/README.md", "# mychart\n\nA chart for tests.\n"},
		{"mychart/templates/deployment.yaml", "kind: Deployment\n"},
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// chart pushes a Helm chart artifact (as helm push does) under tag.
func (e *artEnv) chart(repo, tag string) artPushed {
	e.t.Helper()
	cfg := e.blob(repo, artHelmConfig, []byte(`{"name":"mychart","version":"0.1.0","description":"A test chart","apiVersion":"v2"}`))
	layer := e.blob(repo, artHelmChart, artChartArchive(e.t))
	return e.push(repo, tag, artManifest{SchemaVersion: 2, MediaType: artOCIManifest, Config: &cfg, Layers: []artDesc{layer}})
}

// signature pushes a cosign signature of subject: an OCI referrer with a
// subject field (legacy false), or cosign's tag sha256-<hex>.sig without one.
func (e *artEnv) signature(repo string, subject artPushed, legacy bool) artPushed {
	e.t.Helper()
	payload := e.blob(repo, artCosignLayer, []byte(`{"critical":{"image":{"docker-manifest-digest":"`+subject.digest+`"}},"n":"`+hex.EncodeToString(artRandom(4))+`"}`))
	if legacy {
		cfg := e.blob(repo, artOCIConfig, []byte(`{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}`))
		return e.push(repo, "sha256-"+strings.TrimPrefix(subject.digest, "sha256:")+".sig",
			artManifest{SchemaVersion: 2, MediaType: artOCIManifest, Config: &cfg, Layers: []artDesc{payload}})
	}
	cfg := e.blob(repo, artEmptyJSON, []byte("{}"))
	return e.push(repo, "", artManifest{SchemaVersion: 2, MediaType: artOCIManifest, ArtifactType: artCosignSig, Config: &cfg,
		Layers: []artDesc{payload}, Subject: &artDesc{MediaType: subject.mediaType, Digest: subject.digest, Size: int64(len(subject.body))}})
}

// tag points tag at p in repo (re-pushing its manifest).
func (e *artEnv) tag(repo, tag string, p artPushed) {
	e.t.Helper()
	req, _ := http.NewRequest("PUT", e.srv.URL+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(p.body))
	req.SetBasicAuth(artAdmin.name, artAdmin.pass)
	req.Header.Set("Content-Type", p.mediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("tag %s:%s: status %d", repo, tag, resp.StatusCode)
	}
}

// registry calls /v2 path as u and returns the status.
func (e *artEnv) registry(method, path string, u artUser) int {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	if u.name != "" {
		req.SetBasicAuth(u.name, u.pass)
	}
	req.Header.Set("Accept", artOCIManifest+", "+artOCIIndex)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// artFixture is a private project proj with members of each role, a
// second project dst, and in repository proj/app/web: an image (tags v1
// and latest) signed by a cosign referrer, a two-platform index (tag
// multi) signed by a legacy cosign tag, and a Helm chart (tag 0.1.0).
type artFixture struct {
	*artEnv
	pid, dstPID                         int64
	dev, guest, maint, outsider         artUser
	devID, guestID, maintID, outsiderID int64
	repo, base                          string // full name; API path of the repository
	img, childA, childB, idx, ch        artPushed
	sig, legacy                         artPushed
}

func newArtFixture(t *testing.T, backend string) *artFixture {
	f := &artFixture{artEnv: newArtEnv(t, backend)}
	f.pid = f.project("proj", false)
	f.dstPID = f.project("dst", false)
	f.dev, f.devID = f.user("dev")
	f.guest, f.guestID = f.user("guest")
	f.maint, f.maintID = f.user("maint")
	f.outsider, f.outsiderID = f.user("outsider")
	for _, p := range []int64{f.pid, f.dstPID} {
		f.member(p, f.devID, rbac.Developer)
		f.member(p, f.guestID, rbac.Guest)
		f.member(p, f.maintID, rbac.Maintainer)
	}
	f.repo, f.base = "proj/app/web", "/api/v2.0/projects/proj/repositories/app%252Fweb"
	f.img = f.image(f.repo, "v1", "amd64")
	f.tag(f.repo, "latest", f.img)
	f.childA = f.image(f.repo, "", "amd64")
	f.childB = f.image(f.repo, "", "arm64")
	f.idx = f.index(f.repo, "multi", f.childA, f.childB)
	f.ch = f.chart(f.repo, "0.1.0")
	f.sig = f.signature(f.repo, f.img, false)
	f.legacy = f.signature(f.repo, f.idx, true)
	return f
}

// artifact gets the artifact ref of the fixture's repository.
func (f *artFixture) artifact(ref, params string, u artUser) api.Artifact {
	f.t.Helper()
	var a api.Artifact
	f.get(f.base+"/artifacts/"+ref+params, u, &a)
	return a
}

// digests lists the digests of a listing.
func artDigests(list []api.Artifact) []string {
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, a.Digest)
	}
	return out
}

// referrer pushes an OCI 1.1 artifact of artifactType whose subject is subject.
func (e *artEnv) referrer(repo string, subject artPushed, artifactType string) artPushed {
	e.t.Helper()
	cfg := e.blob(repo, artEmptyJSON, []byte("{}"))
	layer := e.blob(repo, "application/octet-stream", artRandom(50))
	return e.push(repo, "", artManifest{SchemaVersion: 2, MediaType: artOCIManifest, ArtifactType: artifactType, Config: &cfg,
		Layers: []artDesc{layer}, Subject: &artDesc{MediaType: subject.mediaType, Digest: subject.digest, Size: int64(len(subject.body))}})
}

// attrsOf decodes a's extra_attrs (nil when null).
func attrsOf(t *testing.T, a api.Artifact) map[string]any {
	t.Helper()
	var m map[string]any
	if len(a.ExtraAttrs) > 0 {
		if err := json.Unmarshal(a.ExtraAttrs, &m); err != nil {
			t.Fatalf("extra_attrs %s: %v", a.ExtraAttrs, err)
		}
	}
	return m
}
