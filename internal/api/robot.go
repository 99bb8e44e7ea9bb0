package api

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// robotStore is what the robot handlers need from the metadata store.
type robotStore interface {
	CreateRobot(ctx context.Context, r store.Robot) (int64, error)
	RobotByID(ctx context.Context, id int64) (*store.Robot, error)
	ListRobots(ctx context.Context, q *query.Query, projectID int64, offset, limit int) ([]store.Robot, int64, error)
	UpdateRobot(ctx context.Context, r store.Robot) error
	SetRobotSecret(ctx context.Context, id int64, secretHash string) error
	DeleteRobot(ctx context.Context, id int64) error
}

func (s *Server) robotRoutes() []route {
	return []route{
		{method: "GET", path: "/robots", op: "ListRobot", handle: s.listRobots, resp: []Robot{}, respDef: "[]Robot"},
		{method: "POST", path: "/robots", op: "CreateRobot", handle: s.createRobot, resp: RobotCreated{}, respDef: "RobotCreated"},
		{method: "GET", path: "/robots/{robot_id}", op: "GetRobotByID", handle: s.getRobot, resp: Robot{}, respDef: "Robot"},
		{method: "PUT", path: "/robots/{robot_id}", op: "UpdateRobot", handle: s.updateRobot},
		{method: "PATCH", path: "/robots/{robot_id}", op: "RefreshSec", handle: s.refreshRobotSecret, resp: RobotSec{}, respDef: "RobotSec"},
		{method: "DELETE", path: "/robots/{robot_id}", op: "DeleteRobot", handle: s.deleteRobot},
	}
}

// Robot levels.
const (
	robotSystem  = "system"
	robotProject = "project"
)

// Robot is a robot account as Harbor shows it. It has no secret field: the
// secret is shown once, by CreateRobot and RefreshSec, and never stored.
type Robot struct {
	ID           int64                  `json:"id"`
	Name         string                 `json:"name"`
	Description  string                 `json:"description"`
	Level        string                 `json:"level"`
	Duration     int64                  `json:"duration"`
	Editable     bool                   `json:"editable"`
	Disable      bool                   `json:"disable"`
	ExpiresAt    int64                  `json:"expires_at"`
	Permissions  []rbac.RobotPermission `json:"permissions"`
	CreatorType  string                 `json:"creator_type"`
	CreatorRef   int64                  `json:"creator_ref"`
	CreationTime string                 `json:"creation_time"`
	UpdateTime   string                 `json:"update_time"`
}

// RobotCreated answers CreateRobot: the only answer besides RefreshSec
// that carries the secret.
type RobotCreated struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	Secret       string `json:"secret"`
	CreationTime string `json:"creation_time"`
	ExpiresAt    int64  `json:"expires_at"`
}

// RobotSec is a robot secret: the new one when Berth generated it, empty
// when the caller chose it.
type RobotSec struct {
	Secret string `json:"secret,omitempty"`
}

// robotCreateRequest is Harbor's RobotCreate.
type robotCreateRequest struct {
	Name        string                 `json:"name"`
	Description string                 `json:"description"`
	Secret      string                 `json:"secret"`
	Level       string                 `json:"level"`
	Disable     bool                   `json:"disable"`
	Duration    *int64                 `json:"duration"`
	Permissions []rbac.RobotPermission `json:"permissions"`
}

// robotUpdateRequest is Harbor's Robot as a client sends it back: the
// read-only fields are accepted (a client may echo what GET gave it) and
// ignored, except that they may not contradict the robot.
type robotUpdateRequest struct {
	ID           int64                  `json:"id"`
	Name         string                 `json:"name"`
	Description  string                 `json:"description"`
	Secret       string                 `json:"secret"`
	Level        string                 `json:"level"`
	Duration     *int64                 `json:"duration"`
	Editable     *bool                  `json:"editable"`
	Disable      bool                   `json:"disable"`
	ExpiresAt    *int64                 `json:"expires_at"`
	Permissions  []rbac.RobotPermission `json:"permissions"`
	CreatorType  string                 `json:"creator_type"`
	CreatorRef   int64                  `json:"creator_ref"`
	CreationTime string                 `json:"creation_time"`
	UpdateTime   string                 `json:"update_time"`
}

// robotNameRe is Harbor's rule for the name part of a robot ('+' and '$'
// are reserved for the full name).
var robotNameRe = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

const (
	maxRobotName        = 255
	maxRobotDescription = 1024
	robotSecretBytes    = 24 // 32 characters
)

