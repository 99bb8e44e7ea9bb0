package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/testserver"
)

// TestNoSecretsInLogs runs a server at debug level through what handles
// secrets: a user created with a password, failed and successful logins,
// a robot created, used to push and its secret refreshed, registry tokens
// issued and used; then requires that no password, robot secret or token
// appears in the server's log (at debug level it logs its start and its
// failures, not each request), and no password hash or secret in the
// API's answers, the audit log's included, but the robot secret's creation
// and refresh.
func TestNoSecretsInLogs(t *testing.T) {
	srv := testserver.Start(t, "sqlite", "--log-level", "debug")
	c := &client{t: t, base: srv.URL}
	admin, pw := "admin", testserver.AdminPassword
	const userPW = "Sup3r-Secret-Passw0rd"
	var bodies []string
	record := func(code int, body string) { bodies = append(bodies, body) }

	record(c.call("POST", "/users", admin, pw, map[string]any{"username": "sam", "email": "sam@example.com", "realname": "Sam", "password": userPW}, nil))
	record(c.call("GET", "/users/current", "sam", "Wrong-Passw0rd-9", nil, nil))
	record(c.call("GET", "/users/current", "sam", userPW, nil, nil))
	record(c.call("GET", "/users?page_size=100", admin, pw, nil, nil))
	robot := c.pushRobot("library", "logs")
	ref, _ := name.ParseReference(srv.Addr+"/library/logs:v1", name.Insecure)
	img, _ := random.Image(1024, 1)
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: robot.Name, Password: robot.Secret})); err != nil {
		t.Fatalf("robot push: %v", err)
	}
	var fresh struct {
		Secret string `json:"secret"`
	}
	c.must(200, "PATCH", "/robots/"+jsonID(robot.ID), admin, pw, map[string]any{}, &fresh)
	if fresh.Secret == "" || fresh.Secret == robot.Secret {
		t.Fatalf("refreshed secret %q", fresh.Secret)
	}
	record(c.call("GET", "/robots?page_size=100", admin, pw, nil, nil))
	record(c.call("GET", "/robots/"+jsonID(robot.ID), admin, pw, nil, nil))

	// A registry token, issued and used.
	req, _ := http.NewRequest("GET", srv.URL+"/service/token?service=berth&scope=repository:library/logs:pull", nil)
	req.SetBasicAuth("sam", userPW)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.Token == "" {
		t.Fatal("no token")
	}
	req, _ = http.NewRequest("GET", srv.URL+"/v2/library/logs/manifests/v1", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	// The audit log records the logins, the pushes and the robot's changes.
	record(c.call("GET", "/audit-logs?page_size=100", admin, pw, nil, nil))
	record(c.call("GET", "/auditlog-exts?page_size=100", admin, pw, nil, nil))

	srv.Stop()
	raw, err := os.ReadFile(srv.Log)
	if err != nil {
		t.Fatal(err)
	}
	log := string(raw)
	if !strings.Contains(log, "berth serving") {
		t.Fatalf("not the server's log:\n%s", log)
	}
	for what, secret := range map[string]string{
		"admin password": pw, "user password": userPW, "wrong password": "Wrong-Passw0rd-9",
		"robot secret": robot.Secret, "refreshed robot secret": fresh.Secret, "registry token": tok.Token,
	} {
		if strings.Contains(log, secret) {
			t.Errorf("the log holds the %s", what)
		}
	}
	for _, b := range bodies {
		for _, s := range []string{userPW, robot.Secret, fresh.Secret, "$argon2", "password_hash"} {
			if strings.Contains(b, s) {
				t.Errorf("an API answer holds a secret (%.12s…): %.200s", s, b)
			}
		}
	}
}

func jsonID(id int64) string { b, _ := json.Marshal(id); return string(b) }
