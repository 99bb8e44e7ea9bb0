package registry

import (
	"context"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/immutable"
)

// Tag immutability on /v2 (package immutable has the rules). Only writes
// ask: a manifest PUT that would move an immutable tag to another digest,
// and a DELETE of an immutable tag or of a manifest that carries one, are
// refused with DENIED naming the tag and the rule. Pushing an immutable
// tag's own digest again, or creating a new tag a rule covers, is allowed.
// The rules are read from the store on each such write (one indexed
// query), so every replica sees a rule change at once.

// immutableRules returns the enabled rules of q's project that select q's
// repository.
func (reg *Registry) immutableRules(ctx context.Context, q *request) ([]immutable.Rule, error) {
	rules, err := reg.st.ImmutableRules(ctx, q.project.ID)
	if err != nil || len(rules) == 0 {
		return nil, err
	}
	return immutable.ForRepository(rules, q.name), nil
}

// denyImmutable is the OCI refusal for tag under rule.
func denyImmutable(op, repository, tag string, rule *immutable.Rule) error {
	return fail(codeDenied, immutable.Error(op, repository, tag, rule))
}

// guardPush refuses to point tags at digest when one of them is immutable
// and points at another digest now.
func (reg *Registry) guardPush(ctx context.Context, q *request, digest string, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	rules, err := reg.immutableRules(ctx, q)
	if err != nil || len(rules) == 0 {
		return err
	}
	for _, t := range tags {
		rule, ok := immutable.Match(rules, q.name, t)
		if !ok {
			continue
		}
		cur, err := reg.st.ResolveManifest(ctx, q.name, t, false, false)
		if errs.Is(err, errs.NotFound) {
			continue // a new tag: immutability forbids change, not creation
		}
		if err != nil {
			return err
		}
		if cur.Digest != digest {
			return denyImmutable("put manifest", q.name, t, rule)
		}
	}
	return nil
}

// guardDeleteTag refuses to delete tag when it exists and is immutable.
func (reg *Registry) guardDeleteTag(ctx context.Context, q *request, tag string) error {
	rules, err := reg.immutableRules(ctx, q)
	if err != nil || len(rules) == 0 {
		return err
	}
	rule, ok := immutable.Match(rules, q.name, tag)
	if !ok {
		return nil
	}
	if _, err := reg.st.ResolveManifest(ctx, q.name, tag, false, false); errs.Is(err, errs.NotFound) {
		return nil // the delete reports it missing
	} else if err != nil {
		return err
	}
	return denyImmutable("delete tag", q.name, tag, rule)
}

// guardDeleteManifest refuses to delete the manifest digest when it
// carries an immutable tag.
func (reg *Registry) guardDeleteManifest(ctx context.Context, q *request, digest string) error {
	rules, err := reg.immutableRules(ctx, q)
	if err != nil || len(rules) == 0 {
		return err
	}
	tags, err := reg.st.ManifestTags(ctx, q.name, digest)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if rule, ok := immutable.Match(rules, q.name, t); ok {
			return denyImmutable("delete manifest", q.name, t, rule)
		}
	}
	return nil
}
