package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/testserver"
)

// pjCase is one request and what it must answer.
type pjCase struct {
	name   string
	method string
	path   string
	who    pjAs
	body   any
	status int
	code   string // Harbor error code, "" to skip
}

func (e *pjEnv) run(cases []pjCase) {
	e.t.Helper()
	for _, c := range cases {
		r := e.do(c.method, c.path, c.who, c.body)
		if r.status != c.status || (c.code != "" && r.code() != c.code) {
			e.t.Errorf("%s: %s %s as %q: got %d %s, want %d %s\n%s", c.name, c.method, c.path, c.who,
				r.status, r.code(), c.status, c.code, r.body)
		}
	}
}

func TestProjectCreate(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPJEnv(t, backend)
			id := e.create("alice", `{"project_name":"priv","metadata":{"auto_scan":"1","severity":"HIGH"},"cve_allowlist":{"items":[{"cve_id":"CVE-2019-1"}]}}`)
			const P = "/api/v2.0/projects"
			e.run([]pjCase{
				{"duplicate", "POST", P, "bob", `{"project_name":"priv"}`, 409, "CONFLICT"},
				{"anonymous", "POST", P, "", `{"project_name":"anon"}`, 401, "UNAUTHORIZED"},
				{"upper case", "POST", P, "alice", `{"project_name":"Bad"}`, 400, "BAD_REQUEST"},
				{"slash", "POST", P, "alice", `{"project_name":"a/b"}`, 400, "BAD_REQUEST"},
				{"dot dot", "POST", P, "alice", `{"project_name":"a..b"}`, 400, "BAD_REQUEST"},
				{"leading dash", "POST", P, "alice", `{"project_name":"-a"}`, 400, "BAD_REQUEST"},
				{"percent", "POST", P, "alice", `{"project_name":"a%2fb"}`, 400, "BAD_REQUEST"},
				{"empty name", "POST", P, "alice", `{"project_name":""}`, 400, "BAD_REQUEST"},
				{"too long", "POST", P, "alice", `{"project_name":"` + strings.Repeat("a", 256) + `"}`, 400, "BAD_REQUEST"},
				{"malformed", "POST", P, "alice", `{"project_name":`, 400, "BAD_REQUEST"},
				{"empty body", "POST", P, "alice", ``, 400, "BAD_REQUEST"},
				{"unknown field", "POST", P, "alice", `{"project_name":"x1","owner":"bob"}`, 400, "BAD_REQUEST"},
				{"unknown metadata", "POST", P, "alice", `{"project_name":"x2","metadata":{"colour":"red"}}`, 400, "BAD_REQUEST"},
				{"wrong type", "POST", P, "alice", `{"project_name":"x3","public":"yes"}`, 400, "BAD_REQUEST"},
				{"metadata not string", "POST", P, "alice", `{"project_name":"x4","metadata":{"public":true}}`, 400, "BAD_REQUEST"},
				{"bad public", "POST", P, "alice", `{"project_name":"x5","metadata":{"public":"maybe"}}`, 400, "BAD_REQUEST"},
				{"bad severity", "POST", P, "alice", `{"project_name":"x6","metadata":{"severity":"extreme"}}`, 400, "BAD_REQUEST"},
				{"retention id", "POST", P, "alice", `{"project_name":"x7","metadata":{"retention_id":"3"}}`, 400, "BAD_REQUEST"},
				{"proxy cache", "POST", P, "admin", `{"project_name":"x8","registry_id":1}`, 400, "BAD_REQUEST"},
				{"bad limit", "POST", P, "admin", `{"project_name":"x9","storage_limit":-2}`, 400, "BAD_REQUEST"},
				{"oversized", "POST", P, "alice", `{"project_name":"x10","metadata":{"severity":"` + strings.Repeat("x", 1<<20) + `"}}`, 413, ""},
			})
			for _, bad := range []string{"Bad", "a", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "anon"} {
				e.want("nothing created: "+bad, e.do("HEAD", P+"?project_name="+bad, "admin", nil), 404, "")
			}

			// The creator is the owner and the project's administrator.
			p := e.project("alice", strconv.FormatInt(id, 10))
			if p.Name != "priv" || p.OwnerName != "alice" || p.OwnerID != e.ids["alice"] || p.CurrentUserRoleID != 1 ||
				!slices.Equal(p.CurrentUserRoleIDs, []int{1}) || !p.Togglable || p.RepoCount != 0 {
				t.Errorf("created project: %+v", p)
			}
			wantMeta := map[string]string{"public": "false", "auto_scan": "true", "severity": "high"}
			if fmt.Sprint(p.Metadata) != fmt.Sprint(wantMeta) {
				t.Errorf("metadata %v, want %v", p.Metadata, wantMeta)
			}
			if p.CVEAllowlist == nil || p.CVEAllowlist.Items == nil {
				t.Errorf("cve_allowlist missing")
			}
			if _, err := time.Parse(time.RFC3339, p.CreationTime); err != nil {
				t.Errorf("creation_time %q: %v", p.CreationTime, err)
			}
			// By name, with X-Is-Resource-Name for a numeric-looking name.
			if got := e.project("alice", "priv"); got.ProjectID != id {
				t.Errorf("by name: %+v", got)
			}
			num := e.create("admin", `{"project_name":"123","public":true}`)
			r := e.do("GET", "/api/v2.0/projects/123", "admin", nil, "X-Is-Resource-Name: true")
			var byName pjProject
			e.json("numeric name", r, &byName)
			if byName.ProjectID != num || byName.Metadata["public"] != "true" {
				t.Errorf("X-Is-Resource-Name: %+v", byName)
			}
			// X-Resource-Name-In-Location.
			r = e.do("POST", P, "alice", `{"project_name":"named"}`, "X-Resource-Name-In-Location: true")
			if r.status != 201 || r.header.Get("Location") != "/api/v2.0/projects/named" {
				t.Errorf("name in location: %d %q", r.status, r.header.Get("Location"))
			}
		})
	}
}

