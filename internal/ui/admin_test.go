package ui_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestAdminPages walks every administration page as an administrator on
// each backend: status, key content, accessibility.
func TestAdminPages(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			b := newBrowser(t, srv)
			b.login("admin", testserver.AdminPassword)
			user(t, srv, "carol")

			b.get("/projects").expect("nav", 200, `href="/admin"`, "Administration")
			if p := b.get("/admin"); p.status != http.StatusFound || p.location != "/admin/users" {
				t.Errorf("/admin: %d %s", p.status, p.location)
			}
			for _, tc := range []struct {
				what, path string
				wants      []string
			}{
				{"users", "/admin/users", []string{"carol", "carol@example.com", "administrator", "Make admin", "Reset password", "New user"}},
				{"users search", "/admin/users?q=car", []string{"carol"}},
				{"users search, no match", "/admin/users?q=zzz", []string{"No user matches"}},
				{"password", "/admin/users/" + strconv.FormatInt(userID(t, srv, "carol"), 10) + "/password", []string{"Reset the password of carol"}},
				{"robots", "/admin/robots", []string{"No system robot accounts", "Permissions in those projects", "System permissions", "repository pull"}},
				{"labels", "/admin/labels", []string{"No system labels yet", "New system label"}},
				{"audit", "/admin/audit", []string{"Audit log", "admin", "login", "Purge", "Event types to purge", "pull_artifact", "No runs yet"}},
				{"gc", "/admin/gc", []string{"Garbage collection", "Dry run", "Run now", "not scheduled", "No runs yet"}},
				{"jobs", "/admin/jobs", []string{"Job queues", "GARBAGE_COLLECTION", "RETENTION", "Pause all", "Workers"}},
				{"config", "/admin/config", []string{"Database (local users)", "Who can create projects", "Read-only mode", "Banner message", "Default robot account lifetime"}},
			} {
				b.get(tc.path).expect(tc.what, 200, tc.wants...).accessible(tc.what)
			}
			b.get("/admin/audit?user=adm&operation=login&type=user&from=2000-01-01&to=2100-01-01").expect("audit filtered", 200, "<td>login</td>").
				lacks("audit filtered", "No entry matches")
			b.get("/admin/audit?user=adm&operation=login&to=2000-01-01").expect("audit filtered out", 200, "No entry matches")
			b.get("/admin/audit?from=yesterday").expect("bad date", 400, "start date must be YYYY-MM-DD")
			b.get("/admin/audit/purge/999999/log").expect("unknown purge log", 404)
			b.get("/admin/users/999999/password").expect("unknown user", 404, "not found")
		})
	}
}

