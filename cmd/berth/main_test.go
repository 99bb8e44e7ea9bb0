package main_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testserver"
)

// cleanEnv is the environment without BERTH_* settings.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

type proc struct {
	cmd *exec.Cmd
	log string
}

func start(t *testing.T, dir string, env []string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testserver.Binary(t), args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p := &proc{cmd: cmd, log: logPath}
	t.Cleanup(p.stop)
	return p
}

func (p *proc) stop() {
	if p.cmd.Process != nil && p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(os.Interrupt)
		p.cmd.Wait()
	}
}

func (p *proc) output() string { b, _ := os.ReadFile(p.log); return string(b) }

// waitFor polls url until it answers (any status) or 20 s pass.
func waitFor(t *testing.T, client *http.Client, url string, p *proc) *http.Response {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			return resp
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no answer from %s; log:\n%s", url, p.output())
	return nil
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(testserver.Binary(t), "version").CombinedOutput()
	if err != nil || !regexp.MustCompile(`^berth \S+\n$`).Match(out) {
		t.Fatalf("berth version = %q, %v", out, err)
	}
}

// TestServeNoFlags: `berth serve` alone serves on :5000 with everything in ./data.
func TestServeNoFlags(t *testing.T) {
	if l, err := net.Listen("tcp", ":5000"); err != nil {
		testserver.SkipOrFail(t, "port 5000 is in use: %v", err)
	} else {
		l.Close()
	}
	dir := t.TempDir()
	p := start(t, dir, cleanEnv(), "serve")
	resp := waitFor(t, http.DefaultClient, "http://127.0.0.1:5000/v2/", p)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v2/ = %d, want 401", resp.StatusCode)
	}
	for _, f := range []string{"data/berth.db", "data/blobs"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not created: %v", f, err)
		}
	}
}

var passwordRe = regexp.MustCompile(`generated password.*password=(\S+)`)

// TestGeneratedAdminPassword: with no BERTH_ADMIN_PASSWORD the first start
// logs a generated password once; it works, and a restart does not log it again.
func TestGeneratedAdminPassword(t *testing.T) {
	dir := t.TempDir()
	addr := testserver.FreeAddr(t)
	p := start(t, dir, cleanEnv(), "serve", "--addr", addr, "--data-dir", "d")
	waitFor(t, http.DefaultClient, "http://"+addr+"/healthz", p).Body.Close()
	m := passwordRe.FindStringSubmatch(p.output())
	if m == nil {
		t.Fatalf("no generated password in the log:\n%s", p.output())
	}
	ping := func(pass string) int {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v2/", nil)
		req.SetBasicAuth("admin", pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := ping(m[1]); got != http.StatusOK {
		t.Fatalf("login with the generated password: %d", got)
	}
	if got := ping("wrong"); got != http.StatusUnauthorized {
		t.Fatalf("login with a wrong password: %d", got)
	}
	p.stop()
	p2 := start(t, dir, cleanEnv(), "serve", "--addr", addr, "--data-dir", "d")
	waitFor(t, http.DefaultClient, "http://"+addr+"/healthz", p2).Body.Close()
	if strings.Contains(p2.output(), "password") {
		t.Fatalf("restart logged a password again:\n%s", p2.output())
	}
	if got := ping(m[1]); got != http.StatusOK {
		t.Fatalf("generated password after restart: %d", got)
	}
}

// TestConfigLayers: YAML file < BERTH_* env < flags; the file's log block
// (JSON records carrying their source) and the admin password read from
// the file its admin_password_file names.
func TestConfigLayers(t *testing.T) {
	dir := t.TempDir()
	fileAddr, envAddr, flagAddr := testserver.FreeAddr(t), testserver.FreeAddr(t), testserver.FreeAddr(t)
	secret := filepath.Join(dir, "admin-password")
	os.WriteFile(secret, []byte("from-a-File-1\n"), 0o600)
	cfg := filepath.Join(dir, "berth.yaml")
	os.WriteFile(cfg, []byte("addr: "+fileAddr+"\ndata_dir: fromfile\nlog:\n  format: json\n  source: true\nadmin_password_file: "+secret+"\n"), 0o644)

	p := start(t, dir, cleanEnv("BERTH_ADDR="+envAddr), "serve", "--config", cfg)
	waitFor(t, http.DefaultClient, "http://"+envAddr+"/healthz", p).Body.Close()
	if _, err := os.Stat(filepath.Join(dir, "fromfile", "berth.db")); err != nil {
		t.Errorf("data_dir from the YAML file not used: %v", err)
	}
	line, _, _ := strings.Cut(p.output(), "\n")
	var v map[string]any
	if err := json.Unmarshal([]byte(line), &v); err != nil {
		t.Errorf("log.format json from the file not used: %q", line)
	} else if src, ok := v["source"].(map[string]any); !ok || src["file"] == nil {
		t.Errorf("log.source true from the file not used: %q", line)
	}
	req, _ := http.NewRequest("GET", "http://"+envAddr+"/v2/", nil)
	req.SetBasicAuth("admin", "from-a-File-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("admin with the password from admin_password_file: %d", resp.StatusCode)
	}
	p.stop()

	p = start(t, dir, cleanEnv("BERTH_ADMIN_PASSWORD=x-Secret-1", "BERTH_ADDR="+envAddr), "serve", "--config", cfg, "--addr", flagAddr)
	waitFor(t, http.DefaultClient, "http://"+flagAddr+"/healthz", p).Body.Close()
	p.stop()
}

func TestBadConfig(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--log-format", "xml"},
		{"serve", "--database", "mysql://x"},
		{"serve", "--no-such-flag"},
		{"serve", "--tls-cert", "only-cert.pem"},
		{"serve", "--external-url", "not a url"},
		{"serve", "--debug-addr", "6060"},
		{"serve", "--storage-driver", "s3"},
		{"serve", "--admin-password", "on-the-command-line"},
		{"serve", "stray-argument"},
	} {
		cmd := exec.Command(testserver.Binary(t), args...)
		cmd.Env = cleanEnv()
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "berth:") {
			t.Errorf("%v: exit %v, output %q; want exit 2 with a message", args, err, out)
		}
	}
}

