// Package user is the domain service of local users: the rules on names,
// passwords and profiles, who may create, read, change and delete which
// user (asked of auth, never worked out here), and the event of every
// change. The REST API decodes requests and encodes answers.
package user

import (
	"context"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/store"
)

// Store is what the service reads and writes.
type Store interface {
	UserByID(ctx context.Context, id int64) (*store.User, error)
	ListUsers(ctx context.Context, q *query.Query, offset, limit int) ([]store.User, int64, error)
	CreateUser(ctx context.Context, u store.User) (int64, error)
	UpdateUserProfile(ctx context.Context, id int64, email, realname, comment string) error
	SetUserSysAdmin(ctx context.Context, id int64, admin bool) error
	SetUserPassword(ctx context.Context, id int64, hash string) error
	DeleteUser(ctx context.Context, id int64) error
	IsProjectAdminAnywhere(ctx context.Context, userID int64) (bool, error)
}

// Auth answers what a caller may do.
type Auth interface {
	CanSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) bool
	DecideSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) error
	ForgetCredentials()
}

// Settings is the live system configuration (settings.Source): its
// auth_mode and self_registration decide who may create users.
type Settings interface{ Get() settings.Config }

// Publisher takes the events of the service's changes.
type Publisher interface{ Publish(event.Event) }

// Service is the user service.
type Service struct {
	st      Store
	auth    Auth
	cfg     Settings
	events  Publisher
	changed func()
}

// New returns a user service (see project.New for changed).
func New(st Store, a Auth, cfg Settings, events Publisher, changed func()) *Service {
	return &Service{st: st, auth: a, cfg: cfg, events: events, changed: changed}
}

func (s *Service) record(p *auth.Principal, operation, resource string, err error) {
	event.Record(s.events, s.changed, p.Name, 0, operation, "user", resource, err)
}

// Harbor's limits for user fields.
const (
	maxUserName    = 255
	maxRealname    = 255
	maxEmail       = 255
	maxUserComment = 30
	minPassword    = 8
	maxPassword    = 128
)

// emailPattern is the address format Harbor accepts.
var emailPattern = regexp.MustCompile(`^(([^<>()[\]\\.,;:\s@\"]+(\.[^<>()[\]\\.,;:\s@\"]+)*)|(\".+\"))@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\])|(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))$`)

// ValidUsername applies Harbor's rules (1 to 255 characters, none of
// , " ~ # $ %, not a robot name) and Berth's stricter one: a new username
// is ASCII letters, digits and . _ - @ + only, so no name can look like
// another through Unicode look-alikes (Cyrillic "а" for Latin "a",
// full-width letters, invisible characters). The store compares usernames
// case-folded, so "Admin" is refused while "admin" exists.
func ValidUsername(name string) error {
	const op = "validate user"
	n := utf8.RuneCountInString(name)
	switch {
	case name == "":
		return errs.E(errs.Invalid, op, "username is required")
	case n > maxUserName:
		return errs.E(errs.Invalid, op, "username must be at most %d characters", maxUserName)
	case !utf8.ValidString(name):
		return errs.E(errs.Invalid, op, "username must be valid UTF-8")
	case strings.HasPrefix(name, auth.RobotPrefix):
		return errs.E(errs.Invalid, op, "username must not start with %q", auth.RobotPrefix)
	case strings.ContainsAny(name, `,"~#$%:`):
		return errs.E(errs.Invalid, op, `username must not contain any of , " ~ # $ %% :`)
	case strings.ContainsFunc(name, unicode.IsControl):
		return errs.E(errs.Invalid, op, "username must not contain control characters")
	case strings.ContainsFunc(name, func(r rune) bool { return !usernameChar(r) }):
		return errs.E(errs.Invalid, op, "username may contain only ASCII letters, digits and . _ - @ +")
	}
	return nil
}

// usernameChar reports whether r may appear in a new username.
func usernameChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("._-@+", r)
}

// ValidPassword applies Harbor's password rule (8 to 128 characters with
// an upper-case letter, a lower-case letter and a digit) to the password
// in field.
func ValidPassword(field, pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < minPassword || n > maxPassword ||
		!strings.ContainsFunc(pw, unicode.IsUpper) || !strings.ContainsFunc(pw, unicode.IsLower) ||
		!strings.ContainsFunc(pw, unicode.IsDigit) {
		return errs.E(errs.Invalid, "validate password", "%s must be %d to %d characters long with at least one upper-case letter, one lower-case letter and one digit",
			field, minPassword, maxPassword)
	}
	return nil
}

// Profile is what a user may change about themselves.
type Profile struct {
	Email, Realname, Comment string
}

