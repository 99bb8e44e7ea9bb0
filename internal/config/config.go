// Package config is Berth's one typed configuration: defaults, then an
// optional YAML file, then BERTH_* environment variables, then flags, parsed
// once and validated.
package config

import (
	"errors"
	"flag"
	"fmt"
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

// Config is the server configuration. Each setting is a YAML key, an
// environment variable and a flag, all derived from its place in the
// struct: a nested block's keys are joined with "." in YAML terms
// (log.level), with "_" in the environment (BERTH_LOG_LEVEL) and with "-"
// as a flag (--log-level). A setting tagged secret:"true" may also be read
// from a file named by <key>_file, BERTH_<NAME>_FILE or --<name>-file;
// one tagged flag:"-" has no flag of its own (a secret would show in the
// process list), only its -file flag. docs/configuration.md lists them all.
type Config struct {
	Addr    string `yaml:"addr" usage:"listen address"`
	DataDir string `yaml:"data_dir" usage:"directory for the embedded database and blobs"`
	// Database may carry a password in its URL, hence its file forms.
	Database    string  `yaml:"database" secret:"true" usage:"metadata database: empty for SQLite in the data dir, or a postgres:// URL"`
	Storage     Storage `yaml:"storage"`
	ExternalURL string  `yaml:"external_url" usage:"public base URL, used in token realms and Location headers"`
	TLSCert     string  `yaml:"tls_cert" usage:"TLS certificate file"`
	TLSKey      string  `yaml:"tls_key" usage:"TLS key file"`
	Log         Log     `yaml:"log"`
	// AdminPassword is the password of the user admin, used only when
	// that user does not exist yet (the first start on a new database).
	AdminPassword string        `yaml:"admin_password" secret:"true" flag:"-" usage:"password of the user admin created on the first start (empty: one is generated and logged once)"`
	TokenTTL      time.Duration `yaml:"token_ttl" usage:"lifetime of issued registry tokens"`
	PullFlush     time.Duration `yaml:"pull_time_flush" usage:"how often pull times gathered in memory are written"`
	JobWorkers    int           `yaml:"job_workers" usage:"background job workers in this process (0: this replica runs no jobs)"`
	// APIConcurrency bounds the REST API and console requests worked on at
	// once; the others wait their turn in arrival order (internal/httplimit).
	APIConcurrency int `yaml:"api_concurrency" usage:"REST API and console requests worked on at once, the rest queue in order (0: 8 per CPU; -1: no limit)"`
	// MaxConnections bounds the connections the server holds open at once,
	// and MaxConnectionsPerClient those of one client address, so that
	// neither one client nor all of them together run the process out of
	// file descriptors (internal/httplimit.Listen). A connection beyond
	// them is reset at once.
	MaxConnections          int `yaml:"max_connections" usage:"connections held open at once; more are reset (0: half the open-file limit, less 256; -1: no limit)"`
	MaxConnectionsPerClient int `yaml:"max_connections_per_client" usage:"connections held open for one client address, an IPv6 client by its /64 (0: an eighth of max-connections; -1: no limit, e.g. behind a reverse proxy)"`
	// BodyTimeout is how long an ordinary request body (the API's JSON,
	// the console's forms, token requests) may take to arrive in full;
	// UploadIdleTimeout cuts a /v2 body (blob uploads, manifests) that
	// delivers less than 16 KiB in that long, however long it runs while
	// it moves (internal/httplimit.BodyDeadlines).
	BodyTimeout       time.Duration `yaml:"body_timeout" usage:"time an API, console or token request body has to arrive in full"`
	UploadIdleTimeout time.Duration `yaml:"upload_idle_timeout" usage:"a /v2 request body (blob upload, manifest) is cut when less than 16 KiB of it arrives in this long"`
	// DebugAddr, when set, serves Go's profiler (net/http/pprof) on its
	// own listener, never on the registry's address. Bind it to loopback.
	DebugAddr string `yaml:"debug_addr" usage:"address for Go's profiler endpoints /debug/pprof/ (empty: off; keep it on loopback)"`
	// ExecutionRetention overrides how many finished executions are kept
	// per policy and job type, e.g. "GARBAGE_COLLECTION=20,WEBHOOK=100"
	// (Harbor's <TYPE>_EXECUTION_RETENTION_COUNT).
	ExecutionRetention string `yaml:"execution_retention" usage:"finished executions kept per job type, e.g. GARBAGE_COLLECTION=20,WEBHOOK=100"`
	// UploadSessions bounds the blob upload sessions open at once in one
	// project, so that no caller holds an unbounded number of partial
	// uploads on disk (their bytes also count against the project's quota).
	UploadSessions int `yaml:"upload_sessions" usage:"open blob upload sessions allowed per project; more are refused (429) until some finish (0: no limit)"`
}

// Storage is the blob storage block. Driver names the one driver in use
// and the block of the same name holds its settings; filesystem is the
// only driver today.
type Storage struct {
	Driver     string            `yaml:"driver" usage:"blob storage driver: filesystem (s3 is not supported yet)"`
	Filesystem FilesystemStorage `yaml:"filesystem"`
}

// FilesystemStorage is the filesystem driver's block.
type FilesystemStorage struct {
	Root string `yaml:"root" usage:"blob directory (empty: <data-dir>/blobs)"`
}

// Log is the logging block.
type Log struct {
	Level  string `yaml:"level" usage:"debug, info, warn or error"`
	Format string `yaml:"format" usage:"text or json"`
	Source bool   `yaml:"source" usage:"add the source file and line of the logging statement to each record"`
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
		Storage:    Storage{Driver: "filesystem"},
		Log:        Log{Level: "info", Format: "text"},
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

// renamed maps keys of earlier releases to the ones that replaced them,
// so that a file or environment written for those is refused with the new
// name rather than ignored (a blob directory no longer read would leave
// the registry writing somewhere else).
var renamed = map[string]string{
	"log_level":  "log.level",
	"log_format": "log.format",
	"storage":    "storage.filesystem.root",
}

// Load builds the configuration from args (without the command name) and
// the environment lookup env: defaults, then the YAML file named by
// --config or BERTH_CONFIG, then BERTH_* variables, then flags. Each layer
// sets only what it names.
func Load(args []string, env func(string) (string, bool)) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	var file string
	fs.StringVar(&file, "config", "", "YAML configuration file")
	flagged := Default()
	flagLeaves := leavesOf(&flagged)
	fileFlags := map[string]*string{}
	for _, l := range flagLeaves {
		if !l.noFlag {
			switch p := l.v.Addr().Interface().(type) {
			case *string:
				fs.StringVar(p, l.flag(), *p, l.usage)
			case *time.Duration:
				fs.DurationVar(p, l.flag(), *p, l.usage)
			case *int:
				fs.IntVar(p, l.flag(), *p, l.usage)
			case *bool:
				fs.BoolVar(p, l.flag(), *p, l.usage)
			}
		}
		if l.secret {
			fileFlags[l.flag()] = fs.String(l.flag()+"-file", "", "file holding "+l.key())
		}
	}
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("%w\n%s", err, Usage())
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (settings are flags: --name value)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	if file == "" {
		file, _ = env("BERTH_CONFIG")
	}
	if file != "" {
		if err := c.readFile(file); err != nil {
			return c, fmt.Errorf("config %s: %w", file, err)
		}
	}
	for old, now := range renamed {
		oldEnv, nowEnv := envName(strings.Split(old, ".")), envName(strings.Split(now, "."))
		if _, ok := env(oldEnv); ok && oldEnv != nowEnv {
			return c, fmt.Errorf("%s is no longer read: set %s", oldEnv, nowEnv)
		}
	}
	leaves := leavesOf(&c)
	for i, l := range leaves {
		name := l.env()
		v, hasValue := env(name)
		path, hasFile := "", false
		if l.secret {
			path, hasFile = env(name + "_FILE")
		}
		if hasValue && hasFile {
			return c, fmt.Errorf("%s and %s_FILE are both set; set one", name, name)
		}
		if hasFile {
			var err error
			if v, err = readSecret(path); err != nil {
				return c, fmt.Errorf("%s_FILE: %w", name, err)
			}
		}
		if hasValue || hasFile {
			if err := l.parse(v); err != nil {
				return c, fmt.Errorf("%s: %w", name, err)
			}
		}
		f := l.flag()
		switch {
		case given[f] && given[f+"-file"]:
			return c, fmt.Errorf("--%s and --%s-file are both given; give one", f, f)
		case given[f]:
			l.v.Set(flagLeaves[i].v)
		case given[f+"-file"]:
			v, err := readSecret(*fileFlags[f])
			if err != nil {
				return c, fmt.Errorf("--%s-file: %w", f, err)
			}
			l.v.SetString(v)
		}
	}
	return c, c.Validate()
}

// readFile applies the YAML file at path: every key must be a setting (or
// the _file form of a secret one), every block a mapping.
func (c *Config) readFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	if doc.Kind == 0 { // an empty file
		return nil
	}
	return applyBlock(doc.Content[0], reflect.ValueOf(c).Elem(), nil)
}

