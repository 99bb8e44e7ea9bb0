package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testserver"
)

// freshness is how soon a change made through one process must be in
// force on another sharing its database (docs/settings.md).
const freshness = time.Second

// converge polls ok until it holds and returns how long that took from
// since. It fails the test if that is more than freshness, but keeps
// polling (up to 10 s) so the failure names the real latency.
func converge(t *testing.T, what string, since time.Time, ok func() bool) time.Duration {
	t.Helper()
	for !ok() {
		if time.Since(since) > 10*time.Second {
			t.Fatalf("%s: not in force on the other process after 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	d := time.Since(since)
	if d > freshness {
		t.Errorf("%s: in force on the other process after %v, want within %v", what, d, freshness)
	}
	t.Logf("%s: in force on the other process after %v", what, d.Round(time.Millisecond))
	return d
}

// status sends method to url with Basic user:pass (or Bearer token when
// user is empty and pass is set) through c and returns the status.
func status(t *testing.T, c *http.Client, method, url, user, pass string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	switch {
	case user != "":
		req.SetBasicAuth(user, pass)
	case pass != "":
		req.Header.Set("Authorization", "Bearer "+pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// registryToken asks srv's token service for a pull token as user:pass.
func registryToken(t *testing.T, srv, user, pass string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", srv+"/service/token?service=berth&scope="+url.QueryEscape("repository:library/app:pull"), nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.Token == "" {
		t.Fatalf("token for %s: %d %v", user, resp.StatusCode, err)
	}
	return out.Token
}

// TestReplicasConverge starts two real berth serve processes on one
// database (and one blob directory) and makes changes through the first,
// A: each is in force on the second, B, within a second, measured by
// polling B. Read-only mode refuses B's pushes (and turned off through B,
// A's refuse no more); a changed password fails the old one on B, with
// Basic and with a token B issued before; a deleted user is refused on B,
// Basic and token; a robot disabled, given a new secret, and deleted
// through A is refused on B; and wrong passwords spread over A and B lock
// the name on both. On PostgreSQL the change travels by NOTIFY, on SQLite
// (two processes on one file) by the polled version row.
func TestReplicasConverge(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) { replicasConverge(t, backend) })
	}
}

func replicasConverge(t *testing.T, backend string) {
	a := testserver.Start(t, backend)
	b := testserver.StartBeside(t, a)
	api := &client{t: t, base: a.URL}
	apiB := &client{t: t, base: b.URL}
	admin, pw := "admin", testserver.AdminPassword
	hc := http.DefaultClient
	upload := "/v2/library/app/blobs/uploads/"

	// Read-only mode.
	if got := status(t, hc, "POST", b.URL+upload, admin, pw); got != http.StatusAccepted {
		t.Fatalf("upload on B before read-only: %d", got)
	}
	api.must(200, "PUT", "/configurations", admin, pw, map[string]any{"read_only": true}, nil)
	converge(t, "read_only set through A refuses a push on B", time.Now(), func() bool {
		return status(t, hc, "POST", b.URL+upload, admin, pw) == http.StatusForbidden
	})
	apiB.must(200, "PUT", "/configurations", admin, pw, map[string]any{"read_only": false}, nil)
	converge(t, "read_only cleared through B lets A take a push", time.Now(), func() bool {
		return status(t, hc, "POST", a.URL+upload, admin, pw) == http.StatusAccepted
	})
	// A setting every process reads: the token lifetime.
	api.must(200, "PUT", "/configurations", admin, pw, map[string]any{"token_expiration": 7}, nil)
	converge(t, "token_expiration set through A sets B's token lifetime", time.Now(), func() bool {
		return tokenExpiresIn(t, b.URL, admin, pw) == 7*60
	})

	// A password change.
	newUser := func(name string) int64 {
		api.must(201, "POST", "/users", admin, pw, map[string]any{"username": name, "email": name + "@example.com",
			"realname": name, "password": "Old-Passw0rd"}, nil)
		var users []struct {
			UserID   int64  `json:"user_id"`
			Username string `json:"username"`
		}
		api.must(200, "GET", "/users?q=username%3D"+name, admin, pw, nil, &users)
		if len(users) != 1 {
			t.Fatalf("user %s: %+v", name, users)
		}
		return users[0].UserID
	}
	bob := newUser("bob")
	if got := status(t, hc, "GET", b.URL+"/api/v2.0/users/current", "bob", "Old-Passw0rd"); got != 200 {
		t.Fatalf("bob on B: %d", got)
	}
	bobToken := registryToken(t, b.URL, "bob", "Old-Passw0rd")
	if got := status(t, hc, "GET", b.URL+"/v2/", "", bobToken); got != 200 {
		t.Fatalf("bob's token on B: %d", got)
	}
	api.must(200, "PUT", fmt.Sprintf("/users/%d/password", bob), admin, pw, map[string]any{"new_password": "New-Passw0rd"}, nil)
	since := time.Now()
	converge(t, "a password changed through A fails the old one on B", since, func() bool {
		return status(t, hc, "GET", b.URL+"/api/v2.0/users/current", "bob", "Old-Passw0rd") == 401
	})
	converge(t, "a password changed through A fails B's token issued for the old one", since, func() bool {
		return status(t, hc, "GET", b.URL+"/v2/", "", bobToken) == 401
	})
	if got := status(t, hc, "GET", b.URL+"/api/v2.0/users/current", "bob", "New-Passw0rd"); got != 200 {
		t.Errorf("the new password on B: %d", got)
	}

	// A user deleted.
	dave := newUser("dave")
	if got := status(t, hc, "GET", b.URL+"/v2/", "dave", "Old-Passw0rd"); got != 200 {
		t.Fatalf("dave on B: %d", got)
	}
	daveToken := registryToken(t, b.URL, "dave", "Old-Passw0rd")
	api.must(200, "DELETE", fmt.Sprintf("/users/%d", dave), admin, pw, nil, nil)
	since = time.Now()
	converge(t, "a user deleted through A is refused on B (Basic)", since, func() bool {
		return status(t, hc, "GET", b.URL+"/v2/", "dave", "Old-Passw0rd") == 401
	})
	converge(t, "a user deleted through A is refused on B (token)", since, func() bool {
		return status(t, hc, "GET", b.URL+"/v2/", "", daveToken) == 401
	})

	// A robot disabled, refreshed and deleted.
	r := api.pushRobot("library", "ci")
	if got := status(t, hc, "GET", b.URL+"/v2/", r.Name, r.Secret); got != 200 {
		t.Fatalf("robot on B: %d", got)
	}
	robotToken := registryToken(t, b.URL, r.Name, r.Secret)
	var body map[string]any
	api.must(200, "GET", fmt.Sprintf("/robots/%d", r.ID), admin, pw, nil, &body)
	body["disable"] = true
	api.must(200, "PUT", fmt.Sprintf("/robots/%d", r.ID), admin, pw, body, nil)
	since = time.Now()
	converge(t, "a robot disabled through A is refused on B (Basic)", since, func() bool {
		return status(t, hc, "GET", b.URL+"/v2/", r.Name, r.Secret) == 401
	})
	converge(t, "a robot disabled through A is refused on B (token)", since, func() bool {
		return status(t, hc, "GET", b.URL+"/v2/", "", robotToken) == 401
	})
	body["disable"] = false
	api.must(200, "PUT", fmt.Sprintf("/robots/%d", r.ID), admin, pw, body, nil)
	converge(t, "a robot enabled again through A is taken on B", time.Now(), func() bool {
		return status(t, hc, "GET", b.URL+"/v2/", r.Name, r.Secret) == 200
	})
	var sec struct{ Secret string }
	api.must(200, "PATCH", fmt.Sprintf("/robots/%d", r.ID), admin, pw, map[string]any{}, &sec)
	converge(t, "a robot secret refreshed through A fails the old one on B", time.Now(), func() bool {
		return status(t, hc, "GET", b.URL+"/v2/", r.Name, r.Secret) == 401
	})
	if got := status(t, hc, "GET", b.URL+"/v2/", r.Name, sec.Secret); got != 200 {
		t.Errorf("the new robot secret on B: %d", got)
	}
	api.must(200, "DELETE", fmt.Sprintf("/robots/%d", r.ID), admin, pw, nil, nil)
	converge(t, "a robot deleted through A is refused on B", time.Now(), func() bool {
		return status(t, hc, "GET", b.URL+"/v2/", r.Name, sec.Secret) == 401
	})

	// Login throttling across the two: wrong passwords for carol from one
	// address, five through A and five through B, lock the name on both.
	newUser("carol")
	guesser := clientFrom("127.0.0.3")
	current := "/api/v2.0/users/current"
	for i := 0; i < 5; i++ {
		if got := status(t, guesser, "GET", a.URL+current, "carol", fmt.Sprintf("wrong-%d", i)); got != 401 {
			t.Fatalf("wrong password %d on A: %d", i, got)
		}
	}
	for i := 5; i < 10; i++ {
		if got := status(t, guesser, "GET", b.URL+current, "carol", fmt.Sprintf("wrong-%d", i)); got != 401 {
			t.Fatalf("wrong password %d on B: %d (the attempts through A were not counted)", i, got)
		}
	}
	since = time.Now()
	if got := status(t, guesser, "GET", b.URL+current, "carol", "Old-Passw0rd"); got != http.StatusTooManyRequests {
		t.Errorf("carol on B after ten wrong passwords over A and B: %d, want 429", got)
	}
	converge(t, "ten wrong passwords over A and B lock the name on A", since, func() bool {
		return status(t, guesser, "GET", a.URL+current, "carol", "Old-Passw0rd") == http.StatusTooManyRequests
	})
	// Only that address and name: carol signs in from elsewhere.
	if got := status(t, clientFrom("127.0.0.4"), "GET", a.URL+current, "carol", "Old-Passw0rd"); got != 200 {
		t.Errorf("carol from another address: %d, want 200", got)
	}
}

// tokenExpiresIn asks srv's token service for a token and returns its
// expires_in.
func tokenExpiresIn(t *testing.T, srv, user, pass string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", srv+"/service/token?service=berth", nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ExpiresIn int `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.ExpiresIn
}
