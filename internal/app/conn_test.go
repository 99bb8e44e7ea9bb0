package app_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/app"
	"github.com/berth-dev/berth/internal/config"
	"github.com/berth-dev/berth/internal/testserver"
)

// serve builds the app on backend with mod applied to the defaults and
// serves it with App.ServeListener (the real server: its connection
// limits and timeouts) on a loopback port, until the test ends.
func serve(t *testing.T, backend string, mod func(*config.Config)) string {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Database = testserver.DatabaseDSN(t, backend)
	cfg.PullFlush = time.Hour
	if mod != nil {
		mod(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	a, err := app.New(context.Background(), cfg, log, testserver.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.ServeListener(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeListener: %v", err)
		}
		a.Close()
	})
	return ln.Addr().String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// trickle opens a connection from local (an IP on loopback, "" for any),
// sends head (request line and headers, up to the blank line) and then
// one byte of body every interval until ctx ends or the server cuts it.
// It returns when the connection is set up; ended is closed when the
// server has cut it (or ctx ended).
func trickle(ctx context.Context, local, addr, head string, interval time.Duration) (ended chan struct{}, err error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, head); err != nil {
		c.Close()
		return nil, err
	}
	ended = make(chan struct{})
	chunked := strings.Contains(strings.ToLower(head), "transfer-encoding: chunked")
	go func() {
		defer close(ended)
		defer c.Close()
		// The server's answer or close, seen from the reading side.
		cut := make(chan struct{})
		go func() { io.Copy(io.Discard, c); close(cut) }()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			b := "x"
			if chunked {
				b = "1\r\nx\r\n"
			}
			if _, err := io.WriteString(c, b); err != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-cut:
				return
			case <-tick.C:
			}
		}
	}()
	return ended, nil
}

// timed runs req on a fresh connection and returns how long it took.
func timed(t *testing.T, req *http.Request) (int, time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v after %v", req.Method, req.URL.Path, err, time.Since(start))
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

func newReq(method, url, body string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, r)
	return req
}

// TestSlowBodiesHoldNoGateSlot (finding 3): anonymous clients trickling
// their request bodies to the sign-in endpoints, the console and the API,
// four times as many as the gate has slots, do not keep a well-behaved
// client out: the gate reads a body before it gives the request a slot.
func TestSlowBodiesHoldNoGateSlot(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			addr := serve(t, backend, func(c *config.Config) { c.APIConcurrency = 4 })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			heads := []string{
				"POST /c/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nprincipal=admin&password=",
				"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ncsrf=",
				"POST /api/v2.0/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
				"PUT /api/v2.0/users/current/password HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
			}
			for i := 0; i < 16; i++ {
				if _, err := trickle(ctx, "", addr, heads[i%len(heads)], 200*time.Millisecond); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(500 * time.Millisecond) // let them all reach their handlers
			base := "http://" + addr
			cur := newReq("GET", base+"/api/v2.0/users/current", "")
			cur.SetBasicAuth("admin", testserver.AdminPassword)
			login := newReq("POST", base+"/c/login", "principal=admin&password="+testserver.AdminPassword)
			login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, req := range []*http.Request{newReq("GET", base+"/api/v2.0/systeminfo", ""), cur, login, newReq("GET", base+"/login", "")} {
				status, took := timed(t, req)
				if status != http.StatusOK || took > 5*time.Second {
					t.Errorf("%s %s behind 16 slow bodies: %d in %v, want 200 at once", req.Method, req.URL.Path, status, took)
				}
			}
		})
	}
}

