package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// pgEnv is a server with the principals the purge, forwarding and
// jobservice tests use.
type pgEnv struct {
	t   *testing.T
	srv *testserver.InProcess
	db  *store.DB
	// Principals: anonymous, the administrator, a user with no system
	// role, a system robot holding purge-audit and jobservice-monitor
	// permissions, and a project robot.
	anon, admin, user, sysRobot, projRobot pgWho
}

type pgWho struct{ name, pass string }

const pgPassword = "Purge-Pass-1"

func newPGEnv(t *testing.T, backend string) *pgEnv {
	t.Helper()
	srv := testserver.NewInProcess(t, backend)
	e := &pgEnv{t: t, srv: srv, db: srv.App.DB, admin: pgWho{"admin", testserver.AdminPassword}}
	hash, err := auth.HashPassword(pgPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateUser(context.Background(), store.User{Username: "pguser", Email: "pguser@example.com", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	e.user = pgWho{"pguser", pgPassword}
	var access []map[string]string
	for _, a := range []string{"read", "create", "list", "update", "stop"} {
		access = append(access, map[string]string{"resource": "purge-audit", "action": a})
	}
	access = append(access, map[string]string{"resource": "jobservice-monitor", "action": "list"},
		map[string]string{"resource": "jobservice-monitor", "action": "stop"})
	e.sysRobot = e.robot("pgsys", "system", []map[string]any{{"kind": "system", "namespace": "/", "access": access}})
	e.projRobot = e.robot("pgproj", "project", []map[string]any{{"kind": "project", "namespace": "library",
		"access": []map[string]string{{"resource": "repository", "action": "pull"}}}})
	return e
}

func (e *pgEnv) robot(name, level string, perms []map[string]any) pgWho {
	e.t.Helper()
	r := e.do("POST", "/api/v2.0/robots", e.admin, map[string]any{"name": name, "level": level, "duration": -1, "secret": "Robot-Secret-1x",
		"permissions": perms})
	var out struct {
		Name string `json:"name"`
	}
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &out) != nil {
		e.t.Fatalf("create robot %s: %d %s", name, r.status, r.body)
	}
	return pgWho{out.Name, "Robot-Secret-1x"}
}

type pgResp struct {
	status  int
	header  http.Header
	body    []byte
	elapsed time.Duration
}

func (r pgResp) code() string {
	var eb struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	json.Unmarshal(r.body, &eb)
	if len(eb.Errors) == 0 {
		return ""
	}
	return eb.Errors[0].Code
}

// do sends method path (under the server root) as who; body is sent as is
// when a string, else as JSON.
func (e *pgEnv) do(method, path string, who pgWho, body any) pgResp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if who.name != "" {
		req.SetBasicAuth(who.name, who.pass)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return pgResp{status: resp.StatusCode, header: resp.Header, body: b, elapsed: time.Since(start)}
}

// get fetches path as admin into out, failing unless 200.
func (e *pgEnv) get(path string, out any) pgResp {
	e.t.Helper()
	r := e.do("GET", path, e.admin, nil)
	if r.status != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			e.t.Fatalf("GET %s: %v\n%s", path, err, r.body)
		}
	}
	return r
}

// waitFor polls cond until it holds or within passes.
func (e *pgEnv) waitFor(what string, within time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// auditCount counts audit records matching q (Harbor's q syntax).
func (e *pgEnv) auditCount(q string) int64 {
	e.t.Helper()
	pq, err := query.Parse(q, "")
	if err != nil {
		e.t.Fatal(err)
	}
	_, n, err := e.db.ListAuditEntries(context.Background(), pq, true, nil, 0, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// seedAudit inserts n records of eventType by user "seed", age old.
func (e *pgEnv) seedAudit(eventType string, n int, age time.Duration) {
	e.t.Helper()
	op, rt, _ := strings.Cut(eventType, "_")
	at := time.Now().Add(-age).UnixMilli()
	batch := make([]store.AuditEntry, n)
	for i := range batch {
		batch[i] = store.AuditEntry{Operation: op, ResourceType: rt, Resource: fmt.Sprintf("seed/%d", i), Username: "seed",
			Description: eventType, Success: true, OpTime: at - int64(i)}
	}
	if err := e.db.InsertAuditEntries(context.Background(), batch); err != nil {
		e.t.Fatal(err)
	}
}

// syslogMsg is a parsed RFC 5424 message from the forwarder.
type syslogMsg struct {
	raw                      string
	pri                      int
	time                     time.Time
	host, app, procID, msgID string
	sd                       map[string]string
	text                     string
}

var (
	syslogRE = regexp.MustCompile(`^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[audit@32473((?: \w+="(?:[^"\\\]]|\\.)*")*)\](?: (.*))?$`)
	sdParam  = regexp.MustCompile(`(\w+)="((?:[^"\\\]]|\\.)*)"`)
)

func parseSyslog(raw string) (syslogMsg, error) {
	m := syslogRE.FindStringSubmatch(raw)
	if m == nil {
		return syslogMsg{}, fmt.Errorf("not an RFC 5424 audit message: %q", raw)
	}
	pri, _ := strconv.Atoi(m[1])
	ts, err := time.Parse(time.RFC3339Nano, m[2])
	if err != nil {
		return syslogMsg{}, fmt.Errorf("timestamp %q: %v", m[2], err)
	}
	out := syslogMsg{raw: raw, pri: pri, time: ts, host: m[3], app: m[4], procID: m[5], msgID: m[6], sd: map[string]string{}, text: m[8]}
	for _, p := range sdParam.FindAllStringSubmatch(m[7], -1) {
		out.sd[p[1]] = strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\]`, `]`).Replace(p[2])
	}
	return out, nil
}

// syslogReceiver is a real syslog receiver over TCP (octet-counted frames).
type syslogReceiver struct {
	t     *testing.T
	addr  string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	msgs  chan syslogMsg
}

func newSyslogReceiver(t *testing.T, addr string) *syslogReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &syslogReceiver{t: t, addr: ln.Addr().String(), ln: ln, msgs: make(chan syslogMsg, 10000)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns = append(r.conns, c)
			r.mu.Unlock()
			go r.read(c)
		}
	}()
	t.Cleanup(r.close)
	return r
}

func (r *syslogReceiver) read(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		n, err := br.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
		if err != nil || size <= 0 || size > 1<<20 {
			r.t.Errorf("bad syslog frame length %q", n)
			return
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(br, b); err != nil {
			return
		}
		m, err := parseSyslog(string(b))
		if err != nil {
			r.t.Error(err)
			continue
		}
		r.msgs <- m
	}
}

// close stops listening and drops every connection: the port refuses.
func (r *syslogReceiver) close() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
}

// expect waits for a message with msgID whose resource contains resource,
// skipping others.
func (r *syslogReceiver) expect(msgID, resource string, within time.Duration) syslogMsg {
	r.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m := <-r.msgs:
			if m.msgID == msgID && strings.Contains(m.sd["resource"], resource) {
				return m
			}
		case <-deadline:
			r.t.Fatalf("no %s message for %q within %v", msgID, resource, within)
		}
	}
}
