package robot_test

import (
	"context"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/project"
	"github.com/berth-dev/berth/internal/robot"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/testserver"
)

var ctx = context.Background()

type env struct {
	*testserver.Accounts
	svc              *robot.Service
	admin, owner, no *auth.Principal
}

// newEnv has the project "web" of owner (its project administrator), a
// private project "secret" and a user with no membership.
func newEnv(t *testing.T, backend string) *env {
	a := testserver.NewAccounts(t, backend)
	e := &env{Accounts: a, svc: robot.New(a.DB, a.Auth, a.Settings, a.Events, nil),
		admin: a.User("root", true), owner: a.User("owner", false), no: a.User("nobody", false)}
	projects := project.New(a.DB, a.Auth, a.Settings, a.Events, nil)
	for _, spec := range []struct {
		p    *auth.Principal
		name string
	}{{e.owner, "web"}, {e.admin, "secret"}} {
		if _, err := projects.Create(ctx, spec.p, project.Spec{Name: spec.name}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// TestCreate is who may create which robot, and the duration a robot
// gets from robot_token_duration.
func TestCreate(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			e.Set(func(c *settings.Config) { c.RobotTokenDuration = 7 })
			pull := func(ns string) []robot.Grant {
				return []robot.Grant{{Kind: "project", Namespace: ns, Access: []string{"repository:pull"}}}
			}
			days := int64(3)
			for _, tc := range []struct {
				name    string
				caller  *auth.Principal
				req     robot.Create
				want    errs.Kind
				message string
				days    int64
			}{
				{"owner, project robot", e.owner, robot.Create{Name: "ci", Level: robot.Project, Permissions: robot.Grants(pull("web")...)}, 0, "", 7},
				{"chosen duration", e.owner, robot.Create{Name: "cd", Level: robot.Project, Duration: &days, Permissions: robot.Grants(pull("web")...)}, 0, "", 3},
				{"admin, system robot", e.admin, robot.Create{Name: "sys", Level: robot.System, Permissions: robot.Grants(pull("*")...)}, 0, "", 7},
				{"anonymous", &auth.Principal{}, robot.Create{Name: "x", Level: robot.Project, Permissions: robot.Grants(pull("web")...)}, errs.Unauthenticated, "", 0},
				{"owner, system robot", e.owner, robot.Create{Name: "y", Level: robot.System, Permissions: robot.Grants(pull("web")...)}, errs.Denied, "", 0},
				{"hidden project", e.no, robot.Create{Name: "z", Level: robot.Project, Permissions: robot.Grants(pull("secret")...)}, errs.NotFound, "project secret not found", 0},
				{"missing project", e.owner, robot.Create{Name: "z", Level: robot.Project, Permissions: robot.Grants(pull("gone")...)}, errs.NotFound, "project gone not found", 0},
				{"bad name", e.owner, robot.Create{Name: "CI", Level: robot.Project, Permissions: robot.Grants(pull("web")...)}, errs.Invalid, "", 0},
				{"two projects", e.owner, robot.Create{Name: "two", Level: robot.Project, Permissions: robot.Grants(append(pull("web"), pull("secret")...)...)}, errs.Invalid, "", 0},
			} {
				made, err := e.svc.Create(ctx, tc.caller, tc.req)
				if (tc.want == 0) != (err == nil) || tc.want != 0 && !errs.Is(err, tc.want) {
					t.Errorf("%s: Create = %v, want kind %v", tc.name, err, tc.want)
					continue
				}
				if tc.message != "" && errs.Message(err) != tc.message {
					t.Errorf("%s: message %q, want %q", tc.name, errs.Message(err), tc.message)
				}
				if err == nil && made.Robot.Duration != tc.days {
					t.Errorf("%s: duration %d, want %d", tc.name, made.Robot.Duration, tc.days)
				}
				if err == nil && made.Robot.ExpiresAt-time.Now().AddDate(0, 0, int(tc.days)).Unix() > 60 {
					t.Errorf("%s: expires at %d, want in %d days", tc.name, made.Robot.ExpiresAt, tc.days)
				}
			}
		})
	}
}

// TestSetDisabled checks that disabling keeps everything else of the
// robot, and who may.
func TestSetDisabled(t *testing.T) {
	e := newEnv(t, "sqlite")
	made, err := e.svc.Create(ctx, e.owner, robot.Create{Name: "ci", Level: robot.Project, Description: "builds",
		Permissions: robot.Grants(robot.Grant{Kind: "project", Namespace: "web", Access: []string{"repository:pull", "repository:push"}})})
	if err != nil {
		t.Fatal(err)
	}
	id := made.Robot.ID
	for _, tc := range []struct {
		name    string
		caller  *auth.Principal
		disable bool
		want    errs.Kind
	}{
		{"anonymous", &auth.Principal{}, true, errs.Unauthenticated},
		{"non-member", e.no, true, errs.NotFound},
		{"owner disables", e.owner, true, 0},
		{"admin enables", e.admin, false, 0},
		{"owner disables again", e.owner, true, 0},
	} {
		_, err := e.svc.SetDisabled(ctx, tc.caller, id, tc.disable)
		if (tc.want == 0) != (err == nil) || tc.want != 0 && !errs.Is(err, tc.want) {
			t.Errorf("%s: SetDisabled = %v, want kind %v", tc.name, err, tc.want)
			continue
		}
		rb, err := e.DB.RobotByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if tc.want == 0 && rb.Disabled != tc.disable {
			t.Errorf("%s: disabled %v", tc.name, rb.Disabled)
		}
		if rb.Description != "builds" || rb.Permissions != made.Robot.Permissions || rb.ExpiresAt != made.Robot.ExpiresAt {
			t.Errorf("%s: robot changed: %+v, was %+v", tc.name, rb, made.Robot)
		}
	}
}
