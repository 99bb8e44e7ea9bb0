package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestRobots covers the six robot operations: creation of system and
// project robots with every validation error (nothing written), Harbor's
// RBAC (system robots for admins, project robots for project admins, read
// and list for the other roles but limited guests), robots creating robots
// only with permissions they hold, the secret shown only by create and
// refresh, updates that take effect on the next login, and audit events.
func TestRobots(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newMREnv(t, backend)
			teamList := robotList(fmt.Sprintf("Level=project,ProjectID=%d", e.team.ID))
			sysList := "/api/v2.0/robots"
			counts := func() [2]int { return [2]int{e.total(sysList), e.total(teamList)} }
			empty := counts()
			if empty != [2]int{0, 0} {
				t.Fatalf("robots before the test: %v", empty)
			}

			pushPull := robotPerm("project", "team", "repository:pull", "repository:push")
			ok := robotBody("ci", "project", "", pushPull)
			const create = "/api/v2.0/robots"
			bad := func(name, body string, status int) mrCase {
				return mrCase{name: name, method: "POST", path: create, as: mrAdmin, body: body, status: status}
			}
			cases := []mrCase{
				{name: "system robot as project admin", method: "POST", path: create, as: mrUser("alice"),
					body: robotBody("sys", "system", "", robotPerm("system", "/", "project:list")), status: 403, code: "FORBIDDEN"},
				{name: "as maintainer", method: "POST", path: create, as: mrUser("mike"), body: ok, status: 403},
				{name: "as developer", method: "POST", path: create, as: mrUser("dave"), body: ok, status: 403},
				{name: "as guest", method: "POST", path: create, as: mrUser("gina"), body: ok, status: 403},
				{name: "as limited guest", method: "POST", path: create, as: mrUser("lena"), body: ok, status: 403},
				{name: "as outsider", method: "POST", path: create, as: mrUser("olivia"), body: ok, status: 404},
				{name: "anonymously", method: "POST", path: create, as: mrAnon, body: ok, status: 401},
				{name: "in a project the admin does not administer", method: "POST", path: create, as: mrUser("alice"),
					body: robotBody("ci", "project", "", robotPerm("project", "other", "repository:pull")), status: 404},
				bad("unknown project", robotBody("ci", "project", "", robotPerm("project", "nope", "repository:pull")), 404),
				bad("system robot in unknown project", robotBody("ci", "system", "", robotPerm("project", "nope", "repository:pull")), 404),
				bad("level missing", `{"name":"ci","permissions":[`+pushPull+`]}`, 400),
				bad("unknown level", robotBody("ci", "global", "", pushPull), 400),
				bad("duration -2", robotBody("ci", "project", `"duration":-2`, pushPull), 400),
				bad("duration too long", robotBody("ci", "project", `"duration":2147483647`, pushPull), 400),
				bad("duration as string", robotBody("ci", "project", `"duration":"7"`, pushPull), 400),
				bad("duration fraction", robotBody("ci", "project", `"duration":1.5`, pushPull), 400),
				bad("weak secret", robotBody("ci", "project", `"secret":"short1A"`, pushPull), 400),
				bad("secret without digit", robotBody("ci", "project", `"secret":"NoDigitsHere"`, pushPull), 400),
				bad("long description", robotBody("ci", "project", `"description":"`+strings.Repeat("d", 1025)+`"`, pushPull), 400),
				bad("no permissions", robotBody("ci", "project", ""), 400),
				bad("permissions missing", `{"name":"ci","level":"system"}`, 400),
				bad("empty access", robotBody("ci", "project", "", robotPerm("project", "team")), 400),
				bad("unknown resource", robotBody("ci", "project", "", robotPerm("project", "team", "spaceship:pull")), 400),
				bad("unknown action", robotBody("ci", "project", "", robotPerm("project", "team", "repository:fly")), 400),
				bad("action robots may not hold", robotBody("ci", "project", "", robotPerm("project", "team", "repository:create")), 400),
				bad("system permission on a project robot", robotBody("ci", "project", "", robotPerm("system", "/", "project:list")), 400),
				bad("second project on a project robot", robotBody("ci", "project", "", pushPull, robotPerm("project", "other", "repository:pull")), 400),
				bad("two entries on a project robot", robotBody("ci", "project", "", pushPull, robotPerm("project", "team", "artifact:read")), 400),
				bad("every project on a project robot", robotBody("ci", "project", "", robotPerm("project", "*", "repository:pull")), 400),
				bad("project robot without namespace", robotBody("ci", "project", "", robotPerm("project", "", "repository:pull")), 400),
				bad("unknown kind", robotBody("ci", "system", "", robotPerm("cluster", "/", "project:list")), 400),
				bad("system permission in a namespace", robotBody("ci", "system", "", robotPerm("system", "team", "project:list")), 400),
				bad("system permission robots may not hold", robotBody("ci", "system", "", robotPerm("system", "/", "configuration:update")), 400),
				bad("deny effect", robotBody("ci", "system", "", `{"kind":"system","namespace":"/","access":[{"resource":"project","action":"list","effect":"deny"}]}`), 400),
				bad("unknown field", robotBody("ci", "project", `"editable":true`, pushPull), 400),
				bad("unknown access field", robotBody("ci", "project", "", `{"kind":"project","namespace":"team","access":[{"resource":"repository","action":"pull","scope":"x"}]}`), 400),
				bad("malformed JSON", `{"name":"ci",`, 400),
				bad("array body", `[`+ok+`]`, 400),
				bad("oversized", `{"name":"`+strings.Repeat("a", 1<<20)+`"}`, 413),
				bad("name too long", robotBody(strings.Repeat("a", 250), "project", "", pushPull), 400),
			}
			for _, n := range []string{"", "CI", "a+b", "robot$ci", "-ci", "ci-", "a..b", "a/b", "a b", "../x", "é", "a%2Fb"} {
				cases = append(cases, bad("name "+n, robotBody(n, "project", "", pushPull), 400))
			}
			e.run(cases)
			if got := counts(); got != empty {
				t.Fatalf("refused creations wrote robots: %v", got)
			}

			// Creations.
			start := time.Now()
			sys := e.createRobot(mrAdmin, robotBody("sys1", "system", "",
				robotPerm("system", "/", "project:list", "project:create"), robotPerm("project", "*", "repository:pull")))
			if sys.Name != "robot$sys1" {
				t.Errorf("system robot name %q", sys.Name)
			}
			mrNear(t, "default expiry", sys.ExpiresAt, start.AddDate(0, 0, 30))
			ci := e.createRobot(mrUser("alice"), robotBody("ci", "project", `"duration":7,"description":"builds"`,
				robotPerm("project", "team", "repository:pull", "repository:push", "artifact:read")))
			if ci.Name != "robot$team+ci" {
				t.Errorf("project robot name %q", ci.Name)
			}
			mrNear(t, "7-day expiry", ci.ExpiresAt, start.AddDate(0, 0, 7))
			if ct, err := time.Parse(time.RFC3339, ci.CreationTime); err != nil || ct.Before(start.Add(-time.Minute)) {
				t.Errorf("creation_time %q", ci.CreationTime)
			}
			forever := e.createRobot(mrAdmin, robotBody("forever", "project", `"duration":-1,"secret":"Str0ngSecret1"`,
				robotPerm("project", "team", "repository:pull")))
			if forever.ExpiresAt != -1 || forever.Secret != "Str0ngSecret1" {
				t.Errorf("never-expiring robot %+v", forever)
			}
			other := e.createRobot(mrAdmin, robotBody("ci", "project", "", robotPerm("project", "other", "repository:pull")))
			if other.Name != "robot$other+ci" {
				t.Errorf("robot of other %q", other.Name)
			}
			e.run([]mrCase{
				{name: "duplicate", method: "POST", path: create, as: mrUser("alice"), body: ok, status: 409, code: "CONFLICT"},
			})
			if got := counts(); got != [2]int{1, 2} {
				t.Fatalf("robots after creation: %v, want [1 2]", got)
			}
			for _, r := range []robotCreatedJSON{sys, ci, forever} {
				if st := e.loginStatus(r.Name, r.Secret); st != 200 {
					t.Errorf("%s cannot log in with its new secret: %d", r.Name, st)
				}
			}
			e.wantEvent(event.Event{Operator: "alice", Operation: "create", ResourceType: "robot", Resource: "robot$team+ci", ProjectID: e.team.ID, Success: true})
			e.wantEvent(event.Event{Operator: "alice", Operation: "create", ResourceType: "robot", Resource: "robot$team+ci", ProjectID: e.team.ID, Success: false})
			e.wantEvent(event.Event{Operator: "admin", Operation: "create", ResourceType: "robot", Resource: "robot$sys1", ProjectID: 0, Success: true})

			// Reads.
			one := func(id int64) string { return fmt.Sprintf("/api/v2.0/robots/%d", id) }
			isCI := func(t *testing.T, h http.Header, b []byte) {
				var raw map[string]any
				mrDecode(t, b, &raw)
				if _, has := raw["secret"]; has {
					t.Errorf("robot shows a secret field: %s", b)
				}
				var r robotJSON
				mrDecode(t, b, &r)
				want := robotJSON{ID: ci.ID, Name: "robot$team+ci", Description: "builds", Level: "project", Duration: 7, Editable: true,
					ExpiresAt: ci.ExpiresAt, CreatorType: "local", CreatorRef: e.users["alice"], CreationTime: ci.CreationTime,
					Permissions: []rbac.RobotPermission{{Kind: "project", Namespace: "team", Access: []rbac.RobotAccess{
						{Resource: "repository", Action: "pull"}, {Resource: "repository", Action: "push"}, {Resource: "artifact", Action: "read"}}}}}
				r.UpdateTime = ""
				if fmt.Sprint(r) != fmt.Sprint(want) {
					t.Errorf("robot\n%+v, want\n%+v", r, want)
				}
			}
			names := func(want ...string) func(t *testing.T, h http.Header, b []byte) {
				return func(t *testing.T, h http.Header, b []byte) {
					var rs []robotJSON
					mrDecode(t, b, &rs)
					var got []string
					for _, r := range rs {
						got = append(got, r.Name)
					}
					if !slices.Equal(got, want) {
						t.Errorf("robots %v, want %v", got, want)
					}
				}
			}
			e.run([]mrCase{
				{name: "get as project admin", method: "GET", path: one(ci.ID), as: mrUser("alice"), status: 200, check: isCI},
				{name: "get as guest", method: "GET", path: one(ci.ID), as: mrUser("gina"), status: 200, check: isCI},
				{name: "get as maintainer", method: "GET", path: one(ci.ID), as: mrUser("mike"), status: 200},
				{name: "get as limited guest", method: "GET", path: one(ci.ID), as: mrUser("lena"), status: 403},
				{name: "get as outsider", method: "GET", path: one(ci.ID), as: mrUser("olivia"), status: 404},
				{name: "get anonymously", method: "GET", path: one(ci.ID), as: mrAnon, status: 401},
				// A robot holding permissions in its project, but not robot:read, is refused (not hidden).
				{name: "get as itself", method: "GET", path: one(ci.ID), as: mrAs{ci.Name, ci.Secret}, status: 403},
				{name: "get system robot as project admin", method: "GET", path: one(sys.ID), as: mrUser("alice"), status: 403},
				{name: "get system robot", method: "GET", path: one(sys.ID), as: mrAdmin, status: 200},
				{name: "get unknown", method: "GET", path: one(999999), as: mrAdmin, status: 404},
				{name: "get bad id", method: "GET", path: "/api/v2.0/robots/abc", as: mrAdmin, status: 400},

				{name: "list project robots", method: "GET", path: teamList, as: mrUser("alice"), status: 200,
					check: func(t *testing.T, h http.Header, b []byte) {
						names("robot$team+ci", "robot$team+forever")(t, h, b)
						if h.Get("X-Total-Count") != "2" || bytes.Contains(b, []byte(`"secret"`)) {
							t.Errorf("X-Total-Count %q, body %s", h.Get("X-Total-Count"), b)
						}
					}},
				{name: "list project robots as guest", method: "GET", path: teamList, as: mrUser("gina"), status: 200, check: names("robot$team+ci", "robot$team+forever")},
				{name: "list project robots as limited guest", method: "GET", path: teamList, as: mrUser("lena"), status: 403},
				{name: "list project robots as outsider", method: "GET", path: teamList, as: mrUser("olivia"), status: 404},
				{name: "list project robots anonymously", method: "GET", path: teamList, as: mrAnon, status: 401},
				{name: "list by ProjectID alone", method: "GET", path: robotList(fmt.Sprintf("ProjectID=%d", e.team.ID)), as: mrUser("alice"), status: 200, check: names("robot$team+ci", "robot$team+forever")},
				{name: "list by name", method: "GET", path: robotList(fmt.Sprintf("Level=project,ProjectID=%d,name=~forev", e.team.ID)), as: mrUser("alice"), status: 200, check: names("robot$team+forever")},
				{name: "list sorted", method: "GET", path: teamList + "&sort=-name", as: mrUser("alice"), status: 200, check: names("robot$team+forever", "robot$team+ci")},
				{name: "list paged", method: "GET", path: teamList + "&page_size=1", as: mrUser("alice"), status: 200,
					check: func(t *testing.T, h http.Header, b []byte) {
						names("robot$team+ci")(t, h, b)
						if h.Get("X-Total-Count") != "2" || !strings.Contains(h.Get("Link"), `rel="next"`) {
							t.Errorf("X-Total-Count %q, Link %q", h.Get("X-Total-Count"), h.Get("Link"))
						}
					}},
				{name: "list system robots", method: "GET", path: sysList, as: mrAdmin, status: 200, check: names("robot$sys1")},
				{name: "list system robots explicitly", method: "GET", path: robotList("Level=system"), as: mrAdmin, status: 200, check: names("robot$sys1")},
				{name: "list system robots as project admin", method: "GET", path: sysList, as: mrUser("alice"), status: 403},
				{name: "list system robots anonymously", method: "GET", path: sysList, as: mrAnon, status: 401},
				{name: "list other project as its non-member", method: "GET", path: robotList(fmt.Sprintf("Level=project,ProjectID=%d", e.other.ID)), as: mrUser("alice"), status: 404},
				{name: "list other project", method: "GET", path: robotList(fmt.Sprintf("Level=project,ProjectID=%d", e.other.ID)), as: mrAdmin, status: 200, check: names("robot$other+ci")},
				{name: "list unknown level", method: "GET", path: robotList("Level=global"), as: mrAdmin, status: 400},
				{name: "list fuzzy level", method: "GET", path: robotList("Level=~sys"), as: mrAdmin, status: 400},
				{name: "list project level without ID", method: "GET", path: robotList("Level=project"), as: mrAdmin, status: 400},
				{name: "list bad project ID", method: "GET", path: robotList("Level=project,ProjectID=abc"), as: mrAdmin, status: 400},
				{name: "list system level with project", method: "GET", path: robotList(fmt.Sprintf("Level=system,ProjectID=%d", e.team.ID)), as: mrAdmin, status: 400},
				{name: "list unknown project", method: "GET", path: robotList("Level=project,ProjectID=999999"), as: mrAdmin, status: 404},
				{name: "list by secret hash", method: "GET", path: robotList("secret_hash=x"), as: mrAdmin, status: 400},
				{name: "list sorted by unknown key", method: "GET", path: sysList + "?sort=secret_hash", as: mrAdmin, status: 400},
			})

			// A robot that may create robots hands out only what it holds.
			maker := e.createRobot(mrUser("alice"), robotBody("maker", "project", "",
				robotPerm("project", "team", "project:read", "robot:create", "robot:list", "robot:read", "robot:delete", "repository:pull")))
			asMaker := mrAs{maker.Name, maker.Secret}
			var child robotCreatedJSON
			e.run([]mrCase{
				{name: "robot grants what it holds", method: "POST", path: create, as: asMaker,
					body: robotBody("child", "project", "", robotPerm("project", "team", "repository:pull")), status: 201,
					check: func(t *testing.T, h http.Header, b []byte) { mrDecode(t, b, &child) }},
				{name: "robot grants more than it holds", method: "POST", path: create, as: asMaker,
					body: robotBody("child2", "project", "", robotPerm("project", "team", "repository:push")), status: 403},
				{name: "robot without robot:create", method: "POST", path: create, as: mrAs{ci.Name, ci.Secret},
					body: robotBody("child3", "project", "", robotPerm("project", "team", "repository:pull")), status: 403},
				{name: "robot creates a system robot", method: "POST", path: create, as: asMaker,
					body: robotBody("child4", "system", "", robotPerm("system", "/", "project:list")), status: 403},
				{name: "robot creates in another project", method: "POST", path: create, as: asMaker,
					body: robotBody("child5", "project", "", robotPerm("project", "other", "repository:pull")), status: 404},
				{name: "robot lists", method: "GET", path: teamList, as: asMaker, status: 200},
				{name: "robot reads", method: "GET", path: one(ci.ID), as: asMaker, status: 200, check: isCI},
				{name: "robot cannot update", method: "PUT", path: one(ci.ID), as: asMaker, body: robotBody("robot$team+ci", "project", "", pushPull), status: 403},
				{name: "robot cannot refresh", method: "PATCH", path: one(ci.ID), as: asMaker, body: `{}`, status: 403},
			})
			if c := e.getRobot(child.ID); c.CreatorType != "robot" || c.CreatorRef != maker.ID || c.Name != "robot$team+child" {
				t.Errorf("robot made by a robot: %+v", c)
			}
			e.run([]mrCase{
				{name: "robot deletes", method: "DELETE", path: one(child.ID), as: asMaker, status: 200},
			})

			// Updates.
			before := e.getRobot(ci.ID)
			edit := func(mod func(m map[string]any)) string {
				status, _, b := e.do("GET", one(ci.ID), mrUser("alice"), "")
				if status != 200 {
					t.Fatalf("get: %d", status)
				}
				var m map[string]any
				mrDecode(t, b, &m)
				mod(m)
				out, _ := json.Marshal(m)
				return string(out)
			}
			pullOnly := []any{map[string]any{"kind": "project", "namespace": "team", "access": []any{map[string]any{"resource": "repository", "action": "pull"}}}}
			put := func(name, body string, as mrAs, status int) mrCase {
				return mrCase{name: name, method: "PUT", path: one(ci.ID), as: as, body: body, status: status}
			}
			valid := edit(func(m map[string]any) { m["description"] = "changed" })
			e.run([]mrCase{
				put("update as maintainer", valid, mrUser("mike"), 403),
				put("update as guest", valid, mrUser("gina"), 403),
				put("update as outsider", valid, mrUser("olivia"), 404),
				put("update anonymously", valid, mrAnon, 401),
				put("update as itself", valid, mrAs{ci.Name, ci.Secret}, 403),
				put("rename", edit(func(m map[string]any) { m["name"] = "robot$team+cd" }), mrUser("alice"), 400),
				put("change level", edit(func(m map[string]any) { m["level"] = "system" }), mrUser("alice"), 400),
				put("no level", edit(func(m map[string]any) { delete(m, "level") }), mrUser("alice"), 400),
				put("change id", edit(func(m map[string]any) { m["id"] = ci.ID + 1000 }), mrUser("alice"), 400),
				put("set secret", edit(func(m map[string]any) { m["secret"] = "Str0ngSecret3" }), mrUser("alice"), 400),
				put("bad duration", edit(func(m map[string]any) { m["duration"] = -5 }), mrUser("alice"), 400),
				put("move to another project", edit(func(m map[string]any) {
					m["permissions"] = []any{map[string]any{"kind": "project", "namespace": "other", "access": []any{map[string]any{"resource": "repository", "action": "pull"}}}}
				}), mrUser("alice"), 400),
				put("system permission", edit(func(m map[string]any) {
					m["permissions"] = []any{map[string]any{"kind": "system", "namespace": "/", "access": []any{map[string]any{"resource": "project", "action": "list"}}}}
				}), mrUser("alice"), 400),
				put("unknown permission", edit(func(m map[string]any) {
					m["permissions"] = []any{map[string]any{"kind": "project", "namespace": "team", "access": []any{map[string]any{"resource": "repository", "action": "fly"}}}}
				}), mrUser("alice"), 400),
				put("no permissions", edit(func(m map[string]any) { m["permissions"] = []any{} }), mrUser("alice"), 400),
				put("unknown field", edit(func(m map[string]any) { m["project_id"] = 1 }), mrUser("alice"), 400),
				put("wrong type", edit(func(m map[string]any) { m["disable"] = "yes" }), mrUser("alice"), 400),
				put("malformed", `{"name":`, mrUser("alice"), 400),
				{name: "update unknown robot", method: "PUT", path: one(999999), as: mrAdmin, body: valid, status: 404},
				{name: "update system robot as project admin", method: "PUT", path: one(sys.ID), as: mrUser("alice"),
					body: robotBody("robot$sys1", "system", "", robotPerm("system", "/", "project:list")), status: 403},
			})
			if after := e.getRobot(ci.ID); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("refused updates changed the robot:\n%+v\n%+v", after, before)
			}
			e.run([]mrCase{
				put("update", edit(func(m map[string]any) {
					m["description"], m["duration"], m["permissions"] = "pull only", 14, pullOnly
				}), mrUser("alice"), 200),
				put("update by short name", robotBody("ci", "project", `"description":"pull only","duration":14`, robotPerm("project", "team", "repository:pull")), mrUser("alice"), 200),
			})
			updated := e.getRobot(ci.ID)
			created, _ := time.Parse(time.RFC3339, ci.CreationTime)
			if updated.Description != "pull only" || updated.Duration != 14 || len(updated.Permissions) != 1 || len(updated.Permissions[0].Access) != 1 {
				t.Errorf("updated robot %+v", updated)
			}
			mrNear(t, "expiry after update", updated.ExpiresAt, created.AddDate(0, 0, 14))
			if _, acc := e.token(mrAs{ci.Name, ci.Secret}, "repository:team/app:pull,push"); len(acc) != 1 || !slices.Equal(acc[0].Actions, []string{"pull"}) {
				t.Errorf("after losing push, token grants %+v", acc)
			}
			e.wantEvent(event.Event{Operator: "alice", Operation: "update", ResourceType: "robot", Resource: "robot$team+ci", ProjectID: e.team.ID, Success: true})
			// Disabling takes effect at once, re-enabling too.
			e.run([]mrCase{put("disable", edit(func(m map[string]any) { m["disable"] = true }), mrUser("alice"), 200)})
			if st := e.loginStatus(ci.Name, ci.Secret); st != 401 {
				t.Errorf("disabled robot logs in: %d", st)
			}
			e.run([]mrCase{put("enable", edit(func(m map[string]any) { m["disable"] = false }), mrUser("alice"), 200)})
			if st := e.loginStatus(ci.Name, ci.Secret); st != 200 {
				t.Errorf("re-enabled robot cannot log in: %d", st)
			}

			// Secret refresh.
			var fresh string
			patch := func(name, body string, as mrAs, status int) mrCase {
				return mrCase{name: name, method: "PATCH", path: one(ci.ID), as: as, body: body, status: status}
			}
			e.run([]mrCase{
				patch("refresh as guest", `{}`, mrUser("gina"), 403),
				patch("refresh as maintainer", `{}`, mrUser("mike"), 403),
				patch("refresh as outsider", `{}`, mrUser("olivia"), 404),
				patch("refresh anonymously", `{}`, mrAnon, 401),
				patch("refresh with weak secret", `{"secret":"weak"}`, mrUser("alice"), 400),
				patch("refresh with long secret", `{"secret":"Aa1`+strings.Repeat("x", 126)+`"}`, mrUser("alice"), 400),
				patch("refresh unknown field", `{"secret":"","name":"x"}`, mrUser("alice"), 400),
				patch("refresh malformed", `{"secret":`, mrUser("alice"), 400),
				patch("refresh empty body", ``, mrUser("alice"), 400),
				{name: "refresh unknown robot", method: "PATCH", path: one(999999), as: mrAdmin, body: `{}`, status: 404},
			})
			if st := e.loginStatus(ci.Name, ci.Secret); st != 200 {
				t.Fatalf("refused refreshes changed the secret: %d", st)
			}
			e.run([]mrCase{
				patch("refresh", `{}`, mrUser("alice"), 200),
			})
			{
				status, _, b := e.do("PATCH", one(ci.ID), mrUser("alice"), `{}`)
				var sec struct{ Secret string }
				mrDecode(t, b, &sec)
				if status != 200 || len(sec.Secret) < 32 || sec.Secret == ci.Secret {
					t.Fatalf("refresh: %d %s", status, b)
				}
				fresh = sec.Secret
			}
			if st := e.loginStatus(ci.Name, ci.Secret); st != 401 {
				t.Errorf("old secret still works after refresh: %d", st)
			}
			if st := e.loginStatus(ci.Name, fresh); st != 200 {
				t.Errorf("new secret does not work: %d", st)
			}
			chosen := patch("refresh with chosen secret", `{"secret":"Str0ngSecret2"}`, mrUser("alice"), 200)
			chosen.check = func(t *testing.T, h http.Header, b []byte) {
				if strings.TrimSpace(string(b)) != `{}` {
					t.Errorf("chosen secret echoed: %s", b)
				}
			}
			e.run([]mrCase{chosen})
			if st := e.loginStatus(ci.Name, "Str0ngSecret2"); st != 200 {
				t.Errorf("chosen secret does not work: %d", st)
			}

			// Deletion.
			e.run([]mrCase{
				{name: "delete as guest", method: "DELETE", path: one(ci.ID), as: mrUser("gina"), status: 403},
				{name: "delete as maintainer", method: "DELETE", path: one(ci.ID), as: mrUser("mike"), status: 403},
				{name: "delete as outsider", method: "DELETE", path: one(ci.ID), as: mrUser("olivia"), status: 404},
				{name: "delete anonymously", method: "DELETE", path: one(ci.ID), as: mrAnon, status: 401},
				{name: "delete system robot as project admin", method: "DELETE", path: one(sys.ID), as: mrUser("alice"), status: 403},
				{name: "delete", method: "DELETE", path: one(ci.ID), as: mrUser("alice"), status: 200},
				{name: "deleted", method: "GET", path: one(ci.ID), as: mrUser("alice"), status: 404},
				{name: "delete again", method: "DELETE", path: one(ci.ID), as: mrUser("alice"), status: 404},
				{name: "delete system robot", method: "DELETE", path: one(sys.ID), as: mrAdmin, status: 200},
			})
			if st := e.loginStatus(ci.Name, "Str0ngSecret2"); st != 401 {
				t.Errorf("deleted robot logs in: %d", st)
			}
			e.wantEvent(event.Event{Operator: "alice", Operation: "delete", ResourceType: "robot", Resource: "robot$team+ci", ProjectID: e.team.ID, Success: true})
			e.wantEvent(event.Event{Operator: "admin", Operation: "delete", ResourceType: "robot", Resource: "robot$sys1", ProjectID: 0, Success: true})

			// No read ever showed a secret.
			for _, sec := range []string{sys.Secret, ci.Secret, forever.Secret, other.Secret, maker.Secret, child.Secret, fresh, "Str0ngSecret2"} {
				for _, b := range e.reads {
					if sec != "" && bytes.Contains(b, []byte(sec)) {
						t.Fatalf("a GET answer shows a robot secret: %s", b)
					}
				}
			}
		})
	}
}

