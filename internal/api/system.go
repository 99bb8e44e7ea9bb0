package api

import (
	"context"
	"net/http"
	"time"

	"github.com/berth-dev/berth/internal/blob"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/system"
)

// systemStore is what the system handlers need from the metadata store.
type systemStore interface {
	settings.Store
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
	info := s.system.Info(c.Principal)
	return writeJSON(w, http.StatusOK, GeneralInfo{
		BannerMessage:              info.BannerMessage,
		CurrentTime:                time.Now().UTC().Format(time.RFC3339),
		RegistryURL:                info.ExternalURL,
		ExternalURL:                info.ExternalURL,
		AuthMode:                   info.AuthMode,
		ProjectCreationRestriction: info.ProjectCreationRestriction,
		SelfRegistration:           info.SelfRegistration,
		HarborVersion:              info.HarborVersion,
		StorageProvider:            info.StorageProvider,
		ReadOnly:                   info.ReadOnly,
		NotificationEnable:         info.NotificationEnable,
	})
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
	vols, err := s.system.Volumes(c.Principal)
	if err != nil {
		return err
	}
	out := SystemInfo{Storage: make([]Storage, len(vols))}
	for i, v := range vols {
		out.Storage[i] = Storage{Total: v.Total, Free: v.Free}
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
	st, err := s.system.Statistics(r.Context(), c.Principal)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, Statistic{
		PublicProjectCount: st.PublicProjects, PublicRepoCount: st.PublicRepos,
		PrivateProjectCount: st.PrivateProjects, PrivateRepoCount: st.PrivateRepos,
		TotalProjectCount: st.PublicProjects + st.PrivateProjects, TotalRepoCount: st.PublicRepos + st.PrivateRepos,
		TotalStorageConsumption: st.StorageBytes,
	})
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

	// Settings of features Berth does not have (LDAP, OIDC, UAA and HTTP
	// authentication proxy, scanners): answered with their off state, not
	// editable (system.ConfigUpdate).
	HTTPAuthproxyAdminGroups         ConfigItem[string] `json:"http_authproxy_admin_groups"`
	HTTPAuthproxyAdminUsernames      ConfigItem[string] `json:"http_authproxy_admin_usernames"`
	HTTPAuthproxyEndpoint            ConfigItem[string] `json:"http_authproxy_endpoint"`
	HTTPAuthproxyServerCertificate   ConfigItem[string] `json:"http_authproxy_server_certificate"`
	HTTPAuthproxySkipSearch          ConfigItem[bool]   `json:"http_authproxy_skip_search"`
	HTTPAuthproxyTokenreviewEndpoint ConfigItem[string] `json:"http_authproxy_tokenreview_endpoint"`
	HTTPAuthproxyVerifyCert          ConfigItem[bool]   `json:"http_authproxy_verify_cert"`
	LDAPBaseDN                       ConfigItem[string] `json:"ldap_base_dn"`
	LDAPFilter                       ConfigItem[string] `json:"ldap_filter"`
	LDAPGroupAdminDN                 ConfigItem[string] `json:"ldap_group_admin_dn"`
	LDAPGroupAttachParallel          ConfigItem[bool]   `json:"ldap_group_attach_parallel"`
	LDAPGroupAttributeName           ConfigItem[string] `json:"ldap_group_attribute_name"`
	LDAPGroupBaseDN                  ConfigItem[string] `json:"ldap_group_base_dn"`
	LDAPGroupMembershipAttribute     ConfigItem[string] `json:"ldap_group_membership_attribute"`
	LDAPGroupSearchFilter            ConfigItem[string] `json:"ldap_group_search_filter"`
	LDAPGroupSearchScope             ConfigItem[int]    `json:"ldap_group_search_scope"`
	LDAPScope                        ConfigItem[int]    `json:"ldap_scope"`
	LDAPSearchDN                     ConfigItem[string] `json:"ldap_search_dn"`
	LDAPTimeout                      ConfigItem[int]    `json:"ldap_timeout"`
	LDAPUID                          ConfigItem[string] `json:"ldap_uid"`
	LDAPURL                          ConfigItem[string] `json:"ldap_url"`
	LDAPVerifyCert                   ConfigItem[bool]   `json:"ldap_verify_cert"`
	OIDCAdminGroup                   ConfigItem[string] `json:"oidc_admin_group"`
	OIDCAutoOnboard                  ConfigItem[bool]   `json:"oidc_auto_onboard"`
	OIDCClientID                     ConfigItem[string] `json:"oidc_client_id"`
	OIDCEndpoint                     ConfigItem[string] `json:"oidc_endpoint"`
	OIDCExtraRedirectParms           ConfigItem[string] `json:"oidc_extra_redirect_parms"`
	OIDCGroupFilter                  ConfigItem[string] `json:"oidc_group_filter"`
	OIDCGroupsClaim                  ConfigItem[string] `json:"oidc_groups_claim"`
	OIDCLogout                       ConfigItem[bool]   `json:"oidc_logout"`
	OIDCName                         ConfigItem[string] `json:"oidc_name"`
	OIDCScope                        ConfigItem[string] `json:"oidc_scope"`
	OIDCUserClaim                    ConfigItem[string] `json:"oidc_user_claim"`
	OIDCVerifyCert                   ConfigItem[bool]   `json:"oidc_verify_cert"`
	PrimaryAuthMode                  ConfigItem[bool]   `json:"primary_auth_mode"`
	QuotaPerProjectEnable            ConfigItem[bool]   `json:"quota_per_project_enable"`
	ScannerSkipUpdatePulltime        ConfigItem[bool]   `json:"scanner_skip_update_pulltime"`
	UAAClientID                      ConfigItem[string] `json:"uaa_client_id"`
	UAAClientSecret                  ConfigItem[string] `json:"uaa_client_secret"`
	UAAEndpoint                      ConfigItem[string] `json:"uaa_endpoint"`
	UAAVerifyCert                    ConfigItem[bool]   `json:"uaa_verify_cert"`
	ScanAllPolicy                    ScanAllPolicy      `json:"scan_all_policy"`
}

