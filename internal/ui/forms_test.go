package ui_test

import (
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestForms drives every form of the console and checks the result
// through the API: success redirects with a message, a refusal renders the
// page again with the API's message and the input kept, destructive
// actions ask first.
func TestForms(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	b := newBrowser(t, srv)
	b.login("admin", testserver.AdminPassword)
	user(t, srv, "dev1")

	// Projects: a bad name is refused by the API; the input stays.
	p := b.post("/projects", url.Values{"name": {"Bad Name"}, "public": {"on"}})
	p.expect("bad project name", 400, "project name", "is invalid")
	if v := p.inputValue("name"); v != "Bad Name" {
		t.Errorf("bad project name: name field is %q, want the input kept", v)
	}
	b.post("/projects", url.Values{"name": {"team"}, "quota": {"x"}}).expect("bad quota", 400, "quota must be a positive number")
	p = b.post("/projects", url.Values{"name": {"team"}, "quota": {"512"}, "quota_unit": {"MiB"}})
	if p.status != 303 || p.location != "/projects/team/repositories" {
		t.Fatalf("create project: %d %s", p.status, p.location)
	}
	b.get(p.location).expect("flash after create", 200, "Project team created.")
	b.get("/projects/team/repositories").lacks("flash shown once", "Project team created.")
	var q api.Quota
	apiGet(t, srv, "/quotas/"+strconv.FormatInt(projectID(t, srv, "team"), 10), &q)
	if q.Hard["storage"] != 512<<20 {
		t.Errorf("quota: %v, want 512 MiB", q.Hard)
	}
	b.post("/projects", url.Values{"name": {"team"}}).expect("duplicate project", 409, "team")

	// Members: add, change role, remove (with confirmation).
	b.post("/projects/team/members", url.Values{"username": {"nobody"}, "role_id": {"2"}}).expect("unknown user", 400, `user "nobody" not found`)
	b.post("/projects/team/members", url.Values{"username": {"dev1"}, "role_id": {"2"}}).expect("add member", 303)
	var members []api.ProjectMemberEntity
	apiGet(t, srv, "/projects/team/members?entityname=dev1", &members)
	if len(members) != 1 || members[0].RoleID != 2 {
		t.Fatalf("members after add: %+v", members)
	}
	mid := strconv.FormatInt(members[0].ID, 10)
	b.post("/projects/team/members/"+mid+"/role", url.Values{"role_id": {"4"}}).expect("change role", 303)
	b.post("/projects/team/members/"+mid+"/role", url.Values{"role_id": {"9"}}).expect("bad role", 400, "role_id must be")
	apiGet(t, srv, "/projects/team/members?entityname=dev1", &members)
	if members[0].RoleID != 4 {
		t.Errorf("role after change: %d, want 4", members[0].RoleID)
	}
	confirm := b.post("/projects/team/members/"+mid+"/delete", url.Values{"name": {"dev1"}})
	confirm.expect("remove member asks", 200, "Are you sure?", "Remove dev1 from project team?")
	confirm.accessible("confirmation page")
	if st := apiGet(t, srv, "/projects/team/members/"+mid, nil); st != 200 {
		t.Fatalf("member removed before confirmation: %d", st)
	}
	b.post("/projects/team/members/"+mid+"/delete", url.Values{"name": {"dev1"}, "confirm": {"yes"}}).expect("remove member", 303)
	if st := apiGet(t, srv, "/projects/team/members/"+mid, nil); st != 404 {
		t.Errorf("member after removal: %d, want 404", st)
	}

	// Robot accounts: the secret is shown once.
	p = b.post("/projects/team/robots", url.Values{"name": {"ci"}, "description": {"CI"}, "perm": {"repository:pull", "repository:push", "artifact:delete"}})
	p.expect("create robot", 200, "Robot account created", "robot$team+ci", "Download as JSON", "shown only this once")
	p.accessible("robot secret page")
	secret := p.inputValue("robot-secret")
	if len(secret) < 16 {
		t.Fatalf("robot secret %q", secret)
	}
	robots := b.get("/projects/team/robots").expect("robots", 200, "robot$team+ci", "repository:push", "enabled")
	robots.lacks("robot list", secret)
	robots.accessible("robots")
	var list []api.Robot
	apiGet(t, srv, "/robots?q=Level=project,ProjectID="+strconv.FormatInt(projectID(t, srv, "team"), 10), &list)
	if len(list) != 1 {
		t.Fatalf("robots: %+v", list)
	}
	rid := strconv.FormatInt(list[0].ID, 10)
	if !loginWorks(t, srv, list[0].Name, secret) {
		t.Error("the secret shown does not log in")
	}
	b.post("/projects/team/robots", url.Values{"name": {"ci"}, "perm": {"repository:pull"}}).expect("duplicate robot", 409)
	p = b.post("/projects/team/robots", url.Values{"name": {"Bad!"}, "description": {"kept"}, "perm": {"repository:push"}})
	p.expect("bad robot name", 400, "robot name")
	if p.inputValue("description") != "kept" || !strings.Contains(p.body, `value="repository:push" checked`) {
		t.Errorf("bad robot name: the input is not kept")
	}
	b.post("/projects/team/robots/"+rid+"/refresh", url.Values{"name": {list[0].Name}}).expect("refresh asks", 200, "Are you sure?")
	p = b.post("/projects/team/robots/"+rid+"/refresh", url.Values{"name": {list[0].Name}, "confirm": {"yes"}})
	p.expect("refresh secret", 200, "New secret")
	if s2 := p.inputValue("robot-secret"); s2 == "" || s2 == secret || !loginWorks(t, srv, list[0].Name, s2) || loginWorks(t, srv, list[0].Name, secret) {
		t.Errorf("refreshed secret %q does not replace %q", s2, secret)
	}
	b.post("/projects/team/robots/"+rid+"/disable", url.Values{"name": {list[0].Name}, "confirm": {"yes"}}).expect("disable", 303)
	b.get("/projects/team/robots").expect("disabled robot", 200, "disabled", "Enable")
	b.post("/projects/team/robots/"+rid+"/enable", url.Values{"name": {list[0].Name}}).expect("enable", 303)
	b.post("/projects/team/robots/"+rid+"/delete", url.Values{"name": {list[0].Name}, "confirm": {"yes"}}).expect("delete robot", 303)
	if st := apiGet(t, srv, "/robots/"+rid, nil); st != 404 {
		t.Errorf("robot after delete: %d", st)
	}

	// Labels, tags, description, artifact and repository deletion.
	b.post("/projects/team/labels", url.Values{"name": {"qa"}, "color": {"#00aa00"}, "description": {"tested"}}).expect("create label", 303)
	b.post("/projects/team/labels", url.Values{"name": {"qa"}, "color": {"#00aa00"}}).expect("duplicate label", 409)
	var labels []api.Label
	apiGet(t, srv, "/labels?scope=p&project_id="+strconv.FormatInt(projectID(t, srv, "team"), 10), &labels)
	if len(labels) != 1 {
		t.Fatalf("labels: %+v", labels)
	}
	lid := strconv.FormatInt(labels[0].ID, 10)
	d, _ := pusher{t, srv}.image("team/app:v1", "amd64")
	art := "/projects/team/repositories/app/-/artifacts/" + d
	b.post(art+"/tags", url.Values{"tag": {"v2"}}).expect("add tag", 303)
	p = b.post(art+"/tags", url.Values{"tag": {"-bad"}})
	p.expect("bad tag", 400, "invalid tag")
	if p.inputValue("tag") != "-bad" {
		t.Errorf("bad tag: input not kept")
	}
	b.post(art+"/labels", url.Values{"label_id": {lid}}).expect("attach label", 303)
	b.get(art).expect("artifact with tag and label", 200, "v2", "qa")
	b.get("/projects/team/repositories/app").expect("label in table", 200, "qa", "v1", "v2")
	b.post(art+"/labels/"+lid+"/delete", nil).expect("detach label", 303)
	b.post(art+"/tags/v2/delete", nil).expect("delete tag asks", 200, "Delete tag v2")
	b.post(art+"/tags/v2/delete", url.Values{"confirm": {"yes"}}).expect("delete tag", 303)
	var tags []api.Tag
	apiGet(t, srv, "/projects/team/repositories/app/artifacts/"+d+"/tags", &tags)
	if len(tags) != 1 || tags[0].Name != "v1" {
		t.Errorf("tags after delete: %+v", tags)
	}
	b.post("/projects/team/repositories/app/-/description", url.Values{"description": {"The <app>"}}).expect("description", 303)
	b.get("/projects/team/repositories/app").expect("description shown", 200, "The &lt;app&gt;")
	b.post("/projects/team/labels/"+lid+"/delete", url.Values{"name": {"qa"}, "confirm": {"yes"}}).expect("delete label", 303)
	b.post(art+"/delete", url.Values{"confirm": {"yes"}}).expect("delete artifact", 303)
	b.get("/projects/team/repositories/app").expect("no artifacts left", 200, "No artifacts")
	b.post("/projects/team/repositories/app/-/delete", url.Values{"confirm": {"yes"}}).expect("delete repository", 303)

	// Configuration: public and flags, quota, project deletion.
	b.post("/projects/team/config", url.Values{"public": {"on"}, "auto_scan": {"on"}, "severity": {"high"}}).expect("save config", 303)
	var proj api.Project
	apiGet(t, srv, "/projects/team", &proj)
	if proj.Metadata == nil || proj.Metadata.Public != "true" || proj.Metadata.AutoScan == nil || *proj.Metadata.AutoScan != "true" {
		t.Errorf("metadata after save: %+v", proj.Metadata)
	}
	b.post("/projects/team/config", url.Values{"severity": {"extreme"}}).expect("bad severity", 400, "severity")
	b.post("/projects/team/quota", url.Values{"quota": {"-1"}}).expect("unlimited quota", 303)
	b.post("/projects/team/quota", url.Values{"quota": {""}}).expect("empty quota", 400, "Enter a quota")
	apiGet(t, srv, "/quotas/"+strconv.FormatInt(projectID(t, srv, "team"), 10), &q)
	if q.Hard["storage"] != -1 {
		t.Errorf("quota after unlimited: %v", q.Hard)
	}
	b.post("/projects/team/delete", url.Values{"confirm": {"yes"}}).expect("delete project", 303)
	if st := apiGet(t, srv, "/projects/team", nil); st != 404 {
		t.Errorf("project after delete: %d", st)
	}

	// Theme: a cookie, applied by the server without scripts.
	b.post("/theme", url.Values{"theme": {"dark"}, "back": {"/account"}}).expect("theme", 303)
	b.get("/account").expect("dark theme", 200, `data-theme="dark"`)
	b.post("/theme", url.Values{"theme": {""}, "back": {"https://evil.example/"}})
	b.get("/account").lacks("system theme", `data-theme=`)

	// Sign out ends the API session too.
	sid := b.cookie("sid")
	b.post("/logout", nil).expect("sign out", 303)
	if b.cookie("sid") != "" {
		t.Error("sid cookie kept after sign-out")
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v2.0/users/current", nil)
	req.AddCookie(&http.Cookie{Name: "sid", Value: sid})
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("old session after sign-out: %v %v", resp.StatusCode, err)
	}
}

func loginWorks(t *testing.T, srv *testserver.InProcess, user, pass string) bool {
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv.App.Auth.ForgetCredentials()
	return resp.StatusCode == 200
}

// TestAccount covers sign-in failures, the password change and
// self-registration.
func TestAccount(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	b := newBrowser(t, srv)
	user(t, srv, "alice")

	b.get("/login")
	p := b.post("/login", url.Values{"principal": {"alice"}, "password": {"wrong"}})
	p.expect("wrong password", 401)
	if p.inputValue("principal") != "alice" {
		t.Error("wrong password: the user name is not kept")
	}
	b.get("/account").expect("account needs sign-in", 302)
	b.get("/projects/library/members").expect("members need sign-in", 303)

	b.get("/login?next=/account")
	p = b.post("/login", url.Values{"principal": {"alice"}, "password": {userPassword}, "next": {"/account"}})
	if p.status != 303 || p.location != "/account" {
		t.Fatalf("login with next: %d %s", p.status, p.location)
	}
	b.get("/login?next=//evil.example/").expect("signed-in login page", 302)
	if p := b.get("/login?next=//evil.example/"); p.location != "/projects" {
		t.Errorf("next=//evil.example/ redirects to %q", p.location)
	}
	b.post("/account/password", url.Values{"old_password": {"nope"}, "new_password": {"New-Pass-12"}, "new_password2": {"New-Pass-12"}}).
		expect("wrong old password", 403, "current password is incorrect")
	b.post("/account/password", url.Values{"old_password": {userPassword}, "new_password": {"short"}, "new_password2": {"short"}}).
		expect("weak password", 400)
	p = b.post("/account/password", url.Values{"old_password": {userPassword}, "new_password": {"New-Pass-12"}, "new_password2": {"Other-Pass-12"}})
	p.expect("passwords differ", 400, "differ")
	p.lacks("passwords are not sent back", "New-Pass-12")
	b.post("/account/password", url.Values{"old_password": {userPassword}, "new_password": {"New-Pass-12"}, "new_password2": {"New-Pass-12"}}).
		expect("change password", 303)
	if !loginWorks(t, srv, "alice", "New-Pass-12") {
		t.Error("the new password does not log in")
	}

	// Self-registration is off by default, then on.
	anon := newBrowser(t, srv)
	anon.get("/register").expect("registration off", 404, "Self-registration is turned off")
	anon.post("/register", url.Values{"username": {"bob"}}).expect("registration post off", 404)
	if st := apiCall(t, srv, http.MethodPut, "/configurations", map[string]any{"self_registration": true}); st != 200 {
		t.Fatalf("turn on self-registration: %d", st)
	}
	anon.get("/login").expect("register link", 200, "Create one")
	anon.get("/register").expect("registration on", 200, "Create an account").accessible("registration")
	form := url.Values{"username": {"bob"}, "email": {"bob@example.com"}, "realname": {"Bob"}, "password": {"Bob-Pass-123"}, "password2": {"Bob-Pass-124"}}
	anon.post("/register", form).expect("passwords differ", 400, "differ")
	form.Set("password2", "Bob-Pass-123")
	form.Set("email", "not-an-email")
	p = anon.post("/register", form)
	p.expect("bad email", 400, "email")
	if p.inputValue("username") != "bob" {
		t.Error("bad email: the user name is not kept")
	}
	form.Set("email", "bob@example.com")
	anon.post("/register", form).expect("register", 303)
	anon.login("bob", "Bob-Pass-123")
}

// TestCSRF checks that a POST without the form's token, with another
// token, or from another origin does nothing.
func TestCSRF(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	b := newBrowser(t, srv)
	b.login("admin", testserver.AdminPassword)

	for _, tc := range []struct {
		what   string
		csrf   []string
		header map[string]string
	}{
		{"no token", nil, nil},
		{"empty token", []string{""}, nil},
		{"wrong token", []string{"forged-token-from-another-site"}, nil},
		{"pre-session token after sign-in", []string{b.cookie("berth_csrf") + "x"}, nil},
		{"cross-site", nil, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"other origin", nil, map[string]string{"Origin": "https://evil.example"}},
	} {
		form := url.Values{"name": {"forged"}}
		if tc.csrf != nil {
			form["csrf"] = tc.csrf
		} else if tc.header != nil {
			form.Set("csrf", b.cookie("__csrf")) // the right token, from the wrong place
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/projects", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		b.do(req).expect(tc.what, 403)
		if st := apiGet(t, srv, "/projects/forged", nil); st != 404 {
			t.Fatalf("%s: the project was created (%d)", tc.what, st)
		}
	}
	// Signing in needs the pre-session token too.
	anon := newBrowser(t, srv)
	anon.post("/login", url.Values{"csrf": {"x"}, "principal": {"admin"}, "password": {testserver.AdminPassword}}).expect("login without token", 403)
	if anon.cookie("sid") != "" {
		t.Error("signed in without a CSRF token")
	}
	// The right token works.
	b.post("/projects", url.Values{"name": {"real"}}).expect("with token", 303)
	// Every form of a page carries the token.
	p := b.get("/projects/real/config")
	for _, f := range p.elements("form") {
		if strings.EqualFold(attr(f, "method"), "post") && !strings.Contains(renderNode(f), `name="csrf" value="`+b.cookie("__csrf")+`"`) {
			t.Errorf("form %s has no CSRF field", attr(f, "action"))
		}
	}
}

// TestPermissions checks that buttons follow the API's permissions and
// that a forged action is refused by the API and shown as such.
func TestPermissions(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	admin := newBrowser(t, srv)
	admin.login("admin", testserver.AdminPassword)
	admin.post("/projects", url.Values{"name": {"priv"}}).expect("create project", 303)
	admin.post("/projects/priv/labels", url.Values{"name": {"l1"}, "color": {"#123456"}}).expect("label", 303)
	d, _ := pusher{t, srv}.image("priv/app:v1", "amd64")
	guestID := user(t, srv, "guest1")
	devID := user(t, srv, "dev1")
	user(t, srv, "outsider")
	pid := projectID(t, srv, "priv")
	member(t, srv, pid, guestID, rbac.Guest)
	member(t, srv, pid, devID, rbac.Developer)
	art := "/projects/priv/repositories/app/-/artifacts/" + d

	guest := newBrowser(t, srv)
	guest.login("guest1", userPassword)
	for _, path := range []string{"/projects/priv/repositories", "/projects/priv/repositories/app", art, "/projects/priv/config", "/projects/priv/members", "/projects/priv/labels"} {
		p := guest.get(path).expect("guest "+path, 200)
		for _, btn := range p.elements("button") {
			if strings.Contains(attr(btn, "class"), "danger") && attr(btn, "id") != "confirm-ok" { // the dialog's own button
				t.Errorf("guest sees a delete button on %s: %s", path, renderNode(btn))
			}
		}
		for _, a := range p.formActions() {
			if strings.HasSuffix(a, "/delete") || strings.Contains(a, "/tags") || strings.Contains(a, "/labels") || strings.HasSuffix(a, "/description") || strings.HasSuffix(a, "/config") {
				t.Errorf("guest sees form %s on %s", a, path)
			}
		}
		p.accessible("guest " + path)
	}
	guest.get(art).expect("guest artifact", 200, "docker pull "+srv.Host+"/priv/app:v1", "v1")

	// Forged posts reach the API, which refuses them; nothing changes.
	for _, tc := range []struct{ path, want string }{
		{art + "/tags/v1/delete", "may not delete tag"},
		{art + "/delete", "may not delete artifact"},
		{art + "/tags", "may not create tag"},
		{"/projects/priv/repositories/app/-/delete", "may not delete repository"},
		{"/projects/priv/delete", "may not delete project"},
		{"/projects/priv/config", "may not update project"},
	} {
		guest.post(tc.path, url.Values{"confirm": {"yes"}, "tag": {"x"}, "public": {"on"}}).expect("guest forges "+tc.path, 403, tc.want)
	}
	var tags []api.Tag
	apiGet(t, srv, "/projects/priv/repositories/app/artifacts/"+d+"/tags", &tags)
	if len(tags) != 1 {
		t.Errorf("tags after forged posts: %+v", tags)
	}

	// A developer may tag but not delete.
	dev := newBrowser(t, srv)
	dev.login("dev1", userPassword)
	p := dev.get(art).expect("developer artifact", 200, "Add tag")
	p.lacks("developer artifact", "Delete artifact", `aria-label="Delete tag v1"`)
	dev.post(art+"/tags", url.Values{"tag": {"dev"}}).expect("developer tags", 303)
	dev.post(art+"/tags/dev/delete", url.Values{"confirm": {"yes"}}).expect("developer deletes tag", 403)

	// Users outside the project do not learn it exists; anonymous callers sign in.
	out := newBrowser(t, srv)
	out.login("outsider", userPassword)
	out.get("/projects/priv/repositories").expect("outsider", 404)
	out.get("/projects").lacks("outsider list", ">priv<")
	anon := newBrowser(t, srv)
	if p := anon.get("/projects/priv/repositories"); p.status != 404 && p.status != 303 {
		t.Errorf("anonymous on a private project: %d", p.status)
	}
	anon.get("/projects").expect("anonymous list", 200, "library").lacks("anonymous list", ">priv<")
	anon.get("/projects/library/repositories").expect("anonymous public project", 200).lacks("anonymous", "Members")
}

// TestFocusVisible checks the stylesheet keeps keyboard focus visible and
// defines both themes.
func TestFocusVisible(t *testing.T) {
	css, err := os.ReadFile("static/berth.css")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`:focus-visible\s*\{[^}]*outline:\s*\d+px solid`).Match(css) {
		t.Error("berth.css has no :focus-visible outline")
	}
	for _, want := range []string{"prefers-color-scheme: dark", `[data-theme="dark"]`, `:not([data-theme="light"])`} {
		if !strings.Contains(string(css), want) {
			t.Errorf("berth.css lacks %s", want)
		}
	}
	if regexp.MustCompile(`(?i)@import|url\(\s*["']?https?:`).Match(css) {
		t.Error("berth.css loads something from elsewhere")
	}
}
