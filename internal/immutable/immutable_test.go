package immutable_test

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/immutable"
)

func rule(id int64, repoDeco, repoPat, tagDeco, tagPat string) immutable.Rule {
	return immutable.Rule{
		ID: id, Action: immutable.Action, Template: immutable.Template,
		TagSelectors: []immutable.Selector{{Kind: "doublestar", Decoration: tagDeco, Pattern: tagPat}},
		ScopeSelectors: map[string][]immutable.Selector{
			"repository": {{Kind: "doublestar", Decoration: repoDeco, Pattern: repoPat}},
		},
	}
}

func TestImmutableMatch(t *testing.T) {
	all := rule(1, "repoMatches", "**", "matches", "**")
	releases := rule(2, "repoMatches", "**", "matches", "v*")
	webOnly := rule(3, "repoMatches", "app/web", "matches", "**")
	oneLevel := rule(4, "repoMatches", "*", "matches", "prod")
	notTmp := rule(5, "repoExcludes", "tmp/**", "excludes", "dev-*")
	braces := rule(6, "repoMatches", "{api,db}", "matches", "{1,2}.[0-9]*")
	disabled := rule(7, "repoMatches", "**", "matches", "**")
	disabled.Disabled = true
	empty := rule(8, "repoMatches", "", "matches", "")

	for _, c := range []struct {
		name      string
		rules     []immutable.Rule
		repo, tag string
		want      int64 // rule ID, 0 for not immutable
	}{
		{"no rules", nil, "library/app", "v1", 0},
		{"** everything", []immutable.Rule{all}, "library/a/b/c", "anything", 1},
		{"tag prefix", []immutable.Rule{releases}, "library/app", "v1.2", 2},
		{"tag prefix miss", []immutable.Rule{releases}, "library/app", "latest", 0},
		{"repo without project", []immutable.Rule{webOnly}, "library/app/web", "x", 3},
		{"repo pattern is not the full name", []immutable.Rule{rule(9, "repoMatches", "library/**", "matches", "**")}, "library/app", "x", 0},
		{"repo miss", []immutable.Rule{webOnly}, "library/app/api", "x", 0},
		{"* stays in one segment", []immutable.Rule{oneLevel}, "library/app", "prod", 4},
		{"* does not cross /", []immutable.Rule{oneLevel}, "library/app/web", "prod", 0},
		{"excludes both: selected", []immutable.Rule{notTmp}, "library/app", "v1", 5},
		{"excluded tag", []immutable.Rule{notTmp}, "library/app", "dev-1", 0},
		{"excluded repo", []immutable.Rule{notTmp}, "library/tmp/x", "v1", 0},
		{"braces and classes", []immutable.Rule{braces}, "p/db", "2.5", 6},
		{"braces miss", []immutable.Rule{braces}, "p/web", "2.5", 0},
		{"class miss", []immutable.Rule{braces}, "p/api", "1.x", 0},
		{"disabled rule does not apply", []immutable.Rule{disabled}, "library/app", "v1", 0},
		{"first matching rule named", []immutable.Rule{disabled, releases, all}, "library/app", "v1", 2},
		{"later rule when the first misses", []immutable.Rule{releases, all}, "library/app", "latest", 1},
		{"empty patterns select all (Harbor)", []immutable.Rule{empty}, "library/app", "x", 8},
		{"project-level repository", []immutable.Rule{webOnly}, "web", "x", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, ok := immutable.Match(c.rules, c.repo, c.tag)
			if ok != (c.want != 0) || ok && r.ID != c.want {
				t.Fatalf("Match(%s, %s) = %v, %v; want rule %d", c.repo, c.tag, r, ok, c.want)
			}
			// ForRepository then Match gives the same answer.
			r2, ok2 := immutable.Match(immutable.ForRepository(c.rules, c.repo), c.repo, c.tag)
			if ok2 != ok || ok && r2.ID != r.ID {
				t.Fatalf("ForRepository+Match = %v, %v; Match = %v, %v", r2, ok2, r, ok)
			}
		})
	}
}

