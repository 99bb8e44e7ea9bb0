// Package selector is Harbor's doublestar selector, the one matching rule
// behind tag immutability (package immutable) and tag retention (package
// retention).
//
// A selector has a decoration and a pattern. The pattern is a doublestar
// pattern (github.com/bmatcuk/doublestar/v4, as Harbor's
// src/lib/selector/selectors/doublestar uses doublestar): * stays within a
// path segment, ** crosses segments, {a,b} is either alternative and [a-z]
// a class. An empty pattern matches everything; a malformed one matches
// nothing (Harbor returns its error, which skips the rule).
//
// Decorations, as Harbor's selector applies them:
//
//   - repoMatches / repoExcludes select a repository whose name (without
//     its project: "app/web" for library/app/web) the pattern matches /
//     does not match.
//   - matches selects an artifact when any of its tags matches; excludes
//     when any of its tags does not match. An untagged artifact is
//     selected by matches and not by excludes, unless the selector's
//     extras say otherwise ({"untagged": true|false}).
//
// Any other decoration selects nothing.
package selector

import (
	"encoding/json"
	"strings"
	"unicode"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/berth-dev/berth/internal/errs"
)

// Kind is the selector kind this package implements (Harbor's "doublestar").
const Kind = "doublestar"

// Decorations (Harbor's).
const (
	Matches      = "matches"
	Excludes     = "excludes"
	RepoMatches  = "repoMatches"
	RepoExcludes = "repoExcludes"
)

// MaxPattern bounds a pattern's length.
const MaxPattern = 256

// Selector is Harbor's ImmutableSelector and RetentionSelector.
type Selector struct {
	Kind       string `json:"kind"`
	Decoration string `json:"decoration"`
	Pattern    string `json:"pattern"`
	Extras     string `json:"extras,omitempty"`
}

// Match is Harbor's doublestar match: an empty pattern matches every
// value; a malformed pattern matches none.
func Match(pattern, value string) bool {
	if pattern == "" {
		return true
	}
	ok, err := doublestar.Match(pattern, value)
	return err == nil && ok
}

// InProject strips the project from a repository name: library/app/web →
// app/web. Repository selectors see the name without its project, as in
// Harbor.
func InProject(repository string) string {
	if _, rest, ok := strings.Cut(repository, "/"); ok {
		return rest
	}
	return repository
}

// SelectsRepository reports whether s (repoMatches or repoExcludes)
// selects repository, its full name (project/repo).
func (s Selector) SelectsRepository(repository string) bool {
	m := Match(s.Pattern, InProject(repository))
	switch s.Decoration {
	case RepoMatches:
		return m
	case RepoExcludes:
		return !m
	}
	return false
}

// SelectsTag reports whether s (matches or excludes) selects tag.
func (s Selector) SelectsTag(tag string) bool {
	return s.SelectsTags([]string{tag})
}

// SelectsTags reports whether s (matches or excludes) selects an artifact
// with tags: matches when any tag matches, excludes when any tag does not;
// for no tags, what Untagged says.
func (s Selector) SelectsTags(tags []string) bool {
	if s.Decoration != Matches && s.Decoration != Excludes {
		return false
	}
	if len(tags) == 0 {
		return s.Untagged()
	}
	want := s.Decoration == Matches
	for _, t := range tags {
		if Match(s.Pattern, t) == want {
			return true
		}
	}
	return false
}

// Untagged reports whether a tag selector selects untagged artifacts: its
// extras' "untagged" when given, else true for matches and false for
// excludes (Harbor's default, kept from before extras existed).
func (s Selector) Untagged() bool {
	u := s.Decoration != Excludes
	if s.Extras != "" {
		var x struct {
			Untagged *bool `json:"untagged"`
		}
		if json.Unmarshal([]byte(s.Extras), &x) == nil && x.Untagged != nil {
			u = *x.Untagged
		}
	}
	return u
}

// Check validates s as a doublestar selector with one of decorations,
// filling a missing kind (Harbor stores selectors unchecked and its
// clients may omit the kind), and returns an errs.Invalid error of op
// naming where the selector is. Extras are the caller's to check.
func Check(op, where string, s *Selector, decorations ...string) error {
	if s.Kind == "" {
		s.Kind = Kind
	}
	if s.Kind != Kind {
		return errs.E(errs.Invalid, op, "%s.kind must be %q, not %q", where, Kind, s.Kind)
	}
	return CheckPattern(op, where, s, decorations...)
}

// CheckPattern validates the decoration and pattern of s.
func CheckPattern(op, where string, s *Selector, decorations ...string) error {
	found := false
	for _, d := range decorations {
		found = found || s.Decoration == d
	}
	if !found {
		return errs.E(errs.Invalid, op, "%s.decoration must be %s, not %q", where, strings.Join(decorations, " or "), s.Decoration)
	}
	switch {
	case s.Pattern == "":
		return errs.E(errs.Invalid, op, "%s.pattern is required (** selects everything)", where)
	case len(s.Pattern) > MaxPattern:
		return errs.E(errs.Invalid, op, "%s.pattern is longer than %d bytes", where, MaxPattern)
	case strings.IndexFunc(s.Pattern, func(c rune) bool { return unicode.IsControl(c) || unicode.IsSpace(c) }) >= 0:
		return errs.E(errs.Invalid, op, "%s.pattern %q has spaces or control characters", where, s.Pattern)
	case !doublestar.ValidatePattern(s.Pattern):
		return errs.E(errs.Invalid, op, "%s.pattern %q is not a valid doublestar pattern", where, s.Pattern)
	}
	return nil
}
