package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestPermissionViewsAgree compares every view of a caller's permissions
// in a project with what enforcement allows, for each project role, a
// creator demoted to guest, a project robot with a limited permission list,
// the system administrator, a signed-in non-member and an anonymous caller
// (issue 12). The views are the project's current_user_role_id(s) and
// togglable, GET /users/current/permissions?scope=/project/{id}&relative=true,
// and the console's controls on the project's, the repository's and the
// artifact's pages. Each action a view claims or denies is then tried
// through the API (or /v2 for pull and push): any disagreement fails.
func TestPermissionViewsAgree(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPVEnv(t, backend)
			for _, who := range e.principals {
				t.Run(who.name, func(t *testing.T) { e.compare(t, who) })
			}
		})
	}
}

const (
	pvProject = "pv"
	pvPass    = "Pv-Views-Pass1"
)

// pvWho is one principal of the table.
type pvWho struct {
	name       string // for the test's name and unique resource names
	user, pass string // Basic credentials ("" for anonymous)
	// role is the role the test gives the user in the project (0: none);
	// the role views must show it.
	role int
	// console: the principal signs in to the console (users); anonymous
	// visitors browse it without signing in; robots have no console.
	console, robot, anonymous, admin bool
}

type pvEnv struct {
	t          *testing.T
	srv        *testserver.InProcess
	projectID  int64
	labelID    int64
	digest     string // of pv/app:v1
	spare      string // a user whom member:create tries add
	principals []pvWho
}

// pvResp is an answer of the server.
type pvResp struct {
	status int
	body   []byte
	header http.Header
}

func (e *pvEnv) do(method, path, user, pass string, body any) pvResp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	if !strings.HasPrefix(path, "/v2/") && !strings.HasPrefix(path, "/service/") {
		path = "/api/v2.0" + path
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return pvResp{status: resp.StatusCode, body: b, header: resp.Header}
}

func (e *pvEnv) admin(method, path string, body any, want int) pvResp {
	e.t.Helper()
	r := e.do(method, path, "admin", testserver.AdminPassword, body)
	if r.status != want {
		e.t.Fatalf("admin %s %s: %d %s (want %d)", method, path, r.status, r.body, want)
	}
	return r
}