// applyBlock sets the fields of the struct v from the mapping node n;
// prefix is the keys of the blocks around it.
func applyBlock(n *yaml.Node, v reflect.Value, prefix []string) error {
	if n.Kind != yaml.MappingNode {
		if len(prefix) == 0 {
			return fmt.Errorf("line %d: the file must be a mapping of keys to values", n.Line)
		}
		return fmt.Errorf("line %d: %s is a block of keys (%s)", n.Line, strings.Join(prefix, "."), keysOf(v.Type(), prefix))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		path := append(append([]string(nil), prefix...), k.Value)
		key := strings.Join(path, ".")
		name, fromFile := k.Value, false
		sf, ok := fieldByKey(v.Type(), name)
		if !ok && strings.HasSuffix(name, "_file") {
			name = strings.TrimSuffix(name, "_file")
			if sf, ok = fieldByKey(v.Type(), name); ok && sf.Tag.Get("secret") == "true" {
				fromFile = true
			} else {
				ok = false
			}
		}
		if !ok {
			if now, was := renamed[key]; was {
				return fmt.Errorf("line %d: unknown key %s (now %s)", k.Line, key, now)
			}
			return fmt.Errorf("line %d: unknown key %s", k.Line, key)
		}
		if line, dup := seen[name]; dup {
			setting := strings.Join(append(append([]string(nil), prefix...), name), ".")
			return fmt.Errorf("line %d: %s is set twice (also on line %d, as a value or a _file)", k.Line, setting, line)
		}
		seen[name] = k.Line
		fv := v.FieldByIndex(sf.Index)
		if fv.Kind() == reflect.Struct {
			if val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
				continue // "log:" with nothing under it: an empty block
			}
			if val.Kind != yaml.MappingNode {
				if now, was := renamed[key]; was {
					return fmt.Errorf("line %d: %s is a block of keys (a value here is now %s)", k.Line, key, now)
				}
			}
			if err := applyBlock(val, fv, path); err != nil {
				return err
			}
			continue
		}
		if fromFile {
			var p string
			if err := val.Decode(&p); err != nil {
				return fmt.Errorf("line %d: %s: %w", k.Line, key, err)
			}
			s, err := readSecret(p)
			if err != nil {
				return fmt.Errorf("line %d: %s: %w", k.Line, key, err)
			}
			fv.SetString(s)
			continue
		}
		if err := val.Decode(fv.Addr().Interface()); err != nil {
			return fmt.Errorf("line %d: %s: %s", val.Line, key, decodeError(err))
		}
	}
	return nil
}

