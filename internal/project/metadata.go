package project

import (
	"context"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// Project metadata keys (Harbor's ProjectMetadata) and the kind of value each takes.
const (
	metaBool = iota
	metaSeverity
	metaID
	metaInt
	metaFilterKind
	metaText
)

var metadataKeys = map[string]int{
	"public":                         metaBool,
	"enable_content_trust":           metaBool,
	"enable_content_trust_cosign":    metaBool,
	"prevent_vul":                    metaBool,
	"severity":                       metaSeverity,
	"auto_scan":                      metaBool,
	"auto_sbom_generation":           metaBool,
	"reuse_sys_cve_allowlist":        metaBool,
	"retention_id":                   metaID,
	"proxy_speed_kb":                 metaInt,
	"max_upstream_conn":              metaInt,
	"proxy_cache_local_on_not_found": metaBool,
	"proxy_referrer_api":             metaBool,
	"proxy_cache_filter_pattern":     metaText,
	"proxy_cache_filter_kind":        metaFilterKind,
}

// IsMetadataKey reports whether key is one of Harbor's project metadata keys.
func IsMetadataKey(key string) bool {
	_, ok := metadataKeys[key]
	return ok
}

// ValidateMetadata checks one metadata value and returns it normalised
// (booleans as "true"/"false", severities in lower case).
func ValidateMetadata(key, value string) (string, error) {
	const op = "validate project metadata"
	kind, ok := metadataKeys[key]
	if !ok {
		return "", errs.E(errs.Invalid, op, "invalid metadata key %q", key)
	}
	bad := func() (string, error) {
		return "", errs.E(errs.Invalid, op, "invalid value %q for metadata %s", value, key)
	}
	switch kind {
	case metaBool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return bad()
		}
		return strconv.FormatBool(b), nil
	case metaSeverity:
		v := strings.ToLower(value)
		switch v {
		case "none", "low", "medium", "high", "critical":
			return v, nil
		}
		return bad()
	case metaID:
		if id, err := strconv.ParseInt(value, 10, 64); err != nil || id <= 0 {
			return bad()
		}
	case metaInt:
		n, err := strconv.ParseInt(value, 10, 32)
		if err != nil || n < -1 {
			return bad()
		}
	case metaFilterKind:
		if value != "doublestar" && value != "regex" {
			return bad()
		}
	case metaText:
		if len(value) > 1024 {
			return bad()
		}
	}
	return value, nil
}

// metadataOf validates the metadata of a create or update request and
// returns it normalised, with "public" taken from metadata.public or else
// the deprecated top-level public. Proxy cache keys are dropped, as Harbor
// does for projects that are not proxy caches; a key set to "" stays, to
// be deleted.
func metadataOf(spec Spec) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range spec.Metadata {
		if isProxyKey(k) {
			continue
		}
		if v == "" && k != "public" {
			out[k] = ""
			continue
		}
		nv, err := ValidateMetadata(k, v)
		if err != nil {
			return nil, err
		}
		out[k] = nv
	}
	if _, ok := out["public"]; !ok && spec.Public != nil {
		out["public"] = strconv.FormatBool(*spec.Public)
	}
	return out, nil
}

// MetadataOf returns project's metadata for p to do act on it. Listing is
// allowed to whoever may read it (Harbor's role table gives project
// administrators no "list", only "read").
func (s *Service) MetadataOf(ctx context.Context, p *auth.Principal, project *store.Project, act rbac.Action) (*store.ProjectInfo, error) {
	set, err := s.auth.ProjectPermissions(ctx, p, project)
	if err != nil {
		return nil, err
	}
	if act == rbac.List && set.Has(rbac.ResMetadata, rbac.Read) {
		act = rbac.Read
	}
	if err := auth.Decide(p, project, set, rbac.ResMetadata, act); err != nil {
		return nil, err
	}
	return s.st.ProjectInfo(ctx, project.ID)
}

// AddMetadata adds the metadata m to project for p.
func (s *Service) AddMetadata(ctx context.Context, p *auth.Principal, project *store.Project, m map[string]string) error {
	info, err := s.MetadataOf(ctx, p, project, rbac.Create)
	if err != nil {
		return err
	}
	if len(m) == 0 {
		return errs.E(errs.Invalid, "add project metadata", "no metadata given")
	}
	norm := make(map[string]string, len(m))
	for k, v := range m {
		if norm[k], err = ValidateMetadata(k, v); err != nil {
			return err
		}
	}
	err = s.st.AddProjectMetadata(ctx, info.ID, norm)
	s.record(p, info.ID, "create", "project_metadata", info.Name, err)
	return err
}

// SetMetadata sets the one metadata key of project to the value body
// gives it, for p.
func (s *Service) SetMetadata(ctx context.Context, p *auth.Principal, project *store.Project, key string, body map[string]string) error {
	const op = "update project metadata"
	info, err := s.MetadataOf(ctx, p, project, rbac.Update)
	if err != nil {
		return err
	}
	for bk := range body {
		if bk != key {
			return errs.E(errs.Invalid, op, "the body may only set %q, not %q", key, bk)
		}
	}
	v, found := body[key]
	if !found {
		return errs.E(errs.Invalid, op, "the body must set %q", key)
	}
	if v, err = ValidateMetadata(key, v); err != nil {
		return err
	}
	err = s.st.SetProjectMetadata(ctx, info.ID, map[string]string{key: v})
	s.record(p, info.ID, "update", "project_metadata", info.Name, err)
	return err
}

// DeleteMetadata removes a metadata key of project for p; public cannot
// be removed.
func (s *Service) DeleteMetadata(ctx context.Context, p *auth.Principal, project *store.Project, key string) error {
	info, err := s.MetadataOf(ctx, p, project, rbac.Delete)
	if err != nil {
		return err
	}
	if key == "public" {
		return errs.E(errs.Invalid, "delete project metadata", "public cannot be deleted; set it to \"false\" to make the project private")
	}
	err = s.st.DeleteProjectMetadata(ctx, info.ID, key)
	s.record(p, info.ID, "delete", "project_metadata", info.Name, err)
	return err
}
