package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/testserver"
	"github.com/berth-dev/berth/internal/webhook"
)

// TestWebhookDelivery pushes, pulls and deletes in a project with webhook
// policies and checks what real receivers (plain HTTP, HTTPS with a
// self-signed certificate) get: Harbor's default payload, CloudEvents 1.0,
// a Slack message, the auth header and a signature that verifies with the
// policy's secret; that a disabled policy and one listening to other
// events send nothing; that a failed delivery is retried after a backoff
// with each response code in the history, and re-sent byte for byte on
// request; that certificates are verified unless skip_cert_verify; and
// the QUOTA_WARNING, QUOTA_EXCEED and TAG_RETENTION payloads.
func TestWebhookDelivery(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			start := time.Now()
			e := newArtEnv(t, backend)
			pid := e.project("hooks", false)

			plain, ce, slack, tlsRecv := newWHReceiver(t, false), newWHReceiver(t, false), newWHReceiver(t, false), newWHReceiver(t, true)
			off, deletes := newWHReceiver(t, false), newWHReceiver(t, false)
			authT := whTarget("http", plain.URL+"/hook", "")
			authT["auth_header"] = "Bearer s3cret-token"
			tlsT := whTarget("http", tlsRecv.URL+"/tls", "")
			tlsT["skip_cert_verify"] = true
			all := e.createPolicy("hooks", whPolicy("all", []string{"PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"},
				authT, whTarget("http", ce.URL, "CloudEvents"), whTarget("slack", slack.URL, ""), tlsT))
			offBody := whPolicy("off", []string{"PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT"}, whTarget("http", off.URL, ""))
			offBody["enabled"] = false
			offPolicy := e.createPolicy("hooks", offBody)
			del := e.createPolicy("hooks", whPolicy("deletes", []string{"DELETE_ARTIFACT"}, whTarget("http", deletes.URL, "")))

			// Push: every target of "all" gets one delivery.
			before := time.Now().Add(-time.Second)
			img := e.image("hooks/app", "v1", "amd64")
			r := plain.wait(t, 1)[0]
			if r.header.Get("Content-Type") != "application/json" || r.header.Get("Authorization") != "Bearer s3cret-token" ||
				r.header.Get(webhook.EventHeader) != "PUSH_ARTIFACT" || !strings.HasPrefix(r.header.Get("User-Agent"), "Berth-Webhook") {
				t.Errorf("default delivery headers: %v", r.header)
			}
			sig := r.header.Get(webhook.SignatureHeader)
			if !webhook.Verify(all.secret, r.body, sig) || webhook.Verify("another-secret", r.body, sig) ||
				sig != webhook.Sign(all.secret, r.body) {
				t.Errorf("signature %q does not verify (only) with the policy's secret", sig)
			}
			var p whDefault
			whDecode(t, r.body, &p)
			res := p.EventData.Resources
			repo := p.EventData.Repository
			if p.Type != "PUSH_ARTIFACT" || p.Operator != "admin" || p.OccurAt < before.Unix() || p.OccurAt > time.Now().Unix()+1 ||
				len(res) != 1 || res[0].Digest != img.digest || res[0].Tag != "v1" || !strings.HasSuffix(res[0].ResourceURL, "hooks/app:v1") ||
				repo.Name != "app" || repo.Namespace != "hooks" || repo.RepoFullName != "hooks/app" || repo.RepoType != "private" {
				t.Errorf("default payload: %s", r.body)
			}

			r = ce.wait(t, 1)[0]
			var c struct {
				SpecVersion     string `json:"specversion"`
				ID              string `json:"id"`
				Source          string `json:"source"`
				Type            string `json:"type"`
				DataContentType string `json:"datacontenttype"`
				Time            string `json:"time"`
				RequestID       string `json:"requestid"`
				Operator        string `json:"operator"`
				Data            struct {
					Resources []struct{ Digest, Tag string } `json:"resources"`
				} `json:"data"`
			}
			whDecode(t, r.body, &c)
			ceTime, terr := time.Parse(time.RFC3339, c.Time)
			if r.header.Get("Content-Type") != "application/cloudevents+json" || c.SpecVersion != "1.0" || len(c.ID) != 36 ||
				c.Source != fmt.Sprintf("/projects/%d/webhook/policies/%d", pid, all.id) || c.Type != "harbor.artifact.pushed" ||
				c.DataContentType != "application/json" || terr != nil || ceTime.Before(before) || c.RequestID == "" || c.Operator != "admin" ||
				len(c.Data.Resources) != 1 || c.Data.Resources[0].Digest != img.digest || c.Data.Resources[0].Tag != "v1" ||
				!webhook.Verify(all.secret, r.body, r.header.Get(webhook.SignatureHeader)) {
				t.Errorf("CloudEvents delivery: %v %s", r.header, r.body)
			}

			r = slack.wait(t, 1)[0]
			var sm struct {
				Blocks []struct {
					Type string `json:"type"`
					Text struct{ Type, Text string }
				} `json:"blocks"`
			}
			whDecode(t, r.body, &sm)
			text := ""
			for _, b := range sm.Blocks {
				if b.Type != "section" || b.Text.Type != "mrkdwn" {
					t.Errorf("slack block %+v", b)
				}
				text += b.Text.Text + "\n"
			}
			if len(sm.Blocks) != 6 || !strings.Contains(text, "*event_type:* PUSH_ARTIFACT") || !strings.Contains(text, "*operator:* admin") ||
				!strings.Contains(text, img.digest) || !strings.Contains(text, "```") || r.header.Get("Authorization") != "" ||
				r.header.Get("Content-Type") != "application/json" || !webhook.Verify(all.secret, r.body, r.header.Get(webhook.SignatureHeader)) {
				t.Errorf("slack delivery: %v %s", r.header, r.body)
			}
			if r := tlsRecv.wait(t, 1)[0]; !webhook.Verify(all.secret, r.body, r.header.Get(webhook.SignatureHeader)) {
				t.Errorf("delivery over TLS (skip_cert_verify) not signed: %v", r.header)
			}

			// The history: one WEBHOOK execution with three tasks, one SLACK with one.
			execs := e.settled("hooks", all.id, 2)
			byVendor := map[string]api.WebhookExecution{}
			for _, x := range execs {
				byVendor[x.VendorType] = x
			}
			wh, sl := byVendor["WEBHOOK"], byVendor["SLACK"]
			if wh.Status != "Success" || wh.Trigger != "EVENT" || wh.VendorID != all.id || wh.Metrics == nil || wh.Metrics.TaskCount != 3 ||
				wh.Metrics.SuccessTaskCount != 3 || wh.ExtraAttrs["event_type"] != "PUSH_ARTIFACT" ||
				!strings.Contains(fmt.Sprint(wh.ExtraAttrs["payload"]), img.digest) || sl.Status != "Success" || sl.Metrics.TaskCount != 1 {
				t.Errorf("executions: %+v", execs)
			}
			for _, x := range execs {
				for _, tk := range e.tasks("hooks", all.id, x.ID) {
					if tk.Status != "Success" || tk.RunCount != 1 || !slices.Equal(whCodes(tk), []int{200}) || tk.ExtraAttrs["notify_type"] == nil {
						t.Errorf("task %+v", tk)
					}
					log := e.taskLog("hooks", all.id, x.ID, tk.ID)
					if !strings.Contains(log, "response code 200") || strings.Contains(log, "secret-internal-detail") || strings.Contains(log, "s3cret") {
						t.Errorf("task log: %s", log)
					}
				}
			}

			// Pull, then delete through /v2 and through the API: each is a
			// delivery to "all"; "deletes" gets only the deletions.
			if st := e.registry("GET", "/v2/hooks/app/manifests/v1", artAdmin); st != 200 {
				t.Fatalf("pull: %d", st)
			}
			if r := plain.wait(t, 2)[1]; !bytes.Contains(r.body, []byte(`"type":"PULL_ARTIFACT"`)) {
				t.Errorf("pull delivery: %s", r.body)
			}
			if st := e.registry("DELETE", "/v2/hooks/app/manifests/"+img.digest, artAdmin); st != 202 {
				t.Fatalf("delete: %d", st)
			}
			img3 := e.image("hooks/app", "v3", "amd64")
			e.expect("API delete", e.call("DELETE", "/api/v2.0/projects/hooks/repositories/app/artifacts/"+img3.digest, artAdmin, nil), 200, "")
			for i, d := range []string{img.digest, img3.digest} {
				var dp whDefault
				r := deletes.wait(t, i+1)[i]
				whDecode(t, r.body, &dp)
				if dp.Type != "DELETE_ARTIFACT" || len(dp.EventData.Resources) != 1 || dp.EventData.Resources[0].Digest != d ||
					dp.EventData.Repository.RepoFullName != "hooks/app" || !webhook.Verify(del.secret, r.body, r.header.Get(webhook.SignatureHeader)) {
					t.Errorf("delete delivery %d: %s", i, r.body)
				}
			}

			// A failing receiver: 500, then 200 after the backoff; both
			// attempts carry the same body, signature and delivery ID.
			flaky := newWHReceiver(t, false, http.StatusInternalServerError)
			f := e.createPolicy("hooks", whPolicy("flaky", []string{"PUSH_ARTIFACT"}, whTarget("http", flaky.URL, "")))
			e.image("hooks/app", "v2", "arm64")
			tries := flaky.wait(t, 2)
			if gap := tries[1].at.Sub(tries[0].at); gap < 1500*time.Millisecond {
				t.Errorf("retry after %v, want the 2s backoff", gap)
			}
			if !bytes.Equal(tries[0].body, tries[1].body) || tries[0].header.Get(webhook.SignatureHeader) != tries[1].header.Get(webhook.SignatureHeader) ||
				tries[0].header.Get(webhook.DeliveryHeader) != tries[1].header.Get(webhook.DeliveryHeader) {
				t.Errorf("retry differs from the first attempt")
			}
			fx := e.settled("hooks", f.id, 1)[0]
			ft := e.tasks("hooks", f.id, fx.ID)
			if fx.Status != "Success" || len(ft) != 1 || ft[0].RunCount != 2 || !slices.Equal(whCodes(ft[0]), []int{500, 200}) {
				t.Errorf("retried delivery: %+v %+v", fx, ft)
			}
			log := e.taskLog("hooks", f.id, fx.ID, ft[0].ID)
			if !strings.Contains(log, "response code 500") || !strings.Contains(log, "retrying in 2s") || !strings.Contains(log, "response code 200") {
				t.Errorf("retried delivery log:\n%s", log)
			}

			// Re-send (Berth's own operation): a new execution, same bytes.
			rr := e.call("POST", fmt.Sprintf("/api/v2.0/projects/hooks/webhook/policies/%d/executions/%d/retry", f.id, fx.ID), artAdmin, nil)
			e.expect("re-send", rr, http.StatusCreated, "")
			resent := flaky.wait(t, 3)[2]
			if !bytes.Equal(resent.body, tries[0].body) || resent.header.Get(webhook.SignatureHeader) != tries[0].header.Get(webhook.SignatureHeader) ||
				resent.header.Get(webhook.DeliveryHeader) == tries[0].header.Get(webhook.DeliveryHeader) {
				t.Errorf("re-sent delivery differs: %s", resent.body)
			}
			again := e.settled("hooks", f.id, 2)
			if loc := rr.header.Get("Location"); again[0].Trigger != "MANUAL" || again[0].Status != "Success" ||
				!strings.HasSuffix(loc, fmt.Sprintf("/webhook/policies/%d/executions/%d", f.id, again[0].ID)) ||
				again[0].ExtraAttrs["retry_of"] != float64(fx.ID) {
				t.Errorf("re-send execution: %+v (Location %s)", again[0], loc)
			}
			e.expect("re-send through another policy", e.call("POST",
				fmt.Sprintf("/api/v2.0/projects/hooks/webhook/policies/%d/executions/%d/retry", all.id, fx.ID), artAdmin, nil), 404, "NOT_FOUND")

			// The disabled policy sent nothing and has no history.
			if n := off.count(); n != 0 || len(e.executions("hooks", offPolicy.id, "")) != 0 {
				t.Errorf("disabled policy: %d deliveries", n)
			}
			if n := deletes.count(); n != 2 {
				t.Errorf("DELETE_ARTIFACT-only policy got %d deliveries, want 2", n)
			}

			// TAG_RETENTION (published as the retention job will), to a
			// receiver and to an HTTPS one whose certificate is not trusted.
			ret, strict := newWHReceiver(t, false), newWHReceiver(t, true)
			rp := e.createPolicy("hooks", whPolicy("retention", []string{"TAG_RETENTION"}, whTarget("http", ret.URL, ""),
				whTarget("http", strict.URL, "")))
			e.srv.App.Events.Publish(event.Event{Type: event.TagRetention, Operator: "admin", ProjectID: pid, Project: "hooks",
				Retention: &event.Retention{PolicyID: 7, Status: "Success", Total: 5, Retained: 3,
					Deleted: []event.RetentionArtifact{{Type: "IMAGE", Status: "SUCCESS", NameAndTag: "hooks/app:old"}}}})
			var rpay whDefault
			whDecode(t, ret.wait(t, 1)[0].body, &rpay)
			if x := rpay.EventData.Retention; rpay.Type != "TAG_RETENTION" || x == nil || x.Total != 5 || x.Retained != 3 ||
				x.ProjectName != "hooks" || x.RetentionPolicyID != 7 || x.Status != "Success" || len(x.DeletedArtifact) != 1 ||
				x.DeletedArtifact[0].NameAndTag != "hooks/app:old" {
				t.Errorf("retention payload: %+v", rpay)
			}
			var strictTask api.WebhookTask
			var strictExec int64
			whWaitFor(t, "the failed TLS attempt", func() bool {
				for _, x := range e.executions("hooks", rp.id, "") {
					for _, tk := range e.tasks("hooks", rp.id, x.ID) {
						if tk.ExtraAttrs["address"] == strict.URL && len(whCodes(tk)) > 0 {
							strictTask, strictExec = tk, x.ID
							return true
						}
					}
				}
				return false
			})
			if !slices.Equal(whCodes(strictTask), []int{0}) || strict.count() != 0 ||
				!strings.Contains(e.taskLog("hooks", rp.id, strictExec, strictTask.ID), "certificate") {
				t.Errorf("untrusted certificate: task %+v, %d requests reached the receiver", strictTask, strict.count())
			}
			if err := e.srv.App.Jobs.Stop(context.Background(), strictExec); err != nil {
				t.Fatal(err)
			}

			// LastTrigger and the legacy job list.
			var lt []api.WebhookLastTrigger
			e.get("/api/v2.0/projects/hooks/webhook/lasttrigger", artAdmin, &lt)
			found := 0
			for _, x := range lt {
				switch {
				case x.PolicyName == "all" && x.EventType == "PUSH_ARTIFACT":
					found++
					if tm, _ := time.Parse(time.RFC3339, x.LastTriggerTime); tm.Before(before) || !x.Enabled {
						t.Errorf("last trigger of all: %+v", x)
					}
				case x.PolicyName == "off" && x.EventType == "PUSH_ARTIFACT":
					found++
					if x.Enabled || !strings.HasPrefix(x.LastTriggerTime, "0001-") {
						t.Errorf("last trigger of the disabled policy: %+v", x)
					}
				}
			}
			if found != 2 || len(lt) != 3+3+1+1+1 {
				t.Errorf("last triggers: %+v", lt)
			}
			var jobs []api.WebhookJob
			jr := e.get(fmt.Sprintf("/api/v2.0/projects/hooks/webhook/jobs?policy_id=%d&page_size=100", all.id), artAdmin, &jobs)
			counts := map[string]int{}
			for _, j := range jobs {
				counts[j.EventType+" "+j.NotifyType]++
				if j.PolicyID != all.id || j.Status != "Success" || !strings.Contains(j.JobDetail, `"event_data"`) {
					t.Errorf("job %+v", j)
				}
			}
			// push v1, v2, v3; pull v1; delete v1, v3: 3 http targets and 1 slack each.
			if len(jobs) != 24 || jr.header.Get("X-Total-Count") != "24" || counts["PUSH_ARTIFACT http"] != 9 || counts["DELETE_ARTIFACT slack"] != 2 {
				t.Errorf("webhook jobs: %d (%s), by type %v", len(jobs), jr.header.Get("X-Total-Count"), counts)
			}
			e.get(fmt.Sprintf("/api/v2.0/projects/hooks/webhook/jobs?policy_id=%d&status=Error,pending", all.id), artAdmin, &jobs)
			if len(jobs) != 0 {
				t.Errorf("webhook jobs in error: %+v", jobs)
			}
			e.expect("jobs without policy", e.call("GET", "/api/v2.0/projects/hooks/webhook/jobs", artAdmin, nil), 400, "BAD_REQUEST")
			e.expect("jobs bad status", e.call("GET", fmt.Sprintf("/api/v2.0/projects/hooks/webhook/jobs?policy_id=%d&status=bogus", all.id), artAdmin, nil), 400, "BAD_REQUEST")
			e.expect("jobs of another project's policy", e.call("GET", fmt.Sprintf("/api/v2.0/projects/library/webhook/jobs?policy_id=%d", all.id), artAdmin, nil), 404, "NOT_FOUND")
			t.Logf("%s: deliveries checked in %v", backend, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestWebhookQuotaEvents fills a project's quota: a push that takes usage
// to 85% of the limit raises QUOTA_WARNING (once), a push over the limit is
// refused and raises QUOTA_EXCEED naming the refused blob.
func TestWebhookQuotaEvents(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newArtEnv(t, backend)
			ctx := context.Background()
			qid := e.project("quota", true)
			recv := newWHReceiver(t, false)
			e.createPolicy("quota", whPolicy("quota", []string{"QUOTA_EXCEED", "QUOTA_WARNING"}, whTarget("http", recv.URL, "")))
			img := e.image("quota/app", "v1", "amd64")
			q, err := e.srv.App.DB.GetQuota(ctx, qid)
			if err != nil {
				t.Fatal(err)
			}
			// 90% used: the next push warns, and any new blob is too much.
			if err := e.srv.App.DB.SetStorageLimit(ctx, qid, q.Used*100/90); err != nil {
				t.Fatal(err)
			}
			e.tag("quota/app", "again", img)
			layer := artRandom(int(q.Used))
			d := artDigest(layer)
			req, _ := http.NewRequest("POST", e.srv.URL+"/v2/quota/app/blobs/uploads/?digest="+d, bytes.NewReader(layer))
			req.SetBasicAuth(artAdmin.name, artAdmin.pass)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("push over quota: %d", resp.StatusCode)
			}
			got := map[string]whDefault{}
			for _, r := range recv.wait(t, 2) {
				var p whDefault
				whDecode(t, r.body, &p)
				got[p.Type] = p
			}
			w, x := got["QUOTA_WARNING"], got["QUOTA_EXCEED"]
			if w.Operator != "admin" || w.EventData.Repository.RepoFullName != "quota/app" || w.EventData.Repository.RepoType != "public" ||
				!strings.Contains(w.EventData.Custom["Details"], "(90%)") {
				t.Errorf("QUOTA_WARNING payload: %+v", w)
			}
			if x.Operator != "admin" || x.EventData.Repository.RepoFullName != "quota/app" || len(x.EventData.Resources) != 1 ||
				x.EventData.Resources[0].Digest != d || !strings.Contains(x.EventData.Custom["Details"], "quota exceeded") {
				t.Errorf("QUOTA_EXCEED payload: %+v", x)
			}
			// Still above 85%: another push does not warn again.
			e.tag("quota/app", "third", img)
			e.tag("quota/app", "fourth", img)
			time.Sleep(300 * time.Millisecond)
			if n := recv.count(); n != 2 {
				t.Errorf("%d deliveries, want 2 (one warning while above the level)", n)
			}
		})
	}
}

