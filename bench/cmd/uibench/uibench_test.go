package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/seed"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestPagesOnSeededBerth seeds a tiny set into a real in-process Berth and
// loads every page briefly at two concurrencies: every answer must be a
// 200 page, so the driver signs in and names the pages right.
func TestPagesOnSeededBerth(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	ctx := context.Background()
	hash, err := auth.HashPassword("Member-Pass-1")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := srv.App.DB.UserByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := seed.Small(ctx, srv.App.DB, seed.Options{Projects: 3, Repositories: 4, Artifacts: 2, Tags: 2, Users: 2,
		Memberships: 1, PublicEvery: 2, Prefix: "perf", PasswordHash: hash, OwnerID: admin.ID,
		WriteBlob: func(digest string, body []byte) error { // the configs the artifact lists read
			id := "seed-config-" + digest[7:19]
			if _, err := srv.App.Blobs.Append(ctx, id, 0, bytes.NewReader(body)); err != nil {
				return err
			}
			return srv.App.Blobs.Commit(ctx, id, oci.Digest(digest))
		}}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = cmdRun([]string{"-url", srv.URL, "-password", testserver.AdminPassword, "-member-password", "Member-Pass-1",
		"-projects", "3", "-repositories", "4", "-c", "1,4", "-d", "300ms", "-warmup", "0"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Split(line, "|")
		if len(f) < 7 || strings.TrimSpace(f[2]) == "page" || strings.HasPrefix(strings.TrimSpace(f[2]), "-") {
			continue
		}
		rows++
		if n, errs := strings.TrimSpace(f[4]), strings.TrimSpace(f[5]); n == "0" || errs != "0" {
			t.Errorf("%s at %s clients: %s requests, %s errors", strings.TrimSpace(f[2]), strings.TrimSpace(f[3]), n, errs)
		}
	}
	if rows != 8 {
		t.Errorf("%d result rows, want 4 pages × 2 concurrencies:\n%s", rows, out.String())
	}
	if _, err := signIn(&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, srv.URL, "admin", "wrong"); err == nil {
		t.Error("signing in with a wrong password succeeded")
	}
}
