package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/robot"
	"github.com/berth-dev/berth/internal/store"
)

// robotStore is what the robot service needs from the metadata store.
type robotStore interface {
	robot.Store
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
	robotSystem  = robot.System
	robotProject = robot.Project
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

// RobotView is a stored robot account as Harbor shows it (its permission
// list decoded by robot.Permissions); the web console shows robots in it.
func RobotView(r *store.Robot) (Robot, error) {
	perms, err := robot.Permissions(r)
	if err != nil {
		return Robot{}, err
	}
	return Robot{
		ID: r.ID, Name: r.Name, Description: r.Description, Level: r.Level, Duration: r.Duration, Editable: true,
		Disable: r.Disabled, ExpiresAt: r.ExpiresAt, Permissions: perms, CreatorType: r.CreatorType, CreatorRef: r.CreatorRef,
		CreationTime: Timestamp(r.CreatedAt), UpdateTime: Timestamp(r.UpdatedAt),
	}, nil
}

func (s *Server) listRobots(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "list robots"
	ctx := r.Context()
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
	rows, total, err := s.robots.List(ctx, c.Principal, level, projectID, rest, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	out := make([]Robot, len(rows))
	for i := range rows {
		if out[i], err = RobotView(&rows[i]); err != nil {
			return err
		}
	}
	setPageHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) createRobot(w http.ResponseWriter, r *http.Request, c *Caller) error {
	var req robotCreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	made, err := s.robots.Create(r.Context(), c.Principal, robot.Create{
		Name: req.Name, Description: req.Description, Secret: req.Secret, Level: req.Level,
		Disable: req.Disable, Duration: req.Duration, Permissions: req.Permissions,
	})
	if err != nil {
		return err
	}
	rb := made.Robot
	w.Header().Set("Location", strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+strconv.FormatInt(rb.ID, 10))
	return writeJSON(w, http.StatusCreated, RobotCreated{
		ID: rb.ID, Name: rb.Name, Secret: made.Secret, CreationTime: Timestamp(rb.CreatedAt), ExpiresAt: rb.ExpiresAt,
	})
}

func (s *Server) getRobot(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "robot_id")
	if err != nil {
		return err
	}
	rb, err := s.robots.Get(r.Context(), c.Principal, id)
	if err != nil {
		return err
	}
	out, err := RobotView(rb)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) updateRobot(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "robot_id")
	if err != nil {
		return err
	}
	var req robotUpdateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	err = s.robots.Update(r.Context(), c.Principal, id, robot.Update{
		ID: req.ID, Name: req.Name, Description: req.Description, Secret: req.Secret, Level: req.Level,
		Disable: req.Disable, Duration: req.Duration, Permissions: req.Permissions,
	})
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) refreshRobotSecret(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "robot_id")
	if err != nil {
		return err
	}
	var req RobotSec
	if err := decode(r, &req); err != nil {
		return err
	}
	generated, err := s.robots.RefreshSecret(r.Context(), c.Principal, id, req.Secret)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, RobotSec{Secret: generated})
}

func (s *Server) deleteRobot(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "robot_id")
	if err != nil {
		return err
	}
	if err := s.robots.Delete(r.Context(), c.Principal, id); err != nil {
		return err
	}
	return ok(w)
}