func robotView(r *store.Robot) (Robot, error) {
	perms, err := rbac.ParseRobotPermissions(r.Permissions)
	if err != nil {
		return Robot{}, err
	}
	if perms == nil {
		perms = []rbac.RobotPermission{}
	}
	for i := range perms {
		if perms[i].Access == nil {
			perms[i].Access = []rbac.RobotAccess{}
		}
	}
	return Robot{
		ID: r.ID, Name: r.Name, Description: r.Description, Level: r.Level, Duration: r.Duration, Editable: true,
		Disable: r.Disabled, ExpiresAt: r.ExpiresAt, Permissions: perms, CreatorType: r.CreatorType, CreatorRef: r.CreatorRef,
		CreationTime: Timestamp(r.CreatedAt), UpdateTime: Timestamp(r.UpdatedAt),
	}, nil
}

// robotDuration checks a requested duration in days (nil or 0: the
// configured default; -1: never expires) and returns it with the expiry
// (Unix seconds, -1 for never) counted from created.
func (s *Server) robotDuration(d *int64, created time.Time) (days, expiresAt int64, err error) {
	days = 0
	if d != nil {
		days = *d
	}
	switch {
	case days == -1:
		return -1, -1, nil
	case days == 0:
		days = int64(s.opts.Settings.Get().RobotTokenDuration)
	case days < -1 || days >= math.MaxInt32:
		return 0, 0, errs.E(errs.Invalid, "robot", "duration must be -1 (never expires) or a positive number of days, not %d", days)
	}
	return days, created.AddDate(0, 0, int(days)).Unix(), nil
}

// validRobotSecret applies Harbor's rule to a chosen secret: 8 to 128
// characters with at least one upper-case letter, one lower-case letter
// and one digit.
func validRobotSecret(sec string) error {
	var upper, lower, digit bool
	for _, r := range sec {
		upper = upper || unicode.IsUpper(r)
		lower = lower || unicode.IsLower(r)
		digit = digit || unicode.IsDigit(r)
	}
	if n := len([]rune(sec)); n < 8 || n > 128 || !upper || !lower || !digit {
		return errs.E(errs.Invalid, "robot", "the secret must be 8-128 characters long with at least 1 uppercase letter, 1 lowercase letter and 1 number")
	}
	return nil
}

// checkRobotPermissions validates the permission list of a robot of level
// (of project, for a project robot: "" to take it from the list).
func checkRobotPermissions(level, project string, perms []rbac.RobotPermission) error {
	const op = "robot permissions"
	switch level {
	case robotSystem:
		return rbac.ValidateRobotPermissions(perms, false, "")
	case robotProject:
		if len(perms) != 1 {
			return errs.E(errs.Invalid, op, "a project robot needs exactly one permission entry, for its project (got %d)", len(perms))
		}
		if project == "" {
			project = perms[0].Namespace
		}
		if project == "*" || project == "" {
			return errs.E(errs.Invalid, op, "a project robot's permission must name its project, not %q", project)
		}
		return rbac.ValidateRobotPermissions(perms, true, project)
	}
	return errs.E(errs.Invalid, op, "level must be system or project, not %q", level)
}

// robotProjectsExist checks that the projects a system robot's permissions
// name (other than "*") exist.
func (s *Server) robotProjectsExist(ctx context.Context, perms []rbac.RobotPermission) error {
	for _, p := range perms {
		if p.Kind == "project" && p.Namespace != "*" {
			if _, err := s.st.ProjectByName(ctx, p.Namespace); err != nil {
				return err
			}
		}
	}
	return nil
}

// requireRobot checks that c may do act on robots of level (in project,
// for project robots).
func (s *Server) requireRobot(ctx context.Context, c *Caller, level string, project *store.Project, act rbac.Action) error {
	if level == robotProject {
		return s.require(ctx, c, project, rbac.ResRobot, act)
	}
	return s.requireSystem(c, rbac.ResRobot, act)
}

