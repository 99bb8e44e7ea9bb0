package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/immutable"
	"github.com/berth-dev/berth/internal/policy"
	"github.com/berth-dev/berth/internal/store"
)

// immutableStore is what the immutable rule service needs from the
// metadata store, and the rules with_immutable_status shows.
type immutableStore interface {
	policy.ImmutableStore
	ImmutableRules(ctx context.Context, projectID int64) ([]immutable.Rule, error)
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

// ImmutableRuleOf is rule r as Harbor shows it.
func ImmutableRuleOf(r *immutable.Rule) ImmutableRule {
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

// apply sets the fields b carries on r (the service validates the result).
func (b *immutableRuleBody) apply(r *immutable.Rule) {
	if b.ID != nil {
		r.ID = *b.ID
	}
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
}

// decodeRule decodes an ImmutableRule body onto r.
func decodeRule(r *http.Request) func(*immutable.Rule) error {
	return func(rule *immutable.Rule) error {
		var b immutableRuleBody
		if err := decode(r, &b); err != nil {
			return err
		}
		b.apply(rule)
		return nil
	}
}

func (s *Server) listImmutableRules(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	list, total, err := s.immutableRules.List(r.Context(), c.Principal, p, pg.Query, pg.Offset(), pg.Size)
	if err != nil {
		return err
	}
	out := make([]ImmutableRule, 0, len(list))
	for i := range list {
		out = append(out, ImmutableRuleOf(&list[i].Rule))
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
	id, err := s.immutableRules.Create(r.Context(), c.Principal, p, decodeRule(r))
	if err != nil {
		return err
	}
	return created(w, r, strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+strconv.FormatInt(id, 10))
}

// immutableRuleOfPath reads the project and the rule ID of the path.
func (s *Server) immutableRuleOfPath(r *http.Request) (*store.Project, int64, error) {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return nil, 0, err
	}
	id, err := pathID(r, "immutable_rule_id")
	return p, id, err
}

// updateImmutableRule changes the fields the body carries: the whole rule,
// as Harbor's UI sends it, or only disabled to switch the rule off or on.
func (s *Server) updateImmutableRule(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, id, err := s.immutableRuleOfPath(r)
	if err != nil {
		return err
	}
	if err := s.immutableRules.Update(r.Context(), c.Principal, p, id, decodeRule(r)); err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) deleteImmutableRule(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, id, err := s.immutableRuleOfPath(r)
	if err != nil {
		return err
	}
	if err := s.immutableRules.Delete(r.Context(), c.Principal, p, id); err != nil {
		return err
	}
	return ok(w)
}

// Enforcement is the artifact service's (package artifact): every writer
// asks it. The repository service reads them only to show
// with_immutable_status (package repository).
