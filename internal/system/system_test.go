package system_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/audit"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/gc"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/system"
	"github.com/berth-dev/berth/internal/testserver"
)

var ctx = context.Background()

// take describes the events published since the last take as
// "operation type resource".
func (e *env) take() []string {
	var out []string
	for _, ev := range e.ev.Take() {
		out = append(out, ev.Operation+" "+ev.ResourceType+" "+ev.Resource)
	}
	return out
}

type env struct {
	db      *store.DB
	svc     *system.Service
	ev      *testserver.Events
	live    *settings.Source
	changed int
}

// The callers every rule is tried with.
var (
	admin = &auth.Principal{UserID: 1, Name: "admin", Admin: true}
	user  = &auth.Principal{UserID: 2, Name: "eve"}
	anon  = &auth.Principal{}
)

// known are the audit event types a purge may name in these tests.
var known = []string{"create_artifact", "delete_artifact", "pull_artifact", "create_user"}

// backends runs fn with a service over a fresh store of each backend, with
// a job system (no workers) that knows garbage collection and purges, or
// none when withJobs is false.
func backends(t *testing.T, withJobs bool, fn func(t *testing.T, e *env)) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			a := testserver.NewAccounts(t, backend)
			db := a.DB
			e := &env{db: db, ev: a.Events, live: a.Settings}
			opts := system.Options{Settings: e.live, Events: e.ev, Changed: func() { e.changed++ }, AuditEventTypes: known, Version: "test"}
			if withJobs {
				js := jobs.New(db, jobs.Options{})
				js.Register(jobs.Kind{Name: gc.Kind, Run: func(context.Context, *jobs.Task) error { return nil }})
				audit.RegisterPurge(js, db)
				opts.Jobs = js
			}
			e.svc = system.New(db, a.Auth, opts)
			fn(t, e)
		})
	}
}

// kindOf is err's kind, "" for none.
func kindOf(err error) string {
	if err == nil {
		return ""
	}
	return errs.KindOf(err).String()
}

func TestPermissions(t *testing.T) {
	backends(t, true, func(t *testing.T, e *env) {
		gcp := gc.DefaultParams()
		daily, _ := system.ScheduleOf("Daily", "")
		for _, tc := range []struct {
			name string
			call func(p *auth.Principal) error
		}{
			{"runs", func(p *auth.Principal) error { _, _, err := e.svc.Runs(ctx, p, system.GC, nil, 0, 10); return err }},
			{"schedule", func(p *auth.Principal) error { _, err := e.svc.Schedule(ctx, p, system.Purge); return err }},
			{"set schedule", func(p *auth.Principal) error {
				_, err := e.svc.SetGCSchedule(ctx, p, false, daily, gcp)
				return err
			}},
			{"queues", func(p *auth.Principal) error { _, err := e.svc.Queues(ctx, p); return err }},
			{"pools", func(p *auth.Principal) error { _, err := e.svc.Pools(p); return err }},
			{"workers", func(p *auth.Principal) error { _, err := e.svc.Workers(p, "all"); return err }},
			{"queue action", func(p *auth.Principal) error { return e.svc.QueueAction(ctx, p, "all", "pause") }},
			{"configuration", func(p *auth.Principal) error { _, err := e.svc.Configuration(p); return err }},
			{"update configuration", func(p *auth.Principal) error {
				return e.svc.UpdateConfiguration(ctx, p, system.ConfigUpdate{})
			}},
			{"permissions", func(p *auth.Principal) error { _, err := e.svc.Permissions(p); return err }},
			{"volumes", func(p *auth.Principal) error { _, err := e.svc.Volumes(p); return err }},
			{"statistics", func(p *auth.Principal) error { _, err := e.svc.Statistics(ctx, p); return err }},
		} {
			for _, c := range []struct {
				p    *auth.Principal
				want string
			}{{admin, ""}, {user, "denied"}, {anon, "unauthenticated"}} {
				if (tc.name == "permissions" || tc.name == "statistics") && c.p == user {
					c.want = "" // any signed-in caller may read them
				}
				if got := kindOf(tc.call(c.p)); got != c.want {
					t.Errorf("%s as %q: %q, want %q", tc.name, c.p.Name, got, c.want)
				}
			}
		}
		if list, _ := e.svc.Permissions(user); len(list) != 0 {
			t.Errorf("a user's system permissions: %v", list)
		}
		list, _ := e.svc.Permissions(admin)
		has := map[rbac.Permission]bool{}
		for _, p := range list {
			has[p] = true
		}
		if !has[rbac.Permission{Resource: rbac.ResConfiguration, Action: rbac.Update}] || !has[rbac.Permission{Resource: rbac.ResGC, Action: rbac.Create}] {
			t.Errorf("the administrator's system permissions lack configuration:update or garbage-collection:create: %v", list)
		}
	})
}

