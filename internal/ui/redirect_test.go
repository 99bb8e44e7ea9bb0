package ui_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testserver"
)

// TestRedirectTargets sends every redirect target the console takes from
// input (the sign-in page's next, the theme form's back) the forms a
// browser would follow off-site once it has normalised them (tabs and
// newlines removed, backslash read as slash, leading controls and spaces
// stripped): each must land on /projects. Local paths are kept.
func TestRedirectTargets(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	b := newBrowser(t, srv)
	b.login("admin", testserver.AdminPassword)

	evil := []string{
		"/\t/evil.com", "/\n/evil.com", "/\r/evil.com", "/\\evil.com", "\\/evil.com", "\\\\evil.com",
		"//evil.com", "///evil.com", "/\t\\evil.com", " //evil.com", "\x00//evil.com", "\x1f/\\evil.com",
		"https://evil.com", "http:evil.com", "javascript:alert(1)", "JavaScript:alert(1)", "\tjavascript:alert(1)",
		"data:text/html,x", "%2F%2Fevil.com", "evil.com", "", "projects", "/\x00/evil.com", "/x\x01y",
		"\t/\t/evil.com", "/\t\t/evil.com", "/\r\n/evil.com",
	}
	good := map[string]string{
		"/projects/library/repositories": "/projects/library/repositories",
		"/account":                       "/account",
		"/admin/users?page=2#top":        "/admin/users?page=2#top",
		" /account":                      "/account",
		"/account\t":                     "/account",
		"/acc\tount":                     "/account",
		"/%2F/evil.com":                  "/%2F/evil.com", // a path on this origin
	}
	check := func(what, loc, want string) {
		t.Helper()
		if loc != want {
			t.Errorf("%s: Location %q, want %q", what, loc, want)
		}
	}
	for _, e := range evil {
		p := b.get("/login?next=" + url.QueryEscape(e))
		if strings.ContainsRune(e, 0) && p.status == http.StatusBadRequest {
			continue // refused before any redirect: NUL is never text (TestBadTextRefused)
		}
		if p.status != http.StatusFound {
			t.Fatalf("GET /login?next=%q: status %d", e, p.status)
		}
		check("GET /login next="+e, p.location, "/projects")
		check("POST /theme back="+e, b.post("/theme", url.Values{"theme": {"dark"}, "back": {e}}).location, "/projects")
	}
	for in, want := range good {
		check("GET /login next="+in, b.get("/login?next="+url.QueryEscape(in)).location, want)
		check("POST /theme back="+in, b.post("/theme", url.Values{"theme": {"light"}, "back": {in}}).location, want)
	}

	// The sign-in form itself.
	anon := newBrowser(t, srv)
	anon.get("/login")
	p := anon.post("/login", url.Values{"principal": {"admin"}, "password": {testserver.AdminPassword}, "next": {"/\t/evil.com"}})
	check("POST /login next=/<TAB>/evil.com", p.location, "/projects")
}