func (e *pvEnv) push(repo, tag string) {
	e.t.Helper()
	blob := func(b []byte) string {
		sum := sha256.Sum256(b)
		d := "sha256:" + hex.EncodeToString(sum[:])
		req, _ := http.NewRequest("POST", e.srv.URL+"/v2/"+repo+"/blobs/uploads/?digest="+d, bytes.NewReader(b))
		req.SetBasicAuth("admin", testserver.AdminPassword)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			e.t.Fatalf("push blob to %s: %d", repo, resp.StatusCode)
		}
		return d
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	layer := []byte("views layer of " + repo + ":" + tag)
	cd, ld := blob(cfg), blob(layer)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`, cd, len(cfg), ld, len(layer))
	req, _ := http.NewRequest("PUT", e.srv.URL+"/v2/"+repo+"/manifests/"+tag, strings.NewReader(m))
	req.SetBasicAuth("admin", testserver.AdminPassword)
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		e.t.Fatalf("push manifest %s:%s: %d", repo, tag, resp.StatusCode)
	}
}

// newPVEnv makes the fixture: carl creates the public project "pv" (so he
// is its first member, as project admin) and is then demoted to guest by
// the administrator; alice, mike, dave, gina and lena hold the five roles;
// nobody holds none; a project robot holds a limited list; pv/app:v1
// exists and the project has a label.
func newPVEnv(t *testing.T, backend string) *pvEnv {
	e := &pvEnv{t: t, srv: testserver.NewInProcess(t, backend), spare: "spare"}
	for _, name := range []string{"carl", "alice", "mike", "dave", "gina", "lena", "nobody", "spare"} {
		e.admin("POST", "/users", map[string]string{"username": name, "email": name + "@example.com", "realname": name, "password": pvPass}, http.StatusCreated)
	}
	if r := e.do("POST", "/projects", "carl", pvPass, map[string]any{"project_name": pvProject, "metadata": map[string]string{"public": "true"}}); r.status != http.StatusCreated {
		t.Fatalf("carl creates %s: %d %s", pvProject, r.status, r.body)
	}
	var p struct {
		ProjectID int64 `json:"project_id"`
	}
	json.Unmarshal(e.admin("GET", "/projects/"+pvProject, nil, http.StatusOK).body, &p)
	e.projectID = p.ProjectID
	roles := map[string]int{"alice": 1, "mike": 4, "dave": 2, "gina": 3, "lena": 5}
	for _, name := range []string{"alice", "mike", "dave", "gina", "lena"} {
		e.admin("POST", "/projects/pv/members", map[string]any{"role_id": roles[name], "member_user": map[string]string{"username": name}}, http.StatusCreated)
	}
	// Demote the creator.
	var ms []struct {
		ID     int64 `json:"id"`
		RoleID int   `json:"role_id"`
	}
	json.Unmarshal(e.admin("GET", "/projects/pv/members?entityname=carl", nil, http.StatusOK).body, &ms)
	if len(ms) != 1 || ms[0].RoleID != 1 {
		t.Fatalf("carl's membership as creator: %+v", ms)
	}
	e.admin("PUT", fmt.Sprintf("/projects/pv/members/%d", ms[0].ID), map[string]int{"role_id": 3}, http.StatusOK)

	e.push("pv/app", "v1")
	var art struct {
		Digest string `json:"digest"`
	}
	json.Unmarshal(e.admin("GET", "/projects/pv/repositories/app/artifacts/v1", nil, http.StatusOK).body, &art)
	e.digest = art.Digest
	r := e.admin("POST", "/labels", map[string]any{"name": "pvl", "color": "#112233", "scope": "p", "project_id": e.projectID}, http.StatusCreated)
	fmt.Sscanf(r.header.Get("Location")[strings.LastIndex(r.header.Get("Location"), "/")+1:], "%d", &e.labelID)

	access := []map[string]string{}
	for _, p := range []string{"repository:pull", "repository:push", "repository:list", "artifact:read", "artifact:list", "tag:list", "tag:create", "member:list"} {
		res, act, _ := strings.Cut(p, ":")
		access = append(access, map[string]string{"resource": res, "action": act})
	}
	var rb struct {
		Name string `json:"name"`
	}
	json.Unmarshal(e.admin("POST", "/robots", map[string]any{
		"name": "views", "level": "project", "duration": -1, "secret": "Pv-Robot-Secret1",
		"permissions": []map[string]any{{"kind": "project", "namespace": pvProject, "access": access}},
	}, http.StatusCreated).body, &rb)

	e.principals = []pvWho{
		{name: "projectAdmin", user: "alice", pass: pvPass, role: 1, console: true},
		{name: "maintainer", user: "mike", pass: pvPass, role: 4, console: true},
		{name: "developer", user: "dave", pass: pvPass, role: 2, console: true},
		{name: "guest", user: "gina", pass: pvPass, role: 3, console: true},
		{name: "limitedGuest", user: "lena", pass: pvPass, role: 5, console: true},
		{name: "demotedCreator", user: "carl", pass: pvPass, role: 3, console: true},
		{name: "robot", user: rb.Name, pass: "Pv-Robot-Secret1", robot: true},
		{name: "sysadmin", user: "admin", pass: testserver.AdminPassword, console: true, admin: true},
		{name: "nonMember", user: "nobody", pass: pvPass, console: true},
		{name: "anonymous", anonymous: true, console: true},
	}
	return e
}

// pvAction is one action the views speak about and how to try it.
type pvAction struct {
	perm string // resource:action
	// try attempts the action as who and reports whether it was allowed.
	try func(e *pvEnv, who pvWho) bool
}

func pvOK(r pvResp, want ...int) bool { return slices.Contains(want, r.status) }

func pvActions() []pvAction {
	art := "/projects/pv/repositories/app/artifacts/v1"
	return []pvAction{
		{"project:read", func(e *pvEnv, w pvWho) bool {
			return pvOK(e.do("GET", "/projects/pv", w.user, w.pass, nil), 200)
		}},
		{"project:update", func(e *pvEnv, w pvWho) bool {
			return pvOK(e.do("PUT", "/projects/pv", w.user, w.pass, map[string]any{"metadata": map[string]string{"public": "true"}}), 200)
		}},
		{"project:delete", func(e *pvEnv, w pvWho) bool { // the same check as DELETE, without deleting
			return pvOK(e.do("GET", "/projects/pv/_deletable", w.user, w.pass, nil), 200)
		}},
		{"member:list", func(e *pvEnv, w pvWho) bool {
			return pvOK(e.do("GET", "/projects/pv/members", w.user, w.pass, nil), 200)
		}},
		{"member:create", func(e *pvEnv, w pvWho) bool {
			r := e.do("POST", "/projects/pv/members", w.user, w.pass, map[string]any{"role_id": 3, "member_user": map[string]string{"username": e.spare}})
			if r.status == 201 {
				e.admin("DELETE", strings.TrimPrefix(r.header.Get("Location"), "/api/v2.0"), nil, 200)
			}
			return r.status == 201
		}},
		{"robot:list", func(e *pvEnv, w pvWho) bool {
			q := url.QueryEscape(fmt.Sprintf("Level=project,ProjectID=%d", e.projectID))
			return pvOK(e.do("GET", "/robots?q="+q, w.user, w.pass, nil), 200)
		}},
		{"label:list", func(e *pvEnv, w pvWho) bool {
			return pvOK(e.do("GET", fmt.Sprintf("/labels?scope=p&project_id=%d", e.projectID), w.user, w.pass, nil), 200)
		}},
		{"log:list", func(e *pvEnv, w pvWho) bool {
			return pvOK(e.do("GET", "/projects/pv/logs", w.user, w.pass, nil), 200)
		}},
		{"notification-policy:list", func(e *pvEnv, w pvWho) bool {
			return pvOK(e.do("GET", "/projects/pv/webhook/policies", w.user, w.pass, nil), 200)
		}},
		{"immutable-tag:list", func(e *pvEnv, w pvWho) bool {
			return pvOK(e.do("GET", "/projects/pv/immutabletagrules", w.user, w.pass, nil), 200)
		}},
		{"repository:update", func(e *pvEnv, w pvWho) bool {
			return pvOK(e.do("PUT", "/projects/pv/repositories/app", w.user, w.pass, map[string]string{"description": "by " + w.name}), 200)
		}},
		{"repository:delete", func(e *pvEnv, w pvWho) bool {
			repo := "rd-" + strings.ToLower(w.name)
			e.push("pv/"+repo, "v1")
			return pvOK(e.do("DELETE", "/projects/pv/repositories/"+repo, w.user, w.pass, nil), 200)
		}},
		{"artifact:delete", func(e *pvEnv, w pvWho) bool {
			repo := "ad-" + strings.ToLower(w.name)
			e.push("pv/"+repo, "v1")
			return pvOK(e.do("DELETE", "/projects/pv/repositories/"+repo+"/artifacts/v1", w.user, w.pass, nil), 200)
		}},
		{"tag:create", func(e *pvEnv, w pvWho) bool {
			return pvOK(e.do("POST", art+"/tags", w.user, w.pass, map[string]string{"name": "tc-" + strings.ToLower(w.name)}), 201)
		}},
		{"tag:delete", func(e *pvEnv, w pvWho) bool {
			tag := "td-" + strings.ToLower(w.name)
			e.admin("POST", art+"/tags", map[string]string{"name": tag}, 201)
			return pvOK(e.do("DELETE", art+"/tags/"+tag, w.user, w.pass, nil), 200)
		}},
		{"artifact-label:create", func(e *pvEnv, w pvWho) bool {
			r := e.do("POST", art+"/labels", w.user, w.pass, map[string]int64{"id": e.labelID})
			if r.status == 200 {
				e.admin("DELETE", fmt.Sprintf("%s/labels/%d", art, e.labelID), nil, 200)
			}
			return r.status == 200
		}},
		{"repository:pull", func(e *pvEnv, w pvWho) bool {
			return e.registry(w, "pull", "GET", "/v2/pv/app/manifests/v1") == 200
		}},
		{"repository:push", func(e *pvEnv, w pvWho) bool {
			return e.registry(w, "pull,push", "POST", "/v2/pv/app/blobs/uploads/") == 202
		}},
	}
}

// registry makes a /v2 request as a Docker client does: a token for the
// scope from the token service (with who's credentials, or none), then
// the request with it.
func (e *pvEnv) registry(w pvWho, actions, method, path string) int {
	e.t.Helper()
	r := e.do("GET", "/service/token?service=berth&scope="+url.QueryEscape("repository:pv/app:"+actions), w.user, w.pass, nil)
	if r.status != 200 {
		return r.status
	}
	var tok struct {
		Token string `json:"token"`
	}
	json.Unmarshal(r.body, &tok)
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// pvConsole is what the console shows who: the controls (by the
// permission each needs) present on the project's, configuration,
// members, repository and artifact pages.
func (e *pvEnv) console(t *testing.T, w pvWho) map[string]bool {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) string {
		resp, err := c.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if !w.anonymous {
		get("/login")
		u, _ := url.Parse(e.srv.URL)
		var csrf string
		for _, ck := range jar.Cookies(u) {
			if ck.Name == "berth_csrf" {
				csrf = ck.Value
			}
		}
		resp, err := c.PostForm(e.srv.URL+"/login", url.Values{"principal": {w.user}, "password": {w.pass}, "csrf": {csrf}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("console sign-in as %s: %d", w.user, resp.StatusCode)
		}
	}
	const base = "/projects/pv"
	repo := base + "/repositories/app"
	artBase := repo + "/-/artifacts/" + e.digest
	pages := map[string]string{}
	for _, p := range []string{base + "/repositories", base + "/config", base + "/members", repo, artBase} {
		pages[p] = get(p)
	}
	if !strings.Contains(pages[artBase], "v1") {
		t.Fatalf("the artifact page shows no tag v1:\n%s", pages[artBase])
	}
	has := func(page, attr, value string) bool {
		return strings.Contains(pages[page], attr+`="`+value+`"`)
	}
	return map[string]bool{
		// The project's tabs.
		"member:list":              has(base+"/repositories", "href", base+"/members"),
		"robot:list":               has(base+"/repositories", "href", base+"/robots"),
		"label:list":               has(base+"/repositories", "href", base+"/labels"),
		"log:list":                 has(base+"/repositories", "href", base+"/logs"),
		"notification-policy:list": has(base+"/repositories", "href", base+"/webhooks"),
		"project:read":             has(base+"/repositories", "href", base+"/config"),
		// Configuration and members.
		"project:update": has(base+"/config", "action", base+"/config"),
		"project:delete": has(base+"/config", "action", base+"/delete"),
		"member:create":  has(base+"/members", "action", base+"/members"),
		// The repository.
		"repository:update": has(repo, "action", repo+"/-/description"),
		"repository:delete": has(repo, "action", repo+"/-/delete"),
		// The artifact.
		"artifact:delete":       has(artBase, "action", artBase+"/delete"),
		"tag:delete":            has(artBase, "action", artBase+"/tags/v1/delete"),
		"tag:create":            has(artBase, "action", artBase+"/tags"),
		"artifact-label:create": has(artBase, "action", artBase+"/labels"),
	}
}

// compare collects who's views, tries every action and reports each
// disagreement.
func (e *pvEnv) compare(t *testing.T, w pvWho) {
	// The project view.
	var proj struct {
		Togglable          bool  `json:"togglable"`
		CurrentUserRoleID  int   `json:"current_user_role_id"`
		CurrentUserRoleIDs []int `json:"current_user_role_ids"`
	}
	r := e.do("GET", "/projects/pv", w.user, w.pass, nil)
	if r.status != 200 {
		t.Fatalf("GET /projects/pv: %d %s", r.status, r.body)
	}
	json.Unmarshal(r.body, &proj)
	wantIDs := []int(nil)
	if w.role != 0 {
		wantIDs = []int{w.role}
	}
	if proj.CurrentUserRoleID != w.role || !slices.Equal(proj.CurrentUserRoleIDs, wantIDs) {
		t.Errorf("project view: current_user_role_id %d, current_user_role_ids %v; the role held is %d",
			proj.CurrentUserRoleID, proj.CurrentUserRoleIDs, w.role)
	}
	// What the role a user's view shows grants, in a public project. An
	// administrator's and a robot's rights do not come from roles.
	var roleClaims rbac.Set
	if !w.admin && !w.robot {
		roleClaims = rbac.ProjectPermissions(true, rbac.Role(proj.CurrentUserRoleID))
	}

	// The permissions view (signed-in callers only, as in Harbor).
	var permClaims map[string]bool
	if !w.anonymous {
		var list []struct{ Resource, Action string }
		r := e.do("GET", fmt.Sprintf("/users/current/permissions?scope=/project/%d&relative=true", e.projectID), w.user, w.pass, nil)
		if r.status != 200 {
			t.Fatalf("permissions view: %d %s", r.status, r.body)
		}
		json.Unmarshal(r.body, &list)
		permClaims = map[string]bool{}
		for _, p := range list {
			permClaims[p.Resource+":"+p.Action] = true
		}
	}

	// The console.
	var controls map[string]bool
	if w.console {
		controls = e.console(t, w)
	}

	for _, a := range pvActions() {
		allowed := a.try(e, w)
		res, act, _ := strings.Cut(a.perm, ":")
		if a.perm == "project:update" && proj.Togglable != allowed {
			t.Errorf("togglable is %v, but project:update is %s", proj.Togglable, verdict(allowed))
		}
		if roleClaims != nil && roleClaims.Has(rbac.Resource(res), rbac.Action(act)) != allowed {
			t.Errorf("current_user_role_id %d %s %s, but it is %s", proj.CurrentUserRoleID, grants(!allowed), a.perm, verdict(allowed))
		}
		if permClaims != nil && permClaims[a.perm] != allowed {
			t.Errorf("/users/current/permissions %s %s, but it is %s", grants(permClaims[a.perm]), a.perm, verdict(allowed))
		}
		if shown, ok := controls[a.perm]; ok && shown != allowed {
			t.Errorf("the console %s the control for %s, but it is %s", map[bool]string{true: "shows", false: "hides"}[shown], a.perm, verdict(allowed))
		}
	}
}

func verdict(allowed bool) string {
	if allowed {
		return "allowed"
	}
	return "refused"
}

func grants(g bool) string {
	if g {
		return "grants"
	}
	return "does not grant"
}
