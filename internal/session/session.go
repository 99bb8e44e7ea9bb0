// Package session is the domain service of browser sessions: signing in
// (the password check through auth's throttled Login, refusing robots, the
// session row with its CSRF token, its lifetime from the live settings),
// signing out, reading the session a cookie names, and the audit event of
// each sign-in and sign-out. The REST API's /c/login and /c/log_out and the
// web console both call it; they only read the form and set or clear the
// cookies (api.SetSessionCookies, api.ClearSessionCookies).
package session

import (
	"context"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/store"
)

// Store is what the service reads and writes.
type Store interface {
	CreateSession(ctx context.Context, s store.Session) error
	DeleteSession(ctx context.Context, idHash string) error
	SessionUser(ctx context.Context, idHash string) (*store.Session, *store.User, error)
}

// Auth checks credentials: Login is throttled per client address and name
// (errs.RateLimited with the wait) and runs the password check outside the
// request gate (httplimit.Outside).
type Auth interface {
	Login(ctx context.Context, user, pass, addr string) (*auth.Principal, error)
}

// Settings is the live system configuration (settings.Source).
type Settings interface{ Get() settings.Config }

// Publisher takes the events of the service's changes.
type Publisher interface{ Publish(event.Event) }

// Service is the session service.
type Service struct {
	st      Store
	auth    Auth
	cfg     Settings
	ttl     time.Duration
	events  Publisher
	changed func()
}

// New returns a session service. A session lasts the configured
// session_timeout, or ttl while that is not positive; events and changed
// are as for project.New.
func New(st Store, a Auth, cfg Settings, ttl time.Duration, events Publisher, changed func()) *Service {
	return &Service{st: st, auth: a, cfg: cfg, ttl: ttl, events: events, changed: changed}
}

// record publishes the event of a sign-in or sign-out of name by operator
// and tells caches.
func (s *Service) record(operator, operation, name string, err error) {
	event.Record(s.events, s.changed, operator, 0, operation, "user", name, err)
}

// Started is a new session: the cookie's value (only its hash is stored),
// its CSRF token and when it ends.
type Started struct {
	ID, CSRF  string
	ExpiresAt time.Time
}

// Login signs user in with password from client address addr and starts
// a session. A wrong name or password is recorded as a failed sign-in;
// robot accounts cannot sign in.
func (s *Service) Login(ctx context.Context, user, password, addr string) (*Started, error) {
	const op = "login"
	if user == "" || password == "" {
		return nil, errs.E(errs.Invalid, op, "principal and password are required")
	}
	p, err := s.auth.Login(ctx, user, password, addr)
	if err != nil {
		if errs.Is(err, errs.Unauthenticated) {
			s.record(user, op, user, err)
		}
		return nil, err
	}
	if p.IsRobot() {
		return nil, errs.E(errs.Denied, op, "robot accounts cannot sign in to the console")
	}
	ttl := time.Duration(s.cfg.Get().SessionTimeout) * time.Minute
	if ttl <= 0 {
		ttl = s.ttl
	}
	st := &Started{ID: auth.RandomSecret(32), CSRF: auth.RandomSecret(24), ExpiresAt: time.Now().Add(ttl)}
	if err := s.st.CreateSession(ctx, store.Session{IDHash: auth.HashSessionID(st.ID), UserID: p.UserID, CSRF: st.CSRF, ExpiresAt: st.ExpiresAt.UnixMilli()}); err != nil {
		return nil, err
	}
	s.record(p.Name, op, user, nil)
	return st, nil
}

// Logout ends the session whose cookie value is id (none when empty) for
// p, whose sign-out is recorded unless p is anonymous (nil: unknown).
func (s *Service) Logout(ctx context.Context, p *auth.Principal, id string) error {
	if p != nil && !p.Anonymous() {
		s.record(p.Name, "logout", p.Name, nil)
	}
	if id == "" {
		return nil
	}
	return s.st.DeleteSession(ctx, auth.HashSessionID(id))
}

// User is the principal of the session whose cookie value is id, and its
// user (auth.SessionPrincipalOf over the session's row). A session that
// ended or never existed is errs.Unauthenticated.
func (s *Service) User(ctx context.Context, id string) (*auth.Principal, *store.User, error) {
	if id == "" {
		return auth.SessionPrincipalOf(nil, nil, errs.E(errs.NotFound, "session", "no session"))
	}
	return auth.SessionPrincipalOf(s.st.SessionUser(ctx, auth.HashSessionID(id)))
}
