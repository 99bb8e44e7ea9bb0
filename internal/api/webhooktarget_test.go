package api_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestWebhookInternalTargets: by default (Harbor's behaviour) a policy may
// deliver to loopback; with webhook_block_internal_targets on, creating or
// re-targeting a policy at loopback, link-local (the metadata service),
// private, unspecified or multicast addresses is 400, and a delivery of a
// policy made before fails closed at dial time (the receiver gets
// nothing). The test endpoint answers a closed port and an open port that
// does not speak HTTP alike, with no connection details.
func TestWebhookInternalTargets(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newArtEnv(t, backend)
			e.project("hooks", false)
			recv := newWHReceiver(t, false)
			testPath := func(id int64) string { return fmt.Sprintf("/api/v2.0/projects/hooks/webhook/policies/%d/test", id) }
			testResult := func(id int64) api.WebhookTestResult {
				t.Helper()
				r := e.call("POST", testPath(id), artAdmin, nil)
				e.expect("test delivery", r, http.StatusOK, "")
				var res api.WebhookTestResult
				whDecode(t, r.body, &res)
				if len(res.Targets) != 1 {
					t.Fatalf("test result: %s", r.body)
				}
				return res
			}

			// Default: loopback targets work as before.
			var cfg map[string]struct{ Value any }
			e.get("/api/v2.0/configurations", artAdmin, &cfg)
			if v, ok := cfg["webhook_block_internal_targets"]; !ok || v.Value != false {
				t.Fatalf("webhook_block_internal_targets by default: %v, want false", cfg["webhook_block_internal_targets"])
			}
			before := e.createPolicy("hooks", whPolicy("before", []string{"PUSH_ARTIFACT"}, whTarget("http", recv.URL+"/hook", "")))
			if res := testResult(before.id); res.Targets[0].Status != "Success" || recv.count() != 1 {
				t.Fatalf("loopback delivery with the block off: %+v, %d requests", res, recv.count())
			}

			// On: refused at create and update, failing closed at delivery.
			e.expect("block on", e.call("PUT", "/api/v2.0/configurations", artAdmin, `{"webhook_block_internal_targets":true}`), http.StatusOK, "")
			e.get("/api/v2.0/configurations", artAdmin, &cfg)
			if cfg["webhook_block_internal_targets"].Value != true {
				t.Fatalf("setting not stored: %v", cfg["webhook_block_internal_targets"])
			}
			for _, addr := range []string{recv.URL + "/hook", "http://127.0.0.1:9/x", "http://localhost:8080/x", "http://[::1]/x",
				"http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/x", "http://192.168.1.1/x", "http://172.16.0.1/x",
				"http://0.0.0.0/x", "http://[::ffff:127.0.0.1]/x", "http://224.0.0.1/x", "http://[fe80::1]/x", "http://100.64.0.1/x", "https://127.1.2.3/x"} {
				r := e.call("POST", "/api/v2.0/projects/hooks/webhook/policies", artAdmin, whPolicy("internal", []string{"PUSH_ARTIFACT"}, whTarget("http", addr, "")))
				e.expect("create policy for "+addr, r, http.StatusBadRequest, "BAD_REQUEST")
				r = e.call("PUT", fmt.Sprintf("/api/v2.0/projects/hooks/webhook/policies/%d", before.id), artAdmin,
					map[string]any{"targets": []map[string]any{whTarget("http", addr, "")}})
				e.expect("re-target policy at "+addr, r, http.StatusBadRequest, "BAD_REQUEST")
			}
			// Public addresses are still accepted (nothing is sent to them here).
			e.createPolicy("hooks", whPolicy("public", []string{"PUSH_ARTIFACT"}, whTarget("http", "http://192.0.2.10/hook", "")))
			// Switching the old policy off is still possible: its targets are not re-checked.
			e.expect("disable old policy", e.call("PUT", fmt.Sprintf("/api/v2.0/projects/hooks/webhook/policies/%d", before.id), artAdmin, `{"enabled":false}`), http.StatusOK, "")
			res := testResult(before.id)
			if res.Targets[0].Status == "Success" || recv.count() != 1 {
				t.Fatalf("delivery to loopback with the block on: %+v, receiver has %d requests, want still 1", res, recv.count())
			}
			if strings.Contains(res.Targets[0].Error, "127.0.0.1") || strings.Contains(res.Targets[0].Error, "refused") && !strings.Contains(res.Targets[0].Error, "no HTTP response") {
				t.Errorf("blocked delivery's error: %q", res.Targets[0].Error)
			}

			// Off again: a closed port and an open port speaking something
			// else get the same answer (IDs and address aside).
			e.expect("block off", e.call("PUT", "/api/v2.0/configurations", artAdmin, `{"webhook_block_internal_targets":false}`), http.StatusOK, "")
			closed, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			closedAddr := closed.Addr().String()
			closed.Close()
			open, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer open.Close()
			go func() {
				for {
					c, err := open.Accept()
					if err != nil {
						return
					}
					c.SetDeadline(time.Now().Add(10 * time.Second))
					c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
					c.Close()
				}
			}()
			answer := func(hostport string) string {
				t.Helper()
				p := e.createPolicy("hooks", whPolicy("scan-"+strings.NewReplacer(".", "-", ":", "-").Replace(hostport), []string{"PUSH_ARTIFACT"},
					whTarget("http", "http://"+hostport+"/x", "")))
				r := e.call("POST", testPath(p.id), artAdmin, nil)
				e.expect("test "+hostport, r, http.StatusOK, "")
				var m map[string]any
				json.Unmarshal(r.body, &m)
				b, _ := json.Marshal(m)
				s := strings.ReplaceAll(string(b), hostport, "HOST")
				return regexp.MustCompile(`"(execution_id|task_id)":\d+`).ReplaceAllString(s, `"$1":0`)
			}
			a, b := answer(closedAddr), answer(open.Addr().String())
			if a != b {
				t.Errorf("test endpoint tells a closed port from an open one:\nclosed %s\nopen   %s", a, b)
			}
			for _, leak := range []string{"refused", "malformed", "dial", "tcp", "EOF", "timeout", "127.0.0.1"} {
				if strings.Contains(a, leak) || strings.Contains(b, leak) {
					t.Errorf("test answer holds %q: %s / %s", leak, a, b)
				}
			}
		})
	}
}
