package project_test

import (
	"context"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/project"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/testserver"
)

var ctx = context.Background()

// TestWhoMayCreate is the rule of project creation under the live
// project_creation_restriction, and the default storage limit a project
// gets from storage_per_project.
func TestWhoMayCreate(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			a := testserver.NewAccounts(t, backend)
			svc := project.New(a.DB, a.Auth, a.Settings, a.Events, nil)
			a.User("admin", true) // the first administrator owns what system robots create
			callers := map[string]*auth.Principal{
				"admin":     a.User("root", true),
				"user":      a.User("alice", false),
				"anonymous": {},
				"creator":   a.SystemRobot("creator", `[{"kind":"system","namespace":"/","access":[{"resource":"project","action":"create"}]}]`),
				"robot":     a.SystemRobot("ci", "[]"),
			}
			n := 0
			for _, tc := range []struct {
				caller      string
				restriction string
				want        errs.Kind // 0: allowed
			}{
				{"admin", "adminonly", 0},
				{"admin", "everyone", 0},
				{"creator", "adminonly", 0},
				{"user", "everyone", 0},
				{"user", "adminonly", errs.Denied},
				{"anonymous", "everyone", errs.Unauthenticated},
				{"anonymous", "adminonly", errs.Unauthenticated},
				{"robot", "everyone", errs.Denied},
			} {
				a.Set(func(c *settings.Config) { c.ProjectCreationRestriction, c.StoragePerProject = tc.restriction, 1<<30 })
				n++
				name := "p" + string(rune('a'+n))
				limit := int64(5 << 20)
				id, err := svc.Create(ctx, callers[tc.caller], project.Spec{Name: name, StorageLimit: &limit})
				if (tc.want == 0) != (err == nil) || tc.want != 0 && !errs.Is(err, tc.want) {
					t.Errorf("%s under %s: Create = %v, want kind %v", tc.caller, tc.restriction, err, tc.want)
					continue
				}
				if err != nil {
					continue
				}
				p, err := a.DB.ProjectInfo(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				// Only callers who may create under adminonly choose the limit.
				want := int64(1 << 30)
				if tc.caller == "admin" || tc.caller == "creator" {
					want = limit
				}
				if p.StorageLimit != want {
					t.Errorf("%s: storage limit %d, want %d", tc.caller, p.StorageLimit, want)
				}
			}
		})
	}
}

// TestCreateValidates checks the rules on a new project.
func TestCreateValidates(t *testing.T) {
	a := testserver.NewAccounts(t, "sqlite")
	svc := project.New(a.DB, a.Auth, a.Settings, a.Events, nil)
	admin := a.User("root", true)
	neg, reg := int64(-2), int64(1)
	for _, tc := range []struct {
		name string
		spec project.Spec
		want errs.Kind
	}{
		{"no name", project.Spec{}, errs.Invalid},
		{"upper case", project.Spec{Name: "Web"}, errs.Invalid},
		{"double separator", project.Spec{Name: "a..b"}, errs.Invalid},
		{"proxy cache", project.Spec{Name: "cache", RegistryID: &reg}, errs.Invalid},
		{"negative limit", project.Spec{Name: "neg", StorageLimit: &neg}, errs.Invalid},
		{"retention id", project.Spec{Name: "ret", Metadata: map[string]string{"retention_id": "1"}}, errs.Invalid},
		{"good", project.Spec{Name: "web", Metadata: map[string]string{"public": "true"}}, 0},
		{"taken", project.Spec{Name: "web"}, errs.Exists},
	} {
		a.Events.Take()
		_, err := svc.Create(ctx, admin, tc.spec)
		if (tc.want == 0) != (err == nil) || tc.want != 0 && !errs.Is(err, tc.want) {
			t.Errorf("%s: Create = %v, want kind %v", tc.name, err, tc.want)
		}
		if evs := a.Events.Take(); tc.want == 0 && (len(evs) != 1 || evs[0].Operation != "create" || !evs[0].Success) {
			t.Errorf("%s: events %+v, want one successful create", tc.name, evs)
		}
	}
}
