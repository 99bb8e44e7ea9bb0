package artifact

import (
	"context"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/immutable"
	"github.com/berth-dev/berth/internal/store"
)

// Tag immutability, enforced here for every writer (package immutable has
// the rules and their matching). Only writes ask: pointing an immutable
// tag at another digest, deleting it, or deleting an artifact that (or an
// accessory of which, deleted with it) carries one is refused with
// errs.Denied naming the tag and the rule. Pushing an immutable tag's own
// digest again, or creating a new tag a rule covers, is allowed, as in
// Harbor (src/server/middleware/immutable for pushes,
// src/controller/artifact and src/controller/tag for deletes). The rules
// are read from the store on each such write (one indexed query), so every
// replica sees a rule change at once.

// Rules returns the enabled immutability rules of t's project that select
// t's repository (none: nothing there is immutable).
func (s *Service) Rules(ctx context.Context, t Target) ([]immutable.Rule, error) {
	rules, err := s.st.ImmutableRules(ctx, t.ProjectID)
	if err != nil || len(rules) == 0 {
		return nil, err
	}
	return immutable.ForRepository(rules, t.Repository), nil
}

// guardMove refuses to point tags of t's repository at digest when one of
// them is immutable and points at another digest now.
func (s *Service) guardMove(ctx context.Context, t Target, digest string, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	rules, err := s.Rules(ctx, t)
	if err != nil || len(rules) == 0 {
		return err
	}
	for _, tag := range tags {
		rule, ok := immutable.Match(rules, t.Repository, tag)
		if !ok {
			continue
		}
		cur, err := s.st.ArtifactByRef(ctx, t.Repository, tag, false)
		if errs.Is(err, errs.NotFound) {
			continue // a new tag: immutability forbids change, not creation
		}
		if err != nil {
			return err
		}
		if cur.Digest != digest {
			return immutable.Error("put manifest", t.Repository, tag, rule)
		}
	}
	return nil
}

// guardTags refuses op when one of tags of t's repository is immutable.
func (s *Service) guardTags(ctx context.Context, t Target, op string, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	rules, err := s.Rules(ctx, t)
	if err != nil || len(rules) == 0 {
		return err
	}
	for _, tag := range tags {
		if rule, ok := immutable.Match(rules, t.Repository, tag); ok {
			return immutable.Error(op, t.Repository, tag, rule)
		}
	}
	return nil
}

// guardArtifact refuses op, the delete of artifact id of t's repository,
// when it carries an immutable tag, or, with accessories (a delete that
// takes them along), when one of its accessories does.
func (s *Service) guardArtifact(ctx context.Context, t Target, op string, id int64, accessories bool) error {
	rules, err := s.Rules(ctx, t)
	if err != nil || len(rules) == 0 {
		return err
	}
	return s.guardArtifactUnder(ctx, t, rules, op, id, accessories)
}

// GuardDelete is DeleteArtifact's immutability guard without the delete:
// the errs.Denied refusal, naming the tag and the rule, that deleting
// artifact id of t's repository meets because it or an accessory that
// would go with it carries an immutable tag; nil when immutability allows
// the delete. rules are t's repository's (Rules), read once by a caller
// that asks about many artifacts: retention asks for each artifact its
// rules do not retain, in a dry run as in a real one, so that both keep
// what the guard keeps.
func (s *Service) GuardDelete(ctx context.Context, t Target, rules []immutable.Rule, id int64) error {
	if len(rules) == 0 {
		return nil
	}
	return s.guardArtifactUnder(ctx, t, rules, "delete artifact", id, true)
}

// guardArtifactUnder is guardArtifact under rules, the repository's.
func (s *Service) guardArtifactUnder(ctx context.Context, t Target, rules []immutable.Rule, op string, id int64, accessories bool) error {
	ids := []int64{id}
	if accessories {
		accs, err := s.st.ArtifactAccessories(ctx, ids)
		if err != nil {
			return err
		}
		for _, x := range accs[id] {
			ids = append(ids, x.ID)
		}
	}
	tags, err := s.st.ArtifactTags(ctx, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		for _, tag := range tags[id] {
			if rule, ok := immutable.Match(rules, t.Repository, tag.Name); ok {
				return immutable.Error(op, t.Repository, tag.Name, rule)
			}
		}
	}
	return nil
}

// GuardRepository refuses op, the delete of t's repository, when one of
// its tags is immutable. Its tags are read only when a rule selects the
// repository.
func (s *Service) GuardRepository(ctx context.Context, t Target, op string) error {
	rules, err := s.Rules(ctx, t)
	if err != nil || len(rules) == 0 {
		return err
	}
	tags, err := s.st.ListTags(ctx, t.Repository, "", 0)
	if errs.Is(err, errs.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, tag := range tags {
		if rule, ok := immutable.Match(rules, t.Repository, tag); ok {
			return immutable.Error(op, t.Repository, tag, rule)
		}
	}
	return nil
}

// tagsOf lists the tag names of artifact a.
func (s *Service) tagsOf(ctx context.Context, a *store.Artifact) ([]string, error) {
	tags, err := s.st.ArtifactTags(ctx, []int64{a.ID})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range tags[a.ID] {
		names = append(names, t.Name)
	}
	return names, nil
}
