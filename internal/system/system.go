// Package system is the domain service of the system itself: the system
// jobs (garbage collection and the audit log purge: their schedules, runs,
// history and logs), the job service's queues and workers, the stored
// configuration (over internal/settings) and what the system tells about
// itself (Harbor's /systeminfo and the caller's system permissions). It
// owns the rules of each: who may (asked of auth, never worked out here),
// what is valid, the audit event of every change and the changed signal.
// The REST API decodes requests and encodes answers; the web console calls
// the same methods with the session's principal.
package system

import (
	"context"
	"syscall"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/store"
)

// Store is what the service reads and writes.
type Store interface {
	ListExecutionsMatching(ctx context.Context, vendorType string, vendorID int64, q *query.Query, offset, limit int) ([]store.Execution, int64, error)
	GetExecution(ctx context.Context, id int64) (*store.Execution, error)
	ActiveExecutions(ctx context.Context, vendorType string, vendorID int64) ([]int64, error)
	GetTask(ctx context.Context, id int64) (*store.Task, error)
	ListTasks(ctx context.Context, executionID int64, offset, limit int) ([]store.Task, int64, error)
	TaskLog(ctx context.Context, taskID int64) (string, error)
	GetSchedule(ctx context.Context, vendorType string, vendorID int64) (*store.Schedule, error)
	DeleteSchedule(ctx context.Context, vendorType string, vendorID int64) error
	ListSchedules(ctx context.Context) ([]store.Schedule, error)
	QueueStats(ctx context.Context) ([]store.QueueStat, error)
	PausedQueues(ctx context.Context) ([]string, error)
	SetQueuePaused(ctx context.Context, kind string, paused bool) error
	StopPendingOfKind(ctx context.Context, kind string) error
	Statistics(ctx context.Context) (store.Statistics, error)
}

// Auth answers what a caller may do.
type Auth interface {
	CanSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) bool
	DecideSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) error
}

// Jobs is the job system as the service uses it.
type Jobs interface {
	Submit(ctx context.Context, vendorType string, vendorID int64, trigger string, extra any, tasks ...jobs.TaskOf) (int64, error)
	Stop(ctx context.Context, executionID int64) error
	SetSchedule(ctx context.Context, vendorType string, vendorID int64, cron string, params any) error
	Running() []store.Task
	Owner() string
	Workers() int
	Kinds() []string
	Wake()
}

// Publisher takes the events of the service's changes.
type Publisher interface{ Publish(event.Event) }

// Options configure the service.
type Options struct {
	// Settings is the live configuration the service reads and saves.
	Settings *settings.Source
	// Jobs is the job system (nil: what needs it is errs.Unavailable).
	Jobs Jobs
	// Events receives the audit events of the service's changes.
	Events Publisher
	// Changed, if set, is called after every write.
	Changed func()
	// AuditEventTypes are the event types the audit log records, which a
	// purge may include.
	AuditEventTypes []string
	// ExternalURL and Version are shown by Info.
	ExternalURL, Version string
	// StorageRoot is the directory the blobs are stored under ("" when
	// they are not on a local file system), whose volume Volumes reports.
	StorageRoot string
}

// Service is the system service.
type Service struct {
	st   Store
	auth Auth
	opts Options
}

// New returns a system service.
func New(st Store, a Auth, opts Options) *Service {
	return &Service{st: st, auth: a, opts: opts}
}

// record publishes the audit event of a change by p and signals it.
func (s *Service) record(p *auth.Principal, operation, resourceType, resource string, err error) {
	event.Record(s.opts.Events, s.opts.Changed, p.Name, 0, operation, resourceType, resource, err)
}

// Info is what the system tells about itself (Harbor's GeneralInfo).
// The fields past NotificationEnable are shown to signed-in callers only.
type Info struct {
	BannerMessage      string
	SelfRegistration   bool
	ReadOnly           bool
	HarborVersion      string
	NotificationEnable bool

	ExternalURL                string
	AuthMode                   string
	ProjectCreationRestriction string
	StorageProvider            string
}

