// Package label is the domain service of labels: global labels (scope g,
// usable in every project, managed with system permissions) and project
// labels (scope p, managed with the project's label permissions). It owns
// Harbor's rules on names, descriptions and colours, asks auth who may do
// what (never working a permission out itself) and publishes the event of
// every change. The REST API and the web console call it; attaching labels
// to artifacts belongs to the artifacts.
package label

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"unicode"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// Label scopes.
const (
	Global  = store.LabelGlobal  // usable in every project
	Project = store.LabelProject // of one project
)

// Store is what the service reads and writes.
type Store interface {
	CreateLabel(ctx context.Context, l store.Label) (int64, error)
	LabelByID(ctx context.Context, id int64) (*store.Label, error)
	ListLabels(ctx context.Context, scope string, projectID int64, name string, q *query.Query, offset, limit int) ([]store.Label, int64, error)
	UpdateLabel(ctx context.Context, l store.Label) error
	DeleteLabel(ctx context.Context, id int64) error
	ProjectByID(ctx context.Context, id int64) (*store.Project, error)
}

// Auth answers what a caller may do: in a project (the set enforcement
// checks, turned into an answer by auth.Decide) and system-wide.
type Auth interface {
	ProjectPermissions(ctx context.Context, p *auth.Principal, project *store.Project) (rbac.Set, error)
	CanSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) bool
	DecideSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) error
}

// Publisher takes the events of the service's changes.
type Publisher interface{ Publish(event.Event) }

// Service is the label service.
type Service struct {
	st      Store
	auth    Auth
	events  Publisher
	changed func()
}

// New returns a label service (see project.New for changed).
func New(st Store, a Auth, events Publisher, changed func()) *Service {
	return &Service{st: st, auth: a, events: events, changed: changed}
}

// record publishes the event of a change by p and tells caches.
func (s *Service) record(p *auth.Principal, projectID int64, operation, resource string, err error) {
	event.Record(s.events, s.changed, p.Name, projectID, operation, "label", resource, err)
}

const (
	maxName        = 128
	maxDescription = 8 << 10
)

var colorRe = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

// Spec is a label as a client sends it: its name, description and colour
// (empty for none), and its scope and project, nil when not sent (a
// client updating a label may leave them out, or repeat them unchanged).
type Spec struct {
	Name, Description, Color string
	Scope                    *string
	ProjectID                *int64
}

// validate applies Harbor's rules to the name, description and colour.
func validate(op string, sp Spec) error {
	name := sp.Name
	switch {
	case name == "":
		return errs.E(errs.Invalid, op, "name is required")
	case len(name) > maxName:
		return errs.E(errs.Invalid, op, "name is longer than %d characters", maxName)
	case strings.TrimSpace(name) != name:
		return errs.E(errs.Invalid, op, "name must not start or end with spaces")
	case strings.ContainsAny(name, `/\?#%"'<>`) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		return errs.E(errs.Invalid, op, "name %q has characters a label name cannot have", name)
	case len(sp.Description) > maxDescription:
		return errs.E(errs.Invalid, op, "description is longer than %d bytes", maxDescription)
	case sp.Color != "" && !colorRe.MatchString(sp.Color):
		return errs.E(errs.Invalid, op, "color must be #RRGGBB, not %q", sp.Color)
	}
	return nil
}

// requireIn checks that p may do act on the labels of project.
func (s *Service) requireIn(ctx context.Context, p *auth.Principal, project *store.Project, act rbac.Action) error {
	return auth.Require(ctx, s.auth, p, project, rbac.ResLabel, act)
}

// SystemActions is what p may do with global labels (label create, read,
// update and delete at system level, as auth answers them): the console
// shows its controls from it.
func (s *Service) SystemActions(p *auth.Principal) rbac.Set {
	out := rbac.Set{}
	for _, act := range []rbac.Action{rbac.Create, rbac.Read, rbac.Update, rbac.Delete} {
		if s.auth.CanSystem(p, rbac.ResLabel, act) {
			out[rbac.Permission{Resource: rbac.ResLabel, Action: act}] = true
		}
	}
	return out
}

// List returns a page of the labels of scope (Global, which anyone may
// list, or Project with project projectID, where p
// needs label:list) whose name contains name and that q selects, and how
// many match in all.
func (s *Service) List(ctx context.Context, p *auth.Principal, scope string, projectID int64, name string, q *query.Query, offset, limit int) ([]store.Label, int64, error) {
	const op = "list labels"
	switch scope {
	case Global:
		return s.st.ListLabels(ctx, scope, 0, name, q, offset, limit)
	case Project:
		if projectID <= 0 {
			return nil, 0, errs.E(errs.Invalid, op, "project_id (a positive integer) is required for project labels")
		}
		project, err := s.st.ProjectByID(ctx, projectID)
		if err != nil {
			return nil, 0, err
		}
		return s.ListIn(ctx, p, project, name, q, offset, limit)
	}
	return nil, 0, errs.E(errs.Invalid, op, "invalid scope %q: want g or p", scope)
}

