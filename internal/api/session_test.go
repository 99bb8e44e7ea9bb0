package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/testserver"
)

func TestSessionLogin(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			alice := uMakeUser(t, srv, "alice", uPassAlice, false)

			// Refused sign-ins set no cookie.
			for _, tc := range []struct {
				name, user, pass string
				status           int
			}{
				{"wrong password", "alice", "Wrong-Pass-1", 401},
				{"unknown user", "nobody", uPassAlice, 401},
				{"no password", "alice", "", 400},
				{"no principal", "", uPassAlice, 400},
			} {
				resp, r := uLogin(t, srv, tc.user, tc.pass)
				if r.status != tc.status || len(resp.Cookies()) != 0 {
					t.Errorf("%s: status %d, cookies %v; want %d and none", tc.name, r.status, resp.Cookies(), tc.status)
				}
			}
			uWaitAudit(t, srv, "alice", "login", "user", "alice") // the failed attempt is recorded too

			resp, r := uLogin(t, srv, "alice", uPassAlice)
			uExpect(t, "login", r, http.StatusOK, "")
			var sid, csrf *http.Cookie
			for _, c := range resp.Cookies() {
				switch c.Name {
				case api.SessionCookie:
					sid = c
				case api.CSRFCookie:
					csrf = c
				}
			}
			if sid == nil || !sid.HttpOnly || sid.SameSite == http.SameSiteDefaultMode || sid.SameSite == http.SameSiteNoneMode || sid.Path != "/" {
				t.Fatalf("session cookie: %+v", sid)
			}
			if csrf == nil || csrf.HttpOnly || csrf.SameSite == http.SameSiteDefaultMode || csrf.SameSite == http.SameSiteNoneMode || csrf.Value == "" {
				t.Fatalf("CSRF cookie: %+v", csrf)
			}
			if resp.Header.Get(api.CSRFHeader) != csrf.Value {
				t.Fatalf("CSRF header %q, cookie %q", resp.Header.Get(api.CSRFHeader), csrf.Value)
			}
			if len(sid.Value) < 32 {
				t.Fatalf("session ID too short: %d characters", len(sid.Value))
			}

			sess := uAuth{sid: sid.Value, csrf: csrf.Value}
			noCSRF := uAuth{sid: sid.Value}
			wrongCSRF := uAuth{sid: sid.Value, csrf: csrf.Value + "x"}
			var me api.UserResp
			uJSON(t, uDo(t, srv, "GET", "/api/v2.0/users/current", noCSRF, ""), &me) // reads need no CSRF token
			if me.UserID != alice {
				t.Fatalf("current user over the session: %+v", me)
			}
			path := fmt.Sprintf("/api/v2.0/users/%d", alice)
			profile := `{"email":"alice@example.net","realname":"Alice","comment":"via session"}`
			uExpect(t, "write without CSRF", uDo(t, srv, "PUT", path, noCSRF, profile), 403, "FORBIDDEN")
			uExpect(t, "write with wrong CSRF", uDo(t, srv, "PUT", path, wrongCSRF, profile), 403, "FORBIDDEN")
			uJSON(t, uDo(t, srv, "GET", path, sess, ""), &me)
			if me.Comment == "via session" {
				t.Fatal("a write without the CSRF token changed the profile")
			}
			uExpect(t, "write with CSRF", uDo(t, srv, "PUT", path, sess, profile), 200, "")
			uJSON(t, uDo(t, srv, "GET", path, sess, ""), &me)
			if me.Comment != "via session" {
				t.Fatalf("profile after the write: %+v", me)
			}
			uExpect(t, "unknown session", uDo(t, srv, "GET", "/api/v2.0/users/current", uAuth{sid: "forged"}, ""), 401, "UNAUTHORIZED")

			// Log out: the cookie stops working and is cleared.
			req, _ := http.NewRequest("GET", srv.URL+"/c/log_out", nil)
			uAuthorize(req, noCSRF)
			out, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			out.Body.Close()
			if out.StatusCode != 200 {
				t.Fatalf("log out: %d", out.StatusCode)
			}
			cleared := 0
			for _, c := range out.Cookies() {
				if (c.Name == api.SessionCookie || c.Name == api.CSRFCookie) && c.MaxAge < 0 {
					cleared++
				}
			}
			if cleared != 2 {
				t.Fatalf("log out cleared %d cookies: %v", cleared, out.Header["Set-Cookie"])
			}
			uExpect(t, "after log out", uDo(t, srv, "GET", "/api/v2.0/users/current", noCSRF, ""), 401, "UNAUTHORIZED")
			uExpect(t, "write after log out", uDo(t, srv, "PUT", path, sess, profile), 401, "UNAUTHORIZED")
			uWaitAudit(t, srv, "alice", "logout", "user", "alice")
		})
	}
}

