package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestLabels covers the label API: who may create, read, change and delete
// global and project labels, every validation error (with nothing written),
// listing by scope, name and page, and the audit records.
func TestLabels(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newArtEnv(t, backend)
			pid := e.project("proj", false)
			pub := e.project("pub", true)
			padmin, padminID := e.user("padmin")
			guest, guestID := e.user("guest")
			outsider, _ := e.user("outsider")
			e.member(pid, padminID, rbac.ProjectAdmin)
			e.member(pid, guestID, rbac.Guest)
			count := func() int64 {
				t.Helper()
				var n int64
				for _, scope := range []struct {
					s  string
					id int64
				}{{"g", 0}, {"p", pid}, {"p", pub}} {
					_, c, err := e.srv.App.DB.ListLabels(context.Background(), scope.s, scope.id, "", &query.Query{}, 0, 1)
					if err != nil {
						t.Fatal(err)
					}
					n += c
				}
				return n
			}
			create := func(u artUser, body string) int64 {
				t.Helper()
				r := e.call("POST", "/api/v2.0/labels", u, body)
				e.expect("create "+body, r, http.StatusCreated, "")
				var id int64
				if _, err := fmt.Sscanf(r.header.Get("Location"), "/api/v2.0/labels/%d", &id); err != nil || id == 0 {
					t.Fatalf("Location %q", r.header.Get("Location"))
				}
				return id
			}
			g1 := create(artAdmin, `{"name":"global-1","description":"everywhere","color":"#00FF00","scope":"g"}`)
			p1 := create(padmin, fmt.Sprintf(`{"name":"prod","color":"#ff0000","scope":"p","project_id":%d}`, pid))
			create(artAdmin, fmt.Sprintf(`{"name":"prod","scope":"p","project_id":%d}`, pub)) // same name, other project
			e.waitAudit("padmin", "create", "label", "prod")
			before := count()

			for _, tc := range []struct {
				what   string
				u      artUser
				body   string
				status int
				code   string
			}{
				{"malformed", artAdmin, `{"name":`, 400, "BAD_REQUEST"},
				{"not an object", artAdmin, `[]`, 400, "BAD_REQUEST"},
				{"wrong type", artAdmin, `{"name":7,"scope":"g"}`, 400, "BAD_REQUEST"},
				{"unknown field", artAdmin, `{"name":"x","scope":"g","level":"user"}`, 400, "BAD_REQUEST"},
				{"oversized", artAdmin, `{"name":"x","scope":"g","description":"` + strings.Repeat("d", 2<<20) + `"}`, 413, ""},
				{"no name", artAdmin, `{"scope":"g"}`, 400, "BAD_REQUEST"},
				{"empty name", artAdmin, `{"name":"","scope":"g"}`, 400, "BAD_REQUEST"},
				{"path characters", artAdmin, `{"name":"a/b","scope":"g"}`, 400, "BAD_REQUEST"},
				{"control characters", artAdmin, `{"name":"a\nb","scope":"g"}`, 400, "BAD_REQUEST"},
				{"spaces around", artAdmin, `{"name":" a","scope":"g"}`, 400, "BAD_REQUEST"},
				{"long name", artAdmin, `{"name":"` + strings.Repeat("n", 129) + `","scope":"g"}`, 400, "BAD_REQUEST"},
				{"long description", artAdmin, `{"name":"x","scope":"g","description":"` + strings.Repeat("d", 9000) + `"}`, 400, "BAD_REQUEST"},
				{"bad colour", artAdmin, `{"name":"x","scope":"g","color":"red"}`, 400, "BAD_REQUEST"},
				{"short colour", artAdmin, `{"name":"x","scope":"g","color":"#FFF"}`, 400, "BAD_REQUEST"},
				{"no scope", artAdmin, `{"name":"x"}`, 400, "BAD_REQUEST"},
				{"bad scope", artAdmin, `{"name":"x","scope":"x"}`, 400, "BAD_REQUEST"},
				{"project label without project", artAdmin, `{"name":"x","scope":"p"}`, 400, "BAD_REQUEST"},
				{"project label of no project", artAdmin, `{"name":"x","scope":"p","project_id":99999}`, 404, "NOT_FOUND"},
				{"duplicate global", artAdmin, `{"name":"global-1","scope":"g"}`, 409, "CONFLICT"},
				{"duplicate in project", padmin, fmt.Sprintf(`{"name":"prod","scope":"p","project_id":%d}`, pid), 409, "CONFLICT"},
				{"global by a user", padmin, `{"name":"x","scope":"g"}`, 403, "FORBIDDEN"},
				{"global anonymously", artUser{}, `{"name":"x","scope":"g"}`, 401, "UNAUTHORIZED"},
				{"project label by a guest", guest, fmt.Sprintf(`{"name":"x","scope":"p","project_id":%d}`, pid), 403, "FORBIDDEN"},
				{"project label by an outsider", outsider, fmt.Sprintf(`{"name":"x","scope":"p","project_id":%d}`, pid), 404, "NOT_FOUND"},
				{"public project label by an outsider", outsider, fmt.Sprintf(`{"name":"x","scope":"p","project_id":%d}`, pub), 403, "FORBIDDEN"},
			} {
				e.expect("create: "+tc.what, e.call("POST", "/api/v2.0/labels", tc.u, tc.body), tc.status, tc.code)
			}
			if n := count(); n != before {
				t.Fatalf("failed creates wrote labels: %d, want %d", n, before)
			}

			// Reading.
			var l api.Label
			e.get(fmt.Sprintf("/api/v2.0/labels/%d", p1), guest, &l)
			if l.ID != p1 || l.Name != "prod" || l.Color != "#ff0000" || l.Scope != "p" || l.ProjectID != pid ||
				!strings.HasSuffix(l.CreationTime, "Z") || l.CreationTime != l.UpdateTime {
				t.Errorf("label = %+v", l)
			}
			e.get(fmt.Sprintf("/api/v2.0/labels/%d", g1), artAdmin, &l)
			if l.Name != "global-1" || l.Description != "everywhere" || l.Scope != "g" || l.ProjectID != 0 {
				t.Errorf("global label = %+v", l)
			}
			for _, tc := range []struct {
				path   string
				u      artUser
				status int
			}{
				{fmt.Sprintf("/api/v2.0/labels/%d", g1), padmin, 403}, // global labels: system label read, as in Harbor
				{fmt.Sprintf("/api/v2.0/labels/%d", p1), outsider, 404},
				{fmt.Sprintf("/api/v2.0/labels/%d", p1), artUser{}, 401},
				{"/api/v2.0/labels/99999", artAdmin, 404},
				{"/api/v2.0/labels/abc", artAdmin, 400},
				{"/api/v2.0/labels", guest, 400},         // no scope
				{"/api/v2.0/labels?scope=x", guest, 400}, // bad scope
				{"/api/v2.0/labels?scope=p", guest, 400}, // no project_id
				{"/api/v2.0/labels?scope=g&q=nokey=1", guest, 400},
				{fmt.Sprintf("/api/v2.0/labels?scope=p&project_id=%d", pid), outsider, 404},
				{fmt.Sprintf("/api/v2.0/labels?scope=p&project_id=%d", pub), artUser{}, 200},
				{"/api/v2.0/labels?scope=p&project_id=99999", guest, 404},
			} {
				e.expect("GET "+tc.path, e.call("GET", tc.path, tc.u, nil), tc.status, "")
			}
			create(artAdmin, `{"name":"global-2","scope":"g"}`)
			create(artAdmin, `{"name":"other","scope":"g"}`)
			for _, tc := range []struct {
				params string
				want   []string
				total  string
			}{
				{"scope=g", []string{"global-1", "global-2", "other"}, "3"},
				{"scope=g&name=GLOBAL", []string{"global-1", "global-2"}, "2"},
				{"scope=g&page=2&page_size=2", []string{"other"}, "3"},
				{"scope=g&sort=-name", []string{"other", "global-2", "global-1"}, "3"},
				{"scope=g&q=name%3Dother", []string{"other"}, "1"},
				{fmt.Sprintf("scope=p&project_id=%d", pid), []string{"prod"}, "1"},
			} {
				var list []api.Label
				r := e.get("/api/v2.0/labels?"+tc.params, guest, &list)
				var names []string
				for _, l := range list {
					names = append(names, l.Name)
				}
				if strings.Join(names, ",") != strings.Join(tc.want, ",") || r.header.Get("X-Total-Count") != tc.total {
					t.Errorf("%s: %v (total %s), want %v (%s)", tc.params, names, r.header.Get("X-Total-Count"), tc.want, tc.total)
				}
			}

			// Updating: name, description and colour; not scope or project.
			p1URL := fmt.Sprintf("/api/v2.0/labels/%d", p1)
			for _, tc := range []struct {
				what   string
				u      artUser
				body   string
				status int
			}{
				{"guest", guest, `{"name":"staging"}`, 403},
				{"outsider", outsider, `{"name":"staging"}`, 404},
				{"bad colour", padmin, `{"name":"staging","color":"#GGGGGG"}`, 400},
				{"no name", padmin, `{"color":"#000000"}`, 400},
				{"move scope", padmin, `{"name":"staging","scope":"g"}`, 400},
				{"move project", padmin, fmt.Sprintf(`{"name":"staging","project_id":%d}`, pub), 400},
				{"unknown field", padmin, `{"name":"staging","deleted":true}`, 400},
				{"project admin", padmin, fmt.Sprintf(`{"name":"staging","description":"pre-prod","color":"#0000FF","scope":"p","project_id":%d}`, pid), 200},
			} {
				e.expect("update: "+tc.what, e.call("PUT", p1URL, tc.u, tc.body), tc.status, "")
			}
			e.get(p1URL, guest, &l)
			if l.Name != "staging" || l.Description != "pre-prod" || l.Color != "#0000FF" || l.Scope != "p" || l.ProjectID != pid {
				t.Errorf("updated label = %+v", l)
			}
			e.waitAudit("padmin", "update", "label", "staging")
			e.expect("rename to an existing name", e.call("PUT", fmt.Sprintf("/api/v2.0/labels/%d", g1), artAdmin, `{"name":"other"}`), 409, "CONFLICT")
			e.expect("update a global label as a user", e.call("PUT", fmt.Sprintf("/api/v2.0/labels/%d", g1), padmin, `{"name":"g"}`), 403, "")

			// Deleting.
			e.expect("guest deletes", e.call("DELETE", p1URL, guest, nil), 403, "")
			e.expect("delete", e.call("DELETE", p1URL, padmin, nil), 200, "")
			e.expect("read deleted", e.call("GET", p1URL, guest, nil), 404, "")
			e.expect("delete again", e.call("DELETE", p1URL, padmin, nil), 404, "")
			e.waitAudit("padmin", "delete", "label", "staging")
		})
	}
}
