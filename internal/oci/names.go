package oci

import (
	"regexp"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
)

// The name and tag grammars of the distribution spec.
var (
	nameRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRe  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// MaxNameLength is the longest repository name accepted.
const MaxNameLength = 255

// ValidateRepository checks a full repository name such as "library/alpine".
// Every name must have a project part and a repository part.
func ValidateRepository(name string) error {
	if len(name) > MaxNameLength {
		return errs.E(errs.Invalid, "validate name", "repository name is longer than %d characters", MaxNameLength)
	}
	if !nameRe.MatchString(name) {
		return errs.E(errs.Invalid, "validate name", "invalid repository name %q", name)
	}
	if !strings.Contains(name, "/") {
		return errs.E(errs.Invalid, "validate name", "repository name %q has no project part (want <project>/<repository>)", name)
	}
	return nil
}

// SplitRepository returns the project and the rest of a validated repository name.
func SplitRepository(name string) (project, rest string) {
	project, rest, _ = strings.Cut(name, "/")
	return project, rest
}

// ValidateTag checks a tag name.
func ValidateTag(tag string) error {
	if !tagRe.MatchString(tag) {
		return errs.E(errs.Invalid, "validate tag", "invalid tag %q", tag)
	}
	return nil
}

// IsDigestRef reports whether a manifest reference looks like a digest rather than a tag.
func IsDigestRef(ref string) bool { return strings.Contains(ref, ":") }
