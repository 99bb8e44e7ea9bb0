package app_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/config"
	"github.com/berth-dev/berth/internal/testserver"
)

// apiCall sends a JSON request to srv's API as admin and decodes the answer.
func apiCall(t *testing.T, srv string, method, path string, body, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, srv+"/api/v2.0"+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("admin", testserver.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// tokenLife returns the expires_in of a token srv issues to admin and the
// lifetime its claims give (exp - iat).
func tokenLife(t *testing.T, srv string) (expiresIn, claims int64) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv+"/service/token?service=berth&scope=repository:library/app:pull", nil)
	req.SetBasicAuth("admin", testserver.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token     string `json:"token"`
		ExpiresIn int64  `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	parts := strings.Split(out.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", out.Token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Exp, Iat int64 }
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return out.ExpiresIn, c.Exp - c.Iat
}

// TestTokenExpirationSetting: the stored setting token_expiration is the
// lifetime of the tokens /service/token issues (expires_in and the
// token's exp) from the next token on; --token-ttl is only its initial
// default, shown by GET /configurations until the setting is stored.
func TestTokenExpirationSetting(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend, func(c *config.Config) { c.TokenTTL = 45 * time.Minute })
			if in, life := tokenLife(t, srv.URL); in != 45*60 || life != 45*60 {
				t.Errorf("with --token-ttl 45m and nothing stored: expires_in %d, lifetime %d; want 2700", in, life)
			}
			var cfg struct {
				TokenExpiration struct{ Value int } `json:"token_expiration"`
			}
			apiCall(t, srv.URL, "GET", "/configurations", nil, &cfg)
			if cfg.TokenExpiration.Value != 45 {
				t.Errorf("GET /configurations token_expiration %d, want 45 (the flag's)", cfg.TokenExpiration.Value)
			}
			apiCall(t, srv.URL, "PUT", "/configurations", map[string]any{"token_expiration": 5}, nil)
			if in, life := tokenLife(t, srv.URL); in != 300 || life != 300 {
				t.Errorf("token_expiration=5: expires_in %d, lifetime %d; want 300", in, life)
			}
		})
	}
}

// TestNotificationEnableSetting: a push triggers a webhook delivery to a
// real HTTP receiver; with notification_enable false, the next push
// triggers none (Harbor's handlers return at once): the policy has one
// execution only, the first push's.
func TestNotificationEnableSetting(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			var mu sync.Mutex
			var got []string // tags of the pushes delivered
			arrived := make(chan struct{}, 16)
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var p struct {
					EventData struct {
						Resources []struct {
							Tag string `json:"tag"`
						} `json:"resources"`
					} `json:"event_data"`
				}
				json.NewDecoder(r.Body).Decode(&p)
				mu.Lock()
				for _, res := range p.EventData.Resources {
					got = append(got, res.Tag)
				}
				mu.Unlock()
				arrived <- struct{}{}
			}))
			defer recv.Close()
			srv := testserver.NewInProcess(t, backend)
			apiCall(t, srv.URL, "POST", "/projects/library/webhook/policies", map[string]any{
				"name": "hook", "enabled": true, "event_types": []string{"PUSH_ARTIFACT"},
				"targets": []map[string]any{{"type": "http", "address": recv.URL}},
			}, nil)
			var policies []struct{ ID int64 }
			apiCall(t, srv.URL, "GET", "/projects/library/webhook/policies", nil, &policies)
			if len(policies) != 1 {
				t.Fatalf("policies: %+v", policies)
			}
			push := func(tag string) {
				t.Helper()
				img, err := random.Image(256, 1)
				if err != nil {
					t.Fatal(err)
				}
				ref, _ := name.ParseReference(srv.Host+"/library/hooked:"+tag, name.Insecure)
				if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: testserver.AdminPassword})); err != nil {
					t.Fatal(err)
				}
			}
			push("on")
			select {
			case <-arrived:
			case <-time.After(30 * time.Second):
				t.Fatal("no delivery for a push with notifications on")
			}
			apiCall(t, srv.URL, "PUT", "/configurations", map[string]any{"notification_enable": false}, nil)
			push("off")
			// Closing the bus waits until every subscriber, webhooks
			// included, has handled the events queued: the push above.
			srv.App.Events.Close()
			var execs []struct{ ID int64 }
			apiCall(t, srv.URL, "GET", fmt.Sprintf("/projects/library/webhook/policies/%d/executions", policies[0].ID), nil, &execs)
			mu.Lock()
			defer mu.Unlock()
			if len(execs) != 1 || len(got) != 1 || got[0] != "on" {
				t.Errorf("deliveries %v and %d executions; want the first push's only (none while notification_enable was false)", got, len(execs))
			}
		})
	}
}