// TestTLSAndExternalURL: HTTPS with --tls-cert/--tls-key, and --external-url
// in the token realm and in Location headers.
func TestTLSAndExternalURL(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	addr := testserver.FreeAddr(t)
	ext := "https://registry.example.test"
	p := start(t, dir, cleanEnv("BERTH_ADMIN_PASSWORD=x-Secret-1"), "serve", "--addr", addr, "--data-dir", "d",
		"--tls-cert", certFile, "--tls-key", keyFile, "--external-url", ext)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp := waitFor(t, client, "https://"+addr+"/v2/", p)
	resp.Body.Close()
	if want := `Bearer realm="` + ext + `/service/token"`; !strings.HasPrefix(resp.Header.Get("Www-Authenticate"), want) {
		t.Errorf("challenge %q, want prefix %q", resp.Header.Get("Www-Authenticate"), want)
	}
	req, _ := http.NewRequest("POST", "https://"+addr+"/v2/library/tls/blobs/uploads/", nil)
	req.SetBasicAuth("admin", "x-Secret-1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || !strings.HasPrefix(resp.Header.Get("Location"), ext+"/v2/library/tls/blobs/uploads/") {
		t.Errorf("upload start: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func selfSigned(t *testing.T, dir string) (string, string, *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestDebugAddr: --debug-addr serves Go's profiler on its own listener; the
// registry's address never routes /debug/.
func TestDebugAddr(t *testing.T) {
	dir := t.TempDir()
	addr, debug := testserver.FreeAddr(t), testserver.FreeAddr(t)
	p := start(t, dir, cleanEnv("BERTH_ADMIN_PASSWORD=x-Secret-1"), "serve", "--addr", addr, "--data-dir", "d", "--debug-addr", debug)
	waitFor(t, http.DefaultClient, "http://"+addr+"/v2/", p).Body.Close()
	resp := waitFor(t, http.DefaultClient, "http://"+debug+"/debug/pprof/goroutine?debug=1", p)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("profiler on the debug address: %d %.200s", resp.StatusCode, body)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "goroutine profile") {
		t.Errorf("the registry's address serves the profiler")
	}
}

// TestExternalURLWarning: a server without --external-url says at start
// that its token realm follows the Host header; one with it does not.
func TestExternalURLWarning(t *testing.T) {
	for _, c := range []struct {
		args []string
		warn bool
	}{{nil, true}, {[]string{"--external-url", "https://registry.example"}, false}} {
		p := testserver.Start(t, "sqlite", c.args...)
		p.Stop()
		log, err := os.ReadFile(p.Log)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(log), "external-url is not set"); got != c.warn {
			t.Errorf("args %v: warning logged %v, want %v:\n%s", c.args, got, c.warn, log)
		}
	}
}
