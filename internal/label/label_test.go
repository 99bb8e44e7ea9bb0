package label_test

import (
	"context"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/label"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

var ctx = context.Background()

// env is a label service over a real store and a real auth, with a
// private project "p" administered by "owner", where "dev" is a developer,
// and the callers of the tests.
type env struct {
	db                                       *store.DB
	svc                                      *label.Service
	ev                                       *testserver.Events
	changed                                  int
	project                                  int64
	admin, owner, dev, stranger, anon, robot *auth.Principal
}

func backends(t *testing.T, run func(t *testing.T, e *env)) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			a := testserver.NewAccounts(t, backend)
			e := &env{db: a.DB, ev: a.Events}
			e.svc = label.New(a.DB, a.Auth, e.ev, func() { e.changed++ })
			e.admin = &auth.Principal{UserID: a.User("root", false).UserID, Name: "root", Admin: true}
			e.owner, e.dev, e.stranger, e.anon = a.User("owner", false), a.User("dev", false), a.User("stranger", false), &auth.Principal{}
			e.project = a.Project("p", e.owner, false).ID
			a.Member(e.project, e.dev, rbac.Developer)
			// A system robot that may create global labels only.
			e.robot = a.SystemRobot("labeler", `[{"kind":"system","namespace":"/","access":[{"resource":"label","action":"create"}]}]`)
			run(t, e)
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestCreateRules(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		global, project := ptr(label.Global), ptr(label.Project)
		var last event.Event // the newest event recorded
		for _, c := range []struct {
			name string
			who  *auth.Principal
			spec label.Spec
			want string
			msg  string
		}{
			{"global by admin", e.admin, label.Spec{Name: "release", Color: "#00ff00", Scope: global}, "ok", ""},
			{"global by a system robot with label:create", e.robot, label.Spec{Name: "robot-made", Scope: global}, "ok", ""},
			{"global by a user", e.owner, label.Spec{Name: "mine", Scope: global}, "denied", ""},
			{"global by anonymous", e.anon, label.Spec{Name: "anon", Scope: global}, "unauthenticated", ""},
			{"taken name", e.admin, label.Spec{Name: "release", Scope: global}, "exists", ""},
			{"project by its admin", e.owner, label.Spec{Name: "tested", Scope: project, ProjectID: &e.project}, "ok", ""},
			{"project by a developer", e.dev, label.Spec{Name: "dev", Scope: project, ProjectID: &e.project}, "denied", ""},
			{"project by a stranger", e.stranger, label.Spec{Name: "x", Scope: project, ProjectID: &e.project}, "hidden", ""},
			{"project by the robot", e.robot, label.Spec{Name: "x", Scope: project, ProjectID: &e.project}, "hidden", ""},
			{"project without project_id", e.admin, label.Spec{Name: "x", Scope: project}, "invalid", "project_id is required"},
			{"project of a missing project", e.admin, label.Spec{Name: "x", Scope: project, ProjectID: ptr(int64(99999))}, "not found", ""},
			{"no scope", e.admin, label.Spec{Name: "x"}, "invalid", "scope must be g or p"},
			{"unknown scope", e.admin, label.Spec{Name: "x", Scope: ptr("s")}, "invalid", "scope must be g or p"},
			{"no name", e.admin, label.Spec{Scope: global}, "invalid", "name is required"},
			{"long name", e.admin, label.Spec{Name: strings.Repeat("n", 129), Scope: global}, "invalid", "longer than 128"},
			{"128 characters", e.admin, label.Spec{Name: strings.Repeat("n", 128), Scope: global}, "ok", ""},
			{"spaces around", e.admin, label.Spec{Name: " x", Scope: global}, "invalid", "spaces"},
			{"slash", e.admin, label.Spec{Name: "a/b", Scope: global}, "invalid", "characters a label name cannot have"},
			{"control character", e.admin, label.Spec{Name: "a\tb", Scope: global}, "invalid", "characters a label name cannot have"},
			{"long description", e.admin, label.Spec{Name: "d", Description: strings.Repeat("d", 8<<10+1), Scope: global}, "invalid", "description"},
			{"bad colour", e.admin, label.Spec{Name: "c", Color: "red", Scope: global}, "invalid", "#RRGGBB"},
			// Validation comes before permissions, as in Harbor.
			{"invalid by a user", e.owner, label.Spec{Name: "", Scope: global}, "invalid", "name is required"},
		} {
			_, err := e.svc.Create(ctx, c.who, c.spec)
			if got := testserver.Outcome(err); got != c.want || c.msg != "" && !strings.Contains(errs.Message(err), c.msg) {
				t.Errorf("%s: %v (%s), want %s %q", c.name, err, got, c.want, c.msg)
			}
			// An attempt that reached the store is recorded, failed or not.
			events := e.ev.Take()
			if len(events) > 0 {
				last = events[len(events)-1]
			}
			recorded := len(events)
			if reached := c.want == "ok" || c.want == "exists"; reached != (recorded == 1) {
				t.Errorf("%s: %d events", c.name, recorded)
			}
		}
		if last.Operation != "create" || last.ResourceType != "label" || last.Operator != "root" || !last.Success {
			t.Errorf("last event: %+v", last)
		}
	})
}

