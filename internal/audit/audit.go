// Package audit turns events into audit log records: every push, pull,
// delete and every management operation, with operator, resource, result
// and time. Records are written in batches by the bus subscriber, so a pull
// never waits for an audit write.
//
// It also owns what happens to records afterwards: forwarding each one to
// a syslog endpoint over TCP (forward.go; optionally instead of the
// database) and purging old ones with the PURGE_AUDIT_LOG job (purge.go).
package audit

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/store"
)

// Store is where records go.
type Store interface {
	InsertAuditEntries(ctx context.Context, entries []store.AuditEntry) error
}

// Options tune what is recorded.
type Options struct {
	// Disabled, if set, reports event types (operation_resource, such as
	// "pull_artifact") to leave out (Harbor's disabled_audit_log_event_types).
	Disabled func(eventType string) bool
	// Forward, if set, reports where records are also sent (Harbor's
	// audit_log_forward_endpoint, "host:port"; "" for nowhere) and whether
	// they are then left out of the database (skip_audit_log_database,
	// honoured only while an endpoint is set, so no record is ever lost to
	// a configuration mistake). It is read for every batch.
	Forward func() (endpoint string, skipDatabase bool)
	// ForwardOptions tune the forwarder.
	ForwardOptions ForwardOptions
}

// Subscribe records every event published on bus into st, and forwards
// it when opts.Forward names an endpoint. It returns the forwarder (nil
// without opts.Forward).
func Subscribe(bus *event.Bus, st Store, log *slog.Logger, opts Options) *Forwarder {
	var fwd *Forwarder
	if opts.Forward != nil {
		fwd = NewForwarder(func() string { ep, _ := opts.Forward(); return ep }, log, opts.ForwardOptions)
	}
	bus.Subscribe("audit", 16384, func(batch []event.Event) {
		entries := make([]store.AuditEntry, 0, len(batch))
		for _, e := range batch {
			en, ok := Entry(e)
			if !ok || opts.Disabled != nil && opts.Disabled(en.Operation+"_"+en.ResourceType) {
				continue
			}
			entries = append(entries, en)
		}
		if fwd != nil && len(entries) > 0 {
			if ep, skip := opts.Forward(); ep != "" {
				fwd.Send(entries)
				if skip {
					return
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := st.InsertAuditEntries(ctx, entries); err != nil {
			log.Error("writing audit log", "err", err, "entries", len(entries))
		}
	})
	return fwd
}

// Entry converts an event to its audit record.
func Entry(e event.Event) (store.AuditEntry, bool) {
	en := store.AuditEntry{ProjectID: e.ProjectID, Username: e.Operator, Success: true, OpTime: e.Time.UnixMilli()}
	if en.Username == "" {
		en.Username = "anonymous"
	}
	ref := e.Repository
	if e.Tag != "" {
		ref += ":" + e.Tag
	} else if e.Digest != "" {
		ref += "@" + e.Digest
	}
	switch e.Type {
	case event.PushArtifact:
		en.Operation, en.ResourceType, en.Resource = "create", "artifact", ref
		en.Description = "push artifact " + ref
	case event.PullArtifact:
		en.Operation, en.ResourceType, en.Resource = "pull", "artifact", ref
		en.Description = "pull artifact " + ref
	case event.DeleteArtifact:
		en.Operation, en.ResourceType, en.Resource = "delete", "artifact", ref
		en.Description = "delete artifact " + ref
	case event.CreateTag:
		// Tags created through the API are audited as the operation itself;
		// this event is for other subscribers.
		return en, false
	case event.DeleteTag:
		en.Operation, en.ResourceType, en.Resource = "delete", "tag", ref
		en.Description = "delete tag " + ref
	case event.Operation:
		en.Operation, en.ResourceType, en.Resource = e.Operation, e.ResourceType, e.Resource
		en.Description, en.Success = e.Description, e.Success
	default:
		return en, false
	}
	return en, true
}
