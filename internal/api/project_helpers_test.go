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
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// pjEnv is a server with a few users for the project, metadata and quota
// tests: alice (creates projects), bob, carol, dave, all with pjPassword.
type pjEnv struct {
	t   *testing.T
	srv *testserver.InProcess
	db  *store.DB
	ids map[string]int64 // user name → ID
}

const pjPassword = "Project-Pass-1"

// pjAs names a caller: "" is anonymous, "admin" the administrator, a name
// starting with robot$ a robot (secret pjPassword), else a user.
type pjAs = string

func newPJEnv(t *testing.T, backend string) *pjEnv {
	t.Helper()
	srv := testserver.NewInProcess(t, backend)
	e := &pjEnv{t: t, srv: srv, db: srv.App.DB, ids: map[string]int64{}}
	for _, n := range []string{"alice", "bob", "carol", "dave"} {
		e.user(n)
	}
	return e
}

func (e *pjEnv) user(name string) int64 {
	e.t.Helper()
	hash, err := auth.HashPassword(pjPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := e.db.CreateUser(context.Background(), store.User{Username: name, Email: name + "@example.com", PasswordHash: hash})
	if err != nil {
		e.t.Fatal(err)
	}
	e.ids[name] = id
	return id
}

// robot creates a robot account called robot$name holding perms (Harbor's
// permission list JSON); level is "system" or "project".
func (e *pjEnv) robot(name, level string, projectID int64, perms string) pjAs {
	e.t.Helper()
	hash, _ := auth.HashPassword(pjPassword)
	full := "robot$" + name
	if _, err := e.db.CreateRobot(context.Background(), store.Robot{Name: full, Level: level, ProjectID: projectID,
		SecretHash: hash, Duration: -1, ExpiresAt: -1, Permissions: perms}); err != nil {
		e.t.Fatal(err)
	}
	return full
}

// member makes user a member of project with role.
func (e *pjEnv) member(project int64, user string, role rbac.Role) {
	e.t.Helper()
	if _, err := e.db.AddMember(context.Background(), store.Member{ProjectID: project, EntityType: store.EntityUser,
		EntityID: e.ids[user], Role: int(role)}); err != nil {
		e.t.Fatal(err)
	}
}

// pjResp is an answer.
type pjResp struct {
	status int
	header http.Header
	body   []byte
}

// code returns the first Harbor (or OCI) error code of the answer.
func (r pjResp) code() string {
	var eb struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	json.Unmarshal(r.body, &eb)
	if len(eb.Errors) == 0 {
		return ""
	}
	return eb.Errors[0].Code
}

func (r pjResp) message() string {
	var eb struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	json.Unmarshal(r.body, &eb)
	if len(eb.Errors) == 0 {
		return ""
	}
	return eb.Errors[0].Message
}

// do sends method path as who with body (a string sent as is, []byte as
// octets, anything else as JSON) and extra headers ("K: v").
func (e *pjEnv) do(method, path string, who pjAs, body any, headers ...string) pjResp {
	e.t.Helper()
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/json"
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/octet-stream"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	switch who {
	case "":
	case "admin":
		req.SetBasicAuth("admin", testserver.AdminPassword)
	default:
		req.SetBasicAuth(who, pjPassword)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return pjResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails unless r has status (and, if code is not "", error code).
func (e *pjEnv) want(what string, r pjResp, status int, code string) {
	e.t.Helper()
	if r.status != status || (code != "" && r.code() != code) {
		e.t.Fatalf("%s: got %d %s, want %d %s\n%s", what, r.status, r.code(), status, code, r.body)
	}
}

// json decodes a successful answer into v.
func (e *pjEnv) json(what string, r pjResp, v any) {
	e.t.Helper()
	if r.status >= 300 {
		e.t.Fatalf("%s: %d %s", what, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		e.t.Fatalf("%s: %v\n%s", what, err, r.body)
	}
}

// create makes a project as who and returns its ID.
func (e *pjEnv) create(who pjAs, body any) int64 {
	e.t.Helper()
	r := e.do("POST", "/api/v2.0/projects", who, body)
	e.want("create project", r, http.StatusCreated, "")
	loc := r.header.Get("Location")
	var id int64
	if _, err := fmt.Sscanf(loc, "/api/v2.0/projects/%d", &id); err != nil {
		e.t.Fatalf("Location %q: %v", loc, err)
	}
	return id
}

// pjProject is the subset of Harbor's Project the tests read.
type pjProject struct {
	ProjectID          int64             `json:"project_id"`
	OwnerID            int64             `json:"owner_id"`
	Name               string            `json:"name"`
	OwnerName          string            `json:"owner_name"`
	Togglable          bool              `json:"togglable"`
	CurrentUserRoleID  int               `json:"current_user_role_id"`
	CurrentUserRoleIDs []int             `json:"current_user_role_ids"`
	RepoCount          int64             `json:"repo_count"`
	Metadata           map[string]string `json:"metadata"`
	CreationTime       string            `json:"creation_time"`
	UpdateTime         string            `json:"update_time"`
	CVEAllowlist       *struct {
		Items []any `json:"items"`
	} `json:"cve_allowlist"`
}

func (e *pjEnv) project(who pjAs, ref string) pjProject {
	e.t.Helper()
	var p pjProject
	e.json("get project "+ref, e.do("GET", "/api/v2.0/projects/"+ref, who, nil), &p)
	return p
}

// names lists the project names of a listing answer.
func (e *pjEnv) names(r pjResp) []string {
	e.t.Helper()
	var ps []pjProject
	e.json("list projects", r, &ps)
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// pjQuota is Harbor's Quota as the tests read it.
type pjQuota struct {
	ID  int64 `json:"id"`
	Ref struct {
		ID        int64  `json:"id"`
		Name      string `json:"name"`
		OwnerName string `json:"owner_name"`
	} `json:"ref"`
	Hard         map[string]int64 `json:"hard"`
	Used         map[string]int64 `json:"used"`
	CreationTime string           `json:"creation_time"`
	UpdateTime   string           `json:"update_time"`
}

func (e *pjEnv) quota(id int64) pjQuota {
	e.t.Helper()
	var q pjQuota
	e.json("get quota", e.do("GET", fmt.Sprintf("/api/v2.0/quotas/%d", id), "admin", nil), &q)
	return q
}

// usage returns project id's used storage as the quota API shows it.
func (e *pjEnv) usage(id int64) int64 { return e.quota(id).Used["storage"] }

// pjDigest returns the sha256 digest of b.
func pjDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// pjRandom returns n random bytes.
func pjRandom(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// pushBlob uploads b to repo in one POST as who (admin when "") and returns the answer.
func (e *pjEnv) pushBlob(repo string, b []byte) pjResp {
	e.t.Helper()
	return e.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+pjDigest(b), "admin", b)
}

// pushBlobChunked uploads b to repo in a session: POST, PATCH, closing PUT.
func (e *pjEnv) pushBlobChunked(repo string, b []byte) pjResp {
	e.t.Helper()
	r := e.do("POST", "/v2/"+repo+"/blobs/uploads/", "admin", nil)
	e.want("start upload", r, http.StatusAccepted, "")
	loc := r.header.Get("Location")
	r = e.do("PATCH", loc, "admin", b)
	if r.status == http.StatusForbidden {
		return r // over the quota: refused as soon as the chunk passes it
	}
	e.want("upload chunk", r, http.StatusAccepted, "")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return e.do("PUT", loc+sep+"digest="+pjDigest(b), "admin", nil)
}

// pjManifest returns an image manifest with config and layers.
func pjManifest(config []byte, layers ...[]byte) string {
	var ls []string
	for _, l := range layers {
		ls = append(ls, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}`, pjDigest(l), len(l)))
	}
	return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[%s]}`,
		pjDigest(config), len(config), strings.Join(ls, ","))
}

// pushManifest puts manifest m as repo:tag.
func (e *pjEnv) pushManifest(repo, tag, m string) pjResp {
	e.t.Helper()
	return e.do("PUT", "/v2/"+repo+"/manifests/"+tag, "admin", m, "Content-Type: application/vnd.oci.image.manifest.v1+json")
}