func TestImmutableNormalize(t *testing.T) {
	good := func() immutable.Rule {
		r := rule(0, "repoMatches", "**", "matches", "v*")
		r.Action, r.Template = "", ""
		return r
	}
	r := good()
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	if r.Action != "immutable" || r.Template != "immutable_template" || r.Params == nil {
		t.Fatalf("defaults not filled: %+v", r)
	}
	for _, c := range []struct {
		name   string
		change func(r *immutable.Rule)
		want   string
	}{
		{"action", func(r *immutable.Rule) { r.Action = "retain" }, "action"},
		{"template", func(r *immutable.Rule) { r.Template = "always" }, "template"},
		{"no tag selector", func(r *immutable.Rule) { r.TagSelectors = nil }, "tag_selectors"},
		{"two tag selectors", func(r *immutable.Rule) { r.TagSelectors = append(r.TagSelectors, r.TagSelectors[0]) }, "tag_selectors"},
		{"tag kind", func(r *immutable.Rule) { r.TagSelectors[0].Kind = "regex" }, "kind"},
		{"tag decoration", func(r *immutable.Rule) { r.TagSelectors[0].Decoration = "repoMatches" }, "decoration"},
		{"empty pattern", func(r *immutable.Rule) { r.TagSelectors[0].Pattern = "" }, "pattern is required"},
		{"bad pattern", func(r *immutable.Rule) { r.TagSelectors[0].Pattern = "v[1" }, "not a valid doublestar"},
		{"unclosed brace", func(r *immutable.Rule) { r.TagSelectors[0].Pattern = "{a,b" }, "not a valid doublestar"},
		{"space in pattern", func(r *immutable.Rule) { r.TagSelectors[0].Pattern = "v 1" }, "spaces"},
		{"long pattern", func(r *immutable.Rule) { r.TagSelectors[0].Pattern = strings.Repeat("a", 300) }, "longer"},
		{"extras not JSON", func(r *immutable.Rule) { r.TagSelectors[0].Extras = "{" }, "extras"},
		{"no scope", func(r *immutable.Rule) { r.ScopeSelectors = nil }, "scope_selectors.repository"},
		{"other scope key", func(r *immutable.Rule) { r.ScopeSelectors["namespace"] = r.ScopeSelectors["repository"] }, "only have the key"},
		{"repo decoration", func(r *immutable.Rule) { r.ScopeSelectors["repository"][0].Decoration = "matches" }, "decoration"},
		{"repo kind", func(r *immutable.Rule) { r.ScopeSelectors["repository"][0].Kind = "label" }, "kind"},
		{"repo pattern", func(r *immutable.Rule) { r.ScopeSelectors["repository"][0].Pattern = "[" }, "not a valid doublestar"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := good()
			c.change(&r)
			err := r.Normalize()
			if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Normalize = %v, want an Invalid error mentioning %q", err, c.want)
			}
		})
	}
}

// TestImmutableSelectorKindDefault: a selector without a kind is a
// doublestar one (Harbor stores rules unchecked, and doublestar is the one
// kind it registers), filled in by Normalize.
func TestImmutableSelectorKindDefault(t *testing.T) {
	r := rule(0, "repoMatches", "app/**", "matches", "v*")
	r.TagSelectors[0].Kind = ""
	r.ScopeSelectors["repository"][0].Kind = ""
	if err := r.Normalize(); err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	if r.TagSelectors[0].Kind != "doublestar" || r.ScopeSelectors["repository"][0].Kind != "doublestar" {
		t.Fatalf("kinds not filled: %+v %+v", r.TagSelectors[0], r.ScopeSelectors["repository"][0])
	}
}

func TestImmutableKeyAndString(t *testing.T) {
	a := rule(3, "repoMatches", "**", "matches", "v*")
	b := rule(4, "repoMatches", "**", "matches", "v*")
	b.Disabled, b.Priority = true, 9
	if a.Key() != b.Key() {
		t.Fatal("rules selecting the same are not duplicates")
	}
	c := rule(5, "repoExcludes", "**", "matches", "v*")
	if a.Key() == c.Key() {
		t.Fatal("rules differing in decoration are duplicates")
	}
	if got, want := a.String(), "rule 3: repositories ** tags v*"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	ex := rule(4, "repoExcludes", "tmp/**", "excludes", "dev-*")
	if got, want := ex.String(), "rule 4: repositories except tmp/** tags except dev-*"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
	err := immutable.Error("put manifest", "library/app", "v1", &a)
	if !errs.Is(err, errs.Denied) || errs.Message(err) != "tag v1 in library/app is immutable (rule 3: repositories ** tags v*)" {
		t.Fatalf("Error = %v (%q)", err, errs.Message(err))
	}
}
