package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// A listing's tags and labels come in the page's own rows, one aggregated
// column each, instead of a statement each by the page's IDs: on
// PostgreSQL that statement was a second round trip for every listing,
// and reading the page's IDs again through a subquery in the page's batch
// cost the database more than the round trip saved.
//
// Tags are aggregated as "id,push,pull,len:name" records, newest first,
// with the name's length in bytes, so no name can break the parse. Labels,
// rarer and with free text, as a JSON array of objects in attach order.

// pageDetails is what a listing adds to its page statement for the
// details w asks for, and how it keeps them.
type pageDetails struct {
	columns      string // ", (tags), (labels)": extra columns after the artifact's
	dest         []any  // their scan destinations, reused for every row
	tags, labels *sql.NullString
}

func (db *DB) pageDetails(w DetailsWanted) *pageDetails {
	pd := &pageDetails{}
	agg, jsonAgg, jsonObject := "group_concat", "json_group_array", "json_object"
	if db.pg {
		agg, jsonAgg, jsonObject = "string_agg", "json_agg", "json_build_object"
	}
	if w.Tags {
		pd.tags = new(sql.NullString)
		pd.dest = append(pd.dest, pd.tags)
		pd.columns += `, (SELECT ` + agg + `(tg.id || ',' || tg.push_time || ',' || tg.pull_time || ',' || octet_length(tg.name) || ':' || tg.name, ''
			ORDER BY tg.push_time DESC, tg.id DESC) FROM tags tg WHERE tg.artifact_id = a.id)`
	}
	if w.Labels {
		pd.labels = new(sql.NullString)
		pd.dest = append(pd.dest, pd.labels)
		pd.columns += `, (SELECT ` + jsonAgg + `(` + jsonObject + `('id', l.id, 'name', l.name, 'description', l.description,
			'color', l.color, 'scope', l.scope, 'project_id', l.project_id, 'created_at', l.created_at, 'updated_at', l.updated_at)
			ORDER BY al.created_at, l.id) FROM artifact_labels al JOIN labels l ON l.id = al.label_id WHERE al.artifact_id = a.id)`
	}
	return pd
}

// keep parses the tags and labels just scanned for a into d.
func (pd *pageDetails) keep(a *Artifact, d *ArtifactDetails) error {
	if pd.tags != nil && pd.tags.Valid && pd.tags.String != "" {
		tags, err := parseTags(pd.tags.String, a)
		if err != nil {
			return err
		}
		d.Tags[a.ID] = tags
	}
	if pd.labels != nil && pd.labels.Valid && pd.labels.String != "[]" && pd.labels.String != "" {
		labels, err := parseLabels(pd.labels.String)
		if err != nil {
			return err
		}
		d.Labels[a.ID] = labels
	}
	return nil
}

// parseTags parses the aggregated tags of a.
func parseTags(s string, a *Artifact) ([]Tag, error) {
	out := make([]Tag, 0, 8)
	bad := func() ([]Tag, error) {
		return nil, fmt.Errorf("aggregated tags of artifact %d: malformed at %.40q", a.ID, s)
	}
	for s != "" {
		t := Tag{RepositoryID: a.RepositoryID, ArtifactID: a.ID}
		for _, dst := range []*int64{&t.ID, &t.PushTime, &t.PullTime} {
			i := strings.IndexByte(s, ',')
			if i < 0 {
				return bad()
			}
			n, err := strconv.ParseInt(s[:i], 10, 64)
			if err != nil {
				return bad()
			}
			*dst, s = n, s[i+1:]
		}
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return bad()
		}
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || i+1+n > len(s) {
			return bad()
		}
		t.Name, s = s[i+1:i+1+n], s[i+1+n:]
		out = append(out, t)
	}
	return out, nil
}

// labelJSON is a label as the aggregated column holds it.
type labelJSON struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Color       string `json:"color"`
	Scope       string `json:"scope"`
	ProjectID   int64  `json:"project_id"`
	CreatedAt   int64  `json:"created_at"`
	UpdatedAt   int64  `json:"updated_at"`
}

// parseLabels parses an aggregated labels column.
func parseLabels(s string) ([]Label, error) {
	var rows []labelJSON
	if err := json.Unmarshal([]byte(s), &rows); err != nil {
		return nil, fmt.Errorf("aggregated labels: %w", err)
	}
	out := make([]Label, len(rows))
	for i, r := range rows {
		out[i] = Label(r)
	}
	return out, nil
}
