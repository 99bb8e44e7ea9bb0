package retention_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/retention"
)

// policyJSON builds a policy from JSON, as the API receives it.
func policyJSON(t *testing.T, s string) *retention.Policy {
	t.Helper()
	var p retention.Policy
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		t.Fatalf("bad test policy %s: %v", s, err)
	}
	return &p
}

const (
	anyRepo = `"scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}`
	anyTag  = `"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}]`
)

func ruleJSON(template, params string) string {
	return `{"template": "` + template + `", "params": ` + params + `, ` + anyTag + `, ` + anyRepo + `}`
}

func withRules(rules ...string) string {
	return `{"algorithm": "or", "rules": [` + strings.Join(rules, ",") + `], "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
		"scope": {"level": "project", "ref": 7}}`
}

func TestNormalize(t *testing.T) {
	ok := ruleJSON("latestPushedK", `{"latestPushedK": 3}`)
	many := make([]string, 16)
	for i := range many {
		many[i] = ruleJSON("latestPushedK", `{"latestPushedK": `+string(rune('1'+i%9))+`}`)
	}
	repl := func(old, new string) string { return strings.Replace(ok, old, new, 1) }
	for _, tc := range []struct {
		name   string
		policy string
		kind   errs.Kind // 0 (Internal) means valid
		msg    string    // part of the error message
	}{
		{"minimal", withRules(ok), 0, ""},
		{"no rules", withRules(), 0, ""},
		{"no trigger, no algorithm", `{"rules": [` + ok + `], "scope": {"level": "project", "ref": 7}}`, 0, ""},
		{"six-field cron", strings.Replace(withRules(ok), `"cron": ""`, `"cron": "0 0 3 * * *"`, 1), 0, ""},
		{"five-field cron", strings.Replace(withRules(ok), `"cron": ""`, `"cron": "0 3 * * 1"`, 1), 0, ""},
		{"every template", withRules(ruleJSON("latestPulledN", `{"latestPulledN": 2}`), ruleJSON("nDaysSinceLastPush", `{"nDaysSinceLastPush": 30}`),
			ruleJSON("nDaysSinceLastPull", `{"nDaysSinceLastPull": 7}`), ruleJSON("always", `{}`), ok), 0, ""},
		{"always without params", withRules(strings.Replace(ruleJSON("always", `{}`), `"params": {}, `, "", 1)), 0, ""},
		{"untagged extras", withRules(strings.Replace(ok, `"pattern": "**"}]`, `"pattern": "**", "extras": "{\"untagged\": false}"}]`, 1)), 0, ""},
		{"labels", withRules(strings.Replace(ok, `"pattern": "**"}]`, `"pattern": "**"}, {"kind": "label", "decoration": "withLabels", "pattern": "prod,gold"}]`, 1)), 0, ""},

		{"algorithm and", strings.Replace(withRules(ok), `"or"`, `"and"`, 1), errs.Invalid, "algorithm"},
		{"no scope", `{"rules": []}`, errs.Invalid, "scope is required"},
		{"system scope", strings.Replace(withRules(ok), `"level": "project"`, `"level": "system"`, 1), errs.Invalid, "scope.level"},
		{"no project", strings.Replace(withRules(ok), `"ref": 7`, `"ref": 0`, 1), errs.Invalid, "scope.ref"},
		{"event trigger", strings.Replace(withRules(ok), `"Schedule"`, `"Event"`, 1), errs.Invalid, "trigger.kind"},
		{"trigger setting", strings.Replace(withRules(ok), `"cron": ""`, `"interval": "1h"`, 1), errs.Invalid, "trigger.settings"},
		{"cron not a string", strings.Replace(withRules(ok), `"cron": ""`, `"cron": 5`, 1), errs.Invalid, "cron must be a string"},
		{"bad cron", strings.Replace(withRules(ok), `"cron": ""`, `"cron": "every day"`, 1), errs.Invalid, "not a valid cron"},
		{"16 rules", withRules(many...), errs.Invalid, "only 15 rules"},
		{"action delete", withRules(`{"action": "delete", ` + ok[1:]), errs.Invalid, "action must be"},
		{"unknown template", withRules(ruleJSON("latestActiveK", `{"latestActiveK": 3}`)), errs.Invalid, "template must be one of"},
		{"no template", withRules(strings.Replace(ok, `"template": "latestPushedK", `, "", 1)), errs.Invalid, "template must be one of"},
		{"missing param", withRules(ruleJSON("latestPushedK", `{}`)), errs.Invalid, "needs params.latestPushedK"},
		{"zero", withRules(ruleJSON("latestPushedK", `{"latestPushedK": 0}`)), errs.Invalid, "integer from 1"},
		{"negative", withRules(ruleJSON("nDaysSinceLastPull", `{"nDaysSinceLastPull": -1}`)), errs.Invalid, "integer from 1"},
		{"fraction", withRules(ruleJSON("latestPulledN", `{"latestPulledN": 1.5}`)), errs.Invalid, "integer from 1"},
		{"string number", withRules(ruleJSON("latestPushedK", `{"latestPushedK": "3"}`)), errs.Invalid, "integer from 1"},
		{"too many", withRules(ruleJSON("latestPushedK", `{"latestPushedK": 40000}`)), errs.Invalid, "integer from 1 to 32766"},
		{"too many days", withRules(ruleJSON("nDaysSinceLastPush", `{"nDaysSinceLastPush": 30000000}`)), errs.Invalid, "integer from 1 to 20190904"},
		{"other param", withRules(ruleJSON("latestPushedK", `{"latestPushedK": 3, "k": 1}`)), errs.Invalid, `no parameter "k"`},
		{"always with param", withRules(ruleJSON("always", `{"always": 1}`)), errs.Invalid, "takes no parameter"},
		{"no tag selector", withRules(repl(anyTag, `"tag_selectors": []`)), errs.Invalid, "tag_selectors must hold"},
		{"regexp tag selector", withRules(repl(`"kind": "doublestar", "decoration": "matches"`, `"kind": "regexp", "decoration": "matches"`)), errs.Invalid, "kind must be"},
		{"repo decoration on tags", withRules(repl(`"decoration": "matches"`, `"decoration": "repoMatches"`)), errs.Invalid, "decoration must be matches or excludes"},
		{"empty tag pattern", withRules(repl(`"decoration": "matches", "pattern": "**"`, `"decoration": "matches", "pattern": ""`)), errs.Invalid, "pattern is required"},
		{"pattern with space", withRules(repl(`"decoration": "matches", "pattern": "**"`, `"decoration": "matches", "pattern": "v 1"`)), errs.Invalid, "spaces"},
		{"bad pattern", withRules(repl(`"decoration": "matches", "pattern": "**"`, `"decoration": "matches", "pattern": "v[1"`)), errs.Invalid, "not a valid doublestar"},
		{"extras not JSON", withRules(repl(`"pattern": "**"}]`, `"pattern": "**", "extras": "untagged"}]`)), errs.Invalid, "extras must be a JSON object"},
		{"extras not bool", withRules(repl(`"pattern": "**"}]`, `"pattern": "**", "extras": "{\"untagged\": \"yes\"}"}]`)), errs.Invalid, "extras may only"},
		{"extras other key", withRules(repl(`"pattern": "**"}]`, `"pattern": "**", "extras": "{\"latest\": true}"}]`)), errs.Invalid, "extras may only"},
		{"label decoration", withRules(repl(`"pattern": "**"}]`, `"pattern": "**"}, {"kind": "label", "decoration": "with", "pattern": "a"}]`)), errs.Invalid, "withLabels or withoutLabels"},
		{"label list empty", withRules(repl(`"pattern": "**"}]`, `"pattern": "**"}, {"kind": "label", "decoration": "withLabels", "pattern": ""}]`)), errs.Invalid, "must name labels"},
		{"label list hole", withRules(repl(`"pattern": "**"}]`, `"pattern": "**"}, {"kind": "label", "decoration": "withLabels", "pattern": "a,,b"}]`)), errs.Invalid, "label names separated"},
		{"no repository selector", withRules(repl(anyRepo, `"scope_selectors": {}`)), errs.Invalid, "scope_selectors.repository must hold"},
		{"project selector", withRules(repl(anyRepo, `"scope_selectors": {"project": [{"kind": "doublestar", "decoration": "nsMatches", "pattern": "**"}]}`)), errs.Invalid, `only have the key "repository"`},
		{"tag decoration on repositories", withRules(repl(`"decoration": "repoMatches"`, `"decoration": "matches"`)), errs.Invalid, "repoMatches or repoExcludes"},
		{"label repository selector", withRules(repl(`"kind": "doublestar", "decoration": "repoMatches"`, `"kind": "label", "decoration": "repoMatches"`)), errs.Invalid, "kind must be"},
		{"duplicate rules", withRules(ok, ok), errs.Conflict, "rule 2 is the same as rule 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := policyJSON(t, tc.policy)
			err := p.Normalize()
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("valid policy refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("invalid policy accepted: %s", tc.policy)
			}
			if errs.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q (%v), want %v containing %q", err, errs.KindOf(err), tc.kind, tc.msg)
			}
		})
	}
}