func TestProjectCreationRestriction(t *testing.T) {
	e := newPJEnv(t, "sqlite")
	cfg := e.srv.App.Settings.Get()
	cfg.ProjectCreationRestriction = "adminonly"
	e.srv.App.Settings.Set(cfg)
	creator := e.robot("creator", "system", 0, `[{"kind":"system","namespace":"/","access":[{"resource":"project","action":"create"}]}]`)
	lister := e.robot("lister", "system", 0, `[{"kind":"system","namespace":"/","access":[{"resource":"project","action":"list"}]}]`)
	e.run([]pjCase{
		{"user in adminonly", "POST", "/api/v2.0/projects", "alice", `{"project_name":"a1"}`, 403, "FORBIDDEN"},
		{"robot without project:create", "POST", "/api/v2.0/projects", lister, `{"project_name":"a2"}`, 403, "FORBIDDEN"},
		{"admin", "POST", "/api/v2.0/projects", "admin", `{"project_name":"a3"}`, 201, ""},
		{"system robot with project:create", "POST", "/api/v2.0/projects", creator, `{"project_name":"a4"}`, 201, ""},
	})
	// A robot's project belongs to the first administrator.
	if p := e.project("admin", "a4"); p.OwnerName != "admin" {
		t.Errorf("robot-created project owned by %q", p.OwnerName)
	}
	cfg.ProjectCreationRestriction = "everyone"
	e.srv.App.Settings.Set(cfg)
	e.want("everyone again", e.do("POST", "/api/v2.0/projects", "alice", `{"project_name":"a5"}`), 201, "")
	// A system robot listing projects sees them all, like an administrator.
	e.create("alice", `{"project_name":"hidden"}`)
	if names := e.names(e.do("GET", "/api/v2.0/projects?page_size=100", lister, nil)); !slices.Contains(names, "hidden") {
		t.Errorf("system robot with project:list sees %v", names)
	}
}

func TestProjectAccess(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPJEnv(t, backend)
			id := e.create("alice", `{"project_name":"priv"}`)
			e.member(id, "bob", rbac.Guest)
			e.member(id, "dave", rbac.Maintainer)
			ref := "/api/v2.0/projects/" + strconv.FormatInt(id, 10)
			e.run([]pjCase{
				{"guest reads", "GET", ref, "bob", nil, 200, ""},
				{"guest summary", "GET", ref + "/summary", "bob", nil, 200, ""},
				{"guest updates", "PUT", ref, "bob", `{"metadata":{"public":"true"}}`, 403, "FORBIDDEN"},
				{"guest deletes", "DELETE", ref, "bob", nil, 403, "FORBIDDEN"},
				{"guest deletable", "GET", ref + "/_deletable", "bob", nil, 403, "FORBIDDEN"},
				{"maintainer updates", "PUT", ref, "dave", `{"metadata":{"auto_scan":"true"}}`, 403, "FORBIDDEN"},
				{"non-member reads", "GET", ref, "carol", nil, 404, "NOT_FOUND"},
				{"non-member by name", "GET", "/api/v2.0/projects/priv", "carol", nil, 404, "NOT_FOUND"},
				{"non-member updates", "PUT", ref, "carol", `{}`, 404, "NOT_FOUND"},
				{"non-member deletes", "DELETE", ref, "carol", nil, 404, "NOT_FOUND"},
				{"non-member summary", "GET", ref + "/summary", "carol", nil, 404, "NOT_FOUND"},
				{"anonymous private", "GET", ref, "", nil, 401, "UNAUTHORIZED"},
				{"anonymous public", "GET", "/api/v2.0/projects/library", "", nil, 200, ""},
				{"anonymous public summary", "GET", "/api/v2.0/projects/library/summary", "", nil, 200, ""},
				{"anonymous updates public", "PUT", "/api/v2.0/projects/library", "", `{}`, 401, "UNAUTHORIZED"},
				{"user updates public", "PUT", "/api/v2.0/projects/library", "carol", `{"metadata":{"public":"false"}}`, 403, "FORBIDDEN"},
				{"missing", "GET", "/api/v2.0/projects/999999", "admin", nil, 404, "NOT_FOUND"},
				{"missing by name", "GET", "/api/v2.0/projects/nope", "alice", nil, 404, "NOT_FOUND"},
				{"head exists", "HEAD", "/api/v2.0/projects?project_name=priv", "carol", nil, 200, ""},
				{"head anonymous private", "HEAD", "/api/v2.0/projects?project_name=priv", "", nil, 401, ""},
				{"head anonymous public", "HEAD", "/api/v2.0/projects?project_name=library", "", nil, 200, ""},
				{"head missing", "HEAD", "/api/v2.0/projects?project_name=nope", "alice", nil, 404, ""},
				{"head no name", "HEAD", "/api/v2.0/projects", "alice", nil, 400, ""},
			})
			var guest pjProject
			e.json("guest view", e.do("GET", ref, "bob", nil), &guest)
			if guest.CurrentUserRoleID != int(rbac.Guest) || guest.Togglable {
				t.Errorf("guest sees role %d togglable %v", guest.CurrentUserRoleID, guest.Togglable)
			}
			if p := e.project("admin", "library"); !p.Togglable || p.Metadata["public"] != "true" {
				t.Errorf("admin's library: %+v", p)
			}
		})
	}
}

