package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/immutable"
	"github.com/berth-dev/berth/internal/policy"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/retention"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

var ctx = context.Background()

// fixture is a real SQLite store with a private project p, its members
// (a maintainer, a developer and a guest), a user who is none of them,
// and the two services over the real auth service.
type fixture struct {
	db      *store.DB
	project *store.Project
	callers map[string]*auth.Principal
	ev      *testserver.Events
	changed int
	imm     *policy.Immutable
	ret     *policy.Retention
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	a := testserver.NewAccounts(t, "sqlite")
	f := &fixture{db: a.DB, ev: a.Events, callers: map[string]*auth.Principal{"anonymous": {}}}
	f.callers["admin"] = a.User("admin", true)
	f.project = a.Project("p", f.callers["admin"], false)
	for name, role := range map[string]rbac.Role{"maintainer": rbac.Maintainer, "developer": rbac.Developer, "guest": rbac.Guest} {
		f.callers[name] = a.User(name, false)
		a.Member(f.project.ID, f.callers[name], role)
	}
	f.callers["outsider"] = a.User("outsider", false)
	changed := func() { f.changed++ }
	f.imm = policy.NewImmutable(a.DB, a.Auth, f.ev, changed)
	f.ret = policy.NewRetention(a.DB, nil, a.Auth, f.ev, changed)
	return f
}

