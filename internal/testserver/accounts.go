package testserver

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/store"
)

// Accounts is what the tests of a domain service build it over: a store
// on a backend, the real auth service over it, live settings and a
// recorder of the events the service publishes.
type Accounts struct {
	t        testing.TB
	DB       *store.DB
	Auth     *auth.Service
	Settings *settings.Source
	Events   *Events
}

// AccountPassword is the password (or secret) of every account Accounts
// creates.
const AccountPassword = "Secret-pw-1"

// NewAccounts opens a fresh store on backend with an auth service and the
// default settings.
func NewAccounts(t testing.TB, backend string) *Accounts {
	t.Helper()
	db := OpenStore(t, backend)
	a, err := auth.New(context.Background(), db, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &Accounts{t: t, DB: db, Auth: a, Settings: settings.New(db, settings.Defaults()), Events: &Events{}}
}

// OpenStore opens a fresh store on backend (a SQLite file in a temporary
// folder when backend has no database of its own), closed when t ends.
func OpenStore(t testing.TB, backend string) *store.DB {
	t.Helper()
	dsn := DatabaseDSN(t, backend)
	if dsn == "" {
		dsn = filepath.Join(t.TempDir(), "berth.db")
	}
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Set makes the default settings, changed by change, the live ones.
func (a *Accounts) Set(change func(c *settings.Config)) {
	c := settings.Defaults()
	change(&c)
	a.Settings.Set(c)
}

// User creates a local user (an administrator if admin) and returns its
// principal.
func (a *Accounts) User(name string, admin bool) *auth.Principal {
	a.t.Helper()
	hash, err := auth.HashPassword(AccountPassword)
	if err != nil {
		a.t.Fatal(err)
	}
	id, err := a.DB.CreateUser(context.Background(), store.User{Username: name, Email: name + "@example.com", Realname: name, PasswordHash: hash, SysAdmin: admin})
	if err != nil {
		a.t.Fatal(err)
	}
	return &auth.Principal{UserID: id, Name: name, Admin: admin}
}

// SystemRobot creates a system robot named auth.RobotPrefix+name holding
// perms (its stored JSON) and returns its principal, signed in.
func (a *Accounts) SystemRobot(name, perms string) *auth.Principal {
	a.t.Helper()
	ctx := context.Background()
	hash, err := auth.HashPassword(AccountPassword)
	if err != nil {
		a.t.Fatal(err)
	}
	full := auth.RobotPrefix + name
	if _, err := a.DB.CreateRobot(ctx, store.Robot{Name: full, Level: "system", SecretHash: hash, Duration: -1, ExpiresAt: -1, Permissions: perms}); err != nil {
		a.t.Fatal(err)
	}
	p, err := a.Auth.Login(ctx, full, AccountPassword, "192.0.2.1")
	if err != nil {
		a.t.Fatal(err)
	}
	return p
}

// Project creates a project named name owned by owner (public if public,
// with no storage limit) and returns it.
func (a *Accounts) Project(name string, owner *auth.Principal, public bool) *store.Project {
	a.t.Helper()
	ctx := context.Background()
	id, err := a.DB.AddProject(ctx, store.ProjectSpec{Name: name, OwnerID: owner.UserID, Public: public, StorageLimit: -1})
	if err != nil {
		a.t.Fatal(err)
	}
	p, err := a.DB.ProjectByID(ctx, id)
	if err != nil {
		a.t.Fatal(err)
	}
	return p
}

// Member makes user a member of project with role.
func (a *Accounts) Member(project int64, user *auth.Principal, role rbac.Role) {
	a.t.Helper()
	if _, err := a.DB.AddUserMember(context.Background(), project, user.UserID, user.Name, int(role)); err != nil {
		a.t.Fatal(err)
	}
}

// Events records published events.
type Events struct {
	mu   sync.Mutex
	list []event.Event
}

// Publish records ev.
func (e *Events) Publish(ev event.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

// Take returns the events recorded since the last Take.
func (e *Events) Take() []event.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.list
	e.list = nil
	return out
}

// Outcome names err's outcome in the tables of the services' tests: "ok"
// for nil, "hidden" for a project the caller may not see, else its errs
// kind.
func Outcome(err error) string {
	var h *auth.HiddenProject
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &h):
		return "hidden"
	}
	return errs.KindOf(err).String()
}
