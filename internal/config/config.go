// Package config is Berth's one typed configuration: defaults, then an
// optional YAML file, then BERTH_* environment variables, then flags, parsed
// once and validated.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the server configuration. Each field has a flag (--name), an
// environment variable (BERTH_NAME with - as _) and a YAML key (name with -
// as _).
type Config struct {
	Addr        string        `yaml:"addr" flag:"addr" usage:"listen address"`
	DataDir     string        `yaml:"data_dir" flag:"data-dir" usage:"directory for the embedded database and blobs"`
	Database    string        `yaml:"database" flag:"database" usage:"metadata database: empty for SQLite in the data dir, or a postgres:// URL"`
	Storage     string        `yaml:"storage" flag:"storage" usage:"blob storage: empty for the data dir, or a directory path"`
	ExternalURL string        `yaml:"external_url" flag:"external-url" usage:"public base URL, used in token realms and Location headers"`
	TLSCert     string        `yaml:"tls_cert" flag:"tls-cert" usage:"TLS certificate file"`
	TLSKey      string        `yaml:"tls_key" flag:"tls-key" usage:"TLS key file"`
	LogLevel    string        `yaml:"log_level" flag:"log-level" usage:"debug, info, warn or error"`
	LogFormat   string        `yaml:"log_format" flag:"log-format" usage:"text or json"`
	TokenTTL    time.Duration `yaml:"token_ttl" flag:"token-ttl" usage:"lifetime of issued registry tokens"`
	PullFlush   time.Duration `yaml:"pull_time_flush" flag:"pull-time-flush" usage:"how often pull times gathered in memory are written"`
	JobWorkers  int           `yaml:"job_workers" flag:"job-workers" usage:"background job workers in this process (0: this replica runs no jobs)"`
	// APIConcurrency bounds the REST API and console requests worked on at
	// once; the others wait their turn in arrival order (internal/httplimit).
	APIConcurrency int `yaml:"api_concurrency" flag:"api-concurrency" usage:"REST API and console requests worked on at once, the rest queue in order (0: 8 per CPU; -1: no limit)"`
	// MaxConnections bounds the connections the server holds open at once,
	// and MaxConnectionsPerClient those of one client address, so that
	// neither one client nor all of them together run the process out of
	// file descriptors (internal/httplimit.Listen). A connection beyond
	// them is reset at once.
	MaxConnections          int `yaml:"max_connections" flag:"max-connections" usage:"connections held open at once; more are reset (0: half the open-file limit, less 256; -1: no limit)"`
	MaxConnectionsPerClient int `yaml:"max_connections_per_client" flag:"max-connections-per-client" usage:"connections held open for one client address, an IPv6 client by its /64 (0: an eighth of max-connections; -1: no limit, e.g. behind a reverse proxy)"`
	// BodyTimeout is how long an ordinary request body (the API's JSON,
	// the console's forms, token requests) may take to arrive in full;
	// UploadIdleTimeout cuts a /v2 body (blob uploads, manifests) that
	// delivers less than 16 KiB in that long, however long it runs while
	// it moves (internal/httplimit.BodyDeadlines).
	BodyTimeout       time.Duration `yaml:"body_timeout" flag:"body-timeout" usage:"time an API, console or token request body has to arrive in full"`
	UploadIdleTimeout time.Duration `yaml:"upload_idle_timeout" flag:"upload-idle-timeout" usage:"a /v2 request body (blob upload, manifest) is cut when less than 16 KiB of it arrives in this long"`
	// DebugAddr, when set, serves Go's profiler (net/http/pprof) on its
	// own listener, never on the registry's address. Bind it to loopback.
	DebugAddr string `yaml:"debug_addr" flag:"debug-addr" usage:"address for Go's profiler endpoints /debug/pprof/ (empty: off; keep it on loopback)"`
	// ExecutionRetention overrides how many finished executions are kept
	// per policy and job type, e.g. "GARBAGE_COLLECTION=20,WEBHOOK=100"
	// (Harbor's <TYPE>_EXECUTION_RETENTION_COUNT).
	ExecutionRetention string `yaml:"execution_retention" flag:"execution-retention" usage:"finished executions kept per job type, e.g. GARBAGE_COLLECTION=20,WEBHOOK=100"`
	// UploadSessions bounds the blob upload sessions open at once in one
	// project, so that no caller holds an unbounded number of partial
	// uploads on disk (their bytes also count against the project's quota).
	UploadSessions int `yaml:"upload_sessions" flag:"upload-sessions" usage:"open blob upload sessions allowed per project; more are refused (429) until some finish (0: no limit)"`
}

// ExecutionKeep parses ExecutionRetention into job type → count.
func (c *Config) ExecutionKeep() (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(c.ExecutionRetention, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(strings.TrimSpace(v))
		k = strings.TrimSpace(k)
		if !ok || err != nil || n < 1 || k == "" || strings.ToUpper(k) != k {
			return nil, fmt.Errorf("execution-retention: %q is not JOB_TYPE=N with N >= 1", part)
		}
		out[k] = n
	}
	return out, nil
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Addr:       ":5000",
		DataDir:    "./data",
		LogLevel:   "info",
		LogFormat:  "text",
		TokenTTL:   30 * time.Minute,
		PullFlush:  5 * time.Second,
		JobWorkers: 4,
		// A docker push opens a few sessions at once (3 by default); this
		// leaves room for many concurrent pushes into one project.
		UploadSessions: 256,

		BodyTimeout:       30 * time.Second,
		UploadIdleTimeout: time.Minute,
	}
}