func TestChangeRules(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		global, err := e.svc.Create(ctx, e.admin, label.Spec{Name: "g", Scope: ptr(label.Global)})
		if err != nil {
			t.Fatal(err)
		}
		mine, err := e.svc.Create(ctx, e.owner, label.Spec{Name: "p", Scope: ptr(label.Project), ProjectID: &e.project})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			who  *auth.Principal
			id   int64
			want [3]string // get, update, delete (delete only when the rest passed)
		}{
			{"stranger, project label", e.stranger, mine, [3]string{"not found", "not found", "not found"}},
			{"anonymous, project label", e.anon, mine, [3]string{"unauthenticated", "unauthenticated", "unauthenticated"}},
			{"developer, project label", e.dev, mine, [3]string{"ok", "denied", "denied"}},
			{"user, global label", e.owner, global, [3]string{"denied", "denied", "denied"}},
			{"missing label", e.admin, 99999, [3]string{"not found", "not found", "not found"}},
			{"admin, global label", e.admin, global, [3]string{"ok", "ok", "ok"}},
			{"project admin, project label", e.owner, mine, [3]string{"ok", "ok", "ok"}},
		} {
			_, err := e.svc.Get(ctx, c.who, c.id)
			got := [3]string{testserver.Outcome(err)}
			got[1] = testserver.Outcome(e.svc.Update(ctx, c.who, c.id, label.Spec{Name: "renamed-" + strings.Fields(c.name)[0], Color: "#123456"}))
			got[2] = testserver.Outcome(e.svc.Delete(ctx, c.who, c.id))
			if got != c.want {
				t.Errorf("%s: get, update, delete %v, want %v", c.name, got, c.want)
			}
		}
		if e.changed == 0 {
			t.Error("changed was never called")
		}
	})
}

func TestUpdateKeepsScope(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		id, err := e.svc.Create(ctx, e.owner, label.Spec{Name: "p", Scope: ptr(label.Project), ProjectID: &e.project})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			spec label.Spec
			want string
		}{
			{"to global", label.Spec{Name: "p", Scope: ptr(label.Global)}, "invalid"},
			{"to another project", label.Spec{Name: "p", ProjectID: ptr(e.project + 1)}, "invalid"},
			{"scope and project repeated", label.Spec{Name: "q", Scope: ptr(label.Project), ProjectID: &e.project, Description: "d"}, "ok"},
			{"no name", label.Spec{Description: "d"}, "invalid"},
		} {
			if got := testserver.Outcome(e.svc.Update(ctx, e.owner, id, c.spec)); got != c.want {
				t.Errorf("%s: %s, want %s", c.name, got, c.want)
			}
		}
		l, err := e.svc.Get(ctx, e.owner, id)
		if err != nil || l.Name != "q" || l.Description != "d" || l.Color != "" || l.Scope != label.Project || l.ProjectID != e.project {
			t.Errorf("after the updates: %+v %v", l, err)
		}
	})
}

func TestListRules(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		for _, n := range []string{"alpha", "beta"} {
			if _, err := e.svc.Create(ctx, e.admin, label.Spec{Name: n, Scope: ptr(label.Global)}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Create(ctx, e.owner, label.Spec{Name: "p-" + n, Scope: ptr(label.Project), ProjectID: &e.project}); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			name      string
			who       *auth.Principal
			scope     string
			projectID int64
			filter    string
			want      string
			total     int64
		}{
			{"global, anonymous", e.anon, label.Global, 0, "", "ok", 2},
			{"global by name", e.anon, label.Global, 0, "alp", "ok", 1},
			{"project, developer", e.dev, label.Project, e.project, "", "ok", 2},
			{"project by name", e.dev, label.Project, e.project, "bet", "ok", 1},
			{"project, stranger", e.stranger, label.Project, e.project, "", "hidden", 0},
			{"project, anonymous", e.anon, label.Project, e.project, "", "unauthenticated", 0},
			{"project without ID", e.admin, label.Project, 0, "", "invalid", 0},
			{"missing project", e.admin, label.Project, 99999, "", "not found", 0},
			{"unknown scope", e.admin, "x", 0, "", "invalid", 0},
		} {
			_, total, err := e.svc.List(ctx, c.who, c.scope, c.projectID, c.filter, nil, 0, 10)
			if got := testserver.Outcome(err); got != c.want || total != c.total {
				t.Errorf("%s: %s, %d labels, want %s, %d", c.name, got, total, c.want, c.total)
			}
		}
		set := e.svc.SystemActions(e.robot)
		if !set.Has(rbac.ResLabel, rbac.Create) || set.Has(rbac.ResLabel, rbac.Delete) {
			t.Errorf("the robot's system label actions: %v", set.List())
		}
		if set := e.svc.SystemActions(e.owner); len(set) != 0 {
			t.Errorf("a user's system label actions: %v", set.List())
		}
		if set := e.svc.SystemActions(e.admin); len(set) != 4 {
			t.Errorf("the administrator's system label actions: %v", set.List())
		}
	})
}
