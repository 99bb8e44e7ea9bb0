// Package e2e drives a real berth binary the way an operator and CI jobs
// would: through the Harbor-compatible API and real registry clients.
package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/berth-dev/berth/internal/testserver"
)

type client struct {
	t    *testing.T
	base string
}

// call sends a JSON request to the API as user:pass and decodes the answer into out.
func (c *client) call(method, path, user, pass string, body any, out any) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+"/api/v2.0"+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, string(raw)
}

func (c *client) must(want int, method, path, user, pass string, body any, out any) {
	c.t.Helper()
	if got, raw := c.call(method, path, user, pass, body, out); got != want {
		c.t.Fatalf("%s %s as %q: %d, want %d: %s", method, path, user, got, want, raw)
	}
}

// robot is a robot account as its creation answers it.
type robot struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// pushRobot creates, as admin, a robot of project that may push and pull
// its repositories.
func (c *client) pushRobot(project, name string) robot {
	c.t.Helper()
	var r robot
	c.must(201, "POST", "/robots", "admin", testserver.AdminPassword, map[string]any{
		"name": name, "level": "project", "duration": -1,
		"permissions": []map[string]any{{"kind": "project", "namespace": project, "access": []map[string]string{
			{"resource": "repository", "action": "push"}, {"resource": "repository", "action": "pull"}}}},
	}, &r)
	return r
}

// ociCode returns the OCI error code of a registry client error.
func ociCode(err error) string {
	var te *transport.Error
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return string(te.Errors[0].Code)
	}
	return ""
}

// TestProjectLifecycle is the end-to-end story of the API issue: a private
// project with a developer, a guest and a CI robot; pushes and pulls by
// real clients with each identity; making it public; the quota.
func TestProjectLifecycle(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.Start(t, backend)
			c := &client{t: t, base: srv.URL}
			admin, pw := "admin", testserver.AdminPassword

			c.must(201, "POST", "/projects", admin, pw, map[string]any{"project_name": "acme", "public": false}, nil)
			var project struct {
				ProjectID int64 `json:"project_id"`
			}
			c.must(200, "GET", "/projects/acme", admin, pw, nil, &project)

			users := map[string]int{"dana": 2, "gus": 3} // developer, guest
			for u, role := range users {
				c.must(201, "POST", "/users", admin, pw, map[string]any{
					"username": u, "email": u + "@example.com", "realname": u, "password": "Passw0rd-" + u}, nil)
				c.must(201, "POST", "/projects/acme/members", admin, pw, map[string]any{
					"role_id": role, "member_user": map[string]any{"username": u}}, nil)
			}
			robot := c.pushRobot("acme", "ci")
			if robot.Name != "robot$acme+ci" || robot.Secret == "" {
				t.Fatalf("robot: %+v", robot)
			}

			ref, _ := name.ParseReference(srv.Addr+"/acme/app:v1", name.Insecure)
			img, _ := random.Image(2048, 2)
			robotAuth := remote.WithAuth(&authn.Basic{Username: robot.Name, Password: robot.Secret})
			if err := remote.Write(ref, img, robotAuth); err != nil {
				t.Fatalf("robot push: %v", err)
			}
			want, _ := img.Digest()

			guest := remote.WithAuth(&authn.Basic{Username: "gus", Password: "Passw0rd-gus"})
			got, err := remote.Image(ref, guest)
			if err != nil {
				t.Fatalf("guest pull: %v", err)
			}
			if d, _ := got.Digest(); d != want {
				t.Fatalf("guest pulled %s, want %s", d, want)
			}
			other, _ := random.Image(512, 1)
			err = remote.Write(ref, other, guest)
			if code := ociCode(err); code != "DENIED" {
				t.Fatalf("guest push: %v (code %q), want DENIED", err, code)
			}
			dev := remote.WithAuth(&authn.Basic{Username: "dana", Password: "Passw0rd-dana"})
			devRef, _ := name.ParseReference(srv.Addr+"/acme/app:dev", name.Insecure)
			if err := remote.Write(devRef, other, dev); err != nil {
				t.Fatalf("developer push: %v", err)
			}

			_, err = remote.Image(ref)
			if code := ociCode(err); code != "UNAUTHORIZED" {
				t.Fatalf("anonymous pull of a private project: %v (code %q), want UNAUTHORIZED", err, code)
			}
			c.must(200, "PUT", "/projects/acme", admin, pw, map[string]any{"metadata": map[string]string{"public": "true"}}, nil)
			if _, err := remote.Image(ref); err != nil {
				t.Fatalf("anonymous pull after making acme public: %v", err)
			}

			// Quota: a limit below what the next push needs refuses it clearly
			// and stores nothing.
			var quotas []struct {
				ID   int64            `json:"id"`
				Used map[string]int64 `json:"used"`
			}
			c.must(200, "GET", fmt.Sprintf("/quotas?reference=project&reference_id=%d", project.ProjectID), admin, pw, nil, &quotas)
			if len(quotas) != 1 || quotas[0].Used["storage"] <= 0 {
				t.Fatalf("quota: %+v", quotas)
			}
			used := quotas[0].Used["storage"]
			c.must(200, "PUT", fmt.Sprintf("/quotas/%d", quotas[0].ID), admin, pw, map[string]any{"hard": map[string]int64{"storage": used + 1024}}, nil)
			big, _ := random.Image(64<<10, 2)
			bigRef, _ := name.ParseReference(srv.Addr+"/acme/big:v1", name.Insecure)
			err = remote.Write(bigRef, big, robotAuth)
			if code := ociCode(err); code != "DENIED" {
				t.Fatalf("push over quota: %v (code %q), want DENIED", err, code)
			}
			msg := err.Error()
			if !strings.Contains(msg, "acme") || !strings.Contains(strings.ToLower(msg), "limit") {
				t.Errorf("quota error does not name the project and the limit: %s", msg)
			}
			if _, err := remote.Head(bigRef, robotAuth); err == nil {
				t.Errorf("a manifest was stored by the refused push")
			}
			var after []struct {
				Used map[string]int64 `json:"used"`
			}
			c.must(200, "GET", fmt.Sprintf("/quotas?reference=project&reference_id=%d", project.ProjectID), admin, pw, nil, &after)
			if len(after) != 1 || after[0].Used["storage"] > used+1024 {
				t.Errorf("usage after the refused push: %+v (was %d)", after, used)
			}
		})
	}
}