func TestScheduleValidation(t *testing.T) {
	for _, tc := range []struct {
		typ, cron string
		want      system.When
		bad       bool
	}{
		{typ: "Hourly", want: system.When{Cron: "0 0 * * * *"}},
		{typ: "Weekly", want: system.When{Cron: "0 0 0 * * 0"}},
		{typ: "Custom", cron: "0 30 2 * * *", want: system.When{Cron: "0 30 2 * * *"}},
		{typ: "Schedule", cron: "0 30 2 * * *", want: system.When{Cron: "0 30 2 * * *"}},
		{typ: "Custom", cron: "nonsense", bad: true},
		{typ: "Custom", bad: true},
		{typ: "Manual", want: system.When{Manual: true}},
		{typ: "None", want: system.When{None: true}},
		{typ: "Sometimes", bad: true},
		{typ: "", bad: true},
	} {
		got, err := system.ScheduleOf(tc.typ, tc.cron)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("ScheduleOf(%q, %q) = %+v, %v", tc.typ, tc.cron, got, err)
		}
		if tc.bad && !errs.Is(err, errs.Invalid) {
			t.Errorf("ScheduleOf(%q, %q): %v, want invalid", tc.typ, tc.cron, err)
		}
	}
	if got := system.ScheduleType("0 0 0 * * *"); got != "Daily" {
		t.Errorf("ScheduleType(daily) = %q", got)
	}
	if got := system.ScheduleType("0 30 2 * * *"); got != "Custom" {
		t.Errorf("ScheduleType(custom) = %q", got)
	}
}

func TestGCParams(t *testing.T) {
	for _, tc := range []struct {
		body string
		bad  string // part of the error, "" for none
	}{
		{body: `{}`},
		{body: `{"delete_untagged": true, "dry_run": true, "workers": 5, "time_window": 1}`},
		{body: `{"time_window_seconds": 30, "stale_upload_hours": 1}`},
		{body: `{"workers": null}`},
		{body: `{"workers": 6}`, bad: "workers"},
		{body: `{"workers": "2"}`, bad: "whole number"},
		{body: `{"dry_run": "yes"}`, bad: "true or false"},
		{body: `{"time_window": "x"}`, bad: "must be a number"},
		{body: `{"time_window": 1, "time_window_seconds": 5}`, bad: "not both"},
		{body: `{"purge": true}`, bad: "unknown parameter"},
	} {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(tc.body), &raw); err != nil {
			t.Fatal(err)
		}
		_, err := system.GCParams(raw)
		if (err != nil) != (tc.bad != "") || err != nil && (!errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tc.bad)) {
			t.Errorf("GCParams(%s): %v, want %q", tc.body, err, tc.bad)
		}
	}
}

func TestPurgeParams(t *testing.T) {
	backends(t, false, func(t *testing.T, e *env) {
		n := func(v int) *int { return &v }
		s := func(v string) *string { return &v }
		for _, tc := range []struct {
			name  string
			in    *system.PurgeParameters
			types string // the event types to purge, "" when refused
			bad   string
		}{
			{"none", nil, "", "parameters are required"},
			{"no retention", &system.PurgeParameters{IncludeEventTypes: s("pull_artifact")}, "", "audit_retention_hour is required"},
			{"no types", &system.PurgeParameters{AuditRetentionHour: n(24)}, "", "include_event_types is required"},
			{"both", &system.PurgeParameters{AuditRetentionHour: n(24), IncludeEventTypes: s("pull_artifact"), IncludeOperations: s("pull")}, "", "not both"},
			{"types", &system.PurgeParameters{AuditRetentionHour: n(24), IncludeEventTypes: s(" Pull_Artifact,create_user,pull_artifact")}, "pull_artifact,create_user", ""},
			{"operations", &system.PurgeParameters{AuditRetentionHour: n(24), IncludeOperations: s("create, delete")}, "create_artifact,create_user,delete_artifact", ""},
			{"unknown operation", &system.PurgeParameters{AuditRetentionHour: n(24), IncludeOperations: s("explode")}, "", "no event type has operation"},
			{"unknown type", &system.PurgeParameters{AuditRetentionHour: n(24), IncludeEventTypes: s("explode_artifact")}, "", "unknown event type"},
			{"retention too short", &system.PurgeParameters{AuditRetentionHour: n(0), IncludeEventTypes: s("pull_artifact")}, "", "audit_retention_hour must be between"},
		} {
			p, err := e.svc.PurgeParams(tc.in)
			switch {
			case tc.bad != "" && (err == nil || !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tc.bad)):
				t.Errorf("%s: %v, want %q", tc.name, err, tc.bad)
			case tc.bad == "" && (err != nil || p.IncludeEventTypes != tc.types):
				t.Errorf("%s: %+v, %v, want types %q", tc.name, p, err, tc.types)
			}
		}
	})
}