// TestRobotRegistryAccess logs robots in the way docker does (Basic
// credentials, through the token service) with go-containerregistry, and
// with Basic directly on /v2: a project robot pushes and pulls in its
// project only, a pull-only robot cannot push, and disabled or expired
// robots are refused.
func TestRobotRegistryAccess(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newMREnv(t, backend)
			ctx := t.Context()
			pusher := e.createRobot(mrUser("alice"), robotBody("pusher", "project", "", robotPerm("project", "team", "repository:pull", "repository:push")))
			puller := e.createRobot(mrUser("alice"), robotBody("puller", "project", "", robotPerm("project", "team", "repository:pull")))
			basic := func(r robotCreatedJSON) remote.Option {
				return remote.WithAuth(&authn.Basic{Username: r.Name, Password: r.Secret})
			}
			ref := func(s string) name.Reference {
				r, err := name.ParseReference(e.srv.Host+"/"+s, name.Insecure)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			refused := func(what string, err error, statuses ...int) {
				t.Helper()
				var te *transport.Error
				if !errors.As(err, &te) {
					t.Fatalf("%s: error %v, want a registry refusal", what, err)
				}
				if !slices.Contains(statuses, te.StatusCode) {
					t.Fatalf("%s: status %d (%v), want %v", what, te.StatusCode, err, statuses)
				}
			}
			img, err := random.Image(1024, 2)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := img.Digest()

			// Through the token service, as docker login would.
			if err := remote.Write(ref("team/app:v1"), img, basic(pusher), remote.WithContext(ctx)); err != nil {
				t.Fatalf("robot push into its project: %v", err)
			}
			got, err := remote.Image(ref("team/app:v1"), basic(puller), remote.WithContext(ctx))
			if err != nil {
				t.Fatalf("robot pull from its project: %v", err)
			}
			if d, _ := got.Digest(); d != want {
				t.Fatalf("pulled %s, pushed %s", d, want)
			}
			if _, err := got.RawManifest(); err != nil {
				t.Fatal(err)
			}
			refused("pull-only robot pushes", remote.Write(ref("team/app:v2"), img, basic(puller), remote.WithContext(ctx)), 401, 403)
			refused("robot pushes into another project", remote.Write(ref("other/app:v1"), img, basic(pusher), remote.WithContext(ctx)), 401, 403)
			if err := remote.Write(ref("other/app:v1"), img, remote.WithAuth(&authn.Basic{Username: "admin", Password: testserver.AdminPassword}), remote.WithContext(ctx)); err != nil {
				t.Fatal(err)
			}
			_, err = remote.Image(ref("other/app:v1"), basic(pusher), remote.WithContext(ctx))
			refused("robot pulls from another project", err, 401, 403)

			// What the token service grants.
			for _, c := range []struct {
				as    robotCreatedJSON
				scope string
				want  []mrTokenAccess
			}{
				{pusher, "repository:team/app:pull,push", []mrTokenAccess{{"repository", "team/app", []string{"pull", "push"}}}},
				{puller, "repository:team/app:pull,push", []mrTokenAccess{{"repository", "team/app", []string{"pull"}}}},
				{pusher, "repository:other/app:pull,push", nil},
				{pusher, "repository:library/app:pull,push", []mrTokenAccess{{"repository", "library/app", []string{"pull"}}}},
			} {
				status, acc := e.token(mrAs{c.as.Name, c.as.Secret}, c.scope)
				if status != 200 || fmt.Sprint(acc) != fmt.Sprint(c.want) {
					t.Errorf("%s asking %s: %d %+v, want %+v", c.as.Name, c.scope, status, acc, c.want)
				}
			}

			// Basic directly on /v2.
			as := func(r robotCreatedJSON) mrAs { return mrAs{r.Name, r.Secret} }
			manifest := func(path string, who mrAs) (int, string) {
				req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
				req.SetBasicAuth(who.name, who.pass)
				req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body struct {
					Errors []struct{ Code string } `json:"errors"`
				}
				json.NewDecoder(resp.Body).Decode(&body)
				code := ""
				if len(body.Errors) > 0 {
					code = body.Errors[0].Code
				}
				return resp.StatusCode, code
			}
			for _, c := range []struct {
				method, path string
				who          robotCreatedJSON
				status       int
				code         string
			}{
				{"GET", "/v2/team/app/manifests/v1", puller, 200, ""},
				{"GET", "/v2/team/app/manifests/v1", pusher, 200, ""},
				{"POST", "/v2/team/app/blobs/uploads/", puller, 403, "DENIED"},
				{"POST", "/v2/team/app/blobs/uploads/", pusher, 202, ""},
				{"POST", "/v2/other/app/blobs/uploads/", pusher, 403, "DENIED"},
				{"GET", "/v2/other/app/manifests/v1", pusher, 403, "DENIED"},
				{"DELETE", "/v2/team/app/manifests/" + want.String(), pusher, 403, "DENIED"},
			} {
				var status int
				var code string
				if c.method == "GET" {
					status, code = manifest(c.path, as(c.who))
				} else {
					st, _, b := e.do(c.method, c.path, as(c.who), "")
					status = st
					if st >= 400 {
						var body struct {
							Errors []struct{ Code string } `json:"errors"`
						}
						json.Unmarshal(b, &body)
						if len(body.Errors) > 0 {
							code = body.Errors[0].Code
						}
					}
				}
				if status != c.status || code != c.code {
					t.Errorf("%s %s as %s: %d %s, want %d %s", c.method, c.path, c.who.Name, status, code, c.status, c.code)
				}
			}

			// A disabled robot is refused everywhere.
			status, _, b := e.do("PUT", fmt.Sprintf("/api/v2.0/robots/%d", puller.ID), mrUser("alice"),
				robotBody(puller.Name, "project", `"disable":true`, robotPerm("project", "team", "repository:pull")))
			if status != 200 {
				t.Fatalf("disable: %d %s", status, b)
			}
			if st, _ := manifest("/v2/team/app/manifests/v1", as(puller)); st != 401 {
				t.Errorf("disabled robot pulls with Basic: %d", st)
			}
			if st := e.loginStatus(puller.Name, puller.Secret); st != 401 {
				t.Errorf("disabled robot gets a token: %d", st)
			}
			_, err = remote.Image(ref("team/app:v1"), basic(puller), remote.WithContext(ctx))
			refused("disabled robot pulls", err, 401)

			// So is an expired one.
			rb, err := e.srv.App.DB.RobotByName(ctx, pusher.Name)
			if err != nil {
				t.Fatal(err)
			}
			rb.ExpiresAt = time.Now().Add(-time.Second).Unix()
			if err := e.srv.App.DB.UpdateRobot(ctx, *rb); err != nil {
				t.Fatal(err)
			}
			e.srv.App.Auth.ForgetCredentials()
			if st, _ := manifest("/v2/team/app/manifests/v1", as(pusher)); st != 401 {
				t.Errorf("expired robot pulls with Basic: %d", st)
			}
			if st := e.loginStatus(pusher.Name, pusher.Secret); st != 401 {
				t.Errorf("expired robot gets a token: %d", st)
			}
			refused("expired robot pushes", remote.Write(ref("team/app:v3"), img, basic(pusher), remote.WithContext(ctx)), 401)
		})
	}
}
