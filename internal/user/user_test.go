package user_test

import (
	"context"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/testserver"
	"github.com/berth-dev/berth/internal/user"
)

var ctx = context.Background()

// TestWhoMayCreate is the rule of user creation under the live settings:
// administrators and system robots with user:create always; while
// self-registration is on, anyone else but a robot; never in another
// auth mode.
func TestWhoMayCreate(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			a := testserver.NewAccounts(t, backend)
			svc := user.New(a.DB, a.Auth, a.Settings, a.Events, nil)
			callers := map[string]*auth.Principal{
				"admin":     a.User("root", true),
				"user":      a.User("alice", false),
				"anonymous": {},
				"creator":   a.SystemRobot("creator", `[{"kind":"system","namespace":"/","access":[{"resource":"user","action":"create"}]}]`),
				"robot":     a.SystemRobot("ci", "[]"),
			}
			n := 0
			for _, tc := range []struct {
				caller   string
				selfReg  bool
				authMode string
				want     errs.Kind // 0: allowed
			}{
				{"admin", false, "db_auth", 0},
				{"admin", true, "db_auth", 0},
				{"creator", false, "db_auth", 0},
				{"anonymous", true, "db_auth", 0},
				{"user", true, "db_auth", 0},
				{"anonymous", false, "db_auth", errs.Unauthenticated},
				{"user", false, "db_auth", errs.Denied},
				{"robot", true, "db_auth", errs.Denied},
				{"robot", false, "db_auth", errs.Denied},
				{"anonymous", true, "ldap_auth", errs.Denied},
				{"admin", false, "ldap_auth", 0},
			} {
				a.Set(func(c *settings.Config) { c.SelfRegistration, c.AuthMode = tc.selfReg, tc.authMode })
				p := callers[tc.caller]
				err := svc.MayCreate(p)
				n++
				name := "new" + string(rune('a'+n))
				_, cerr := svc.Create(ctx, p, user.NewUser{Username: name, Password: "Good-pw-1",
					Profile: user.Profile{Email: name + "@example.com", Realname: name}})
				for _, got := range []error{err, cerr} {
					if (tc.want == 0) != (got == nil) || tc.want != 0 && !errs.Is(got, tc.want) {
						t.Errorf("%s with self_registration %v under %s: %v, want kind %v", tc.caller, tc.selfReg, tc.authMode, got, tc.want)
					}
				}
			}
		})
	}
}

// TestCreateValidates checks the rules on a new user's fields and the
// event of a creation.
func TestCreateValidates(t *testing.T) {
	a := testserver.NewAccounts(t, "sqlite")
	svc := user.New(a.DB, a.Auth, a.Settings, a.Events, nil)
	admin := a.User("root", true)
	good := user.NewUser{Username: "bob", Password: "Good-pw-1", Profile: user.Profile{Email: "bob@example.com", Realname: "Bob"}}
	for _, tc := range []struct {
		name   string
		change func(u *user.NewUser)
		want   errs.Kind
	}{
		{"no username", func(u *user.NewUser) { u.Username = "" }, errs.Invalid},
		{"robot name", func(u *user.NewUser) { u.Username = auth.RobotPrefix + "x" }, errs.Invalid},
		{"look-alike", func(u *user.NewUser) { u.Username = "b\u043eb" }, errs.Invalid},
		{"weak password", func(u *user.NewUser) { u.Password = "password" }, errs.Invalid},
		{"bad e-mail", func(u *user.NewUser) { u.Email = "bob" }, errs.Invalid},
		{"no realname", func(u *user.NewUser) { u.Realname = "" }, errs.Invalid},
		{"long comment", func(u *user.NewUser) { u.Comment = "0123456789012345678901234567890" }, errs.Invalid},
		{"good", func(u *user.NewUser) {}, 0},
		{"taken", func(u *user.NewUser) { u.Email = "other@example.com" }, errs.Exists},
	} {
		u := good
		tc.change(&u)
		a.Events.Take()
		_, err := svc.Create(ctx, admin, u)
		if (tc.want == 0) != (err == nil) || tc.want != 0 && !errs.Is(err, tc.want) {
			t.Errorf("%s: Create = %v, want kind %v", tc.name, err, tc.want)
		}
		if evs := a.Events.Take(); tc.want == 0 && (len(evs) != 1 || evs[0].Operation != "create" || !evs[0].Success) {
			t.Errorf("%s: events %+v, want one successful create", tc.name, evs)
		}
	}
}