func TestNormalizeDefaults(t *testing.T) {
	p := policyJSON(t, `{"rules": [`+ruleJSON("latestPushedK", `{"latestPushedK": 3}`)+`,`+ruleJSON("always", `{}`)+`],
		"trigger": {"kind": "Schedule", "settings": {"cron": " 0 0 * * * * "}, "references": {"job_id": 5}}, "scope": {"level": "project", "ref": 2}}`)
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	if p.Algorithm != "or" || p.Rules[0].ID != 1 || p.Rules[1].ID != 2 || p.Rules[0].Action != "retain" {
		t.Errorf("defaults not filled: %+v", p)
	}
	if p.Cron() != "0 0 * * * *" || len(p.Trigger.References) != 0 {
		t.Errorf("trigger %+v, want the cron trimmed and no references", p.Trigger)
	}
	if v, ok := p.Rules[0].Params["latestPushedK"].(int64); !ok || v != 3 {
		t.Errorf("params %#v, want an integer 3", p.Rules[0].Params)
	}
	// A stored policy reads back and normalizes to the same.
	b, _ := json.Marshal(p)
	q, err := retention.Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Normalize(); err != nil {
		t.Fatalf("stored policy no longer valid: %v", err)
	}
	b2, _ := json.Marshal(q)
	if string(b) != string(b2) {
		t.Errorf("normalizing twice changed the policy:\n%s\n%s", b, b2)
	}
}

