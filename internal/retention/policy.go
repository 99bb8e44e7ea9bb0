// Package retention owns tag retention: a project's policy (Harbor's
// RetentionPolicy), its validation, the evaluation of its rules over the
// artifacts of a repository, and the job that applies it.
//
// # Policy
//
// A project has at most one policy: up to MaxRules rules combined with OR
// ("algorithm": "or"), an optional cron schedule (trigger kind "Schedule",
// settings.cron; "" for none) and a scope {level "project", ref project ID}.
// A rule retains ("action": "retain") the artifacts its selectors choose,
// per its template:
//
//	latestPushedK       the K most recently pushed
//	latestPulledN       the N most recently pulled
//	nDaysSinceLastPush  those pushed within the last N days
//	nDaysSinceLastPull  those pulled within the last N days
//	always              all of them
//
// Selectors are Harbor's: repository selectors (scope_selectors.repository,
// doublestar repoMatches/repoExcludes, matched against the repository name
// without its project) and doublestar tag selectors match as package
// selector says, the one semantics tag immutability shares; tag selectors (doublestar matches/excludes; extras
// {"untagged": true|false} says whether untagged artifacts are selected,
// by default yes for matches and no for excludes) and label selectors
// (kind "label", withLabels/withoutLabels, a comma-separated list of label
// names). The selectors of one kind list are ANDed.
//
// # Evaluation (Evaluate, a pure function)
//
// Retention works on artifacts, as Harbor's does: the candidates of a
// repository are its top-level artifacts (not index children without tags
// of their own, not accessories, which go with their subject), each with
// all its tags. A doublestar tag selector selects an artifact when any of
// its tags matches (matches) or any does not (excludes). A candidate's push
// and pull times are the newest of its tags' (Harbor's retention client);
// an untagged artifact has neither, so it sorts last for latestPushedK and
// latestPulledN and is never "within N days". Ties are broken by the
// artifact's own push time, then ID, newest first, so a run is
// deterministic.
//
// Each enabled rule that selects the repository filters the candidates by
// its tag and label selectors and retains some by its template; the union
// is kept and every other candidate is deleted with all its tags (and its
// accessories and untagged index children, as an API delete does).
// A repository that no enabled rule selects is left alone. An artifact
// the artifact service's immutability guard refuses to delete (it, or an
// accessory that would go with it, carries an immutable tag) is kept: a
// dry run asks the same guard (artifact.Service.GuardDelete) as the
// delete of a real run, so both keep the same artifacts.
//
// # Runs
//
// Launch starts an execution (vendor type RETENTION, vendor ID the policy
// ID) with one task per repository some enabled rule selects; each task
// carries the rules that apply as they were at launch, so editing the
// policy does not change a running execution. A task re-reads its
// repository, evaluates, and deletes one artifact per store transaction
// (store.DeleteArtifact), checking for a stop between deletions; a dry run
// deletes nothing. Its log lists every candidate as RETAIN, DELETE or
// IMMUTABLE with tag@digest. A task interrupted by a shutdown simply runs
// again: deleting what is already gone is not an error, and re-evaluating
// the remaining artifacts retains the same ones. When the last task of an
// execution settles, a TAG_RETENTION event is published, once.
package retention

import (
	"encoding/json"
	"math"
	"strings"
	"unicode"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/selector"
)

// Job system names.
const (
	// VendorType is the executions' vendor type (the vendor ID is the policy ID).
	VendorType = "RETENTION"
	// TaskKind is the kind of the per-repository tasks.
	TaskKind = "RETENTION"
)

// Values of a policy's fields (Harbor's).
const (
	Algorithm         = "or"
	ActionRetain      = "retain"
	TriggerSchedule   = "Schedule"
	ScopeProject      = "project"
	ScopeRepository   = "repository"
	KindDoublestar    = selector.Kind
	KindLabel         = "label"
	DecoMatches       = selector.Matches
	DecoExcludes      = selector.Excludes
	DecoRepoMatches   = selector.RepoMatches
	DecoRepoExcludes  = selector.RepoExcludes
	DecoWithLabels    = "withLabels"
	DecoWithoutLabels = "withoutLabels"
)

// Templates.
const (
	LatestPushedK      = "latestPushedK"
	LatestPulledN      = "latestPulledN"
	NDaysSinceLastPush = "nDaysSinceLastPush"
	NDaysSinceLastPull = "nDaysSinceLastPull"
	Always             = "always"
)

