package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/repository"
	"github.com/berth-dev/berth/internal/store"
)

// labelStore is what the label handlers need from the metadata store.
type labelStore interface {
	CreateLabel(ctx context.Context, l store.Label) (int64, error)
	LabelByID(ctx context.Context, id int64) (*store.Label, error)
	ListLabels(ctx context.Context, scope string, projectID int64, name string, q *query.Query, offset, limit int) ([]store.Label, int64, error)
	UpdateLabel(ctx context.Context, l store.Label) error
	DeleteLabel(ctx context.Context, id int64) error
}

func (s *Server) labelRoutes() []route {
	return []route{
		{method: "GET", path: "/labels", op: "ListLabels", handle: s.listLabels, resp: []Label{}, respDef: "[]Label"},
		{method: "POST", path: "/labels", op: "CreateLabel", handle: s.createLabel},
		{method: "GET", path: "/labels/{label_id}", op: "GetLabelByID", handle: s.getLabel, resp: Label{}, respDef: "Label"},
		{method: "PUT", path: "/labels/{label_id}", op: "UpdateLabel", handle: s.updateLabel},
		{method: "DELETE", path: "/labels/{label_id}", op: "DeleteLabel", handle: s.deleteLabel},
	}
}

// Label is Harbor's label (the view artifacts carry, package repository).
type Label = repository.Label

func labelOf(l *store.Label) Label { return repository.LabelOf(l) }

// labelBody is a Label in a request: every field optional so that what is
// missing can be told from what is empty.
type labelBody struct {
	ID           *int64  `json:"id"`
	Name         *string `json:"name"`
	Description  *string `json:"description"`
	Color        *string `json:"color"`
	Scope        *string `json:"scope"`
	ProjectID    *int64  `json:"project_id"`
	CreationTime *string `json:"creation_time"`
	UpdateTime   *string `json:"update_time"`
}

const maxLabelName = 128

var colorRe = regexp.MustCompile(`^#[0-9A-Fa-f]{6}$`)

// validateLabel checks the name, description and colour of a label body
// and returns them.
func validateLabel(op string, b *labelBody) (name, description, color string, err error) {
	if b.Name == nil || *b.Name == "" {
		return "", "", "", errs.E(errs.Invalid, op, "name is required")
	}
	name = *b.Name
	switch {
	case len(name) > maxLabelName:
		return "", "", "", errs.E(errs.Invalid, op, "name is longer than %d characters", maxLabelName)
	case strings.TrimSpace(name) != name:
		return "", "", "", errs.E(errs.Invalid, op, "name must not start or end with spaces")
	case strings.ContainsAny(name, `/\?#%"'<>`) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", "", "", errs.E(errs.Invalid, op, "name %q has characters a label name cannot have", name)
	}
	if b.Description != nil {
		description = *b.Description
		if len(description) > maxDescription {
			return "", "", "", errs.E(errs.Invalid, op, "description is longer than %d bytes", maxDescription)
		}
	}
	if b.Color != nil && *b.Color != "" {
		color = *b.Color
		if !colorRe.MatchString(color) {
			return "", "", "", errs.E(errs.Invalid, op, "color must be #RRGGBB, not %q", color)
		}
	}
	return name, description, color, nil
}

// requireLabel checks that c may do act on label l: a system permission
// for global labels, a project permission for project labels.
func (s *Server) requireLabel(ctx context.Context, c *Caller, l *store.Label, act rbac.Action) error {
	if l.Scope == store.LabelGlobal {
		return s.requireSystem(c, rbac.ResLabel, act)
	}
	p, err := s.st.ProjectByID(ctx, l.ProjectID)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return errs.E(errs.NotFound, "get label", "label %d not found", l.ID)
		}
		return err
	}
	err = s.require(ctx, c, p, rbac.ResLabel, act)
	var h *hiddenProject
	if errors.As(err, &h) {
		// A label of a project the caller may not see is a missing label.
		return errs.E(errs.NotFound, "get label", "label %d not found", l.ID)
	}
	return err
}

