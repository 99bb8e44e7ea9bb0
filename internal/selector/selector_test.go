package selector_test

import (
	"testing"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/selector"
)

// candidate is an artifact as Harbor's selector tests set them up
// (src/lib/selector/selectors/doublestar/selector_test.go): repository
// names there are without their project, as Berth's selectors see them.
type candidate struct {
	repository string // full name, project/repo
	tags       []string
}

var harborCandidates = []candidate{
	{"library/harbor", []string{"latest"}},
	{"retention/redis", []string{"4.0"}},
	{"retention/redis", []string{"4.1"}},
	{"library/special", nil}, // untagged
}

func selected(s selector.Selector, repo bool) []int {
	var out []int
	for i, c := range harborCandidates {
		if (repo && s.SelectsRepository(c.repository)) || (!repo && s.SelectsTags(c.tags)) {
			out = append(out, i)
		}
	}
	return out
}

// TestHarborExamples runs the cases of Harbor's doublestar selector tests
// against the one selector: the same candidates are selected.
func TestHarborExamples(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    selector.Selector
		repo bool
		want []int
	}{
		// TestTagMatches: {latest,4.*} selects latest, 4.0, 4.1 and (by
		// default) the untagged one; 4.* the two redis tags and untagged.
		{"matches {latest,4.*}", selector.Selector{Decoration: selector.Matches, Pattern: "{latest,4.*}"}, false, []int{0, 1, 2, 3}},
		{"matches {latest,4.*} untagged false", selector.Selector{Decoration: selector.Matches, Pattern: "{latest,4.*}", Extras: `{"untagged":false}`}, false, []int{0, 1, 2}},
		{"matches 4.*", selector.Selector{Decoration: selector.Matches, Pattern: "4.*"}, false, []int{1, 2, 3}},
		{"matches 4.* untagged false", selector.Selector{Decoration: selector.Matches, Pattern: "4.*", Extras: `{"untagged":false}`}, false, []int{1, 2}},
		// TestTagExcludes: excluding every tag selects nothing tagged; the
		// untagged one only when extras ask for it (by default not).
		{"excludes {latest,4.*} untagged true", selector.Selector{Decoration: selector.Excludes, Pattern: "{latest,4.*}", Extras: `{"untagged":true}`}, false, []int{3}},
		{"excludes {latest,4.*}", selector.Selector{Decoration: selector.Excludes, Pattern: "{latest,4.*}"}, false, nil},
		{"excludes 4.* untagged true", selector.Selector{Decoration: selector.Excludes, Pattern: "4.*", Extras: `{"untagged":true}`}, false, []int{0, 3}},
		{"excludes 4.*", selector.Selector{Decoration: selector.Excludes, Pattern: "4.*"}, false, []int{0}},
		// TestRepoMatches / TestRepoExcludes.
		{"repoMatches {redis}", selector.Selector{Decoration: selector.RepoMatches, Pattern: "{redis}"}, true, []int{1, 2}},
		{"repoMatches har*", selector.Selector{Decoration: selector.RepoMatches, Pattern: "har*"}, true, []int{0}},
		{"repoMatches re*", selector.Selector{Decoration: selector.RepoMatches, Pattern: "re*"}, true, []int{1, 2}},
		{"repoExcludes {redis}", selector.Selector{Decoration: selector.RepoExcludes, Pattern: "{redis}"}, true, []int{0, 3}},
		{"repoExcludes har*", selector.Selector{Decoration: selector.RepoExcludes, Pattern: "har*"}, true, []int{1, 2, 3}},
		// An unknown decoration selects nothing, in either role.
		{"tag selector with a repository decoration", selector.Selector{Decoration: selector.RepoMatches, Pattern: "**"}, false, nil},
		{"repository selector with a tag decoration", selector.Selector{Decoration: selector.Matches, Pattern: "**"}, true, nil},
	} {
		got := selected(tc.s, tc.repo)
		if len(got) != len(tc.want) {
			t.Errorf("%s: selected %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: selected %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
}

// TestMatch pins the doublestar semantics both rules rely on: * within a
// path segment, ** across them, {a,b} alternatives, classes, the empty
// pattern matching everything and a malformed one nothing.
func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, value string
		want           bool
	}{
		{"**", "app", true},
		{"**", "app/web/v1", true},
		{"*", "app", true},
		{"*", "app/web", false},
		{"app/*", "app/web", true},
		{"app/*", "app/web/api", false},
		{"app/**", "app/web/api", true},
		{"**/web", "team/app/web", true},
		{"{app,web}", "web", true},
		{"{app,web}", "api", false},
		{"{app,web}/**", "app/x/y", true},
		{"v1.*", "v1.2.3", true},
		{"v1.*", "v2.0", false},
		{"1.[0-9]*", "1.7", true},
		{"1.[0-9]*", "1.x", false},
		{"latest", "latest", true},
		{"latest", "latest-1", false},
		{"", "anything/at/all", true},
		{"[", "[", false}, // malformed
	} {
		if got := selector.Match(tc.pattern, tc.value); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.value, got, tc.want)
		}
	}
}

