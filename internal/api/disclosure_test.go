package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testserver"
)

// TestHiddenProjectsLookMissing: to a signed-in user who holds nothing in
// a private project, and to an anonymous caller, every answer about the
// project (by ID or by name, through the API's project, label and robot
// endpoints and through /v2) is the answer for a missing project with the
// caller's own reference in it: same status, code, message shape and
// challenge, and the project's stored name never appears. A member with
// some rights still gets 403 for what it may not do.
func TestHiddenProjectsLookMissing(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			admin := func(method, path string, body any, out any) {
				t.Helper()
				b, _ := json.Marshal(body)
				if body == nil {
					b = nil
				}
				resp := auditCall(t, srv, method, "/api/v2.0"+path, "admin", testserver.AdminPassword, b, "application/json", out)
				if resp.StatusCode >= 300 {
					t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
				}
			}
			admin("POST", "/projects", map[string]any{"project_name": "secretproj", "public": false}, nil)
			admin("POST", "/projects", map[string]any{"project_name": "guestproj", "public": false}, nil)
			var p struct {
				ID int64 `json:"project_id"`
			}
			admin("GET", "/projects/secretproj", nil, &p)
			pushTiny(t, srv, "secretproj/app", "v1")
			pushTiny(t, srv, "guestproj/app", "v1")
			admin("POST", "/labels", map[string]any{"name": "secretlabel", "color": "#112233", "scope": "p", "project_id": p.ID}, nil)
			var labels []struct {
				ID int64 `json:"id"`
			}
			admin("GET", fmt.Sprintf("/labels?scope=p&project_id=%d", p.ID), nil, &labels)
			var robot struct {
				ID int64 `json:"id"`
			}
			admin("POST", "/robots", map[string]any{"name": "secretbot", "level": "project", "duration": -1, "permissions": []map[string]any{
				{"kind": "project", "namespace": "secretproj", "access": []map[string]string{{"resource": "repository", "action": "pull"}}}}}, &robot)
			uMakeUser(t, srv, "bob", uPassBob, false)
			admin("POST", "/projects/guestproj/members", map[string]any{"role_id": 3, "member_user": map[string]any{"username": "bob"}}, nil)
			if len(labels) != 1 || robot.ID == 0 {
				t.Fatalf("fixture: labels %v robot %v", labels, robot)
			}
			missingID := p.ID + 1000

			type answer struct {
				status    int
				challenge string
				body      string
			}
			call := func(method, path, user, pass string) answer {
				t.Helper()
				req, _ := http.NewRequest(method, srv.URL+path, nil)
				if user != "" {
					req.SetBasicAuth(user, pass)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return answer{resp.StatusCode, resp.Header.Get("Www-Authenticate"), string(b)}
			}
			// same checks that the hidden resource (named hiddenRef in its
			// path) is answered as the missing one (missingRef).
			same := func(who, method, hiddenPath, missingPath, hiddenRef, missingRef, user, pass string) {
				t.Helper()
				h, m := call(method, hiddenPath, user, pass), call(method, missingPath, user, pass)
				norm := func(a answer, ref string) answer {
					a.body = strings.ReplaceAll(a.body, ref, "REF")
					a.challenge = strings.ReplaceAll(a.challenge, ref, "REF")
					return a
				}
				if h.status < 400 {
					t.Errorf("%s %s %s: %d, want an error", who, method, hiddenPath, h.status)
				}
				if norm(h, hiddenRef) != norm(m, missingRef) {
					t.Errorf("%s %s: hidden and missing differ:\n%s: %d %q %s\n%s: %d %q %s", who, method,
						hiddenPath, h.status, h.challenge, h.body, missingPath, m.status, m.challenge, m.body)
				}
				if !strings.Contains(hiddenPath, "secret") && strings.Contains(h.body, "secret") {
					t.Errorf("%s %s %s: answer names the hidden resource: %s", who, method, hiddenPath, h.body)
				}
			}
			id, mid := fmt.Sprint(p.ID), fmt.Sprint(missingID)
			for _, who := range []struct{ name, user, pass string }{{"bob", "bob", uPassBob}} {
				for _, suffix := range []string{"", "/summary", "/members", "/repositories", "/repositories/app/artifacts", "/webhook/policies", "/immutabletagrules", "/metadatas"} {
					same(who.name, "GET", "/api/v2.0/projects/"+id+suffix, "/api/v2.0/projects/"+mid+suffix, id, mid, who.user, who.pass)
					same(who.name, "GET", "/api/v2.0/projects/secretproj"+suffix, "/api/v2.0/projects/nosuchproj"+suffix, "secretproj", "nosuchproj", who.user, who.pass)
				}
				same(who.name, "DELETE", "/api/v2.0/projects/"+id, "/api/v2.0/projects/"+mid, id, mid, who.user, who.pass)
				lid, lmid := fmt.Sprint(labels[0].ID), fmt.Sprint(labels[0].ID+1000)
				same(who.name, "GET", "/api/v2.0/labels/"+lid, "/api/v2.0/labels/"+lmid, lid, lmid, who.user, who.pass)
				same(who.name, "GET", "/api/v2.0/labels?scope=p&project_id="+id, "/api/v2.0/labels?scope=p&project_id="+mid, id, mid, who.user, who.pass)
				rid, rmid := fmt.Sprint(robot.ID), fmt.Sprint(robot.ID+1000)
				same(who.name, "GET", "/api/v2.0/robots/"+rid, "/api/v2.0/robots/"+rmid, rid, rmid, who.user, who.pass)
				same(who.name, "GET", "/api/v2.0/robots?q=Level%3Dproject,ProjectID%3D"+id, "/api/v2.0/robots?q=Level%3Dproject,ProjectID%3D"+mid, id, mid, who.user, who.pass)
			}
			// /v2, signed in and anonymous.
			for _, who := range []struct{ name, user, pass string }{{"bob", "bob", uPassBob}, {"anonymous", "", ""}} {
				for _, q := range []struct{ method, path string }{
					{"GET", "/manifests/v1"}, {"HEAD", "/manifests/v1"}, {"GET", "/tags/list"}, {"POST", "/blobs/uploads/"},
					{"DELETE", "/manifests/v1"}, {"GET", "/blobs/sha256:" + strings.Repeat("0", 64)},
				} {
					same(who.name, q.method, "/v2/secretproj/app"+q.path, "/v2/nosuchproj/app"+q.path, "secretproj", "nosuchproj", who.user, who.pass)
				}
			}
			// A guest of guestproj sees it: pushing there is 403 DENIED, not hidden.
			if a := call("POST", "/v2/guestproj/app/blobs/uploads/", "bob", uPassBob); a.status != http.StatusForbidden || !strings.Contains(a.body, "DENIED") {
				t.Errorf("guest push: %d %s, want 403 DENIED", a.status, a.body)
			}
			if a := call("DELETE", "/api/v2.0/projects/guestproj", "bob", uPassBob); a.status != http.StatusForbidden {
				t.Errorf("guest deletes the project: %d %s, want 403", a.status, a.body)
			}
		})
	}
}
