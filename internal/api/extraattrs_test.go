package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestExtraAttrsStoredAtPush checks that the registry stores an artifact's
// extra attributes when its manifest is pushed (images and charts), that
// the API shows the stored ones, and that an artifact stored without them
// (as before Berth kept them) shows the same, derived from its config.
func TestExtraAttrsStoredAtPush(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newArtEnv(t, backend)
			ctx := context.Background()
			e.project("proj", false)
			img := e.image("proj/app", "v1", "arm64")
			chart := e.chart("proj/charts", "0.1.0")
			for _, c := range []struct {
				repo, digest string
				want         map[string]string
			}{
				{"proj/app", img.digest, map[string]string{"architecture": `"arm64"`, "os": `"linux"`}},
				{"proj/charts", chart.digest, map[string]string{"name": `"mychart"`, "version": `"0.1.0"`}},
			} {
				a, err := e.srv.App.DB.ArtifactByRef(ctx, c.repo, c.digest, true)
				if err != nil {
					t.Fatal(err)
				}
				var stored map[string]json.RawMessage
				if err := json.Unmarshal([]byte(a.ExtraAttrs), &stored); err != nil {
					t.Fatalf("%s: stored extra_attrs %q: %v", c.repo, a.ExtraAttrs, err)
				}
				for k, v := range c.want {
					if string(stored[k]) != v {
						t.Errorf("%s: stored %s = %s, want %s", c.repo, k, stored[k], v)
					}
				}
				path := "/api/v2.0/projects/proj/repositories/" + c.repo[len("proj/"):] + "/artifacts/" + c.digest
				fromRow := e.get(path, artAdmin, nil).body
				if err := e.srv.App.DB.Load(ctx, func(l *store.Loader) error {
					return l.Exec(`UPDATE artifacts SET extra_attrs = '' WHERE id = ?`, a.ID)
				}); err != nil {
					t.Fatal(err)
				}
				derived := e.get(path, artAdmin, nil).body
				var x, y struct {
					ExtraAttrs map[string]any `json:"extra_attrs"`
				}
				json.Unmarshal(fromRow, &x)
				json.Unmarshal(derived, &y)
				bx, _ := json.Marshal(x.ExtraAttrs)
				by, _ := json.Marshal(y.ExtraAttrs)
				if len(x.ExtraAttrs) == 0 || !bytes.Equal(bx, by) {
					t.Errorf("%s: extra_attrs stored %s, derived %s", c.repo, bx, by)
				}
			}
		})
	}
}