// TestNormalizeSelectorKind: a selector without a kind takes the kind its
// decoration belongs to (Harbor stores selectors unchecked).
func TestNormalizeSelectorKind(t *testing.T) {
	p := policyJSON(t, withRules(`{"template": "always", "params": {},
		"tag_selectors": [{"decoration": "matches", "pattern": "v*"}, {"decoration": "withoutLabels", "pattern": "keep"}],
		"scope_selectors": {"repository": [{"decoration": "repoMatches", "pattern": "**"}]}}`))
	if err := p.Normalize(); err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	r := p.Rules[0]
	if r.TagSelectors[0].Kind != "doublestar" || r.TagSelectors[1].Kind != "label" || r.ScopeSelectors["repository"][0].Kind != "doublestar" {
		t.Errorf("kinds %q %q %q, want doublestar label doublestar", r.TagSelectors[0].Kind, r.TagSelectors[1].Kind, r.ScopeSelectors["repository"][0].Kind)
	}
}

// Times of the evaluation tests: "now" and days before it.
var now = time.Date(2025, 1, 10, 12, 0, 0, 0, time.UTC)

func daysAgo(d float64) int64 {
	return now.Add(-time.Duration(d * float64(24*time.Hour))).UnixMilli()
}

// repo is the repository the evaluation tests look at:
//
//	1 v1           pushed 1 day ago,  pulled 1 day ago,   label prod
//	2 v2, latest   pushed 2 days ago, pulled 20 days ago
//	3 dev-1        pushed 3 days ago, never pulled
//	4 (untagged)   artifact pushed 12 hours ago
//	5 v0           pushed 40 days ago, pulled 5 days ago,  labels keep, prod
//	6 dev-2        pushed 2 days ago (as 2), artifact older, never pulled
func repo() []retention.Candidate {
	return []retention.Candidate{
		{ID: 1, Digest: "sha256:1", Tags: []string{"v1"}, Labels: []string{"prod"}, PushedTime: daysAgo(1), PulledTime: daysAgo(1), CreationTime: daysAgo(1)},
		{ID: 2, Digest: "sha256:2", Tags: []string{"v2", "latest"}, PushedTime: daysAgo(2), PulledTime: daysAgo(20), CreationTime: daysAgo(2)},
		{ID: 3, Digest: "sha256:3", Tags: []string{"dev-1"}, PushedTime: daysAgo(3), CreationTime: daysAgo(3)},
		{ID: 4, Digest: "sha256:4", CreationTime: daysAgo(0.5)},
		{ID: 5, Digest: "sha256:5", Tags: []string{"v0"}, Labels: []string{"keep", "prod"}, PushedTime: daysAgo(40), PulledTime: daysAgo(5), CreationTime: daysAgo(40)},
		{ID: 6, Digest: "sha256:6", Tags: []string{"dev-2"}, PushedTime: daysAgo(2), CreationTime: daysAgo(30)},
	}
}