// Limits.
const (
	// MaxRules is how many rules a policy may have (Harbor's limit).
	MaxRules = 15
	// maxCount bounds latestPushedK and latestPulledN (Harbor: < MaxInt16).
	maxCount = math.MaxInt16 - 1
	// maxDays bounds the day templates (Harbor's bound).
	maxDays    = 20190904
	maxPattern = selector.MaxPattern
	maxExtras  = 1024
)

// TemplateInfo describes a template for the metadata endpoint.
type TemplateInfo struct {
	Name        string
	DisplayText string
	Unit        string // of its parameter: COUNT or DAYS; "" when it takes none
}

// Templates lists the templates in Harbor's order, as its metadata shows them.
var Templates = []TemplateInfo{
	{LatestPushedK, "the most recently pushed # artifacts", "COUNT"},
	{LatestPulledN, "the most recently pulled # artifacts", "COUNT"},
	{NDaysSinceLastPush, "pushed within the last # days", "DAYS"},
	{NDaysSinceLastPull, "pulled within the last # days", "DAYS"},
	{Always, "always", ""},
}

func templateInfo(name string) (TemplateInfo, bool) {
	for _, t := range Templates {
		if t.Name == name {
			return t, true
		}
	}
	return TemplateInfo{}, false
}

// Selector is Harbor's RetentionSelector. Doublestar selectors match as
// package selector says (one semantics with tag immutability); label
// selectors are retention's own.
type Selector = selector.Selector

// Rule is Harbor's RetentionRule.
type Rule struct {
	ID             int                   `json:"id"`
	Priority       int                   `json:"priority"`
	Disabled       bool                  `json:"disabled"`
	Action         string                `json:"action"`
	Template       string                `json:"template"`
	Params         map[string]any        `json:"params"`
	TagSelectors   []Selector            `json:"tag_selectors"`
	ScopeSelectors map[string][]Selector `json:"scope_selectors"`
}

// Trigger is Harbor's RetentionRuleTrigger: kind "Schedule" with
// settings {"cron": "<cron or empty>"}.
type Trigger struct {
	Kind       string         `json:"kind"`
	Settings   map[string]any `json:"settings"`
	References map[string]any `json:"references"`
}

// Scope is Harbor's RetentionPolicyScope.
type Scope struct {
	Level string `json:"level"`
	Ref   int64  `json:"ref"`
}

// Policy is Harbor's RetentionPolicy.
type Policy struct {
	ID        int64    `json:"id"`
	Algorithm string   `json:"algorithm"`
	Rules     []Rule   `json:"rules"`
	Trigger   *Trigger `json:"trigger"`
	Scope     *Scope   `json:"scope"`
}

// Cron is the policy's schedule ("" for none).
func (p *Policy) Cron() string {
	if p.Trigger == nil {
		return ""
	}
	s, _ := p.Trigger.Settings["cron"].(string)
	return strings.TrimSpace(s)
}

// Parse reads a stored policy.
func Parse(text string) (*Policy, error) {
	var p Policy
	if err := json.Unmarshal([]byte(text), &p); err != nil {
		return nil, errs.Wrap("parse retention policy", err)
	}
	return &p, nil
}

// Normalize fills a policy's defaults (algorithm "or", action "retain",
// trigger "Schedule" without a cron, rule IDs 1..n in order) and checks
// it, returning an errs.Invalid error that names the first problem (or
// errs.Conflict for two identical rules, as Harbor). Params become
// integers.
func (p *Policy) Normalize() error {
	const op = "validate retention policy"
	switch p.Algorithm {
	case "":
		p.Algorithm = Algorithm
	case Algorithm:
	default:
		return errs.E(errs.Invalid, op, "algorithm must be %q, not %q", Algorithm, p.Algorithm)
	}
	if p.Scope == nil {
		return errs.E(errs.Invalid, op, "scope is required: {\"level\": \"project\", \"ref\": <project ID>}")
	}
	if p.Scope.Level != ScopeProject {
		return errs.E(errs.Invalid, op, "scope.level must be %q, not %q", ScopeProject, p.Scope.Level)
	}
	if p.Scope.Ref <= 0 {
		return errs.E(errs.Invalid, op, "scope.ref must be a project ID, not %d", p.Scope.Ref)
	}
	if err := p.normalizeTrigger(op); err != nil {
		return err
	}
	if len(p.Rules) > MaxRules {
		return errs.E(errs.Invalid, op, "only %d rules are allowed at most, not %d", MaxRules, len(p.Rules))
	}
	if p.Rules == nil {
		p.Rules = []Rule{}
	}
	seen := map[string]int{}
	for i := range p.Rules {
		r := &p.Rules[i]
		if err := r.normalize(op, i+1); err != nil {
			return err
		}
		k := r.key()
		if j, dup := seen[k]; dup {
			return errs.E(errs.Conflict, op, "rule %d is the same as rule %d", i+1, j)
		}
		seen[k] = i + 1
	}
	return nil
}

