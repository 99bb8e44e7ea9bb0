package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/retention"
	"github.com/berth-dev/berth/internal/testserver"
)

// Tests of the tag retention operations (prefix rt).

// rtPolicy is a valid policy body for project ref: one rule per template
// given as "template=n" ("always" alone), every repository, every tag.
func rtPolicy(ref int64, cron string, templates ...string) map[string]any {
	var rules []any
	for _, t := range templates {
		name, n, _ := strings.Cut(t, "=")
		params := map[string]any{}
		if n != "" {
			var v int
			fmt.Sscan(n, &v)
			params[name] = v
		}
		rules = append(rules, map[string]any{
			"disabled": false, "action": "retain", "template": name, "params": params,
			"tag_selectors":   []any{map[string]any{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": `{"untagged":true}`}},
			"scope_selectors": map[string]any{"repository": []any{map[string]any{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}}},
		})
	}
	return map[string]any{"algorithm": "or", "rules": rules,
		"trigger": map[string]any{"kind": "Schedule", "settings": map[string]any{"cron": cron}, "references": map[string]any{}},
		"scope":   map[string]any{"level": "project", "ref": ref}}
}

// rtEnv is a server with a private project "ret" and members of each role.
type rtEnv struct {
	*artEnv
	pid                             int64 // of "ret"
	adminUser, dev, guest, outsider artUser
	events                          chan event.Event // TAG_RETENTION events
}

func newRTEnv(t *testing.T, backend string) *rtEnv {
	e := &rtEnv{artEnv: newArtEnv(t, backend), events: make(chan event.Event, 64)}
	e.pid = e.project("ret", false)
	pa, paID := e.user("rtadmin")
	dev, devID := e.user("rtdev")
	guest, guestID := e.user("rtguest")
	e.outsider, _ = e.user("rtoutsider")
	e.member(e.pid, paID, rbac.ProjectAdmin)
	e.member(e.pid, devID, rbac.Developer)
	e.member(e.pid, guestID, rbac.Guest)
	e.adminUser, e.dev, e.guest = pa, dev, guest // projectAdmin, developer, guest of "ret"
	e.srv.App.Events.Subscribe("retention-test", 64, func(evs []event.Event) {
		for _, ev := range evs {
			if ev.Type == event.TagRetention {
				e.events <- ev
			}
		}
	})
	return e
}

// meta returns the project's retention_id metadata ("" if none).
func (e *rtEnv) meta(project string) string {
	e.t.Helper()
	var p struct {
		Metadata map[string]string `json:"metadata"`
	}
	e.get("/api/v2.0/projects/"+project, artAdmin, &p)
	return p.Metadata["retention_id"]
}

// create creates a policy as u and returns its ID.
func (e *rtEnv) create(u artUser, body any) int64 {
	e.t.Helper()
	r := e.call("POST", "/api/v2.0/retentions", u, body)
	e.expect("create policy", r, http.StatusCreated, "")
	var id int64
	loc := r.header.Get("Location")
	if _, err := fmt.Sscanf(loc, "/api/v2.0/retentions/%d", &id); err != nil {
		e.t.Fatalf("Location %q: %v", loc, err)
	}
	return id
}

// schedule returns the cron of policy id's schedule ("" if none).
func (e *rtEnv) schedule(id int64) string {
	e.t.Helper()
	s, err := e.srv.App.DB.GetSchedule(context.Background(), retention.VendorType, id)
	if err != nil {
		return ""
	}
	return s.Cron
}

// execution waits until execution eid of policy id has finished.
func (e *rtEnv) execution(id, eid int64) api.RetentionExecution {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list []api.RetentionExecution
		e.get(fmt.Sprintf("/api/v2.0/retentions/%d/executions?page_size=100", id), artAdmin, &list)
		for _, x := range list {
			if x.ID == eid && (x.Status == "Success" || x.Status == "Error" || x.Status == "Stopped") {
				return x
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("execution %d of policy %d did not finish: %+v", eid, id, list)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// trigger starts an execution as u and returns its ID.
func (e *rtEnv) trigger(u artUser, id int64, dryRun bool) int64 {
	e.t.Helper()
	r := e.call("POST", fmt.Sprintf("/api/v2.0/retentions/%d/executions", id), u, map[string]bool{"dry_run": dryRun})
	e.expect("trigger", r, http.StatusCreated, "")
	var eid int64
	if _, err := fmt.Sscanf(r.header.Get("Location"), fmt.Sprintf("/api/v2.0/retentions/%d/executions/%%d", id), &eid); err != nil {
		e.t.Fatalf("Location %q: %v", r.header.Get("Location"), err)
	}
	return eid
}

// nextEvent waits for a TAG_RETENTION event.
func (e *rtEnv) nextEvent() event.Event {
	e.t.Helper()
	select {
	case ev := <-e.events:
		return ev
	case <-time.After(15 * time.Second):
		e.t.Fatal("no TAG_RETENTION event")
	}
	return event.Event{}
}

func TestRetentionMetadata(t *testing.T) {
	e := newRTEnv(t, "sqlite")
	e.expect("anonymous", e.call("GET", "/api/v2.0/retentions/metadatas", artUser{}, nil), http.StatusUnauthorized, "UNAUTHORIZED")
	var m api.RetentionMetadata
	e.get("/api/v2.0/retentions/metadatas", e.guest, &m)
	var names []string
	for _, tm := range m.Templates {
		names = append(names, tm.RuleTemplate)
		if tm.Action != "retain" || (tm.RuleTemplate != "always") != (len(tm.Params) == 1) {
			t.Errorf("template %+v", tm)
		}
	}
	if !slices.Equal(names, []string{"latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull", "always"}) {
		t.Errorf("templates %v", names)
	}
	if len(m.ScopeSelectors) != 1 || !slices.Equal(m.ScopeSelectors[0].Decorations, []string{"repoMatches", "repoExcludes"}) ||
		len(m.TagSelectors) != 2 || !slices.Equal(m.TagSelectors[0].Decorations, []string{"matches", "excludes"}) {
		t.Errorf("selectors %+v %+v", m.ScopeSelectors, m.TagSelectors)
	}
}

func TestRetentionPolicies(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newRTEnv(t, backend)
			other := e.project("rtother", false)
			valid := rtPolicy(e.pid, "", "latestPushedK=3")
			bad := func(mut func(p map[string]any)) map[string]any {
				p := rtPolicy(e.pid, "", "latestPushedK=3")
				mut(p)
				return p
			}
			rule := func(p map[string]any) map[string]any { return p["rules"].([]any)[0].(map[string]any) }
			sixteen := make([]string, 16)
			for i := range sixteen {
				sixteen[i] = fmt.Sprintf("latestPushedK=%d", i+1)
			}
			// Refusals: nothing is written.
			for _, tc := range []struct {
				name   string
				who    artUser
				body   any
				status int
				code   string
			}{
				{"anonymous", artUser{}, valid, 401, "UNAUTHORIZED"},
				{"guest", e.guest, valid, 403, "FORBIDDEN"},
				{"outsider sees no project", e.outsider, valid, 400, "BAD_REQUEST"},
				{"no such project", artAdmin, rtPolicy(99999, "", "always"), 400, "BAD_REQUEST"},
				{"malformed", artAdmin, `{"rules": [`, 400, "BAD_REQUEST"},
				{"unknown field", artAdmin, bad(func(p map[string]any) { p["owner"] = "me" }), 400, "BAD_REQUEST"},
				{"wrong type", artAdmin, bad(func(p map[string]any) { p["rules"] = "all" }), 400, "BAD_REQUEST"},
				{"extras as an object", artAdmin, bad(func(p map[string]any) {
					rule(p)["tag_selectors"].([]any)[0].(map[string]any)["extras"] = map[string]bool{"untagged": true}
				}), 400, "BAD_REQUEST"},
				{"unknown template", artAdmin, rtPolicy(e.pid, "", "latestActiveK=3"), 400, "BAD_REQUEST"},
				{"zero", artAdmin, rtPolicy(e.pid, "", "latestPushedK=0"), 400, "BAD_REQUEST"},
				{"missing param", artAdmin, bad(func(p map[string]any) { rule(p)["params"] = map[string]any{} }), 400, "BAD_REQUEST"},
				{"fraction", artAdmin, bad(func(p map[string]any) { rule(p)["params"] = map[string]any{"latestPushedK": 2.5} }), 400, "BAD_REQUEST"},
				{"16 rules", artAdmin, rtPolicy(e.pid, "", sixteen...), 400, "BAD_REQUEST"},
				{"bad pattern", artAdmin, bad(func(p map[string]any) {
					rule(p)["tag_selectors"].([]any)[0].(map[string]any)["pattern"] = "v[1"
				}), 400, "BAD_REQUEST"},
				{"bad repository decoration", artAdmin, bad(func(p map[string]any) {
					rule(p)["scope_selectors"] = map[string]any{"repository": []any{map[string]any{"kind": "doublestar", "decoration": "matches", "pattern": "**"}}}
				}), 400, "BAD_REQUEST"},
				{"bad cron", artAdmin, rtPolicy(e.pid, "at noon", "always"), 400, "BAD_REQUEST"},
				{"system scope", artAdmin, bad(func(p map[string]any) { p["scope"] = map[string]any{"level": "system", "ref": 0} }), 400, "BAD_REQUEST"},
				{"two identical rules", artAdmin, rtPolicy(e.pid, "", "always", "always"), 409, "CONFLICT"},
			} {
				r := e.call("POST", "/api/v2.0/retentions", tc.who, tc.body)
				e.expect(tc.name, r, tc.status, tc.code)
			}
			if m := e.meta("ret"); m != "" {
				t.Fatalf("a refused create left retention_id %q", m)
			}

			// Create: the project links it; one per project.
			id := e.create(e.adminUser, rtPolicy(e.pid, "0 0 3 * * *", "latestPushedK=3", "nDaysSinceLastPull=7"))
			if m := e.meta("ret"); m != fmt.Sprint(id) {
				t.Fatalf("retention_id %q, want %d", m, id)
			}
			if c := e.schedule(id); c != "0 0 3 * * *" {
				t.Errorf("schedule %q", c)
			}
			e.expect("second policy", e.call("POST", "/api/v2.0/retentions", artAdmin, valid), 400, "BAD_REQUEST")
			// Harbor added retention to developers.
			otherID := e.create(artAdmin, rtPolicy(other, "", "always"))

			// Read.
			var got api.RetentionPolicy
			e.get(fmt.Sprintf("/api/v2.0/retentions/%d", id), e.dev, &got)
			if got.ID != id || got.Algorithm != "or" || len(got.Rules) != 2 || got.Rules[1].ID != 2 || got.Rules[1].Template != "nDaysSinceLastPull" ||
				got.Scope.Ref != e.pid || got.Cron() != "0 0 3 * * *" || got.Rules[0].Params["latestPushedK"] != float64(3) {
				t.Errorf("policy %+v", got)
			}
			for _, tc := range []struct {
				name   string
				who    artUser
				path   string
				status int
			}{
				{"anonymous", artUser{}, fmt.Sprintf("/api/v2.0/retentions/%d", id), 401},
				{"guest", e.guest, fmt.Sprintf("/api/v2.0/retentions/%d", id), 403},
				{"outsider", e.outsider, fmt.Sprintf("/api/v2.0/retentions/%d", id), 404},
				{"no such policy", artAdmin, "/api/v2.0/retentions/99999", 404},
				{"bad id", artAdmin, "/api/v2.0/retentions/abc", 400},
			} {
				e.expect("get "+tc.name, e.call("GET", tc.path, tc.who, nil), tc.status, "")
			}

			// Update: rules and schedule change, the project does not.
			path := fmt.Sprintf("/api/v2.0/retentions/%d", id)
			upd := rtPolicy(e.pid, "", "always")
			upd["id"] = id
			e.expect("guest update", e.call("PUT", path, e.guest, upd), 403, "FORBIDDEN")
			e.expect("move", e.call("PUT", path, artAdmin, rtPolicy(other, "", "always")), 400, "BAD_REQUEST")
			wrongID := rtPolicy(e.pid, "", "always")
			wrongID["id"] = otherID
			e.expect("other id", e.call("PUT", path, artAdmin, wrongID), 400, "BAD_REQUEST")
			e.expect("invalid", e.call("PUT", path, artAdmin, rtPolicy(e.pid, "", "latestPushedK=-1")), 400, "BAD_REQUEST")
			e.get(path, artAdmin, &got)
			if len(got.Rules) != 2 || e.schedule(id) == "" {
				t.Fatalf("refused updates changed the policy: %+v", got)
			}
			e.expect("developer update", e.call("PUT", path, e.dev, upd), 200, "")
			e.get(path, artAdmin, &got)
			if len(got.Rules) != 1 || got.Rules[0].Template != "always" || got.Cron() != "" || e.schedule(id) != "" {
				t.Errorf("after update: %+v, schedule %q", got, e.schedule(id))
			}
			e.expect("new schedule", e.call("PUT", path, e.adminUser, rtPolicy(e.pid, "0 30 1 * * 1", "always")), 200, "")
			if e.schedule(id) != "0 30 1 * * 1" {
				t.Errorf("schedule %q", e.schedule(id))
			}

			// Delete: the schedule and the project's link go.
			e.expect("guest delete", e.call("DELETE", path, e.guest, nil), 403, "FORBIDDEN")
			e.expect("outsider delete", e.call("DELETE", path, e.outsider, nil), 404, "NOT_FOUND")
			e.expect("developer delete", e.call("DELETE", path, e.dev, nil), 200, "")
			e.expect("get deleted", e.call("GET", path, artAdmin, nil), 404, "NOT_FOUND")
			e.expect("delete again", e.call("DELETE", path, artAdmin, nil), 404, "NOT_FOUND")
			if m := e.meta("ret"); m != "" || e.schedule(id) != "" {
				t.Errorf("after delete: retention_id %q, schedule %q", m, e.schedule(id))
			}
			// The project can have a policy again.
			e.create(e.dev, valid)
		})
	}
}

// rtTags lists the tags of each artifact of repository (project/repo),
// untagged ones as "-", sorted.
func (e *rtEnv) rtTags(project, repo string) []string {
	e.t.Helper()
	var list []api.Artifact
	e.get("/api/v2.0/projects/"+project+"/repositories/"+repo+"/artifacts?with_tag=true&page_size=100", artAdmin, &list)
	var out []string
	for _, a := range list {
		var names []string
		for _, tg := range a.Tags {
			names = append(names, tg.Name)
		}
		slices.Sort(names)
		if len(names) == 0 {
			names = []string{"-"}
		}
		out = append(out, strings.Join(names, ","))
	}
	slices.Sort(out)
	return out
}

// TestRetentionRun pushes images through /v2 and runs a policy keeping the
// two most recently pushed artifacts of each repository, first as a dry
// run, then for real, then stops a run before it starts.
func TestRetentionRun(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newRTEnv(t, backend)
			ctx := context.Background()
			pid := e.project("shop", false)
			_, devID := e.user("shopdev")
			e.member(pid, devID, rbac.Developer)
			shopDev := artUser{"shopdev", artPassword}
			// app: t1 (immutable) t2 (signed) t3 t4 t5 and an untagged
			// image pushed last; other: o1 o2 o3.
			pushed := map[string]artPushed{}
			for _, tg := range []string{"t1", "t2", "t3", "t4", "t5"} {
				pushed[tg] = e.image("shop/app", tg, "amd64")
				if tg == "t2" {
					pushed["sig"] = e.signature("shop/app", pushed[tg], false)
				}
				time.Sleep(3 * time.Millisecond) // distinct push times
			}
			untagged := e.image("shop/app", "", "amd64")
			for _, tg := range []string{"o1", "o2", "o3"} {
				pushed[tg] = e.image("shop/other", tg, "arm64")
				time.Sleep(3 * time.Millisecond)
			}
			e.expect("immutable rule", e.call("POST", "/api/v2.0/projects/shop/immutabletagrules", artAdmin, map[string]any{
				"tag_selectors":   []any{map[string]string{"kind": "doublestar", "decoration": "matches", "pattern": "t1"}},
				"scope_selectors": map[string]any{"repository": []any{map[string]string{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}}},
			}), 201, "")
			id := e.create(shopDev, rtPolicy(pid, "", "latestPushedK=2"))
			before := []string{"-", "t1", "t2", "t3", "t4", "t5"}
			if got := e.rtTags("shop", "app"); !slices.Equal(got, before) {
				t.Fatalf("pushed %v", got)
			}
			// The guest of "ret" is nobody here; the developer runs it.
			e.expect("outsider trigger", e.call("POST", fmt.Sprintf("/api/v2.0/retentions/%d/executions", id), e.guest, map[string]bool{"dry_run": true}), 404, "")
			e.expect("bad body", e.call("POST", fmt.Sprintf("/api/v2.0/retentions/%d/executions", id), shopDev, map[string]any{"dry_run": "yes"}), 400, "")

			check := func(eid int64, dry bool) {
				t.Helper()
				x := e.execution(id, eid)
				if x.Status != "Success" || x.DryRun != dry || x.PolicyID != id || x.Trigger != "MANUAL" {
					t.Fatalf("execution %+v", x)
				}
				var tasks []api.RetentionExecutionTask
				r := e.get(fmt.Sprintf("/api/v2.0/retentions/%d/executions/%d/tasks", id, eid), shopDev, &tasks)
				if r.header.Get("X-Total-Count") != "2" || len(tasks) != 2 {
					t.Fatalf("tasks %+v", tasks)
				}
				want := map[string][2]int{"app": {6, 3}, "other": {3, 2}}
				for _, tk := range tasks {
					w, ok := want[tk.Repository]
					if !ok || tk.Status != "Success" || tk.StatusCode != 3 || tk.Total != w[0] || tk.Retained != w[1] || tk.ExecutionID != eid {
						t.Errorf("task %+v, want total and retained %v", tk, w)
					}
					var text string
					lr := e.call("GET", fmt.Sprintf("/api/v2.0/retentions/%d/executions/%d/tasks/%d", id, eid, tk.ID), shopDev, nil)
					e.expect("log", lr, 200, "")
					text = string(lr.body)
					if tk.Repository == "app" {
						for _, line := range []string{
							"RETAIN t5@" + pushed["t5"].digest, "RETAIN t4@" + pushed["t4"].digest,
							"DELETE t3@" + pushed["t3"].digest, "DELETE t2@" + pushed["t2"].digest,
							"DELETE <untagged>@" + untagged.digest, "IMMUTABLE t1@" + pushed["t1"].digest,
						} {
							if !strings.Contains(text, line) {
								t.Errorf("log of app lacks %q:\n%s", line, text)
							}
						}
					}
				}
				ev := e.nextEvent()
				r2 := ev.Retention
				if ev.ProjectID != pid || ev.Project != "shop" || ev.Operator != "shopdev" || r2 == nil || r2.PolicyID != id ||
					r2.Status != "Success" || r2.Total != 9 || r2.Retained != 5 || len(r2.Deleted) != 4 {
					t.Fatalf("event %+v %+v", ev, r2)
				}
				var names []string
				for _, d := range r2.Deleted {
					names = append(names, d.NameAndTag)
				}
				slices.Sort(names)
				if want := []string{"shop/app:t2", "shop/app:t3", "shop/app@" + untagged.digest, "shop/other:o1"}; !slices.Equal(names, want) {
					t.Errorf("deleted %v, want %v", names, want)
				}
			}

			// Dry run: everything stays.
			check(e.trigger(shopDev, id, true), true)
			if got := e.rtTags("shop", "app"); !slices.Equal(got, before) {
				t.Fatalf("a dry run deleted: %v", got)
			}
			// For real: the two newest and the immutable t1 stay; t2 goes
			// with its signature.
			check(e.trigger(shopDev, id, false), false)
			if got := e.rtTags("shop", "app"); !slices.Equal(got, []string{"t1", "t4", "t5"}) {
				t.Errorf("app after retention: %v", got)
			}
			if got := e.rtTags("shop", "other"); !slices.Equal(got, []string{"o2", "o3"}) {
				t.Errorf("other after retention: %v", got)
			}
			for name, p := range pushed {
				repo := "shop/app"
				if strings.HasPrefix(name, "o") {
					repo = "shop/other"
				}
				want := http.StatusOK
				if name == "t2" || name == "t3" || name == "o1" || name == "sig" {
					want = http.StatusNotFound
				}
				if got := e.registry("GET", "/v2/"+repo+"/manifests/"+p.digest, artAdmin); got != want {
					t.Errorf("GET %s@%s (%s): %d, want %d", repo, p.digest, name, got, want)
				}
			}
			if got := e.registry("GET", "/v2/shop/app/manifests/"+untagged.digest, artAdmin); got != http.StatusNotFound {
				t.Errorf("untagged image: %d", got)
			}
			// Running again changes nothing (the remaining artifacts are retained).
			eid := e.trigger(shopDev, id, false)
			if x := e.execution(id, eid); x.Status != "Success" {
				t.Fatalf("third run %+v", x)
			}
			if ev := e.nextEvent(); ev.Retention.Total != 5 || ev.Retention.Retained != 5 {
				t.Errorf("third run event %+v", ev.Retention)
			}

			// Executions are listed newest first, with paging.
			var list []api.RetentionExecution
			r := e.get(fmt.Sprintf("/api/v2.0/retentions/%d/executions?page=1&page_size=2", id), shopDev, &list)
			if r.header.Get("X-Total-Count") != "3" || len(list) != 2 || list[0].ID != eid || !strings.Contains(r.header.Get("Link"), `rel="next"`) {
				t.Errorf("executions %+v, headers %v", list, r.header)
			}
			e.expect("q on executions", e.call("GET", fmt.Sprintf("/api/v2.0/retentions/%d/executions?q=status=Success", id), shopDev, nil), 400, "")
			e.expect("outsider lists", e.call("GET", fmt.Sprintf("/api/v2.0/retentions/%d/executions", id), e.guest, nil), 404, "")

			// Stop: with the queue paused the tasks stay pending; a stop ends them.
			if err := e.srv.App.DB.SetQueuePaused(ctx, retention.TaskKind, true); err != nil {
				t.Fatal(err)
			}
			eid = e.trigger(shopDev, id, false)
			ops := fmt.Sprintf("/api/v2.0/retentions/%d/executions/%d", id, eid)
			e.expect("pause action", e.call("PATCH", ops, shopDev, map[string]string{"action": "pause"}), 400, "")
			e.expect("no such execution", e.call("PATCH", fmt.Sprintf("/api/v2.0/retentions/%d/executions/99999", id), shopDev,
				map[string]string{"action": "stop"}), 404, "")
			e.expect("stop", e.call("PATCH", ops, shopDev, map[string]string{"action": "stop"}), 200, "")
			if x := e.execution(id, eid); x.Status != "Stopped" {
				t.Errorf("stopped execution %+v", x)
			}
			if ev := e.nextEvent(); ev.Retention.Status != "Stopped" {
				t.Errorf("stop event %+v", ev.Retention)
			}
			var tasks []api.RetentionExecutionTask
			e.get(ops+"/tasks", shopDev, &tasks)
			if len(tasks) != 2 || tasks[0].Status != "Stopped" || tasks[1].Status != "Stopped" {
				t.Errorf("stopped tasks %+v", tasks)
			}
			if err := e.srv.App.DB.SetQueuePaused(ctx, retention.TaskKind, false); err != nil {
				t.Fatal(err)
			}
			if got := e.rtTags("shop", "app"); !slices.Equal(got, []string{"t1", "t4", "t5"}) {
				t.Errorf("a stopped run deleted: %v", got)
			}
			// A task of another execution is not this one's.
			e.expect("foreign task", e.call("GET", fmt.Sprintf("%s/tasks/%d", ops, tasks[0].ID-2), shopDev, nil), 404, "")
			// The policy of another project is not reachable through this one's.
			e.expect("foreign execution", e.call("GET", fmt.Sprintf("/api/v2.0/retentions/%d/executions/%d/tasks", e.create(artAdmin, rtPolicy(e.pid, "", "always")), eid),
				artAdmin, nil), 404, "")
		})
	}
}

