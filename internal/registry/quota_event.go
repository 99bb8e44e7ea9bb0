package registry

import (
	"errors"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
)

// quotaExceeded publishes QUOTA_EXCEED when err is the store's refusal of
// a push over the project's storage quota (an errs.Denied of the store's
// "check quota"), naming what was refused: the manifest (tag or digest) of
// a manifest PUT, else the blob digest of an upload or mount.
func (reg *Registry) quotaExceeded(q *request, ref string, err error) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		x, ok := e.(*errs.Error)
		if !ok || x.Op != "check quota" || x.Kind != errs.Denied {
			continue
		}
		digest, tag := q.r.URL.Query().Get("digest"), ""
		if digest == "" {
			digest = q.r.URL.Query().Get("mount") // a cross-repository mount
		}
		if q.r.Method == http.MethodPut && strings.Contains(q.r.URL.Path, "/manifests/") {
			digest = ""
			if strings.Contains(ref, ":") {
				digest = ref
			} else {
				tag = ref
			}
		}
		reg.events.Publish(event.Event{
			Type: event.QuotaExceed, Operator: q.p.Name, ProjectID: q.project.ID, Project: q.project.Name,
			Repository: q.name, Digest: digest, Tag: tag, Description: x.Msg,
		})
		return
	}
}
