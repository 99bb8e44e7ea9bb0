package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/config"
)

// envOf returns an environment lookup over m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "berth.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	d := config.Default()
	want := config.Config{Addr: ":5000", DataDir: "./data", Storage: config.Storage{Driver: "filesystem"}, Log: config.Log{Level: "info", Format: "text"},
		TokenTTL: 30 * time.Minute, PullFlush: 5 * time.Second, JobWorkers: 4, UploadSessions: 256,
		BodyTimeout: 30 * time.Second, UploadIdleTimeout: time.Minute}
	if d != want {
		t.Errorf("Default() = %+v, want %+v", d, want)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	got, err := config.Load(nil, envOf(nil))
	if err != nil || got != want {
		t.Errorf("Load with nothing set = %+v, %v", got, err)
	}
	if got.StorageDir() != filepath.Join("data", "blobs") || got.DatabaseDSN() != filepath.Join("data", "berth.db") {
		t.Errorf("StorageDir %q DatabaseDSN %q", got.StorageDir(), got.DatabaseDSN())
	}
	got.Storage.Filesystem.Root, got.Database = "file:///srv/blobs", "postgres://db/berth"
	if got.StorageDir() != "/srv/blobs" || got.DatabaseDSN() != "postgres://db/berth" {
		t.Errorf("StorageDir %q DatabaseDSN %q", got.StorageDir(), got.DatabaseDSN())
	}
}

