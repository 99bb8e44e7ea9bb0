// Package webhook delivers project events to HTTP endpoints and Slack, as
// Harbor's webhooks do, through the durable job system.
//
// Flow: the service subscribes to the event bus. For each batch it looks
// up the enabled policies of the projects concerned (cached per project
// for a few seconds, dropped at once when the API changes something), and
// for every event a policy listens to it renders the payload for each of
// the policy's targets and submits one execution (vendor type WEBHOOK, or
// SLACK for Slack targets; vendor ID the policy's; trigger EVENT) with one
// task per target. The task's parameters are the exact bytes to send, so a
// retry or a re-send delivers the same body with the same signature.
//
// Payloads: Harbor's default JSON ({type, occur_at, operator, event_data}),
// CloudEvents 1.0 in structured mode (harbor.artifact.pushed ..., with the
// requestid and operator extensions), or a Slack Block Kit message.
//
// Delivery: a POST with the target's Authorization header, if it has one,
// and X-Berth-Signature-256: sha256=<hex HMAC-SHA256 of the body keyed by
// the policy's secret> (Berth's addition; docs/webhooks.md shows how to
// verify it). Any 2xx is success; anything else, a timeout (3 s, Harbor's)
// or a refused connection fails the attempt, which is retried with backoff
// (Harbor's webhook_job_max_retry, 3 retries). Redirects are not followed
// and response bodies are neither kept nor logged (Harbor learned both the
// hard way); each attempt's response code is kept in the task's extra
// attributes and log.
//
// Test deliveries (Test) send a made-up event of a policy to its targets
// at once, through the same tasks run in the caller (jobs.Service.RunNow),
// recorded as executions with trigger TEST.
//
// QUOTA_WARNING is derived here: after a batch with pushes into a project
// whose policies listen to it, the project's usage is read, and the event
// is published when usage has reached 85% of the limit since the last
// reading below it (per process).
package webhook

import (
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/store"
)

// Notify types (target types).
const (
	NotifyHTTP  = "http"
	NotifySlack = "slack"
)

// Payload formats of HTTP targets.
const (
	FormatDefault     = "Default"
	FormatCloudEvents = "CloudEvents"
)

// EventTypes are the event types policies may listen to, in Harbor's order.
// Scanning and replication events come with those features.
var EventTypes = []string{
	string(event.PushArtifact), string(event.PullArtifact), string(event.DeleteArtifact),
	string(event.QuotaExceed), string(event.QuotaWarning), string(event.TagRetention),
}

// NotifyTypes are the target types.
var NotifyTypes = []string{NotifyHTTP, NotifySlack}

// PayloadFormats are the payload formats by notify type (Slack has its own).
var PayloadFormats = map[string][]string{NotifyHTTP: {FormatDefault, FormatCloudEvents}}

// Limits of a policy.
const (
	maxName    = 255
	maxTargets = 10
)

// Validate checks policy p (name, event types, targets) and normalises it:
// event types deduplicated, HTTP targets without a payload format get
// Default. It returns an errs.Invalid naming the first problem.
func Validate(p *store.WebhookPolicy) error {
	const op = "webhook policy"
	name := strings.TrimSpace(p.Name)
	switch {
	case name == "":
		return errs.E(errs.Invalid, op, "name is required")
	case name != p.Name:
		return errs.E(errs.Invalid, op, "name %q has leading or trailing spaces", p.Name)
	case len(name) > maxName:
		return errs.E(errs.Invalid, op, "name is longer than %d characters", maxName)
	case strings.ContainsAny(name, `/\`) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		return errs.E(errs.Invalid, op, "name %q may not contain slashes or control characters", p.Name)
	}
	if len(p.EventTypes) == 0 {
		return errs.E(errs.Invalid, op, "event_types is empty: choose from %s", strings.Join(EventTypes, ", "))
	}
	var events []string
	for _, t := range p.EventTypes {
		if !slices.Contains(EventTypes, t) {
			return errs.E(errs.Invalid, op, "unsupported event type %q: choose from %s", t, strings.Join(EventTypes, ", "))
		}
		if !slices.Contains(events, t) {
			events = append(events, t)
		}
	}
	p.EventTypes = events
	if len(p.Targets) == 0 {
		return errs.E(errs.Invalid, op, "targets is empty: a policy needs at least one target")
	}
	if len(p.Targets) > maxTargets {
		return errs.E(errs.Invalid, op, "a policy has at most %d targets", maxTargets)
	}
	for i := range p.Targets {
		t := &p.Targets[i]
		switch t.Type {
		case NotifyHTTP:
			if t.PayloadFormat == "" {
				t.PayloadFormat = FormatDefault
			}
			if !slices.Contains(PayloadFormats[NotifyHTTP], t.PayloadFormat) {
				return errs.E(errs.Invalid, op, "unsupported payload format %q: choose Default or CloudEvents", t.PayloadFormat)
			}
		case NotifySlack:
			if t.PayloadFormat != "" {
				return errs.E(errs.Invalid, op, "slack targets take no payload format")
			}
		default:
			return errs.E(errs.Invalid, op, "unsupported target type %q: choose http or slack", t.Type)
		}
		u, err := url.Parse(t.Address)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
			return errs.E(errs.Invalid, op, "target address %q must be an absolute http or https URL without credentials", t.Address)
		}
		if strings.IndexFunc(t.AuthHeader, func(r rune) bool { return r == '\r' || r == '\n' || r == 0 }) >= 0 {
			return errs.E(errs.Invalid, op, "auth_header may not contain line breaks")
		}
	}
	return nil
}
