package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/config"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// The tests in this package speak plain HTTP to the full Berth stack
// (testserver.NewInProcess) on every configured metadata backend. Most of
// them are tables of steps run in order against one server: a step is a
// request (method, path, caller, headers, body) and what must come back
// (status, OCI error code, headers, body). Paths and header values may name
// variables saved by earlier steps as {name}.

// userPassword is the password of every non-admin user the tests create.
const userPassword = "User-Pass-1"

// Media types used by the tests.
const (
	mtOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mtOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mtOCIConfig      = "application/vnd.oci.image.config.v1+json"
	mtOCILayer       = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtDockerConfig   = "application/vnd.docker.container.image.v1+json"
	mtDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mtEmpty          = "application/vnd.oci.empty.v1+json"
)

// env is one server under test.
type env struct {
	t    *testing.T
	srv  *testserver.InProcess
	c    *http.Client
	vars map[string]string
}

// forEachBackend runs fn against a fresh server on each metadata backend,
// configured by configure (if any).
func forEachBackend(t *testing.T, fn func(t *testing.T, e *env), configure ...func(*config.Config)) {
	for _, b := range testserver.Backends(t) {
		t.Run(b, func(t *testing.T) {
			srv := testserver.NewInProcess(t, b, configure...)
			e := &env{
				t:   t,
				srv: srv,
				// Redirects are answers to check, not to follow.
				c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
					return http.ErrUseLastResponse
				}},
				vars: map[string]string{},
			}
			fn(t, e)
		})
	}
}

// addUser creates a non-admin user with userPassword.
func (e *env) addUser(name string) int64 {
	e.t.Helper()
	hash, err := auth.HashPassword(userPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := e.srv.App.DB.CreateUser(context.Background(), store.User{Username: name, PasswordHash: hash})
	if err != nil {
		e.t.Fatalf("create user %s: %v", name, err)
	}
	return id
}

// addProject creates a project directly in the store.
func (e *env) addProject(name string, public bool, owner int64) {
	e.t.Helper()
	if _, err := e.srv.App.DB.CreateProject(context.Background(), store.Project{Name: name, Public: public, OwnerID: owner}); err != nil {
		e.t.Fatalf("create project %s: %v", name, err)
	}
}

// step is one request and what must come back.
type step struct {
	name   string
	as     string // "" admin (Basic); "anon"; "badpw" (admin, wrong password); "token:<var>" (Bearer); else a user name
	method string
	path   string // {var} is replaced by a saved variable
	header map[string]string
	body   string
	// chunked sends the body without a Content-Length.
	chunked bool

	status int
	code   string // the OCI error code the body must carry; required for every error status
	// want maps response headers to their value: exact, "~sub" (contains),
	// "*" (present) or "-" (absent). Values may name {var}s.
	want     map[string]string
	wantBody string // exact body, if set
	check    func(t *testing.T, h http.Header, body []byte)
	save     map[string]string // variable -> response header to keep
}

// run executes steps in order, each as a subtest; it stops at the first failure.
func (e *env) run(t *testing.T, steps []step) {
	t.Helper()
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) { e.do(t, s) })
		if !ok {
			t.FailNow()
		}
	}
}

