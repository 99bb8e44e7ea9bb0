package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// auditCall makes one request as user:pass ("" for anonymous) and decodes the JSON answer into out.
func auditCall(t *testing.T, srv *testserver.InProcess, method, path, user, pass string, body []byte, ctype string, out any) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	return resp
}

// pushTiny pushes a one-layer image to repo:tag over /v2 as admin.
func pushTiny(t *testing.T, srv *testserver.InProcess, repo, tag string) {
	t.Helper()
	blob := func(b []byte) string {
		sum := sha256.Sum256(b)
		d := "sha256:" + hex.EncodeToString(sum[:])
		resp := auditCall(t, srv, "POST", "/v2/"+repo+"/blobs/uploads/?digest="+d, "admin", testserver.AdminPassword, b, "application/octet-stream", nil)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("blob push: %d", resp.StatusCode)
		}
		return d
	}
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	layer := []byte("layer of " + repo + tag)
	cd, ld := blob(cfg), blob(layer)
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`, cd, len(cfg), ld, len(layer))
	resp := auditCall(t, srv, "PUT", "/v2/"+repo+"/manifests/"+tag, "admin", testserver.AdminPassword, []byte(m), "application/vnd.oci.image.manifest.v1+json", nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("manifest push: %d", resp.StatusCode)
	}
}

func TestAuditLog(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			ctx := context.Background()
			db := srv.App.DB
			hash, _ := auth.HashPassword("Alice-Pass-1")
			aliceID, err := db.CreateUser(ctx, store.User{Username: "alice", PasswordHash: hash})
			if err != nil {
				t.Fatal(err)
			}
			hash, _ = auth.HashPassword("Bob-Pass-1")
			bobID, _ := db.CreateUser(ctx, store.User{Username: "bob", PasswordHash: hash})
			teamID, err := db.CreateProject(ctx, store.Project{Name: "team"})
			if err != nil {
				t.Fatal(err)
			}
			db.AddMember(ctx, store.Member{ProjectID: teamID, EntityType: store.EntityUser, EntityID: aliceID, Role: int(rbac.ProjectAdmin)})
			db.AddMember(ctx, store.Member{ProjectID: teamID, EntityType: store.EntityUser, EntityID: bobID, Role: int(rbac.Developer)})

			pushTiny(t, srv, "library/app", "v1")
			pushTiny(t, srv, "team/svc", "v1")
			auditCall(t, srv, "GET", "/v2/library/app/manifests/v1", "", "", nil, "", nil)
			auditCall(t, srv, "DELETE", "/v2/team/svc/manifests/v1", "admin", testserver.AdminPassword, nil, "", nil)
			auditCall(t, srv, "PUT", "/api/v2.0/configurations", "admin", testserver.AdminPassword, []byte(`{"banner_message":"hi"}`), "application/json", nil)

			// Audit records are written by the event bus subscriber: wait for them.
			var all []map[string]any
			deadline := time.Now().Add(10 * time.Second)
			for {
				all = nil
				resp := auditCall(t, srv, "GET", "/api/v2.0/auditlog-exts?page_size=100", "admin", testserver.AdminPassword, nil, "", &all)
				if resp.StatusCode != 200 {
					t.Fatalf("list: %d", resp.StatusCode)
				}
				if len(all) >= 5 || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			want := map[string]bool{
				"create artifact library/app:v1": false, "create artifact team/svc:v1": false,
				"pull artifact library/app:v1": false, "delete tag team/svc:v1": false,
				"update configuration configurations": false,
			}
			for _, e := range all {
				k := fmt.Sprintf("%s %s %s", e["operation"], e["resource_type"], e["resource"])
				if _, ok := want[k]; ok {
					want[k] = true
				}
				if e["op_time"] == "" || e["username"] == "" {
					t.Errorf("entry without time or operator: %v", e)
				}
			}
			for k, seen := range want {
				if !seen {
					t.Errorf("audit log lacks %q; have %v", k, all)
				}
			}

			// q filters, paging headers.
			var pulls []map[string]any
			resp := auditCall(t, srv, "GET", "/api/v2.0/audit-logs?q=operation=pull,resource=~library&page_size=1", "admin", testserver.AdminPassword, nil, "", &pulls)
			if resp.StatusCode != 200 || len(pulls) != 1 || pulls[0]["username"] != "anonymous" || resp.Header.Get("X-Total-Count") != "1" {
				t.Errorf("filtered list: %d %v total %s", resp.StatusCode, pulls, resp.Header.Get("X-Total-Count"))
			}
			if resp := auditCall(t, srv, "GET", "/api/v2.0/audit-logs?q=nosuchkey=1", "admin", testserver.AdminPassword, nil, "", nil); resp.StatusCode != 400 {
				t.Errorf("unknown q key: %d, want 400", resp.StatusCode)
			}

			// A project admin sees their project's log; a developer does not; anonymous is refused.
			var teamLog []map[string]any
			if resp := auditCall(t, srv, "GET", "/api/v2.0/projects/team/logs", "alice", "Alice-Pass-1", nil, "", &teamLog); resp.StatusCode != 200 || len(teamLog) < 2 {
				t.Errorf("project admin reads project log: %d %v", resp.StatusCode, teamLog)
			}
			for _, e := range teamLog {
				if !strings.HasPrefix(fmt.Sprint(e["resource"]), "team/") {
					t.Errorf("project log shows another project's entry: %v", e)
				}
			}
			if resp := auditCall(t, srv, "GET", "/api/v2.0/projects/team/logs", "bob", "Bob-Pass-1", nil, "", nil); resp.StatusCode != 403 {
				t.Errorf("developer reads project log: %d, want 403", resp.StatusCode)
			}
			var mine []map[string]any
			auditCall(t, srv, "GET", "/api/v2.0/audit-logs", "alice", "Alice-Pass-1", nil, "", &mine)
			for _, e := range mine {
				if !strings.HasPrefix(fmt.Sprint(e["resource"]), "team/") {
					t.Errorf("system-wide list for a project admin shows %v", e)
				}
			}
			if resp := auditCall(t, srv, "GET", "/api/v2.0/audit-logs", "", "", nil, "", nil); resp.StatusCode != 401 {
				t.Errorf("anonymous list: %d, want 401", resp.StatusCode)
			}
			var types []map[string]string
			if resp := auditCall(t, srv, "GET", "/api/v2.0/auditlog-exts/events", "admin", testserver.AdminPassword, nil, "", &types); resp.StatusCode != 200 || len(types) == 0 {
				t.Errorf("event types: %d %v", resp.StatusCode, types)
			}
		})
	}
}
