package webhook_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/webhook"
)

func TestValidate(t *testing.T) {
	ok := func() store.WebhookPolicy {
		return store.WebhookPolicy{Name: "hook", EventTypes: []string{"PUSH_ARTIFACT"},
			Targets: []store.WebhookTarget{{Type: "http", Address: "https://example.com/in"}}}
	}
	p := ok()
	p.EventTypes = []string{"PUSH_ARTIFACT", "PULL_ARTIFACT", "PUSH_ARTIFACT"}
	if err := webhook.Validate(&p); err != nil || len(p.EventTypes) != 2 || p.Targets[0].PayloadFormat != "Default" {
		t.Fatalf("valid policy: %v %+v", err, p)
	}
	for _, c := range []struct {
		name string
		edit func(*store.WebhookPolicy)
		msg  string
	}{
		{"empty name", func(p *store.WebhookPolicy) { p.Name = "" }, "name is required"},
		{"spaces", func(p *store.WebhookPolicy) { p.Name = " x" }, "spaces"},
		{"slash", func(p *store.WebhookPolicy) { p.Name = "a/b" }, "slashes"},
		{"control", func(p *store.WebhookPolicy) { p.Name = "a\tb" }, "control"},
		{"no events", func(p *store.WebhookPolicy) { p.EventTypes = nil }, "event_types is empty"},
		{"bad event", func(p *store.WebhookPolicy) { p.EventTypes = []string{"push_artifact"} }, "unsupported event type"},
		{"no targets", func(p *store.WebhookPolicy) { p.Targets = nil }, "targets is empty"},
		{"too many targets", func(p *store.WebhookPolicy) {
			for range 10 {
				p.Targets = append(p.Targets, p.Targets[0])
			}
		}, "at most"},
		{"type", func(p *store.WebhookPolicy) { p.Targets[0].Type = "teams" }, "unsupported target type"},
		{"scheme", func(p *store.WebhookPolicy) { p.Targets[0].Address = "file:///etc/passwd" }, "absolute http or https"},
		{"no host", func(p *store.WebhookPolicy) { p.Targets[0].Address = "http:///x" }, "absolute http or https"},
		{"user", func(p *store.WebhookPolicy) { p.Targets[0].Address = "http://a:b@example.com/" }, "credentials"},
		{"format", func(p *store.WebhookPolicy) { p.Targets[0].PayloadFormat = "cloudevents" }, "unsupported payload format"},
		{"slack format", func(p *store.WebhookPolicy) { p.Targets[0].Type, p.Targets[0].PayloadFormat = "slack", "Default" }, "no payload format"},
		{"header", func(p *store.WebhookPolicy) { p.Targets[0].AuthHeader = "x\ny" }, "line breaks"},
	} {
		p := ok()
		c.edit(&p)
		err := webhook.Validate(&p)
		if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want invalid with %q", c.name, err, c.msg)
		}
	}
}

func TestSignature(t *testing.T) {
	body := []byte(`{"type":"PUSH_ARTIFACT"}`)
	sig := webhook.Sign("k3y", body)
	// echo -n '{"type":"PUSH_ARTIFACT"}' | openssl dgst -sha256 -hmac k3y
	if sig != "sha256=ea6a841d8a52c785121b86e6a05ac6e5b7c7a948d25f0b63d6a7fdc173a1179e" {
		t.Fatalf("signature %q", sig)
	}
	for _, c := range []struct {
		secret, header string
		body           []byte
		want           bool
	}{
		{"k3y", sig, body, true},
		{"k3y", " " + sig + " ", body, true},
		{"other", sig, body, false},
		{"k3y", sig, []byte(`{"type":"PULL_ARTIFACT"}`), false},
		{"k3y", strings.TrimPrefix(sig, "sha256="), body, false},
		{"k3y", "sha256=zz", body, false},
		{"k3y", "", body, false},
	} {
		if got := webhook.Verify(c.secret, c.body, c.header); got != c.want {
			t.Errorf("Verify(%q, %q) = %v", c.secret, c.header, got)
		}
	}
}