func (s *Server) listLabels(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "list labels"
	p, err := page(r)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	scope := qv.Get("scope")
	var projectID int64
	switch scope {
	case store.LabelGlobal:
	case store.LabelProject:
		v := qv.Get("project_id")
		id, ok := parseID(v)
		if !ok {
			return errs.E(errs.Invalid, op, "project_id (a positive integer) is required for project labels")
		}
		proj, err := s.st.ProjectByID(r.Context(), id)
		if err != nil {
			return err
		}
		if err := s.require(r.Context(), c, proj, rbac.ResLabel, rbac.List); err != nil {
			return err
		}
		projectID = id
	default:
		return errs.E(errs.Invalid, op, "invalid scope %q: want g or p", scope)
	}
	list, total, err := s.st.ListLabels(r.Context(), scope, projectID, qv.Get("name"), p.Query, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	out := make([]Label, 0, len(list))
	for i := range list {
		out = append(out, labelOf(&list[i]))
	}
	setPageHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) createLabel(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "create label"
	var b labelBody
	if err := decode(r, &b); err != nil {
		return err
	}
	name, description, color, err := validateLabel(op, &b)
	if err != nil {
		return err
	}
	l := store.Label{Name: name, Description: description, Color: color}
	if b.Scope != nil {
		l.Scope = *b.Scope
	}
	switch l.Scope {
	case store.LabelGlobal:
		if err := s.requireSystem(c, rbac.ResLabel, rbac.Create); err != nil {
			return err
		}
	case store.LabelProject:
		if b.ProjectID == nil || *b.ProjectID <= 0 {
			return errs.E(errs.Invalid, op, "project_id is required for a project label")
		}
		l.ProjectID = *b.ProjectID
		p, err := s.st.ProjectByID(r.Context(), l.ProjectID)
		if err != nil {
			return err
		}
		if err := s.require(r.Context(), c, p, rbac.ResLabel, rbac.Create); err != nil {
			return err
		}
	default:
		return errs.E(errs.Invalid, op, "scope must be g or p")
	}
	id, err := s.st.CreateLabel(r.Context(), l)
	s.audit(c, l.ProjectID, "create", "label", name, err)
	if err != nil {
		return err
	}
	return created(w, r, Prefix+"/labels/"+strconv.FormatInt(id, 10))
}

// label loads the label of the path and checks c may do act on it.
func (s *Server) label(r *http.Request, c *Caller, act rbac.Action) (*store.Label, error) {
	id, err := pathID(r, "label_id")
	if err != nil {
		return nil, err
	}
	l, err := s.st.LabelByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if err := s.requireLabel(r.Context(), c, l, act); err != nil {
		return nil, err
	}
	return l, nil
}

func (s *Server) getLabel(w http.ResponseWriter, r *http.Request, c *Caller) error {
	l, err := s.label(r, c, rbac.Read)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, labelOf(l))
}

// updateLabel replaces the name, description and colour, as Harbor does;
// the scope and project of a label never change.
func (s *Server) updateLabel(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "update label"
	l, err := s.label(r, c, rbac.Update)
	if err != nil {
		return err
	}
	var b labelBody
	if err := decode(r, &b); err != nil {
		return err
	}
	if b.Scope != nil && *b.Scope != l.Scope || b.ProjectID != nil && *b.ProjectID != l.ProjectID {
		return errs.E(errs.Invalid, op, "the scope and project of a label cannot change")
	}
	name, description, color, err := validateLabel(op, &b)
	if err != nil {
		return err
	}
	l.Name, l.Description, l.Color = name, description, color
	err = s.st.UpdateLabel(r.Context(), *l)
	s.audit(c, l.ProjectID, "update", "label", name, err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) deleteLabel(w http.ResponseWriter, r *http.Request, c *Caller) error {
	l, err := s.label(r, c, rbac.Delete)
	if err != nil {
		return err
	}
	err = s.st.DeleteLabel(r.Context(), l.ID)
	s.audit(c, l.ProjectID, "delete", "label", l.Name, err)
	if err != nil {
		return err
	}
	return ok(w)
}
