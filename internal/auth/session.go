package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/store"
)

// HashSessionID is how a browser session's cookie value is stored and
// looked up (its SHA-256, in hex): the database never holds the cookie.
func HashSessionID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// SessionPrincipal returns the principal of the browser session whose
// cookie value is sid, with its user's row (read in the same statement):
// the API and the console authenticate a session cookie the same way. A
// session that ended or never existed is errs.Unauthenticated.
func (s *Service) SessionPrincipal(ctx context.Context, sid string) (*Principal, *store.User, error) {
	if sid == "" {
		return nil, nil, errs.E(errs.Unauthenticated, "session", "session expired; sign in again")
	}
	sess, u, err := s.st.SessionUser(ctx, HashSessionID(sid))
	return sessionPrincipal(sess, u, err)
}

// SessionPrincipalOf is SessionPrincipal for a session and user already
// read (store.SessionUser's answer, err included).
func SessionPrincipalOf(sess *store.Session, u *store.User, err error) (*Principal, *store.User, error) {
	return sessionPrincipal(sess, u, err)
}

func sessionPrincipal(sess *store.Session, u *store.User, err error) (*Principal, *store.User, error) {
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return nil, nil, errs.E(errs.Unauthenticated, "session", "session expired; sign in again")
		}
		return nil, nil, err
	}
	return &Principal{UserID: u.ID, Name: u.Username, Admin: u.SysAdmin, Session: sess}, u, nil
}
