package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/session"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/testserver"
)

var ctx = context.Background()

const password = testserver.AccountPassword

// each runs test on every backend with a session service over accounts
// holding the user alice and the system robot robot$ci.
func each(t *testing.T, test func(t *testing.T, a *testserver.Accounts, svc *session.Service)) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			a := testserver.NewAccounts(t, backend)
			a.User("alice", false)
			a.SystemRobot("ci", "[]")
			test(t, a, session.New(a.DB, a.Auth, a.Settings, time.Hour, a.Events, nil))
		})
	}
}

func TestLogin(t *testing.T) {
	each(t, func(t *testing.T, a *testserver.Accounts, svc *session.Service) {
		for _, tc := range []struct {
			name, user, pass string
			kind             errs.Kind // 0: signed in
			audited          bool      // a login event is published
		}{
			{"no name", "", password, errs.Invalid, false},
			{"no password", "alice", "", errs.Invalid, false},
			{"wrong password", "alice", "Wrong-pw-1", errs.Unauthenticated, true},
			{"unknown user", "bob", password, errs.Unauthenticated, true},
			{"robot", auth.RobotPrefix + "ci", password, errs.Denied, false},
			{"user", "alice", password, 0, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st, err := svc.Login(ctx, tc.user, tc.pass, "192.0.2.1")
				if tc.kind != 0 {
					if !errs.Is(err, tc.kind) {
						t.Fatalf("Login = %v, want kind %v", err, tc.kind)
					}
				} else if err != nil {
					t.Fatalf("Login: %v", err)
				}
				evs := a.Events.Take()
				if got := len(evs) == 1 && evs[0].Operation == "login" && evs[0].Resource == tc.user; got != tc.audited {
					t.Fatalf("events %+v, want a login event: %v", evs, tc.audited)
				}
				if tc.audited && evs[0].Success != (tc.kind == 0) {
					t.Errorf("login event success %v, want %v", evs[0].Success, tc.kind == 0)
				}
				if tc.kind != 0 {
					return
				}
				p, u, err := svc.User(ctx, st.ID)
				if err != nil {
					t.Fatalf("User: %v", err)
				}
				if u.Username != "alice" || p.Name != "alice" || p.Session.CSRF != st.CSRF {
					t.Errorf("session of %q (%q), CSRF %q, want alice with %q", u.Username, p.Name, p.Session.CSRF, st.CSRF)
				}
			})
		}
	})
}

func TestSessionLifetime(t *testing.T) {
	each(t, func(t *testing.T, a *testserver.Accounts, svc *session.Service) {
		for _, tc := range []struct {
			timeout int // session_timeout, minutes
			want    time.Duration
		}{
			{15, 15 * time.Minute},
			{0, time.Hour}, // the service's default
		} {
			a.Set(func(c *settings.Config) { c.SessionTimeout = tc.timeout })
			st, err := svc.Login(ctx, "alice", password, "192.0.2.1")
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Until(st.ExpiresAt); d > tc.want || d < tc.want-time.Minute {
				t.Errorf("session_timeout %d: session ends in %v, want %v", tc.timeout, d, tc.want)
			}
		}
	})
}

func TestLogout(t *testing.T) {
	each(t, func(t *testing.T, a *testserver.Accounts, svc *session.Service) {
		st, err := svc.Login(ctx, "alice", password, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		p, _, err := svc.User(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		a.Events.Take()
		if err := svc.Logout(ctx, p, st.ID); err != nil {
			t.Fatal(err)
		}
		if evs := a.Events.Take(); len(evs) != 1 || evs[0].Operation != "logout" || evs[0].Operator != "alice" {
			t.Errorf("events %+v, want alice's logout", evs)
		}
		for _, id := range []string{st.ID, "", "no-such-session"} {
			if _, _, err := svc.User(ctx, id); !errs.Is(err, errs.Unauthenticated) {
				t.Errorf("User(%q) after logout = %v, want Unauthenticated", id, err)
			}
		}
		// Anonymous (or unknown) callers sign out without an event.
		for _, p := range []*auth.Principal{nil, {}} {
			if err := svc.Logout(ctx, p, "no-such-session"); err != nil {
				t.Fatal(err)
			}
		}
		if evs := a.Events.Take(); len(evs) != 0 {
			t.Errorf("anonymous logout published %+v", evs)
		}
	})
}
