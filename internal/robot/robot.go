// Package robot is the domain service of robot accounts: the rules on
// names, secrets, durations and permission lists, who may manage which
// robots (asked of auth, never worked out here), and the event of every
// change. A robot's permission list is decoded from its stored JSON by
// rbac.ParseRobotPermissions only: here for the robots shown, in auth for
// the robot that signs in. The REST API decodes requests and encodes
// answers.
package robot

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/store"
)

// Robot levels.
const (
	System  = "system"
	Project = "project"
)

// Store is what the service reads and writes.
type Store interface {
	CreateRobot(ctx context.Context, r store.Robot) (int64, error)
	RobotByID(ctx context.Context, id int64) (*store.Robot, error)
	ListRobots(ctx context.Context, q *query.Query, projectID int64, offset, limit int) ([]store.Robot, int64, error)
	UpdateRobot(ctx context.Context, r store.Robot) error
	SetRobotSecret(ctx context.Context, id int64, secretHash string) error
	DeleteRobot(ctx context.Context, id int64) error
	ProjectByName(ctx context.Context, name string) (*store.Project, error)
	ProjectByID(ctx context.Context, id int64) (*store.Project, error)
}

// Auth answers what a caller may do.
type Auth interface {
	ProjectPermissions(ctx context.Context, p *auth.Principal, project *store.Project) (rbac.Set, error)
	DecideSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) error
	MayGrant(p *auth.Principal, perms []rbac.RobotPermission) error
	ForgetCredentials()
}

// Settings is the live system configuration (settings.Source): its
// robot_token_duration is the duration of a robot that asks for none.
type Settings interface{ Get() settings.Config }

// Publisher takes the events of the service's changes.
type Publisher interface{ Publish(event.Event) }

// Service is the robot service.
type Service struct {
	st      Store
	auth    Auth
	cfg     Settings
	events  Publisher
	changed func()
}

// New returns a robot service (see project.New for cfg and changed).
func New(st Store, a Auth, cfg Settings, events Publisher, changed func()) *Service {
	return &Service{st: st, auth: a, cfg: cfg, events: events, changed: changed}
}

func (s *Service) record(p *auth.Principal, projectID int64, operation, resource string, err error) {
	event.Record(s.events, s.changed, p.Name, projectID, operation, "robot", resource, err)
}

// nameRe is Harbor's rule for the name part of a robot ('+' and '$' are
// reserved for the full name).
var nameRe = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

const (
	maxName        = 255
	maxDescription = 1024
	secretBytes    = 24 // 32 characters
)

// Permissions decodes r's stored permission list for showing it (empty
// lists, not null, as Harbor shows them).
func Permissions(r *store.Robot) ([]rbac.RobotPermission, error) {
	perms, err := rbac.ParseRobotPermissions(r.Permissions)
	if err != nil {
		return nil, err
	}
	if perms == nil {
		perms = []rbac.RobotPermission{}
	}
	for i := range perms {
		if perms[i].Access == nil {
			perms[i].Access = []rbac.RobotAccess{}
		}
	}
	return perms, nil
}

// duration checks a requested duration in days (nil or 0: defaultDays;
// -1: never expires) and returns it with the expiry (Unix seconds, -1 for
// never) counted from created.
func duration(d *int64, defaultDays int, created time.Time) (days, expiresAt int64, err error) {
	if d != nil {
		days = *d
	}
	switch {
	case days == -1:
		return -1, -1, nil
	case days == 0:
		days = int64(defaultDays)
	case days < -1 || days >= math.MaxInt32:
		return 0, 0, errs.E(errs.Invalid, "robot", "duration must be -1 (never expires) or a positive number of days, not %d", days)
	}
	return days, created.AddDate(0, 0, int(days)).Unix(), nil
}

