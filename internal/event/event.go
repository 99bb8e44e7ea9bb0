// Package event is Berth's in-process event bus: the registry and the API
// publish what happened (an artifact pushed, a project deleted, ...) and
// subscribers (the audit log; later webhooks, scanning, replication) react.
// Publish never blocks on a subscriber: each subscriber gets its own
// buffered queue and worker.
package event

import (
	"log/slog"
	"sync"
	"time"
)

// Type names an event, using Harbor's names where Harbor has them.
type Type string

// Event types.
const (
	PushArtifact   Type = "PUSH_ARTIFACT"
	PullArtifact   Type = "PULL_ARTIFACT"
	DeleteArtifact Type = "DELETE_ARTIFACT"
	CreateTag      Type = "CREATE_TAG"
	DeleteTag      Type = "DELETE_TAG"
	// Management operations, recorded in the audit log.
	Operation Type = "OPERATION"
	// A push refused for the project's storage quota, and a project whose
	// usage reached 85% of its quota after a push (Description says how much).
	QuotaExceed  Type = "QUOTA_EXCEED"
	QuotaWarning Type = "QUOTA_WARNING"
	// A tag retention run finished (Retention has the outcome).
	TagRetention Type = "TAG_RETENTION"
)

// Event is something that happened.
type Event struct {
	Type       Type
	Time       time.Time
	Operator   string // user or robot name; "" for anonymous
	ProjectID  int64
	Project    string
	Repository string // full name, project/repo
	Digest     string
	Tag        string
	MediaType  string
	Size       int64
	// For Operation events: Harbor's audit fields.
	Operation    string // create, delete, update, pull, login, ...
	ResourceType string // project, user, robot, member, configuration, artifact, ...
	Resource     string
	Description  string
	Success      bool
	// For TagRetention events: the run's outcome (nil if not known).
	Retention *Retention
}

// OperationOf is the Operation event of a management change by operator
// in project projectID (0 for none): Harbor's audit fields, with the
// description "<operation> <resourceType> <resource>" and its success
// from err.
func OperationOf(operator string, projectID int64, operation, resourceType, resource string, err error) Event {
	return Event{
		Type: Operation, Operator: operator, ProjectID: projectID,
		Operation: operation, ResourceType: resourceType, Resource: resource,
		Description: operation + " " + resourceType + " " + resource, Success: err == nil,
	}
}

// Publisher takes published events.
type Publisher interface{ Publish(Event) }

// Record is what a domain service does after a write: it tells caches
// (changed, when set) and publishes the OperationOf event of the change to
// events (when set).
func Record(events Publisher, changed func(), operator string, projectID int64, operation, resourceType, resource string, err error) {
	if changed != nil {
		changed()
	}
	if events != nil {
		events.Publish(OperationOf(operator, projectID, operation, resourceType, resource, err))
	}
}

// Retention is the outcome of a tag retention run, as Harbor's
// TAG_RETENTION webhook payload reports it.
type Retention struct {
	PolicyID int64
	Status   string // the execution's status (Success, Error, Stopped)
	Total    int    // artifacts considered
	Retained int
	Deleted  []RetentionArtifact
}

// RetentionArtifact is an artifact a retention run deleted.
type RetentionArtifact struct {
	Type       string // IMAGE, CHART, ...
	Status     string // SUCCESS or FAILED
	NameAndTag string // repository:tag, or repository@digest
}

// Bus delivers events to subscribers.
type Bus struct {
	log  *slog.Logger
	mu   sync.RWMutex
	subs []*subscriber
	wg   sync.WaitGroup
}

type subscriber struct {
	name string
	ch   chan Event
	fn   func([]Event)
}

// NewBus returns an empty bus.
func NewBus(log *slog.Logger) *Bus {
	if log == nil {
		log = slog.Default()
	}
	return &Bus{log: log}
}

// Subscribe registers fn, which receives events in batches (in order) on
// its own goroutine. queue bounds how many events may wait; past that,
// events for this subscriber are dropped and counted in the log.
func (b *Bus) Subscribe(name string, queue int, fn func([]Event)) {
	s := &subscriber{name: name, ch: make(chan Event, queue), fn: fn}
	b.mu.Lock()
	b.subs = append(b.subs, s)
	b.mu.Unlock()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for e := range s.ch {
			batch := []Event{e}
		more:
			for len(batch) < 500 {
				select {
				case e, ok := <-s.ch:
					if !ok {
						break more
					}
					batch = append(batch, e)
				default:
					break more
				}
			}
			fn(batch)
		}
	}()
}

// Publish hands e to every subscriber without waiting for them.
func (b *Bus) Publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, s := range b.subs {
		select {
		case s.ch <- e:
		default:
			b.log.Warn("event dropped: subscriber queue full", "subscriber", s.name, "type", e.Type)
		}
	}
}

// Close stops accepting events and waits until subscribers have handled
// every queued one.
func (b *Bus) Close() {
	b.mu.Lock()
	for _, s := range b.subs {
		close(s.ch)
	}
	b.subs = nil
	b.mu.Unlock()
	b.wg.Wait()
}
