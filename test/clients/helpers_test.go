// Package clients_test drives a real Berth binary, started in its own
// process, with the registry clients people actually use: the Go libraries
// go-containerregistry, oras-go and regclient, and the crane, oras, regctl,
// helm and skopeo command-line tools. Each test pushes content it makes
// itself (random layers, small files, a generated chart), reads it back and
// compares bytes and digests, so a passing run shows the wire protocol, the
// token flow and the referrers API work for those clients as they are.
//
// Every test runs on each metadata backend of testserver.Backends, each
// against its own server process. A missing CLI skips on a laptop and fails
// under CI (testserver.SkipOrFail).
package clients_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testserver"
)

const adminUser = "admin"

// eachBackend runs fn against a fresh Berth binary on every backend.
func eachBackend(t *testing.T, fn func(t *testing.T, srv *testserver.Process)) {
	for _, b := range testserver.Backends(t) {
		t.Run(b, func(t *testing.T) { fn(t, testserver.Start(t, b)) })
	}
}

var (
	gopathOnce sync.Once
	gopathBin  string
)

// tool returns the path of a CLI found on PATH or in $(go env GOPATH)/bin;
// a missing one skips the test (fails it under CI).
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopathOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err == nil {
			if first, _, _ := strings.Cut(strings.TrimSpace(string(out)), string(os.PathListSeparator)); first != "" {
				gopathBin = filepath.Join(first, "bin")
			}
		}
	})
	if gopathBin != "" {
		p := filepath.Join(gopathBin, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	testserver.SkipOrFail(t, "%s not found on PATH or in $(go env GOPATH)/bin", name)
	return ""
}

// cli runs command-line tools with a private home: HOME, DOCKER_CONFIG and
// the XDG directories point into a temporary directory, so logins and
// caches never touch the real home.
type cli struct {
	t    *testing.T
	home string
	env  []string
}

func newCLI(t *testing.T) *cli {
	home := t.TempDir()
	dirs := map[string]string{
		"HOME":            home,
		"DOCKER_CONFIG":   filepath.Join(home, ".docker"),
		"XDG_CONFIG_HOME": filepath.Join(home, ".config"),
		"XDG_CACHE_HOME":  filepath.Join(home, ".cache"),
		"XDG_DATA_HOME":   filepath.Join(home, ".local", "share"),
		"XDG_RUNTIME_DIR": filepath.Join(home, "run"),
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := dirs[k]; ok || strings.HasPrefix(k, "HELM_") || strings.HasPrefix(k, "REGCTL_") ||
			k == "REGISTRY_AUTH_FILE" || strings.HasSuffix(k, "_PROXY") || strings.HasSuffix(k, "_proxy") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range dirs {
		if err := os.MkdirAll(v, 0o700); err != nil {
			t.Fatal(err)
		}
		env = append(env, k+"="+v)
	}
	return &cli{t: t, home: home, env: env}
}

// run executes bin with args (stdin may be nil) and fails the test unless it
// succeeds; it returns standard output.
func (c *cli) run(stdin []byte, bin string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.exec(stdin, bin, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// fails executes bin with args and fails the test unless it fails with
// want (case-insensitive) in its standard error or output.
func (c *cli) fails(want, bin string, args ...string) {
	c.t.Helper()
	out, errOut, err := c.exec(nil, bin, args...)
	if err == nil {
		c.t.Fatalf("%s %s succeeded, want an error with %q\nstdout:\n%s", filepath.Base(bin), strings.Join(args, " "), want, out)
	}
	if !strings.Contains(strings.ToLower(errOut+out), strings.ToLower(want)) {
		c.t.Fatalf("%s %s failed without %q:\n%s%s", filepath.Base(bin), strings.Join(args, " "), want, errOut, out)
	}
}

func (c *cli) exec(stdin []byte, bin string, args ...string) (string, string, error) {
	cmd := exec.CommandContext(c.t.Context(), bin, args...)
	cmd.Env = c.env
	cmd.Dir = c.home
	cmd.WaitDelay = 5 * time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	if testing.Verbose() {
		c.t.Logf("%s %s (%v)", filepath.Base(bin), strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	}
	return out.String(), errOut.String(), err
}

// writeFile writes data to dir/name and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
