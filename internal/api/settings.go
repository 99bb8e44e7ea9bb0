package api

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-dev/berth/internal/errs"
)

// Config is the system configuration, stored as one JSON document in the
// properties table under "configurations" and edited through
// /configurations. Field names are Harbor's.
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

// DefaultConfig is Harbor's default configuration.
func DefaultConfig() Config {
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

// Settings holds the current Config for this process.
type Settings struct {
	mu  sync.RWMutex
	cfg Config
}

// NewSettings returns settings with the defaults.
func NewSettings() *Settings { return &Settings{cfg: DefaultConfig()} }

// Get returns the current configuration.
func (s *Settings) Get() Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg
}

// Set replaces the configuration.
func (s *Settings) Set(c Config) {
	s.mu.Lock()
	s.cfg = c
	s.mu.Unlock()
}

// ReadOnly reports whether the system is in read-only mode.
func (s *Settings) ReadOnly() bool { return s.Get().ReadOnly }

// PropertyStore is where settings are persisted.
type PropertyStore interface {
	Property(ctx context.Context, name string) (string, error)
	SetProperty(ctx context.Context, name, value string) error
}

const configProperty = "configurations"

// Load reads the stored configuration (defaults for missing fields).
func (s *Settings) Load(ctx context.Context, st PropertyStore) error {
	raw, err := st.Property(ctx, configProperty)
	if errs.Is(err, errs.NotFound) {
		s.Set(DefaultConfig())
		return nil
	}
	if err != nil {
		return err
	}
	c := DefaultConfig()
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return errs.Wrap("load configuration", err)
	}
	s.Set(c)
	return nil
}

// Save validates and stores c, then makes it current.
func (s *Settings) Save(ctx context.Context, st PropertyStore, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, _ := json.Marshal(c)
	if err := st.SetProperty(ctx, configProperty, string(b)); err != nil {
		return err
	}
	s.Set(c)
	return nil
}