func TestSetSchedule(t *testing.T) {
	backends(t, true, func(t *testing.T, e *env) {
		daily, _ := system.ScheduleOf("Daily", "")
		none, _ := system.ScheduleOf("None", "")
		manual, _ := system.ScheduleOf("Manual", "")
		bad := gc.DefaultParams()
		bad.Workers = 9
		if _, err := e.svc.SetGCSchedule(ctx, admin, true, daily, bad); !errs.Is(err, errs.Invalid) {
			t.Errorf("nine workers: %v, want invalid", err)
		}
		p := gc.DefaultParams()
		p.DeleteUntagged = true
		if _, err := e.svc.SetGCSchedule(ctx, admin, true, daily, p); err != nil {
			t.Fatal(err)
		}
		sc, err := e.svc.Schedule(ctx, admin, system.GC)
		if err != nil || sc == nil || sc.Cron != "0 0 0 * * *" || !strings.Contains(sc.Params, `"delete_untagged":true`) {
			t.Fatalf("schedule: %+v, %v", sc, err)
		}
		id, err := e.svc.SetGCSchedule(ctx, admin, true, manual, p)
		if err != nil || id == 0 {
			t.Fatalf("run now: %d, %v", id, err)
		}
		if _, err := e.svc.SetGCSchedule(ctx, admin, true, manual, p); !errs.Is(err, errs.Conflict) {
			t.Errorf("a second collection while one runs: %v, want conflict", err)
		}
		runs, total, err := e.svc.Runs(ctx, admin, system.GC, nil, 0, 10)
		if err != nil || total != 1 || runs[0].ID != id || runs[0].Trigger != jobs.Manual {
			t.Errorf("runs: %+v %d %v", runs, total, err)
		}
		if _, err := e.svc.Run(ctx, admin, system.Purge, id); !errs.Is(err, errs.NotFound) {
			t.Errorf("a collection as a purge: %v, want not found", err)
		}
		if err := e.svc.StopRun(ctx, admin, system.GC, id); err != nil {
			t.Errorf("stop: %v", err)
		}
		if _, err := e.svc.SetPurgeSchedule(ctx, admin, false, none, audit.PurgeParams{}); err != nil {
			t.Errorf("remove the purge schedule, with no parameters: %v", err)
		}
		if _, err := e.svc.SetPurgeSchedule(ctx, admin, false, daily, audit.PurgeParams{}); !errs.Is(err, errs.Invalid) {
			t.Errorf("a purge schedule without retention: %v, want invalid", err)
		}
		if sc, err := e.svc.Schedule(ctx, admin, system.Purge); sc != nil || err != nil {
			t.Errorf("no purge schedule: %+v, %v", sc, err)
		}
		want := []string{"create gc_schedule 0 0 0 * * *", "create gc_job " + itoa(id), "create gc_job 0", "stop gc_job " + itoa(id), "delete purge_audit_schedule PURGE_AUDIT_LOG"}
		if got := e.take(); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("events:\n%q\nwant\n%q", got, want)
		}
		if e.changed != len(want) {
			t.Errorf("changed %d times, want %d", e.changed, len(want))
		}
	})
}

func TestWithoutJobSystem(t *testing.T) {
	backends(t, false, func(t *testing.T, e *env) {
		daily, _ := system.ScheduleOf("Daily", "")
		for name, err := range map[string]error{
			"set schedule": func() error { _, err := e.svc.SetGCSchedule(ctx, admin, true, daily, gc.DefaultParams()); return err }(),
			"stop run":     e.svc.StopRun(ctx, admin, system.GC, 1),
			"queues":       func() error { _, err := e.svc.Queues(ctx, admin); return err }(),
		} {
			if !errs.Is(err, errs.Unavailable) {
				t.Errorf("%s: %v, want unavailable", name, err)
			}
		}
		// Who may is answered first.
		if err := e.svc.StopRun(ctx, user, system.GC, 1); !errs.Is(err, errs.Denied) {
			t.Errorf("stop run as a user: %v, want denied", err)
		}
	})
}