// rule builds a normalized rule.
func rule(t *testing.T, template string, n int, tagSelectors, repoSelectors string) retention.Rule {
	t.Helper()
	params := `{}`
	if template != "always" {
		params = `{"` + template + `": ` + itoa(n) + `}`
	}
	if tagSelectors == "" {
		tagSelectors = `[{"kind": "doublestar", "decoration": "matches", "pattern": "**"}]`
	}
	if repoSelectors == "" {
		repoSelectors = `[{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]`
	}
	p := policyJSON(t, `{"rules": [{"template": "`+template+`", "params": `+params+`, "tag_selectors": `+tagSelectors+`,
		"scope_selectors": {"repository": `+repoSelectors+`}}], "scope": {"level": "project", "ref": 1}}`)
	if err := p.Normalize(); err != nil {
		t.Fatalf("test rule: %v", err)
	}
	return p.Rules[0]
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// retained runs Evaluate and returns the IDs retained, in ID order.
func retained(rules []retention.Rule, repository string) []int64 {
	var out []int64
	for _, d := range retention.Evaluate(rules, repository, repo(), now) {
		if d.Retain {
			out = append(out, d.ID)
		}
	}
	slices.Sort(out)
	return out
}

func tagSel(deco, pattern, extras string) string {
	s := `{"kind": "doublestar", "decoration": "` + deco + `", "pattern": "` + pattern + `"`
	if extras != "" {
		s += `, "extras": ` + strconvQuote(extras)
	}
	return s + `}`
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func labelSel(deco, labels string) string {
	return `{"kind": "label", "decoration": "` + deco + `", "pattern": "` + labels + `"}`
}

func repoSel(deco, pattern string) string {
	return `[{"kind": "doublestar", "decoration": "` + deco + `", "pattern": "` + pattern + `"}]`
}

func list(s ...string) string { return "[" + strings.Join(s, ",") + "]" }

func TestEvaluateTemplates(t *testing.T) {
	for _, tc := range []struct {
		name     string
		template string
		n        int
		want     []int64
	}{
		// Pushed times are the tags': 1 (1 day), 2 and 6 (2 days; 2's
		// artifact is newer), 3, 5; the untagged 4 has none and comes last.
		{"latestPushedK 1", "latestPushedK", 1, []int64{1}},
		{"latestPushedK 2", "latestPushedK", 2, []int64{1, 2}},
		{"latestPushedK 3, tie by artifact age", "latestPushedK", 3, []int64{1, 2, 6}},
		{"latestPushedK 5, untagged last", "latestPushedK", 5, []int64{1, 2, 3, 5, 6}},
		{"latestPushedK more than there are", "latestPushedK", 50, []int64{1, 2, 3, 4, 5, 6}},
		// Pulled: 1 (1 day), 5 (5 days), 2 (20 days), then the never-pulled
		// by artifact age: 4, 3, 6.
		{"latestPulledN 1", "latestPulledN", 1, []int64{1}},
		{"latestPulledN 3", "latestPulledN", 3, []int64{1, 2, 5}},
		{"latestPulledN 4, never pulled by age", "latestPulledN", 4, []int64{1, 2, 4, 5}},
		{"latestPulledN 5", "latestPulledN", 5, []int64{1, 2, 3, 4, 5}},
		{"nDaysSinceLastPush 1", "nDaysSinceLastPush", 1, []int64{1}},
		{"nDaysSinceLastPush 2", "nDaysSinceLastPush", 2, []int64{1, 2, 6}},
		{"nDaysSinceLastPush 39", "nDaysSinceLastPush", 39, []int64{1, 2, 3, 6}},
		{"nDaysSinceLastPush 41, untagged never", "nDaysSinceLastPush", 41, []int64{1, 2, 3, 5, 6}},
		{"nDaysSinceLastPull 1", "nDaysSinceLastPull", 1, []int64{1}},
		{"nDaysSinceLastPull 7", "nDaysSinceLastPull", 7, []int64{1, 5}},
		{"nDaysSinceLastPull 30", "nDaysSinceLastPull", 30, []int64{1, 2, 5}},
		{"always", "always", 0, []int64{1, 2, 3, 4, 5, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := retained([]retention.Rule{rule(t, tc.template, tc.n, "", "")}, "lib/app")
			if !slices.Equal(got, tc.want) {
				t.Errorf("retained %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEvaluateSelectors(t *testing.T) {
	always := func(t *testing.T, tags string) retention.Rule { return rule(t, "always", 0, tags, "") }
	for _, tc := range []struct {
		name  string
		rules func(t *testing.T) []retention.Rule
		repo  string
		want  []int64
	}{
		// Tag selectors: an artifact is selected when any of its tags is.
		{"matches", func(t *testing.T) []retention.Rule {
			return []retention.Rule{always(t, list(tagSel("matches", "v*", "")))}
		},
			"lib/app", []int64{1, 2, 4, 5}}, // untagged selected by default with matches
		{"matches any tag of an artifact", func(t *testing.T) []retention.Rule {
			return []retention.Rule{always(t, list(tagSel("matches", "latest", `{"untagged":false}`)))}
		}, "lib/app", []int64{2}},
		{"matches without untagged", func(t *testing.T) []retention.Rule {
			return []retention.Rule{always(t, list(tagSel("matches", "v*", `{"untagged":false}`)))}
		}, "lib/app", []int64{1, 2, 5}},
		{"braces", func(t *testing.T) []retention.Rule {
			return []retention.Rule{always(t, list(tagSel("matches", "{v0,dev-*}", `{"untagged":false}`)))}
		}, "lib/app", []int64{3, 5, 6}},
		{"excludes", func(t *testing.T) []retention.Rule {
			return []retention.Rule{always(t, list(tagSel("excludes", "dev-*", "")))}
		},
			"lib/app", []int64{1, 2, 5}}, // untagged not selected by default with excludes
		{"excludes with untagged", func(t *testing.T) []retention.Rule {
			return []retention.Rule{always(t, list(tagSel("excludes", "dev-*", `{"untagged":true}`)))}
		}, "lib/app", []int64{1, 2, 4, 5}},
		{"excludes keeps artifacts with another tag", func(t *testing.T) []retention.Rule {
			return []retention.Rule{always(t, list(tagSel("excludes", "v2", "")))}
		}, "lib/app", []int64{1, 2, 3, 5, 6}}, // 2 also has latest
		// Label selectors, ANDed with the tag selector.
		{"withLabels", func(t *testing.T) []retention.Rule {
			return []retention.Rule{always(t, list(tagSel("matches", "**", ""), labelSel("withLabels", "prod")))}
		}, "lib/app", []int64{1, 5}},
		{"withLabels all of them", func(t *testing.T) []retention.Rule {
			return []retention.Rule{always(t, list(tagSel("matches", "**", ""), labelSel("withLabels", "prod,keep")))}
		}, "lib/app", []int64{5}},
		{"withoutLabels", func(t *testing.T) []retention.Rule {
			return []retention.Rule{always(t, list(tagSel("matches", "**", `{"untagged":false}`), labelSel("withoutLabels", "prod")))}
		}, "lib/app", []int64{2, 3, 6}},
		{"several tag selectors are ANDed", func(t *testing.T) []retention.Rule {
			return []retention.Rule{always(t, list(tagSel("matches", "v*", ""), tagSel("excludes", "v0", "")))}
		}, "lib/app", []int64{1, 2}},
		// The template works on what the selectors chose.
		{"latestPushedK among dev tags", func(t *testing.T) []retention.Rule {
			return []retention.Rule{rule(t, "latestPushedK", 1, list(tagSel("matches", "dev-*", "")), "")}
		}, "lib/app", []int64{6}},
		// Rules are ORed.
		{"two rules", func(t *testing.T) []retention.Rule {
			return []retention.Rule{
				rule(t, "latestPushedK", 1, list(tagSel("matches", "dev-*", `{"untagged":false}`)), ""),
				rule(t, "latestPulledN", 1, list(tagSel("matches", "v*", `{"untagged":false}`)), ""),
			}
		}, "lib/app", []int64{1, 6}},
		{"disabled rules do nothing", func(t *testing.T) []retention.Rule {
			r := rule(t, "always", 0, list(tagSel("matches", "dev-*", "")), "")
			off := rule(t, "always", 0, "", "")
			off.Disabled = true
			return []retention.Rule{r, off}
		}, "lib/app", []int64{3, 4, 6}},
		// Repository selectors see the name without the project.
		{"repoMatches", func(t *testing.T) []retention.Rule {
			return []retention.Rule{rule(t, "latestPushedK", 1, "", repoSel("repoMatches", "app"))}
		}, "lib/app", []int64{1}},
		{"repoMatches * stays in a segment", func(t *testing.T) []retention.Rule {
			return []retention.Rule{rule(t, "latestPushedK", 1, "", repoSel("repoMatches", "team/*"))}
		}, "lib/team/a/b", []int64{1, 2, 3, 4, 5, 6}}, // no rule selects it: all kept
		{"repoMatches ** crosses segments", func(t *testing.T) []retention.Rule {
			return []retention.Rule{rule(t, "latestPushedK", 1, "", repoSel("repoMatches", "team/**"))}
		}, "lib/team/a/b", []int64{1}},
		{"repoMatches does not see the project", func(t *testing.T) []retention.Rule {
			return []retention.Rule{rule(t, "latestPushedK", 1, "", repoSel("repoMatches", "lib/**"))}
		}, "lib/app", []int64{1, 2, 3, 4, 5, 6}},
		{"repoExcludes", func(t *testing.T) []retention.Rule {
			return []retention.Rule{rule(t, "latestPushedK", 1, "", repoSel("repoExcludes", "app"))}
		}, "lib/app", []int64{1, 2, 3, 4, 5, 6}},
		{"repoExcludes another", func(t *testing.T) []retention.Rule {
			return []retention.Rule{rule(t, "latestPushedK", 1, "", repoSel("repoExcludes", "web"))}
		}, "lib/app", []int64{1}},
		{"repository selectors are ANDed", func(t *testing.T) []retention.Rule {
			return []retention.Rule{rule(t, "latestPushedK", 1, "", `[{"kind": "doublestar", "decoration": "repoMatches", "pattern": "a*"},
				{"kind": "doublestar", "decoration": "repoExcludes", "pattern": "app"}]`)}
		}, "lib/app", []int64{1, 2, 3, 4, 5, 6}},
		{"only the rules selecting the repository count", func(t *testing.T) []retention.Rule {
			return []retention.Rule{
				rule(t, "always", 0, "", repoSel("repoMatches", "web")),
				rule(t, "latestPushedK", 2, "", repoSel("repoMatches", "app")),
			}
		}, "lib/app", []int64{1, 2}},
		{"no rules", func(t *testing.T) []retention.Rule { return nil }, "lib/app", []int64{1, 2, 3, 4, 5, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := retained(tc.rules(t), tc.repo)
			if !slices.Equal(got, tc.want) {
				t.Errorf("retained %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEvaluateReportsRules(t *testing.T) {
	rules := []retention.Rule{rule(t, "latestPushedK", 1, "", ""), rule(t, "latestPulledN", 1, "", "")}
	rules[1].ID = 2
	ds := retention.Evaluate(rules, "lib/app", repo(), now)
	if len(ds) != 6 || ds[0].ID != 1 || !slices.Equal(ds[0].Rules, []int{1, 2}) || ds[1].Retain || ds[1].Rules != nil {
		t.Errorf("decisions %+v", ds)
	}
	if !retention.Selects(rules, "lib/app") || retention.Selects([]retention.Rule{rule(t, "always", 0, "", repoSel("repoMatches", "x"))}, "lib/app") {
		t.Error("Selects is wrong")
	}
}
