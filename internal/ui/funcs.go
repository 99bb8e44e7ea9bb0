package ui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"
)

// funcs are the template helpers.
var funcs = template.FuncMap{
	"bytes":         humanBytes,
	"when":          when,
	"shortDigest":   shortDigest,
	"json":          prettyJSON,
	"str":           func(v any) string { return fmt.Sprint(v) },
	"join":          strings.Join,
	"add":           func(a, b int) int { return a + b },
	"dict":          dict,
	"role":          roleName,
	"unix":          func(sec int64) string { return time.Unix(sec, 0).UTC().Format("2006-01-02") },
	"severities":    func() []string { return severities },
	"status":        statusClass,
	"scheduleTypes": func() []string { return scheduleTypes },
	"bannerTypes":   func() []string { return bannerTypes },
}

// dict builds a map from key, value pairs, to pass several values to a
// partial template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// roleName names a project role ID ("" for none).
func roleName(id int) string {
	for _, r := range roles {
		if r.ID == int64(id) {
			return r.Name
		}
	}
	return "—"
}

// humanBytes formats a size in binary units.
func humanBytes(n int64) string {
	if n < 0 {
		return "unlimited"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// when formats an API timestamp (RFC 3339) for a table; the zero time is "never".
func when(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.IsZero() || t.Year() <= 1970 {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// shortDigest is sha256:0123456789ab.
func shortDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return algo + ":" + hex[:12]
}

func prettyJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
