package api

import (
	"context"
	"net/http"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/store"
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

	// Settings of features Berth does not have (LDAP, OIDC, UAA and HTTP
	// authentication proxy, scanners): answered with their off state, not
	// editable (unsupportedSettings).
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
	if !c.Admin {
		return s.requireSystem(c, "configuration", rbac.Read)
	}
	cfg := s.opts.Settings.Get()
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

	// Settings of features Berth does not have: accepted only with the
	// value GET /configurations answers (a client writing back what it
	// read), refused otherwise (unsupportedSettings).
	HTTPAuthproxyAdminGroups         *string `json:"http_authproxy_admin_groups"`
	HTTPAuthproxyAdminUsernames      *string `json:"http_authproxy_admin_usernames"`
	HTTPAuthproxyEndpoint            *string `json:"http_authproxy_endpoint"`
	HTTPAuthproxyServerCertificate   *string `json:"http_authproxy_server_certificate"`
	HTTPAuthproxySkipSearch          *bool   `json:"http_authproxy_skip_search"`
	HTTPAuthproxyTokenreviewEndpoint *string `json:"http_authproxy_tokenreview_endpoint"`
	HTTPAuthproxyVerifyCert          *bool   `json:"http_authproxy_verify_cert"`
	LDAPBaseDN                       *string `json:"ldap_base_dn"`
	LDAPFilter                       *string `json:"ldap_filter"`
	LDAPGroupAdminDN                 *string `json:"ldap_group_admin_dn"`
	LDAPGroupAttachParallel          *bool   `json:"ldap_group_attach_parallel"`
	LDAPGroupAttributeName           *string `json:"ldap_group_attribute_name"`
	LDAPGroupBaseDN                  *string `json:"ldap_group_base_dn"`
	LDAPGroupMembershipAttribute     *string `json:"ldap_group_membership_attribute"`
	LDAPGroupSearchFilter            *string `json:"ldap_group_search_filter"`
	LDAPGroupSearchScope             *int    `json:"ldap_group_search_scope"`
	LDAPScope                        *int    `json:"ldap_scope"`
	LDAPSearchDN                     *string `json:"ldap_search_dn"`
	LDAPSearchPassword               *string `json:"ldap_search_password"`
	LDAPTimeout                      *int    `json:"ldap_timeout"`
	LDAPUID                          *string `json:"ldap_uid"`
	LDAPURL                          *string `json:"ldap_url"`
	LDAPVerifyCert                   *bool   `json:"ldap_verify_cert"`
	OIDCAdminGroup                   *string `json:"oidc_admin_group"`
	OIDCAutoOnboard                  *bool   `json:"oidc_auto_onboard"`
	OIDCClientID                     *string `json:"oidc_client_id"`
	OIDCClientSecret                 *string `json:"oidc_client_secret"`
	OIDCEndpoint                     *string `json:"oidc_endpoint"`
	OIDCExtraRedirectParms           *string `json:"oidc_extra_redirect_parms"`
	OIDCGroupFilter                  *string `json:"oidc_group_filter"`
	OIDCGroupsClaim                  *string `json:"oidc_groups_claim"`
	OIDCLogout                       *bool   `json:"oidc_logout"`
	OIDCName                         *string `json:"oidc_name"`
	OIDCScope                        *string `json:"oidc_scope"`
	OIDCUserClaim                    *string `json:"oidc_user_claim"`
	OIDCVerifyCert                   *bool   `json:"oidc_verify_cert"`
	PrimaryAuthMode                  *bool   `json:"primary_auth_mode"`
	QuotaPerProjectEnable            *bool   `json:"quota_per_project_enable"`
	ScannerSkipUpdatePulltime        *bool   `json:"scanner_skip_update_pulltime"`
	UAAClientID                      *string `json:"uaa_client_id"`
	UAAClientSecret                  *string `json:"uaa_client_secret"`
	UAAEndpoint                      *string `json:"uaa_endpoint"`
	UAAVerifyCert                    *bool   `json:"uaa_verify_cert"`
}

// fixedSetting refuses a change of a setting Berth does not implement:
// storing it would have no effect. Sending its current value is a no-op.
func fixedSetting[T comparable](name string, v *T, current T) error {
	if v == nil || *v == current {
		return nil
	}
	return errs.E(errs.Invalid, "update configurations", "%s cannot be changed: Berth does not implement it (its value stays %v)", name, current)
}

