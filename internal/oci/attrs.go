package oci

import (
	"encoding/json"
	"strings"
)

// Extra attributes are what Harbor shows of an artifact's config as
// "extra_attrs": for images (a Docker or OCI image config) the
// architecture, OS, author, creation time and run config; for charts and
// other typed artifacts with a JSON config, the whole config. The registry
// computes them when a manifest is pushed and the metadata store keeps
// them with the artifact, so listings read no config blob.

// HasExtraAttrs reports whether an artifact of kind with manifest m has
// extra attributes to read from its config.
func HasExtraAttrs(kind, configMediaType string, m *Manifest) bool {
	if m == nil || m.Config == nil || m.Config.Size == 0 || kind == "UNKNOWN" {
		return false
	}
	if configMediaType == MediaTypeEmptyJSON {
		return false
	}
	return IsImageConfig(configMediaType) || kind == "CHART" || strings.HasSuffix(configMediaType, "+json")
}

// IsImageConfig reports whether mt is a Docker or OCI image config.
func IsImageConfig(mt string) bool {
	return mt == MediaTypeDockerConfig || mt == MediaTypeOCIConfig
}

// ExtraAttrs derives the extra attributes from a decoded config of the
// given media type (the caller checked HasExtraAttrs).
func ExtraAttrs(configMediaType string, cfg map[string]json.RawMessage) map[string]any {
	out := map[string]any{}
	if !IsImageConfig(configMediaType) {
		for k, v := range cfg {
			out[k] = v
		}
		return out
	}
	str := func(k string) string {
		var v string
		json.Unmarshal(cfg[k], &v)
		return v
	}
	out["architecture"], out["os"] = str("architecture"), str("os")
	out["created"] = json.RawMessage("null")
	if c, found := cfg["created"]; found {
		out["created"] = c
	}
	out["config"] = json.RawMessage("{}")
	var run struct {
		Labels map[string]string `json:"Labels"`
	}
	if c, found := cfg["config"]; found && string(c) != "null" {
		out["config"] = c
		json.Unmarshal(c, &run)
	}
	author := str("author")
	for _, k := range []string{"org.opencontainers.image.authors", "maintainer"} {
		if author == "" {
			author = run.Labels[k]
		}
	}
	out["author"] = author
	return out
}

// ExtraAttrsJSON is ExtraAttrs of a config blob's bytes, encoded for
// storage, or "" when the artifact has none or the config is not a JSON
// object.
func ExtraAttrsJSON(kind, configMediaType string, m *Manifest, config []byte) string {
	if !HasExtraAttrs(kind, configMediaType, m) {
		return ""
	}
	var cfg map[string]json.RawMessage
	if json.Unmarshal(config, &cfg) != nil || cfg == nil {
		return ""
	}
	b, err := json.Marshal(ExtraAttrs(configMediaType, cfg))
	if err != nil {
		return ""
	}
	return string(b)
}