func TestLayers(t *testing.T) {
	file := writeFile(t, `
addr: ":6000"
data_dir: /var/lib/berth
log:
  level: debug
token_ttl: 45m
external_url: https://berth.example
`)
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want func(*config.Config)
	}{
		{"file by flag", []string{"--config", file}, nil, func(c *config.Config) {
			c.Addr, c.DataDir, c.Log.Level, c.TokenTTL, c.ExternalURL = ":6000", "/var/lib/berth", "debug", 45*time.Minute, "https://berth.example"
		}},
		{"file by BERTH_CONFIG", nil, map[string]string{"BERTH_CONFIG": file}, func(c *config.Config) {
			c.Addr, c.DataDir, c.Log.Level, c.TokenTTL, c.ExternalURL = ":6000", "/var/lib/berth", "debug", 45*time.Minute, "https://berth.example"
		}},
		{"env overrides file", []string{"--config", file},
			map[string]string{"BERTH_ADDR": ":7000", "BERTH_TOKEN_TTL": "2h", "BERTH_LOG_FORMAT": "json", "BERTH_DATABASE": "postgres://pg/berth"},
			func(c *config.Config) {
				c.Addr, c.DataDir, c.Log.Level, c.TokenTTL, c.ExternalURL = ":7000", "/var/lib/berth", "debug", 2*time.Hour, "https://berth.example"
				c.Log.Format, c.Database = "json", "postgres://pg/berth"
			}},
		{"flags override env", []string{"--config", file, "--addr", ":8000", "--token-ttl", "10m", "--log-level=info"},
			map[string]string{"BERTH_ADDR": ":7000", "BERTH_TOKEN_TTL": "2h", "BERTH_DATA_DIR": "/env/data"},
			func(c *config.Config) {
				// --log-level=info is the default value, but it was given, so it wins over the file.
				c.Addr, c.DataDir, c.Log.Level, c.TokenTTL, c.ExternalURL = ":8000", "/env/data", "info", 10*time.Minute, "https://berth.example"
			}},
		{"env without file", nil, map[string]string{"BERTH_DATA_DIR": "/d", "BERTH_STORAGE_FILESYSTEM_ROOT": "/blobs", "BERTH_TLS_CERT": "c.pem", "BERTH_TLS_KEY": "k.pem"},
			func(c *config.Config) {
				c.DataDir, c.Storage.Filesystem.Root, c.TLSCert, c.TLSKey = "/d", "/blobs", "c.pem", "k.pem"
			}},
		{"flag --config wins over BERTH_CONFIG", []string{"-config", file}, map[string]string{"BERTH_CONFIG": "/does/not/exist.yaml"},
			func(c *config.Config) {
				c.Addr, c.DataDir, c.Log.Level, c.TokenTTL, c.ExternalURL = ":6000", "/var/lib/berth", "debug", 45*time.Minute, "https://berth.example"
			}},
		{"connection limits and body deadlines", []string{"--config", writeFile(t, "max_connections: 5000\nbody_timeout: 10s\n"), "--upload-idle-timeout", "2m"},
			map[string]string{"BERTH_MAX_CONNECTIONS_PER_CLIENT": "-1", "BERTH_BODY_TIMEOUT": "15s"},
			func(c *config.Config) {
				c.MaxConnections, c.MaxConnectionsPerClient, c.BodyTimeout, c.UploadIdleTimeout = 5000, -1, 15*time.Second, 2*time.Minute
			}},
		{"empty file", []string{"--config", writeFile(t, "")}, nil, func(*config.Config) {}},
		{"unrelated env ignored", nil, map[string]string{"ADDR": ":1", "BERTH_UNKNOWN": "x"}, func(*config.Config) {}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := config.Load(c.args, envOf(c.env))
			if err != nil {
				t.Fatal(err)
			}
			want := config.Default()
			c.want(&want)
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct {
		name    string
		args    []string
		env     map[string]string
		mention string
	}{
		{"unknown YAML key", []string{"--config", writeFile(t, "addr: :1\nlisten: :2\n")}, nil, "line 2: unknown key listen"},
		{"YAML type error", []string{"--config", writeFile(t, "token_ttl: [1]\n")}, nil, "line 1"},
		{"bad YAML duration", []string{"--config", writeFile(t, "token_ttl: soon\n")}, nil, "soon"},
		{"not YAML", []string{"--config", writeFile(t, "addr: [\n")}, nil, "berth.yaml"},
		{"missing file", []string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, nil, "none.yaml"},
		{"missing file by env", nil, map[string]string{"BERTH_CONFIG": "/does/not/exist.yaml"}, "exist.yaml"},
		{"bad env duration", nil, map[string]string{"BERTH_TOKEN_TTL": "forever"}, "BERTH_TOKEN_TTL"},
		{"bad flag duration", []string{"--token-ttl", "forever"}, nil, "token-ttl"},
		{"unknown flag", []string{"--frobnicate"}, nil, "frobnicate"},
		{"invalid after layering", []string{"--log-level", "loud"}, nil, "log-level"},
		{"invalid from env", nil, map[string]string{"BERTH_DATABASE": "mysql://db"}, "database"},
		{"bad api concurrency from env", nil, map[string]string{"BERTH_API_CONCURRENCY": "-5"}, "api-concurrency"},
		{"bad upload sessions from env", nil, map[string]string{"BERTH_UPLOAD_SESSIONS": "-1"}, "upload-sessions"},
		{"invalid from file", []string{"--config", writeFile(t, "token_ttl: 30s\n")}, nil, "token-ttl"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Load(c.args, envOf(c.env))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q does not mention %q", err, c.mention)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name    string
		mod     func(*config.Config)
		mention string // "" valid
	}{
		{"defaults", func(*config.Config) {}, ""},
		{"empty addr", func(c *config.Config) { c.Addr = "" }, "addr"},
		{"empty data dir", func(c *config.Config) { c.DataDir = "" }, "data-dir"},
		{"postgres URL", func(c *config.Config) { c.Database = "postgres://u@h:5432/db?sslmode=disable" }, ""},
		{"postgresql URL", func(c *config.Config) { c.Database = "postgresql://h/db" }, ""},
		{"mysql URL", func(c *config.Config) { c.Database = "mysql://h/db" }, "database"},
		{"sqlite path as database", func(c *config.Config) { c.Database = "/var/berth.db" }, "database"},
		{"https external URL", func(c *config.Config) { c.ExternalURL = "https://berth.example:8443/" }, ""},
		{"relative external URL", func(c *config.Config) { c.ExternalURL = "berth.example" }, "external-url"},
		{"ftp external URL", func(c *config.Config) { c.ExternalURL = "ftp://berth.example" }, "external-url"},
		{"external URL without host", func(c *config.Config) { c.ExternalURL = "https://" }, "external-url"},
		{"cert without key", func(c *config.Config) { c.TLSCert = "c.pem" }, "tls-cert and tls-key"},
		{"key without cert", func(c *config.Config) { c.TLSKey = "k.pem" }, "tls-cert and tls-key"},
		{"cert and key", func(c *config.Config) { c.TLSCert, c.TLSKey = "c.pem", "k.pem" }, ""},
		{"log level", func(c *config.Config) { c.Log.Level = "trace" }, "log-level"},
		{"log levels", func(c *config.Config) { c.Log.Level = "warn" }, ""},
		{"log format", func(c *config.Config) { c.Log.Format = "xml" }, "log-format"},
		{"debug address", func(c *config.Config) { c.DebugAddr = "6060" }, "debug-addr"},
		{"token ttl too short", func(c *config.Config) { c.TokenTTL = 59 * time.Second }, "token-ttl"},
		{"token ttl too long", func(c *config.Config) { c.TokenTTL = 25 * time.Hour }, "token-ttl"},
		{"token ttl bounds", func(c *config.Config) { c.TokenTTL = time.Minute }, ""},
		{"token ttl upper bound", func(c *config.Config) { c.TokenTTL = 24 * time.Hour }, ""},
		{"pull flush too short", func(c *config.Config) { c.PullFlush = 10 * time.Millisecond }, "pull-time-flush"},
		{"api concurrency off", func(c *config.Config) { c.APIConcurrency = -1 }, ""},
		{"api concurrency set", func(c *config.Config) { c.APIConcurrency = 64 }, ""},
		{"api concurrency negative", func(c *config.Config) { c.APIConcurrency = -2 }, "api-concurrency"},
		{"upload sessions off", func(c *config.Config) { c.UploadSessions = 0 }, ""},
		{"upload sessions negative", func(c *config.Config) { c.UploadSessions = -1 }, "upload-sessions"},
		{"connection limits off", func(c *config.Config) { c.MaxConnections, c.MaxConnectionsPerClient = -1, -1 }, ""},
		{"connection limits set", func(c *config.Config) { c.MaxConnections, c.MaxConnectionsPerClient = 10000, 100 }, ""},
		{"max connections negative", func(c *config.Config) { c.MaxConnections = -2 }, "max-connections must"},
		{"per-client connections negative", func(c *config.Config) { c.MaxConnectionsPerClient = -2 }, "max-connections-per-client"},
		{"body timeout zero", func(c *config.Config) { c.BodyTimeout = 0 }, "body-timeout"},
		{"body timeout too long", func(c *config.Config) { c.BodyTimeout = 2 * time.Hour }, "body-timeout"},
		{"upload idle timeout too short", func(c *config.Config) { c.UploadIdleTimeout = 500 * time.Millisecond }, "upload-idle-timeout"},
		{"several problems at once", func(c *config.Config) { c.Addr, c.Log.Format = "", "xml" }, "addr must not be empty; log-format"},
	} {
		cfg := config.Default()
		c.mod(&cfg)
		err := cfg.Validate()
		switch {
		case c.mention == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.mention != "" && err == nil:
			t.Errorf("%s: accepted", c.name)
		case c.mention != "" && !strings.Contains(err.Error(), c.mention):
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.mention)
		}
	}
}

func TestUsage(t *testing.T) {
	u := config.Usage()
	for _, f := range []string{"--config", "--addr", "--data-dir", "--database", "--database-file", "--storage-driver", "--storage-filesystem-root",
		"--external-url", "--tls-cert", "--tls-key", "--log-level", "--log-format", "--log-source", "--admin-password-file", "--token-ttl", "--debug-addr",
		"--max-connections", "--max-connections-per-client", "--body-timeout", "--upload-idle-timeout",
		"BERTH_STORAGE_FILESYSTEM_ROOT", "storage.filesystem.root", "BERTH_ADMIN_PASSWORD_FILE"} {
		if !strings.Contains(u, f) {
			t.Errorf("usage does not list %s", f)
		}
	}
}

func TestExecutionRetention(t *testing.T) {
	c := config.Default()
	c.ExecutionRetention = "GARBAGE_COLLECTION=20, WEBHOOK=100"
	keep, err := c.ExecutionKeep()
	if err != nil || keep["GARBAGE_COLLECTION"] != 20 || keep["WEBHOOK"] != 100 || c.Validate() != nil {
		t.Fatalf("keep %v err %v validate %v", keep, err, c.Validate())
	}
	for _, bad := range []string{"GC", "GC=0", "GC=x", "gc=3", "=4"} {
		c.ExecutionRetention = bad
		if c.Validate() == nil {
			t.Errorf("execution-retention %q accepted", bad)
		}
	}
}

// TestBlocks: a nested block is set key by key from every layer (the file
// sets what it names and keeps the block's other defaults), and its keys
// map to BERTH_<BLOCK>_<KEY> and --<block>-<key>.
func TestBlocks(t *testing.T) {
	file := writeFile(t, `
storage:
  driver: filesystem
  filesystem:
    root: /srv/blobs
log:
  format: json
  source: true
`)
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want func(*config.Config)
	}{
		{"file", []string{"--config", file}, nil, func(c *config.Config) {
			c.Storage.Filesystem.Root, c.Log.Format, c.Log.Source = "/srv/blobs", "json", true
		}},
		{"env over file", []string{"--config", file}, map[string]string{"BERTH_STORAGE_FILESYSTEM_ROOT": "/env/blobs", "BERTH_LOG_LEVEL": "warn", "BERTH_LOG_SOURCE": "false"},
			func(c *config.Config) {
				c.Storage.Filesystem.Root, c.Log.Format, c.Log.Level = "/env/blobs", "json", "warn"
			}},
		{"flags over env", []string{"--config", file, "--storage-filesystem-root", "/flag/blobs", "--log-format", "text", "--storage-driver", "filesystem"},
			map[string]string{"BERTH_STORAGE_FILESYSTEM_ROOT": "/env/blobs"},
			func(c *config.Config) { c.Storage.Filesystem.Root, c.Log.Source = "/flag/blobs", true }},
		{"one key of a block", []string{"--config", writeFile(t, "log:\n  level: error\n")}, nil, func(c *config.Config) { c.Log.Level = "error" }},
		{"empty block", []string{"--config", writeFile(t, "log: {}\n")}, nil, func(*config.Config) {}},
		{"block with nothing under it", []string{"--config", writeFile(t, "log:\nstorage:\n")}, nil, func(*config.Config) {}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := config.Load(c.args, envOf(c.env))
			if err != nil {
				t.Fatal(err)
			}
			want := config.Default()
			c.want(&want)
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
	got, _ := config.Load([]string{"--config", file}, envOf(nil))
	if got.StorageDir() != "/srv/blobs" {
		t.Errorf("StorageDir %q", got.StorageDir())
	}
}

// TestBooleans: a boolean is YAML true/false, an environment value
// strconv.ParseBool reads (1, t, true, 0, f, false...), and a flag that is
// true when given bare and false as --flag=false.
func TestBooleans(t *testing.T) {
	on := writeFile(t, "log:\n  source: true\n")
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want bool
	}{
		{"default", nil, nil, false},
		{"file", []string{"--config", on}, nil, true},
		{"env 1", nil, map[string]string{"BERTH_LOG_SOURCE": "1"}, true},
		{"env TRUE", nil, map[string]string{"BERTH_LOG_SOURCE": "TRUE"}, true},
		{"env false over file", []string{"--config", on}, map[string]string{"BERTH_LOG_SOURCE": "false"}, false},
		{"bare flag", []string{"--log-source"}, nil, true},
		{"flag =false over env and file", []string{"--config", on, "--log-source=false"}, map[string]string{"BERTH_LOG_SOURCE": "true"}, false},
	} {
		got, err := config.Load(c.args, envOf(c.env))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got.Log.Source != c.want {
			t.Errorf("%s: log.source %v, want %v", c.name, got.Log.Source, c.want)
		}
	}
}

// TestSecrets: a secret setting is read from its value or from a file
// named by <key>_file, BERTH_<NAME>_FILE or --<name>-file, with the
// layers' usual order; one layer may not give both forms. The admin
// password has no flag of its own, so that it never shows in the process
// list.
func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	secret := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fromFile := secret("file-secret", "from-yaml-file\n")
	fromEnv := secret("env-secret", "from-env-file\r\n")
	fromFlag := secret("flag-secret", "from-flag-file")
	dsn := secret("dsn", "postgres://berth:pw@db/berth\n")
	yamlFile := writeFile(t, "admin_password_file: "+fromFile+"\n")
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"none", nil, nil, ""},
		{"env value", nil, map[string]string{"BERTH_ADMIN_PASSWORD": "from-env"}, "from-env"},
		{"env file, line end dropped", nil, map[string]string{"BERTH_ADMIN_PASSWORD_FILE": fromEnv}, "from-env-file"},
		{"YAML value", []string{"--config", writeFile(t, "admin_password: from-yaml\n")}, nil, "from-yaml"},
		{"YAML file", []string{"--config", yamlFile}, nil, "from-yaml-file"},
		{"env value over YAML file", []string{"--config", yamlFile}, map[string]string{"BERTH_ADMIN_PASSWORD": "from-env"}, "from-env"},
		{"flag file over env", []string{"--admin-password-file", fromFlag}, map[string]string{"BERTH_ADMIN_PASSWORD": "from-env"}, "from-flag-file"},
	} {
		got, err := config.Load(c.args, envOf(c.env))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got.AdminPassword != c.want {
			t.Errorf("%s: admin password %q, want %q", c.name, got.AdminPassword, c.want)
		}
	}
	got, err := config.Load([]string{"--database-file", dsn}, envOf(nil))
	if err != nil || got.Database != "postgres://berth:pw@db/berth" {
		t.Errorf("--database-file: %q, %v", got.Database, err)
	}
	got, err = config.Load(nil, envOf(map[string]string{"BERTH_DATABASE_FILE": dsn}))
	if err != nil || got.Database != "postgres://berth:pw@db/berth" {
		t.Errorf("BERTH_DATABASE_FILE: %q, %v", got.Database, err)
	}
	if strings.Contains(config.Usage(), "--admin-password ") || strings.Contains(config.Usage(), "--admin-password\t") {
		t.Error("usage offers the admin password as a flag")
	}
	for _, c := range []struct {
		name    string
		args    []string
		env     map[string]string
		mention string
	}{
		{"no password flag", []string{"--admin-password", "x"}, nil, "admin-password"},
		{"value and file in the environment", nil, map[string]string{"BERTH_ADMIN_PASSWORD": "x", "BERTH_ADMIN_PASSWORD_FILE": fromEnv}, "both set"},
		{"value and file in YAML", []string{"--config", writeFile(t, "admin_password: x\nadmin_password_file: "+fromFile+"\n")}, nil, "line 2: admin_password is set twice"},
		{"value and file as flags", []string{"--database", "postgres://a/b", "--database-file", dsn}, nil, "both given"},
		{"missing file", nil, map[string]string{"BERTH_ADMIN_PASSWORD_FILE": filepath.Join(dir, "none")}, "BERTH_ADMIN_PASSWORD_FILE"},
		{"empty file", []string{"--admin-password-file", secret("empty", "\n")}, nil, "is empty"},
		{"missing file in YAML", []string{"--config", writeFile(t, "admin_password_file: "+filepath.Join(dir, "none")+"\n")}, nil, "line 1: admin_password_file"},
		{"no file form for a plain setting", []string{"--config", writeFile(t, "addr_file: /x\n")}, nil, "unknown key addr_file"},
		{"no file flag for a plain setting", []string{"--addr-file", "/x"}, nil, "addr-file"},
	} {
		_, err := config.Load(c.args, envOf(c.env))
		if err == nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.mention)
		}
	}
}

