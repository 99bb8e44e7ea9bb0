package query

import "time"

// parseTime accepts RFC 3339 and Harbor's "2006-01-02 15:04:05" forms and
// returns Unix milliseconds.
func parseTime(s string) (int64, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), nil
		}
	}
	_, err := time.Parse(time.RFC3339, s)
	return 0, err
}
