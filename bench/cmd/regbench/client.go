package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// manifestAccept is what docker and containerd send when pulling a manifest.
const manifestAccept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, " +
	"application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"

// system is one server under test: a registry, or the nginx baseline.
type system struct {
	name       string
	base       *url.URL // scheme://host, no user info
	user, pass string   // Basic credentials, empty for none
	pid        int      // server process, 0 if unknown
	client     *http.Client
	tokens     tokens // Bearer tokens from the registry's token service (token.go)
}

func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}
}

// parseSystem reads name=http://[user:pass@]host:port.
func parseSystem(s string) (*system, error) {
	name, raw, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return nil, fmt.Errorf("want name=URL, got %q", s)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("bad URL in %q", s)
	}
	if !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("%s: only loopback addresses are benchmarked, not %s", name, u.Hostname())
	}
	sys := &system{name: name, client: &http.Client{Transport: newTransport(), Timeout: 10 * time.Minute}}
	if u.User != nil {
		sys.user = u.User.Username()
		sys.pass, _ = u.User.Password()
		u.User = nil
	}
	sys.base = &url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimSuffix(u.Path, "/")}
	return sys, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// request sends one request; body may be nil. The response body is left to
// the caller unless want is not met, in which case an error describes it.
func (s *system) request(method, u string, body io.Reader, size int64, hdr map[string]string, want int) (*http.Response, error) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if err := s.authorize(req); err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s %s: status %d, want %d: %s", s.name, method, u, resp.StatusCode, want, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

func discard(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func (s *system) url(path string) string { return s.base.String() + path }

// resolve turns a Location header into an absolute URL.
func (s *system) resolve(loc string) (*url.URL, error) {
	if loc == "" {
		return nil, fmt.Errorf("%s: no Location header", s.name)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("%s: bad Location %q: %w", s.name, loc, err)
	}
	return s.base.ResolveReference(u), nil
}

// pushBlob uploads a blob as docker does: POST a session, PATCH the whole
// content in one streamed request, PUT ?digest= with no body.
func (s *system) pushBlob(repo string, body io.Reader, size int64, digest string) error {
	resp, err := s.request(http.MethodPost, s.url("/v2/"+repo+"/blobs/uploads/"), bytes.NewReader(nil), 0, nil, http.StatusAccepted)
	if err != nil {
		return err
	}
	discard(resp)
	loc, err := s.resolve(resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	resp, err = s.request(http.MethodPatch, loc.String(), body, size,
		map[string]string{"Content-Type": "application/octet-stream"}, http.StatusAccepted)
	if err != nil {
		return err
	}
	discard(resp)
	if loc, err = s.resolve(resp.Header.Get("Location")); err != nil {
		return err
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	resp, err = s.request(http.MethodPut, loc.String(), bytes.NewReader(nil), 0,
		map[string]string{"Content-Type": "application/octet-stream"}, http.StatusCreated)
	if err != nil {
		return err
	}
	discard(resp)
	if got := resp.Header.Get("Docker-Content-Digest"); got != digest {
		return fmt.Errorf("%s: pushed %s, registry says %q", s.name, digest, got)
	}
	return nil
}

// get downloads u and returns the bytes read and, if hash is set, their digest.
func (s *system) get(u string, hdr map[string]string, hash bool) (int64, string, error) {
	resp, err := s.request(http.MethodGet, u, nil, 0, hdr, http.StatusOK)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var w io.Writer = io.Discard
	h := sha256.New()
	if hash {
		w = h
	}
	buf := make([]byte, blockSize)
	var n int64
	for {
		m, err := resp.Body.Read(buf)
		if m > 0 {
			w.Write(buf[:m])
			n += int64(m)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, "", fmt.Errorf("%s: GET %s: %w", s.name, u, err)
		}
	}
	if resp.ContentLength >= 0 && resp.ContentLength != n {
		return n, "", fmt.Errorf("%s: GET %s: read %d bytes, Content-Length %d", s.name, u, n, resp.ContentLength)
	}
	d := ""
	if hash {
		d = "sha256:" + hex.EncodeToString(h.Sum(nil))
	}
	return n, d, nil
}

// headBlob checks that the registry has digest with the given size.
func (s *system) headBlob(repo, digest string, size int64) error {
	resp, err := s.request(http.MethodHead, s.url("/v2/"+repo+"/blobs/"+digest), nil, 0, nil, http.StatusOK)
	if err != nil {
		return err
	}
	discard(resp)
	if resp.ContentLength != size {
		return fmt.Errorf("%s: HEAD blob %s: size %d, want %d", s.name, digest, resp.ContentLength, size)
	}
	return nil
}

// cpuSeconds returns the user+system CPU time process pid has used so far
// (clock-tick resolution, 10 ms on Linux).
func cpuSeconds(pid int) (float64, error) {
	if pid <= 0 {
		return 0, errors.New("no pid")
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields after it are space-separated.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("bad /proc stat")
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad /proc stat")
	}
	return (ut + st) / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100