// Info answers anyone from the live configuration: it reads no statement,
// so every console page may show it.
func (s *Service) Info(p *auth.Principal) Info {
	cfg := s.opts.Settings.Get()
	info := Info{
		BannerMessage:      cfg.BannerMessage,
		SelfRegistration:   cfg.SelfRegistration,
		ReadOnly:           cfg.ReadOnly,
		HarborVersion:      "berth-" + s.opts.Version,
		NotificationEnable: cfg.NotificationEnable,
	}
	// Harbor shows the details to signed-in callers only.
	if !p.Anonymous() {
		info.ExternalURL = s.opts.ExternalURL
		info.AuthMode = cfg.AuthMode
		info.ProjectCreationRestriction = cfg.ProjectCreationRestriction
		info.StorageProvider = "filesystem"
	}
	return info
}

// policies are the system permissions a system administrator holds
// (Harbor's src/common/rbac/system/policies.go).
var policies = func() rbac.Set {
	out := rbac.Set{}
	add := func(res rbac.Resource, acts ...rbac.Action) {
		for _, a := range acts {
			out[rbac.Permission{Resource: res, Action: a}] = true
		}
	}
	crudl := []rbac.Action{rbac.Create, rbac.Read, rbac.Update, rbac.Delete, rbac.List}
	add(rbac.ResCatalog, rbac.Read)
	add(rbac.ResAuditLog, rbac.List)
	add(rbac.ResProject, crudl...)
	add(rbac.ResUser, crudl...)
	add(rbac.ResUserGroup, crudl...)
	add(rbac.ResRegistry, crudl...)
	add(rbac.ResReplication, crudl...)
	add(rbac.Resource("distribution"), crudl...)
	add(rbac.ResGC, crudl...)
	add(rbac.ResScanAll, append(crudl, rbac.Stop)...)
	add(rbac.ResSystemVolumes, rbac.Read)
	add(rbac.ResLdapUser, rbac.Create, rbac.List)
	add(rbac.ResConfiguration, rbac.Read, rbac.Update)
	add(rbac.ResJobMonitor, rbac.Read, rbac.List, rbac.Stop)
	add(rbac.ResSecurityHub, rbac.Read, rbac.List)
	out.Add(rbac.RobotSystemAssignable)
	return out
}()

// Permissions lists what p may do system-wide, in rbac.Set's order: the
// system permissions auth grants p of those an administrator holds.
// Anonymous callers are errs.Unauthenticated.
func (s *Service) Permissions(p *auth.Principal) ([]rbac.Permission, error) {
	if p.Anonymous() {
		return nil, errs.E(errs.Unauthenticated, "permissions", "authentication required")
	}
	var out []rbac.Permission
	for _, perm := range policies.List() {
		if s.auth.CanSystem(p, perm.Resource, perm.Action) {
			out = append(out, perm)
		}
	}
	return out, nil
}

// Volume is the capacity of one storage volume, in bytes.
type Volume struct {
	Total, Free uint64
}

// Volumes reports the capacity of the volume that holds the blobs (none
// when they are not on a local file system).
func (s *Service) Volumes(p *auth.Principal) ([]Volume, error) {
	if err := s.auth.DecideSystem(p, rbac.ResSystemVolumes, rbac.Read); err != nil {
		return nil, err
	}
	out := []Volume{}
	if s.opts.StorageRoot != "" {
		var st syscall.Statfs_t
		if err := syscall.Statfs(s.opts.StorageRoot, &st); err == nil {
			out = append(out, Volume{Total: st.Blocks * uint64(st.Bsize), Free: st.Bavail * uint64(st.Bsize)})
		}
	}
	return out, nil
}

// Statistics counts projects and repositories and the bytes stored.
// Signed-in users and robots may read them; as in Harbor, the private
// counts (the totals count the public ones only) and the storage are the
// system administrators' alone.
func (s *Service) Statistics(ctx context.Context, p *auth.Principal) (store.Statistics, error) {
	if p.Anonymous() {
		return store.Statistics{}, errs.E(errs.Unauthenticated, "authorize", "authentication required")
	}
	st, err := s.st.Statistics(ctx)
	if err != nil || p.Admin {
		return st, err
	}
	st.PrivateProjects, st.PrivateRepos, st.StorageBytes = 0, 0, 0
	return st, nil
}