// ValidProfile applies Harbor's profile rules: a well-formed e-mail
// address, a real name of 1 to 255 characters without , ~ # $ %, a comment
// of at most 30 characters.
func ValidProfile(p Profile) error {
	const op = "validate user"
	switch {
	case p.Email == "":
		return errs.E(errs.Invalid, op, "email is required")
	case utf8.RuneCountInString(p.Email) > maxEmail || !emailPattern.MatchString(p.Email):
		return errs.E(errs.Invalid, op, "email %q is not a valid e-mail address", p.Email)
	case p.Realname == "":
		return errs.E(errs.Invalid, op, "realname is required")
	case utf8.RuneCountInString(p.Realname) > maxRealname:
		return errs.E(errs.Invalid, op, "realname must be at most %d characters", maxRealname)
	case strings.ContainsAny(p.Realname, ",~#$%"):
		return errs.E(errs.Invalid, op, "realname must not contain any of , ~ # $ %%")
	case strings.ContainsFunc(p.Realname, unicode.IsControl):
		return errs.E(errs.Invalid, op, "realname must not contain control characters")
	case utf8.RuneCountInString(p.Comment) > maxUserComment:
		return errs.E(errs.Invalid, op, "comment must be at most %d characters", maxUserComment)
	}
	return nil
}

// List returns a page of users for p (system user:list).
func (s *Service) List(ctx context.Context, p *auth.Principal, q *query.Query, offset, limit int) ([]store.User, int64, error) {
	if err := s.auth.DecideSystem(p, rbac.ResUser, rbac.List); err != nil {
		return nil, 0, err
	}
	return s.st.ListUsers(ctx, q, offset, limit)
}

// Search returns a page of users whose name contains name, for any
// signed-in caller (to pick members).
func (s *Service) Search(ctx context.Context, p *auth.Principal, name string, offset, limit int) ([]store.User, int64, error) {
	if p.Anonymous() {
		return nil, 0, errs.E(errs.Unauthenticated, "search users", "authentication required")
	}
	if name == "" {
		return nil, 0, errs.E(errs.Invalid, "search users", "query parameter username is required")
	}
	q := &query.Query{Conds: []query.Cond{{Key: "username", Kind: query.Fuzzy, Value: name}}}
	return s.st.ListUsers(ctx, q, offset, limit)
}

// NewUser is a request to create a user.
type NewUser struct {
	Username, Password string
	Profile
}

// Create adds a local user: administrators (and system robots with
// user:create) always, anyone else only while self-registration is on
// (MayCreate).
func (s *Service) Create(ctx context.Context, p *auth.Principal, req NewUser) (int64, error) {
	if err := s.MayCreate(p); err != nil {
		return 0, err
	}
	if err := ValidUsername(req.Username); err != nil {
		return 0, err
	}
	if err := ValidProfile(req.Profile); err != nil {
		return 0, err
	}
	if err := ValidPassword("password", req.Password); err != nil {
		return 0, err
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return 0, err
	}
	id, err := s.st.CreateUser(ctx, store.User{
		Username: req.Username, Email: req.Email, Realname: req.Realname, Comment: req.Comment, PasswordHash: hash,
	})
	s.record(p, "create", req.Username, err)
	return id, err
}

// MayCreate checks that p may create a user under the live settings:
// with the system user:create permission always; otherwise only local
// users (auth_mode db_auth) while self_registration is on, and never a
// robot.
func (s *Service) MayCreate(p *auth.Principal) error {
	const op = "create user"
	if s.auth.CanSystem(p, rbac.ResUser, rbac.Create) {
		return nil
	}
	reg := s.cfg.Get()
	if reg.AuthMode != "db_auth" {
		return errs.E(errs.Denied, op, "creating local users is not allowed under auth mode %s", reg.AuthMode)
	}
	if reg.SelfRegistration && !p.IsRobot() {
		return nil
	}
	if p.Anonymous() {
		return errs.E(errs.Unauthenticated, op, "authentication required: self-registration is off")
	}
	return errs.E(errs.Denied, op, "only system administrators can create users while self-registration is off")
}

// isSelf reports whether p is the local user id.
func isSelf(p *auth.Principal, id int64) bool { return !p.IsRobot() && p.UserID != 0 && p.UserID == id }

// RequireAccess lets p act on user id as itself or with the system
// permission act on users.
func (s *Service) RequireAccess(p *auth.Principal, id int64, act rbac.Action) error {
	if p.Anonymous() {
		return errs.E(errs.Unauthenticated, "authorize", "authentication required")
	}
	if isSelf(p, id) || s.auth.CanSystem(p, rbac.ResUser, act) {
		return nil
	}
	return errs.E(errs.Denied, "authorize", "%s may not %s user %d", p.Name, act, id)
}