// TestWebhookPolicyAPI covers the policy operations: create (201,
// Location, the secret once in a header and never in a body), every
// validation error with nothing written, a duplicate name, listing with
// paging, q and sort, partial and full updates, delete, policies of
// another project, the supported event types, and who may do what.
func TestWebhookPolicyAPI(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newArtEnv(t, backend)
			pid := e.project("wh", false)
			e.project("other", false)
			alice, aliceID := e.user("whalice")
			mike, mikeID := e.user("whmike")
			dave, daveID := e.user("whdave")
			nobody, _ := e.user("whnobody")
			e.member(pid, aliceID, rbac.ProjectAdmin)
			e.member(pid, mikeID, rbac.Maintainer)
			e.member(pid, daveID, rbac.Developer)
			const base = "/api/v2.0/projects/wh/webhook/policies"
			target := whTarget("http", "https://hooks.example.com/in", "")

			r := e.call("POST", base, alice, whPolicy("first", []string{"PUSH_ARTIFACT", "PUSH_ARTIFACT", "QUOTA_EXCEED"}, target))
			e.expect("create", r, 201, "")
			secret := r.header.Get(api.WebhookSecretHeader)
			loc := r.header.Get("Location")
			if len(secret) < 32 || !strings.HasPrefix(loc, base+"/") {
				t.Fatalf("create: secret %q, Location %q", secret, loc)
			}
			var got api.WebhookPolicy
			e.get(loc, mike, &got)
			raw := e.call("GET", loc, alice, nil).body
			if got.Name != "first" || got.ProjectID != pid || !got.Enabled || got.Creator != "whalice" ||
				!slices.Equal(got.EventTypes, []string{"PUSH_ARTIFACT", "QUOTA_EXCEED"}) || len(got.Targets) != 1 ||
				got.Targets[0].PayloadFormat != "Default" || got.Targets[0].Address != "https://hooks.example.com/in" ||
				bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte("secret")) {
				t.Errorf("created policy: %s", raw)
			}
			id := got.ID

			count := func() int {
				var list []api.WebhookPolicy
				e.get(base+"?page_size=100", artAdmin, &list)
				return len(list)
			}
			bad := []struct {
				name string
				body any
			}{
				{"malformed", `{"name": "x",`},
				{"unknown field", `{"name": "x", "secret": "mine"}`},
				{"wrong type", `{"name": "x", "enabled": "yes"}`},
				{"no name", whPolicy("", []string{"PUSH_ARTIFACT"}, target)},
				{"name with a slash", whPolicy("a/b", []string{"PUSH_ARTIFACT"}, target)},
				{"name with a newline", whPolicy("a\nb", []string{"PUSH_ARTIFACT"}, target)},
				{"long name", whPolicy(strings.Repeat("n", 256), []string{"PUSH_ARTIFACT"}, target)},
				{"no event types", whPolicy("x", []string{}, target)},
				{"unknown event type", whPolicy("x", []string{"SCANNING_COMPLETED"}, target)},
				{"no targets", whPolicy("x", []string{"PUSH_ARTIFACT"})},
				{"unknown target type", whPolicy("x", []string{"PUSH_ARTIFACT"}, whTarget("email", "https://a.example/", ""))},
				{"not http(s)", whPolicy("x", []string{"PUSH_ARTIFACT"}, whTarget("http", "ftp://a.example/", ""))},
				{"relative address", whPolicy("x", []string{"PUSH_ARTIFACT"}, whTarget("http", "/hook", ""))},
				{"credentials in address", whPolicy("x", []string{"PUSH_ARTIFACT"}, whTarget("http", "https://u:p@a.example/", ""))},
				{"unknown format", whPolicy("x", []string{"PUSH_ARTIFACT"}, whTarget("http", "https://a.example/", "XML"))},
				{"slack with a format", whPolicy("x", []string{"PUSH_ARTIFACT"}, whTarget("slack", "https://a.example/", "CloudEvents"))},
				{"header with a newline", whPolicy("x", []string{"PUSH_ARTIFACT"}, map[string]any{"type": "http", "address": "https://a.example/", "auth_header": "a\r\nX-Evil: 1"})},
				{"other project", map[string]any{"name": "x", "project_id": pid + 1, "event_types": []string{"PUSH_ARTIFACT"}, "targets": []any{target}}},
			}
			for _, b := range bad {
				e.expect("create with "+b.name, e.call("POST", base, alice, b.body), 400, "BAD_REQUEST")
				e.expect("update with "+b.name, e.call("PUT", fmt.Sprintf("%s/%d", base, id), alice, b.body), 400, "BAD_REQUEST")
			}
			e.expect("duplicate name", e.call("POST", base, alice, whPolicy("first", []string{"PULL_ARTIFACT"}, target)), 409, "CONFLICT")
			if n := count(); n != 1 {
				t.Fatalf("refused creations wrote policies: %d", n)
			}
			e.get(fmt.Sprintf("%s/%d", base, id), alice, &got)
			if got.Name != "first" || len(got.EventTypes) != 2 {
				t.Errorf("refused updates changed the policy: %+v", got)
			}

			// Listing: paging, q, sort.
			for _, n := range []string{"second", "third"} {
				e.expect("create "+n, e.call("POST", base, alice, whPolicy(n, []string{"PULL_ARTIFACT"},
					whTarget("slack", "https://hooks.slack.example/services/x", ""))), 201, "")
			}
			var list []api.WebhookPolicy
			lr := e.get(base+"?page=1&page_size=2", mike, &list)
			if len(list) != 2 || lr.header.Get("X-Total-Count") != "3" || !strings.Contains(lr.header.Get("Link"), `rel="next"`) ||
				list[0].Name != "first" {
				t.Errorf("page 1: %+v %v", list, lr.header)
			}
			e.get(base+"?q=name%3D~ir&sort=-name", mike, &list)
			if len(list) != 2 || list[0].Name != "third" || list[1].Name != "first" {
				t.Errorf("q=name=~ir sort=-name: %+v", list)
			}
			e.expect("bad q", e.call("GET", base+"?q=secret%3Dx", mike, nil), 400, "BAD_REQUEST")

			// Update: a partial body changes what it carries; a full one all.
			e.expect("disable", e.call("PUT", fmt.Sprintf("%s/%d", base, id), alice, map[string]bool{"enabled": false}), 200, "")
			e.get(fmt.Sprintf("%s/%d", base, id), alice, &got)
			if got.Enabled || got.Name != "first" || len(got.Targets) != 1 || len(got.EventTypes) != 2 {
				t.Errorf("after disabling: %+v", got)
			}
			full := whPolicy("renamed", []string{"DELETE_ARTIFACT"}, whTarget("http", "http://10.0.0.1:8080/x", "CloudEvents"))
			full["id"], full["project_id"], full["creator"], full["creation_time"] = id, pid, "someone", "2020-01-01T00:00:00Z"
			e.expect("full update", e.call("PUT", fmt.Sprintf("%s/%d", base, id), alice, full), 200, "")
			e.get(fmt.Sprintf("%s/%d", base, id), alice, &got)
			if got.Name != "renamed" || !got.Enabled || got.Creator != "whalice" || got.Targets[0].PayloadFormat != "CloudEvents" ||
				!slices.Equal(got.EventTypes, []string{"DELETE_ARTIFACT"}) {
				t.Errorf("after full update: %+v", got)
			}
			e.expect("update with another id", e.call("PUT", fmt.Sprintf("%s/%d", base, id), alice, map[string]any{"id": id + 100}), 400, "BAD_REQUEST")
			e.expect("rename onto another", e.call("PUT", fmt.Sprintf("%s/%d", base, id), alice, map[string]any{"name": "second"}), 409, "CONFLICT")

			// Policies of another project are not found through this one.
			e.expect("other project's path", e.call("GET", fmt.Sprintf("/api/v2.0/projects/other/webhook/policies/%d", id), artAdmin, nil), 404, "NOT_FOUND")
			e.expect("missing policy", e.call("GET", base+"/999999", alice, nil), 404, "NOT_FOUND")
			e.expect("bad policy id", e.call("GET", base+"/abc", alice, nil), 400, "BAD_REQUEST")

			// Supported types.
			var st api.SupportedWebhookEventTypes
			e.get("/api/v2.0/projects/wh/webhook/events", mike, &st)
			if !slices.Equal(st.EventType, []string{"PUSH_ARTIFACT", "PULL_ARTIFACT", "DELETE_ARTIFACT", "QUOTA_EXCEED", "QUOTA_WARNING", "TAG_RETENTION"}) ||
				!slices.Equal(st.NotifyType, []string{"http", "slack"}) || len(st.PayloadFormats) != 1 ||
				st.PayloadFormats[0].NotifyType != "http" || !slices.Equal(st.PayloadFormats[0].Formats, []string{"Default", "CloudEvents"}) {
				t.Errorf("supported event types: %+v", st)
			}

			// Who may do what: projectAdmin all; maintainer reads; developer
			// nothing (403); a non-member does not see the project (404);
			// anonymous must sign in (401).
			pol := fmt.Sprintf("%s/%d", base, id)
			for _, c := range []struct {
				who                string
				u                  artUser
				list, get, execs   int
				create, upd, delst int
			}{
				{"maintainer", mike, 200, 200, 200, 403, 403, 403},
				{"developer", dave, 403, 403, 403, 403, 403, 403},
				{"non-member", nobody, 404, 404, 404, 404, 404, 404},
				{"anonymous", artUser{}, 401, 401, 401, 401, 401, 401},
			} {
				for _, call := range []struct {
					method, path string
					body         any
					want         int
				}{
					{"GET", base, nil, c.list},
					{"GET", pol, nil, c.get},
					{"GET", pol + "/executions", nil, c.execs},
					{"GET", "/api/v2.0/projects/wh/webhook/lasttrigger", nil, c.get},
					{"GET", "/api/v2.0/projects/wh/webhook/events", nil, c.get},
					{"POST", base, whPolicy("by-"+c.who, []string{"PUSH_ARTIFACT"}, target), c.create},
					{"PUT", pol, map[string]bool{"enabled": true}, c.upd},
					{"DELETE", pol, nil, c.delst},
				} {
					if r := e.call(call.method, call.path, c.u, call.body); r.status != call.want {
						t.Errorf("%s %s as %s: %d, want %d: %s", call.method, call.path, c.who, r.status, call.want, r.body)
					}
				}
			}
			if n := count(); n != 3 {
				t.Errorf("refused callers changed the policies: %d", n)
			}

			e.expect("delete", e.call("DELETE", pol, alice, nil), 200, "")
			e.expect("get deleted", e.call("GET", pol, alice, nil), 404, "NOT_FOUND")
			e.expect("delete again", e.call("DELETE", pol, alice, nil), 404, "NOT_FOUND")
			e.waitAudit("whalice", "delete", "webhook_policy", "wh/renamed")
		})
	}
}