func TestProjectUpdate(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPJEnv(t, backend)
			id := e.create("alice", `{"project_name":"proj","metadata":{"auto_scan":"true"}}`)
			ref := "/api/v2.0/projects/" + strconv.FormatInt(id, 10)
			before := e.project("alice", "proj")
			e.run([]pjCase{
				{"rename", "PUT", ref, "alice", `{"project_name":"other"}`, 400, "BAD_REQUEST"},
				{"registry", "PUT", ref, "alice", `{"registry_id":3}`, 400, "BAD_REQUEST"},
				{"bad value", "PUT", ref, "alice", `{"metadata":{"prevent_vul":"sometimes"}}`, 400, "BAD_REQUEST"},
				{"unknown key", "PUT", ref, "alice", `{"metadata":{"flavour":"x"}}`, 400, "BAD_REQUEST"},
				{"retention", "PUT", ref, "alice", `{"metadata":{"retention_id":"7"}}`, 400, "BAD_REQUEST"},
				{"malformed", "PUT", ref, "alice", `{"metadata":`, 400, "BAD_REQUEST"},
				{"unknown field", "PUT", ref, "alice", `{"deleted":true}`, 400, "BAD_REQUEST"},
			})
			if p := e.project("alice", "proj"); fmt.Sprint(p.Metadata) != fmt.Sprint(before.Metadata) || p.UpdateTime != before.UpdateTime {
				t.Fatalf("a refused update changed the project: %+v", p)
			}
			e.want("anonymous cannot see it", e.do("GET", ref, "", nil), 401, "")
			blob := pjRandom(16)
			e.want("blob", e.pushBlob("proj/app", blob), 201, "")
			e.want("anonymous pull from private", e.do("GET", "/v2/proj/app/blobs/"+pjDigest(blob), "", nil), 401, "")

			// metadata.public makes it public (projects.public and the metadata agree).
			e.want("publish", e.do("PUT", ref, "alice", `{"project_name":"proj","metadata":{"public":"true","prevent_vul":"true","severity":"Critical","auto_scan":""}}`), 200, "")
			p := e.project("", "proj")
			want := map[string]string{"public": "true", "prevent_vul": "true", "severity": "critical"}
			if fmt.Sprint(p.Metadata) != fmt.Sprint(want) {
				t.Errorf("metadata after update %v, want %v (auto_scan removed)", p.Metadata, want)
			}
			if names := e.names(e.do("GET", "/api/v2.0/projects?public=true&page_size=100", "", nil)); !slices.Contains(names, "proj") {
				t.Errorf("public listing %v lacks proj", names)
			}
			// The registry sees the change at once.
			e.want("anonymous pull from public", e.do("GET", "/v2/proj/app/blobs/"+pjDigest(blob), "", nil), 200, "")
			// The deprecated top-level public works too.
			e.want("unpublish", e.do("PUT", ref, "alice", `{"public":false}`), 200, "")
			e.want("private again", e.do("GET", ref, "", nil), 401, "")
			e.want("anonymous pull again", e.do("GET", "/v2/proj/app/blobs/"+pjDigest(blob), "", nil), 401, "")
			if p := e.project("alice", "proj"); p.Metadata["public"] != "false" || p.Metadata["prevent_vul"] != "true" {
				t.Errorf("after unpublish: %v", p.Metadata)
			}
		})
	}
}

func TestProjectDelete(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPJEnv(t, backend)
			full := e.create("alice", `{"project_name":"full"}`)
			empty := e.create("alice", `{"project_name":"empty","metadata":{"auto_scan":"true"}}`)
			e.member(empty, "bob", rbac.Developer)
			cfg, layer := []byte(`{"os":"linux"}`), pjRandom(32)
			e.want("blob", e.pushBlob("full/app", cfg), 201, "")
			e.want("layer", e.pushBlob("full/app", layer), 201, "")
			e.want("manifest", e.pushManifest("full/app", "v1", pjManifest(cfg, layer)), 201, "")
			// A blob without any repository does not keep a project alive.
			e.want("loose blob", e.pushBlob("empty/app", pjRandom(8)), 201, "")

			fullRef := fmt.Sprintf("/api/v2.0/projects/%d", full)
			var d api.ProjectDeletable
			e.json("deletable full", e.do("GET", fullRef+"/_deletable", "alice", nil), &d)
			if d.Deletable || !strings.Contains(d.Message, "repositories") {
				t.Errorf("deletable of a project with repositories: %+v", d)
			}
			e.want("delete with repositories", e.do("DELETE", fullRef, "alice", nil), 412, "PRECONDITION")
			e.want("still there", e.do("GET", fullRef, "alice", nil), 200, "")

			emptyRef := fmt.Sprintf("/api/v2.0/projects/%d", empty)
			d = api.ProjectDeletable{}
			e.json("deletable empty", e.do("GET", emptyRef+"/_deletable", "alice", nil), &d)
			if !d.Deletable || d.Message != "" {
				t.Errorf("deletable of an empty project: %+v", d)
			}
			e.want("developer deletes", e.do("DELETE", emptyRef, "bob", nil), 403, "FORBIDDEN")
			e.want("delete", e.do("DELETE", emptyRef, "alice", nil), 200, "")
			e.want("gone", e.do("GET", emptyRef, "admin", nil), 404, "NOT_FOUND")
			e.want("gone twice", e.do("DELETE", emptyRef, "admin", nil), 404, "NOT_FOUND")
			e.want("quota gone", e.do("GET", fmt.Sprintf("/api/v2.0/quotas/%d", empty), "admin", nil), 404, "NOT_FOUND")
			if r := e.pushBlob("empty/app", pjRandom(8)); r.status != 404 || r.code() != "NAME_UNKNOWN" {
				t.Errorf("push into the deleted project: %d %s", r.status, r.body)
			}
			// The name is free again.
			e.create("carol", `{"project_name":"empty"}`)
		})
	}
}

