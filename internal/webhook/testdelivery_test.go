package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/webhook"
)

// runner records what Test asks the job system to run.
type runner struct {
	mu    sync.Mutex
	calls []runCall
	fail  error
}

// call returns the run of vendor type vendor.
func (r *runner) call(t *testing.T, vendor string) runCall {
	t.Helper()
	for _, c := range r.calls {
		if c.vendor == vendor {
			return c
		}
	}
	t.Fatalf("no run of %s: %+v", vendor, r.calls)
	return runCall{}
}

type runCall struct {
	vendor  string
	policy  int64
	trigger string
	extra   map[string]any
	tasks   []jobs.TaskOf
}

func (r *runner) RunNow(_ context.Context, vendorType string, vendorID int64, trigger string, extra any, tasks ...jobs.TaskOf) (int64, error) {
	if r.fail != nil {
		return 0, r.fail
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, runCall{vendorType, vendorID, trigger, extra.(map[string]any), tasks})
	return int64(len(r.calls)), nil
}

// sent is a delivery task's parameters as the deliver handler reads them.
type sent struct {
	PolicyID    int64               `json:"policy_id"`
	EventType   string              `json:"event_type"`
	Target      store.WebhookTarget `json:"target"`
	ContentType string              `json:"content_type"`
	Body        string              `json:"body"`
	Signature   string              `json:"signature"`
	Test        bool                `json:"test"`
}

func TestTestDelivery(t *testing.T) {
	proj := &store.Project{ID: 4, Name: "lib", Public: true}
	p := &store.WebhookPolicy{ID: 9, ProjectID: 4, Name: "ci", Secret: "k3y", EventTypes: []string{"QUOTA_EXCEED", "PUSH_ARTIFACT"},
		Targets: []store.WebhookTarget{
			{Type: "http", Address: "https://a.example/in?token=x", AuthHeader: "Bearer t", PayloadFormat: "Default"},
			{Type: "slack", Address: "https://hooks.slack.example/s"},
			{Type: "http", Address: "https://b.example/ce", PayloadFormat: "CloudEvents", SkipCertVerify: true},
		}}
	r := &runner{}
	ids, err := webhook.Test(context.Background(), r, proj, p, "alice", "https://berth.example")
	if err != nil || len(ids) != 2 || len(r.calls) != 2 {
		t.Fatalf("Test: %v %v %+v", ids, err, r.calls)
	}
	// One execution per vendor type, as for events.
	wh, sl := r.call(t, store.WebhookVendor), r.call(t, store.SlackVendor)
	if wh.vendor != store.WebhookVendor || sl.vendor != store.SlackVendor || len(wh.tasks) != 2 || len(sl.tasks) != 1 ||
		wh.policy != 9 || wh.trigger != webhook.TestTrigger || wh.extra["test"] != true || wh.extra["event_type"] != "QUOTA_EXCEED" {
		t.Fatalf("runs: %+v", r.calls)
	}
	var d []sent
	for _, task := range append(wh.tasks, sl.tasks...) {
		b, _ := json.Marshal(task.Params)
		var s sent
		json.Unmarshal(b, &s)
		if kind := map[string]string{"http": store.WebhookVendor, "slack": store.SlackVendor}[s.Target.Type]; task.Kind != kind {
			t.Errorf("task kind %s for target %+v", task.Kind, s.Target)
		}
		if !s.Test || s.PolicyID != 9 || s.EventType != "QUOTA_EXCEED" || s.Signature != webhook.Sign("k3y", []byte(s.Body)) {
			t.Errorf("delivery %+v", s)
		}
		d = append(d, s)
	}
	var def struct {
		Type      string `json:"type"`
		Operator  string `json:"operator"`
		EventData struct {
			Resources  []struct{ Digest, Tag string } `json:"resources"`
			Repository struct {
				RepoFullName string `json:"repo_full_name"`
				RepoType     string `json:"repo_type"`
			} `json:"repository"`
			Custom map[string]string `json:"custom_attributes"`
		} `json:"event_data"`
	}
	if err := json.Unmarshal([]byte(d[0].Body), &def); err != nil || d[0].ContentType != webhook.ContentJSON || d[0].Target.AuthHeader != "Bearer t" ||
		def.Type != "QUOTA_EXCEED" || def.Operator != "alice" || def.EventData.Repository.RepoFullName != "lib/"+webhook.TestRepository ||
		def.EventData.Repository.RepoType != "public" || len(def.EventData.Resources) != 1 || def.EventData.Resources[0].Digest != webhook.TestDigest ||
		def.EventData.Custom["test"] != "true" || !strings.Contains(def.EventData.Custom["Details"], "Test event of webhook policy ci") {
		t.Errorf("default test payload: %s", d[0].Body)
	}
	var ce struct {
		Type   string `json:"type"`
		Source string `json:"source"`
	}
	if err := json.Unmarshal([]byte(d[1].Body), &ce); err != nil || d[1].ContentType != webhook.ContentCloudEvents || !d[1].Target.SkipCertVerify ||
		ce.Type != "harbor.quota.exceeded" || ce.Source != "/projects/4/webhook/policies/9" {
		t.Errorf("CloudEvents test payload: %s", d[1].Body)
	}
	if !strings.Contains(d[2].Body, "*event_type:* QUOTA_EXCEED") || d[2].ContentType != webhook.ContentJSON {
		t.Errorf("slack test payload: %s", d[2].Body)
	}
	// What the history shows before the first attempt: the redacted address.
	x, _ := json.Marshal(wh.tasks[0].Extra)
	if strings.Contains(string(x), "token") || !strings.Contains(string(x), "https://a.example/in") {
		t.Errorf("task extra %s", x)
	}

	// TAG_RETENTION names no repository but the retention outcome.
	p.EventTypes = []string{"TAG_RETENTION"}
	r = &runner{}
	if _, err := webhook.Test(context.Background(), r, proj, p, "alice", ""); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r.call(t, store.WebhookVendor).tasks[0].Params)
	var s sent
	json.Unmarshal(b, &s)
	if !strings.Contains(s.Body, `"retention"`) || !strings.Contains(s.Body, `"project_name":"lib"`) || !strings.Contains(s.Body, `"test":"true"`) {
		t.Errorf("TAG_RETENTION test payload: %s", s.Body)
	}

	// A failure to record is the error.
	if _, err := webhook.Test(context.Background(), &runner{fail: errors.New("db down")}, proj, p, "alice", ""); err == nil {
		t.Error("Test with a failing runner: no error")
	}
}