// Load builds the configuration from args (without the command name) and
// the environment lookup env. A --config flag or BERTH_CONFIG names the YAML file.
func Load(args []string, env func(string) (string, bool)) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	var file string
	fs.StringVar(&file, "config", "", "YAML configuration file")
	fields := fieldsOf(&c)
	for _, f := range fields {
		switch p := f.ptr.(type) {
		case *string:
			fs.StringVar(p, f.flag, *p, f.usage)
		case *time.Duration:
			fs.DurationVar(p, f.flag, *p, f.usage)
		case *int:
			fs.IntVar(p, f.flag, *p, f.usage)
		}
	}
	// Parse once to find --config, then layer file and env under the flags.
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("%w\n%s", err, Usage())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	flagged := c
	c = Default()
	if file == "" {
		file, _ = env("BERTH_CONFIG")
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %w", file, err)
		}
	}
	fields = fieldsOf(&c)
	flaggedFields := fieldsOf(&flagged)
	for i, f := range fields {
		if set[f.flag] {
			reflect.ValueOf(f.ptr).Elem().Set(reflect.ValueOf(flaggedFields[i].ptr).Elem())
			continue
		}
		name := "BERTH_" + strings.ToUpper(strings.ReplaceAll(f.flag, "-", "_"))
		if v, ok := env(name); ok {
			switch p := f.ptr.(type) {
			case *string:
				*p = v
			case *time.Duration:
				d, err := time.ParseDuration(v)
				if err != nil {
					return c, fmt.Errorf("%s: %w", name, err)
				}
				*p = d
			case *int:
				n, err := strconv.Atoi(v)
				if err != nil {
					return c, fmt.Errorf("%s: not a whole number: %q", name, v)
				}
				*p = n
			}
		}
	}
	return c, c.Validate()
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var problems []string
	if c.Addr == "" {
		problems = append(problems, "addr must not be empty")
	}
	if c.DebugAddr != "" {
		if _, _, err := net.SplitHostPort(c.DebugAddr); err != nil {
			problems = append(problems, "debug-addr must be host:port (e.g. 127.0.0.1:6060)")
		}
	}
	if c.DataDir == "" {
		problems = append(problems, "data-dir must not be empty")
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		problems = append(problems, "database must be empty (SQLite) or a postgres:// URL")
	}
	if c.ExternalURL != "" {
		u, err := url.Parse(c.ExternalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, "external-url must be an absolute http(s) URL")
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		problems = append(problems, "tls-cert and tls-key go together")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		problems = append(problems, "log-level must be debug, info, warn or error")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		problems = append(problems, "log-format must be text or json")
	}
	if c.TokenTTL < time.Minute || c.TokenTTL > 24*time.Hour {
		problems = append(problems, "token-ttl must be between 1m and 24h")
	}
	if c.PullFlush < 100*time.Millisecond || c.PullFlush > 24*time.Hour {
		problems = append(problems, "pull-time-flush must be between 100ms and 24h")
	}
	if _, err := c.ExecutionKeep(); err != nil {
		problems = append(problems, err.Error())
	}
	if c.JobWorkers < 0 || c.JobWorkers > 256 {
		problems = append(problems, "job-workers must be between 0 and 256")
	}
	if c.APIConcurrency < -1 || c.APIConcurrency > 100000 {
		problems = append(problems, "api-concurrency must be -1 (no limit), 0 (8 per CPU) or a positive number")
	}
	if c.UploadSessions < 0 || c.UploadSessions > 1000000 {
		problems = append(problems, "upload-sessions must be between 0 (no limit) and 1000000")
	}
	if c.MaxConnections < -1 || c.MaxConnections > 10_000_000 {
		problems = append(problems, "max-connections must be -1 (no limit), 0 (from the open-file limit) or a positive number")
	}
	if c.MaxConnectionsPerClient < -1 || c.MaxConnectionsPerClient > 10_000_000 {
		problems = append(problems, "max-connections-per-client must be -1 (no limit), 0 (an eighth of max-connections) or a positive number")
	}
	if c.BodyTimeout < time.Second || c.BodyTimeout > time.Hour {
		problems = append(problems, "body-timeout must be between 1s and 1h")
	}
	if c.UploadIdleTimeout < time.Second || c.UploadIdleTimeout > time.Hour {
		problems = append(problems, "upload-idle-timeout must be between 1s and 1h")
	}
	if len(problems) > 0 {
		return errors.New("invalid configuration: " + strings.Join(problems, "; "))
	}
	return nil
}

// StorageDir returns the blob directory.
func (c *Config) StorageDir() string {
	if c.Storage != "" {
		return strings.TrimPrefix(c.Storage, "file://")
	}
	return filepath.Join(c.DataDir, "blobs")
}

// DatabaseDSN returns the database to open.
func (c *Config) DatabaseDSN() string {
	if c.Database != "" {
		return c.Database
	}
	return filepath.Join(c.DataDir, "berth.db")
}

type field struct {
	flag, usage string
	ptr         any
}

func fieldsOf(c *Config) []field {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	var out []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		out = append(out, field{flag: sf.Tag.Get("flag"), usage: sf.Tag.Get("usage"), ptr: v.Field(i).Addr().Interface()})
	}
	return out
}

// Usage describes the flags.
func Usage() string {
	var b strings.Builder
	b.WriteString("flags (each also BERTH_<NAME> in the environment and <name> in the YAML file):\n")
	b.WriteString("  --config string\tYAML configuration file (env BERTH_CONFIG)\n")
	d := Default()
	for _, f := range fieldsOf(&d) {
		fmt.Fprintf(&b, "  --%s\t%s (default %v)\n", f.flag, f.usage, reflect.ValueOf(f.ptr).Elem().Interface())
	}
	return b.String()
}
