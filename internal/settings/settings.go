// Package settings is Berth's one runtime source of system settings: the
// configuration an administrator edits through PUT /configurations (Harbor's
// field names), stored as one JSON document in the properties table under
// "configurations". Every component reads the setting it obeys from a
// *Source at the moment it acts (the token service its expiry, /v2 and the
// API read-only mode, webhooks notification_enable, and so on: the list is
// in docs/settings.md), never a copy taken at start.
//
// Precedence: the stored value wins. A server flag (today --token-ttl) is
// only the initial default of its setting: it applies while the stored
// configuration does not name that setting, that is until an administrator
// first saves the configuration. See docs/settings.md.
//
// Freshness: Save makes a change current in this process at once; other
// processes sharing the database read the configuration again when the
// store's change signal reports another process's write (Reload, wired by
// the composition root), within a second.
package settings

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/errs"
)

// Config is the system configuration. Field names are Harbor's.
type Config struct {
	AuthMode                   string `json:"auth_mode"`
	ProjectCreationRestriction string `json:"project_creation_restriction"` // everyone | adminonly
	SelfRegistration           bool   `json:"self_registration"`
	TokenExpiration            int    `json:"token_expiration"`     // minutes
	RobotTokenDuration         int    `json:"robot_token_duration"` // days
	RobotNamePrefix            string `json:"robot_name_prefix"`
	ReadOnly                   bool   `json:"read_only"`
	StoragePerProject          int64  `json:"storage_per_project"` // bytes, -1 unlimited
	SessionTimeout             int    `json:"session_timeout"`     // minutes
	BannerMessage              string `json:"banner_message"`
	NotificationEnable         bool   `json:"notification_enable"`
	AuditLogForwardEndpoint    string `json:"audit_log_forward_endpoint"`
	SkipAuditLogDatabase       bool   `json:"skip_audit_log_database"`
	DisabledAuditLogEventTypes string `json:"disabled_audit_log_event_types"` // comma-separated, e.g. "pull_artifact"
	// WebhookBlockInternalTargets (Berth's own, default false as Harbor
	// delivers anywhere) refuses webhook targets at loopback, link-local,
	// private and multicast addresses, at create/update and at dial time.
	WebhookBlockInternalTargets bool `json:"webhook_block_internal_targets"`
}

// Defaults is Harbor's default configuration.
func Defaults() Config {
	return Config{
		AuthMode:                   "db_auth",
		ProjectCreationRestriction: "everyone",
		SelfRegistration:           false,
		TokenExpiration:            30,
		RobotTokenDuration:         30,
		RobotNamePrefix:            "robot$",
		StoragePerProject:          -1,
		SessionTimeout:             60,
		NotificationEnable:         true,
	}
}

// Validate checks c.
func (c *Config) Validate() error {
	const op = "validate configuration"
	switch c.AuthMode {
	case "db_auth":
	default:
		return errs.E(errs.Invalid, op, "auth_mode %q is not supported (db_auth)", c.AuthMode)
	}
	switch c.ProjectCreationRestriction {
	case "everyone", "adminonly":
	default:
		return errs.E(errs.Invalid, op, "project_creation_restriction must be everyone or adminonly")
	}
	if c.TokenExpiration < 1 || c.TokenExpiration > 24*60 {
		return errs.E(errs.Invalid, op, "token_expiration must be between 1 and 1440 minutes")
	}
	if c.RobotTokenDuration < 1 {
		return errs.E(errs.Invalid, op, "robot_token_duration must be at least 1 day")
	}
	if c.RobotNamePrefix != "robot$" {
		return errs.E(errs.Invalid, op, "robot_name_prefix cannot be changed (robot$)")
	}
	if c.StoragePerProject < -1 || c.StoragePerProject == 0 {
		return errs.E(errs.Invalid, op, "storage_per_project must be -1 (unlimited) or a positive number of bytes")
	}
	if c.SessionTimeout < 1 {
		return errs.E(errs.Invalid, op, "session_timeout must be at least 1 minute")
	}
	if ep := c.AuditLogForwardEndpoint; ep != "" {
		host, port, err := net.SplitHostPort(ep)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || strings.ContainsAny(host, " /") || perr != nil || n < 1 || n > 65535 {
			return errs.E(errs.Invalid, op, "audit_log_forward_endpoint must be host:port of a syslog receiver over TCP, not %q", ep)
		}
	}
	if c.SkipAuditLogDatabase && c.AuditLogForwardEndpoint == "" {
		return errs.E(errs.Invalid, op, "skip_audit_log_database needs audit_log_forward_endpoint: configure the endpoint first")
	}
	return nil
}

