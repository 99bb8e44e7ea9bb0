package api

import (
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/internal/label"
	"github.com/berth-dev/berth/internal/repository"
	"github.com/berth-dev/berth/internal/store"
)

// labelStore is what the label service needs from the metadata store.
type labelStore interface {
	label.Store
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

// spec is the label service's form of b.
func (b *labelBody) spec() label.Spec {
	str := func(v *string) string {
		if v == nil {
			return ""
		}
		return *v
	}
	return label.Spec{Name: str(b.Name), Description: str(b.Description), Color: str(b.Color), Scope: b.Scope, ProjectID: b.ProjectID}
}

// LabelsOf is the API form of labels.
func LabelsOf(labels []store.Label) []Label {
	out := make([]Label, 0, len(labels))
	for i := range labels {
		out = append(out, labelOf(&labels[i]))
	}
	return out
}

func (s *Server) listLabels(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	var projectID int64 // 0 when absent or not a positive integer
	if id, ok := parseID(qv.Get("project_id")); ok {
		projectID = id
	}
	list, total, err := s.labels.List(r.Context(), c.Principal, qv.Get("scope"), projectID, qv.Get("name"), p.Query, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	setPageHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, LabelsOf(list))
}

func (s *Server) createLabel(w http.ResponseWriter, r *http.Request, c *Caller) error {
	var b labelBody
	if err := decode(r, &b); err != nil {
		return err
	}
	id, err := s.labels.Create(r.Context(), c.Principal, b.spec())
	if err != nil {
		return err
	}
	return created(w, r, Prefix+"/labels/"+strconv.FormatInt(id, 10))
}

func (s *Server) getLabel(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "label_id")
	if err != nil {
		return err
	}
	l, err := s.labels.Get(r.Context(), c.Principal, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, labelOf(l))
}

func (s *Server) updateLabel(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "label_id")
	if err != nil {
		return err
	}
	var b labelBody
	if err := decode(r, &b); err != nil {
		return err
	}
	if err := s.labels.Update(r.Context(), c.Principal, id, b.spec()); err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) deleteLabel(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "label_id")
	if err != nil {
		return err
	}
	if err := s.labels.Delete(r.Context(), c.Principal, id); err != nil {
		return err
	}
	return ok(w)
}
