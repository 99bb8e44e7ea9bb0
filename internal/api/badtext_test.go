package api_test

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testserver"
)

// TestBadTextRefused sends NUL characters and invalid UTF-8 in JSON bodies
// (top-level and nested fields), query parameters, path values, the
// sign-in form, /v2 query parameters and console forms and queries, on
// both databases: every request answers 400 in its protocol's error format
// (never 500, as PostgreSQL's refusal did, and never stored, as SQLite
// did), and nothing is written.
func TestBadTextRefused(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			newFixture(t, srv)
			var db *sql.DB
			var err error
			if backend == "sqlite" {
				db, err = sql.Open("sqlite", "file:"+filepath.Join(srv.App.Config().DataDir, "berth.db")+"?mode=ro")
			} else {
				db, err = sql.Open("pgx", srv.App.Config().Database)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			b := &consoleClient{t: t, srv: srv}
			b.login() // a session row, before the fingerprint
			before := fingerprint(t, db)

			send := func(method, path, ctype string, body []byte) (int, []byte) {
				t.Helper()
				var rd io.Reader
				if body != nil {
					rd = strings.NewReader(string(body))
				}
				req, err := http.NewRequest(method, srv.URL+path, rd)
				if err != nil {
					t.Fatal(err)
				}
				if ctype != "" {
					req.Header.Set("Content-Type", ctype)
				}
				req.SetBasicAuth("admin", testserver.AdminPassword)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, b
			}
			expect := func(what string, status int, body []byte, code string) {
				t.Helper()
				var e struct {
					Errors []struct{ Code, Message string } `json:"errors"`
				}
				json.Unmarshal(body, &e)
				if status != http.StatusBadRequest || len(e.Errors) != 1 || e.Errors[0].Code != code || e.Errors[0].Message == "" {
					t.Errorf("%s: %d %.300s, want 400 %s", what, status, body, code)
				}
			}

			// JSON bodies: %s is where the bad string goes.
			bad := map[string]string{"NUL escape": `"a\u0000b"`, "lone NUL": `"\u0000"`, "invalid UTF-8": "\"a\xffb\"", "truncated UTF-8": "\"\xe2\x82\""}
			hook := `{"name":"nulhook","description":%s,"enabled":true,"event_types":["PUSH_ARTIFACT"],"targets":[{"type":"http","address":"http://127.0.0.1:9/x"}]}`
			writes := []struct{ method, path, body string }{
				{"PUT", "/projects/fixture/repositories/app", `{"description":%s}`},
				{"POST", "/users", `{"username":"nuluser","email":"nul@example.com","realname":%s,"password":"Fixture-Pass-1"}`},
				{"POST", "/users", `{"username":"nuluser","email":"nul@example.com","realname":"N","password":"Fixture-Pass-1","comment":%s}`},
				{"POST", "/labels", `{"name":"nullabel","color":"#112233","scope":"g","description":%s}`},
				{"POST", "/labels", `{"name":%s,"color":"#112233","scope":"g"}`},
				{"POST", "/projects/fixture/members", `{"role_id":2,"member_user":{"username":%s}}`},
				{"POST", "/projects", `{"project_name":"nulproject","metadata":{"public":"false","prevent_vul":%s}}`},
				{"POST", "/robots", `{"name":"nulbot","description":%s,"level":"project","duration":-1,"permissions":[{"kind":"project","namespace":"fixture","access":[{"resource":"repository","action":"pull"}]}]}`},
				{"POST", "/robots", `{"name":"nulbot","level":"project","duration":-1,"permissions":[{"kind":"project","namespace":%s,"access":[{"resource":"repository","action":"pull"}]}]}`},
				{"POST", "/projects/fixture/webhook/policies", hook},
				{"PUT", "/configurations", `{"banner_message":%s}`},
			}
			for _, w := range writes {
				for name, v := range bad {
					st, body := send(w.method, "/api/v2.0"+w.path, "application/json", []byte(strings.Replace(w.body, "%s", v, 1)))
					expect(w.method+" "+w.path+" "+w.body+" with "+name, st, body, "BAD_REQUEST")
				}
			}

			// Query parameters and path values of the API.
			for _, v := range []string{"a%00b", "a%ffb", "%c3"} {
				for _, p := range []string{
					"/users/search?username=" + v, "/users?username=" + v, "/users?q=username%3D~" + v,
					"/projects?name=" + v, "/repositories?q=name%3D~" + v, "/projects/" + v, "/projects/" + v + "/summary",
					"/projects/fixture/repositories/" + v, "/projects/fixture/repositories/" + strings.ReplaceAll(v, "%", "%25") + "/artifacts",
					"/labels?scope=g&name=" + v, "/search?q=" + v, "/audit-logs?q=operation%3D" + v,
					"/projects/fixture/members?entityname=" + v, "/projects?" + v + "=1",
				} {
					st, body := send("GET", "/api/v2.0"+p, "", nil)
					expect("GET "+p, st, body, "BAD_REQUEST")
				}
				st, body := send("DELETE", "/api/v2.0/projects/"+v, "", nil)
				expect("DELETE /projects/"+v, st, body, "BAD_REQUEST")

				// Basic credentials whose user name is not text.
				for _, prefix := range []string{"/api/v2.0/users/current", "/v2/fixture/app/tags/list", "/service/token?scope=repository:fixture/app:pull"} {
					user, _ := url.PathUnescape(v)
					req, _ := http.NewRequest("GET", srv.URL+prefix, nil)
					req.SetBasicAuth(user, "whatever")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					code := "BAD_REQUEST"
					switch {
					case strings.HasPrefix(prefix, "/v2"):
						code = "NAME_INVALID"
					case strings.HasPrefix(prefix, "/service"):
						code = "UNSUPPORTED"
					}
					expect("GET "+prefix+" as "+v, resp.StatusCode, b, code)
				}

				// The sign-in form.
				req, _ := http.NewRequest("POST", srv.URL+"/c/login", strings.NewReader("principal="+v+"&password=x"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				expect("POST /c/login principal="+v, resp.StatusCode, b, "BAD_REQUEST")

				// /v2.
				for _, p := range []string{
					"/_catalog?last=" + v, "/_catalog?n=10&last=" + v, "/fixture/app/tags/list?last=" + v,
					"/fixture/app/referrers/sha256:" + strings.Repeat("a", 64) + "?artifactType=" + v,
					"/fixture/app/manifests/v1?" + v + "=1", "/fixture/" + v + "/manifests/v1",
				} {
					st, body := send("GET", "/v2"+p, "", nil)
					expect("GET /v2"+p, st, body, "NAME_INVALID")
				}
			}

			// The console: a query of a listing and a form.
			for _, v := range []string{"a\x00b", "a\xffb"} {
				if st := b.get("/projects?q=" + url.QueryEscape(v)); st != http.StatusBadRequest {
					t.Errorf("console GET /projects?q=%q: %d, want 400", v, st)
				}
				if st := b.post("/projects/fixture/repositories/app/-/description", url.Values{"description": {v}}); st != http.StatusBadRequest {
					t.Errorf("console description %q: %d, want 400", v, st)
				}
				if st := b.post("/projects", url.Values{"project_name": {"nulproject"}, "x" + v: {"1"}}); st != http.StatusBadRequest {
					t.Errorf("console form field named %q: %d, want 400", v, st)
				}
			}

			if after := fingerprint(t, db); after != before {
				t.Fatalf("bad text changed stored state:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// consoleClient is a browser of the web console: cookies kept, redirects
// not followed, the CSRF field added to forms.
type consoleClient struct {
	t   *testing.T
	srv *testserver.InProcess
	c   *http.Client
}

func (b *consoleClient) cookie(name string) string {
	u, _ := url.Parse(b.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *consoleClient) do(req *http.Request) int {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (b *consoleClient) get(path string) int {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.srv.URL+path, nil)
	return b.do(req)
}

func (b *consoleClient) post(path string, form url.Values) int {
	b.t.Helper()
	tok := b.cookie("__csrf")
	if tok == "" || b.cookie("sid") == "" {
		tok = b.cookie("berth_csrf")
	}
	form.Set("csrf", tok)
	req, _ := http.NewRequest("POST", b.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *consoleClient) login() {
	b.t.Helper()
	jar, _ := cookiejar.New(nil)
	b.c = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	b.get("/login")
	if st := b.post("/login", url.Values{"principal": {"admin"}, "password": {testserver.AdminPassword}}); st != http.StatusSeeOther || b.cookie("sid") == "" {
		b.t.Fatalf("console login: %d", st)
	}
}
