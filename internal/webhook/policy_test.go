package webhook_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
	"github.com/berth-dev/berth/internal/webhook"
)

// policyEnv is a policy service over a real store and auth, with a
// private project "team" whose members are owner (project admin, its
// creator), maint (maintainer) and dev (developer), and a user outsider.
type policyEnv struct {
	db      *store.DB
	svc     *webhook.Policies
	events  *testserver.Events
	changed int
	block   bool
	project *store.Project
	callers map[string]*auth.Principal
}

func newPolicyEnv(t *testing.T, backend string, opts webhook.PolicyOptions) *policyEnv {
	t.Helper()
	a := testserver.NewAccounts(t, backend)
	e := &policyEnv{db: a.DB, events: a.Events, callers: map[string]*auth.Principal{
		"admin": {UserID: 0, Name: "admin", Admin: true}, "anonymous": {},
	}}
	for _, name := range []string{"owner", "maint", "dev", "outsider"} {
		e.callers[name] = a.User(name, false)
	}
	e.project = a.Project("team", e.callers["owner"], false)
	for name, role := range map[string]rbac.Role{"maint": rbac.Maintainer, "dev": rbac.Developer} {
		a.Member(e.project.ID, e.callers[name], role)
	}
	opts.Events, opts.Changed, opts.BlockInternal = e.events, func() { e.changed++ }, func() bool { return e.block }
	e.svc = webhook.NewPolicies(a.DB, a.Auth, opts)
	return e
}

// take returns the descriptions of the events since the last take, with
// "failed" after a failed operation's.
func (e *policyEnv) take() []string {
	var out []string
	for _, ev := range e.events.Take() {
		d := ev.Operator + ": " + ev.Description
		if !ev.Success {
			d += " failed"
		}
		out = append(out, d)
	}
	return out
}

// change is a valid policy change named name.
func change(name string) webhook.Change {
	events := []string{"PUSH_ARTIFACT"}
	targets := []webhook.Target{{Type: "http", Address: "https://ci.example.com/hook"}}
	return webhook.Change{Name: &name, EventTypes: &events, Targets: &targets}
}

func backends(t *testing.T, run func(t *testing.T, backend string)) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) { run(t, backend) })
	}
}

// TestPolicyPermissions checks who may do what with a project's webhook
// policies: the project admin (and the system administrator) everything,
// a maintainer read and list, a developer nothing (refused), a
// non-member nothing (the private project hidden) and an anonymous
// caller is asked to authenticate.
func TestPolicyPermissions(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		e := newPolicyEnv(t, backend, webhook.PolicyOptions{})
		pol, err := e.svc.Create(ctx, e.callers["owner"], e.project, change("seed"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		ops := map[string]func(p *auth.Principal) error{
			"list": func(p *auth.Principal) error { _, _, err := e.svc.List(ctx, p, e.project, nil, 0, 10); return err },
			"get":  func(p *auth.Principal) error { _, err := e.svc.Get(ctx, p, e.project, pol.ID); return err },
			"executions": func(p *auth.Principal) error {
				_, _, err := e.svc.Executions(ctx, p, e.project, pol.ID, nil, 0, 10)
				return err
			},
			"jobs": func(p *auth.Principal) error {
				_, _, err := e.svc.Jobs(ctx, p, e.project, pol.ID, nil, nil, 0, 10)
				return err
			},
			"last triggers": func(p *auth.Principal) error { _, err := e.svc.LastTriggers(ctx, p, e.project); return err },
			"supported":     func(p *auth.Principal) error { _, err := e.svc.Supported(ctx, p, e.project); return err },
			"create": func(p *auth.Principal) error {
				n++
				_, err := e.svc.Create(ctx, p, e.project, change("hook-"+string(rune('a'+n))))
				return err
			},
			"update": func(p *auth.Principal) error {
				on := true
				return e.svc.Update(ctx, p, e.project, pol.ID, webhook.Change{Enabled: &on})
			},
		}
		const (
			ok     = ""
			denied = "denied"
			hidden = "hidden"
			anon   = "anonymous"
		)
		want := map[string]map[string]string{
			"admin":     {"list": ok, "get": ok, "executions": ok, "jobs": ok, "last triggers": ok, "supported": ok, "create": ok, "update": ok},
			"owner":     {"list": ok, "get": ok, "executions": ok, "jobs": ok, "last triggers": ok, "supported": ok, "create": ok, "update": ok},
			"maint":     {"list": ok, "get": ok, "executions": ok, "jobs": ok, "last triggers": ok, "supported": ok, "create": denied, "update": denied},
			"dev":       {"list": denied, "get": denied, "executions": denied, "jobs": denied, "last triggers": denied, "supported": denied, "create": denied, "update": denied},
			"outsider":  {"list": hidden, "get": hidden, "executions": hidden, "jobs": hidden, "last triggers": hidden, "supported": hidden, "create": hidden, "update": hidden},
			"anonymous": {"list": anon, "get": anon, "executions": anon, "jobs": anon, "last triggers": anon, "supported": anon, "create": anon, "update": anon},
		}
		for caller, ops2 := range want {
			for op, w := range ops2 {
				err := ops[op](e.callers[caller])
				var got string
				var h *auth.HiddenProject
				switch {
				case err == nil:
					got = ok
				case errs.Is(err, errs.Denied):
					got = denied
				case errs.Is(err, errs.Unauthenticated):
					got = anon
				case errs.Is(err, errs.NotFound) && errors.As(err, &h):
					got = hidden
				default:
					got = err.Error()
				}
				if got != w {
					t.Errorf("%s %s: %q, want %q", caller, op, got, w)
				}
			}
		}
		// Delete last: refused to the maintainer, allowed to the owner.
		if err := e.svc.Delete(ctx, e.callers["maint"], e.project, pol.ID); !errs.Is(err, errs.Denied) {
			t.Errorf("maintainer delete: %v", err)
		}
		if err := e.svc.Delete(ctx, e.callers["owner"], e.project, pol.ID); err != nil {
			t.Errorf("owner delete: %v", err)
		}
		if _, err := e.svc.Get(ctx, e.callers["owner"], e.project, pol.ID); !errs.Is(err, errs.NotFound) {
			t.Errorf("deleted policy: %v", err)
		}
	})
}