// ValidSecret applies Harbor's rule to a chosen secret: 8 to 128
// characters with at least one upper-case letter, one lower-case letter
// and one digit.
func ValidSecret(sec string) error {
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

// checkPermissions validates the permission list of a robot of level (of
// project, for a project robot: "" to take it from the list).
func checkPermissions(level, project string, perms []rbac.RobotPermission) error {
	const op = "robot permissions"
	switch level {
	case System:
		return rbac.ValidateRobotPermissions(perms, false, "")
	case Project:
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

// projectsExist checks that the projects a system robot's permissions
// name (other than "*") exist.
func (s *Service) projectsExist(ctx context.Context, perms []rbac.RobotPermission) error {
	for _, p := range perms {
		if p.Kind == "project" && p.Namespace != "*" {
			if _, err := s.st.ProjectByName(ctx, p.Namespace); err != nil {
				return err
			}
		}
	}
	return nil
}

// require checks that p may do act on robots of level (in project, for
// project robots).
func (s *Service) require(ctx context.Context, p *auth.Principal, level string, project *store.Project, act rbac.Action) error {
	if level == Project {
		return auth.Require(ctx, s.auth, p, project, rbac.ResRobot, act)
	}
	return s.auth.DecideSystem(p, rbac.ResRobot, act)
}

// List returns a page of the robots of level (of project projectID for
// project robots) that q selects, for p (robot:list there).
func (s *Service) List(ctx context.Context, p *auth.Principal, level string, projectID int64, q *query.Query, offset, limit int) ([]store.Robot, int64, error) {
	if p.Anonymous() {
		return nil, 0, errs.E(errs.Unauthenticated, "list robots", "authentication required")
	}
	var project *store.Project
	if level == Project {
		var err error
		if project, err = s.st.ProjectByID(ctx, projectID); err != nil {
			return nil, 0, err
		}
	}
	if err := s.require(ctx, p, level, project, rbac.List); err != nil {
		return nil, 0, err
	}
	return s.st.ListRobots(ctx, q, projectID, offset, limit)
}

// Grant is an entry of a permission list as a form names it: its kind
// ("system" or "project"), namespace ("/" for system, a project name or
// "*") and "resource:action" values (values without ':' are dropped).
type Grant struct {
	Kind, Namespace string
	Access          []string
}

// Grants is the permission list grants name (empty, not nil, for none).
func Grants(grants ...Grant) []rbac.RobotPermission {
	out := make([]rbac.RobotPermission, 0, len(grants))
	for _, g := range grants {
		var acc []rbac.RobotAccess
		for _, v := range g.Access {
			if res, act, ok := strings.Cut(v, ":"); ok {
				acc = append(acc, rbac.RobotAccess{Resource: rbac.Resource(res), Action: rbac.Action(act)})
			}
		}
		out = append(out, rbac.RobotPermission{Kind: g.Kind, Namespace: g.Namespace, Access: acc})
	}
	return out
}

// Create is a request to create a robot.
type Create struct {
	Name, Description, Secret, Level string
	Disable                          bool
	Duration                         *int64
	Permissions                      []rbac.RobotPermission
}

// Created is a new robot with its secret, shown this once.
type Created struct {
	Robot  *store.Robot
	Secret string
}

// Create adds a robot for p and returns it with its secret: chosen, or
// generated when req has none. A robot without a duration gets the
// configured robot_token_duration. The project of a project robot that p
// may not see is a missing project, named as req names it.
func (s *Service) Create(ctx context.Context, p *auth.Principal, req Create) (*Created, error) {
	const op = "create robot"
	if p.Anonymous() {
		return nil, errs.E(errs.Unauthenticated, op, "authentication required")
	}
	if !nameRe.MatchString(req.Name) {
		return nil, errs.E(errs.Invalid, op, "robot name %q is not in lower case or contains illegal characters", req.Name)
	}
	if len(req.Description) > maxDescription {
		return nil, errs.E(errs.Invalid, op, "description is longer than %d bytes", maxDescription)
	}
	days, expiresAt, err := duration(req.Duration, s.cfg.Get().RobotTokenDuration, time.Now())
	if err != nil {
		return nil, err
	}
	secret := req.Secret
	if secret != "" {
		if err := ValidSecret(secret); err != nil {
			return nil, err
		}
	}
	if err := checkPermissions(req.Level, "", req.Permissions); err != nil {
		return nil, err
	}
	var project *store.Project
	if req.Level == Project {
		ns := req.Permissions[0].Namespace
		if project, err = s.st.ProjectByName(ctx, ns); errs.Is(err, errs.NotFound) {
			return nil, projectNotFound(ns)
		} else if err != nil {
			return nil, err
		}
	}
	if err := s.require(ctx, p, req.Level, project, rbac.Create); err != nil {
		var h *auth.HiddenProject
		if errors.As(err, &h) {
			return nil, projectNotFound(req.Permissions[0].Namespace)
		}
		return nil, err
	}
	if req.Level == System {
		if err := s.projectsExist(ctx, req.Permissions); err != nil {
			return nil, err
		}
	}
	if err := s.auth.MayGrant(p, req.Permissions); err != nil {
		return nil, err
	}
	name := auth.RobotPrefix + req.Name
	var projectID int64
	if project != nil {
		name = auth.RobotPrefix + project.Name + "+" + req.Name
		projectID = project.ID
	}
	if len(name) > maxName {
		return nil, errs.E(errs.Invalid, op, "robot name %q is longer than %d bytes", name, maxName)
	}
	if secret == "" {
		secret = auth.RandomSecret(secretBytes)
	}
	hash, err := auth.HashPassword(secret)
	if err != nil {
		return nil, err
	}
	perms, err := json.Marshal(req.Permissions)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	rb := store.Robot{
		Name: name, Description: req.Description, Level: req.Level, ProjectID: projectID, SecretHash: hash,
		Duration: days, ExpiresAt: expiresAt, Disabled: req.Disable, Permissions: string(perms),
		CreatorType: "local", CreatorRef: p.UserID,
	}
	if p.IsRobot() {
		rb.CreatorType, rb.CreatorRef = "robot", p.Robot.ID
	}
	id, err := s.st.CreateRobot(ctx, rb)
	s.record(p, projectID, "create", name, err)
	if err != nil {
		return nil, err
	}
	stored, err := s.st.RobotByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Created{Robot: stored, Secret: secret}, nil
}

// projectNotFound is the one answer for a project named name that does not
// exist or that the caller may not see.
func projectNotFound(name string) error {
	return errs.E(errs.NotFound, "get project", "project %s not found", name)
}

// load reads robot id and checks that p may do act on it. The project is
// nil for system robots. A robot of a project p may not see is a missing
// robot.
func (s *Service) load(ctx context.Context, p *auth.Principal, id int64, act rbac.Action) (*store.Robot, *store.Project, error) {
	rb, err := s.st.RobotByID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	var project *store.Project
	if rb.Level == Project {
		if project, err = s.st.ProjectByID(ctx, rb.ProjectID); err != nil {
			if errs.Is(err, errs.NotFound) {
				return nil, nil, errs.E(errs.NotFound, "robot", "robot %d not found", id)
			}
			return nil, nil, err
		}
	}
	if err := s.require(ctx, p, rb.Level, project, act); err != nil {
		var h *auth.HiddenProject
		if errors.As(err, &h) {
			return nil, nil, errs.E(errs.NotFound, "robot", "robot %d not found", id)
		}
		return nil, nil, err
	}
	return rb, project, nil
}

// Get returns robot id for p (robot:read).
func (s *Service) Get(ctx context.Context, p *auth.Principal, id int64) (*store.Robot, error) {
	if p.Anonymous() {
		return nil, errs.E(errs.Unauthenticated, "get robot", "authentication required")
	}
	rb, _, err := s.load(ctx, p, id, rbac.Read)
	return rb, err
}

// Update is a robot as a client sends it back: the read-only fields are
// accepted (a client may echo what it got) and ignored, except that they
// may not contradict the robot.
type Update struct {
	ID                               int64
	Name, Description, Secret, Level string
	Disable                          bool
	Duration                         *int64
	Permissions                      []rbac.RobotPermission
}

// Update changes robot id for p (robot:update): its description,
// duration, state and permissions. A changed duration of 0 is the
// configured robot_token_duration.
func (s *Service) Update(ctx context.Context, p *auth.Principal, id int64, req Update) error {
	const op = "update robot"
	rb, project, err := s.load(ctx, p, id, rbac.Update)
	if err != nil {
		return err
	}
	short := strings.TrimPrefix(rb.Name, auth.RobotPrefix)
	projectName := ""
	if project != nil {
		projectName = project.Name
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
	case len(req.Description) > maxDescription:
		return errs.E(errs.Invalid, op, "description is longer than %d bytes", maxDescription)
	}
	days, expiresAt := rb.Duration, rb.ExpiresAt
	if req.Duration != nil && *req.Duration != rb.Duration {
		if days, expiresAt, err = duration(req.Duration, s.cfg.Get().RobotTokenDuration, time.UnixMilli(rb.CreatedAt)); err != nil {
			return err
		}
	}
	if err := checkPermissions(rb.Level, projectName, req.Permissions); err != nil {
		return err
	}
	if rb.Level == System {
		if err := s.projectsExist(ctx, req.Permissions); err != nil {
			return err
		}
	}
	if err := s.auth.MayGrant(p, req.Permissions); err != nil {
		return err
	}
	perms, err := json.Marshal(req.Permissions)
	if err != nil {
		return errs.Wrap(op, err)
	}
	rb.Description, rb.Duration, rb.ExpiresAt, rb.Disabled, rb.Permissions = req.Description, days, expiresAt, req.Disable, string(perms)
	err = s.st.UpdateRobot(ctx, *rb)
	s.auth.ForgetCredentials()
	s.record(p, rb.ProjectID, "update", rb.Name, err)
	return err
}

// SetDisabled disables or enables robot id for p and returns the robot as
// it was read: an Update of the robot as Get shows it with only its state
// changed, so p needs robot:read and robot:update, and every rule of
// Update applies (a client of the API does the same with GET and PUT).
func (s *Service) SetDisabled(ctx context.Context, p *auth.Principal, id int64, disable bool) (*store.Robot, error) {
	rb, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	perms, err := Permissions(rb)
	if err != nil {
		return nil, err
	}
	days := rb.Duration
	return rb, s.Update(ctx, p, id, Update{ID: rb.ID, Name: rb.Name, Description: rb.Description, Level: rb.Level,
		Disable: disable, Duration: &days, Permissions: perms})
}

// RefreshSecret gives robot id a new secret for p (robot:update): secret
// when set (Harbor's rule applies), else a generated one, which it returns.
func (s *Service) RefreshSecret(ctx context.Context, p *auth.Principal, id int64, secret string) (generated string, err error) {
	rb, _, err := s.load(ctx, p, id, rbac.Update)
	if err != nil {
		return "", err
	}
	if secret != "" {
		if err := ValidSecret(secret); err != nil {
			return "", err
		}
	} else {
		secret = auth.RandomSecret(secretBytes)
		generated = secret
	}
	hash, err := auth.HashPassword(secret)
	if err != nil {
		return "", err
	}
	err = s.st.SetRobotSecret(ctx, rb.ID, hash)
	s.auth.ForgetCredentials()
	s.record(p, rb.ProjectID, "update", rb.Name, err)
	if err != nil {
		return "", err
	}
	return generated, nil
}

// Delete removes robot id for p (robot:delete).
func (s *Service) Delete(ctx context.Context, p *auth.Principal, id int64) error {
	rb, _, err := s.load(ctx, p, id, rbac.Delete)
	if err != nil {
		return err
	}
	err = s.st.DeleteRobot(ctx, rb.ID)
	s.auth.ForgetCredentials()
	s.record(p, rb.ProjectID, "delete", rb.Name, err)
	return err
}
