package e2e

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/testserver"
)

// TestReadOnlyMode: with the configuration's read_only on, every write is
// refused on /v2 (a push by a real client, a tag delete) and on /api, with
// Harbor's DENIED and its message, and nothing is stored; reads still
// work; turned off, the same push succeeds.
func TestReadOnlyMode(t *testing.T) {
	srv := testserver.Start(t, "sqlite")
	c := &client{t: t, base: srv.URL}
	admin, pw := "admin", testserver.AdminPassword
	host := strings.TrimPrefix(srv.URL, "http://")
	auth := remote.WithAuth(&authn.Basic{Username: admin, Password: pw})
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := name.ParseReference(host+"/library/ro:before", name.Insecure)
	if err := remote.Write(before, img, auth); err != nil {
		t.Fatal(err)
	}

	c.must(200, "PUT", "/configurations", admin, pw, map[string]any{"read_only": true}, nil)
	const msg = "The system is in read only mode. Any modification is prohibited."
	other, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	during, _ := name.ParseReference(host+"/library/ro:during", name.Insecure)
	err = remote.Write(during, other, auth)
	if err == nil || ociCode(err) != "DENIED" || !strings.Contains(err.Error(), msg) {
		t.Fatalf("push in read-only mode: %v", err)
	}
	if err := remote.Delete(before, auth); err == nil || ociCode(err) != "DENIED" {
		t.Errorf("tag delete in read-only mode: %v", err)
	}
	if _, err := remote.Image(before, auth); err != nil {
		t.Errorf("pull in read-only mode: %v", err)
	}
	if code, body := c.call("POST", "/projects", admin, pw, map[string]any{"project_name": "ro"}, nil); code != 403 || !strings.Contains(body, msg) {
		t.Errorf("API write in read-only mode: %d %s", code, body)
	}
	var tags []struct {
		Name string `json:"name"`
	}
	c.must(200, "GET", "/projects/library/repositories/ro/artifacts/before/tags", admin, pw, nil, &tags)
	if len(tags) != 1 {
		t.Errorf("tags after the refused writes: %+v", tags)
	}
	if _, err := remote.Image(during, auth); err == nil {
		t.Error("the refused push left a manifest")
	}

	c.must(200, "PUT", "/configurations", admin, pw, map[string]any{"read_only": false}, nil)
	if err := remote.Write(during, other, auth); err != nil {
		t.Errorf("push after read-only mode: %v", err)
	}
}
