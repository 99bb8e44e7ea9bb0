package api

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/user"
)

// userStore is what the user service needs from the metadata store.
type userStore interface {
	user.Store
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

// UserRespOf is u as Harbor shows a user.
func UserRespOf(u *store.User) UserResp {
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

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, c *Caller) error {
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
	users, total, err := s.users.List(r.Context(), c.Principal, p.Query, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	out := make([]UserResp, len(users))
	for i := range users {
		out[i] = UserRespOf(&users[i])
	}
	setPageHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

// createUser adds a local user: administrators (and system robots with
// user:create) always, anyone else only while self-registration is on.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.users.MayCreate(c.Principal); err != nil {
		return err // before reading the body, as Harbor
	}
	var req userCreationReq
	if err := decode(r, &req); err != nil {
		return err
	}
	id, err := s.users.Create(r.Context(), c.Principal, user.NewUser{Username: req.Username, Password: req.Password,
		Profile: user.Profile{Email: req.Email, Realname: req.Realname, Comment: req.Comment}})
	if err != nil {
		return err
	}
	return created(w, r, Prefix+"/users/"+strconv.FormatInt(id, 10))
}

func (s *Server) getCurrentUser(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if c.Anonymous() {
		return errs.E(errs.Unauthenticated, "current user", "authentication required")
	}
	if c.IsRobot() {
		return errs.E(errs.Precondition, "current user", "the current user is not available for robot account %s", c.Name)
	}
	u, err := s.users.Get(r.Context(), c.Principal, c.UserID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, UserRespOf(u))
}

// searchUsers finds users by a part of their name; any signed-in caller
// may search (to pick members), and sees names and IDs only.
func (s *Server) searchUsers(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	users, total, err := s.users.Search(r.Context(), c.Principal, r.URL.Query().Get("username"), p.Offset(), p.Size)
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

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "user_id")
	if err != nil {
		return err
	}
	u, err := s.users.Get(r.Context(), c.Principal, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, UserRespOf(u))
}

func (s *Server) updateUserProfile(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "user_id")
	if err != nil {
		return err
	}
	if err := s.users.RequireAccess(c.Principal, id, rbac.Update); err != nil {
		return err // before reading the body
	}
	var p userProfile
	if err := decode(r, &p); err != nil {
		return err
	}
	if err := s.users.UpdateProfile(r.Context(), c.Principal, id, user.Profile(p)); err != nil {
		return err
	}
	return ok(w)
}

// deleteUser removes a user with its memberships and sessions.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "user_id")
	if err != nil {
		return err
	}
	if err := s.users.Delete(r.Context(), c.Principal, id); err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) setUserSysAdmin(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "user_id")
	if err != nil {
		return err
	}
	if err := s.users.MaySetSysAdmin(c.Principal, id); err != nil {
		return err // before reading the body
	}
	var f sysAdminFlag
	if err := decode(r, &f); err != nil {
		return err
	}
	if err := s.users.SetSysAdmin(r.Context(), c.Principal, id, f.SysadminFlag); err != nil {
		return err
	}
	return ok(w)
}

// updateUserPassword changes a password (user.Service.SetPassword).
func (s *Server) updateUserPassword(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "user_id")
	if err != nil {
		return err
	}
	if err := s.users.RequireAccess(c.Principal, id, rbac.Update); err != nil {
		return err // before reading the body
	}
	var req passwordReq
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := s.users.SetPassword(r.Context(), c.Principal, id, req.OldPassword, req.NewPassword); err != nil {
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
		list, err := s.system.Permissions(c.Principal)
		if err != nil {
			return err
		}
		for _, p := range list {
			out = append(out, Permission{Resource: string(p.Resource), Action: string(p.Action)})
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// scopePermissions is what c may do in project pid (nothing if it does not exist).
func (s *Server) scopePermissions(ctx context.Context, c *Caller, pid int64) (rbac.Set, error) {
	project, err := s.loadProject(ctx, true, strconv.FormatInt(pid, 10))
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

// getPermissions lists the permissions robot accounts can be given
// (user.Service.Assignable).
func (s *Server) getPermissions(w http.ResponseWriter, r *http.Request, c *Caller) error {
	system, project, err := s.users.Assignable(r.Context(), c.Principal)
	if err != nil {
		return err
	}
	var out Permissions
	if system != nil {
		out.System = permissionList(system)
	}
	out.Project = permissionList(project)
	return writeJSON(w, http.StatusOK, out)
}

func permissionList(set rbac.Set) []Permission {
	out := make([]Permission, 0, len(set))
	for _, p := range set.List() {
		out = append(out, Permission{Resource: string(p.Resource), Action: string(p.Action)})
	}
	return out
}
