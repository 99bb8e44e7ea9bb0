package webhook

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/store"
)

// Payload is Harbor's default webhook payload (src/pkg/notifier/model).
type Payload struct {
	Type      string     `json:"type"`
	OccurAt   int64      `json:"occur_at"` // Unix seconds
	Operator  string     `json:"operator"`
	EventData *EventData `json:"event_data,omitempty"`
}

// EventData is what the event is about.
type EventData struct {
	Resources  []Resource        `json:"resources,omitempty"`
	Repository *Repository       `json:"repository,omitempty"`
	Retention  *Retention        `json:"retention,omitempty"`
	Custom     map[string]string `json:"custom_attributes,omitempty"`
}

// Resource is an artifact the event is about.
type Resource struct {
	Digest      string `json:"digest,omitempty"`
	Tag         string `json:"tag"`
	ResourceURL string `json:"resource_url,omitempty"`
}

// Repository is the repository the event is about.
type Repository struct {
	Name         string `json:"name"`
	Namespace    string `json:"namespace"`
	RepoFullName string `json:"repo_full_name"`
	RepoType     string `json:"repo_type"` // public or private
}

// Retention is the outcome of a tag retention run.
type Retention struct {
	Total             int               `json:"total"`
	Retained          int               `json:"retained"`
	HarborHostname    string            `json:"harbor_hostname,omitempty"`
	ProjectName       string            `json:"project_name,omitempty"`
	RetentionPolicyID int64             `json:"retention_policy_id,omitempty"`
	Status            string            `json:"result,omitempty"`
	DeletedArtifact   []RetentionDetail `json:"deleted_artifact,omitempty"`
}

// RetentionDetail is an artifact a retention run deleted.
type RetentionDetail struct {
	Type       string `json:"type"`
	Status     string `json:"status"`
	NameAndTag string `json:"name_tag"`
}

// PayloadOf builds the default payload of e. public is whether e's project
// is public; host is the registry's host (and port) for resource URLs.
func PayloadOf(e event.Event, public bool, host string) Payload {
	operator := e.Operator
	if operator == "" {
		operator = "anonymous"
	}
	p := Payload{Type: string(e.Type), OccurAt: e.Time.Unix(), Operator: operator}
	if e.Type == event.TagRetention {
		r := &Retention{HarborHostname: host, ProjectName: e.Project}
		if x := e.Retention; x != nil {
			r.Total, r.Retained, r.RetentionPolicyID, r.Status = x.Total, x.Retained, x.PolicyID, x.Status
			for _, d := range x.Deleted {
				r.DeletedArtifact = append(r.DeletedArtifact, RetentionDetail(d))
			}
		}
		p.EventData = &EventData{Retention: r}
		if e.Description != "" {
			p.EventData.Custom = map[string]string{"Details": e.Description}
		}
		return p
	}
	data := &EventData{}
	if e.Repository != "" {
		repoType := "private"
		if public {
			repoType = "public"
		}
		data.Repository = &Repository{
			Name: strings.TrimPrefix(e.Repository, e.Project+"/"), Namespace: e.Project,
			RepoFullName: e.Repository, RepoType: repoType,
		}
	}
	if e.Digest != "" || e.Tag != "" {
		res := Resource{Digest: e.Digest, Tag: e.Tag}
		if e.Type == event.QuotaExceed || e.Type == event.QuotaWarning {
			data.Resources = []Resource{res}
		} else {
			// Harbor names an untagged artifact by its digest, in both.
			ref := e.Repository + ":" + e.Tag
			if e.Tag == "" {
				res.Tag = e.Digest
				ref = e.Repository + "@" + e.Digest
			}
			if host != "" {
				ref = host + "/" + ref
			}
			res.ResourceURL = ref
			data.Resources = []Resource{res}
		}
	}
	if e.Type == event.QuotaExceed || e.Type == event.QuotaWarning {
		data.Custom = map[string]string{"Details": e.Description}
	}
	p.EventData = data
	return p
}

// CloudEvents types of Harbor's event types (src/pkg/notifier/formats/cloudevents.go).
var cloudEventTypes = map[string]string{
	string(event.PushArtifact):   "harbor.artifact.pushed",
	string(event.PullArtifact):   "harbor.artifact.pulled",
	string(event.DeleteArtifact): "harbor.artifact.deleted",
	string(event.QuotaExceed):    "harbor.quota.exceeded",
	string(event.QuotaWarning):   "harbor.quota.warned",
	string(event.TagRetention):   "harbor.tag_retention.finished",
}

// cloudEvent is a CloudEvents 1.0 event in structured JSON mode, with
// Harbor's extensions requestid and operator.
type cloudEvent struct {
	SpecVersion     string     `json:"specversion"`
	ID              string     `json:"id"`
	Source          string     `json:"source"`
	Type            string     `json:"type"`
	DataContentType string     `json:"datacontenttype"`
	Time            string     `json:"time"`
	Data            *EventData `json:"data,omitempty"`
	RequestID       string     `json:"requestid,omitempty"`
	Operator        string     `json:"operator,omitempty"`
}

// Content types of deliveries.
const (
	ContentJSON        = "application/json"
	ContentCloudEvents = "application/cloudevents+json"
)

// Render returns the body and content type that target t of policy p gets
// for payload. id identifies the event (the CloudEvents id) and requestID
// the occurrence that caused it (Harbor's requestid extension).
func Render(t store.WebhookTarget, p *store.WebhookPolicy, payload Payload, id, requestID string) (body []byte, contentType string, err error) {
	switch {
	case t.Type == NotifySlack:
		b, err := slackMessage(payload)
		return b, ContentJSON, err
	case t.PayloadFormat == FormatCloudEvents:
		typ, ok := cloudEventTypes[payload.Type]
		if !ok {
			return nil, "", fmt.Errorf("no CloudEvents type for event type %s", payload.Type)
		}
		ce := cloudEvent{
			SpecVersion: "1.0", ID: id, Source: fmt.Sprintf("/projects/%d/webhook/policies/%d", p.ProjectID, p.ID),
			Type: typ, DataContentType: ContentJSON, Time: time.Unix(payload.OccurAt, 0).UTC().Format(time.RFC3339),
			Data: payload.EventData, RequestID: requestID, Operator: payload.Operator,
		}
		b, err := json.Marshal(ce)
		return b, ContentCloudEvents, err
	default:
		b, err := json.Marshal(payload)
		return b, ContentJSON, err
	}
}

// Slack's Block Kit message, laid out as Harbor's (SlackBodyTemplate).
type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type string    `json:"type"`
	Text slackText `json:"text"`
}

func slackMessage(p Payload) ([]byte, error) {
	data, err := json.MarshalIndent(p.EventData, "", "  ")
	if err != nil {
		return nil, err
	}
	occur := time.Unix(p.OccurAt, 0).UTC().Format(time.RFC1123)
	lines := []string{
		"*Berth webhook events*",
		"*event_type:* " + p.Type,
		fmt.Sprintf("*occur_at:* <!date^%d^{date} at {time}|%s>", p.OccurAt, occur),
		"*operator:* " + p.Operator,
		"*event_data:*",
		"```" + string(data) + "```",
	}
	msg := struct {
		Blocks []slackBlock `json:"blocks"`
	}{}
	for _, l := range lines {
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Text: slackText{Type: "mrkdwn", Text: l}})
	}
	return json.Marshal(msg)
}

// newID returns a random version 4 UUID.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