func TestProjectSummary(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPJEnv(t, backend)
			id := e.create("admin", `{"project_name":"sum","storage_limit":1048576}`)
			e.member(id, "alice", rbac.ProjectAdmin)
			e.member(id, "bob", rbac.Guest)
			e.member(id, "carol", rbac.Guest)
			e.member(id, "dave", rbac.LimitedGuest)
			cfg, layer := []byte(`{"os":"linux"}`), pjRandom(100)
			e.pushBlob("sum/a", cfg)
			e.pushBlob("sum/a", layer)
			e.want("manifest a", e.pushManifest("sum/a", "v1", pjManifest(cfg, layer)), 201, "")
			e.want("manifest b", e.pushManifest("sum/b", "v1", pjManifest(cfg, layer)), 201, "")

			var s api.ProjectSummary
			e.json("summary", e.do("GET", "/api/v2.0/projects/sum/summary", "bob", nil), &s)
			want := api.ProjectSummary{RepoCount: 2, ProjectAdminCount: 2, GuestCount: 2, LimitedGuestCount: 1,
				Quota: &api.ProjectSummaryQuota{Hard: api.ResourceList{"storage": 1048576}, Used: api.ResourceList{"storage": int64(len(cfg) + len(layer))}}}
			if s.Quota == nil || fmt.Sprint(*s.Quota) != fmt.Sprint(*want.Quota) || fmt.Sprint(s.RepoCount, s.ProjectAdminCount, s.MaintainerCount,
				s.DeveloperCount, s.GuestCount, s.LimitedGuestCount) != fmt.Sprint(want.RepoCount, want.ProjectAdminCount, want.MaintainerCount,
				want.DeveloperCount, want.GuestCount, want.LimitedGuestCount) {
				t.Errorf("summary %+v %+v, want %+v %+v", s, s.Quota, want, want.Quota)
			}
			// A limited guest may not list members: no counts, but the quota.
			var ls api.ProjectSummary
			e.json("limited guest summary", e.do("GET", "/api/v2.0/projects/sum/summary", "dave", nil), &ls)
			if ls.RepoCount != 2 || ls.ProjectAdminCount != 0 || ls.Quota == nil {
				t.Errorf("limited guest summary %+v", ls)
			}
			if p := e.project("bob", "sum"); p.RepoCount != 2 {
				t.Errorf("repo_count %d", p.RepoCount)
			}

		})
	}
}

