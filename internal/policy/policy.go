// Package policy is the domain service of a project's tag policies: its
// tag retention policy (Retention: the rules, the schedule, the runs and
// their logs) and its tag immutability rules (Immutable). Each service
// owns the rules of its resource: validation (package retention and
// package immutable hold the policies' own rules, and are called here),
// who may do what (asked of auth, never worked out here), the audit event
// of every change, and the project's link to its retention policy (its
// metadata retention_id, which the store keeps in the transaction that
// creates or deletes the policy). The REST API decodes requests and
// encodes answers; the web console calls the same services with its
// session's principal.
//
// Enforcement of immutability is not here: the artifact service (package
// artifact) is the one that asks the rules, for every writer (/v2, the
// API, retention runs and their dry runs alike).
package policy

import (
	"context"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// Auth answers what a caller may do in a project: the set enforcement
// checks (auth.Decide turns it into the answer).
type Auth interface {
	ProjectPermissions(ctx context.Context, p *auth.Principal, project *store.Project) (rbac.Set, error)
}

// Publisher takes the events of the services' changes.
type Publisher interface{ Publish(event.Event) }

// base is what both services share: the permission question and the
// record of a change.
type base struct {
	auth    Auth
	events  Publisher
	changed func()
}

// require checks that p may do act on res in project (auth.Decide): a
// caller holding nothing there gets the hidden project's NotFound.
func (b *base) require(ctx context.Context, p *auth.Principal, project *store.Project, res rbac.Resource, act rbac.Action) error {
	return auth.Require(ctx, b.auth, p, project, res, act)
}

// record publishes the event of a change by p (err: its failure) and
// tells caches that something changed.
func (b *base) record(p *auth.Principal, projectID int64, operation, resourceType, resource string, err error) {
	event.Record(b.events, b.changed, p.Name, projectID, operation, resourceType, resource, err)
}