// Get returns user id to p: itself, or with system user:read.
func (s *Service) Get(ctx context.Context, p *auth.Principal, id int64) (*store.User, error) {
	if err := s.RequireAccess(p, id, rbac.Read); err != nil {
		return nil, err
	}
	return s.st.UserByID(ctx, id)
}

// UpdateProfile changes user id's profile for p: itself, or with system
// user:update.
func (s *Service) UpdateProfile(ctx context.Context, p *auth.Principal, id int64, prof Profile) error {
	if err := s.RequireAccess(p, id, rbac.Update); err != nil {
		return err
	}
	if err := ValidProfile(prof); err != nil {
		return err
	}
	u, err := s.st.UserByID(ctx, id)
	if err != nil {
		return err
	}
	err = s.st.UpdateUserProfile(ctx, id, prof.Email, prof.Realname, prof.Comment)
	s.record(p, "update", u.Username, err)
	return err
}

// Delete removes user id with its memberships and sessions, for p (system
// user:delete). Nobody may delete themselves or the first administrator
// (ID 1), as in Harbor.
func (s *Service) Delete(ctx context.Context, p *auth.Principal, id int64) error {
	if err := s.auth.DecideSystem(p, rbac.ResUser, rbac.Delete); err != nil {
		return err
	}
	if isSelf(p, id) || id == 1 {
		return errs.E(errs.Denied, "delete user", "user with ID %d cannot be deleted", id)
	}
	u, err := s.st.UserByID(ctx, id)
	if err != nil {
		return err
	}
	err = s.st.DeleteUser(ctx, id)
	s.auth.ForgetCredentials()
	s.record(p, "delete", u.Username, err)
	return err
}

// MaySetSysAdmin checks that p may change user id's administrator flag
// (system user:update, never its own).
func (s *Service) MaySetSysAdmin(p *auth.Principal, id int64) error {
	if err := s.auth.DecideSystem(p, rbac.ResUser, rbac.Update); err != nil {
		return err
	}
	if isSelf(p, id) {
		return errs.E(errs.Denied, "set user sysadmin", "you cannot change your own administrator flag")
	}
	return nil
}

// SetSysAdmin grants or revokes user id's administrator flag for p.
func (s *Service) SetSysAdmin(ctx context.Context, p *auth.Principal, id int64, admin bool) error {
	if err := s.MaySetSysAdmin(p, id); err != nil {
		return err
	}
	u, err := s.st.UserByID(ctx, id)
	if err != nil {
		return err
	}
	err = s.st.SetUserSysAdmin(ctx, id, admin)
	s.auth.ForgetCredentials() // cached Basic logins carry the old flag
	s.record(p, "update", u.Username, err)
	return err
}

// SetPassword changes user id's password for p: users give their current
// one; administrators may reset anyone else's without it. Every session
// of the user ends and cached credentials are forgotten.
func (s *Service) SetPassword(ctx context.Context, p *auth.Principal, id int64, oldPassword, newPassword string) error {
	const op = "update password"
	if err := s.RequireAccess(p, id, rbac.Update); err != nil {
		return err
	}
	u, err := s.st.UserByID(ctx, id)
	if err != nil {
		return err
	}
	if isSelf(p, id) && !auth.CheckPassword(u.PasswordHash, oldPassword) {
		return errs.E(errs.Denied, op, "the current password is incorrect")
	}
	if err := ValidPassword("new_password", newPassword); err != nil {
		return err
	}
	if auth.CheckPassword(u.PasswordHash, newPassword) {
		return errs.E(errs.Invalid, op, "the new password is identical to the old password")
	}
	hash, err := auth.HashPassword(newPassword)
	if err != nil {
		return err
	}
	err = s.st.SetUserPassword(ctx, id, hash)
	s.auth.ForgetCredentials()
	s.record(p, "update", u.Username, err)
	return err
}

// Assignable returns the permissions p may give robot accounts: system
// and project ones for system administrators, project ones for project
// administrators (anywhere), as Harbor's GET /permissions.
func (s *Service) Assignable(ctx context.Context, p *auth.Principal) (system, project rbac.Set, err error) {
	const op = "permissions"
	if p.Anonymous() {
		return nil, nil, errs.E(errs.Unauthenticated, op, "authentication required")
	}
	projectAdmin := false
	if !p.Admin && !p.IsRobot() {
		if projectAdmin, err = s.st.IsProjectAdminAnywhere(ctx, p.UserID); err != nil {
			return nil, nil, err
		}
	}
	if !p.Admin && !projectAdmin {
		return nil, nil, errs.E(errs.Denied, op, "only system and project administrators can list permissions")
	}
	if p.Admin {
		system = rbac.RobotSystemAssignable
	}
	return system, rbac.RobotProjectAssignable, nil
}