// ListIn is List of the labels of project, which the caller has read.
func (s *Service) ListIn(ctx context.Context, p *auth.Principal, project *store.Project, name string, q *query.Query, offset, limit int) ([]store.Label, int64, error) {
	if err := s.requireIn(ctx, p, project, rbac.List); err != nil {
		return nil, 0, err
	}
	return s.st.ListLabels(ctx, Project, project.ID, name, q, offset, limit)
}

// Create adds the label sp for p and returns its ID: a global label needs
// the system label:create permission, a project label label:create in its
// project. A name taken in the scope is errs.Exists.
func (s *Service) Create(ctx context.Context, p *auth.Principal, sp Spec) (int64, error) {
	const op = "create label"
	if err := validate(op, sp); err != nil {
		return 0, err
	}
	l := store.Label{Name: sp.Name, Description: sp.Description, Color: sp.Color}
	if sp.Scope != nil {
		l.Scope = *sp.Scope
	}
	switch l.Scope {
	case Global:
		if err := s.auth.DecideSystem(p, rbac.ResLabel, rbac.Create); err != nil {
			return 0, err
		}
	case Project:
		if sp.ProjectID == nil || *sp.ProjectID <= 0 {
			return 0, errs.E(errs.Invalid, op, "project_id is required for a project label")
		}
		l.ProjectID = *sp.ProjectID
		project, err := s.st.ProjectByID(ctx, l.ProjectID)
		if err != nil {
			return 0, err
		}
		if err := s.requireIn(ctx, p, project, rbac.Create); err != nil {
			return 0, err
		}
	default:
		return 0, errs.E(errs.Invalid, op, "scope must be g or p")
	}
	id, err := s.st.CreateLabel(ctx, l)
	s.record(p, l.ProjectID, "create", l.Name, err)
	return id, err
}

// load reads label id and checks that p may do act on it: a system
// permission for a global label, a project permission for a project
// label. A label of a project p may not see is a missing label.
func (s *Service) load(ctx context.Context, p *auth.Principal, id int64, act rbac.Action) (*store.Label, error) {
	l, err := s.st.LabelByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if l.Scope == Global {
		if err := s.auth.DecideSystem(p, rbac.ResLabel, act); err != nil {
			return nil, err
		}
		return l, nil
	}
	missing := errs.E(errs.NotFound, "get label", "label %d not found", l.ID)
	project, err := s.st.ProjectByID(ctx, l.ProjectID)
	if errs.Is(err, errs.NotFound) {
		return nil, missing
	}
	if err != nil {
		return nil, err
	}
	err = s.requireIn(ctx, p, project, act)
	var h *auth.HiddenProject
	if errors.As(err, &h) {
		return nil, missing
	}
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Get returns label id for p (label:read).
func (s *Service) Get(ctx context.Context, p *auth.Principal, id int64) (*store.Label, error) {
	return s.load(ctx, p, id, rbac.Read)
}

// Update replaces the name, description and colour of label id for p
// (label:update), as Harbor does; the scope and project of a label never
// change.
func (s *Service) Update(ctx context.Context, p *auth.Principal, id int64, sp Spec) error {
	const op = "update label"
	l, err := s.load(ctx, p, id, rbac.Update)
	if err != nil {
		return err
	}
	if sp.Scope != nil && *sp.Scope != l.Scope || sp.ProjectID != nil && *sp.ProjectID != l.ProjectID {
		return errs.E(errs.Invalid, op, "the scope and project of a label cannot change")
	}
	if err := validate(op, sp); err != nil {
		return err
	}
	l.Name, l.Description, l.Color = sp.Name, sp.Description, sp.Color
	err = s.st.UpdateLabel(ctx, *l)
	s.record(p, l.ProjectID, "update", l.Name, err)
	return err
}

// Delete removes label id for p (label:delete); it goes from every
// artifact that has it.
func (s *Service) Delete(ctx context.Context, p *auth.Principal, id int64) error {
	l, err := s.load(ctx, p, id, rbac.Delete)
	if err != nil {
		return err
	}
	err = s.st.DeleteLabel(ctx, l.ID)
	s.record(p, l.ProjectID, "delete", l.Name, err)
	return err
}
