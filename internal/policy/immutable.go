package policy

import (
	"context"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/immutable"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// ImmutableStore is what the immutability rule service reads and writes.
type ImmutableStore interface {
	ListImmutableRules(ctx context.Context, projectID int64, q *query.Query, offset, limit int) ([]store.ImmutableRuleRow, int64, error)
	ImmutableRule(ctx context.Context, projectID, id int64) (*store.ImmutableRuleRow, error)
	CreateImmutableRule(ctx context.Context, r immutable.Rule) (int64, error)
	UpdateImmutableRule(ctx context.Context, r immutable.Rule) error
	DeleteImmutableRule(ctx context.Context, projectID, id int64) error
}

// Immutable is the service of a project's tag immutability rules
// (Harbor's ImmutableRule): immutable-tag permissions in the project,
// validation (immutable.Rule.Normalize; the store refuses duplicates and
// more than immutable.MaxRules), and an immutable_rule event per change.
type Immutable struct {
	base
	st ImmutableStore
}

// NewImmutable returns the immutability rule service over st: it asks a
// what callers may do, publishes its changes on events and calls changed
// (if set) after every write.
func NewImmutable(st ImmutableStore, a Auth, events Publisher, changed func()) *Immutable {
	return &Immutable{base: base{auth: a, events: events, changed: changed}, st: st}
}

// List returns a page of the rules of project that q selects, for p
// (immutable-tag:list there).
func (s *Immutable) List(ctx context.Context, p *auth.Principal, project *store.Project, q *query.Query, offset, limit int) ([]store.ImmutableRuleRow, int64, error) {
	if err := s.require(ctx, p, project, rbac.ResImmutableTag, rbac.List); err != nil {
		return nil, 0, err
	}
	return s.st.ListImmutableRules(ctx, project.ID, q, offset, limit)
}

// Create adds a rule to project for p (immutable-tag:create) and returns
// its ID. Once p may, fill (nil: none) sets the new rule's fields: the API
// decodes the request there, so that a caller who may not is refused
// before its body is read, as in Harbor. The rule is then validated
// (immutable.Rule.Normalize); an ID fill sets is ignored, as in Harbor.
func (s *Immutable) Create(ctx context.Context, p *auth.Principal, project *store.Project, fill func(*immutable.Rule) error) (int64, error) {
	if err := s.require(ctx, p, project, rbac.ResImmutableTag, rbac.Create); err != nil {
		return 0, err
	}
	rule := immutable.Rule{}
	if fill != nil {
		if err := fill(&rule); err != nil {
			return 0, err
		}
	}
	rule.ID, rule.ProjectID = 0, project.ID
	if err := rule.Normalize(); err != nil {
		return 0, err
	}
	id, err := s.st.CreateImmutableRule(ctx, rule)
	rule.ID = id
	s.record(p, project.ID, "create", "immutable_rule", project.Name+" "+rule.String(), err)
	return id, err
}

// rule loads rule id of project after checking that p may do act on the
// project's rules.
func (s *Immutable) rule(ctx context.Context, p *auth.Principal, project *store.Project, id int64, act rbac.Action) (*store.ImmutableRuleRow, error) {
	if err := s.require(ctx, p, project, rbac.ResImmutableTag, act); err != nil {
		return nil, err
	}
	return s.st.ImmutableRule(ctx, project.ID, id)
}

// Update changes rule id of project for p (immutable-tag:update): change
// sets the fields that change on the stored rule (all of them, as Harbor's
// UI sends a rule, or only Disabled to switch it off or on). Setting
// another ID is refused: a rule keeps its ID and its project.
func (s *Immutable) Update(ctx context.Context, p *auth.Principal, project *store.Project, id int64, change func(*immutable.Rule) error) error {
	const op = "update immutable rule"
	row, err := s.rule(ctx, p, project, id, rbac.Update)
	if err != nil {
		return err
	}
	rule := row.Rule
	if err := change(&rule); err != nil {
		return err
	}
	if rule.ID != row.ID {
		return errs.E(errs.Invalid, op, "the id in the body (%d) is not the rule's of the path (%d)", rule.ID, row.ID)
	}
	rule.ProjectID = row.ProjectID
	if err := rule.Normalize(); err != nil {
		return err
	}
	err = s.st.UpdateImmutableRule(ctx, rule)
	s.record(p, project.ID, "update", "immutable_rule", project.Name+" "+rule.String(), err)
	return err
}

// Delete removes rule id of project for p (immutable-tag:delete).
func (s *Immutable) Delete(ctx context.Context, p *auth.Principal, project *store.Project, id int64) error {
	row, err := s.rule(ctx, p, project, id, rbac.Delete)
	if err != nil {
		return err
	}
	err = s.st.DeleteImmutableRule(ctx, project.ID, row.ID)
	s.record(p, project.ID, "delete", "immutable_rule", project.Name+" "+row.String(), err)
	return err
}
