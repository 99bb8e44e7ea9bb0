package api_test

import (
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testserver"
)

// TestAuditForwarding sends the audit log to a real syslog receiver over
// TCP: pushes, pulls and API operations arrive as RFC 5424 messages with
// the record's fields; skip_audit_log_database keeps records out of the
// database; a receiver that refuses connections slows no API write or
// /v2 push and loses no database record; forwarding resumes when the
// receiver is back; the settings are validated.
func TestAuditForwarding(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newPGEnv(t, backend)
			rcv := newSyslogReceiver(t, "127.0.0.1:0")
			config := func(body string) pgResp {
				t.Helper()
				return e.do("PUT", "/api/v2.0/configurations", e.admin, body)
			}

			// Validation: nothing changes when a value is refused.
			for _, c := range []struct{ body, why string }{
				{`{"audit_log_forward_endpoint":"nohost"}`, "no port"},
				{`{"audit_log_forward_endpoint":":514"}`, "no host"},
				{`{"audit_log_forward_endpoint":"syslog:0"}`, "port 0"},
				{`{"audit_log_forward_endpoint":"syslog:70000"}`, "port too big"},
				{`{"audit_log_forward_endpoint":"syslog:tcp"}`, "port not a number"},
				{`{"audit_log_forward_endpoint":"tcp://syslog:514"}`, "a URL"},
				{`{"skip_audit_log_database":true}`, "skip without an endpoint"},
				{`{"audit_log_forward_endpoint":5140}`, "wrong type"},
			} {
				if r := config(c.body); r.status != http.StatusBadRequest || r.code() == "" {
					t.Errorf("%s: %d %s, want 400", c.why, r.status, r.body)
				}
			}
			var cfg struct {
				Endpoint struct{ Value string } `json:"audit_log_forward_endpoint"`
				Skip     struct{ Value bool }   `json:"skip_audit_log_database"`
			}
			e.get("/api/v2.0/configurations", &cfg)
			if cfg.Endpoint.Value != "" || cfg.Skip.Value {
				t.Fatalf("refused settings were stored: %+v", cfg)
			}

			// Forwarding on: the configuration change itself is the first record.
			if r := config(`{"audit_log_forward_endpoint":"` + rcv.addr + `"}`); r.status != http.StatusOK {
				t.Fatalf("set endpoint: %d %s", r.status, r.body)
			}
			// The refused attempts above are audited as failures, and one
			// still queued when forwarding starts is forwarded too: skip it.
			m := rcv.expect("update_configuration", "configurations", 10*time.Second)
			for m.sd["result"] == "failure" {
				m = rcv.expect("update_configuration", "configurations", 10*time.Second)
			}
			host, _ := os.Hostname()
			if m.pri != 13*8+6 || m.app != "berth" || m.procID != strconv.Itoa(os.Getpid()) || m.host != header255(host) ||
				m.sd["operator"] != "admin" || m.sd["operation"] != "update" || m.sd["resource_type"] != "configuration" ||
				m.sd["result"] != "success" || time.Since(m.time) > time.Minute || m.text == "" {
				t.Errorf("configuration record: %+v", m)
			}

			// A /v2 push and pull, and an API write.
			pushTiny(t, e.srv, "library/fwd", "v1")
			push := rcv.expect("create_artifact", "library/fwd:v1", 10*time.Second)
			var lib struct {
				ID int64 `json:"project_id"`
			}
			e.get("/api/v2.0/projects/library", &lib)
			if push.sd["operator"] != "admin" || push.sd["operation"] != "create" || push.sd["resource_type"] != "artifact" ||
				push.sd["project_id"] != strconv.FormatInt(lib.ID, 10) || push.text != "push artifact library/fwd:v1" {
				t.Errorf("push record: %+v", push)
			}
			pull := e.do("GET", "/v2/library/fwd/manifests/v1", e.anon, nil)
			if pull.status != http.StatusOK {
				t.Fatalf("pull: %d", pull.status)
			}
			pm := rcv.expect("pull_artifact", "library/fwd:v1", 10*time.Second)
			if pm.sd["operator"] != "anonymous" || pm.sd["operation"] != "pull" {
				t.Errorf("pull record: %+v", pm)
			}
			if r := e.do("POST", "/api/v2.0/projects", e.admin, `{"project_name":"fwdproj"}`); r.status != http.StatusCreated {
				t.Fatalf("create project: %d %s", r.status, r.body)
			}
			rcv.expect("create_project", "fwdproj", 10*time.Second)
			// The database has them too.
			e.waitFor("records in the database", 10*time.Second, func() bool {
				return e.auditCount("resource=library/fwd:v1,operation=pull") == 1 && e.auditCount("resource=fwdproj") == 1
			})

			// skip_audit_log_database: forwarded only.
			if r := config(`{"skip_audit_log_database":true}`); r.status != http.StatusOK {
				t.Fatalf("skip database: %d %s", r.status, r.body)
			}
			if r := e.do("POST", "/api/v2.0/projects", e.admin, `{"project_name":"skipproj"}`); r.status != http.StatusCreated {
				t.Fatalf("create project: %d %s", r.status, r.body)
			}
			rcv.expect("create_project", "skipproj", 10*time.Second)
			if r := config(`{"audit_log_forward_endpoint":"","skip_audit_log_database":true}`); r.status != http.StatusBadRequest {
				t.Errorf("clearing the endpoint while skipping the database: %d, want 400", r.status)
			}
			if r := config(`{"skip_audit_log_database":false}`); r.status != http.StatusOK {
				t.Fatalf("unskip: %d", r.status)
			}
			// Records are handled in order: once this change is in the
			// database, skipproj's record would be there if it was written.
			e.waitFor("the unskip record", 10*time.Second, func() bool {
				return e.auditCount("operation=update,resource_type=configuration") >= 2
			})
			if n := e.auditCount("resource=skipproj"); n != 0 {
				t.Errorf("%d skipproj records in the database with skip_audit_log_database on", n)
			}

			// The receiver goes away: the port refuses connections.
			rcv.close()
			time.Sleep(100 * time.Millisecond)
			for i := 0; i < 3; i++ {
				w := e.do("POST", "/api/v2.0/projects", e.admin, `{"project_name":"down`+strconv.Itoa(i)+`"}`)
				if w.status != http.StatusCreated || w.elapsed > 2*time.Second {
					t.Errorf("API write with the receiver down: %d in %v", w.status, w.elapsed)
				}
				t.Logf("API write with the receiver down: %v", w.elapsed)
			}
			start := time.Now()
			pushTiny(t, e.srv, "library/down", "v1")
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("/v2 push with the receiver down took %v", d)
			} else {
				t.Logf("/v2 push (2 blobs + manifest) with the receiver down: %v", d)
			}
			e.waitFor("records in the database while the receiver is down", 10*time.Second, func() bool {
				return e.auditCount("resource=~down") == 4
			})

			// It comes back on the same address: forwarding resumes.
			back := newSyslogReceiver(t, rcv.addr)
			deadline := time.Now().Add(20 * time.Second)
			for i := 0; ; i++ {
				name := "back" + strconv.Itoa(i)
				if r := e.do("POST", "/api/v2.0/projects", e.admin, `{"project_name":"`+name+`"}`); r.status != http.StatusCreated {
					t.Fatalf("create %s: %d", name, r.status)
				}
				select {
				case m := <-back.msgs:
					t.Logf("forwarding resumed after %d writes: %s %s", i+1, m.msgID, m.sd["resource"])
					return
				case <-time.After(500 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatal("forwarding did not resume after the receiver came back")
				}
			}
		})
	}
}

// header255 is the hostname as a syslog HOSTNAME field.
func header255(h string) string {
	if h == "" {
		return "-"
	}
	return h
}
