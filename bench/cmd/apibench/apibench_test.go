package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/seed"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestEndpointsOnSeededBerth seeds a tiny set into a real in-process Berth
// (config blobs in its blob store) and drives every endpoint briefly at two
// concurrencies: each must answer 2xx every time, so the seeder's rows hang
// together as pushes would leave them and the driver's requests are right.
func TestEndpointsOnSeededBerth(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			ctx := context.Background()
			sh := shape{prefix: "perf", projects: 3, repos: 4, artifacts: 2, tags: 2, users: 2, memberships: 1, publicEvery: 2}
			hash, err := auth.HashPassword("member-pw")
			if err != nil {
				t.Fatal(err)
			}
			admin, err := srv.App.DB.UserByName(ctx, "admin")
			if err != nil {
				t.Fatal(err)
			}
			opts := seed.Options{Projects: sh.projects, Repositories: sh.repos, Artifacts: sh.artifacts, Tags: sh.tags,
				Users: sh.users, Memberships: sh.memberships, PublicEvery: sh.publicEvery, Prefix: sh.prefix,
				PasswordHash: hash, OwnerID: admin.ID,
				WriteBlob: func(digest string, body []byte) error {
					id := "seed-config-" + digest[7:19]
					if _, err := srv.App.Blobs.Append(ctx, id, 0, bytes.NewReader(body)); err != nil {
						return err
					}
					return srv.App.Blobs.Commit(ctx, id, oci.Digest(digest))
				}}
			if err := seed.Small(ctx, srv.App.DB, opts); err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Timeout: 30 * time.Second}
			adminAuth := func(r *http.Request) { r.SetBasicAuth("admin", testserver.AdminPassword) }
			memberAuth := func(r *http.Request) { r.SetBasicAuth(sh.user(0), "member-pw") }
			targets, err := discover(client, srv.URL, adminAuth, &sh)
			if err != nil {
				t.Fatal(err)
			}
			// The artifact view reads the seeded config from the blob store.
			tg := targets[0]
			req, _ := http.NewRequest("GET", srv.URL+"/api/v2.0/projects/"+tg.project+"/repositories/"+tg.repo+"/artifacts/"+tg.digest, nil)
			adminAuth(req)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var a struct {
				ExtraAttrs map[string]any `json:"extra_attrs"`
				Tags       []struct{}     `json:"tags"`
			}
			err = json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
			if err != nil || a.ExtraAttrs["architecture"] != "amd64" || len(a.Tags) != sh.tags {
				t.Fatalf("artifact %s: %+v, %v", tg.digest, a, err)
			}
			tokens, err := pullTokens(client, srv.URL, testserver.AdminPassword, targets)
			if err != nil {
				t.Fatal(err)
			}
			eps := endpoints(&sh, targets)
			if len(eps) != 16 {
				t.Fatalf("%d endpoints", len(eps))
			}
			for _, ep := range eps {
				authz := adminAuth
				switch {
				case ep.member:
					authz = memberAuth
				case ep.bearer:
					authz = bearerAuth(tokens)
				}
				for _, c := range []int{1, 8} {
					res := load(client, srv.URL, ep, authz, c, 150*time.Millisecond)
					if res.n == 0 || res.errors != 0 {
						t.Errorf("%s at %d clients: %d requests, %d errors (first: %s)", ep.name, c, res.n, res.errors, res.firstErr)
					}
					if res.p50 > res.p95 || res.p95 > res.p99 || res.p99 > res.max {
						t.Errorf("%s: percentiles out of order: %+v", ep.name, res)
					}
				}
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	for u, ok := range map[string]bool{
		"http://127.0.0.1:5000": true, "http://localhost:1": true, "http://[::1]:80/x": true,
		"https://127.0.0.1:5000": false, "http://10.0.0.1:5000": false, "http://example.com": false, "": false,
	} {
		if err := checkLoopback(u); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v", u, err)
		}
	}
}
