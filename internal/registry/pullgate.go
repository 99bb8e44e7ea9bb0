package registry

import (
	"errors"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/pullgate"
	"github.com/berth-dev/berth/internal/store"
)

// checkPull evaluates the project's pull policies (internal/pullgate,
// docs/pullgate.md) for manifest m, on GET and HEAD. A project without a
// policy on costs reading four keys of the cached project's metadata; with
// one, the artifact's signatures are read in one statement. A refusal is
// 412 PROJECTPOLICYVIOLATION with Harbor's message.
func (reg *Registry) checkPull(q *request, m *store.ManifestRef) error {
	if reg.noPullGate {
		return nil
	}
	policy := pullgate.PolicyOf(q.project.Metadata)
	if !policy.On() {
		return nil
	}
	ctx := q.r.Context()
	sigs, err := reg.st.ArtifactSignatures(ctx, m.ArtifactID)
	if err != nil {
		return err
	}
	a := pullgate.Artifact{
		Signed:      map[oci.Signature]bool{oci.Cosign: sigs.CosignTagged},
		IsSignature: sigs.Self != oci.NoSignature || sigs.SelfTagged,
		Index:       oci.IsIndexType(m.MediaType),
		Kind:        sigs.Kind,
	}
	for _, k := range sigs.Referrers {
		a.Signed[k] = true
	}
	caller := pullgate.Caller{
		UserAgent: q.r.UserAgent(),
		CanPush: func() bool {
			for _, act := range reg.gate.Actions(ctx, q.p, q.project) {
				if act == auth.Push {
					return true
				}
			}
			return false
		},
	}
	// Berth has no scanner: the zero Scan (none for this artifact).
	err = pullgate.Check(policy, a, caller, pullgate.Scan{})
	var v *pullgate.Violation
	if errors.As(err, &v) {
		return failf(codePolicyViolation, v.Message)
	}
	return err
}
