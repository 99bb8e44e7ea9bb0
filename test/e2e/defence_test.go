package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/testserver"
)

// TestDefenceUnderLoad: the built server, with its default settings,
// serves a well-behaved client (push, pull and API calls, from 127.0.0.1)
// promptly and without an error while, from other loopback addresses,
//   - 2,400 connections are held open with request bodies that never end
//     (reopened when the server cuts them),
//   - 16 clients trickle request bodies to the sign-in endpoints and the API,
//   - 200 clients try wrong passwords without a pause (Basic on the API and
//     /v2, and the console's sign-in),
//
// and the server's memory stays under 512 MiB (its peak RSS, VmHWM).
func TestDefenceUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) { defenceUnderLoad(t, backend) })
	}
}

const (
	heldConns    = 2400
	slowBodies   = 16
	badLogins    = 200
	measureFor   = 12 * time.Second
	p95Limit     = time.Second
	rssLimitKiB  = 512 << 10
	heldAddrs    = 4  // 127.0.0.10-13: 600 each, under the per-client limit
	badLoginAddr = 20 // 127.0.0.30-49
)

func defenceUnderLoad(t *testing.T, backend string) {
	// The gate's size on two CPUs, whatever this machine has: as many
	// slots as there are slow bodies.
	p := testserver.Start(t, backend, "--api-concurrency", strconv.Itoa(slowBodies))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	stop := func() { cancel(); wg.Wait() }
	defer stop()
	var held, cut, refused, slowCut, logins, loginRefused atomic.Int64

	// Connections with bodies that never end.
	heads := []string{
		"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"PATCH /v2/library/held/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /api/v2.0/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /service/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n",
	}
	for i := 0; i < heldConns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := fmt.Sprintf("127.0.0.%d", 10+i%heldAddrs)
			time.Sleep(time.Duration(i) * time.Millisecond) // ramp up over 2.4 s
			for ctx.Err() == nil {
				served := holdBody(ctx, local, p.Addr, heads[i%len(heads)], 2*time.Second, &held)
				if ctx.Err() != nil {
					return
				}
				if served {
					cut.Add(1)
				} else {
					refused.Add(1)
				}
				sleepCtx(ctx, 200*time.Millisecond)
			}
		}()
	}
	// Slow bodies to the gated endpoints.
	slow := []string{
		"POST /c/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nprincipal=admin&password=",
		"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\ncsrf=",
	}
	for i := 0; i < slowBodies; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var n atomic.Int64
				holdBody(ctx, "127.0.0.20", p.Addr, slow[i%len(slow)], 200*time.Millisecond, &n)
				if ctx.Err() == nil {
					slowCut.Add(1)
					sleepCtx(ctx, 100*time.Millisecond)
				}
			}
		}()
	}
	// Wrong passwords, as fast as they are answered.
	for i := 0; i < badLogins; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.0.%d", 30+i%badLoginAddr))}
			c := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
				DialContext: (&net.Dialer{LocalAddr: local}).DialContext, MaxIdleConnsPerHost: 1}}
			user := "user" + strconv.Itoa(i%50)
			for n := 0; ctx.Err() == nil; n++ {
				var req *http.Request
				switch n % 3 {
				case 0:
					req, _ = http.NewRequestWithContext(ctx, "GET", p.URL+"/api/v2.0/users/current", nil)
					req.SetBasicAuth(user, "wrong-"+strconv.Itoa(n))
				case 1:
					req, _ = http.NewRequestWithContext(ctx, "GET", p.URL+"/v2/", nil)
					req.SetBasicAuth(user, "wrong-"+strconv.Itoa(n))
				case 2:
					req, _ = http.NewRequestWithContext(ctx, "POST", p.URL+"/c/login",
						strings.NewReader("principal="+user+"&password=wrong-"+strconv.Itoa(n)))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				resp, err := c.Do(req)
				if err != nil {
					sleepCtx(ctx, 50*time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				logins.Add(1)
				if resp.StatusCode == http.StatusTooManyRequests {
					loginRefused.Add(1)
				}
			}
		}()
	}
	sleepCtx(ctx, 3*time.Second) // every attacker is in place

	// The well-behaved client.
	auth := remote.WithAuth(&authn.Basic{Username: "admin", Password: testserver.AdminPassword})
	var lat []time.Duration
	var errors []string
	op := func(what string, f func() error) {
		start := time.Now()
		err := f()
		lat = append(lat, time.Since(start))
		if err != nil {
			errors = append(errors, what+": "+err.Error())
		}
	}
	api := &http.Client{Timeout: 30 * time.Second}
	get := func(path string) error {
		req, _ := http.NewRequest("GET", p.URL+path, nil)
		req.SetBasicAuth("admin", testserver.AdminPassword)
		resp, err := api.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%d", resp.StatusCode)
		}
		return nil
	}
	fdPeak := 0
	end := time.Now().Add(measureFor)
	for i := 0; time.Now().Before(end); i++ {
		img, err := random.Image(64<<10, 2)
		if err != nil {
			t.Fatal(err)
		}
		tag, err := name.NewTag(fmt.Sprintf("%s/library/load:%d", p.Addr, i))
		if err != nil {
			t.Fatal(err)
		}
		opts := []remote.Option{auth, remote.WithContext(t.Context())}
		op("push", func() error { return remote.Write(tag, img, opts...) })
		op("pull", func() error {
			got, err := remote.Image(tag, opts...)
			if err != nil {
				return err
			}
			layers, err := got.Layers()
			if err != nil {
				return err
			}
			for _, l := range layers {
				rc, err := l.Compressed()
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
				if err != nil {
					return err
				}
			}
			return nil
		})
		op("list repositories", func() error { return get("/api/v2.0/projects/library/repositories") })
		op("current user", func() error { return get("/api/v2.0/users/current") })
		op("healthz", func() error { return get("/healthz") })
		fdPeak = max(fdPeak, openFiles(p.Pid()))
	}
	hwm, rss := memory(t, p.Pid())
	heldAtEnd := held.Load()
	stop()

	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	t.Logf("%s: %d operations: p50 %v p95 %v max %v; server peak RSS %d MiB (now %d MiB), up to %d open files",
		backend, len(lat), pct(0.5).Round(time.Millisecond), pct(0.95).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond),
		hwm>>10, rss>>10, fdPeak)
	t.Logf("attack: %d held bodies open at the end, %d cut, %d refused; %d slow bodies cut; %d wrong-password requests answered (%d with 429)",
		heldAtEnd, cut.Load(), refused.Load(), slowCut.Load(), logins.Load(), loginRefused.Load())
	if len(errors) > 0 {
		t.Errorf("%d of %d operations failed, e.g. %v", len(errors), len(lat), errors[:min(5, len(errors))])
	}
	if pct(0.95) > p95Limit {
		t.Errorf("p95 %v under attack, want under %v", pct(0.95), p95Limit)
	}
	if hwm > rssLimitKiB {
		t.Errorf("server peak RSS %d MiB under attack, want under %d MiB", hwm>>10, rssLimitKiB>>10)
	}
}

// holdBody opens a connection from local, sends head and then a byte of
// body every interval until ctx ends or the server answers or closes it.
// It reports whether the server took the connection (answered it, or kept
// it at least a second) rather than resetting it at once.
func holdBody(ctx context.Context, local, addr, head string, interval time.Duration, open *atomic.Int64) bool {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	open.Add(1)
	defer open.Add(-1)
	start := time.Now()
	if _, err := io.WriteString(c, head); err != nil {
		return false
	}
	gone := make(chan int64, 1)
	go func() { n, _ := io.Copy(io.Discard, c); gone <- n }()
	chunk := "x"
	if strings.Contains(strings.ToLower(head), "chunked") {
		chunk = "1\r\nx\r\n"
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case n := <-gone:
			return n > 0 || time.Since(start) > time.Second
		case <-tick.C:
			io.WriteString(c, chunk)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// memory returns the process's peak and current resident set in KiB.
func memory(t *testing.T, pid int) (hwm, rss int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		switch k {
		case "VmHWM":
			hwm = n
		case "VmRSS":
			rss = n
		}
	}
	return hwm, rss
}

func openFiles(pid int) int {
	m, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	return len(m)
}