func TestProjectList(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPJEnv(t, backend)
			// library (public, oldest) exists already.
			for _, c := range []struct {
				who, body string
			}{
				{"alice", `{"project_name":"lib-a","public":true}`},
				{"alice", `{"project_name":"lib-b"}`},
				{"bob", `{"project_name":"other-c","metadata":{"public":"true"}}`},
				{"bob", `{"project_name":"mylib-d"}`},
				{"carol", `{"project_name":"carols"}`},
			} {
				e.create(c.who, c.body)
				time.Sleep(5 * time.Millisecond) // distinct creation times
			}
			e.member(e.project("bob", "mylib-d").ProjectID, "dave", rbac.Developer)
			list := func(who, query string) []string {
				return e.names(e.do("GET", "/api/v2.0/projects?"+query, who, nil))
			}
			for _, c := range []struct {
				who, query string
				want       []string
			}{
				{"admin", "", []string{"carols", "mylib-d", "other-c", "lib-b", "lib-a", "library"}},
				{"admin", "sort=-creation_time", []string{"carols", "mylib-d", "other-c", "lib-b", "lib-a", "library"}},
				{"admin", "sort=name", []string{"carols", "lib-a", "lib-b", "library", "mylib-d", "other-c"}},
				{"admin", "q=name%3D~lib&sort=name", []string{"lib-a", "lib-b", "library", "mylib-d"}},
				{"admin", "q=name%3Dlib-a", []string{"lib-a"}},
				{"admin", "name=lib-&sort=name", []string{"lib-a", "lib-b", "mylib-d"}},
				{"admin", "owner=alice&sort=name", []string{"lib-a", "lib-b"}},
				{"admin", "public=false&sort=name", []string{"carols", "lib-b", "mylib-d"}},
				{"admin", "q=public%3Dtrue&sort=name", []string{"lib-a", "library", "other-c"}},
				{"", "sort=name", []string{"lib-a", "library", "other-c"}},
				{"", "public=false", []string{}},
				{"alice", "sort=name", []string{"lib-a", "lib-b", "library", "other-c"}},
				{"alice", "public=false", []string{"lib-b"}},
				{"dave", "sort=name", []string{"lib-a", "library", "mylib-d", "other-c"}},
				{"dave", "public=false", []string{"mylib-d"}},
				{"carol", "q=name%3D~lib&sort=-name", []string{"library", "lib-a"}},
			} {
				if got := list(c.who, c.query); !slices.Equal(got, c.want) {
					t.Errorf("list as %q ?%s = %v, want %v", c.who, c.query, got, c.want)
				}
			}

			// Paging: X-Total-Count and Link.
			r := e.do("GET", "/api/v2.0/projects?sort=name&page=2&page_size=2", "admin", nil)
			if got := e.names(r); !slices.Equal(got, []string{"lib-b", "library"}) {
				t.Errorf("page 2: %v", got)
			}
			if r.header.Get("X-Total-Count") != "6" {
				t.Errorf("X-Total-Count %q", r.header.Get("X-Total-Count"))
			}
			link := r.header.Get("Link")
			if !strings.Contains(link, `rel="prev"`) || !strings.Contains(link, `rel="next"`) || !strings.Contains(link, "page=3") {
				t.Errorf("Link %q", link)
			}
			r = e.do("GET", "/api/v2.0/projects?public=false", "", nil)
			if r.header.Get("X-Total-Count") != "0" || string(r.body) != "[]" {
				t.Errorf("anonymous private listing: %q %s", r.header.Get("X-Total-Count"), r.body)
			}

			// Details: owner, roles, metadata; with_detail=false drops metadata.
			var ps []pjProject
			e.json("alice's list", e.do("GET", "/api/v2.0/projects?q=name%3Dlib-b", "alice", nil), &ps)
			if len(ps) != 1 || ps[0].OwnerName != "alice" || ps[0].CurrentUserRoleID != 1 || !ps[0].Togglable ||
				ps[0].Metadata["public"] != "false" || ps[0].CVEAllowlist == nil {
				t.Errorf("lib-b for alice: %+v", ps)
			}
			ps = nil
			e.json("dave's list", e.do("GET", "/api/v2.0/projects?q=name%3Dmylib-d", "dave", nil), &ps)
			if len(ps) != 1 || ps[0].CurrentUserRoleID != int(rbac.Developer) || ps[0].Togglable {
				t.Errorf("mylib-d for dave: %+v", ps)
			}
			// Each listed project is the project's own view to the same
			// caller: repository count, metadata, roles.
			e.want("metadata", e.do("PUT", "/api/v2.0/projects/lib-b/metadatas/auto_scan", "alice", map[string]string{"auto_scan": "true"}), 200, "")
			cfg, layer := []byte(`{"os":"linux"}`), pjRandom(50)
			e.pushBlob("lib-b/app", cfg)
			e.pushBlob("lib-b/app", layer)
			e.want("manifest", e.pushManifest("lib-b/app", "v1", pjManifest(cfg, layer)), 201, "")
			for _, who := range []string{"admin", "alice", "dave", ""} {
				var listed []pjProject
				e.json("list as "+who, e.do("GET", "/api/v2.0/projects?page_size=100", pjAs(who), nil), &listed)
				for _, lp := range listed {
					one := e.project(pjAs(who), lp.Name)
					if got, want := jsonOf(t, lp), jsonOf(t, one); got != want {
						t.Errorf("%q lists %s as\n%s\nits own view is\n%s", who, lp.Name, got, want)
					}
				}
				if who == "alice" && len(listed) > 0 {
					for _, lp := range listed {
						if lp.Name == "lib-b" && (lp.RepoCount != 1 || lp.Metadata["auto_scan"] != "true" || lp.CurrentUserRoleID != 1) {
							t.Errorf("lib-b listed for alice: %+v", lp)
						}
					}
				}
			}
			ps = nil
			e.json("no detail", e.do("GET", "/api/v2.0/projects?with_detail=false", "admin", nil), &ps)
			if len(ps) == 0 || ps[0].Metadata != nil || ps[0].OwnerName == "" {
				t.Errorf("with_detail=false: %+v", ps)
			}

			e.run([]pjCase{
				{"unknown q key", "GET", "/api/v2.0/projects?q=colour%3Dred", "admin", nil, 400, "BAD_REQUEST"},
				{"unknown sort key", "GET", "/api/v2.0/projects?sort=colour", "admin", nil, 400, "BAD_REQUEST"},
				{"bad page size", "GET", "/api/v2.0/projects?page_size=1000", "admin", nil, 400, "BAD_REQUEST"},
				{"bad page", "GET", "/api/v2.0/projects?page=-1", "admin", nil, 400, "BAD_REQUEST"},
				{"bad public", "GET", "/api/v2.0/projects?public=maybe", "admin", nil, 400, "BAD_REQUEST"},
				{"bad with_detail", "GET", "/api/v2.0/projects?with_detail=2x", "admin", nil, 400, "BAD_REQUEST"},
				{"bad time", "GET", "/api/v2.0/projects?q=creation_time%3D[yesterday~]", "admin", nil, 400, "BAD_REQUEST"},
			})
		})
	}
}