// TestSessionPasswordChange: changing a password ends every session of the
// user and every cached Basic login with the old password.
func TestSessionPasswordChange(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			alice := uMakeUser(t, srv, "alice", uPassAlice, false)
			bob := uMakeUser(t, srv, "bob", uPassBob, false)
			s1, s2 := uSession(t, srv, "alice", uPassAlice), uSession(t, srv, "alice", uPassAlice)
			bobSess := uSession(t, srv, "bob", uPassBob)
			uExpect(t, "basic before", uDo(t, srv, "GET", "/api/v2.0/users/current", uBasic("alice", uPassAlice), ""), 200, "")

			body := fmt.Sprintf(`{"old_password":%q,"new_password":%q}`, uPassAlice, uPassNew)
			uExpect(t, "change over session 1", uDo(t, srv, "PUT", fmt.Sprintf("/api/v2.0/users/%d/password", alice), s1, body), 200, "")
			for i, s := range []uAuth{s1, s2} {
				uExpect(t, fmt.Sprintf("session %d after change", i+1), uDo(t, srv, "GET", "/api/v2.0/users/current", s, ""), 401, "UNAUTHORIZED")
			}
			uExpect(t, "old basic", uDo(t, srv, "GET", "/api/v2.0/users/current", uBasic("alice", uPassAlice), ""), 401, "UNAUTHORIZED")
			uExpect(t, "other user's session", uDo(t, srv, "GET", "/api/v2.0/users/current", bobSess, ""), 200, "")
			uSession(t, srv, "alice", uPassNew)

			// An administrator's reset ends the user's sessions too.
			body = fmt.Sprintf(`{"new_password":%q}`, uPassOther)
			uExpect(t, "admin reset", uDo(t, srv, "PUT", fmt.Sprintf("/api/v2.0/users/%d/password", bob), uAdmin(), body), 200, "")
			uExpect(t, "bob's session after reset", uDo(t, srv, "GET", "/api/v2.0/users/current", bobSess, ""), 401, "UNAUTHORIZED")
		})
	}
}

// TestSessionThrottle: after loginFailLimit (10) failed sign-ins for one
// name, the next attempt is refused with 429 even with the right password
// (and even when that password was verified and cached a moment ago);
// other names are not affected.
func TestSessionThrottle(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			uMakeUser(t, srv, "dave", uPassAlice, false)
			uMakeUser(t, srv, "erin", uPassBob, false)
			uSession(t, srv, "dave", uPassAlice)
			uExpect(t, "basic before", uDo(t, srv, "GET", "/api/v2.0/users/current", uBasic("dave", uPassAlice), ""), 200, "")
			for i := 0; i < 10; i++ {
				_, r := uLogin(t, srv, "dave", fmt.Sprintf("Wrong-Pass-%d", i))
				uExpect(t, fmt.Sprintf("failure %d", i+1), r, http.StatusUnauthorized, "UNAUTHORIZED")
			}
			resp, r := uLogin(t, srv, "dave", uPassAlice)
			uExpect(t, "right password while locked", r, http.StatusTooManyRequests, "TOO_MANY_REQUESTS")
			if len(resp.Cookies()) != 0 {
				t.Fatalf("a refused sign-in set cookies: %v", resp.Cookies())
			}
			uExpect(t, "cached basic while locked", uDo(t, srv, "GET", "/api/v2.0/users/current", uBasic("dave", uPassAlice), ""), 429, "TOO_MANY_REQUESTS")
			uExpect(t, "other user", uDo(t, srv, "GET", "/api/v2.0/users/current", uBasic("erin", uPassBob), ""), 200, "")
			uSession(t, srv, "erin", uPassBob)
		})
	}
}

// TestSessionLoginForm: /c/login takes a form, not JSON, and does not
// accept a robot.
func TestSessionLoginForm(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	robot := uMakeRobot(t, srv, "robot$ci", `[{"kind":"system","namespace":"/","access":[{"resource":"user","action":"list"}]}]`)
	_, r := uLogin(t, srv, robot.user, robot.pass)
	uExpect(t, "robot sign-in", r, http.StatusForbidden, "FORBIDDEN")
	req, _ := http.NewRequest("POST", srv.URL+"/c/login", strings.NewReader(`{"principal":"admin","password":"`+testserver.AdminPassword+`"}`))
	req.Header.Set("Content-Type", "application/json")
	uExpect(t, "JSON body", uSend(t, req), http.StatusBadRequest, "BAD_REQUEST")
	req, _ = http.NewRequest("POST", srv.URL+"/c/login?"+url.Values{"principal": {"admin"}, "password": {testserver.AdminPassword}}.Encode(), nil)
	uExpect(t, "credentials in the URL", uSend(t, req), http.StatusBadRequest, "BAD_REQUEST")
}