// TestRetentionScheduleOfDeletedPolicy: a schedule left behind by a
// policy that is gone (its project was deleted) removes itself when it
// fires.
func TestRetentionScheduleOfDeletedPolicy(t *testing.T) {
	e := newRTEnv(t, "sqlite")
	id := e.create(artAdmin, rtPolicy(e.pid, "* * * * * *", "always"))
	if e.schedule(id) == "" {
		t.Fatal("no schedule")
	}
	// Remove the policy behind the API's back: the schedule fires within
	// a second or two, finds no policy and removes itself.
	if err := e.srv.App.DB.DeleteRetentionPolicy(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.schedule(id) != "" {
		if time.Now().After(deadline) {
			t.Fatal("the schedule of a deleted policy is still there")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// retentionMXRows are the authorization matrix rows of the retention
// operations, appended to mxRows by TestAuthorizationMatrix. tag-retention
// is CRUDL,operate for projectAdmin, maintainer and developer (Harbor
// added developers), none for guests; robots may hold CRUDL. Harbor's
// handler (src/server/v2.0/handler/retention.go) checks create to create,
// read to get a policy or a task log, update to change a policy, trigger
// or stop an execution, delete to delete, list for the listings. A policy
// naming a project the caller cannot see is refused as an invalid project
// (400, as for a project that does not exist), not a 404.
func retentionMXRows() []mxRow {
	signedIn := "D A A A A A A A A A A"
	developerUp := "D A A A D D D A D A A"
	createWant := "D A A A D D 400 A D A A"
	// "matrix" holds at most one policy: the fixture, with one finished
	// dry run, made on first use and again after a row removed it.
	var policy, exec, task int64
	body := func(e *mxEnv) map[string]any { return rtPolicy(e.matrixID, "", "always") }
	fixture := func(e *mxEnv) {
		if policy != 0 {
			return
		}
		policy = e.createdID(e.must("POST", "/retentions", body(e)))
		r := e.must("POST", fmt.Sprintf("/retentions/%d/executions", policy), map[string]bool{"dry_run": true})
		exec = e.createdID(r)
		deadline := time.Now().Add(30 * time.Second)
		for task == 0 {
			var execs []api.RetentionExecution
			json.Unmarshal(e.must("GET", fmt.Sprintf("/retentions/%d/executions", policy), nil).body, &execs)
			if len(execs) == 1 && execs[0].Status == "Success" {
				var tasks []api.RetentionExecutionTask
				json.Unmarshal(e.must("GET", fmt.Sprintf("/retentions/%d/executions/%d/tasks?page_size=1", policy, exec), nil).body, &tasks)
				task = tasks[0].ID
			}
			if time.Now().After(deadline) {
				e.t.Fatalf("retention matrix fixture: the dry run did not finish: %+v", execs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// noPolicy removes the fixture, for creates.
	noPolicy := func(e *mxEnv) {
		if policy != 0 {
			e.must("DELETE", fmt.Sprintf("/retentions/%d", policy), nil)
			policy, exec, task = 0, 0, 0
		}
	}
	at := func(format string, ids func() []any, withBody func(e *mxEnv) any) func(*mxEnv, mxWho) mxReq {
		return func(e *mxEnv, _ mxWho) mxReq {
			fixture(e)
			q := mxReq{path: fmt.Sprintf(format, ids()...), project: mxProject}
			if withBody != nil {
				q.body = withBody(e)
			}
			return q
		}
	}
	pol := func() []any { return []any{policy} }
	ex := func() []any { return []any{policy, exec} }
	tk := func() []any { return []any{policy, exec, task} }
	return []mxRow{
		{op: "getRentenitionMetadata", needs: "signed in", want: signedIn, req: mxAt("/retentions/metadatas")},
		{op: "createRetention", needs: "tag-retention:create", proj: mxPerms("tag-retention:create"), want: createWant,
			req: func(e *mxEnv, _ mxWho) mxReq {
				noPolicy(e)
				return mxReq{path: "/retentions", body: body(e), project: mxProject}
			},
			after: func(e *mxEnv, _ mxWho, r mxResp) {
				if r.status == 201 {
					e.must("DELETE", fmt.Sprintf("/retentions/%d", e.createdID(r)), nil)
				}
			}},
		{op: "getRetention", needs: "tag-retention:read", proj: mxPerms("tag-retention:read"), want: developerUp,
			req: at("/retentions/%d", pol, nil)},
		{op: "updateRetention", needs: "tag-retention:update", proj: mxPerms("tag-retention:update"), want: developerUp,
			req: at("/retentions/%d", pol, func(e *mxEnv) any { return rtPolicy(e.matrixID, "", "always", "latestPushedK=5") })},
		{op: "deleteRetention", needs: "tag-retention:delete", proj: mxPerms("tag-retention:delete"), want: developerUp,
			req: at("/retentions/%d", pol, nil),
			after: func(e *mxEnv, _ mxWho, r mxResp) {
				if r.status == 200 {
					policy, exec, task = 0, 0, 0
				}
			}},
		{op: "triggerRetentionExecution", needs: "tag-retention:update", proj: mxPerms("tag-retention:update"), want: developerUp,
			req: at("/retentions/%d/executions", pol, func(*mxEnv) any { return map[string]bool{"dry_run": true} })},
		{op: "listRetentionExecutions", needs: "tag-retention:list", proj: mxPerms("tag-retention:list"), want: developerUp,
			req: at("/retentions/%d/executions", pol, nil)},
		{op: "operateRetentionExecution", needs: "tag-retention:update", proj: mxPerms("tag-retention:update"), want: developerUp,
			req: at("/retentions/%d/executions/%d", ex, func(*mxEnv) any { return map[string]string{"action": "stop"} })},
		{op: "listRetentionTasks", needs: "tag-retention:list", proj: mxPerms("tag-retention:list"), want: developerUp,
			req: at("/retentions/%d/executions/%d/tasks", ex, nil)},
		{op: "getRetentionTaskLog", needs: "tag-retention:read", proj: mxPerms("tag-retention:read"), want: developerUp,
			req: at("/retentions/%d/executions/%d/tasks/%d", tk, nil)},
	}
}