// TestRepositoryWithoutProject: repository selectors see the name without
// its project, whatever its depth.
func TestRepositoryWithoutProject(t *testing.T) {
	s := selector.Selector{Decoration: selector.RepoMatches, Pattern: "app/*"}
	for repo, want := range map[string]bool{"library/app/web": true, "app/web": false, "library/app": false, "other/app/api": true} {
		if got := s.SelectsRepository(repo); got != want {
			t.Errorf("app/* selects %s = %v, want %v", repo, got, want)
		}
	}
	if got := selector.InProject("library/app/web"); got != "app/web" {
		t.Errorf("InProject = %q", got)
	}
}

// TestSelectsTags: matches selects an artifact when any tag matches,
// excludes when any tag does not.
func TestSelectsTags(t *testing.T) {
	m := selector.Selector{Decoration: selector.Matches, Pattern: "v*"}
	x := selector.Selector{Decoration: selector.Excludes, Pattern: "v*"}
	for _, tc := range []struct {
		tags       []string
		wantM, wnX bool
	}{
		{[]string{"v1"}, true, false},
		{[]string{"dev"}, false, true},
		{[]string{"v1", "dev"}, true, true},
	} {
		if got := m.SelectsTags(tc.tags); got != tc.wantM {
			t.Errorf("matches v* %v = %v", tc.tags, got)
		}
		if got := x.SelectsTags(tc.tags); got != tc.wnX {
			t.Errorf("excludes v* %v = %v", tc.tags, got)
		}
	}
	if !m.SelectsTag("v2") || x.SelectsTag("v2") {
		t.Error("SelectsTag disagrees with SelectsTags")
	}
}

func TestCheck(t *testing.T) {
	ok := selector.Selector{Decoration: selector.Matches, Pattern: "v*"}
	if err := selector.Check("op", "s", &ok, selector.Matches, selector.Excludes); err != nil || ok.Kind != selector.Kind {
		t.Fatalf("Check = %v, kind %q", err, ok.Kind)
	}
	for name, s := range map[string]selector.Selector{
		"kind":       {Kind: "regex", Decoration: selector.Matches, Pattern: "v*"},
		"decoration": {Decoration: selector.RepoMatches, Pattern: "v*"},
		"empty":      {Decoration: selector.Matches},
		"space":      {Decoration: selector.Matches, Pattern: "v 1"},
		"malformed":  {Decoration: selector.Matches, Pattern: "["},
		"long":       {Decoration: selector.Matches, Pattern: string(make([]byte, selector.MaxPattern+1))},
	} {
		if err := selector.Check("op", "s", &s, selector.Matches, selector.Excludes); !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: Check = %v, want Invalid", name, err)
		}
	}
}