// loadRobot reads the robot of the path and checks that c may do act on it.
// The project is nil for system robots.
func (s *Server) loadRobot(r *http.Request, c *Caller, act rbac.Action) (*store.Robot, *store.Project, error) {
	id, err := pathID(r, "robot_id")
	if err != nil {
		return nil, nil, err
	}
	rb, err := s.st.RobotByID(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	var project *store.Project
	if rb.Level == robotProject {
		if project, err = s.st.ProjectByID(r.Context(), rb.ProjectID); err != nil {
			if errs.Is(err, errs.NotFound) {
				return nil, nil, errs.E(errs.NotFound, "robot", "robot %d not found", id)
			}
			return nil, nil, err
		}
	}
	if err := s.requireRobot(r.Context(), c, rb.Level, project, act); err != nil {
		var h *hiddenProject
		if errors.As(err, &h) {
			// A robot of a project the caller may not see is a missing robot.
			return nil, nil, errs.E(errs.NotFound, "robot", "robot %d not found", id)
		}
		return nil, nil, err
	}
	return rb, project, nil
}

func (s *Server) listRobots(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "list robots"
	ctx := r.Context()
	if c.Anonymous() {
		return errs.E(errs.Unauthenticated, op, "authentication required")
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	// Harbor's q: Level=system (the default) or Level=project with
	// ProjectID=<id>; the other conditions filter the robots of that scope.
	level, projectID := robotSystem, int64(0)
	rest := &query.Query{Sort: p.Query.Sort}
	var levelGiven, projectGiven bool
	for _, cond := range p.Query.Conds {
		switch cond.Key {
		case "Level":
			if cond.Kind != query.Exact || (cond.Value != robotSystem && cond.Value != robotProject) {
				return errs.E(errs.Invalid, op, "Level must be system or project")
			}
			level, levelGiven = cond.Value, true
		case "ProjectID":
			id, ok := parseID(cond.Value)
			if cond.Kind != query.Exact || !ok {
				return errs.E(errs.Invalid, op, "ProjectID must be a project ID")
			}
			projectID, projectGiven = id, true
		default:
			rest.Conds = append(rest.Conds, cond)
		}
	}
	switch {
	case projectGiven && !levelGiven:
		level = robotProject
	case level == robotProject && !projectGiven:
		return errs.E(errs.Invalid, op, "listing project robots needs ProjectID")
	case level == robotSystem && projectGiven:
		return errs.E(errs.Invalid, op, "ProjectID applies to project robots only (Level=project)")
	}
	var project *store.Project
	if level == robotProject {
		if project, err = s.st.ProjectByID(ctx, projectID); err != nil {
			return err
		}
	}
	if err := s.requireRobot(ctx, c, level, project, rbac.List); err != nil {
		return err
	}
	rows, total, err := s.st.ListRobots(ctx, rest, projectID, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	out := make([]Robot, len(rows))
	for i := range rows {
		if out[i], err = robotView(&rows[i]); err != nil {
			return err
		}
	}
	setPageHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) createRobot(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "create robot"
	ctx := r.Context()
	var req robotCreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if !robotNameRe.MatchString(req.Name) {
		return errs.E(errs.Invalid, op, "robot name %q is not in lower case or contains illegal characters", req.Name)
	}
	if len(req.Description) > maxRobotDescription {
		return errs.E(errs.Invalid, op, "description is longer than %d bytes", maxRobotDescription)
	}
	now := time.Now()
	days, expiresAt, err := s.robotDuration(req.Duration, now)
	if err != nil {
		return err
	}
	secret := req.Secret
	if secret != "" {
		if err := validRobotSecret(secret); err != nil {
			return err
		}
	}
	if err := checkRobotPermissions(req.Level, "", req.Permissions); err != nil {
		return err
	}
	var project *store.Project
	if req.Level == robotProject {
		if project, err = s.projectByName(ctx, req.Permissions[0].Namespace); err != nil {
			return err
		}
	}
	if err := s.requireRobot(ctx, c, req.Level, project, rbac.Create); err != nil {
		return hideName(err, req.Permissions[0].Namespace)
	}
	if req.Level == robotSystem {
		if err := s.robotProjectsExist(ctx, req.Permissions); err != nil {
			return err
		}
	}
	if err := s.auth.MayGrant(c.Principal, req.Permissions); err != nil {
		return err
	}
	name := auth.RobotPrefix + req.Name
	var projectID int64
	if project != nil {
		name = auth.RobotPrefix + project.Name + "+" + req.Name
		projectID = project.ID
	}
	if len(name) > maxRobotName {
		return errs.E(errs.Invalid, op, "robot name %q is longer than %d bytes", name, maxRobotName)
	}
	if secret == "" {
		secret = auth.RandomSecret(robotSecretBytes)
	}
	hash, err := auth.HashPassword(secret)
	if err != nil {
		return err
	}
	perms, err := json.Marshal(req.Permissions)
	if err != nil {
		return errs.Wrap(op, err)
	}
	rb := store.Robot{
		Name: name, Description: req.Description, Level: req.Level, ProjectID: projectID, SecretHash: hash,
		Duration: days, ExpiresAt: expiresAt, Disabled: req.Disable, Permissions: string(perms),
		CreatorType: "local", CreatorRef: c.UserID,
	}
	if c.IsRobot() {
		rb.CreatorType, rb.CreatorRef = "robot", c.Robot.ID
	}
	id, err := s.st.CreateRobot(ctx, rb)
	s.audit(c, projectID, "create", "robot", name, err)
	if err != nil {
		return err
	}
	stored, err := s.st.RobotByID(ctx, id)
	if err != nil {
		return err
	}
	w.Header().Set("Location", strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+strconv.FormatInt(id, 10))
	return writeJSON(w, http.StatusCreated, RobotCreated{
		ID: id, Name: name, Secret: secret, CreationTime: Timestamp(stored.CreatedAt), ExpiresAt: stored.ExpiresAt,
	})
}

func (s *Server) getRobot(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if c.Anonymous() {
		return errs.E(errs.Unauthenticated, "get robot", "authentication required")
	}
	rb, _, err := s.loadRobot(r, c, rbac.Read)
	if err != nil {
		return err
	}
	out, err := robotView(rb)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) updateRobot(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "update robot"
	ctx := r.Context()
	rb, project, err := s.loadRobot(r, c, rbac.Update)
	if err != nil {
		return err
	}
	var req robotUpdateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	short := strings.TrimPrefix(rb.Name, auth.RobotPrefix)
	if project != nil {
		short = strings.TrimPrefix(short, project.Name+"+")
	}
	switch {
	case req.ID != 0 && req.ID != rb.ID:
		return errs.E(errs.Invalid, op, "id %d does not match robot %d", req.ID, rb.ID)
	case req.Name != rb.Name && req.Name != short:
		return errs.E(errs.Invalid, op, "cannot update the level or name of robot (name is %q)", rb.Name)
	case req.Level != rb.Level:
		return errs.E(errs.Invalid, op, "cannot update the level or name of robot (level is %q)", rb.Level)
	case req.Secret != "":
		return errs.E(errs.Invalid, op, "the secret cannot be set here: use PATCH /robots/%d", rb.ID)
	case len(req.Description) > maxRobotDescription:
		return errs.E(errs.Invalid, op, "description is longer than %d bytes", maxRobotDescription)
	}
	days, expiresAt := rb.Duration, rb.ExpiresAt
	if req.Duration != nil && *req.Duration != rb.Duration {
		if days, expiresAt, err = s.robotDuration(req.Duration, time.UnixMilli(rb.CreatedAt)); err != nil {
			return err
		}
	}
	if err := checkRobotPermissions(rb.Level, projectName(project), req.Permissions); err != nil {
		return err
	}
	if rb.Level == robotSystem {
		if err := s.robotProjectsExist(ctx, req.Permissions); err != nil {
			return err
		}
	}
	if err := s.auth.MayGrant(c.Principal, req.Permissions); err != nil {
		return err
	}
	perms, err := json.Marshal(req.Permissions)
	if err != nil {
		return errs.Wrap(op, err)
	}
	rb.Description, rb.Duration, rb.ExpiresAt, rb.Disabled, rb.Permissions = req.Description, days, expiresAt, req.Disable, string(perms)
	err = s.st.UpdateRobot(ctx, *rb)
	s.auth.ForgetCredentials()
	s.audit(c, rb.ProjectID, "update", "robot", rb.Name, err)
	if err != nil {
		return err
	}
	return ok(w)
}

func projectName(p *store.Project) string {
	if p == nil {
		return ""
	}
	return p.Name
}

func (s *Server) refreshRobotSecret(w http.ResponseWriter, r *http.Request, c *Caller) error {
	rb, _, err := s.loadRobot(r, c, rbac.Update)
	if err != nil {
		return err
	}
	var req RobotSec
	if err := decode(r, &req); err != nil {
		return err
	}
	var out RobotSec
	secret := req.Secret
	if secret != "" {
		if err := validRobotSecret(secret); err != nil {
			return err
		}
	} else {
		secret = auth.RandomSecret(robotSecretBytes)
		out.Secret = secret
	}
	hash, err := auth.HashPassword(secret)
	if err != nil {
		return err
	}
	err = s.st.SetRobotSecret(r.Context(), rb.ID, hash)
	s.auth.ForgetCredentials()
	s.audit(c, rb.ProjectID, "update", "robot", rb.Name, err)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteRobot(w http.ResponseWriter, r *http.Request, c *Caller) error {
	rb, _, err := s.loadRobot(r, c, rbac.Delete)
	if err != nil {
		return err
	}
	err = s.st.DeleteRobot(r.Context(), rb.ID)
	s.auth.ForgetCredentials()
	s.audit(c, rb.ProjectID, "delete", "robot", rb.Name, err)
	if err != nil {
		return err
	}
	return ok(w)
}