// unsupportedSettings checks u's settings of features Berth does not have.
func (u *configUpdate) unsupportedSettings() error {
	for _, err := range []error{
		fixedSetting("http_authproxy_admin_groups", u.HTTPAuthproxyAdminGroups, ""),
		fixedSetting("http_authproxy_admin_usernames", u.HTTPAuthproxyAdminUsernames, ""),
		fixedSetting("http_authproxy_endpoint", u.HTTPAuthproxyEndpoint, ""),
		fixedSetting("http_authproxy_server_certificate", u.HTTPAuthproxyServerCertificate, ""),
		fixedSetting("http_authproxy_skip_search", u.HTTPAuthproxySkipSearch, false),
		fixedSetting("http_authproxy_tokenreview_endpoint", u.HTTPAuthproxyTokenreviewEndpoint, ""),
		fixedSetting("http_authproxy_verify_cert", u.HTTPAuthproxyVerifyCert, false),
		fixedSetting("ldap_base_dn", u.LDAPBaseDN, ""),
		fixedSetting("ldap_filter", u.LDAPFilter, ""),
		fixedSetting("ldap_group_admin_dn", u.LDAPGroupAdminDN, ""),
		fixedSetting("ldap_group_attach_parallel", u.LDAPGroupAttachParallel, false),
		fixedSetting("ldap_group_attribute_name", u.LDAPGroupAttributeName, ""),
		fixedSetting("ldap_group_base_dn", u.LDAPGroupBaseDN, ""),
		fixedSetting("ldap_group_membership_attribute", u.LDAPGroupMembershipAttribute, ""),
		fixedSetting("ldap_group_search_filter", u.LDAPGroupSearchFilter, ""),
		fixedSetting("ldap_group_search_scope", u.LDAPGroupSearchScope, 0),
		fixedSetting("ldap_scope", u.LDAPScope, 0),
		fixedSetting("ldap_search_dn", u.LDAPSearchDN, ""),
		fixedSetting("ldap_search_password", u.LDAPSearchPassword, ""),
		fixedSetting("ldap_timeout", u.LDAPTimeout, 0),
		fixedSetting("ldap_uid", u.LDAPUID, ""),
		fixedSetting("ldap_url", u.LDAPURL, ""),
		fixedSetting("ldap_verify_cert", u.LDAPVerifyCert, false),
		fixedSetting("oidc_admin_group", u.OIDCAdminGroup, ""),
		fixedSetting("oidc_auto_onboard", u.OIDCAutoOnboard, false),
		fixedSetting("oidc_client_id", u.OIDCClientID, ""),
		fixedSetting("oidc_client_secret", u.OIDCClientSecret, ""),
		fixedSetting("oidc_endpoint", u.OIDCEndpoint, ""),
		fixedSetting("oidc_extra_redirect_parms", u.OIDCExtraRedirectParms, ""),
		fixedSetting("oidc_group_filter", u.OIDCGroupFilter, ""),
		fixedSetting("oidc_groups_claim", u.OIDCGroupsClaim, ""),
		fixedSetting("oidc_logout", u.OIDCLogout, false),
		fixedSetting("oidc_name", u.OIDCName, ""),
		fixedSetting("oidc_scope", u.OIDCScope, ""),
		fixedSetting("oidc_user_claim", u.OIDCUserClaim, ""),
		fixedSetting("oidc_verify_cert", u.OIDCVerifyCert, false),
		fixedSetting("primary_auth_mode", u.PrimaryAuthMode, false),
		fixedSetting("quota_per_project_enable", u.QuotaPerProjectEnable, true),
		fixedSetting("scanner_skip_update_pulltime", u.ScannerSkipUpdatePulltime, false),
		fixedSetting("uaa_client_id", u.UAAClientID, ""),
		fixedSetting("uaa_client_secret", u.UAAClientSecret, ""),
		fixedSetting("uaa_endpoint", u.UAAEndpoint, ""),
		fixedSetting("uaa_verify_cert", u.UAAVerifyCert, false),
	} {
		if err != nil {
			return err
		}
	}
	return nil
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
	if err := u.unsupportedSettings(); err != nil {
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
	err := s.opts.Settings.Save(r.Context(), cfg)
	s.audit(c, 0, "update", "configuration", "configurations", err)
	if err != nil {
		return err
	}
	return ok(w)
}
