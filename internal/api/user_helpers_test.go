package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// Passwords used by the user tests. Every response body is searched for
// them (and for password hashes): none may ever come back.
const (
	uPassAlice = "Alice-Pass-1"
	uPassBob   = "Bob-Pass-22"
	uPassNew   = "Brand-New-Pass-3"
	uPassOther = "Other-Pass-44"
)

var uSecrets = []string{testserver.AdminPassword, uPassAlice, uPassBob, uPassNew, uPassOther, "argon2", "$argon2id"}

// uAuth is how a test request authenticates: HTTP Basic, a session cookie
// (with or without the CSRF header), or nothing.
type uAuth struct {
	user, pass string
	sid, csrf  string
	bearer     string // a registry token
	// from is the loopback address the request is sent from (empty: the
	// usual one), so that failed logins a test makes on purpose do not
	// count against the address its other logins come from.
	from string
}

// uFrom is a with its requests sent from loopback address addr.
func uFrom(a uAuth, addr string) uAuth { a.from = addr; return a }

var (
	uClientsMu sync.Mutex
	uClients   = map[string]*http.Client{}
)

// uClient is the HTTP client that sends a's requests.
func uClient(a uAuth) *http.Client {
	if a.from == "" {
		return http.DefaultClient
	}
	uClientsMu.Lock()
	defer uClientsMu.Unlock()
	c := uClients[a.from]
	if c == nil {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(a.from)}, Timeout: 10 * time.Second}
		c = &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		uClients[a.from] = c
	}
	return c
}

var uAnon = uAuth{}

func uBasic(user, pass string) uAuth { return uAuth{user: user, pass: pass} }

func uAdmin() uAuth { return uBasic("admin", testserver.AdminPassword) }

// uResp is a finished response with its body read.
type uResp struct {
	status int
	header http.Header
	body   []byte
}

// code returns the first Harbor error code of the body ("" if none).
func (r uResp) code() string {
	var e struct {
		Errors []struct{ Code, Message string }
	}
	json.Unmarshal(r.body, &e)
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// uDo makes one request. A non-empty body is sent as JSON. The response
// body is checked to hold no password, password hash or secret.
func uDo(t *testing.T, srv *testserver.InProcess, method, path string, a uAuth, body string) uResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	uAuthorize(req, a)
	return uSend(t, req)
}

func uAuthorize(req *http.Request, a uAuth) {
	if a.user != "" {
		req.SetBasicAuth(a.user, a.pass)
	}
	if a.sid != "" {
		req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: a.sid})
	}
	if a.csrf != "" {
		req.Header.Set(api.CSRFHeader, a.csrf)
	}
	if a.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+a.bearer)
	}
}

func uSend(t *testing.T, req *http.Request) uResp {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	uNoSecrets(t, req.Method+" "+req.URL.Path, b)
	return uResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// uNoSecrets fails if body holds a test password, a password hash or a
// field that could carry one.
func uNoSecrets(t *testing.T, what string, body []byte) {
	t.Helper()
	s := string(body)
	for _, secret := range uSecrets {
		if strings.Contains(s, secret) {
			t.Errorf("%s: response contains %q: %s", what, secret, s)
		}
	}
	if k := uSecretKey.FindString(s); k != "" {
		t.Errorf("%s: response has field %s: %s", what, k, s)
	}
}

// uSecretKey matches a JSON key that could carry a credential.
var uSecretKey = regexp.MustCompile(`"[a-z_]*(password|secret|salt|hash|oidc)[a-z_]*"\s*:`)

// uExpect checks status (and error code when want is an error).
func uExpect(t *testing.T, what string, r uResp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	if code != "" && r.code() != code {
		t.Fatalf("%s: error code %q, want %q: %s", what, r.code(), code, r.body)
	}
}

// uJSON decodes r's body into out.
func uJSON(t *testing.T, r uResp, out any) {
	t.Helper()
	if err := json.Unmarshal(r.body, out); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// uMakeUser creates a user directly in the store and returns its ID.
func uMakeUser(t *testing.T, srv *testserver.InProcess, name, pass string, admin bool) int64 {
	t.Helper()
	hash, err := auth.HashPassword(pass)
	if err != nil {
		t.Fatal(err)
	}
	id, err := srv.App.DB.CreateUser(context.Background(), store.User{
		Username: name, Email: name + "@example.com", Realname: "Test " + name, PasswordHash: hash, SysAdmin: admin,
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// uUserCount is the number of users in the store.
func uUserCount(t *testing.T, srv *testserver.InProcess) int64 {
	t.Helper()
	_, n, err := srv.App.DB.ListUsers(context.Background(), &query.Query{}, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// uLogin signs in through POST /c/login and returns the raw response.
func uLogin(t *testing.T, srv *testserver.InProcess, user, pass string) (*http.Response, uResp) {
	t.Helper()
	form := url.Values{"principal": {user}, "password": {pass}}
	req, _ := http.NewRequest("POST", srv.URL+"/c/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	uNoSecrets(t, "POST /c/login", b)
	return resp, uResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// uSession signs in and returns the session (cookie and CSRF token).
func uSession(t *testing.T, srv *testserver.InProcess, user, pass string) uAuth {
	t.Helper()
	resp, r := uLogin(t, srv, user, pass)
	uExpect(t, "login "+user, r, http.StatusOK, "")
	var a uAuth
	for _, c := range resp.Cookies() {
		switch c.Name {
		case api.SessionCookie:
			a.sid = c.Value
		case api.CSRFCookie:
			a.csrf = c.Value
		}
	}
	if a.sid == "" || a.csrf == "" {
		t.Fatalf("login %s: no session or CSRF cookie: %v", user, resp.Header["Set-Cookie"])
	}
	return a
}

// uWaitAudit waits until the audit log has an entry by username for
// operation on resource of resourceType (entries are written asynchronously).
func uWaitAudit(t *testing.T, srv *testserver.InProcess, username, operation, resourceType, resource string) {
	t.Helper()
	q := &query.Query{Conds: []query.Cond{
		{Key: "operation", Value: operation}, {Key: "resource_type", Value: resourceType}, {Key: "resource", Value: resource},
	}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, _, err := srv.App.DB.ListAuditEntries(context.Background(), q, true, nil, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Username == username {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit entry %s %s %s by %q; have %+v", operation, resourceType, resource, username, entries)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