// TestWebhookTestDelivery covers Berth's test delivery of a (disabled)
// policy: it reaches every target at once, before the answer, with the
// payload format, auth header, signature and test header of a real
// delivery; the answer lists each target's redacted address, response code
// or error and duration; a receiver answering 500 and a refused connection
// are failed results with one attempt and no retry; the deliveries are in
// the history as executions with trigger TEST, their tasks and logs; the
// audit log has it; and only those who may update the policy may test it.
func TestWebhookTestDelivery(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newArtEnv(t, backend)
			pid := e.project("hooktest", false)
			alice, aliceID := e.user("whtalice")
			mike, mikeID := e.user("whtmike")
			dave, daveID := e.user("whtdave")
			gina, ginaID := e.user("whtgina")
			nobody, _ := e.user("whtnobody")
			e.member(pid, aliceID, rbac.ProjectAdmin)
			e.member(pid, mikeID, rbac.Maintainer)
			e.member(pid, daveID, rbac.Developer)
			e.member(pid, ginaID, rbac.Guest)

			plain, ce, slack, failing := newWHReceiver(t, false), newWHReceiver(t, false), newWHReceiver(t, false), newWHReceiver(t, false, 500)
			authT := whTarget("http", plain.URL+"/hook?token=q-s3cret", "")
			authT["auth_header"] = "Bearer t3st-token"
			body := whPolicy("tested", []string{"DELETE_ARTIFACT", "PUSH_ARTIFACT"}, authT, whTarget("http", ce.URL+"/ce", "CloudEvents"),
				whTarget("slack", slack.URL+"/slack", ""), whTarget("http", failing.URL+"/fail", ""), whTarget("http", "http://127.0.0.1:9/refused", ""))
			body["enabled"] = false
			pol := e.createPolicy("hooktest", body)
			path := fmt.Sprintf("/api/v2.0/projects/hooktest/webhook/policies/%d/test", pol.id)

			r := e.call("POST", path, alice, nil)
			e.expect("test delivery", r, http.StatusOK, "")
			// Synchronous: every receiver has its request before the answer.
			for name, rc := range map[string]*whReceiver{"plain": plain, "cloudevents": ce, "slack": slack, "failing": failing} {
				if n := rc.count(); n != 1 {
					t.Errorf("%s receiver: %d requests when the answer came, want 1", name, n)
				}
			}
			var res api.WebhookTestResult
			whDecode(t, r.body, &res)
			if res.EventType != "DELETE_ARTIFACT" || len(res.Targets) != 5 || bytes.Contains(r.body, []byte("s3cret")) || bytes.Contains(r.body, []byte("t3st-token")) {
				t.Fatalf("test result: %s", r.body)
			}
			by := map[string]api.WebhookTestTarget{}
			for _, x := range res.Targets {
				by[x.Address] = x
				if x.ExecutionID == 0 || x.TaskID == 0 || x.DurationMS < 0 || x.DurationMS > 10000 {
					t.Errorf("target result %+v", x)
				}
			}
			want := []struct {
				address, typ, format, status string
				code                         int
				err                          string
			}{
				{plain.URL + "/hook", "http", "Default", "Success", 200, ""},
				{ce.URL + "/ce", "http", "CloudEvents", "Success", 200, ""},
				{slack.URL + "/slack", "slack", "", "Success", 200, ""},
				{failing.URL + "/fail", "http", "Default", "Error", 500, "500"},
				// Never the connection's details (TestWebhookInternalTargets).
				{"http://127.0.0.1:9/refused", "http", "Default", "Error", 0, "no HTTP response from the target"},
			}
			for _, w := range want {
				x, ok := by[w.address]
				if !ok || x.Type != w.typ || x.PayloadFormat != w.format || x.Status != w.status || x.ResponseCode != w.code ||
					(w.err == "") != (x.Error == "") || !strings.Contains(x.Error, w.err) {
					t.Errorf("result for %s: %+v, want %+v", w.address, x, w)
				}
			}

			// What the receivers got: a real delivery, marked as a test.
			got := plain.wait(t, 1)[0]
			if got.header.Get("Authorization") != "Bearer t3st-token" || got.header.Get("Content-Type") != "application/json" ||
				got.header.Get(webhook.EventHeader) != "DELETE_ARTIFACT" || got.header.Get(webhook.TestHeader) != "true" ||
				got.header.Get(webhook.DeliveryHeader) != fmt.Sprint(by[plain.URL+"/hook"].TaskID) ||
				!webhook.Verify(pol.secret, got.body, got.header.Get(webhook.SignatureHeader)) {
				t.Errorf("test delivery headers: %v", got.header)
			}
			var p whDefault
			whDecode(t, got.body, &p)
			if p.Type != "DELETE_ARTIFACT" || p.Operator != "whtalice" || p.EventData.Repository.RepoFullName != "hooktest/"+webhook.TestRepository ||
				p.EventData.Custom["test"] != "true" || !strings.Contains(p.EventData.Custom["Details"], "tested") ||
				len(p.EventData.Resources) != 1 || p.EventData.Resources[0].Digest != webhook.TestDigest {
				t.Errorf("test payload: %s", got.body)
			}
			got = ce.wait(t, 1)[0]
			var c struct {
				SpecVersion string `json:"specversion"`
				Type        string `json:"type"`
				Source      string `json:"source"`
			}
			whDecode(t, got.body, &c)
			if got.header.Get("Content-Type") != "application/cloudevents+json" || c.SpecVersion != "1.0" || c.Type != "harbor.artifact.deleted" ||
				c.Source != fmt.Sprintf("/projects/%d/webhook/policies/%d", pid, pol.id) || got.header.Get(webhook.TestHeader) != "true" ||
				!webhook.Verify(pol.secret, got.body, got.header.Get(webhook.SignatureHeader)) {
				t.Errorf("CloudEvents test delivery: %v %s", got.header, got.body)
			}
			got = slack.wait(t, 1)[0]
			if !strings.Contains(string(got.body), "*event_type:* DELETE_ARTIFACT") || got.header.Get("Authorization") != "" ||
				!webhook.Verify(pol.secret, got.body, got.header.Get(webhook.SignatureHeader)) {
				t.Errorf("slack test delivery: %v %s", got.header, got.body)
			}

			// The history: executions with trigger TEST, finished, one
			// attempt per task (no retry is pending).
			execs := e.executions("hooktest", pol.id, "?q=trigger%3DTEST")
			if len(execs) != 2 {
				t.Fatalf("TEST executions: %+v", execs)
			}
			for _, x := range execs {
				wantStatus, wantTasks := "Error", 4
				if x.VendorType == "SLACK" {
					wantStatus, wantTasks = "Success", 1
				}
				if x.Status != wantStatus || x.Trigger != "TEST" || x.VendorID != pol.id || x.ExtraAttrs["test"] != true ||
					x.ExtraAttrs["event_type"] != "DELETE_ARTIFACT" || x.Metrics == nil || x.Metrics.TaskCount != wantTasks || strings.HasPrefix(x.EndTime, "0001") {
					t.Errorf("TEST execution %+v", x)
				}
				for _, tk := range e.tasks("hooktest", pol.id, x.ID) {
					res := by[fmt.Sprint(tk.ExtraAttrs["address"])]
					if tk.RunCount != 1 || tk.Status != res.Status || res.TaskID != tk.ID || res.ExecutionID != x.ID ||
						!slices.Equal(whCodes(tk), []int{res.ResponseCode}) {
						t.Errorf("task %+v, result %+v", tk, res)
					}
					log := e.taskLog("hooktest", pol.id, x.ID, tk.ID)
					if !strings.Contains(log, "attempt 1 of 1") || strings.Contains(log, "retrying") || strings.Contains(log, "s3cret") {
						t.Errorf("task log: %s", log)
					}
				}
			}
			e.waitAudit("whtalice", "create", "webhook_execution", "hooktest/tested test")

			// Who may test: project admins (and the system admin) only.
			for _, c := range []struct {
				who  string
				u    artUser
				want int
			}{
				{"maintainer", mike, 403}, {"developer", dave, 403}, {"guest", gina, 403},
				{"non-member", nobody, 404}, {"anonymous", artUser{}, 401}, {"system admin", artAdmin, 200},
			} {
				if r := e.call("POST", path, c.u, nil); r.status != c.want {
					t.Errorf("test as %s: %d, want %d: %s", c.who, r.status, c.want, r.body)
				}
			}
			if n := plain.count(); n != 2 {
				t.Errorf("after refused tests the receiver got %d requests, want 2 (alice's and admin's)", n)
			}
			if n, m := len(e.executions("hooktest", pol.id, "?q=trigger%3DTEST")), len(e.executions("hooktest", pol.id, "?q=trigger%3DEVENT")); n != 4 || m != 0 {
				t.Errorf("executions: %d with trigger TEST (want 4), %d with EVENT (want 0)", n, m)
			}

			// Bad IDs.
			e.expect("unknown policy", e.call("POST", "/api/v2.0/projects/hooktest/webhook/policies/999999/test", alice, nil), 404, "NOT_FOUND")
			e.expect("bad policy id", e.call("POST", "/api/v2.0/projects/hooktest/webhook/policies/abc/test", alice, nil), 400, "BAD_REQUEST")
			e.expect("unknown project", e.call("POST", fmt.Sprintf("/api/v2.0/projects/nosuch/webhook/policies/%d/test", pol.id), artAdmin, nil), 404, "NOT_FOUND")
			e.project("elsewhere", false)
			e.expect("other project's policy", e.call("POST", fmt.Sprintf("/api/v2.0/projects/elsewhere/webhook/policies/%d/test", pol.id), artAdmin, nil), 404, "NOT_FOUND")

			// The policy stays as it was: disabled.
			var after api.WebhookPolicy
			e.get(fmt.Sprintf("/api/v2.0/projects/hooktest/webhook/policies/%d", pol.id), alice, &after)
			if after.Enabled {
				t.Error("testing enabled the policy")
			}
		})
	}
}
