package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/store"
)

// Test deliveries: a policy's "send a test event" (Berth's own operation,
// like Harbor 1.x's policies/test). The test event goes to every target
// of the policy at once, enabled or not, through the same delivery tasks
// as real events (payload format, signature, auth header, TLS option, the
// deliver handler), but run in the caller's goroutine with one attempt
// each, and recorded in the policy's history as executions with trigger
// TestTrigger.

// Runner runs the tasks of a new execution now and returns once they have
// ended: the job system's RunNow.
type Runner interface {
	RunNow(ctx context.Context, vendorType string, vendorID int64, trigger string, extra any, tasks ...jobs.TaskOf) (int64, error)
}

// TestTrigger is the trigger of test deliveries' executions.
const TestTrigger = "TEST"

// TestRepository is the repository, in the policy's project, that test
// events name (it need not exist); their tag is "test" and their digest
// TestDigest.
const TestRepository = "berth-webhook-test"

// TestDigest is the digest test events name: no artifact has it.
var TestDigest = "sha256:" + strings.Repeat("0", 64)

// Test delivers a test event of policy p (of project proj) to each of the
// policy's targets now, as operator, and returns the IDs of the executions
// that record it: one per vendor type, as for a real event, with trigger
// TestTrigger and extra attribute test=true. The event has the policy's
// first event type, names TestRepository, and carries the custom
// attributes test="true" and Details (what it is); each request has the
// TestHeader. The delivery outcome (response code or error) is in the
// executions' tasks, not in the error, which reports only a failure to
// build or record the deliveries. externalURL is the registry's public URL
// (the host of resource URLs).
func Test(ctx context.Context, run Runner, proj *store.Project, p *store.WebhookPolicy, operator, externalURL string) ([]int64, error) {
	payload := PayloadOf(testEvent(proj, p, operator), proj.Public, hostOf(externalURL))
	if payload.EventData == nil {
		payload.EventData = &EventData{}
	}
	if payload.EventData.Custom == nil {
		payload.EventData.Custom = map[string]string{}
	}
	payload.EventData.Custom["test"] = "true"
	payload.EventData.Custom["Details"] = fmt.Sprintf("Test event of webhook policy %s, sent by %s: nothing happened in project %s.",
		p.Name, payload.Operator, proj.Name)
	id := newID()
	list, err := deliveries(p, payload, id, id, true)
	if err != nil {
		return nil, err
	}
	// The executions run side by side, so the answer waits for the
	// slowest target only.
	ids, errl := make([]int64, len(list)), make([]error, len(list))
	var wg sync.WaitGroup
	for i, d := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errl[i] = run.RunNow(ctx, d.vendor, p.ID, TestTrigger, d.extra, d.tasks...)
		}()
	}
	wg.Wait()
	return slices.DeleteFunc(ids, func(id int64) bool { return id == 0 }), errors.Join(errl...)
}

// testEvent is the event a test delivery of policy p describes.
func testEvent(proj *store.Project, p *store.WebhookPolicy, operator string) event.Event {
	typ := event.PushArtifact
	if len(p.EventTypes) > 0 {
		typ = event.Type(p.EventTypes[0])
	}
	e := event.Event{Type: typ, Time: time.Now(), Operator: operator, ProjectID: proj.ID, Project: proj.Name,
		Repository: proj.Name + "/" + TestRepository, Tag: "test", Digest: TestDigest}
	if typ == event.TagRetention {
		e.Retention = &event.Retention{Status: store.JobSuccess}
	}
	return e
}
