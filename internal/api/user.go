package api

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// userStore is what the user handlers need from the metadata store.
type userStore interface {
	UserByID(ctx context.Context, id int64) (*store.User, error)
	ListUsers(ctx context.Context, q *query.Query, offset, limit int) ([]store.User, int64, error)
	CreateUser(ctx context.Context, u store.User) (int64, error)
	UpdateUserProfile(ctx context.Context, id int64, email, realname, comment string) error
	SetUserSysAdmin(ctx context.Context, id int64, admin bool) error
	SetUserPassword(ctx context.Context, id int64, hash string) error
	DeleteUser(ctx context.Context, id int64) error
	IsProjectAdminAnywhere(ctx context.Context, userID int64) (bool, error)
}

func (s *Server) userRoutes() []route {
	return []route{
		{method: "GET", path: "/users", op: "listUsers", handle: s.listUsers, resp: []UserResp{}, respDef: "[]UserResp"},
		{method: "POST", path: "/users", op: "createUser", handle: s.createUser, public: true},
		{method: "GET", path: "/users/current", op: "getCurrentUserInfo", handle: s.getCurrentUser, resp: UserResp{}, respDef: "UserResp"},
		{method: "GET", path: "/users/search", op: "searchUsers", handle: s.searchUsers, resp: []UserSearchRespItem{}, respDef: "[]UserSearchRespItem"},
		{method: "GET", path: "/users/current/permissions", op: "getCurrentUserPermissions", handle: s.currentUserPermissions, resp: []Permission{}, respDef: "[]Permission"},
		{method: "GET", path: "/users/{user_id}", op: "getUser", handle: s.getUser, resp: UserResp{}, respDef: "UserResp"},
		{method: "PUT", path: "/users/{user_id}", op: "updateUserProfile", handle: s.updateUserProfile},
		{method: "DELETE", path: "/users/{user_id}", op: "deleteUser", handle: s.deleteUser},
		{method: "PUT", path: "/users/{user_id}/sysadmin", op: "setUserSysAdmin", handle: s.setUserSysAdmin},
		{method: "PUT", path: "/users/{user_id}/password", op: "updateUserPassword", handle: s.updateUserPassword},
		{method: "PUT", path: "/users/{user_id}/cli_secret", op: "setCliSecret", handle: s.setCliSecret},
		{method: "GET", path: "/permissions", op: "getPermissions", handle: s.getPermissions, resp: Permissions{}, respDef: "Permissions"},
	}
}

// UserResp is Harbor's view of a user. It never carries the password hash
// or the CLI secret (Harbor's oidc_user_meta is left out: Berth has no OIDC).
type UserResp struct {
	Email           string `json:"email"`
	Realname        string `json:"realname"`
	Comment         string `json:"comment"`
	UserID          int64  `json:"user_id"`
	Username        string `json:"username"`
	SysadminFlag    bool   `json:"sysadmin_flag"`
	AdminRoleInAuth bool   `json:"admin_role_in_auth"`
	CreationTime    string `json:"creation_time"`
	UpdateTime      string `json:"update_time"`
}

func userResp(u *store.User) UserResp {
	return UserResp{
		Email: u.Email, Realname: u.Realname, Comment: u.Comment, UserID: u.ID, Username: u.Username,
		SysadminFlag: u.SysAdmin, CreationTime: Timestamp(u.CreatedAt), UpdateTime: Timestamp(u.UpdatedAt),
	}
}

// UserSearchRespItem is one hit of a user search.
type UserSearchRespItem struct {
	UserID   int64  `json:"user_id"`
	Username string `json:"username"`
}

// Permission is one (resource, action) pair as Harbor shows it.
type Permission struct {
	Resource string `json:"resource"`
	Action   string `json:"action"`
}

// Permissions lists what can be given to robot accounts.
type Permissions struct {
	System  []Permission `json:"system,omitempty"`
	Project []Permission `json:"project,omitempty"`
}

