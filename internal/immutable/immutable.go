// Package immutable owns tag immutability: the rules a project sets
// (Harbor's ImmutableRule), their validation, and the one question every
// writer asks: is this tag of this repository immutable, and under which
// rule?
//
// A rule has one repository selector and one tag selector, Harbor's
// doublestar selectors (package selector, shared with retention: the
// repository pattern sees the name without its project, "app/web" for
// library/app/web). A tag is immutable when some enabled rule selects both
// its repository (repoMatches / repoExcludes) and the tag (matches /
// excludes).
//
// Immutability forbids change, not creation: a new tag may be pushed even
// when a rule covers it; after that it cannot be moved to another digest,
// deleted, or removed with its artifact or repository until the rule is
// disabled or deleted. The checks are made by the one writer of artifacts
// and tags, the artifact service (package artifact), for /v2, the API and
// retention alike; reads never consult the rules.
package immutable

import (
	"encoding/json"
	"fmt"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/selector"
)

// Values of a rule's fields (Harbor's).
const (
	Action           = "immutable"
	Template         = "immutable_template"
	KindDoublestar   = selector.Kind
	ScopeRepository  = "repository"
	DecoMatches      = selector.Matches
	DecoExcludes     = selector.Excludes
	DecoRepoMatches  = selector.RepoMatches
	DecoRepoExcludes = selector.RepoExcludes
)

// Limits.
const (
	// MaxRules is how many rules a project may have (Harbor's limit).
	MaxRules  = 15
	maxExtras = 1024
	maxParams = 4096
)

// Selector is Harbor's ImmutableSelector.
type Selector = selector.Selector

// Rule is Harbor's ImmutableRule. ProjectID is not part of the wire form.
type Rule struct {
	ID             int64                 `json:"id"`
	ProjectID      int64                 `json:"-"`
	Priority       int                   `json:"priority"`
	Disabled       bool                  `json:"disabled"`
	Action         string                `json:"action"`
	Template       string                `json:"template"`
	Params         map[string]any        `json:"params"`
	TagSelectors   []Selector            `json:"tag_selectors"`
	ScopeSelectors map[string][]Selector `json:"scope_selectors"`
}

// Normalize fills the defaults of a rule (action, template, empty params,
// a selector's kind)
// and checks it, returning an errs.Invalid error naming the first problem.
// Harbor evaluates only the first tag selector and the first repository
// selector of a rule; Berth refuses rules with more instead of ignoring
// them silently.
func (r *Rule) Normalize() error {
	const op = "validate immutable rule"
	switch r.Action {
	case "":
		r.Action = Action
	case Action:
	default:
		return errs.E(errs.Invalid, op, "action must be %q, not %q", Action, r.Action)
	}
	switch r.Template {
	case "":
		r.Template = Template
	case Template:
	default:
		return errs.E(errs.Invalid, op, "template must be %q, not %q", Template, r.Template)
	}
	if r.Params == nil {
		r.Params = map[string]any{}
	}
	if b, err := json.Marshal(r.Params); err != nil || len(b) > maxParams {
		return errs.E(errs.Invalid, op, "params must be a JSON object of at most %d bytes", maxParams)
	}
	if len(r.TagSelectors) != 1 {
		return errs.E(errs.Invalid, op, "tag_selectors must hold exactly one selector, not %d", len(r.TagSelectors))
	}
	if err := checkSelector(op, "tag_selectors[0]", &r.TagSelectors[0], DecoMatches, DecoExcludes); err != nil {
		return err
	}
	for k := range r.ScopeSelectors {
		if k != ScopeRepository {
			return errs.E(errs.Invalid, op, "scope_selectors may only have the key %q, not %q", ScopeRepository, k)
		}
	}
	repo := r.ScopeSelectors[ScopeRepository]
	if len(repo) != 1 {
		return errs.E(errs.Invalid, op, "scope_selectors.repository must hold exactly one selector, not %d", len(repo))
	}
	return checkSelector(op, "scope_selectors.repository[0]", &repo[0], DecoRepoMatches, DecoRepoExcludes)
}

func checkSelector(op, where string, s *Selector, decorations ...string) error {
	// Harbor stores an immutable rule's selectors unchecked, and doublestar
	// is the one kind its selector index registers: a selector without a
	// kind is a doublestar one (Harbor's CLI and older clients omit it).
	if err := selector.Check(op, where, s, decorations...); err != nil {
		return err
	}
	if s.Extras != "" && (len(s.Extras) > maxExtras || !json.Valid([]byte(s.Extras))) {
		return errs.E(errs.Invalid, op, "%s.extras must be empty or JSON of at most %d bytes", where, maxExtras)
	}
	return nil
}

// Key identifies what a rule selects: two rules of a project with the same
// key are duplicates. Call it on a normalized rule.
func (r *Rule) Key() string {
	t, s := r.tagSelector(), r.repoSelector()
	b, _ := json.Marshal([]string{s.Decoration, s.Pattern, t.Decoration, t.Pattern})
	return string(b)
}

func (r *Rule) tagSelector() Selector {
	if len(r.TagSelectors) == 0 {
		return Selector{}
	}
	return r.TagSelectors[0]
}

func (r *Rule) repoSelector() Selector {
	s := r.ScopeSelectors[ScopeRepository]
	if len(s) == 0 {
		return Selector{}
	}
	return s[0]
}

// String describes the rule for error messages:
// "rule 3: repositories ** tags v*", "rule 4: repositories except tmp/** tags except dev-*".
func (r *Rule) String() string {
	t, s := r.tagSelector(), r.repoSelector()
	not := func(d string) string {
		if d == DecoExcludes || d == DecoRepoExcludes {
			return "except "
		}
		return ""
	}
	return fmt.Sprintf("rule %d: repositories %s%s tags %s%s", r.ID, not(s.Decoration), s.Pattern, not(t.Decoration), t.Pattern)
}

// ForRepository returns the enabled rules of rules that select repository
// (its full name, project/repo), in the order given. A caller checking
// many tags of one repository filters the project's rules once with it and
// then calls Match on the result.
func ForRepository(rules []Rule, repository string) []Rule {
	var out []Rule
	for _, r := range rules {
		if !r.Disabled && r.repoSelector().SelectsRepository(repository) {
			out = append(out, r)
		}
	}
	return out
}

// Match reports whether tag of repository (its full name, project/repo, as
// Berth stores it; the project is stripped before matching) is immutable
// under rules, the rules of the repository's project, and returns the
// first enabled rule, in the order given, that makes it so.
func Match(rules []Rule, repository, tag string) (*Rule, bool) {
	for i := range rules {
		r := &rules[i]
		if !r.Disabled && r.repoSelector().SelectsRepository(repository) && r.tagSelector().SelectsTag(tag) {
			return r, true
		}
	}
	return nil, false
}

// Error is the refusal of a write that would change an immutable tag: an
// errs.Denied error naming the tag and the rule.
func Error(op, repository, tag string, r *Rule) error {
	return errs.E(errs.Denied, op, "tag %s in %s is immutable (%s)", tag, repository, r)
}