// TestBodyDeadline (finding 4): a body that never ends is cut after
// body-timeout on the API, the console, the token service and endpoints
// that do not read bodies at all; an idle connection that sends no request
// is closed too (ReadHeaderTimeout), as a stalled upload is.
func TestBodyDeadline(t *testing.T) {
	addr := serve(t, "sqlite", func(c *config.Config) { c.BodyTimeout = time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, head := range []string{
		"POST /c/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n",
		"POST /api/v2.0/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
		"POST /service/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
	} {
		start := time.Now()
		ended, err := trickle(ctx, "", addr, head, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		line, _, _ := strings.Cut(head, "\r\n")
		select {
		case <-ended:
			t.Logf("%s: cut after %v", line, time.Since(start).Round(time.Millisecond))
		case <-time.After(15 * time.Second):
			t.Errorf("%s: a body trickling for 15 s was not cut (body-timeout 1s)", line)
		}
	}
}

// TestUploadDeadline (finding 4): a blob upload that keeps moving runs
// past body-timeout and upload-idle-timeout and succeeds; one that stalls
// is cut after upload-idle-timeout.
func TestUploadDeadline(t *testing.T) {
	addr := serve(t, "sqlite", func(c *config.Config) { c.BodyTimeout, c.UploadIdleTimeout = time.Second, time.Second })
	base := "http://" + addr
	client := &http.Client{Timeout: 30 * time.Second}
	do := func(req *http.Request) *http.Response {
		t.Helper()
		req.SetBasicAuth("admin", testserver.AdminPassword)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	startUpload := func() string {
		resp := do(newReq("POST", base+"/v2/library/slow/blobs/uploads/", ""))
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("start upload: %d", resp.StatusCode)
		}
		return abs(base, resp.Header.Get("Location"))
	}

	// Moving: 32 KiB every 250 ms for 3 s, three body deadlines long.
	loc := startUpload()
	pr, pw := io.Pipe()
	h := sha256.New()
	go func() {
		chunk := make([]byte, 32<<10)
		for i := 0; i < 12; i++ {
			for j := range chunk {
				chunk[j] = byte(i + j)
			}
			h.Write(chunk)
			if _, err := pw.Write(chunk); err != nil {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("PATCH", loc, pr)
	req.Header.Set("Content-Type", "application/octet-stream")
	start := time.Now()
	resp := do(req)
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != fmt.Sprintf("0-%d", 12*32<<10-1) {
		t.Fatalf("slow but moving PATCH: %d Range %q after %v", resp.StatusCode, resp.Header.Get("Range"), time.Since(start))
	}
	digest := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if resp := do(newReq("PUT", abs(base, resp.Header.Get("Location"))+"?digest="+digest, "")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("finish upload: %d", resp.StatusCode)
	}

	// Stalled: 8 KiB of a 1 MiB chunk, then nothing.
	u, err := url.Parse(startUpload())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
		u.RequestURI(), addr, base64.StdEncoding.EncodeToString([]byte("admin:"+testserver.AdminPassword)), 1<<20)
	conn.Write(make([]byte, 8<<10))
	start = time.Now()
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	took := time.Since(start)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			t.Fatalf("stalled PATCH accepted")
		}
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("a stalled PATCH was not cut in %v (upload-idle-timeout 1s)", took)
	}
	t.Logf("stalled PATCH cut after %v: %v", took.Round(time.Millisecond), statusOrErr(resp, err))
}

func abs(base, loc string) string {
	if strings.HasPrefix(loc, "http") {
		return loc
	}
	return base + loc
}

func statusOrErr(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

// TestHeldConnectionsCapped (finding 4): one client address holding many
// connections with bodies that never end neither runs the process out of
// file descriptors nor keeps another client from /v2/ and /healthz. The
// test lowers the process's open-file limit, so that the default limits
// (derived from it) and the attack fit in it: on a server without them the
// attack takes every descriptor.
func TestHeldConnectionsCapped(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Skip("no RLIMIT_NOFILE:", err)
	}
	const files = 2048
	if orig.Cur < files+512 {
		t.Skipf("open-file limit %d is too low for this test", orig.Cur)
	}
	lowered := orig
	lowered.Cur = files
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig) })
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			addr := serve(t, backend, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// 1,500 connections from 127.0.0.2 (3,000 descriptors in this
			// process, client and server side, with the limit at 2,048).
			heads := []string{
				"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
				"PATCH /v2/library/x/blobs/uploads/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
				"POST /api/v2.0/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			opened := 0
			for i := 0; i < 1500; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := trickle(ctx, "127.0.0.2", addr, heads[i%len(heads)], time.Second); err == nil {
						mu.Lock()
						opened++
						mu.Unlock()
					}
				}()
				if i%100 == 99 {
					time.Sleep(20 * time.Millisecond)
				}
			}
			wg.Wait()
			time.Sleep(500 * time.Millisecond)
			t.Logf("attacker connected %d of 1500", opened)
			base := "http://" + addr
			for _, path := range []string{"/healthz", "/v2/", "/api/v2.0/systeminfo"} {
				status, took := timed(t, newReq("GET", base+path, ""))
				if (status != http.StatusOK && status != http.StatusUnauthorized) || took > 5*time.Second {
					t.Errorf("GET %s while one address holds connections: %d in %v", path, status, took)
				}
			}
			// A second address is not held back by the first one's limit.
			c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
				DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}).DialContext}}
			resp, err := c.Get(base + "/healthz")
			if err != nil {
				t.Fatalf("GET /healthz from 127.0.0.3: %v", err)
			}
			resp.Body.Close()
			// The attacker's own extra connections are refused at once.
			conn, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, mustTCPAddr(t, addr))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
				resp.Body.Close()
				t.Errorf("a connection past 127.0.0.2's limit was served: %s", resp.Status)
			}
		})
	}
}

func mustTCPAddr(t *testing.T, addr string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