func TestQueues(t *testing.T) {
	backends(t, true, func(t *testing.T, e *env) {
		if err := e.svc.QueueAction(ctx, admin, "nothing", "pause"); !errs.Is(err, errs.NotFound) {
			t.Errorf("unknown kind: %v, want not found", err)
		}
		if err := e.svc.QueueAction(ctx, admin, "garbage_collection", "explode"); !errs.Is(err, errs.Invalid) {
			t.Errorf("unknown action: %v, want invalid", err)
		}
		if err := e.svc.QueueAction(ctx, admin, "garbage_collection", "PAUSE"); err != nil {
			t.Fatal(err)
		}
		qs, err := e.svc.Queues(ctx, admin)
		if err != nil || len(qs) != 2 || qs[0].Kind != gc.Kind || !qs[0].Paused || qs[1].Paused {
			t.Errorf("queues: %+v, %v", qs, err)
		}
		for kind, want := range map[string]bool{"GARBAGE_COLLECTION": true, "all": true, audit.PurgeKind: false} {
			if got, err := e.svc.QueuePaused(ctx, admin, kind); got != want || err != nil {
				t.Errorf("%s paused: %v, %v", kind, got, err)
			}
		}
		if _, err := e.svc.Workers(admin, "elsewhere"); !errs.Is(err, errs.NotFound) {
			t.Errorf("another pool's workers: %v, want not found", err)
		}
		// Refused actions are not audited: they change nothing.
		if got := e.take(); strings.Join(got, "|") != "pause job_queue GARBAGE_COLLECTION" {
			t.Errorf("events: %q", got)
		}
	})
}

func TestConfiguration(t *testing.T) {
	backends(t, false, func(t *testing.T, e *env) {
		b := func(v bool) *bool { return &v }
		s := func(v string) *string { return &v }
		n := func(v int) *int { return &v }
		for _, tc := range []struct {
			name string
			u    system.ConfigUpdate
			bad  string
		}{
			{"unsupported", system.ConfigUpdate{LDAPURL: s("ldap://x")}, "ldap_url cannot be changed"},
			{"unsupported, unchanged", system.ConfigUpdate{LDAPURL: s(""), QuotaPerProjectEnable: b(true)}, ""},
			{"restriction", system.ConfigUpdate{ProjectCreationRestriction: s("nobody")}, "project_creation_restriction"},
			{"token expiration", system.ConfigUpdate{TokenExpiration: n(0)}, "token_expiration"},
			{"read-only", system.ConfigUpdate{ReadOnly: b(true), TokenExpiration: n(60)}, ""},
		} {
			err := e.svc.UpdateConfiguration(ctx, admin, tc.u)
			if (err != nil) != (tc.bad != "") || err != nil && (!errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), tc.bad)) {
				t.Errorf("%s: %v, want %q", tc.name, err, tc.bad)
			}
		}
		cfg, err := e.svc.Configuration(admin)
		if err != nil || !cfg.ReadOnly || cfg.TokenExpiration != 60 {
			t.Errorf("configuration: %+v, %v", cfg, err)
		}
		// Saved for the other processes too.
		other := settings.New(e.db, settings.Defaults())
		if err := other.Load(ctx); err != nil || !other.ReadOnly() {
			t.Errorf("stored configuration: read-only %v, %v", other.ReadOnly(), err)
		}
		// Refused validations are audited as failed updates; unsupported
		// settings are refused before.
		if got := e.take(); len(got) != 4 {
			t.Errorf("events: %q", got)
		}
		if !system.AllowedReadOnly(system.OpUpdateConfiguration) || system.AllowedReadOnly("createGCSchedule") {
			t.Error("read-only mode lets through the configuration's change only")
		}
		if info := e.svc.Info(anon); !info.ReadOnly || info.AuthMode != "" || info.HarborVersion != "berth-test" {
			t.Errorf("anonymous info: %+v", info)
		}
		if info := e.svc.Info(user); info.AuthMode != "db_auth" || info.ProjectCreationRestriction != "everyone" {
			t.Errorf("signed-in info: %+v", info)
		}
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