func TestProjectMetadata(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPJEnv(t, backend)
			id := e.create("alice", `{"project_name":"meta","metadata":{"auto_scan":"true"}}`)
			e.member(id, "bob", rbac.Guest)
			e.member(id, "dave", rbac.Maintainer)
			m := fmt.Sprintf("/api/v2.0/projects/%d/metadatas/", id)
			e.run([]pjCase{
				{"add", "POST", m, "alice", `{"enable_content_trust":"TRUE"}`, 200, ""},
				{"add two", "POST", m, "alice", `{"severity":"Low","reuse_sys_cve_allowlist":"false"}`, 200, ""},
				{"add existing", "POST", m, "alice", `{"auto_scan":"false"}`, 409, "CONFLICT"},
				{"add public", "POST", m, "alice", `{"public":"true"}`, 409, "CONFLICT"},
				{"add partly existing", "POST", m, "alice", `{"prevent_vul":"true","auto_scan":"false"}`, 409, "CONFLICT"},
				{"add unknown key", "POST", m, "alice", `{"colour":"red"}`, 400, "BAD_REQUEST"},
				{"add bad bool", "POST", m, "alice", `{"prevent_vul":"yes please"}`, 400, "BAD_REQUEST"},
				{"add bad severity", "POST", m, "alice", `{"prevent_vul":"true","severity":"extreme"}`, 400, "BAD_REQUEST"},
				{"add bad retention", "POST", m, "alice", `{"retention_id":"x"}`, 400, "BAD_REQUEST"},
				{"add bad filter kind", "POST", m, "alice", `{"proxy_cache_filter_kind":"glob"}`, 400, "BAD_REQUEST"},
				{"add bad speed", "POST", m, "alice", `{"proxy_speed_kb":"fast"}`, 400, "BAD_REQUEST"},
				{"add nothing", "POST", m, "alice", `{}`, 400, "BAD_REQUEST"},
				{"add not strings", "POST", m, "alice", `{"prevent_vul":true}`, 400, "BAD_REQUEST"},
				{"add malformed", "POST", m, "alice", `{"prevent_vul"`, 400, "BAD_REQUEST"},
				{"add as maintainer", "POST", m, "dave", `{"prevent_vul":"true"}`, 403, "FORBIDDEN"},
				{"add as non-member", "POST", m, "carol", `{"prevent_vul":"true"}`, 404, "NOT_FOUND"},
				{"add anonymous", "POST", m, "", `{"prevent_vul":"true"}`, 401, "UNAUTHORIZED"},

				{"get", "GET", m + "severity", "dave", nil, 200, ""},
				{"get unset", "GET", m + "prevent_vul", "alice", nil, 404, "NOT_FOUND"},
				{"get unknown", "GET", m + "colour", "alice", nil, 400, "BAD_REQUEST"},
				{"get as guest", "GET", m + "severity", "bob", nil, 403, "FORBIDDEN"},
				{"list as guest", "GET", m, "bob", nil, 403, "FORBIDDEN"},
				{"list as non-member", "GET", m, "carol", nil, 404, "NOT_FOUND"},
				{"list anonymous", "GET", m, "", nil, 401, "UNAUTHORIZED"},

				{"update", "PUT", m + "severity", "alice", `{"severity":"MEDIUM"}`, 200, ""},
				{"update unset key", "PUT", m + "prevent_vul", "alice", `{"prevent_vul":"1"}`, 200, ""},
				{"update other key", "PUT", m + "severity", "alice", `{"auto_scan":"true"}`, 400, "BAD_REQUEST"},
				{"update two keys", "PUT", m + "severity", "alice", `{"severity":"low","auto_scan":"true"}`, 400, "BAD_REQUEST"},
				{"update bad value", "PUT", m + "severity", "alice", `{"severity":"meh"}`, 400, "BAD_REQUEST"},
				{"update unknown", "PUT", m + "colour", "alice", `{"colour":"red"}`, 400, "BAD_REQUEST"},
				{"update as maintainer", "PUT", m + "severity", "dave", `{"severity":"low"}`, 403, "FORBIDDEN"},

				{"delete", "DELETE", m + "enable_content_trust", "alice", nil, 200, ""},
				{"delete again", "DELETE", m + "enable_content_trust", "alice", nil, 404, "NOT_FOUND"},
				{"delete public", "DELETE", m + "public", "alice", nil, 400, "BAD_REQUEST"},
				{"delete unknown", "DELETE", m + "colour", "alice", nil, 400, "BAD_REQUEST"},
				{"delete as maintainer", "DELETE", m + "auto_scan", "dave", nil, 403, "FORBIDDEN"},
			})
			var got map[string]string
			e.json("list", e.do("GET", m, "dave", nil), &got)
			want := map[string]string{"public": "false", "auto_scan": "true", "severity": "medium",
				"reuse_sys_cve_allowlist": "false", "prevent_vul": "true"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("metadata %v, want %v", got, want)
			}
			got = nil
			e.json("get one", e.do("GET", m+"severity", "alice", nil), &got)
			if fmt.Sprint(got) != "map[severity:medium]" {
				t.Errorf("get severity: %v", got)
			}

			// public through the metadata API is the project's visibility.
			e.want("anonymous before", e.do("GET", fmt.Sprintf("/api/v2.0/projects/%d", id), "", nil), 401, "")
			e.want("publish", e.do("PUT", m+"public", "alice", `{"public":"true"}`), 200, "")
			if p := e.project("", "meta"); p.Metadata["public"] != "true" {
				t.Errorf("after publishing: %v", p.Metadata)
			}
			if names := e.names(e.do("GET", "/api/v2.0/projects", "carol", nil)); !slices.Contains(names, "meta") {
				t.Errorf("carol does not list the published project: %v", names)
			}
			e.want("unpublish", e.do("PUT", m+"public", "alice", `{"public":"false"}`), 200, "")
			e.want("anonymous after", e.do("GET", fmt.Sprintf("/api/v2.0/projects/%d", id), "", nil), 401, "")
		})
	}
}

