package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/store"
)

// Store is what webhooks need from the metadata store.
type Store interface {
	EnabledWebhookPolicies(ctx context.Context, projectIDs []int64) (map[int64][]store.WebhookPolicy, error)
	RecordWebhookTriggers(ctx context.Context, triggers []store.WebhookTrigger) error
	GetQuota(ctx context.Context, id int64) (*store.Quota, error)
	SetTaskExtraAttrs(ctx context.Context, taskID int64, extra string) error
}

// Jobs is the job system as webhooks use it.
type Jobs interface {
	Register(k jobs.Kind)
	Submit(ctx context.Context, vendorType string, vendorID int64, trigger string, extra any, tasks ...jobs.TaskOf) (int64, error)
}

// Options configure the service.
type Options struct {
	Logger *slog.Logger
	// ExternalURL is the registry's public URL; its host is the host of
	// resource URLs in payloads.
	ExternalURL string
	// CacheTTL is how long a project's policies are cached (default 10s;
	// API writes in this process drop the cache at once).
	CacheTTL time.Duration
	// Timeout bounds one delivery attempt (default 3s, Harbor's).
	Timeout time.Duration
	// MaxAttempts is the attempts per delivery (default 4: the first and
	// Harbor's webhook_job_max_retry of 3).
	MaxAttempts int
	// Backoff is the wait before retry n (default 2s, 8s, 32s, ...).
	Backoff func(n int) time.Duration
	// WarnPercent is the usage share that raises QUOTA_WARNING (default 85).
	WarnPercent int64
	// UserAgent of deliveries.
	UserAgent string
	// BlockInternal, if set, reports whether deliveries to internal
	// addresses are refused at dial time (the system setting
	// webhook_block_internal_targets; see CheckTarget).
	BlockInternal func() bool
	// Enabled, if set, reports whether events trigger webhooks at all (the
	// system setting notification_enable). As in Harbor, an event that
	// happens while it is off submits no delivery; deliveries submitted
	// before still run, and test deliveries are always sent.
	Enabled func() bool
}

// Service turns events into deliveries and delivers them.
type Service struct {
	st   Store
	jobs Jobs
	opts Options
	log  *slog.Logger
	host string
	pub  interface{ Publish(event.Event) }

	mu     sync.Mutex
	gen    uint64
	cache  map[int64]cached // project ID -> its enabled policies
	warned map[int64]bool   // projects last seen at or above WarnPercent

	clients clients
}

type cached struct {
	policies []store.WebhookPolicy
	until    time.Time
}

// New builds the service; Register and Subscribe put it to work.
func New(st Store, j Jobs, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 10 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 3 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 4
	}
	if opts.Backoff == nil {
		opts.Backoff = func(n int) time.Duration {
			return min(2*time.Second<<(2*max(n-1, 0)), 5*time.Minute)
		}
	}
	if opts.WarnPercent <= 0 {
		opts.WarnPercent = 85
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "Berth-Webhook"
	}
	return &Service{st: st, jobs: j, opts: opts, log: opts.Logger, host: hostOf(opts.ExternalURL), pub: discard{},
		cache: map[int64]cached{}, warned: map[int64]bool{}, clients: newClients(opts.Timeout)}
}

// hostOf is the host (and port) of externalURL, "" if it has none.
func hostOf(externalURL string) string {
	if u, err := url.Parse(externalURL); err == nil {
		return u.Host
	}
	return ""
}

type discard struct{}

func (discard) Publish(event.Event) {}

// Subscribe makes the service react to the events published on bus; the
// QUOTA_WARNING events it derives are published there too.
func (s *Service) Subscribe(bus *event.Bus) {
	s.pub = bus
	bus.Subscribe("webhook", 4096, func(batch []event.Event) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s.Handle(ctx, batch)
	})
}

// Invalidate drops the cached policies (after a policy changed).
func (s *Service) Invalidate() {
	s.mu.Lock()
	s.gen++
	clear(s.cache)
	s.mu.Unlock()
}

// policies returns the enabled policies of projects ids, from the cache
// when fresh, loading the others in one query.
func (s *Service) policies(ctx context.Context, ids []int64) (map[int64][]store.WebhookPolicy, error) {
	out := map[int64][]store.WebhookPolicy{}
	var missing []int64
	now := time.Now()
	s.mu.Lock()
	gen := s.gen
	for _, id := range ids {
		if c, ok := s.cache[id]; ok && now.Before(c.until) {
			out[id] = c.policies
		} else {
			missing = append(missing, id)
		}
	}
	s.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	loaded, err := s.st.EnabledWebhookPolicies(ctx, missing)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range missing {
		out[id] = loaded[id]
		if s.gen == gen { // nothing changed while loading
			s.cache[id] = cached{policies: loaded[id], until: now.Add(s.opts.CacheTTL)}
		}
	}
	return out, nil
}

func listens(p *store.WebhookPolicy, t event.Type) bool {
	return slices.Contains(p.EventTypes, string(t))
}

