// Package quota is the domain service of storage quotas. Berth's quotas
// are per project (the quota's ID is the project's) and count one
// resource, storage. The service owns Harbor's rules on hard limits and
// who may read and change them (system permissions, asked of auth), and
// publishes the event of every change. A project's own summary shows its
// quota through project.Service (Summary, Quotas), which answers what the
// project's members may see.
package quota

import (
	"context"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// Storage is the one quota resource Harbor (and Berth) counts.
const Storage = "storage"

// MaxReferenceIDs bounds the projects one listing names (as many as a
// page of the API holds).
const MaxReferenceIDs = 100

// Store is what the service reads and writes.
type Store interface {
	ListQuotas(ctx context.Context, q *query.Query, projectID int64, offset, limit int) ([]store.Quota, int64, error)
	GetQuota(ctx context.Context, id int64) (*store.Quota, error)
	SetStorageLimit(ctx context.Context, id, limit int64) error
}

// Auth answers what a caller may do system-wide.
type Auth interface {
	DecideSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) error
}

// Publisher takes the events of the service's changes.
type Publisher interface{ Publish(event.Event) }

// Service is the quota service.
type Service struct {
	st      Store
	auth    Auth
	events  Publisher
	changed func()
}

// New returns a quota service (see project.New for changed).
func New(st Store, a Auth, events Publisher, changed func()) *Service {
	return &Service{st: st, auth: a, events: events, changed: changed}
}

// Filter selects quotas as Harbor's listing parameters do: Reference is
// the kind of owner ("project", or "" for any; the only quotas are
// projects'), ReferenceID the owner's ID. Berth also takes several IDs,
// comma-separated, so that a page of projects can show its quotas with
// one call.
type Filter struct {
	Reference, ReferenceID string
}

// List returns a page of the quotas f selects, in the order sort asks (by
// ID otherwise), and how many there are, to p, who needs the system
// quota:list permission.
func (s *Service) List(ctx context.Context, p *auth.Principal, f Filter, sort []query.SortKey, offset, limit int) ([]store.Quota, int64, error) {
	if err := s.auth.DecideSystem(p, rbac.ResQuota, rbac.List); err != nil {
		return nil, 0, err
	}
	var projectID int64
	empty := f.Reference != "" && f.Reference != "project"
	q := &query.Query{Sort: sort}
	if f.ReferenceID != "" {
		ids := strings.Split(f.ReferenceID, ",")
		for i, x := range ids {
			ids[i] = strings.TrimSpace(x)
			id, err := strconv.ParseInt(ids[i], 10, 64)
			if err != nil || id <= 0 {
				empty = true // names no quota
			}
			projectID = id
		}
		if len(ids) > 1 {
			if len(ids) > MaxReferenceIDs {
				return nil, 0, errs.E(errs.Invalid, "list quotas", "reference_id names at most %d projects, not %d", MaxReferenceIDs, len(ids))
			}
			projectID = 0
			q.Conds = []query.Cond{{Key: "id", Kind: query.Set, Values: ids}}
		}
	}
	if empty {
		return []store.Quota{}, 0, nil
	}
	return s.st.ListQuotas(ctx, q, projectID, offset, limit)
}

// Get returns quota id (the project's ID) to p (system quota:read).
func (s *Service) Get(ctx context.Context, p *auth.Principal, id int64) (*store.Quota, error) {
	if err := s.auth.DecideSystem(p, rbac.ResQuota, rbac.Read); err != nil {
		return nil, err
	}
	return s.st.GetQuota(ctx, id)
}

// Update sets the hard limits of quota id for p (system quota:update):
// hard must set storage alone, -1 (unlimited) or a positive number of
// bytes. A limit below the current usage is allowed (pushes are refused
// until enough is deleted), as in Harbor.
func (s *Service) Update(ctx context.Context, p *auth.Principal, id int64, hard map[string]int64) error {
	const op = "update quota"
	if err := s.auth.DecideSystem(p, rbac.ResQuota, rbac.Update); err != nil {
		return err
	}
	if len(hard) == 0 {
		return errs.E(errs.Invalid, op, "hard must set the storage limit")
	}
	for k := range hard {
		if k != Storage {
			return errs.E(errs.Invalid, op, "unknown quota resource %q (only storage is counted)", k)
		}
	}
	limit := hard[Storage]
	if limit < -1 || limit == 0 {
		return errs.E(errs.Invalid, op, "hard.storage must be -1 (unlimited) or a positive number of bytes, not %d", limit)
	}
	q, err := s.st.GetQuota(ctx, id)
	if err != nil {
		return err
	}
	err = s.st.SetStorageLimit(ctx, id, limit)
	event.Record(s.events, s.changed, p.Name, id, "update", "quota", q.ProjectName, err)
	return err
}