func TestQuotaAPI(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPJEnv(t, backend)
			a := e.create("alice", `{"project_name":"qa","storage_limit":5}`) // not an admin: the default applies
			b := e.create("admin", `{"project_name":"qb","storage_limit":2048}`)
			cfg := e.srv.App.Settings.Get()
			cfg.StoragePerProject = 4096
			e.srv.App.Settings.Set(cfg)
			c := e.create("bob", `{"project_name":"qc"}`)
			d := e.create("admin", `{"project_name":"qd","storage_limit":-1}`)
			e.pushBlob("qb/x", pjRandom(300))

			q := e.quota(b)
			if q.ID != b || q.Ref.ID != b || q.Ref.Name != "qb" || q.Ref.OwnerName != "admin" ||
				q.Hard["storage"] != 2048 || q.Used["storage"] != 300 || q.CreationTime == "" || q.UpdateTime == "" {
				t.Errorf("quota of qb: %+v", q)
			}
			for id, want := range map[int64]int64{a: -1, c: 4096, d: -1} {
				if got := e.quota(id).Hard["storage"]; got != want {
					t.Errorf("hard limit of project %d = %d, want %d", id, got, want)
				}
			}

			var list []pjQuota
			r := e.do("GET", "/api/v2.0/quotas?sort=-used.storage,id&page_size=2", "admin", nil)
			e.json("list quotas", r, &list)
			if len(list) != 2 || list[0].ID != b || r.header.Get("X-Total-Count") != "5" || !strings.Contains(r.header.Get("Link"), `rel="next"`) {
				t.Errorf("quotas by usage: %+v total %q link %q", list, r.header.Get("X-Total-Count"), r.header.Get("Link"))
			}
			e.json("by hard", e.do("GET", "/api/v2.0/quotas?sort=-hard.storage", "admin", nil), &list)
			if len(list) != 5 || list[0].ID != c || list[1].ID != b {
				t.Errorf("quotas by hard limit: %+v", list)
			}
			e.json("by reference", e.do("GET", fmt.Sprintf("/api/v2.0/quotas?reference=project&reference_id=%d", c), "admin", nil), &list)
			if len(list) != 1 || list[0].Ref.Name != "qc" {
				t.Errorf("quota by reference: %+v", list)
			}
			r = e.do("GET", "/api/v2.0/quotas?reference=robot", "admin", nil)
			if string(r.body) != "[]" || r.header.Get("X-Total-Count") != "0" {
				t.Errorf("other reference: %s", r.body)
			}
			quotaAdmin := e.robot("quotas", "system", 0, `[{"kind":"system","namespace":"/","access":[{"resource":"quota","action":"list"},{"resource":"quota","action":"read"},{"resource":"quota","action":"update"}]}]`)

			qb := fmt.Sprintf("/api/v2.0/quotas/%d", b)
			e.run([]pjCase{
				{"list as user", "GET", "/api/v2.0/quotas", "alice", nil, 403, "FORBIDDEN"},
				{"list anonymous", "GET", "/api/v2.0/quotas", "", nil, 401, "UNAUTHORIZED"},
				{"list as robot", "GET", "/api/v2.0/quotas", quotaAdmin, nil, 200, ""},
				{"bad sort", "GET", "/api/v2.0/quotas?sort=hard.count", "admin", nil, 400, "BAD_REQUEST"},
				{"get as project admin", "GET", qb, "alice", nil, 403, "FORBIDDEN"},
				{"get missing", "GET", "/api/v2.0/quotas/999999", "admin", nil, 404, "NOT_FOUND"},
				{"get bad id", "GET", "/api/v2.0/quotas/x", "admin", nil, 400, "BAD_REQUEST"},
				{"update as user", "PUT", qb, "alice", `{"hard":{"storage":1}}`, 403, "FORBIDDEN"},
				{"update anonymous", "PUT", qb, "", `{"hard":{"storage":1}}`, 401, "UNAUTHORIZED"},
				{"update no hard", "PUT", qb, "admin", `{}`, 400, "BAD_REQUEST"},
				{"update empty hard", "PUT", qb, "admin", `{"hard":{}}`, 400, "BAD_REQUEST"},
				{"update count", "PUT", qb, "admin", `{"hard":{"count":10}}`, 400, "BAD_REQUEST"},
				{"update zero", "PUT", qb, "admin", `{"hard":{"storage":0}}`, 400, "BAD_REQUEST"},
				{"update below -1", "PUT", qb, "admin", `{"hard":{"storage":-2}}`, 400, "BAD_REQUEST"},
				{"update string", "PUT", qb, "admin", `{"hard":{"storage":"1"}}`, 400, "BAD_REQUEST"},
				{"update unknown field", "PUT", qb, "admin", `{"hard":{"storage":1},"used":{"storage":0}}`, 400, "BAD_REQUEST"},
				{"update malformed", "PUT", qb, "admin", `{"hard":`, 400, "BAD_REQUEST"},
				{"update missing", "PUT", "/api/v2.0/quotas/999999", "admin", `{"hard":{"storage":1}}`, 404, "NOT_FOUND"},
			})
			if got := e.quota(b).Hard["storage"]; got != 2048 {
				t.Fatalf("refused updates changed the limit to %d", got)
			}
			e.want("update", e.do("PUT", qb, "admin", `{"hard":{"storage":100}}`), 200, "")
			e.want("update by robot", e.do("PUT", fmt.Sprintf("/api/v2.0/quotas/%d", d), quotaAdmin, `{"hard":{"storage":9999}}`), 200, "")
			if got := e.quota(b); got.Hard["storage"] != 100 || got.Used["storage"] != 300 {
				t.Errorf("after update (below usage, allowed): %+v", got)
			}
			if got := e.quota(d).Hard["storage"]; got != 9999 {
				t.Errorf("robot's update: %d", got)
			}
		})
	}
}