// Handle submits the deliveries that a batch of events calls for.
func (s *Service) Handle(ctx context.Context, batch []event.Event) {
	if s.opts.Enabled != nil && !s.opts.Enabled() {
		return
	}
	var ids []int64
	for _, e := range batch {
		if e.ProjectID > 0 && slices.Contains(EventTypes, string(e.Type)) && !slices.Contains(ids, e.ProjectID) {
			ids = append(ids, e.ProjectID)
		}
	}
	if len(ids) == 0 {
		return
	}
	byProject, err := s.policies(ctx, ids)
	if err != nil {
		s.log.Error("webhook policies", "err", err)
		return
	}
	var triggers []store.WebhookTrigger
	lastPush := map[int64]event.Event{}
	for _, e := range batch {
		policies := byProject[e.ProjectID]
		if len(policies) == 0 {
			continue
		}
		if e.Type == event.PushArtifact {
			lastPush[e.ProjectID] = e
		}
		id, requestID := newID(), newID()
		for i := range policies {
			p := &policies[i]
			if !listens(p, e.Type) {
				continue
			}
			if err := s.trigger(ctx, p, e, id, requestID); err != nil {
				s.log.Error("submitting webhook delivery", "policy", p.ID, "event", e.Type, "err", err)
				continue
			}
			triggers = append(triggers, store.WebhookTrigger{PolicyID: p.ID, EventType: string(e.Type), At: e.Time.UnixMilli()})
		}
	}
	if err := s.st.RecordWebhookTriggers(ctx, triggers); err != nil {
		s.log.Warn("recording webhook trigger times", "err", err)
	}
	for pid, e := range lastPush {
		if slices.ContainsFunc(byProject[pid], func(p store.WebhookPolicy) bool { return listens(&p, event.QuotaWarning) }) {
			s.checkQuota(ctx, e)
		}
	}
}

// delivery is a task's parameters: what to send where.
type delivery struct {
	PolicyID    int64               `json:"policy_id"`
	EventType   string              `json:"event_type"`
	Target      store.WebhookTarget `json:"target"`
	ContentType string              `json:"content_type"`
	Body        string              `json:"body"`
	Signature   string              `json:"signature"`
	Test        bool                `json:"test,omitempty"` // a test delivery (TestHeader)
}

// trigger submits the deliveries of e to policy p's targets: one execution
// per vendor type (WEBHOOK for HTTP targets, SLACK for Slack ones) with a
// task per target.
func (s *Service) trigger(ctx context.Context, p *store.WebhookPolicy, e event.Event, id, requestID string) error {
	list, err := deliveries(p, PayloadOf(e, p.ProjectPublic, s.host), id, requestID, false)
	if err != nil {
		return err
	}
	for _, d := range list {
		if _, err := s.jobs.Submit(ctx, d.vendor, p.ID, jobs.Event, d.extra, d.tasks...); err != nil {
			return err
		}
	}
	return nil
}

// execution is what one execution of a delivery holds: its vendor type,
// extra attributes and tasks (one per target).
type execution struct {
	vendor string
	extra  map[string]any
	tasks  []jobs.TaskOf
}

// deliveries renders payload for each of policy p's targets and groups the
// delivery tasks by vendor type (WEBHOOK first when the first target is an
// HTTP one), keeping the targets' order within each group.
func deliveries(p *store.WebhookPolicy, payload Payload, id, requestID string, test bool) ([]execution, error) {
	def, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	var out []execution
	for _, t := range p.Targets {
		body, ctype, err := Render(t, p, payload, id, requestID)
		if err != nil {
			return nil, err
		}
		vendor := store.WebhookVendor
		if t.Type == NotifySlack {
			vendor = store.SlackVendor
		}
		i := slices.IndexFunc(out, func(x execution) bool { return x.vendor == vendor })
		if i < 0 {
			extra := map[string]any{"event_type": payload.Type, "payload": string(def)}
			if test {
				extra["test"] = true
			}
			out = append(out, execution{vendor: vendor, extra: extra})
			i = len(out) - 1
		}
		out[i].tasks = append(out[i].tasks, jobs.TaskOf{
			Kind: vendor,
			Params: delivery{PolicyID: p.ID, EventType: payload.Type, Target: t, ContentType: ctype,
				Body: string(body), Signature: Sign(p.Secret, body), Test: test},
			Extra: taskExtra(t),
		})
	}
	return out, nil
}

// taskExtra is what a delivery task shows before its first attempt.
func taskExtra(t store.WebhookTarget) map[string]any {
	x := map[string]any{"notify_type": t.Type, "address": redact(t.Address)}
	if t.PayloadFormat != "" {
		x["payload_format"] = t.PayloadFormat
	}
	return x
}

// redact keeps scheme, host and path of an address (a query may hold a token).
func redact(address string) string {
	u, err := url.Parse(address)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// checkQuota publishes QUOTA_WARNING when the project of push e has
// reached WarnPercent of its quota since it was last seen below it.
func (s *Service) checkQuota(ctx context.Context, e event.Event) {
	q, err := s.st.GetQuota(ctx, e.ProjectID)
	if err != nil {
		s.log.Warn("reading quota for QUOTA_WARNING", "project", e.ProjectID, "err", err)
		return
	}
	over := q.Hard > 0 && q.Used*100 >= q.Hard*s.opts.WarnPercent
	s.mu.Lock()
	was := s.warned[e.ProjectID]
	if over {
		s.warned[e.ProjectID] = true
	} else {
		delete(s.warned, e.ProjectID)
	}
	s.mu.Unlock()
	if !over || was {
		return
	}
	s.pub.Publish(event.Event{
		Type: event.QuotaWarning, Operator: e.Operator, ProjectID: e.ProjectID, Project: e.Project,
		Repository: e.Repository, Digest: e.Digest, Tag: e.Tag,
		Description: fmt.Sprintf("project %s uses %s of its %s storage quota (%d%%), at or above the %d%% warning level",
			e.Project, byteSize(q.Used), byteSize(q.Hard), q.Used*100/q.Hard, s.opts.WarnPercent),
	})
}

// byteSize formats n in 1024-based units, as Harbor's quota messages do.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// NotifyType returns the notify type (http, slack) of deliveries of vendor
// type vendor (WEBHOOK, SLACK).
func NotifyType(vendor string) string {
	if strings.EqualFold(vendor, store.SlackVendor) {
		return NotifySlack
	}
	return NotifyHTTP
}