func (p *Policy) normalizeTrigger(op string) error {
	if p.Trigger == nil {
		p.Trigger = &Trigger{}
	}
	t := p.Trigger
	switch t.Kind {
	case "":
		t.Kind = TriggerSchedule
	case TriggerSchedule:
	default:
		return errs.E(errs.Invalid, op, "trigger.kind must be %q, not %q", TriggerSchedule, t.Kind)
	}
	cron := ""
	for k, v := range t.Settings {
		if k != "cron" {
			return errs.E(errs.Invalid, op, "trigger.settings may only have \"cron\", not %q", k)
		}
		s, ok := v.(string)
		if !ok && v != nil {
			return errs.E(errs.Invalid, op, "trigger.settings.cron must be a string")
		}
		cron = strings.TrimSpace(s)
	}
	if cron != "" {
		if _, err := jobs.ParseCron(cron); err != nil {
			return errs.E(errs.Invalid, op, "trigger.settings.cron %q is not a valid cron expression (six fields, seconds first, as Harbor's, or five)", cron)
		}
	}
	t.Settings = map[string]any{"cron": cron}
	// references are Harbor's bookkeeping (the job it scheduled); Berth
	// keeps none.
	t.References = map[string]any{}
	return nil
}

func (r *Rule) normalize(op string, n int) error {
	r.ID = n
	switch r.Action {
	case "":
		r.Action = ActionRetain
	case ActionRetain:
	default:
		return errs.E(errs.Invalid, op, "rule %d: action must be %q, not %q", n, ActionRetain, r.Action)
	}
	info, ok := templateInfo(r.Template)
	if !ok {
		return errs.E(errs.Invalid, op, "rule %d: template must be one of latestPushedK, latestPulledN, nDaysSinceLastPush, nDaysSinceLastPull, always, not %q", n, r.Template)
	}
	params := map[string]any{}
	for k, v := range r.Params {
		if k != r.Template || info.Unit == "" {
			return errs.E(errs.Invalid, op, "rule %d: template %s takes no parameter %q", n, r.Template, k)
		}
		limit := int64(maxCount)
		if info.Unit == "DAYS" {
			limit = maxDays
		}
		f, isNum := v.(float64)
		switch {
		case !isNum:
			if i, isInt := v.(int64); isInt {
				f, isNum = float64(i), true
			} else if i, isInt := v.(int); isInt {
				f, isNum = float64(i), true
			}
		}
		if !isNum || f != math.Trunc(f) || f < 1 || f > float64(limit) {
			return errs.E(errs.Invalid, op, "rule %d: params.%s must be an integer from 1 to %d, not %v", n, k, limit, v)
		}
		params[k] = int64(f)
	}
	if info.Unit != "" && params[r.Template] == nil {
		return errs.E(errs.Invalid, op, "rule %d: template %s needs params.%s (an integer of %s)", n, r.Template, r.Template, strings.ToLower(info.Unit))
	}
	r.Params = params
	if len(r.TagSelectors) == 0 {
		return errs.E(errs.Invalid, op, "rule %d: tag_selectors must hold at least one selector ({\"kind\": \"doublestar\", \"decoration\": \"matches\", \"pattern\": \"**\"} selects every tag)", n)
	}
	for i := range r.TagSelectors {
		s := &r.TagSelectors[i]
		where := "rule " + itoa(n) + ": tag_selectors[" + itoa(i) + "]"
		var err error
		if s.Kind == "" {
			// Harbor stores selectors unchecked; a kind left out is the
			// one its decoration belongs to.
			switch s.Decoration {
			case DecoWithLabels, DecoWithoutLabels:
				s.Kind = KindLabel
			default:
				s.Kind = KindDoublestar
			}
		}
		switch s.Kind {
		case KindDoublestar:
			err = selector.CheckPattern(op, where, s, DecoMatches, DecoExcludes)
			if err == nil {
				err = checkExtras(op, where, s)
			}
		case KindLabel:
			err = checkLabels(op, where, s)
		default:
			err = errs.E(errs.Invalid, op, "%s.kind must be %q or %q, not %q", where, KindDoublestar, KindLabel, s.Kind)
		}
		if err != nil {
			return err
		}
	}
	for k := range r.ScopeSelectors {
		if k != ScopeRepository {
			return errs.E(errs.Invalid, op, "rule %d: scope_selectors may only have the key %q, not %q", n, ScopeRepository, k)
		}
	}
	repo := r.ScopeSelectors[ScopeRepository]
	if len(repo) == 0 {
		return errs.E(errs.Invalid, op, "rule %d: scope_selectors.repository must hold at least one selector ({\"kind\": \"doublestar\", \"decoration\": \"repoMatches\", \"pattern\": \"**\"} selects every repository)", n)
	}
	for i := range repo {
		s := &repo[i]
		where := "rule " + itoa(n) + ": scope_selectors.repository[" + itoa(i) + "]"
		if s.Kind == "" {
			s.Kind = KindDoublestar // the one kind of a scope selector
		}
		if s.Kind != KindDoublestar {
			return errs.E(errs.Invalid, op, "%s.kind must be %q, not %q", where, KindDoublestar, s.Kind)
		}
		if err := selector.CheckPattern(op, where, s, DecoRepoMatches, DecoRepoExcludes); err != nil {
			return err
		}
		if s.Extras != "" {
			return errs.E(errs.Invalid, op, "%s.extras must be empty", where)
		}
	}
	return nil
}

