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
	want := config.Config{Addr: ":5000", DataDir: "./data", LogLevel: "info", LogFormat: "text", TokenTTL: 30 * time.Minute, PullFlush: 5 * time.Second, JobWorkers: 4, UploadSessions: 256,
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
	got.Storage, got.Database = "file:///srv/blobs", "postgres://db/berth"
	if got.StorageDir() != "/srv/blobs" || got.DatabaseDSN() != "postgres://db/berth" {
		t.Errorf("StorageDir %q DatabaseDSN %q", got.StorageDir(), got.DatabaseDSN())
	}
}

func TestLayers(t *testing.T) {
	file := writeFile(t, `
addr: ":6000"
data_dir: /var/lib/berth
log_level: debug
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
			c.Addr, c.DataDir, c.LogLevel, c.TokenTTL, c.ExternalURL = ":6000", "/var/lib/berth", "debug", 45*time.Minute, "https://berth.example"
		}},
		{"file by BERTH_CONFIG", nil, map[string]string{"BERTH_CONFIG": file}, func(c *config.Config) {
			c.Addr, c.DataDir, c.LogLevel, c.TokenTTL, c.ExternalURL = ":6000", "/var/lib/berth", "debug", 45*time.Minute, "https://berth.example"
		}},
		{"env overrides file", []string{"--config", file},
			map[string]string{"BERTH_ADDR": ":7000", "BERTH_TOKEN_TTL": "2h", "BERTH_LOG_FORMAT": "json", "BERTH_DATABASE": "postgres://pg/berth"},
			func(c *config.Config) {
				c.Addr, c.DataDir, c.LogLevel, c.TokenTTL, c.ExternalURL = ":7000", "/var/lib/berth", "debug", 2*time.Hour, "https://berth.example"
				c.LogFormat, c.Database = "json", "postgres://pg/berth"
			}},
		{"flags override env", []string{"--config", file, "--addr", ":8000", "--token-ttl", "10m", "--log-level=info"},
			map[string]string{"BERTH_ADDR": ":7000", "BERTH_TOKEN_TTL": "2h", "BERTH_DATA_DIR": "/env/data"},
			func(c *config.Config) {
				// --log-level=info is the default value, but it was given, so it wins over the file.
				c.Addr, c.DataDir, c.LogLevel, c.TokenTTL, c.ExternalURL = ":8000", "/env/data", "info", 10*time.Minute, "https://berth.example"
			}},
		{"env without file", nil, map[string]string{"BERTH_DATA_DIR": "/d", "BERTH_STORAGE": "/blobs", "BERTH_TLS_CERT": "c.pem", "BERTH_TLS_KEY": "k.pem"},
			func(c *config.Config) { c.DataDir, c.Storage, c.TLSCert, c.TLSKey = "/d", "/blobs", "c.pem", "k.pem" }},
		{"flag --config wins over BERTH_CONFIG", []string{"-config", file}, map[string]string{"BERTH_CONFIG": "/does/not/exist.yaml"},
			func(c *config.Config) {
				c.Addr, c.DataDir, c.LogLevel, c.TokenTTL, c.ExternalURL = ":6000", "/var/lib/berth", "debug", 45*time.Minute, "https://berth.example"
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
		{"unknown YAML key", []string{"--config", writeFile(t, "addr: :1\nlisten: :2\n")}, nil, "listen"},
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
		{"log level", func(c *config.Config) { c.LogLevel = "trace" }, "log-level"},
		{"log levels", func(c *config.Config) { c.LogLevel = "warn" }, ""},
		{"log format", func(c *config.Config) { c.LogFormat = "xml" }, "log-format"},
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
		{"several problems at once", func(c *config.Config) { c.Addr, c.LogFormat = "", "xml" }, "addr must not be empty; log-format"},
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
	for _, f := range []string{"--config", "--addr", "--data-dir", "--database", "--storage", "--external-url", "--tls-cert", "--tls-key",
		"--log-level", "--log-format", "--token-ttl", "--debug-addr",
		"--max-connections", "--max-connections-per-client", "--body-timeout", "--upload-idle-timeout"} {
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
