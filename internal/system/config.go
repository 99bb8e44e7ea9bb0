package system

import (
	"context"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/settings"
)

// The stored configuration (Harbor's /configurations) over the live
// settings: the system administrators read and change it (configuration
// is not a permission a robot may be given).

// OpUpdateConfiguration names the change of the configuration as Harbor's
// operation ID, the one write read-only mode lets through (AllowedReadOnly).
const OpUpdateConfiguration = "updateConfigurations"

// AllowedReadOnly reports whether the write named op (Harbor's operation
// ID) stays possible in read-only mode: only changing the configuration
// is, since that is how read-only mode is left. The API's routes and the
// console's writes ask it.
func AllowedReadOnly(op string) bool { return op == OpUpdateConfiguration }

// MayConfigure checks that p may do act (rbac.Read, rbac.Update) on the
// configuration. Configuration and UpdateConfiguration check it; the API
// asks it first, before it reads the request.
func (s *Service) MayConfigure(p *auth.Principal, act rbac.Action) error {
	return s.auth.DecideSystem(p, rbac.ResConfiguration, act)
}

// Configuration is the current configuration.
func (s *Service) Configuration(p *auth.Principal) (settings.Config, error) {
	if err := s.MayConfigure(p, rbac.Read); err != nil {
		return settings.Config{}, err
	}
	return s.opts.Settings.Get(), nil
}

// UpdateConfiguration changes the settings u names, validated as a whole
// (settings.Config.Validate) and stored; it takes effect in this process
// at once. A setting of a feature Berth does not have may only be sent
// with the value Configuration's readers are shown.
func (s *Service) UpdateConfiguration(ctx context.Context, p *auth.Principal, u ConfigUpdate) error {
	if err := s.MayConfigure(p, rbac.Update); err != nil {
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
	err := s.opts.Settings.Save(ctx, cfg)
	s.record(p, "update", "configuration", "configurations", err)
	return err
}

// ConfigUpdate is a change of the configuration (the body of Harbor's PUT
// /configurations): any subset of the settings, nil for unchanged.
type ConfigUpdate struct {
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
func (u *ConfigUpdate) unsupportedSettings() error {
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

// setIf sets *dst to *v unless v is nil.
func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
