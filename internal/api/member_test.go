package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/testserver"
)

// memberEntity is ProjectMemberEntity as the tests read it.
type memberEntity struct {
	ID         int64  `json:"id"`
	ProjectID  int64  `json:"project_id"`
	EntityName string `json:"entity_name"`
	RoleName   string `json:"role_name"`
	RoleID     int64  `json:"role_id"`
	EntityID   int64  `json:"entity_id"`
	EntityType string `json:"entity_type"`
}

// TestMembers covers the five member operations: listing with entityname
// and paging, adding by user ID or name, reading, changing the role and
// removing; Harbor's role matrix (project admins manage members, the other
// roles but limited guests read them, outsiders do not see a private
// project); every validation error, with nothing written; and the audit
// events.
func TestMembers(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newMREnv(t, backend)
			base := "/api/v2.0/projects/team/members"
			byID := fmt.Sprintf("/api/v2.0/projects/%d/members", e.team.ID)
			count := func() int { return e.total(base) }
			before := 5

			listed := func(want ...string) func(t *testing.T, h http.Header, b []byte) {
				return func(t *testing.T, h http.Header, b []byte) {
					var got []memberEntity
					mrDecode(t, b, &got)
					var names []string
					for _, m := range got {
						names = append(names, m.EntityName)
						if m.ProjectID != e.team.ID || m.EntityType != "u" || m.EntityID != e.users[m.EntityName] ||
							m.RoleName != mrRoles[m.EntityName].Name() || m.RoleID != int64(mrRoles[m.EntityName]) || m.ID == 0 {
							t.Errorf("member %+v", m)
						}
					}
					if strings.Join(names, ",") != strings.Join(want, ",") {
						t.Errorf("members %v, want %v", names, want)
					}
				}
			}
			e.run([]mrCase{
				{name: "list as project admin", method: "GET", path: base, as: mrUser("alice"), status: 200,
					check: func(t *testing.T, h http.Header, b []byte) {
						listed("alice", "dave", "gina", "lena", "mike")(t, h, b)
						if h.Get("X-Total-Count") != "5" {
							t.Errorf("X-Total-Count %q", h.Get("X-Total-Count"))
						}
					}},
				{name: "list by project ID", method: "GET", path: byID, as: mrUser("gina"), status: 200, check: listed("alice", "dave", "gina", "lena", "mike")},
				{name: "list as maintainer", method: "GET", path: base, as: mrUser("mike"), status: 200},
				{name: "list as developer", method: "GET", path: base, as: mrUser("dave"), status: 200},
				{name: "list entityname", method: "GET", path: base + "?entityname=I", as: mrUser("gina"), status: 200,
					check: func(t *testing.T, h http.Header, b []byte) {
						listed("alice", "gina", "mike")(t, h, b)
						if h.Get("X-Total-Count") != "3" {
							t.Errorf("X-Total-Count %q, want 3", h.Get("X-Total-Count"))
						}
					}},
				{name: "list entityname with like characters", method: "GET", path: base + "?entityname=%25", as: mrUser("gina"), status: 200, check: listed()},
				{name: "list page 2", method: "GET", path: base + "?page=2&page_size=2", as: mrUser("alice"), status: 200,
					check: func(t *testing.T, h http.Header, b []byte) {
						listed("gina", "lena")(t, h, b)
						link := h.Get("Link")
						if !strings.Contains(link, `rel="prev"`) || !strings.Contains(link, `rel="next"`) || h.Get("X-Total-Count") != "5" {
							t.Errorf("Link %q, X-Total-Count %q", link, h.Get("X-Total-Count"))
						}
					}},
				{name: "list bad page size", method: "GET", path: base + "?page_size=-1", as: mrUser("alice"), status: 400, code: "BAD_REQUEST"},
				{name: "list as limited guest", method: "GET", path: base, as: mrUser("lena"), status: 403, code: "FORBIDDEN"},
				{name: "list as outsider", method: "GET", path: base, as: mrUser("olivia"), status: 404, code: "NOT_FOUND"},
				{name: "list anonymously", method: "GET", path: base, as: mrAnon, status: 401, code: "UNAUTHORIZED"},
				{name: "list unknown project", method: "GET", path: "/api/v2.0/projects/nope/members", as: mrAdmin, status: 404},
				{name: "list public project anonymously", method: "GET", path: "/api/v2.0/projects/library/members", as: mrAnon, status: 401},
				{name: "list public project as non-member", method: "GET", path: "/api/v2.0/projects/library/members", as: mrUser("olivia"), status: 403},
			})
			if n := count(); n != before {
				t.Fatalf("%d members before the writes, want %d", n, before)
			}

			newbie := `{"role_id":2,"member_user":{"username":"newbie"}}`
			// Rows that must write nothing.
			e.run([]mrCase{
				{name: "add as guest", method: "POST", path: base, as: mrUser("gina"), body: newbie, status: 403, code: "FORBIDDEN"},
				{name: "add as maintainer", method: "POST", path: base, as: mrUser("mike"), body: newbie, status: 403},
				{name: "add as developer", method: "POST", path: base, as: mrUser("dave"), body: newbie, status: 403},
				{name: "add as limited guest", method: "POST", path: base, as: mrUser("lena"), body: newbie, status: 403},
				{name: "add as outsider", method: "POST", path: base, as: mrUser("olivia"), body: newbie, status: 404},
				{name: "add anonymously", method: "POST", path: base, as: mrAnon, body: newbie, status: 401},
				{name: "add to unknown project", method: "POST", path: "/api/v2.0/projects/nope/members", as: mrAdmin, body: newbie, status: 404},
				{name: "role 0", method: "POST", path: base, as: mrUser("alice"), body: `{"role_id":0,"member_user":{"username":"newbie"}}`, status: 400, code: "BAD_REQUEST"},
				{name: "role 6", method: "POST", path: base, as: mrUser("alice"), body: `{"role_id":6,"member_user":{"username":"newbie"}}`, status: 400},
				{name: "role missing", method: "POST", path: base, as: mrUser("alice"), body: `{"member_user":{"username":"newbie"}}`, status: 400},
				{name: "role as string", method: "POST", path: base, as: mrUser("alice"), body: `{"role_id":"2","member_user":{"username":"newbie"}}`, status: 400},
				{name: "no member", method: "POST", path: base, as: mrUser("alice"), body: `{"role_id":2}`, status: 400},
				{name: "empty member", method: "POST", path: base, as: mrUser("alice"), body: `{"role_id":2,"member_user":{}}`, status: 400},
				{name: "negative user id", method: "POST", path: base, as: mrUser("alice"), body: `{"role_id":2,"member_user":{"user_id":-3}}`, status: 400},
				{name: "unknown user name", method: "POST", path: base, as: mrUser("alice"), body: `{"role_id":2,"member_user":{"username":"ghost"}}`, status: 400},
				{name: "unknown user id", method: "POST", path: base, as: mrUser("alice"), body: `{"role_id":2,"member_user":{"user_id":99999}}`, status: 400},
				{name: "user id and other name", method: "POST", path: base, as: mrUser("alice"),
					body: fmt.Sprintf(`{"role_id":2,"member_user":{"user_id":%d,"username":"olivia"}}`, e.users["newbie"]), status: 400},
				{name: "group", method: "POST", path: base, as: mrUser("alice"), body: `{"role_id":2,"member_group":{"group_name":"devs","group_type":3}}`, status: 400,
					check: func(t *testing.T, h http.Header, b []byte) {
						if !strings.Contains(string(b), "groups are not supported yet") {
							t.Errorf("body %s", b)
						}
					}},
				{name: "malformed JSON", method: "POST", path: base, as: mrUser("alice"), body: `{"role_id":2,`, status: 400},
				{name: "unknown field", method: "POST", path: base, as: mrUser("alice"), body: `{"role_id":2,"member_user":{"username":"newbie"},"role_name":"developer"}`, status: 400},
				{name: "unknown nested field", method: "POST", path: base, as: mrUser("alice"), body: `{"role_id":2,"member_user":{"username":"newbie","email":"x"}}`, status: 400},
				{name: "two objects", method: "POST", path: base, as: mrUser("alice"), body: newbie + newbie, status: 400},
				{name: "not JSON", method: "POST", path: base, as: mrUser("alice"), body: `role_id=2`, status: 400},
				{name: "oversized", method: "POST", path: base, as: mrUser("alice"), body: mrBigBody(), status: 413},
			})
			if n := count(); n != before {
				t.Fatalf("%d members after refused writes, want %d", n, before)
			}

			// newbie cannot see the private project until added.
			if status, _, _ := e.do("GET", base, mrUser("newbie"), ""); status != 404 {
				t.Fatalf("non-member sees the project: %d", status)
			}
			var location string
			e.run([]mrCase{
				{name: "add by name", method: "POST", path: base, as: mrUser("alice"), body: newbie, status: 201,
					check: func(t *testing.T, h http.Header, b []byte) {
						location = h.Get("Location")
						if !strings.HasPrefix(location, base+"/") {
							t.Errorf("Location %q", location)
						}
					}},
				{name: "add again", method: "POST", path: base, as: mrUser("alice"), body: fmt.Sprintf(`{"role_id":3,"member_user":{"user_id":%d}}`, e.users["newbie"]), status: 409, code: "CONFLICT"},
				{name: "add existing member by name", method: "POST", path: base, as: mrUser("alice"), body: `{"role_id":3,"member_user":{"username":"gina"}}`, status: 409},
				{name: "add by ID to other project as admin", method: "POST", path: fmt.Sprintf("/api/v2.0/projects/%d/members", e.other.ID), as: mrAdmin,
					body: fmt.Sprintf(`{"role_id":4,"member_user":{"user_id":%d}}`, e.users["olivia"]), status: 201},
			})
			if n := count(); n != before+1 {
				t.Fatalf("%d members after adding newbie, want %d", n, before+1)
			}
			e.wantEvent(event.Event{Operator: "alice", Operation: "create", ResourceType: "member", Resource: "newbie", ProjectID: e.team.ID, Success: true})
			e.wantEvent(event.Event{Operator: "alice", Operation: "create", ResourceType: "member", Resource: "gina", ProjectID: e.team.ID, Success: false})
			e.wantEvent(event.Event{Operator: "admin", Operation: "create", ResourceType: "member", Resource: "olivia", ProjectID: e.other.ID, Success: true})

			mid := location[strings.LastIndex(location, "/")+1:]
			one := base + "/" + mid
			var otherMember memberEntity
			{
				_, _, b := e.do("GET", fmt.Sprintf("/api/v2.0/projects/%d/members", e.other.ID), mrAdmin, "")
				var ms []memberEntity
				mrDecode(t, b, &ms)
				if len(ms) != 1 {
					t.Fatalf("other project members %s", b)
				}
				otherMember = ms[0]
			}
			member := func(role string, id int64) func(t *testing.T, h http.Header, b []byte) {
				return func(t *testing.T, h http.Header, b []byte) {
					var m memberEntity
					mrDecode(t, b, &m)
					want := memberEntity{ID: m.ID, ProjectID: e.team.ID, EntityName: "newbie", RoleName: role, RoleID: id, EntityID: e.users["newbie"], EntityType: "u"}
					if m != want || fmt.Sprint(m.ID) != mid {
						t.Errorf("member %+v, want %+v (id %s)", m, want, mid)
					}
				}
			}
			e.run([]mrCase{
				{name: "new member sees the project", method: "GET", path: base, as: mrUser("newbie"), status: 200},
				{name: "get", method: "GET", path: one, as: mrUser("gina"), status: 200, check: member("developer", 2)},
				{name: "get by project ID", method: "GET", path: fmt.Sprintf("%s/%s", byID, mid), as: mrUser("alice"), status: 200, check: member("developer", 2)},
				{name: "get as limited guest", method: "GET", path: one, as: mrUser("lena"), status: 403},
				{name: "get as outsider", method: "GET", path: one, as: mrUser("olivia"), status: 404},
				{name: "get anonymously", method: "GET", path: one, as: mrAnon, status: 401},
				{name: "get unknown", method: "GET", path: base + "/999999", as: mrUser("alice"), status: 404},
				{name: "get bad id", method: "GET", path: base + "/abc", as: mrUser("alice"), status: 400},
				{name: "get zero id", method: "GET", path: base + "/0", as: mrUser("alice"), status: 400},
				{name: "get member of another project", method: "GET", path: fmt.Sprintf("%s/%d", base, otherMember.ID), as: mrAdmin, status: 404},

				{name: "update as guest", method: "PUT", path: one, as: mrUser("gina"), body: `{"role_id":1}`, status: 403},
				{name: "update as maintainer", method: "PUT", path: one, as: mrUser("mike"), body: `{"role_id":1}`, status: 403},
				{name: "update self to admin as new member", method: "PUT", path: one, as: mrUser("newbie"), body: `{"role_id":1}`, status: 403},
				{name: "update as outsider", method: "PUT", path: one, as: mrUser("olivia"), body: `{"role_id":1}`, status: 404},
				{name: "update anonymously", method: "PUT", path: one, as: mrAnon, body: `{"role_id":1}`, status: 401},
				{name: "update bad role", method: "PUT", path: one, as: mrUser("alice"), body: `{"role_id":7}`, status: 400},
				{name: "update no role", method: "PUT", path: one, as: mrUser("alice"), body: `{}`, status: 400},
				{name: "update unknown field", method: "PUT", path: one, as: mrUser("alice"), body: `{"role_id":4,"role_name":"maintainer"}`, status: 400},
				{name: "update malformed", method: "PUT", path: one, as: mrUser("alice"), body: `{"role_id":`, status: 400},
				{name: "update empty body", method: "PUT", path: one, as: mrUser("alice"), status: 400},
				{name: "update unknown member", method: "PUT", path: base + "/999999", as: mrUser("alice"), body: `{"role_id":4}`, status: 404},
				{name: "update member of another project", method: "PUT", path: fmt.Sprintf("%s/%d", base, otherMember.ID), as: mrUser("alice"), body: `{"role_id":1}`, status: 404},
				{name: "unchanged after refusals", method: "GET", path: one, as: mrUser("alice"), status: 200, check: member("developer", 2)},
				{name: "update", method: "PUT", path: one, as: mrUser("alice"), body: `{"role_id":4}`, status: 200},
				{name: "updated", method: "GET", path: one, as: mrUser("alice"), status: 200, check: member("maintainer", 4)},
				{name: "update to limited guest", method: "PUT", path: one, as: mrUser("alice"), body: `{"role_id":5}`, status: 200},
				{name: "limited guest", method: "GET", path: one, as: mrUser("alice"), status: 200, check: member("limitedGuest", 5)},
				{name: "limited guest cannot list members", method: "GET", path: base, as: mrUser("newbie"), status: 403},

				{name: "delete as guest", method: "DELETE", path: one, as: mrUser("gina"), status: 403},
				{name: "delete as maintainer", method: "DELETE", path: one, as: mrUser("mike"), status: 403},
				{name: "delete as outsider", method: "DELETE", path: one, as: mrUser("olivia"), status: 404},
				{name: "delete anonymously", method: "DELETE", path: one, as: mrAnon, status: 401},
				{name: "delete member of another project", method: "DELETE", path: fmt.Sprintf("%s/%d", base, otherMember.ID), as: mrUser("alice"), status: 404},
				{name: "delete bad id", method: "DELETE", path: base + "/-1", as: mrUser("alice"), status: 400},
				{name: "delete", method: "DELETE", path: one, as: mrUser("alice"), status: 200},
				{name: "deleted", method: "GET", path: one, as: mrUser("alice"), status: 404},
				{name: "delete again", method: "DELETE", path: one, as: mrUser("alice"), status: 404},
				{name: "removed member no longer sees the project", method: "GET", path: base, as: mrUser("newbie"), status: 404},
				{name: "other project keeps its member", method: "GET", path: fmt.Sprintf("/api/v2.0/projects/other/members/%d", otherMember.ID), as: mrUser("olivia"), status: 200},
			})
			if n := count(); n != before {
				t.Fatalf("%d members after the delete, want %d", n, before)
			}
			e.wantEvent(event.Event{Operator: "alice", Operation: "update", ResourceType: "member", Resource: "newbie", ProjectID: e.team.ID, Success: true})
			e.wantEvent(event.Event{Operator: "alice", Operation: "delete", ResourceType: "member", Resource: "newbie", ProjectID: e.team.ID, Success: true})
		})
	}
}
