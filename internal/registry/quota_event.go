package registry

import (
	"errors"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
)

// quotaExceeded publishes QUOTA_EXCEED when err is the store's refusal of
// a blob upload or mount over the project's storage quota (an errs.Denied
// of the store's "check quota"), naming the blob digest. A manifest PUT's
// refusal is published by the artifact service, which stores manifests.
func (reg *Registry) quotaExceeded(q *request, err error) {
	if strings.Contains(q.r.URL.Path, "/manifests/") {
		return
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		x, ok := e.(*errs.Error)
		if !ok || x.Op != "check quota" || x.Kind != errs.Denied {
			continue
		}
		digest := q.r.URL.Query().Get("digest")
		if digest == "" {
			digest = q.r.URL.Query().Get("mount") // a cross-repository mount
		}
		reg.events.Publish(event.Event{
			Type: event.QuotaExceed, Operator: q.p.Name, ProjectID: q.project.ID, Project: q.project.Name,
			Repository: q.name, Digest: digest, Description: x.Msg,
		})
		return
	}
}