func userID(t *testing.T, srv *testserver.InProcess, name string) int64 {
	t.Helper()
	u, err := srv.App.DB.UserByName(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestAdminForms drives every administration form and checks the result
// through the API.
func TestAdminForms(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	b := newBrowser(t, srv)
	b.login("admin", testserver.AdminPassword)

	// Users: create (a refusal keeps the input but not the passwords),
	// make admin, revoke, reset the password, delete.
	p := b.post("/admin/users", url.Values{"username": {"dave"}, "email": {"bad"}, "password": {"Dave-Pass-123"}, "password2": {"Dave-Pass-123"}})
	p.expect("bad email", 400, "email")
	if p.inputValue("username") != "dave" || strings.Contains(p.body, "Dave-Pass-123") {
		t.Error("bad email: the user name is not kept, or the password is sent back")
	}
	b.post("/admin/users", url.Values{"username": {"dave"}, "email": {"d@example.com"}, "password": {"Dave-Pass-123"}, "password2": {"x"}}).expect("passwords differ", 400, "differ")
	b.post("/admin/users", url.Values{"username": {"dave"}, "email": {"d@example.com"}, "realname": {"Dave"}, "password": {"Dave-Pass-123"}, "password2": {"Dave-Pass-123"}}).expect("create user", 303)
	b.get("/admin/users").expect("flash", 200, "User dave created.")
	id := strconv.FormatInt(userID(t, srv, "dave"), 10)
	b.post("/admin/users/"+id+"/admin", url.Values{"name": {"dave"}, "admin": {"true"}}).expect("make admin", 303)
	var u api.UserResp
	apiGet(t, srv, "/users/"+id, &u)
	if !u.SysadminFlag {
		t.Error("dave is not an administrator")
	}
	b.post("/admin/users/"+id+"/admin", url.Values{"name": {"dave"}, "admin": {"false"}}).expect("revoke asks", 200, "Revoke the administrator role of dave?")
	b.post("/admin/users/"+id+"/admin", url.Values{"name": {"dave"}, "admin": {"false"}, "confirm": {"yes"}}).expect("revoke", 303)
	apiGet(t, srv, "/users/"+id, &u)
	if u.SysadminFlag {
		t.Error("dave is still an administrator")
	}
	self := strconv.FormatInt(userID(t, srv, "admin"), 10)
	b.post("/admin/users/"+self+"/admin", url.Values{"name": {"admin"}, "admin": {"false"}, "confirm": {"yes"}}).expect("own flag", 403, "cannot change your own administrator flag")
	b.post("/admin/users/"+id+"/password", url.Values{"name": {"dave"}, "new_password": {"weak"}, "new_password2": {"weak"}}).expect("weak password", 400)
	b.post("/admin/users/"+id+"/password", url.Values{"name": {"dave"}, "new_password": {"New-Dave-123"}, "new_password2": {"New-Dave-123"}}).expect("reset password", 303)
	if !loginWorks(t, srv, "dave", "New-Dave-123") {
		t.Error("the reset password does not log in")
	}
	b.post("/admin/users/"+id+"/delete", url.Values{"name": {"dave"}}).expect("delete asks", 200, "Delete user dave?")
	b.post("/admin/users/"+id+"/delete", url.Values{"name": {"dave"}, "confirm": {"yes"}}).expect("delete user", 303)
	if st := apiGet(t, srv, "/users/"+id, nil); st != 404 {
		t.Errorf("user after delete: %d", st)
	}

	// System robots: the secret once; refresh, disable, enable, delete.
	b.post("/admin/robots", url.Values{"name": {"Bad!"}, "projects": {"library"}, "project": {"repository:pull"}}).expect("bad robot", 400, "robot name")
	b.post("/admin/robots", url.Values{"name": {"mirror"}, "projects": {"nope"}, "project": {"repository:pull"}}).expect("unknown project", 404, "nope")
	p = b.post("/admin/robots", url.Values{"name": {"mirror"}, "description": {"pulls all"}, "projects": {"*"},
		"project": {"repository:pull", "artifact:read"}, "system": {"project:create"}})
	p.expect("create system robot", 200, "Robot account created", "robot$mirror", "shown only this once")
	p.accessible("system robot secret")
	secret := p.inputValue("robot-secret")
	if !loginWorks(t, srv, "robot$mirror", secret) {
		t.Fatal("the system robot's secret does not log in")
	}
	var robots []api.Robot
	apiGet(t, srv, "/robots?q=Level=system", &robots)
	if len(robots) != 1 || len(robots[0].Permissions) != 2 {
		t.Fatalf("system robots: %+v", robots)
	}
	rid := strconv.FormatInt(robots[0].ID, 10)
	b.get("/admin/robots").expect("robot listed", 200, "robot$mirror", "every project: repository:pull, artifact:read", "system: project:create").lacks("robot list", secret)
	p = b.post("/admin/robots/"+rid+"/refresh", url.Values{"name": {"robot$mirror"}, "confirm": {"yes"}})
	p.expect("refresh", 200, "New secret")
	if s2 := p.inputValue("robot-secret"); s2 == secret || !loginWorks(t, srv, "robot$mirror", s2) {
		t.Error("the refreshed secret does not replace the old one")
	}
	b.post("/admin/robots/"+rid+"/disable", url.Values{"name": {"robot$mirror"}, "confirm": {"yes"}}).expect("disable", 303)
	b.get("/admin/robots").expect("disabled", 200, "disabled", "Enable")
	b.post("/admin/robots/"+rid+"/enable", url.Values{"name": {"robot$mirror"}}).expect("enable", 303)
	b.post("/admin/robots/"+rid+"/delete", url.Values{"name": {"robot$mirror"}, "confirm": {"yes"}}).expect("delete robot", 303)
	if st := apiGet(t, srv, "/robots/"+rid, nil); st != 404 {
		t.Errorf("robot after delete: %d", st)
	}

	// System labels.
	b.post("/admin/labels", url.Values{"name": {"gold"}, "color": {"#aa8800"}, "description": {"certified"}}).expect("create label", 303)
	b.post("/admin/labels", url.Values{"name": {"gold"}, "color": {"#aa8800"}}).expect("duplicate label", 409)
	b.post("/admin/labels", url.Values{"name": {"x"}, "color": {"red"}}).expect("bad colour", 400, "color")
	var labels []api.Label
	apiGet(t, srv, "/labels?scope=g", &labels)
	if len(labels) != 1 || labels[0].Scope != "g" {
		t.Fatalf("global labels: %+v", labels)
	}
	b.get("/admin/labels?q=go").expect("label listed", 200, "gold", "certified")
	b.post("/admin/labels/"+strconv.FormatInt(labels[0].ID, 10)+"/delete", url.Values{"name": {"gold"}, "confirm": {"yes"}}).expect("delete label", 303)

	// Configuration: read-only mode shows on every page and refuses
	// writes; the banner message shows on every page.
	cfg := url.Values{"project_creation_restriction": {"adminonly"}, "self_registration": {"on"}, "token_expiration": {"45"},
		"robot_token_duration": {"7"}, "read_only": {"on"}, "banner": {"Maintenance <tonight>"}, "banner_type": {"warning"}}
	b.post("/admin/config", cfg).expect("save config", 303)
	var conf api.ConfigurationsResponse
	apiGet(t, srv, "/configurations", &conf)
	if !conf.ReadOnly.Value || conf.ProjectCreationRestriction.Value != "adminonly" || !conf.SelfRegistration.Value ||
		conf.TokenExpiration.Value != 45 || conf.RobotTokenDuration.Value != 7 || !strings.Contains(conf.BannerMessage.Value, `"message":"Maintenance \u003ctonight\u003e"`) {
		t.Errorf("configuration after save: %+v", conf)
	}
	for _, path := range []string{"/projects", "/projects/library/repositories", "/account", "/admin/gc"} {
		b.get(path).expect("read-only banner on "+path, 200, "Read-only mode:", "Maintenance &lt;tonight&gt;", `class="banner warning"`)
	}
	anon := newBrowser(t, srv)
	anon.get("/login").expect("banner for anonymous", 200, "Read-only mode:", "Maintenance")
	b.post("/projects", url.Values{"name": {"blocked"}}).expect("write in read-only mode", 403, "read only mode")
	cfg.Del("read_only")
	cfg.Set("banner", "")
	cfg.Set("token_expiration", "0")
	p = b.post("/admin/config", cfg)
	p.expect("bad token expiration", 400, "token_expiration")
	b.get("/projects").expect("still read-only", 200, "Read-only mode:")
	cfg.Set("token_expiration", "30")
	b.post("/admin/config", cfg).expect("read-only off", 303)
	b.get("/projects").lacks("banner gone", "Read-only mode:", "Maintenance")
	b.post("/admin/config", url.Values{"project_creation_restriction": {"everyone"}, "token_expiration": {"x"}, "robot_token_duration": {"7"}}).expect("non-numeric", 400, "whole number")

	// Garbage collection: a dry run, its history row and log; a schedule.
	b.post("/admin/gc", url.Values{"do": {"dry"}, "workers": {"2"}, "schedule": {"None"}}).expect("gc dry run", 303)
	run := waitRun(t, srv, "/system/gc")
	p = b.get("/admin/gc").expect("gc history", 200, "Garbage collection: dry run started", "dry run", "Success")
	p.accessible("gc with history")
	b.get("/admin/gc/"+strconv.FormatInt(run.ID, 10)+"/log").expect("gc log", 200, "Garbage collection "+strconv.FormatInt(run.ID, 10)+": log", "dry run").accessible("gc log")
	b.post("/admin/gc", url.Values{"do": {"save"}, "workers": {"9"}, "schedule": {"Daily"}}).expect("bad workers", 400, "workers")
	b.post("/admin/gc", url.Values{"do": {"save"}, "workers": {"1"}, "schedule": {"Custom"}, "cron": {"nonsense"}}).expect("bad cron", 400, "cron")
	b.post("/admin/gc", url.Values{"do": {"save"}, "workers": {"1"}, "delete_untagged": {"on"}, "schedule": {"Daily"}}).expect("gc schedule", 303)
	b.get("/admin/gc").expect("gc scheduled", 200, "daily (0 0 0 * * *)", "Next run")
	b.post("/admin/gc", url.Values{"do": {"run"}, "workers": {"1"}, "schedule": {"Daily"}}).expect("gc run asks", 200, "Collect garbage now?")
	b.post("/admin/gc", url.Values{"do": {"save"}, "workers": {"1"}, "schedule": {"None"}}).expect("gc unschedule", 303)
	b.get("/admin/gc").expect("gc unscheduled", 200, "not scheduled")

	// Audit log purge: a dry run, a schedule.
	b.post("/admin/audit/purge", url.Values{"do": {"dry"}, "hours": {"1"}, "event_type": {"create_user", "pull_artifact"}, "schedule": {"None"}}).expect("purge dry run", 303)
	prun := waitRun(t, srv, "/system/purgeaudit")
	b.get("/admin/audit").expect("purge history", 200, "dry run", "Success")
	b.get("/admin/audit/purge/"+strconv.FormatInt(prun.ID, 10)+"/log").expect("purge log", 200, "log").accessible("purge log")
	b.post("/admin/audit/purge", url.Values{"do": {"save"}, "hours": {"x"}}).expect("bad hours", 400, "whole number of hours")
	b.post("/admin/audit/purge", url.Values{"do": {"save"}, "hours": {"48"}, "event_type": {"pull_artifact"}, "schedule": {"Weekly"}}).expect("purge schedule", 303)
	p = b.get("/admin/audit").expect("purge scheduled", 200, "weekly (0 0 0 * * 0)")
	if !strings.Contains(p.body, `value="48"`) || !strings.Contains(p.body, `value="pull_artifact" checked`) {
		t.Error("the purge form does not show the saved parameters")
	}

	// Job queues: pause and resume one, stop needs confirmation.
	b.post("/admin/jobs/GARBAGE_COLLECTION/pause", nil).expect("pause", 303)
	b.get("/admin/jobs").expect("paused", 200, "paused", "Resume GARBAGE_COLLECTION")
	b.post("/admin/jobs/GARBAGE_COLLECTION/resume", nil).expect("resume", 303)
	b.post("/admin/jobs/all/stop", nil).expect("stop asks", 200, "Stop the pending jobs of every queue?")
	b.post("/admin/jobs/all/stop", url.Values{"confirm": {"yes"}}).expect("stop", 303)
	b.post("/admin/jobs/NOPE/pause", nil).expect("unknown queue", 404, "NOPE")
	var queues []api.JobQueue
	apiGet(t, srv, "/jobservice/queues", &queues)
	for _, q := range queues {
		if q.Paused {
			t.Errorf("queue %s still paused", q.JobType)
		}
	}
}

// waitRun waits for the newest run of a system job history (path) to end.
func waitRun(t *testing.T, srv *testserver.InProcess, path string) api.GCHistory {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var list []api.GCHistory
		apiGet(t, srv, path+"?page_size=1", &list)
		if len(list) == 1 && (list[0].JobStatus == "Success" || list[0].JobStatus == "Error" || list[0].JobStatus == "Stopped") {
			if list[0].JobStatus != "Success" {
				t.Fatalf("%s run %d: %s", path, list[0].ID, list[0].JobStatus)
			}
			return list[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no finished run: %+v", path, list)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAdminForbidden checks that a user who is not an administrator does
// not see the section, gets the API's refusal on every page, and that
// forged posts are refused by the API; and that the forms need the CSRF
// token.
func TestAdminForbidden(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	user(t, srv, "eve")
	victim := strconv.FormatInt(user(t, srv, "victim"), 10)
	b := newBrowser(t, srv)
	b.login("eve", userPassword)
	b.get("/projects").expect("no nav", 200).lacks("no admin nav", `href="/admin"`)
	for _, path := range []string{"/admin/users", "/admin/robots", "/admin/labels", "/admin/audit", "/admin/gc", "/admin/jobs", "/admin/config", "/admin/users/" + victim + "/password"} {
		p := b.get(path).expect("non-admin "+path, 403)
		p.accessible("non-admin " + path)
		if !strings.Contains(p.text(), "may not") && !strings.Contains(p.text(), "administrator") && !strings.Contains(p.text(), "not allowed") {
			t.Errorf("%s: no refusal message: %.500s", path, p.text())
		}
		p.lacks(path, "<form method=\"post\" action=\"/admin")
	}
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/admin/users", url.Values{"username": {"mallory"}, "email": {"m@example.com"}, "password": {"Mal-Pass-123"}, "password2": {"Mal-Pass-123"}}},
		{"/admin/users/" + victim + "/admin", url.Values{"admin": {"true"}}},
		{"/admin/users/" + victim + "/password", url.Values{"new_password": {"Own-Pass-123"}, "new_password2": {"Own-Pass-123"}}},
		{"/admin/users/" + victim + "/delete", url.Values{"confirm": {"yes"}}},
		{"/admin/robots", url.Values{"name": {"evil"}, "projects": {"*"}, "project": {"repository:pull"}}},
		{"/admin/labels", url.Values{"name": {"evil"}, "color": {"#000000"}}},
		{"/admin/config", url.Values{"project_creation_restriction": {"everyone"}, "token_expiration": {"30"}, "robot_token_duration": {"30"}, "read_only": {"on"}}},
		{"/admin/gc", url.Values{"do": {"dry"}, "workers": {"1"}}},
		{"/admin/audit/purge", url.Values{"do": {"dry"}, "hours": {"1"}, "event_type": {"pull_artifact"}}},
		{"/admin/jobs/all/pause", nil},
	} {
		p := b.post(tc.path, tc.form)
		if p.status != 403 && p.status != 401 {
			t.Errorf("forged %s: status %d, want 403: %.300s", tc.path, p.status, p.text())
		}
	}
	var u api.UserResp
	apiGet(t, srv, "/users/"+victim, &u)
	var conf api.ConfigurationsResponse
	apiGet(t, srv, "/configurations", &conf)
	var queues []api.JobQueue
	apiGet(t, srv, "/jobservice/queues", &queues)
	if u.SysadminFlag || u.Username != "victim" || conf.ReadOnly.Value {
		t.Errorf("a forged post changed something: %+v read-only %v", u, conf.ReadOnly.Value)
	}
	if _, err := srv.App.DB.UserByName(t.Context(), "mallory"); err == nil {
		t.Error("a forged post created a user")
	}
	for _, q := range queues {
		if q.Paused {
			t.Errorf("queue %s paused by a forged post", q.JobType)
		}
	}
	if !loginWorks(t, srv, "victim", userPassword) {
		t.Error("the victim's password was changed")
	}

	// Administrators' forms need the token too.
	admin := newBrowser(t, srv)
	admin.login("admin", testserver.AdminPassword)
	for _, path := range []string{"/admin/users", "/admin/config", "/admin/gc", "/admin/labels", "/admin/jobs/all/pause"} {
		admin.post(path, url.Values{"csrf": {"forged"}, "username": {"x"}, "read_only": {"on"}, "do": {"dry"}, "name": {"x"}}).expect("no token "+path, 403, "CSRF")
	}
	apiGet(t, srv, "/configurations", &conf)
	if conf.ReadOnly.Value {
		t.Error("read-only mode turned on without a CSRF token")
	}
	for _, path := range []string{"/admin/users", "/admin/robots", "/admin/labels", "/admin/audit", "/admin/gc", "/admin/jobs", "/admin/config"} {
		p := admin.get(path)
		for _, f := range p.elements("form") {
			if strings.EqualFold(attr(f, "method"), "post") && !strings.Contains(renderNode(f), `name="csrf" value="`+admin.cookie("__csrf")+`"`) {
				t.Errorf("%s: form %s has no CSRF field", path, attr(f, "action"))
			}
		}
	}
}