// decodeError is a value's decoding error without yaml's own prefixes
// (the caller names the line and key).
func decodeError(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		if _, rest, ok := strings.Cut(m, ": "); ok && strings.HasPrefix(m, "line ") {
			m = rest
		}
		msgs[i] = m
	}
	return strings.Join(msgs, "; ")
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.Tag.Get("yaml") == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func keysOf(t reflect.Type, prefix []string) string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		keys = append(keys, strings.Join(append(append([]string(nil), prefix...), t.Field(i).Tag.Get("yaml")), "."))
	}
	return strings.Join(keys, ", ")
}

// readSecret reads a secret from a file, without the line ending its last
// line (as files written by editors and `echo` end).
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
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
	switch c.Storage.Driver {
	case "filesystem":
	case "s3":
		problems = append(problems, "storage-driver s3 is not supported yet (the only driver is filesystem)")
	default:
		problems = append(problems, fmt.Sprintf("storage-driver %q is not a driver (the only driver is filesystem)", c.Storage.Driver))
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
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		problems = append(problems, "log-level must be debug, info, warn or error")
	}
	switch c.Log.Format {
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

// StorageDir returns the blob directory of the filesystem driver.
func (c *Config) StorageDir() string {
	if c.Storage.Filesystem.Root != "" {
		return strings.TrimPrefix(c.Storage.Filesystem.Root, "file://")
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

// leaf is one setting: a field that is not a block.
type leaf struct {
	path   []string // YAML keys from the top of the file
	usage  string
	secret bool // also read from a file: <key>_file, BERTH_<NAME>_FILE, --<name>-file
	noFlag bool // no --<name> (the -file flag only)
	v      reflect.Value
}

func (l leaf) key() string  { return strings.Join(l.path, ".") }
func (l leaf) env() string  { return envName(l.path) }
func (l leaf) flag() string { return strings.ReplaceAll(strings.Join(l.path, "-"), "_", "-") }

func envName(path []string) string { return "BERTH_" + strings.ToUpper(strings.Join(path, "_")) }

// parse sets the leaf from an environment value.
func (l leaf) parse(s string) error {
	switch p := l.v.Addr().Interface().(type) {
	case *string:
		*p = s
	case *time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*p = d
	case *int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("not a whole number: %q", s)
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean (true or false): %q", s)
		}
		*p = b
	default:
		return fmt.Errorf("unsupported setting type %s", l.v.Type())
	}
	return nil
}

// leavesOf lists the settings of c in declaration order, blocks expanded.
func leavesOf(c *Config) []leaf {
	var out []leaf
	var walk func(v reflect.Value, prefix []string)
	walk = func(v reflect.Value, prefix []string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			path := append(append([]string(nil), prefix...), sf.Tag.Get("yaml"))
			if sf.Type.Kind() == reflect.Struct {
				walk(v.Field(i), path)
				continue
			}
			out = append(out, leaf{path: path, usage: sf.Tag.Get("usage"), secret: sf.Tag.Get("secret") == "true",
				noFlag: sf.Tag.Get("flag") == "-", v: v.Field(i)})
		}
	}
	walk(reflect.ValueOf(c).Elem(), nil)
	return out
}

// Usage describes the settings.
func Usage() string {
	var b strings.Builder
	b.WriteString("settings: --flag, BERTH_<NAME> in the environment, <key> in the YAML file (a block's keys\n")
	b.WriteString("joined: log.level is BERTH_LOG_LEVEL and --log-level); flags beat the environment, which beats the file\n")
	b.WriteString("  --config string\tYAML configuration file (env BERTH_CONFIG)\n")
	d := Default()
	for _, l := range leavesOf(&d) {
		name := "--" + l.flag()
		if l.noFlag {
			name = "(no flag)"
		}
		fmt.Fprintf(&b, "  %s\t%s (env %s, key %s", name, l.usage, l.env(), l.key())
		if l.secret {
			fmt.Fprintf(&b, "; or from a file: --%s-file, %s_FILE, %s_file", l.flag(), l.env(), l.key())
		}
		if !l.v.IsZero() {
			fmt.Fprintf(&b, "; default %v", l.v.Interface())
		}
		b.WriteString(")\n")
	}
	return b.String()
}
