package ui_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestProjectListQuotas checks the quota bars of the project list: an
// administrator sees every project's, a member the bars of the projects it
// is a member of, not of the public projects it only sees (quota:read in
// the caller's set; project.Service.Quotas reads them for the whole page).
func TestProjectListQuotas(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	admin := newBrowser(t, srv)
	admin.login("admin", testserver.AdminPassword)
	admin.post("/projects", url.Values{"name": {"mine"}, "quota": {"2"}, "quota_unit": {"GiB"}}).expect("create mine", 303)
	admin.post("/projects", url.Values{"name": {"open"}, "public": {"on"}, "quota": {"3"}, "quota_unit": {"GiB"}}).expect("create open", 303)
	member(t, srv, projectID(t, srv, "mine"), user(t, srv, "dev"), rbac.Developer)

	row := func(p *page, name string) string {
		for _, tr := range p.elements("tr") {
			if h := renderNode(tr); strings.Contains(h, ">"+name+"</a>") {
				return h
			}
		}
		t.Fatalf("no row for %s", name)
		return ""
	}
	p := admin.get("/projects").expect("admin list", 200)
	if r := row(p, "mine"); !strings.Contains(r, "of 2.0 GiB") {
		t.Errorf("admin, mine: %s", r)
	}
	if r := row(p, "open"); !strings.Contains(r, "of 3.0 GiB") {
		t.Errorf("admin, open: %s", r)
	}
	if r := row(p, "library"); !strings.Contains(r, "no limit") {
		t.Errorf("admin, library: %s", r)
	}
	dev := newBrowser(t, srv)
	dev.login("dev", userPassword)
	p = dev.get("/projects").expect("member list", 200)
	if r := row(p, "mine"); !strings.Contains(r, "of 2.0 GiB") {
		t.Errorf("member, mine: %s", r)
	}
	if r := row(p, "open"); strings.Contains(r, "GiB") || !strings.Contains(r, "—") {
		t.Errorf("member, open (public, not a member): %s", r)
	}
	anon := newBrowser(t, srv)
	if r := row(anon.get("/projects").expect("anonymous list", 200), "open"); strings.Contains(r, "GiB") {
		t.Errorf("anonymous, open: %s", r)
	}
}
