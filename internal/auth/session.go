package auth

import (
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

// SessionPrincipalOf is the principal of a browser session, given
// store.SessionUser's answer for the hash of its cookie (HashSessionID),
// err included: the API and the console authenticate a session cookie the
// same way. A session that ended or never existed is errs.Unauthenticated.
func SessionPrincipalOf(sess *store.Session, u *store.User, err error) (*Principal, *store.User, error) {
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return nil, nil, errs.E(errs.Unauthenticated, "session", "session expired; sign in again")
		}
		return nil, nil, err
	}
	return &Principal{UserID: u.ID, Name: u.Username, Admin: u.SysAdmin, Session: sess}, u, nil
}