// kindOf names the kind of err ("" for nil).
func kindOf(err error) string {
	for _, k := range []errs.Kind{errs.Invalid, errs.Denied, errs.NotFound, errs.Unauthenticated, errs.Conflict, errs.Exists, errs.Unavailable} {
		if errs.Is(err, k) {
			return k.String()
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

// immRule returns a fill of a rule for tags matching pattern in every
// repository.
func immRule(pattern string) func(*immutable.Rule) error {
	return func(r *immutable.Rule) error {
		r.TagSelectors = []immutable.Selector{{Kind: immutable.KindDoublestar, Decoration: immutable.DecoMatches, Pattern: pattern}}
		r.ScopeSelectors = map[string][]immutable.Selector{immutable.ScopeRepository: {{Kind: immutable.KindDoublestar, Decoration: immutable.DecoRepoMatches, Pattern: "**"}}}
		return nil
	}
}

// TestImmutablePermissions: who may list, create, change and delete a
// project's immutability rules (Harbor's matrix: project admins and
// maintainers), and what the others are answered.
func TestImmutablePermissions(t *testing.T) {
	f := newFixture(t)
	admin := f.callers["admin"]
	n := 0
	fresh := func() int64 {
		n++
		id, err := f.imm.Create(ctx, admin, f.project, immRule(fmt.Sprintf("v%d", n)))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	ops := map[string]func(p *auth.Principal) error{
		"list": func(p *auth.Principal) error { _, _, err := f.imm.List(ctx, p, f.project, nil, 0, 10); return err },
		"create": func(p *auth.Principal) error {
			n++
			_, err := f.imm.Create(ctx, p, f.project, immRule(fmt.Sprintf("c%d", n)))
			return err
		},
		"update": func(p *auth.Principal) error {
			return f.imm.Update(ctx, p, f.project, fresh(), func(r *immutable.Rule) error { r.Disabled = true; return nil })
		},
		"delete": func(p *auth.Principal) error { return f.imm.Delete(ctx, p, f.project, fresh()) },
	}
	for _, c := range []struct{ caller, want string }{
		{"admin", ""}, {"maintainer", ""},
		{"developer", errs.Denied.String()}, {"guest", errs.Denied.String()},
		{"outsider", errs.NotFound.String()}, // the private project stays hidden
		{"anonymous", errs.Unauthenticated.String()},
	} {
		for name, op := range ops {
			if got := kindOf(op(f.callers[c.caller])); got != c.want {
				t.Errorf("%s %s: %q, want %q", c.caller, name, got, c.want)
			}
		}
	}
}

// TestImmutableRules: the validation of created and changed rules, and
// the event and cache drop of every change.
func TestImmutableRules(t *testing.T) {
	f := newFixture(t)
	admin := f.callers["admin"]
	for _, c := range []struct {
		name string
		fill func(*immutable.Rule) error
		want string
	}{
		{"valid", immRule("v*"), ""},
		{"duplicate", immRule("v*"), errs.Exists.String()},
		{"empty pattern", immRule(""), errs.Invalid.String()},
		{"other action", func(r *immutable.Rule) error { immRule("a")(r); r.Action = "retain"; return nil }, errs.Invalid.String()},
		{"two tag selectors", func(r *immutable.Rule) error {
			immRule("b")(r)
			r.TagSelectors = append(r.TagSelectors, r.TagSelectors[0])
			return nil
		}, errs.Invalid.String()},
		{"retention's decoration", func(r *immutable.Rule) error {
			immRule("c")(r)
			r.TagSelectors[0].Decoration = "withLabels"
			return nil
		}, errs.Invalid.String()},
		{"its fill refuses", func(*immutable.Rule) error { return errs.E(errs.Invalid, "decode", "bad body") }, errs.Invalid.String()},
		{"an ID is ignored", func(r *immutable.Rule) error { immRule("d")(r); r.ID = 999; return nil }, ""},
	} {
		id, err := f.imm.Create(ctx, admin, f.project, c.fill)
		if got := kindOf(err); got != c.want {
			t.Errorf("create %s: %q (%v), want %q", c.name, got, err, c.want)
		}
		if err == nil && (id == 999 || id == 0) {
			t.Errorf("create %s: id %d", c.name, id)
		}
	}
	rows, total, err := f.imm.List(ctx, admin, f.project, nil, 0, 10)
	if err != nil || total != 2 || len(rows) != 2 || rows[0].TagSelectors[0].Pattern != "v*" {
		t.Fatalf("rules %+v (%d), %v", rows, total, err)
	}
	id := rows[0].ID
	var ev event.Event // the newest event
	if evs := f.ev.Take(); len(evs) > 0 {
		ev = evs[len(evs)-1]
	}
	if ev.Operator != "admin" || ev.ProjectID != f.project.ID || !strings.Contains(ev.Description+ev.Resource, "rule") {
		t.Errorf("create event %+v", ev)
	}
	for _, c := range []struct {
		name   string
		change func(*immutable.Rule) error
		want   string
	}{
		{"another ID", func(r *immutable.Rule) error { r.ID++; return nil }, errs.Invalid.String()},
		{"invalid", func(r *immutable.Rule) error { r.ScopeSelectors = nil; return nil }, errs.Invalid.String()},
		{"disable", func(r *immutable.Rule) error { r.Disabled = true; return nil }, ""},
	} {
		if got := kindOf(f.imm.Update(ctx, admin, f.project, id, c.change)); got != c.want {
			t.Errorf("update %s: %q, want %q", c.name, got, c.want)
		}
	}
	if rows, _, _ = f.imm.List(ctx, admin, f.project, nil, 0, 10); !rows[0].Disabled || rows[0].TagSelectors[0].Pattern != "v*" {
		t.Errorf("after disabling: %+v", rows[0])
	}
	if got := kindOf(f.imm.Update(ctx, admin, f.project, id+100, func(*immutable.Rule) error { return nil })); got != errs.NotFound.String() {
		t.Errorf("update of a missing rule: %q", got)
	}
	before := f.changed
	if err := f.imm.Delete(ctx, admin, f.project, id); err != nil {
		t.Fatal(err)
	}
	if f.changed != before+1 {
		t.Errorf("delete: changed called %d times", f.changed-before)
	}
	if got := kindOf(f.imm.Delete(ctx, admin, f.project, id)); got != errs.NotFound.String() {
		t.Errorf("second delete: %q", got)
	}
}

// retentionPolicy is a policy of one rule for project pid (with cron as
// its schedule).
func retentionPolicy(t *testing.T, pid int64, template, cron string) *retention.Policy {
	t.Helper()
	var p retention.Policy
	if err := json.Unmarshal([]byte(fmt.Sprintf(`{"rules": [{"template": %q, "params": {},
		"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
		"scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}],
		"trigger": {"kind": "Schedule", "settings": {"cron": %q}}, "scope": {"level": "project", "ref": %d}}`, template, cron, pid)), &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// TestRetentionPermissions: who may create and read a project's policy
// (project admins, maintainers and developers, as in Harbor), and what
// the others are answered: a project the caller may not see is Harbor's
// "invalid project id" to create a policy in, and its policy is not found.
func TestRetentionPermissions(t *testing.T) {
	for _, c := range []struct{ caller, create, get string }{
		{"admin", "", ""}, {"maintainer", "", ""}, {"developer", "", ""},
		{"guest", errs.Denied.String(), errs.Denied.String()},
		{"outsider", errs.Invalid.String(), errs.NotFound.String()},
		{"anonymous", errs.Unauthenticated.String(), errs.Unauthenticated.String()},
	} {
		f := newFixture(t)
		p := f.callers[c.caller]
		_, err := f.ret.Create(ctx, p, retentionPolicy(t, f.project.ID, "always", ""))
		if got := kindOf(err); got != c.create {
			t.Errorf("%s create: %q (%v), want %q", c.caller, got, err, c.create)
		}
		if c.create != "" {
			if _, err = f.ret.Create(ctx, f.callers["admin"], retentionPolicy(t, f.project.ID, "always", "")); err != nil {
				t.Fatal(err)
			}
		}
		info, err := f.db.ProjectInfo(ctx, f.project.ID)
		if err != nil {
			t.Fatal(err)
		}
		id := policy.PolicyID(info.Metadata)
		if id == 0 {
			t.Fatalf("%s: the project does not link its policy: %v", c.caller, info.Metadata)
		}
		_, err = f.ret.Get(ctx, p, id)
		if got := kindOf(err); got != c.get {
			t.Errorf("%s get: %q, want %q", c.caller, got, c.get)
		}
		_, _, err = f.ret.Executions(ctx, p, id, 0, 10)
		if got := kindOf(err); got != c.get {
			t.Errorf("%s executions: %q, want %q", c.caller, got, c.get)
		}
		if got := kindOf(f.ret.Delete(ctx, p, id)); got != c.get {
			t.Errorf("%s delete: %q, want %q", c.caller, got, c.get)
		}
	}
}

// TestRetentionRules: the validation of a policy, one policy per project,
// what needs the job system, and the project's link to its policy.
func TestRetentionRules(t *testing.T) {
	f := newFixture(t)
	admin := f.callers["admin"]
	pid := f.project.ID
	for _, c := range []struct {
		name string
		pol  *retention.Policy
		want string
	}{
		{"unknown template", retentionPolicy(t, pid, "newest", ""), errs.Invalid.String()},
		{"no scope", func() *retention.Policy { p := retentionPolicy(t, pid, "always", ""); p.Scope = nil; return p }(), errs.Invalid.String()},
		{"no such project", retentionPolicy(t, pid+100, "always", ""), errs.Invalid.String()},
		{"a schedule without the job system", retentionPolicy(t, pid, "always", "0 0 0 * * *"), errs.Unavailable.String()},
		{"valid", retentionPolicy(t, pid, "always", ""), ""},
		{"a second policy", retentionPolicy(t, pid, "always", ""), errs.Invalid.String()},
	} {
		if _, err := f.ret.Create(ctx, admin, c.pol); kindOf(err) != c.want {
			t.Errorf("create %s: %q (%v), want %q", c.name, kindOf(err), err, c.want)
		}
	}
	info, err := f.db.ProjectInfo(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	id := policy.PolicyID(info.Metadata)
	for _, c := range []struct {
		name string
		pol  *retention.Policy
		want string
	}{
		{"another project", func() *retention.Policy { p := retentionPolicy(t, pid, "always", ""); p.Scope.Ref = pid + 1; return p }(), errs.Invalid.String()},
		{"another ID", func() *retention.Policy { p := retentionPolicy(t, pid, "always", ""); p.ID = id + 1; return p }(), errs.Invalid.String()},
		{"a schedule without the job system", retentionPolicy(t, pid, "always", "0 0 0 * * *"), errs.Unavailable.String()},
		{"latestPushedK without its count", retentionPolicy(t, pid, "latestPushedK", ""), errs.Invalid.String()},
	} {
		if err := f.ret.Update(ctx, admin, id, c.pol); kindOf(err) != c.want {
			t.Errorf("update %s: %q (%v), want %q", c.name, kindOf(err), err, c.want)
		}
	}
	p := retentionPolicy(t, pid, "latestPushedK", "")
	p.Rules[0].Params = map[string]any{"latestPushedK": 3}
	if err := f.ret.Update(ctx, admin, id, p); err != nil {
		t.Fatal(err)
	}
	got, err := f.ret.Get(ctx, admin, id)
	if err != nil || got.ID != id || got.Rules[0].Template != "latestPushedK" || got.Rules[0].Params["latestPushedK"] != float64(3) {
		t.Fatalf("policy after update: %+v, %v", got, err)
	}
	if _, err := f.ret.Run(ctx, admin, id, true); kindOf(err) != errs.Unavailable.String() {
		t.Errorf("run without the job system: %v", err)
	}
	if templates, err := f.ret.Templates(f.callers["guest"]); err != nil || len(templates) != len(retention.Templates) {
		t.Errorf("templates: %v, %v", templates, err)
	}
	if _, err := f.ret.Templates(f.callers["anonymous"]); kindOf(err) != errs.Unauthenticated.String() {
		t.Errorf("templates for an anonymous caller: %v", err)
	}
	if err := f.ret.Delete(ctx, admin, id); err != nil {
		t.Fatal(err)
	}
	if info, err = f.db.ProjectInfo(ctx, pid); err != nil || policy.PolicyID(info.Metadata) != 0 {
		t.Errorf("the project still links its deleted policy: %v, %v", info.Metadata, err)
	}
	if _, err := f.ret.Get(ctx, admin, id); kindOf(err) != errs.NotFound.String() {
		t.Errorf("get of the deleted policy: %v", err)
	}
}