func TestPayloads(t *testing.T) {
	at := time.Unix(1700000000, 0)
	digest := "sha256:" + strings.Repeat("ab", 32)
	policy := &store.WebhookPolicy{ID: 3, ProjectID: 9}
	pull := event.Event{Type: event.PullArtifact, Time: at, ProjectID: 9, Project: "lib", Repository: "lib/a/b", Digest: digest}

	// An untagged artifact is named by its digest, as Harbor does.
	p := webhook.PayloadOf(pull, true, "reg.example:5000")
	r := p.EventData.Resources[0]
	if p.Operator != "anonymous" || p.OccurAt != at.Unix() || r.Tag != digest || r.ResourceURL != "reg.example:5000/lib/a/b@"+digest ||
		p.EventData.Repository.Name != "a/b" || p.EventData.Repository.RepoType != "public" {
		t.Errorf("pull payload: %+v %+v", p, r)
	}

	body, ctype, err := webhook.Render(store.WebhookTarget{Type: "http", PayloadFormat: "CloudEvents"}, policy, p, "id-1", "req-1")
	var ce map[string]any
	json.Unmarshal(body, &ce)
	if err != nil || ctype != "application/cloudevents+json" || ce["specversion"] != "1.0" || ce["type"] != "harbor.artifact.pulled" ||
		ce["source"] != "/projects/9/webhook/policies/3" || ce["id"] != "id-1" || ce["requestid"] != "req-1" ||
		ce["time"] != "2023-11-14T22:13:20Z" || ce["operator"] != "anonymous" || ce["data"] == nil {
		t.Errorf("CloudEvents: %v %s %s", err, ctype, body)
	}

	body, ctype, err = webhook.Render(store.WebhookTarget{Type: "http", PayloadFormat: "Default"}, policy, p, "id-1", "req-1")
	var def map[string]any
	json.Unmarshal(body, &def)
	if err != nil || ctype != "application/json" || def["type"] != "PULL_ARTIFACT" || def["occur_at"] != float64(at.Unix()) {
		t.Errorf("default: %v %s", err, body)
	}

	body, _, err = webhook.Render(store.WebhookTarget{Type: "slack"}, policy, p, "", "")
	var slack struct {
		Blocks []struct {
			Type string
			Text struct{ Type, Text string }
		}
	}
	if err := json.Unmarshal(body, &slack); err != nil || len(slack.Blocks) != 6 ||
		!strings.Contains(slack.Blocks[2].Text.Text, "<!date^1700000000^") || !strings.Contains(slack.Blocks[5].Text.Text, digest) {
		t.Errorf("slack: %v %s", err, body)
	}

	// Quota events: the details, and a resource without a URL.
	q := webhook.PayloadOf(event.Event{Type: event.QuotaExceed, Time: at, Operator: "bob", Project: "lib", Repository: "lib/x",
		Digest: digest, Description: "quota exceeded in project lib"}, false, "reg.example")
	if q.EventData.Custom["Details"] != "quota exceeded in project lib" || q.EventData.Resources[0].ResourceURL != "" ||
		q.EventData.Resources[0].Tag != "" || q.EventData.Repository.RepoType != "private" {
		t.Errorf("quota payload: %+v", q.EventData)
	}
	body, _, err = webhook.Render(store.WebhookTarget{Type: "http", PayloadFormat: "CloudEvents"}, policy, q, "i", "r")
	if err != nil || !strings.Contains(string(body), `"type":"harbor.quota.exceeded"`) {
		t.Errorf("quota CloudEvents: %v %s", err, body)
	}

	// A retention event without an outcome still names the project.
	rp := webhook.PayloadOf(event.Event{Type: event.TagRetention, Time: at, Project: "lib"}, false, "reg.example")
	if rp.EventData.Retention == nil || rp.EventData.Retention.ProjectName != "lib" || rp.EventData.Retention.HarborHostname != "reg.example" {
		t.Errorf("retention payload: %+v", rp.EventData)
	}
}