// Request bodies (Harbor's UserCreationReq, UserProfile, PasswordReq,
// UserSysAdminFlag, OIDCCliSecretReq).
type userCreationReq struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Realname string `json:"realname"`
	Password string `json:"password"`
	Comment  string `json:"comment"`
}

type userProfile struct {
	Email    string `json:"email"`
	Realname string `json:"realname"`
	Comment  string `json:"comment"`
}

type passwordReq struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

// sysAdminFlag is Harbor's UserSysAdminFlag. go-client marshals it with
// omitempty, so revoking is sent as {}: an absent flag means false, as in
// Harbor.
type sysAdminFlag struct {
	SysadminFlag bool `json:"sysadmin_flag"`
}

type cliSecretReq struct {
	Secret string `json:"secret"`
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

// validUsername applies Harbor's rules (1 to 255 characters, none of
// , " ~ # $ %, not a robot name) and Berth's stricter one: a new username
// is ASCII letters, digits and . _ - @ + only (usernameChars), so no name
// can look like another through Unicode look-alikes (Cyrillic "а" for
// Latin "a", full-width letters, invisible characters). The store compares
// usernames case-folded, so "Admin" is refused while "admin" exists.
func validUsername(name string) error {
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

// validPassword applies Harbor's password rule (8 to 128 characters with
// an upper-case letter, a lower-case letter and a digit).
func validPassword(field, pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < minPassword || n > maxPassword ||
		!strings.ContainsFunc(pw, unicode.IsUpper) || !strings.ContainsFunc(pw, unicode.IsLower) ||
		!strings.ContainsFunc(pw, unicode.IsDigit) {
		return errs.E(errs.Invalid, "validate password", "%s must be %d to %d characters long with at least one upper-case letter, one lower-case letter and one digit",
			field, minPassword, maxPassword)
	}
	return nil
}

// validProfile applies Harbor's profile rules: a well-formed e-mail address,
// a real name of 1 to 255 characters without , ~ # $ %, a comment of at most
// 30 characters.
func validProfile(p userProfile) error {
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

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResUser, rbac.List); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	// Harbor also takes username= and email= as fuzzy filters.
	for _, k := range []string{"username", "email"} {
		if v := r.URL.Query().Get(k); v != "" {
			p.Query.Conds = append(p.Query.Conds, query.Cond{Key: k, Kind: query.Fuzzy, Value: v})
		}
	}
	users, total, err := s.st.ListUsers(r.Context(), p.Query, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	out := make([]UserResp, len(users))
	for i := range users {
		out[i] = userResp(&users[i])
	}
	setPageHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

// createUser adds a local user: administrators (and system robots with
// user:create) always, anyone else only while self-registration is on.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireCreateUser(c); err != nil {
		return err
	}
	var req userCreationReq
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validUsername(req.Username); err != nil {
		return err
	}
	if err := validProfile(userProfile{Email: req.Email, Realname: req.Realname, Comment: req.Comment}); err != nil {
		return err
	}
	if err := validPassword("password", req.Password); err != nil {
		return err
	}
	hash, err := auth.HashPassword(req.Password)
	if err != nil {
		return err
	}
	id, err := s.st.CreateUser(r.Context(), store.User{
		Username: req.Username, Email: req.Email, Realname: req.Realname, Comment: req.Comment, PasswordHash: hash,
	})
	s.audit(c, 0, "create", "user", req.Username, err)
	if err != nil {
		return err
	}
	return created(w, r, Prefix+"/users/"+strconv.FormatInt(id, 10))
}

func (s *Server) requireCreateUser(c *Caller) error {
	const op = "create user"
	if s.auth.CanSystem(c.Principal, rbac.ResUser, rbac.Create) {
		return nil
	}
	cfg := s.opts.Settings.Get()
	if cfg.AuthMode != "db_auth" {
		return errs.E(errs.Denied, op, "creating local users is not allowed under auth mode %s", cfg.AuthMode)
	}
	if cfg.SelfRegistration && !c.IsRobot() {
		return nil
	}
	if c.Anonymous() {
		return errs.E(errs.Unauthenticated, op, "authentication required: self-registration is off")
	}
	return errs.E(errs.Denied, op, "only system administrators can create users while self-registration is off")
}

func (s *Server) getCurrentUser(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if c.Anonymous() {
		return errs.E(errs.Unauthenticated, "current user", "authentication required")
	}
	if c.IsRobot() {
		return errs.E(errs.Precondition, "current user", "the current user is not available for robot account %s", c.Name)
	}
	u, err := pageCached(r.Context(), "user "+strconv.FormatInt(c.UserID, 10), func() (*store.User, error) {
		return s.st.UserByID(r.Context(), c.UserID)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userResp(u))
}

// searchUsers finds users by a part of their name; any signed-in caller
// may search (to pick members), and sees names and IDs only.
func (s *Server) searchUsers(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if c.Anonymous() {
		return errs.E(errs.Unauthenticated, "search users", "authentication required")
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	name := r.URL.Query().Get("username")
	if name == "" {
		return errs.E(errs.Invalid, "search users", "query parameter username is required")
	}
	q := &query.Query{Conds: []query.Cond{{Key: "username", Kind: query.Fuzzy, Value: name}}}
	users, total, err := s.st.ListUsers(r.Context(), q, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	out := make([]UserSearchRespItem, len(users))
	for i, u := range users {
		out[i] = UserSearchRespItem{UserID: u.ID, Username: u.Username}
	}
	setPageHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

// isSelf reports whether c is the local user id.
func isSelf(c *Caller, id int64) bool { return !c.IsRobot() && c.UserID != 0 && c.UserID == id }

// requireUserAccess lets a caller act on user id as itself or with the
// system permission act on users.
func (s *Server) requireUserAccess(c *Caller, id int64, act rbac.Action) error {
	if c.Anonymous() {
		return errs.E(errs.Unauthenticated, "authorize", "authentication required")
	}
	if isSelf(c, id) || s.auth.CanSystem(c.Principal, rbac.ResUser, act) {
		return nil
	}
	return errs.E(errs.Denied, "authorize", "%s may not %s user %d", c.Name, act, id)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "user_id")
	if err != nil {
		return err
	}
	if err := s.requireUserAccess(c, id, rbac.Read); err != nil {
		return err
	}
	u, err := s.st.UserByID(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, userResp(u))
}

func (s *Server) updateUserProfile(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "user_id")
	if err != nil {
		return err
	}
	if err := s.requireUserAccess(c, id, rbac.Update); err != nil {
		return err
	}
	var p userProfile
	if err := decode(r, &p); err != nil {
		return err
	}
	if err := validProfile(p); err != nil {
		return err
	}
	u, err := s.st.UserByID(r.Context(), id)
	if err != nil {
		return err
	}
	err = s.st.UpdateUserProfile(r.Context(), id, p.Email, p.Realname, p.Comment)
	s.audit(c, 0, "update", "user", u.Username, err)
	if err != nil {
		return err
	}
	return ok(w)
}

// deleteUser removes a user with its memberships and sessions. Nobody may
// delete themselves or the first administrator (ID 1), as in Harbor.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "delete user"
	id, err := pathID(r, "user_id")
	if err != nil {
		return err
	}
	if err := s.requireSystem(c, rbac.ResUser, rbac.Delete); err != nil {
		return err
	}
	if isSelf(c, id) || id == 1 {
		return errs.E(errs.Denied, op, "user with ID %d cannot be deleted", id)
	}
	u, err := s.st.UserByID(r.Context(), id)
	if err != nil {
		return err
	}
	err = s.st.DeleteUser(r.Context(), id)
	s.auth.ForgetCredentials()
	s.audit(c, 0, "delete", "user", u.Username, err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) setUserSysAdmin(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "set user sysadmin"
	id, err := pathID(r, "user_id")
	if err != nil {
		return err
	}
	if err := s.requireSystem(c, rbac.ResUser, rbac.Update); err != nil {
		return err
	}
	if isSelf(c, id) {
		return errs.E(errs.Denied, op, "you cannot change your own administrator flag")
	}
	var f sysAdminFlag
	if err := decode(r, &f); err != nil {
		return err
	}
	u, err := s.st.UserByID(r.Context(), id)
	if err != nil {
		return err
	}
	err = s.st.SetUserSysAdmin(r.Context(), id, f.SysadminFlag)
	s.auth.ForgetCredentials() // cached Basic logins carry the old flag
	s.audit(c, 0, "update", "user", u.Username, err)
	if err != nil {
		return err
	}
	return ok(w)
}

// updateUserPassword changes a password: users give their current one;
// administrators may reset anyone else's without it. Every session of the
// user ends and cached credentials are forgotten.
func (s *Server) updateUserPassword(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "update password"
	id, err := pathID(r, "user_id")
	if err != nil {
		return err
	}
	if err := s.requireUserAccess(c, id, rbac.Update); err != nil {
		return err
	}
	var req passwordReq
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := s.st.UserByID(r.Context(), id)
	if err != nil {
		return err
	}
	if isSelf(c, id) && !auth.CheckPassword(u.PasswordHash, req.OldPassword) {
		return errs.E(errs.Denied, op, "the current password is incorrect")
	}
	if err := validPassword("new_password", req.NewPassword); err != nil {
		return err
	}
	if auth.CheckPassword(u.PasswordHash, req.NewPassword) {
		return errs.E(errs.Invalid, op, "the new password is identical to the old password")
	}
	hash, err := auth.HashPassword(req.NewPassword)
	if err != nil {
		return err
	}
	err = s.st.SetUserPassword(r.Context(), id, hash)
	s.auth.ForgetCredentials()
	s.audit(c, 0, "update", "user", u.Username, err)
	if err != nil {
		return err
	}
	return ok(w)
}

// setCliSecret exists for OIDC users only; Berth authenticates against its
// own database, so there is no CLI secret to set.
func (s *Server) setCliSecret(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if _, err := pathID(r, "user_id"); err != nil {
		return err
	}
	var body struct {
		Secret string `json:"secret"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	mode := s.opts.Settings.Get().AuthMode
	return errs.E(errs.Precondition, "set CLI secret",
		"unable to update the CLI secret under auth mode %s: CLI secrets exist only in oidc_auth mode; use the password (or a robot account) with the docker CLI", mode)
}

// adminSystemPolicies are the system-level permissions a system administrator
// holds (Harbor's src/common/rbac/system/policies.go).
var adminSystemPolicies = func() rbac.Set {
	out := rbac.Set{}
	add := func(res rbac.Resource, acts ...rbac.Action) {
		for _, a := range acts {
			out[rbac.Permission{Resource: res, Action: a}] = true
		}
	}
	crudl := []rbac.Action{rbac.Create, rbac.Read, rbac.Update, rbac.Delete, rbac.List}
	add(rbac.ResCatalog, rbac.Read)
	add(rbac.ResAuditLog, rbac.List)
	add(rbac.ResProject, crudl...)
	add(rbac.ResUser, crudl...)
	add(rbac.ResUserGroup, crudl...)
	add(rbac.ResRegistry, crudl...)
	add(rbac.ResReplication, crudl...)
	add(rbac.Resource("distribution"), crudl...)
	add(rbac.ResGC, crudl...)
	add(rbac.ResScanAll, append(crudl, rbac.Stop)...)
	add(rbac.ResSystemVolumes, rbac.Read)
	add(rbac.ResLdapUser, rbac.Create, rbac.List)
	add(rbac.ResConfiguration, rbac.Read, rbac.Update)
	add(rbac.ResJobMonitor, rbac.Read, rbac.List, rbac.Stop)
	add(rbac.ResSecurityHub, rbac.Read, rbac.List)
	out.Add(rbac.RobotSystemAssignable)
	return out
}()

var permProjectScope = regexp.MustCompile(`^/project/([^/]*)/?`)

// currentUserPermissions lists what the caller may do in a scope: Harbor's
// "/project/{id}" (resources "/project/{id}/repository", ...) or "/system"
// (resources "user", ...); with relative=true, resources are relative to
// the scope. Unknown scopes and projects the caller cannot see give [].
func (s *Server) currentUserPermissions(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if c.Anonymous() {
		return errs.E(errs.Unauthenticated, "permissions", "authentication required")
	}
	relative, err := boolParam(r, "relative", false)
	if err != nil {
		return err
	}
	scope := r.URL.Query().Get("scope")
	out := []Permission{}
	if m := permProjectScope.FindStringSubmatch(scope); m != nil {
		pid, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return writeJSON(w, http.StatusOK, out)
		}
		set, err := s.scopePermissions(r.Context(), c, pid)
		if err != nil {
			return err
		}
		for _, p := range set.List() {
			res := "/project/" + strconv.FormatInt(pid, 10) + "/" + string(p.Resource)
			if relative {
				rel, ok := relativeResource(res, scope)
				if !ok {
					continue
				}
				res = rel
			}
			out = append(out, Permission{Resource: res, Action: string(p.Action)})
		}
	} else if strings.HasPrefix(scope, "/system") {
		for _, p := range adminSystemPolicies.List() {
			if s.auth.CanSystem(c.Principal, p.Resource, p.Action) {
				out = append(out, Permission{Resource: string(p.Resource), Action: string(p.Action)})
			}
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// scopePermissions is what c may do in project pid (nothing if it does not exist).
func (s *Server) scopePermissions(ctx context.Context, c *Caller, pid int64) (rbac.Set, error) {
	project, err := s.cachedProject(ctx, true, strconv.FormatInt(pid, 10))
	if errs.Is(err, errs.NotFound) {
		return rbac.Set{}, nil
	}
	if err != nil {
		return nil, err
	}
	set, err := s.projectPermissions(ctx, c, project)
	if err != nil {
		return nil, err
	}
	return set, nil
}

// relativeResource is Harbor's Resource.RelativeTo.
func relativeResource(res, scope string) (string, bool) {
	if !strings.HasPrefix(res, scope) {
		return "", false
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(res, scope), "/")
	if rel == "" {
		rel = "."
	}
	return rel, true
}

// getPermissions lists the permissions robot accounts can be given, for
// system administrators (system and project) and project administrators
// (project only), as Harbor does.
func (s *Server) getPermissions(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if c.Anonymous() {
		return errs.E(errs.Unauthenticated, "permissions", "authentication required")
	}
	sysAdmin := c.Admin
	projectAdmin := false
	if !sysAdmin && !c.IsRobot() {
		var err error
		if projectAdmin, err = s.st.IsProjectAdminAnywhere(r.Context(), c.UserID); err != nil {
			return err
		}
	}
	if !sysAdmin && !projectAdmin {
		return errs.E(errs.Denied, "permissions", "only system and project administrators can list permissions")
	}
	var out Permissions
	if sysAdmin {
		out.System = permissionList(rbac.RobotSystemAssignable)
	}
	out.Project = permissionList(rbac.RobotProjectAssignable)
	return writeJSON(w, http.StatusOK, out)
}

func permissionList(set rbac.Set) []Permission {
	out := make([]Permission, 0, len(set))
	for _, p := range set.List() {
		out = append(out, Permission{Resource: string(p.Resource), Action: string(p.Action)})
	}
	return out
}
