package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/immutable"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// immutableStore is what the immutable rule handlers need from the
// metadata store.
type immutableStore interface {
	ImmutableRules(ctx context.Context, projectID int64) ([]immutable.Rule, error)
	ListImmutableRules(ctx context.Context, projectID int64, q *query.Query, offset, limit int) ([]store.ImmutableRuleRow, int64, error)
	ImmutableRule(ctx context.Context, projectID, id int64) (*store.ImmutableRuleRow, error)
	CreateImmutableRule(ctx context.Context, r immutable.Rule) (int64, error)
	UpdateImmutableRule(ctx context.Context, r immutable.Rule) error
	DeleteImmutableRule(ctx context.Context, projectID, id int64) error
}

func (s *Server) immutableRoutes() []route {
	const rules = "/projects/{project_name_or_id}/immutabletagrules"
	return []route{
		{method: "GET", path: rules, op: "ListImmuRules", handle: s.listImmutableRules, resp: []ImmutableRule{}, respDef: "[]ImmutableRule"},
		{method: "POST", path: rules, op: "CreateImmuRule", handle: s.createImmutableRule},
		{method: "PUT", path: rules + "/{immutable_rule_id}", op: "UpdateImmuRule", handle: s.updateImmutableRule},
		{method: "DELETE", path: rules + "/{immutable_rule_id}", op: "DeleteImmuRule", handle: s.deleteImmutableRule},
	}
}

// ImmutableRule is Harbor's ImmutableRule.
type ImmutableRule struct {
	ID             int64                          `json:"id"`
	Priority       int                            `json:"priority"`
	Disabled       bool                           `json:"disabled"`
	Action         string                         `json:"action"`
	Template       string                         `json:"template"`
	Params         map[string]any                 `json:"params"`
	TagSelectors   []ImmutableSelector            `json:"tag_selectors"`
	ScopeSelectors map[string][]ImmutableSelector `json:"scope_selectors"`
}

// ImmutableSelector is Harbor's ImmutableSelector.
type ImmutableSelector struct {
	Kind       string `json:"kind"`
	Decoration string `json:"decoration"`
	Pattern    string `json:"pattern"`
	Extras     string `json:"extras,omitempty"`
}

func selectorsOf(in []immutable.Selector) []ImmutableSelector {
	out := make([]ImmutableSelector, 0, len(in))
	for _, s := range in {
		out = append(out, ImmutableSelector(s))
	}
	return out
}

func immutableRuleOf(r *immutable.Rule) ImmutableRule {
	v := ImmutableRule{
		ID: r.ID, Priority: r.Priority, Disabled: r.Disabled, Action: r.Action, Template: r.Template, Params: r.Params,
		TagSelectors: selectorsOf(r.TagSelectors), ScopeSelectors: map[string][]ImmutableSelector{},
	}
	if v.Params == nil {
		v.Params = map[string]any{}
	}
	for k, list := range r.ScopeSelectors {
		v.ScopeSelectors[k] = selectorsOf(list)
	}
	return v
}

// immutableRuleBody is an ImmutableRule in a request: every field optional
// so that an update can change some (disabled alone, to toggle a rule).
type immutableRuleBody struct {
	ID             *int64                          `json:"id"`
	Priority       *int                            `json:"priority"`
	Disabled       *bool                           `json:"disabled"`
	Action         *string                         `json:"action"`
	Template       *string                         `json:"template"`
	Params         map[string]any                  `json:"params"`
	TagSelectors   *[]ImmutableSelector            `json:"tag_selectors"`
	ScopeSelectors *map[string][]ImmutableSelector `json:"scope_selectors"`
}

