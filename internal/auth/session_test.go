package auth_test

import (
	"errors"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/store"
)

// TestSessionPrincipalOf checks the one reading of a session cookie the API
// and the console share: an ended session asks to sign in again, a store
// failure stays what it is, and a live one is its user with the session.
func TestSessionPrincipalOf(t *testing.T) {
	if _, _, err := auth.SessionPrincipalOf(nil, nil, errs.E(errs.NotFound, "session", "no row")); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("ended session: %v, want unauthenticated", err)
	}
	broken := errors.New("connection reset")
	if _, _, err := auth.SessionPrincipalOf(nil, nil, broken); !errors.Is(err, broken) {
		t.Errorf("store failure: %v", err)
	}
	sess := &store.Session{CSRF: "tok"}
	p, u, err := auth.SessionPrincipalOf(sess, &store.User{ID: 7, Username: "ann", SysAdmin: true}, nil)
	if err != nil || p.UserID != 7 || p.Name != "ann" || !p.Admin || p.Session != sess || u.ID != 7 || p.Anonymous() {
		t.Errorf("live session: %+v %+v %v", p, u, err)
	}
	if auth.HashSessionID("a") == auth.HashSessionID("b") || len(auth.HashSessionID("a")) != 64 {
		t.Error("HashSessionID")
	}
}