// key identifies what a rule does, for duplicate detection (Harbor's
// checkRuleConflict: the rule without its ID).
func (r *Rule) key() string {
	c := *r
	c.ID = 0
	b, _ := json.Marshal(c)
	return string(b)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// checkExtras accepts "" or {"untagged": true|false} and rewrites the
// latter compactly.
func checkExtras(op, where string, s *Selector) error {
	if s.Extras == "" {
		return nil
	}
	if len(s.Extras) > maxExtras {
		return errs.E(errs.Invalid, op, "%s.extras is longer than %d bytes", where, maxExtras)
	}
	var x map[string]any
	if err := json.Unmarshal([]byte(s.Extras), &x); err != nil || x == nil {
		return errs.E(errs.Invalid, op, "%s.extras must be a JSON object in a string, like {\"untagged\":true}", where)
	}
	for k, v := range x {
		if _, ok := v.(bool); !ok || k != "untagged" {
			return errs.E(errs.Invalid, op, "%s.extras may only hold \"untagged\": true or false", where)
		}
	}
	if u, ok := x["untagged"].(bool); ok {
		s.Extras = `{"untagged":` + map[bool]string{true: "true", false: "false"}[u] + `}`
	} else {
		s.Extras = ""
	}
	return nil
}

func checkLabels(op, where string, s *Selector) error {
	if s.Decoration != DecoWithLabels && s.Decoration != DecoWithoutLabels {
		return errs.E(errs.Invalid, op, "%s.decoration must be %s or %s, not %q", where, DecoWithLabels, DecoWithoutLabels, s.Decoration)
	}
	if s.Extras != "" {
		return errs.E(errs.Invalid, op, "%s.extras must be empty", where)
	}
	if len(s.Pattern) > maxPattern {
		return errs.E(errs.Invalid, op, "%s.pattern is longer than %d bytes", where, maxPattern)
	}
	names := labelNames(s.Pattern)
	if len(names) == 0 {
		return errs.E(errs.Invalid, op, "%s.pattern must name labels, separated by commas", where)
	}
	for _, n := range names {
		if strings.TrimSpace(n) == "" || strings.IndexFunc(n, unicode.IsControl) >= 0 {
			return errs.E(errs.Invalid, op, "%s.pattern %q must be label names separated by commas", where, s.Pattern)
		}
	}
	return nil
}

// labelNames splits a label selector's pattern.
func labelNames(pattern string) []string {
	if pattern == "" {
		return nil
	}
	return strings.Split(pattern, ",")
}