// TestPolicyRules checks the rules of creating and updating a policy and
// the audit events of the changes.
func TestPolicyRules(t *testing.T) {
	backends(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		e := newPolicyEnv(t, backend, webhook.PolicyOptions{})
		owner := e.callers["owner"]
		pol, err := e.svc.Create(ctx, owner, e.project, change("ci"))
		if err != nil {
			t.Fatal(err)
		}
		if !pol.Enabled || pol.Creator != "owner" || len(pol.Secret) == 0 || pol.ID == 0 || pol.Targets[0].PayloadFormat != "Default" {
			t.Fatalf("created %+v", pol)
		}
		if got := e.take(); len(got) != 1 || got[0] != "owner: create webhook_policy team/ci" || e.changed != 1 {
			t.Fatalf("events %q, changed %d", got, e.changed)
		}
		other, long := e.project.ID+1, strings.Repeat("x", 1025)
		internal := []webhook.Target{{Type: "http", Address: "http://127.0.0.1:8080/hook"}}
		for _, c := range []struct {
			name  string
			edit  func(*webhook.Change)
			block bool
			msg   string // "" for accepted
		}{
			{"valid", func(*webhook.Change) {}, false, ""},
			{"other project", func(c *webhook.Change) { c.ProjectID = &other }, false, "is not the project of the path"},
			{"long description", func(c *webhook.Change) { c.Description = &long }, false, "description is longer than 1024"},
			{"no events", func(c *webhook.Change) { c.EventTypes = &[]string{} }, false, "event_types is empty"},
			{"bad event", func(c *webhook.Change) { c.EventTypes = &[]string{"SCAN"} }, false, "unsupported event type"},
			{"no targets", func(c *webhook.Change) { c.Targets = &[]webhook.Target{} }, false, "targets is empty"},
			{"internal allowed", func(c *webhook.Change) { c.Targets = &internal }, false, ""},
			{"internal blocked", func(c *webhook.Change) { c.Targets = &internal }, true, "is internal"},
		} {
			ch := change("rule " + c.name)
			c.edit(&ch)
			e.block = c.block
			_, err := e.svc.Create(ctx, owner, e.project, ch)
			if c.msg == "" && err != nil || c.msg != "" && (!errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), c.msg)) {
				t.Errorf("create %s: %v, want %q", c.name, err, c.msg)
			}
		}
		e.take()

		// Update: the body's id must be the policy's; kept targets are not
		// checked again, new ones are.
		e.block = false
		if err := e.svc.Update(ctx, owner, e.project, pol.ID, webhook.Change{Targets: &internal}); err != nil {
			t.Fatal(err)
		}
		e.block = true
		off, wrong := false, pol.ID+100
		if err := e.svc.Update(ctx, owner, e.project, pol.ID, webhook.Change{ID: &wrong, Enabled: &off}); !errs.Is(err, errs.Invalid) {
			t.Errorf("wrong id: %v", err)
		}
		if err := e.svc.Update(ctx, owner, e.project, pol.ID, webhook.Change{Enabled: &off}); err != nil {
			t.Errorf("update keeping an internal target: %v", err)
		}
		if err := e.svc.Update(ctx, owner, e.project, pol.ID, webhook.Change{Targets: &internal}); !errs.Is(err, errs.Invalid) {
			t.Errorf("update naming an internal target: %v", err)
		}
		got, err := e.svc.Get(ctx, owner, e.project, pol.ID)
		if err != nil || got.Enabled || got.Name != "ci" || got.Targets[0].Address != internal[0].Address {
			t.Errorf("updated %+v, %v", got, err)
		}
		if got := e.take(); strings.Join(got, "; ") != "owner: update webhook_policy team/ci; owner: update webhook_policy team/ci" {
			t.Errorf("update events %q", got)
		}
		if err := e.svc.Update(ctx, owner, e.project, pol.ID+100, webhook.Change{Enabled: &off}); !errs.Is(err, errs.NotFound) {
			t.Errorf("missing policy: %v", err)
		}

		// Without a job system, no test delivery and no re-send.
		if _, err := e.svc.Test(ctx, owner, e.project, pol.ID); !errs.Is(err, errs.Unavailable) {
			t.Errorf("test without jobs: %v", err)
		}
		if _, _, err := e.svc.Jobs(ctx, owner, e.project, pol.ID, []string{"Success, finished", "nope"}, nil, 0, 10); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), `unknown status "nope"`) {
			t.Errorf("unknown job status: %v", err)
		}
		if _, _, err := e.svc.Jobs(ctx, owner, e.project, pol.ID, []string{"Success, finished,Pending"}, nil, 0, 10); err != nil {
			t.Errorf("job statuses: %v", err)
		}
		if _, err := e.svc.TaskLog(ctx, owner, e.project, pol.ID, 12345, 1); !errs.Is(err, errs.NotFound) {
			t.Errorf("log of a missing execution: %v", err)
		}
		trig, err := e.svc.LastTriggers(ctx, owner, e.project)
		if err != nil || len(trig) != 3 || trig[0].LastTrigger != 0 {
			t.Errorf("last triggers %+v, %v", trig, err)
		}
	})
}