// TestQuotaEnforcedOnPush pushes through the real /v2 API into a project
// with a tiny limit.
func TestQuotaEnforcedOnPush(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPJEnv(t, backend)
			tiny := e.create("admin", `{"project_name":"tiny","storage_limit":100}`)
			a, b, c := pjRandom(60), pjRandom(50), pjRandom(40)
			e.want("first blob", e.pushBlob("tiny/app", a), 201, "")
			if u := e.usage(tiny); u != 60 {
				t.Fatalf("usage %d, want 60", u)
			}

			denied := func(what string, r pjResp) {
				t.Helper()
				if r.status != http.StatusForbidden || r.code() != "DENIED" {
					t.Fatalf("%s: got %d %s, want 403 DENIED\n%s", what, r.status, r.code(), r.body)
				}
				for _, s := range []string{"tiny", "100 B", "60 B"} {
					if !strings.Contains(r.message(), s) {
						t.Errorf("%s: message %q does not name %q", what, r.message(), s)
					}
				}
			}
			absent := func(what string, blob []byte) {
				t.Helper()
				e.want(what+": not in the project", e.do("HEAD", "/v2/tiny/app/blobs/"+pjDigest(blob), "admin", nil), 404, "")
				if _, err := e.db.BlobSize(t.Context(), pjDigest(blob)); err == nil {
					t.Errorf("%s: the blob was recorded", what)
				}
				if u := e.usage(tiny); u != 60 {
					t.Errorf("%s: usage %d, want 60", what, u)
				}
			}
			denied("monolithic upload", e.pushBlob("tiny/app", b))
			absent("monolithic upload", b)
			denied("chunked upload", e.pushBlobChunked("tiny/app", b))
			absent("chunked upload", b)
			if stale, err := e.db.StaleUploads(t.Context(), time.Now().Add(time.Hour).UnixMilli()); err != nil || len(stale) != 0 {
				t.Errorf("refused uploads left sessions behind: %v %v", stale, err)
			}
			// Nothing of the refused blob is kept in the blob store.
			if _, err := e.srv.App.Blobs.Stat(t.Context(), oci.Digest(pjDigest(b))); err == nil {
				t.Errorf("refused blob's bytes were kept")
			}

			// A mount counts like an upload.
			e.want("blob in library", e.pushBlob("library/src", b), 201, "")
			denied("mount", e.do("POST", "/v2/tiny/app/blobs/uploads/?mount="+pjDigest(b)+"&from=library/src", "admin", nil))
			e.want("not mounted", e.do("HEAD", "/v2/tiny/app/blobs/"+pjDigest(b), "admin", nil), 404, "")

			// What is already in the project costs nothing, in any repository.
			e.want("same blob again", e.pushBlob("tiny/app", a), 201, "")
			e.want("same blob, other repository", e.pushBlob("tiny/other", a), 201, "")
			e.want("fits", e.pushBlob("tiny/app", c), 201, "")
			if u := e.usage(tiny); u != 100 {
				t.Fatalf("usage %d, want 100 (each blob once)", u)
			}
			// The manifest itself is not counted.
			e.want("manifest", e.pushManifest("tiny/app", "v1", pjManifest(a, c)), 201, "")
			if u := e.usage(tiny); u != 100 {
				t.Errorf("usage after manifest %d, want 100", u)
			}

			// Over the limit (lowered below usage): no manifest is stored.
			e.want("lower the limit", e.do("PUT", fmt.Sprintf("/api/v2.0/quotas/%d", tiny), "admin", `{"hard":{"storage":50}}`), 200, "")
			r := e.pushManifest("tiny/app", "v2", pjManifest(a))
			if r.status != 403 || r.code() != "DENIED" || !strings.Contains(r.message(), "tiny") || !strings.Contains(r.message(), "50 B") {
				t.Errorf("manifest over the limit: %d %s", r.status, r.body)
			}
			e.want("v2 not stored", e.do("HEAD", "/v2/tiny/app/manifests/v2", "admin", nil), 404, "")
			e.want("v1 still there", e.do("HEAD", "/v2/tiny/app/manifests/v1", "admin", nil), 200, "")

			// Deleting a blob gives its bytes back.
			e.want("delete blob", e.do("DELETE", "/v2/tiny/app/blobs/"+pjDigest(a), "admin", nil), 202, "")
			if u := e.usage(tiny); u != 40 {
				t.Errorf("usage after delete %d, want 40", u)
			}
			e.want("unlimited", e.do("PUT", fmt.Sprintf("/api/v2.0/quotas/%d", tiny), "admin", `{"hard":{"storage":-1}}`), 200, "")
			e.want("anything goes", e.pushBlob("tiny/app", pjRandom(1000)), 201, "")

			// Each blob counts once per project it is visible in.
			other := e.create("admin", `{"project_name":"other"}`)
			e.want("a into other", e.pushBlob("other/x", a), 201, "")
			e.want("a into other again", e.pushBlob("other/y", a), 201, "")
			if u := e.usage(other); u != 60 {
				t.Errorf("usage of other %d, want 60", u)
			}
		})
	}
}

// jsonOf is v encoded, for comparing answers.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
