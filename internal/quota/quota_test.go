package quota_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/quota"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

var ctx = context.Background()

// env is a quota service over a real store and a real auth, with projects
// "a" and "b", a user who owns them and a system robot that may read
// quotas but not change them.
type env struct {
	svc                     *quota.Service
	db                      *store.DB
	ev                      *testserver.Events
	changed                 int
	a, b                    int64
	admin, owner, anon, bot *auth.Principal
}

func backends(t *testing.T, run func(t *testing.T, e *env)) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			a := testserver.NewAccounts(t, backend)
			e := &env{db: a.DB, ev: a.Events, anon: &auth.Principal{}}
			e.svc = quota.New(a.DB, a.Auth, e.ev, func() { e.changed++ })
			e.owner = a.User("owner", false)
			e.admin = &auth.Principal{UserID: e.owner.UserID, Name: "root", Admin: true}
			for _, p := range []struct {
				id    *int64
				name  string
				limit int64
			}{{&e.a, "a", 1 << 30}, {&e.b, "b", -1}} {
				var err error
				if *p.id, err = a.DB.AddProject(ctx, store.ProjectSpec{Name: p.name, OwnerID: e.owner.UserID, StorageLimit: p.limit}); err != nil {
					t.Fatal(err)
				}
			}
			e.bot = a.SystemRobot("quotas", `[{"kind":"system","namespace":"/","access":[{"resource":"quota","action":"list"},{"resource":"quota","action":"read"}]}]`)
			run(t, e)
		})
	}
}

func kind(err error) string {
	if err == nil {
		return "ok"
	}
	return errs.KindOf(err).String()
}

func TestReadRules(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ids := func(list []store.Quota) string {
			var out []string
			for _, q := range list {
				out = append(out, q.ProjectName)
			}
			return strings.Join(out, ",")
		}
		many := strings.Repeat("1,", quota.MaxReferenceIDs) + "1"
		for _, c := range []struct {
			name  string
			who   *auth.Principal
			f     quota.Filter
			want  string
			names string
		}{
			{"admin, all", e.admin, quota.Filter{}, "ok", "a,b"},
			{"robot with quota:list", e.bot, quota.Filter{}, "ok", "a,b"},
			{"user", e.owner, quota.Filter{}, "denied", ""},
			{"anonymous", e.anon, quota.Filter{}, "unauthenticated", ""},
			{"of a project", e.admin, quota.Filter{Reference: "project", ReferenceID: fmt.Sprint(e.b)}, "ok", "b"},
			{"of several projects", e.admin, quota.Filter{ReferenceID: fmt.Sprintf("%d, %d", e.a, e.b)}, "ok", "a,b"},
			{"of robots", e.admin, quota.Filter{Reference: "robot"}, "ok", ""},
			{"not an ID", e.admin, quota.Filter{ReferenceID: "x"}, "ok", ""},
			{"one bad ID among several", e.admin, quota.Filter{ReferenceID: fmt.Sprintf("%d,-1", e.a)}, "ok", ""},
			{"too many IDs", e.admin, quota.Filter{ReferenceID: many}, "invalid", ""},
		} {
			list, total, err := e.svc.List(ctx, c.who, c.f, nil, 0, 10)
			if got := kind(err); got != c.want || ids(list) != c.names || int(total) != len(list) {
				t.Errorf("%s: %s %q (total %d), want %s %q", c.name, got, ids(list), total, c.want, c.names)
			}
		}
		for _, c := range []struct {
			name string
			who  *auth.Principal
			id   int64
			want string
		}{
			{"admin", e.admin, e.a, "ok"},
			{"robot with quota:read", e.bot, e.a, "ok"},
			{"user", e.owner, e.a, "denied"},
			{"anonymous", e.anon, e.a, "unauthenticated"},
			{"missing", e.admin, 99999, "not found"},
		} {
			q, err := e.svc.Get(ctx, c.who, c.id)
			if got := kind(err); got != c.want || err == nil && (q.ProjectName != "a" || q.Hard != 1<<30) {
				t.Errorf("get, %s: %s %+v, want %s", c.name, got, q, c.want)
			}
		}
	})
}

func TestUpdateRules(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		for _, c := range []struct {
			name string
			who  *auth.Principal
			id   int64
			hard map[string]int64
			want string
		}{
			{"no limit", e.admin, e.a, nil, "invalid"},
			{"unknown resource", e.admin, e.a, map[string]int64{"count": 5}, "invalid"},
			{"storage with another resource", e.admin, e.a, map[string]int64{quota.Storage: 5, "count": 5}, "invalid"},
			{"zero", e.admin, e.a, map[string]int64{quota.Storage: 0}, "invalid"},
			{"below -1", e.admin, e.a, map[string]int64{quota.Storage: -2}, "invalid"},
			{"missing quota", e.admin, 99999, map[string]int64{quota.Storage: 5}, "not found"},
			{"user", e.owner, e.a, map[string]int64{quota.Storage: 5}, "denied"},
			{"robot without quota:update", e.bot, e.a, map[string]int64{quota.Storage: 5}, "denied"},
			{"anonymous", e.anon, e.a, map[string]int64{quota.Storage: 5}, "unauthenticated"},
			{"unlimited", e.admin, e.a, map[string]int64{quota.Storage: -1}, "ok"},
			{"a limit", e.admin, e.b, map[string]int64{quota.Storage: 2048}, "ok"},
		} {
			if got := kind(e.svc.Update(ctx, c.who, c.id, c.hard)); got != c.want {
				t.Errorf("%s: %s, want %s", c.name, got, c.want)
			}
		}
		for id, want := range map[int64]int64{e.a: -1, e.b: 2048} {
			if q, err := e.svc.Get(ctx, e.admin, id); err != nil || q.Hard != want {
				t.Errorf("quota %d after the updates: %+v %v, want hard %d", id, q, err, want)
			}
		}
		events := e.ev.Take()
		if len(events) != 2 || e.changed != 2 {
			t.Fatalf("%d events, %d changes, want 2 of each (the updates that reached the store)", len(events), e.changed)
		}
		if ev := events[1]; ev.Operation != "update" || ev.ResourceType != "quota" || ev.Resource != "b" || ev.ProjectID != e.b || ev.Operator != "root" || !ev.Success {
			t.Errorf("event: %+v", ev)
		}
	})
}