// TestRefusedKeys: unknown keys, keys of earlier releases, blocks given as
// values and drivers Berth does not have yet are refused with an error
// naming them, never ignored.
func TestRefusedKeys(t *testing.T) {
	for _, c := range []struct {
		name    string
		args    []string
		env     map[string]string
		mention string
	}{
		{"unknown key in a block", []string{"--config", writeFile(t, "log:\n  level: info\n  colour: true\n")}, nil, "line 3: unknown key log.colour"},
		{"S3 block", []string{"--config", writeFile(t, "storage:\n  s3:\n    bucket: b\n")}, nil, "line 2: unknown key storage.s3"},
		{"S3 driver", []string{"--config", writeFile(t, "storage:\n  driver: s3\n")}, nil, "s3 is not supported yet"},
		{"S3 driver from env", nil, map[string]string{"BERTH_STORAGE_DRIVER": "s3"}, "s3 is not supported yet"},
		{"unknown driver", []string{"--storage-driver", "ftp"}, nil, `storage-driver "ftp"`},
		{"earlier log_level", []string{"--config", writeFile(t, "log_level: debug\n")}, nil, "unknown key log_level (now log.level)"},
		{"earlier storage value", []string{"--config", writeFile(t, "storage: /srv/blobs\n")}, nil, "storage is a block of keys (a value here is now storage.filesystem.root)"},
		{"earlier BERTH_STORAGE", nil, map[string]string{"BERTH_STORAGE": "/srv/blobs"}, "BERTH_STORAGE is no longer read: set BERTH_STORAGE_FILESYSTEM_ROOT"},
		{"earlier --storage", []string{"--storage", "/srv/blobs"}, nil, "-storage"},
		{"block as a value", []string{"--config", writeFile(t, "log: debug\n")}, nil, "line 1: log is a block of keys (log.level, log.format, log.source)"},
		{"value as a block", []string{"--config", writeFile(t, "addr:\n  port: 1\n")}, nil, "line 2: addr"},
		{"duplicate key", []string{"--config", writeFile(t, "addr: :1\naddr: :2\n")}, nil, "addr is set twice"},
		{"not a mapping", []string{"--config", writeFile(t, "- addr\n")}, nil, "mapping"},
		{"YAML boolean type", []string{"--config", writeFile(t, "log:\n  source: sometimes\n")}, nil, "line 2: log.source"},
		{"env boolean", nil, map[string]string{"BERTH_LOG_SOURCE": "sometimes"}, "BERTH_LOG_SOURCE: not a boolean"},
		{"positional argument", []string{"--addr", ":1", "extra"}, nil, `unexpected argument "extra"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Load(c.args, envOf(c.env))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q does not mention %q", err, c.mention)
			}
		})
	}
}