// AuditDisabled reports whether audit events of eventType (operation_resource,
// e.g. "pull_artifact") are switched off.
func (c *Config) AuditDisabled(eventType string) bool {
	for _, t := range strings.Split(c.DisabledAuditLogEventTypes, ",") {
		if strings.TrimSpace(t) == eventType {
			return true
		}
	}
	return false
}

// TokenTTL is the lifetime of a registry token the token service issues.
func (c *Config) TokenTTL() time.Duration { return time.Duration(c.TokenExpiration) * time.Minute }

// Store is where the configuration is persisted.
type Store interface {
	Property(ctx context.Context, name string) (string, error)
	SetProperty(ctx context.Context, name, value string) error
}

const property = "configurations"

// Source holds the current configuration of this process.
type Source struct {
	st       Store
	defaults Config

	mu      sync.RWMutex
	cfg     Config
	loading sync.Mutex // one Load at a time, so an older read never wins
}

// New returns a source over st whose settings are defaults until Load
// reads the stored ones. Flags that give a setting's initial value are
// applied to defaults by the caller (Defaults, then the flag).
func New(st Store, defaults Config) *Source {
	return &Source{st: st, defaults: defaults, cfg: defaults}
}

// Get returns the current configuration.
func (s *Source) Get() Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg
}

// Set replaces the configuration of this process only, without storing it
// (tests).
func (s *Source) Set(c Config) {
	s.mu.Lock()
	s.cfg = c
	s.mu.Unlock()
}

// ReadOnly reports whether the system is in read-only mode.
func (s *Source) ReadOnly() bool { return s.Get().ReadOnly }

// TokenTTL is the lifetime of registry tokens (token_expiration).
func (s *Source) TokenTTL() time.Duration {
	c := s.Get()
	return c.TokenTTL()
}

// NotificationEnable reports whether events trigger webhooks.
func (s *Source) NotificationEnable() bool { return s.Get().NotificationEnable }

// WebhookBlockInternalTargets reports whether webhook targets at internal
// addresses are refused.
func (s *Source) WebhookBlockInternalTargets() bool { return s.Get().WebhookBlockInternalTargets }

// AuditDisabled reports whether audit events of eventType are switched off.
func (s *Source) AuditDisabled(eventType string) bool {
	c := s.Get()
	return c.AuditDisabled(eventType)
}

// AuditForward returns the syslog endpoint audit entries are forwarded to
// ("" for none) and whether they skip the database.
func (s *Source) AuditForward() (string, bool) {
	c := s.Get()
	return c.AuditLogForwardEndpoint, c.SkipAuditLogDatabase
}

// Load reads the stored configuration: the stored fields over the defaults.
func (s *Source) Load(ctx context.Context) error {
	s.loading.Lock()
	defer s.loading.Unlock()
	raw, err := s.st.Property(ctx, property)
	if errs.Is(err, errs.NotFound) {
		s.Set(s.defaults)
		return nil
	}
	if err != nil {
		return err
	}
	c := s.defaults
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return errs.Wrap("load configuration", err)
	}
	s.Set(c)
	return nil
}

// Save validates and stores c, then makes it current. The other processes
// sharing the database read it on the store's change signal.
func (s *Source) Save(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, _ := json.Marshal(c)
	s.loading.Lock()
	defer s.loading.Unlock()
	if err := s.st.SetProperty(ctx, property, string(b)); err != nil {
		return err
	}
	s.Set(c)
	return nil
}