// ScanAllPolicy is Harbor's schedule of scanning every artifact; Berth has
// no scanner, so it is always "none".
type ScanAllPolicy struct {
	Type string `json:"type"`
}

func (s *Server) getConfigurations(w http.ResponseWriter, r *http.Request, c *Caller) error {
	cfg, err := s.system.Configuration(c.Principal)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ConfigurationsResponse{
		AuthMode:                         ConfigItem[string]{cfg.AuthMode, false},
		ProjectCreationRestriction:       ConfigItem[string]{cfg.ProjectCreationRestriction, true},
		SelfRegistration:                 ConfigItem[bool]{cfg.SelfRegistration, true},
		TokenExpiration:                  ConfigItem[int]{cfg.TokenExpiration, true},
		RobotTokenDuration:               ConfigItem[int]{cfg.RobotTokenDuration, true},
		RobotNamePrefix:                  ConfigItem[string]{cfg.RobotNamePrefix, false},
		ReadOnly:                         ConfigItem[bool]{cfg.ReadOnly, true},
		StoragePerProject:                ConfigItem[int64]{cfg.StoragePerProject, true},
		SessionTimeout:                   ConfigItem[int]{cfg.SessionTimeout, true},
		BannerMessage:                    ConfigItem[string]{cfg.BannerMessage, true},
		NotificationEnable:               ConfigItem[bool]{cfg.NotificationEnable, true},
		AuditLogForwardEndpoint:          ConfigItem[string]{cfg.AuditLogForwardEndpoint, true},
		SkipAuditLogDatabase:             ConfigItem[bool]{cfg.SkipAuditLogDatabase, true},
		DisabledAuditLogEventTypes:       ConfigItem[string]{cfg.DisabledAuditLogEventTypes, true},
		WebhookBlockInternalTargets:      ConfigItem[bool]{cfg.WebhookBlockInternalTargets, true},
		HTTPAuthproxyAdminGroups:         ConfigItem[string]{"", false},
		HTTPAuthproxyAdminUsernames:      ConfigItem[string]{"", false},
		HTTPAuthproxyEndpoint:            ConfigItem[string]{"", false},
		HTTPAuthproxyServerCertificate:   ConfigItem[string]{"", false},
		HTTPAuthproxySkipSearch:          ConfigItem[bool]{false, false},
		HTTPAuthproxyTokenreviewEndpoint: ConfigItem[string]{"", false},
		HTTPAuthproxyVerifyCert:          ConfigItem[bool]{false, false},
		LDAPBaseDN:                       ConfigItem[string]{"", false},
		LDAPFilter:                       ConfigItem[string]{"", false},
		LDAPGroupAdminDN:                 ConfigItem[string]{"", false},
		LDAPGroupAttachParallel:          ConfigItem[bool]{false, false},
		LDAPGroupAttributeName:           ConfigItem[string]{"", false},
		LDAPGroupBaseDN:                  ConfigItem[string]{"", false},
		LDAPGroupMembershipAttribute:     ConfigItem[string]{"", false},
		LDAPGroupSearchFilter:            ConfigItem[string]{"", false},
		LDAPGroupSearchScope:             ConfigItem[int]{0, false},
		LDAPScope:                        ConfigItem[int]{0, false},
		LDAPSearchDN:                     ConfigItem[string]{"", false},
		LDAPTimeout:                      ConfigItem[int]{0, false},
		LDAPUID:                          ConfigItem[string]{"", false},
		LDAPURL:                          ConfigItem[string]{"", false},
		LDAPVerifyCert:                   ConfigItem[bool]{false, false},
		OIDCAdminGroup:                   ConfigItem[string]{"", false},
		OIDCAutoOnboard:                  ConfigItem[bool]{false, false},
		OIDCClientID:                     ConfigItem[string]{"", false},
		OIDCEndpoint:                     ConfigItem[string]{"", false},
		OIDCExtraRedirectParms:           ConfigItem[string]{"", false},
		OIDCGroupFilter:                  ConfigItem[string]{"", false},
		OIDCGroupsClaim:                  ConfigItem[string]{"", false},
		OIDCLogout:                       ConfigItem[bool]{false, false},
		OIDCName:                         ConfigItem[string]{"", false},
		OIDCScope:                        ConfigItem[string]{"", false},
		OIDCUserClaim:                    ConfigItem[string]{"", false},
		OIDCVerifyCert:                   ConfigItem[bool]{false, false},
		PrimaryAuthMode:                  ConfigItem[bool]{false, false},
		QuotaPerProjectEnable:            ConfigItem[bool]{true, false},
		ScannerSkipUpdatePulltime:        ConfigItem[bool]{false, false},
		UAAClientID:                      ConfigItem[string]{"", false},
		UAAClientSecret:                  ConfigItem[string]{"", false},
		UAAEndpoint:                      ConfigItem[string]{"", false},
		UAAVerifyCert:                    ConfigItem[bool]{false, false},
		ScanAllPolicy:                    ScanAllPolicy{Type: "none"},
	})
}

func (s *Server) updateConfigurations(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.system.MayConfigure(c.Principal, rbac.Update); err != nil {
		return err
	}
	var u system.ConfigUpdate
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := s.system.UpdateConfiguration(r.Context(), c.Principal, u); err != nil {
		return err
	}
	return ok(w)
}

// storageRoot is the directory blobs' driver stores under, "" when it is
// not a local file system.
func storageRoot(blobs *blob.Store) string {
	if blobs == nil {
		return ""
	}
	if root, ok := blobs.Driver().(interface{ Root() string }); ok {
		return root.Root()
	}
	return ""
}
