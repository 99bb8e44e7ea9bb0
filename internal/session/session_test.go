package session_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/session"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/store"
	_ "github.com/berth-dev/berth/internal/store/drivers"
)

var ctx = context.Background()

// events records what the service publishes.
type events struct {
	mu   sync.Mutex
	list []event.Event
}

func (e *events) Publish(ev event.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

// take returns the events since the last take.
func (e *events) take() []event.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.list
	e.list = nil
	return out
}

type env struct {
	db  *store.DB
	cfg *settings.Source
	ev  *events
	svc *session.Service
}

const password = "Secret-pw-1"

// newEnv opens a SQLite store with the user alice and a system robot, and
// a session service over it with a real auth service.
func newEnv(t *testing.T) (*env, string) {
	t.Helper()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := auth.New(ctx, db, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateUser(ctx, store.User{Username: "alice", Email: "alice@example.com", Realname: "Alice", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	robotName := auth.RobotPrefix + "ci"
	if _, err := db.CreateRobot(ctx, store.Robot{Name: robotName, Level: "system", SecretHash: hash, Duration: -1, ExpiresAt: -1, Permissions: "[]"}); err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, cfg: settings.New(db, settings.Defaults()), ev: &events{}}
	e.svc = session.New(db, a, e.cfg, time.Hour, e.ev, nil)
	return e, robotName
}

func TestLogin(t *testing.T) {
	e, robotName := newEnv(t)
	for _, tc := range []struct {
		name, user, pass string
		kind             errs.Kind // 0: signed in
		audited          bool      // a login event is published
	}{
		{"no name", "", password, errs.Invalid, false},
		{"no password", "alice", "", errs.Invalid, false},
		{"wrong password", "alice", "Wrong-pw-1", errs.Unauthenticated, true},
		{"unknown user", "bob", password, errs.Unauthenticated, true},
		{"robot", robotName, password, errs.Denied, false},
		{"user", "alice", password, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := e.svc.Login(ctx, tc.user, tc.pass, "192.0.2.1")
			if tc.kind != 0 {
				if !errs.Is(err, tc.kind) {
					t.Fatalf("Login = %v, want kind %v", err, tc.kind)
				}
			} else if err != nil {
				t.Fatalf("Login: %v", err)
			}
			evs := e.ev.take()
			if got := len(evs) == 1 && evs[0].Operation == "login" && evs[0].Resource == tc.user; got != tc.audited {
				t.Fatalf("events %+v, want a login event: %v", evs, tc.audited)
			}
			if tc.audited && evs[0].Success != (tc.kind == 0) {
				t.Errorf("login event success %v, want %v", evs[0].Success, tc.kind == 0)
			}
			if tc.kind != 0 {
				return
			}
			p, u, err := e.svc.User(ctx, st.ID)
			if err != nil {
				t.Fatalf("User: %v", err)
			}
			if u.Username != "alice" || p.Name != "alice" || p.Session.CSRF != st.CSRF {
				t.Errorf("session of %q (%q), CSRF %q, want alice with %q", u.Username, p.Name, p.Session.CSRF, st.CSRF)
			}
		})
	}
}

func TestSessionLifetime(t *testing.T) {
	e, _ := newEnv(t)
	for _, tc := range []struct {
		timeout int // session_timeout, minutes
		want    time.Duration
	}{
		{15, 15 * time.Minute},
		{0, time.Hour}, // the service's default
	} {
		c := settings.Defaults()
		c.SessionTimeout = tc.timeout
		e.cfg.Set(c)
		st, err := e.svc.Login(ctx, "alice", password, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Until(st.ExpiresAt); d > tc.want || d < tc.want-time.Minute {
			t.Errorf("session_timeout %d: session ends in %v, want %v", tc.timeout, d, tc.want)
		}
	}
}

func TestLogout(t *testing.T) {
	e, _ := newEnv(t)
	st, err := e.svc.Login(ctx, "alice", password, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := e.svc.User(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.ev.take()
	if err := e.svc.Logout(ctx, p, st.ID); err != nil {
		t.Fatal(err)
	}
	if evs := e.ev.take(); len(evs) != 1 || evs[0].Operation != "logout" || evs[0].Operator != "alice" {
		t.Errorf("events %+v, want alice's logout", evs)
	}
	for _, id := range []string{st.ID, "", "no-such-session"} {
		if _, _, err := e.svc.User(ctx, id); !errs.Is(err, errs.Unauthenticated) {
			t.Errorf("User(%q) after logout = %v, want Unauthenticated", id, err)
		}
	}
	// Anonymous (or unknown) callers sign out without an event.
	for _, p := range []*auth.Principal{nil, {}} {
		if err := e.svc.Logout(ctx, p, "no-such-session"); err != nil {
			t.Fatal(err)
		}
	}
	if evs := e.ev.take(); len(evs) != 0 {
		t.Errorf("anonymous logout published %+v", evs)
	}
}
