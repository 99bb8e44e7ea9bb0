package api

import (
	"context"
	"net/http"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// systemStore is what the system handlers need from the metadata store.
type systemStore interface {
	PropertyStore
	Statistics(ctx context.Context) (store.Statistics, error)
	Ping(ctx context.Context) error
}

func (s *Server) systemRoutes() []route {
	return []route{
		{method: "GET", path: "/ping", op: "getPing", handle: s.ping, resp: "", respDef: "string", public: true},
		{method: "GET", path: "/health", op: "getHealth", handle: s.health, resp: OverallHealthStatus{}, respDef: "OverallHealthStatus", public: true},
		{method: "GET", path: "/systeminfo", op: "getSystemInfo", handle: s.systemInfo, resp: GeneralInfo{}, respDef: "GeneralInfo", public: true},
		{method: "GET", path: "/systeminfo/volumes", op: "getVolumes", handle: s.volumes, resp: SystemInfo{}, respDef: "SystemInfo"},
		{method: "GET", path: "/statistics", op: "getStatistic", handle: s.statistics, resp: Statistic{}, respDef: "Statistic"},
		{method: "GET", path: "/configurations", op: "getConfigurations", handle: s.getConfigurations, resp: ConfigurationsResponse{}, respDef: "ConfigurationsResponse"},
		{method: "PUT", path: "/configurations", op: "updateConfigurations", handle: s.updateConfigurations},
	}
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request, c *Caller) error {
	w.Header().Set("Content-Type", "text/plain")
	_, err := w.Write([]byte("Pong"))
	return err
}

// OverallHealthStatus is Harbor's health answer.
type OverallHealthStatus struct {
	Status     string                  `json:"status"`
	Components []ComponentHealthStatus `json:"components"`
}

// ComponentHealthStatus is one component's health.
type ComponentHealthStatus struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

func (s *Server) health(w http.ResponseWriter, r *http.Request, c *Caller) error {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	out := OverallHealthStatus{Status: "healthy"}
	check := func(name string, err error) {
		cs := ComponentHealthStatus{Name: name, Status: "healthy"}
		if err != nil {
			cs.Status, cs.Error = "unhealthy", err.Error()
			out.Status = "unhealthy"
		}
		out.Components = append(out.Components, cs)
	}
	check("database", s.st.Ping(ctx))
	_, err := s.blobs.Driver().Stat(ctx, "blobs")
	if errs.Is(err, errs.NotFound) {
		err = nil // an empty store has no blobs directory yet
	}
	check("storage", err)
	return writeJSON(w, http.StatusOK, out)
}

// GeneralInfo is Harbor's system information.
type GeneralInfo struct {
	BannerMessage              string `json:"banner_message"`
	CurrentTime                string `json:"current_time"`
	RegistryURL                string `json:"registry_url,omitempty"`
	ExternalURL                string `json:"external_url,omitempty"`
	AuthMode                   string `json:"auth_mode,omitempty"`
	PrimaryAuthMode            bool   `json:"primary_auth_mode"`
	ProjectCreationRestriction string `json:"project_creation_restriction,omitempty"`
	SelfRegistration           bool   `json:"self_registration"`
	HasCARoot                  bool   `json:"has_ca_root"`
	HarborVersion              string `json:"harbor_version,omitempty"`
	StorageProvider            string `json:"registry_storage_provider_name,omitempty"`
	ReadOnly                   bool   `json:"read_only"`
	NotificationEnable         bool   `json:"notification_enable"`
}

func (s *Server) systemInfo(w http.ResponseWriter, r *http.Request, c *Caller) error {
	cfg := s.opts.Settings.Get()
	info := GeneralInfo{
		BannerMessage:      cfg.BannerMessage,
		CurrentTime:        time.Now().UTC().Format(time.RFC3339),
		SelfRegistration:   cfg.SelfRegistration,
		ReadOnly:           cfg.ReadOnly,
		HarborVersion:      "berth-" + s.opts.Version,
		NotificationEnable: cfg.NotificationEnable,
	}
	// Harbor shows the details to signed-in callers only.
	if !c.Anonymous() {
		info.ExternalURL = s.opts.ExternalURL
		info.RegistryURL = s.opts.ExternalURL
		info.AuthMode = cfg.AuthMode
		info.ProjectCreationRestriction = cfg.ProjectCreationRestriction
		info.StorageProvider = "filesystem"
	}
	return writeJSON(w, http.StatusOK, info)
}

// SystemInfo is the storage volume report.
type SystemInfo struct {
	Storage []Storage `json:"storage"`
}

// Storage is one volume's capacity.
type Storage struct {
	Total uint64 `json:"total"`
	Free  uint64 `json:"free"`
}

func (s *Server) volumes(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResSystemVolumes, rbac.Read); err != nil {
		return err
	}
	out := SystemInfo{Storage: []Storage{}}
	if root, ok := s.blobs.Driver().(interface{ Root() string }); ok {
		var st syscall.Statfs_t
		if err := syscall.Statfs(root.Root(), &st); err == nil {
			out.Storage = append(out.Storage, Storage{Total: st.Blocks * uint64(st.Bsize), Free: st.Bavail * uint64(st.Bsize)})
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// Statistic is Harbor's project and repository counts.
type Statistic struct {
	PrivateProjectCount     int64 `json:"private_project_count"`
	PrivateRepoCount        int64 `json:"private_repo_count"`
	PublicProjectCount      int64 `json:"public_project_count"`
	PublicRepoCount         int64 `json:"public_repo_count"`
	TotalProjectCount       int64 `json:"total_project_count"`
	TotalRepoCount          int64 `json:"total_repo_count"`
	TotalStorageConsumption int64 `json:"total_storage_consumption"`
}

func (s *Server) statistics(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := requireUser(c); err != nil && !c.IsRobot() {
		return err
	}
	st, err := s.st.Statistics(r.Context())
	if err != nil {
		return err
	}
	out := Statistic{
		PublicProjectCount: st.PublicProjects, PublicRepoCount: st.PublicRepos,
		PrivateProjectCount: st.PrivateProjects, PrivateRepoCount: st.PrivateRepos,
		TotalProjectCount: st.PublicProjects + st.PrivateProjects, TotalRepoCount: st.PublicRepos + st.PrivateRepos,
	}
	// Harbor shows private and total counts and storage to admins only.
	if !c.Admin {
		out.PrivateProjectCount, out.PrivateRepoCount = 0, 0
		out.TotalProjectCount, out.TotalRepoCount = out.PublicProjectCount, out.PublicRepoCount
	} else {
		out.TotalStorageConsumption = st.StorageBytes
	}
	return writeJSON(w, http.StatusOK, out)
}

// ConfigItem is one configuration value and whether it may be changed.
type ConfigItem[T any] struct {
	Value    T    `json:"value"`
	Editable bool `json:"editable"`
}

// ConfigurationsResponse is the configuration as Harbor shows it.
type ConfigurationsResponse struct {
	AuthMode                    ConfigItem[string] `json:"auth_mode"`
	ProjectCreationRestriction  ConfigItem[string] `json:"project_creation_restriction"`
	SelfRegistration            ConfigItem[bool]   `json:"self_registration"`
	TokenExpiration             ConfigItem[int]    `json:"token_expiration"`
	RobotTokenDuration          ConfigItem[int]    `json:"robot_token_duration"`
	RobotNamePrefix             ConfigItem[string] `json:"robot_name_prefix"`
	ReadOnly                    ConfigItem[bool]   `json:"read_only"`
	StoragePerProject           ConfigItem[int64]  `json:"storage_per_project"`
	SessionTimeout              ConfigItem[int]    `json:"session_timeout"`
	BannerMessage               ConfigItem[string] `json:"banner_message"`
	NotificationEnable          ConfigItem[bool]   `json:"notification_enable"`
	AuditLogForwardEndpoint     ConfigItem[string] `json:"audit_log_forward_endpoint"`
	SkipAuditLogDatabase        ConfigItem[bool]   `json:"skip_audit_log_database"`
	DisabledAuditLogEventTypes  ConfigItem[string] `json:"disabled_audit_log_event_types"`
	WebhookBlockInternalTargets ConfigItem[bool]   `json:"webhook_block_internal_targets"`
}

func (s *Server) getConfigurations(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if !c.Admin {
		return s.requireSystem(c, "configuration", rbac.Read)
	}
	cfg := s.opts.Settings.Get()
	return writeJSON(w, http.StatusOK, ConfigurationsResponse{
		AuthMode:                    ConfigItem[string]{cfg.AuthMode, false},
		ProjectCreationRestriction:  ConfigItem[string]{cfg.ProjectCreationRestriction, true},
		SelfRegistration:            ConfigItem[bool]{cfg.SelfRegistration, true},
		TokenExpiration:             ConfigItem[int]{cfg.TokenExpiration, true},
		RobotTokenDuration:          ConfigItem[int]{cfg.RobotTokenDuration, true},
		RobotNamePrefix:             ConfigItem[string]{cfg.RobotNamePrefix, false},
		ReadOnly:                    ConfigItem[bool]{cfg.ReadOnly, true},
		StoragePerProject:           ConfigItem[int64]{cfg.StoragePerProject, true},
		SessionTimeout:              ConfigItem[int]{cfg.SessionTimeout, true},
		BannerMessage:               ConfigItem[string]{cfg.BannerMessage, true},
		NotificationEnable:          ConfigItem[bool]{cfg.NotificationEnable, true},
		AuditLogForwardEndpoint:     ConfigItem[string]{cfg.AuditLogForwardEndpoint, true},
		SkipAuditLogDatabase:        ConfigItem[bool]{cfg.SkipAuditLogDatabase, true},
		DisabledAuditLogEventTypes:  ConfigItem[string]{cfg.DisabledAuditLogEventTypes, true},
		WebhookBlockInternalTargets: ConfigItem[bool]{cfg.WebhookBlockInternalTargets, true},
	})
}

// configUpdate is the body of PUT /configurations: any subset of keys.
type configUpdate struct {
	AuthMode                    *string `json:"auth_mode"`
	ProjectCreationRestriction  *string `json:"project_creation_restriction"`
	SelfRegistration            *bool   `json:"self_registration"`
	TokenExpiration             *int    `json:"token_expiration"`
	RobotTokenDuration          *int    `json:"robot_token_duration"`
	RobotNamePrefix             *string `json:"robot_name_prefix"`
	ReadOnly                    *bool   `json:"read_only"`
	StoragePerProject           *int64  `json:"storage_per_project"`
	SessionTimeout              *int    `json:"session_timeout"`
	BannerMessage               *string `json:"banner_message"`
	NotificationEnable          *bool   `json:"notification_enable"`
	AuditLogForwardEndpoint     *string `json:"audit_log_forward_endpoint"`
	SkipAuditLogDatabase        *bool   `json:"skip_audit_log_database"`
	DisabledAuditLogEventTypes  *string `json:"disabled_audit_log_event_types"`
	WebhookBlockInternalTargets *bool   `json:"webhook_block_internal_targets"`
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func (s *Server) updateConfigurations(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if !c.Admin {
		if err := s.requireSystem(c, "configuration", rbac.Update); err != nil {
			return err
		}
	}
	var u configUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	cfg := s.opts.Settings.Get()
	setIf(&cfg.AuthMode, u.AuthMode)
	setIf(&cfg.ProjectCreationRestriction, u.ProjectCreationRestriction)
	setIf(&cfg.SelfRegistration, u.SelfRegistration)
	setIf(&cfg.TokenExpiration, u.TokenExpiration)
	setIf(&cfg.RobotTokenDuration, u.RobotTokenDuration)
	setIf(&cfg.RobotNamePrefix, u.RobotNamePrefix)
	setIf(&cfg.ReadOnly, u.ReadOnly)
	setIf(&cfg.StoragePerProject, u.StoragePerProject)
	setIf(&cfg.SessionTimeout, u.SessionTimeout)
	setIf(&cfg.BannerMessage, u.BannerMessage)
	setIf(&cfg.NotificationEnable, u.NotificationEnable)
	setIf(&cfg.AuditLogForwardEndpoint, u.AuditLogForwardEndpoint)
	setIf(&cfg.SkipAuditLogDatabase, u.SkipAuditLogDatabase)
	setIf(&cfg.DisabledAuditLogEventTypes, u.DisabledAuditLogEventTypes)
	setIf(&cfg.WebhookBlockInternalTargets, u.WebhookBlockInternalTargets)
	err := s.opts.Settings.Save(r.Context(), s.st, cfg)
	s.audit(c, 0, "update", "configuration", "configurations", err)
	if err != nil {
		return err
	}
	return ok(w)
}
