package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testserver"
)

// clientFrom is an HTTP client whose connections come from the loopback
// address ip (127.0.0.0/8 is all loopback on Linux), so one test can act
// as clients at several addresses.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// TestLoginThrottleSurfaces: ten wrong passwords for admin from one
// address lock that address's attempts at admin, and every surface says
// so the same way, 429 with Retry-After (a docker login must hear "too
// many requests", not "wrong credentials"): /v2/, the API, the token
// service and the console's sign-in. Another address signs in as admin
// at once: nobody can lock an account for everyone.
func TestLoginThrottleSurfaces(t *testing.T) {
	srv := testserver.Start(t, "sqlite")
	attacker, other := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	basic := func(c *http.Client, method, path, user, pass string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.SetBasicAuth(user, pass)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i := 0; i < 10; i++ {
		if r := basic(attacker, "GET", "/v2/", "admin", fmt.Sprintf("wrong-%d", i)); r.StatusCode != 401 {
			t.Fatalf("wrong password %d: %d, want 401", i, r.StatusCode)
		}
	}
	pw := testserver.AdminPassword
	throttled := func(what string, r *http.Response) {
		t.Helper()
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if r.StatusCode != http.StatusTooManyRequests || err != nil || secs < 1 || secs > 60 {
			t.Errorf("%s during the lockout: %d, Retry-After %q; want 429 with a wait of 1-60 s", what, r.StatusCode, r.Header.Get("Retry-After"))
		}
	}
	throttled("/v2/ with the right password", basic(attacker, "GET", "/v2/", "admin", pw))
	throttled("a /v2 pull with the right password", basic(attacker, "GET", "/v2/library/none/manifests/latest", "admin", pw))
	throttled("the API with the right password", basic(attacker, "GET", "/api/v2.0/users/current", "admin", pw))
	throttled("the token service with the right password", basic(attacker, "GET", "/service/token?service=berth&scope=repository:library/x:pull", "admin", pw))
	form := url.Values{"principal": {"admin"}, "password": {pw}}
	// The console's forms carry a CSRF token from a cookie set by the page.
	page, err := attacker.Get(srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, ck := range page.Cookies() {
		req.AddCookie(ck)
		if strings.Contains(strings.ToLower(ck.Name), "csrf") {
			form.Set("csrf", ck.Value)
		}
	}
	req.Body = io.NopCloser(strings.NewReader(form.Encode()))
	req.ContentLength = int64(len(form.Encode()))
	resp, err := attacker.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	throttled("the console's sign-in", resp)
	if !strings.Contains(string(body), "too many failed logins") {
		t.Errorf("the console's sign-in page does not say why: %.300s", body)
	}
	// The same name from another address, and another name from this one.
	if r := basic(other, "GET", "/v2/", "admin", pw); r.StatusCode != 200 {
		t.Errorf("admin from another address during the lockout: %d, want 200", r.StatusCode)
	}
	if r := basic(other, "GET", "/api/v2.0/users/current", "admin", pw); r.StatusCode != 200 {
		t.Errorf("admin on the API from another address during the lockout: %d, want 200", r.StatusCode)
	}
}