// apply sets the fields b carries on r and validates the result.
func (b *immutableRuleBody) apply(r *immutable.Rule) error {
	if b.Priority != nil {
		r.Priority = *b.Priority
	}
	if b.Disabled != nil {
		r.Disabled = *b.Disabled
	}
	if b.Action != nil {
		r.Action = *b.Action
	}
	if b.Template != nil {
		r.Template = *b.Template
	}
	if b.Params != nil {
		r.Params = b.Params
	}
	if b.TagSelectors != nil {
		r.TagSelectors = nil
		for _, s := range *b.TagSelectors {
			r.TagSelectors = append(r.TagSelectors, immutable.Selector(s))
		}
	}
	if b.ScopeSelectors != nil {
		r.ScopeSelectors = map[string][]immutable.Selector{}
		for k, list := range *b.ScopeSelectors {
			r.ScopeSelectors[k] = []immutable.Selector{}
			for _, s := range list {
				r.ScopeSelectors[k] = append(r.ScopeSelectors[k], immutable.Selector(s))
			}
		}
	}
	return r.Normalize()
}

func (s *Server) listImmutableRules(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return err
	}
	if err := s.require(r.Context(), c, p, rbac.ResImmutableTag, rbac.List); err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := s.st.ListImmutableRules(r.Context(), p.ID, pg.Query, pg.Offset(), pg.Size)
	if err != nil {
		return err
	}
	out := make([]ImmutableRule, 0, len(list))
	for i := range list {
		out = append(out, immutableRuleOf(&list[i].Rule))
	}
	setPageHeaders(w, r, pg, total)
	return writeJSON(w, http.StatusOK, out)
}

// createImmutableRule adds a rule. Harbor's body carries an id, ignored
// here as in Harbor.
func (s *Server) createImmutableRule(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return err
	}
	if err := s.require(r.Context(), c, p, rbac.ResImmutableTag, rbac.Create); err != nil {
		return err
	}
	var b immutableRuleBody
	if err := decode(r, &b); err != nil {
		return err
	}
	rule := immutable.Rule{ProjectID: p.ID}
	if err := b.apply(&rule); err != nil {
		return err
	}
	rule.ID, err = s.st.CreateImmutableRule(r.Context(), rule)
	s.audit(c, p.ID, "create", "immutable_rule", p.Name+" "+rule.String(), err)
	if err != nil {
		return err
	}
	return created(w, r, strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+strconv.FormatInt(rule.ID, 10))
}

// immutableRule loads the project and the rule of the path after checking
// that c may do act on the project's rules.
func (s *Server) immutableRule(r *http.Request, c *Caller, act rbac.Action) (*store.Project, *store.ImmutableRuleRow, error) {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return nil, nil, err
	}
	if err := s.require(r.Context(), c, p, rbac.ResImmutableTag, act); err != nil {
		return nil, nil, err
	}
	id, err := pathID(r, "immutable_rule_id")
	if err != nil {
		return nil, nil, err
	}
	rule, err := s.st.ImmutableRule(r.Context(), p.ID, id)
	if err != nil {
		return nil, nil, err
	}
	return p, rule, nil
}

// updateImmutableRule changes the fields the body carries: the whole rule,
// as Harbor's UI sends it, or only disabled to switch the rule off or on.
func (s *Server) updateImmutableRule(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "update immutable rule"
	p, row, err := s.immutableRule(r, c, rbac.Update)
	if err != nil {
		return err
	}
	var b immutableRuleBody
	if err := decode(r, &b); err != nil {
		return err
	}
	if b.ID != nil && *b.ID != row.ID {
		return errs.E(errs.Invalid, op, "the id in the body (%d) is not the rule's of the path (%d)", *b.ID, row.ID)
	}
	rule := row.Rule
	if err := b.apply(&rule); err != nil {
		return err
	}
	err = s.st.UpdateImmutableRule(r.Context(), rule)
	s.audit(c, p.ID, "update", "immutable_rule", p.Name+" "+rule.String(), err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) deleteImmutableRule(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, row, err := s.immutableRule(r, c, rbac.Delete)
	if err != nil {
		return err
	}
	err = s.st.DeleteImmutableRule(r.Context(), p.ID, row.ID)
	s.audit(c, p.ID, "delete", "immutable_rule", p.Name+" "+row.String(), err)
	if err != nil {
		return err
	}
	return ok(w)
}

// Enforcement is the artifact service's (package artifact): every writer
// asks it. The repository service reads them only to show
// with_immutable_status (package repository).