func (e *env) expand(s string) string {
	for k, v := range e.vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// request builds the request of s.
func (e *env) request(t *testing.T, s step) *http.Request {
	t.Helper()
	var body io.Reader = strings.NewReader(s.body)
	if s.chunked {
		body = io.MultiReader(strings.NewReader(s.body)) // hides the length
	}
	if s.body == "" && !s.chunked {
		body = nil
	}
	req, err := http.NewRequest(s.method, e.srv.URL+e.expand(s.path), body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range s.header {
		req.Header.Set(k, e.expand(v))
	}
	switch {
	case s.as == "":
		req.SetBasicAuth("admin", testserver.AdminPassword)
	case s.as == "anon":
	case s.as == "badpw":
		req.SetBasicAuth("admin", "not-the-password")
	case strings.HasPrefix(s.as, "token:"):
		req.Header.Set("Authorization", "Bearer "+e.vars[strings.TrimPrefix(s.as, "token:")])
	default:
		req.SetBasicAuth(s.as, userPassword)
	}
	return req
}

func (e *env) do(t *testing.T, s step) {
	t.Helper()
	req := e.request(t, s)
	resp, err := e.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	where := req.Method + " " + req.URL.RequestURI()
	if resp.StatusCode != s.status {
		t.Fatalf("%s: status %d, want %d; body %s", where, resp.StatusCode, s.status, truncate(body))
	}
	if strings.HasPrefix(req.URL.Path, "/v2") {
		if got := resp.Header.Get("Docker-Distribution-API-Version"); got != "registry/2.0" {
			t.Errorf("%s: Docker-Distribution-API-Version = %q, want registry/2.0", where, got)
		}
	}
	checkErrorBody(t, where, req.Method, resp, body, s.code)
	for k, v := range s.want {
		checkHeader(t, where, resp.Header, k, e.expand(v))
	}
	if s.wantBody != "" && string(body) != s.wantBody {
		t.Errorf("%s: body %s, want %s", where, truncate(body), truncate([]byte(s.wantBody)))
	}
	if s.check != nil {
		s.check(t, resp.Header, body)
	}
	for v, h := range s.save {
		e.vars[v] = resp.Header.Get(h)
	}
}

// checkErrorBody asserts that an error response carries an OCI error body
// with code, and that a success carries no error body.
func checkErrorBody(t *testing.T, where, method string, resp *http.Response, body []byte, code string) {
	t.Helper()
	if resp.StatusCode < 400 {
		if code != "" {
			t.Errorf("%s: status %d is not an error, but code %s was expected", where, resp.StatusCode, code)
		}
		return
	}
	if code == "" {
		t.Fatalf("%s: test row gives no error code for status %d (body %s)", where, resp.StatusCode, truncate(body))
	}
	if method == http.MethodHead {
		if len(body) != 0 {
			t.Errorf("%s: HEAD error has a body: %s", where, truncate(body))
		}
		return
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: error Content-Type %q, want application/json", where, ct)
	}
	var eb struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("%s: error body is not JSON: %v: %s", where, err, truncate(body))
	}
	if len(eb.Errors) == 0 {
		t.Fatalf("%s: error body has no errors: %s", where, truncate(body))
	}
	if eb.Errors[0].Code != code {
		t.Errorf("%s: error code %s, want %s (body %s)", where, eb.Errors[0].Code, code, truncate(body))
	}
	if eb.Errors[0].Message == "" {
		t.Errorf("%s: error has no message: %s", where, truncate(body))
	}
}

func checkHeader(t *testing.T, where string, h http.Header, k, want string) {
	t.Helper()
	got, present := h.Get(k), len(h.Values(k)) > 0
	switch {
	case want == "*":
		if !present {
			t.Errorf("%s: header %s missing", where, k)
		}
	case want == "-":
		if present {
			t.Errorf("%s: header %s = %q, want absent", where, k, got)
		}
	case strings.HasPrefix(want, "~"):
		if !strings.Contains(got, want[1:]) {
			t.Errorf("%s: header %s = %q, want it to contain %q", where, k, got, want[1:])
		}
	default:
		if got != want {
			t.Errorf("%s: header %s = %q, want %q", where, k, got, want)
		}
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// --- content builders ---

func sha256Of(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func sha512Of(b []byte) string {
	s := sha512.Sum512(b)
	return "sha512:" + hex.EncodeToString(s[:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// pushBlob uploads content to repo in one POST and returns its digest.
func (e *env) pushBlob(repo string, content []byte) string {
	e.t.Helper()
	d := sha256Of(content)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v2/"+repo+"/blobs/uploads/?digest="+d, bytes.NewReader(content))
	req.SetBasicAuth("admin", testserver.AdminPassword)
	req.Header.Set("Content-Type", "application/octet-stream")
	e.mustStatus(req, http.StatusCreated)
	return d
}

// pushManifest PUTs body as mediaType under ref and returns its digest.
func (e *env) pushManifest(repo, ref, mediaType string, body []byte) string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body))
	req.SetBasicAuth("admin", testserver.AdminPassword)
	req.Header.Set("Content-Type", mediaType)
	e.mustStatus(req, http.StatusCreated)
	return sha256Of(body)
}

func (e *env) mustStatus(req *http.Request, status int) *http.Response {
	e.t.Helper()
	resp, err := e.c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, status, truncate(b))
	}
	return resp
}

type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     map[string]string `json:"platform,omitempty"`
}

type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        *descriptor       `json:"config,omitempty"`
	Layers        []descriptor      `json:"layers,omitempty"`
	Manifests     []descriptor      `json:"manifests,omitempty"`
	Subject       *descriptor       `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// image pushes a fresh config and layer to repo and returns an image manifest
// over them (OCI types, or Docker schema 2 types if docker), not yet pushed.
func (e *env) image(repo string, docker bool) []byte {
	e.t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"},"n":"` + hex.EncodeToString(randomBytes(8)) + `"}`)
	layer := randomBytes(512)
	cd, ld := e.pushBlob(repo, cfg), e.pushBlob(repo, layer)
	m := manifest{SchemaVersion: 2, MediaType: mtOCIManifest,
		Config: &descriptor{MediaType: mtOCIConfig, Digest: cd, Size: int64(len(cfg))},
		Layers: []descriptor{{MediaType: mtOCILayer, Digest: ld, Size: int64(len(layer))}}}
	if docker {
		m.MediaType = mtDockerManifest
		m.Config.MediaType = mtDockerConfig
		m.Layers[0].MediaType = mtDockerLayer
	}
	return mustJSON(m)
}

// index returns an index (OCI or Docker list) over the given manifests.
func index(mediaType string, children ...[]byte) []byte {
	childType := mtOCIManifest
	if mediaType == mtDockerList {
		childType = mtDockerManifest
	}
	m := manifest{SchemaVersion: 2, MediaType: mediaType, Manifests: []descriptor{}}
	for i, c := range children {
		m.Manifests = append(m.Manifests, descriptor{MediaType: childType, Digest: sha256Of(c), Size: int64(len(c)),
			Platform: map[string]string{"os": "linux", "architecture": []string{"amd64", "arm64", "s390x"}[i%3]}})
	}
	return mustJSON(m)
}

// jsonCheck returns a check that the body decodes to want (compared as JSON).
func jsonCheck(want string) func(t *testing.T, h http.Header, body []byte) {
	return func(t *testing.T, _ http.Header, body []byte) {
		t.Helper()
		var got, exp any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("body is not JSON: %v: %s", err, truncate(body))
		}
		if err := json.Unmarshal([]byte(want), &exp); err != nil {
			t.Fatalf("bad want %s: %v", want, err)
		}
		if g, w := mustJSON(got), mustJSON(exp); !bytes.Equal(g, w) {
			t.Errorf("body %s, want %s", g, w)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// adminBasic is the admin's Basic credential, base64-encoded.
func adminBasic() string {
	return base64.StdEncoding.EncodeToString([]byte("admin:" + testserver.AdminPassword))
}
