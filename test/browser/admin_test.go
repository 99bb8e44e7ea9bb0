package browser

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// waitRow reloads page path until the row that xpath names is on it (a
// background job's history row reaching a status), for up to 20 s.
func (s *session) waitRow(what, path, xpath string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.do(what, chromedp.Navigate(s.base+path), chromedp.WaitReady(chromedp.CSS("footer")))
		n, err := chromedp.Run(s.ctx, chromedp.Evaluate[int](`document.evaluate(`+jsString(xpath)+`, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null).snapshotLength`))
		if err != nil {
			s.t.Fatalf("%s: %v", what, err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: no %s on %s", what, xpath, path)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func TestConsoleAdmin(t *testing.T) {
	bin := chromium(t)
	start := time.Now()
	srv := testserver.NewInProcess(t, "sqlite")
	admin, err := srv.App.DB.UserByName(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.App.DB.CreateProject(context.Background(), store.Project{Name: "ret", OwnerID: admin.ID}); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"v1", "v2"} {
		img, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(srv.Host+"/ret/app:"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: testserver.AdminPassword})); err != nil {
			t.Fatalf("push: %v", err)
		}
	}

	s := newSession(t, bin, srv)
	s.signIn("admin", testserver.AdminPassword)

	// Read-only mode: on, its banner on another page, off.
	banner := `//div[contains(@class,"banner")][contains(., "Read-only mode")]`
	s.do("read-only on",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Main"]//a[text()="Administration"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Users"]`)),
	)
	s.screenshot("admin-users")
	s.do("configuration",
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Administration"]//a[text()="Configuration"]`)),
		chromedp.WaitVisible(chromedp.ID("read_only")),
		chromedp.Click(chromedp.ID("read_only")),
		chromedp.Click(chromedp.Search(`//button[text()="Save configuration"]`)),
	)
	s.flash("read-only saved", "Configuration saved.")
	s.do("banner on the configuration page", chromedp.WaitVisible(chromedp.Search(banner)))
	s.screenshot("admin-config")
	s.do("banner on another page",
		chromedp.Navigate(s.base+"/projects/ret/repositories"),
		chromedp.WaitVisible(chromedp.Search(banner)),
	)
	s.screenshot("read-only-banner")
	s.do("read-only off",
		chromedp.Navigate(s.base+"/admin/config"),
		chromedp.WaitVisible(chromedp.ID("read_only")),
		chromedp.Click(chromedp.ID("read_only")),
		chromedp.Click(chromedp.Search(`//button[text()="Save configuration"]`)),
	)
	s.flash("read-only off saved", "Configuration saved.")
	s.do("no banner",
		chromedp.Navigate(s.base+"/projects"),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)),
		chromedp.WaitNotPresent(chromedp.Search(banner)),
	)

	// Garbage collection: a dry run and its row in the history.
	s.do("gc dry run",
		chromedp.Navigate(s.base+"/admin/gc"),
		chromedp.WaitVisible(chromedp.Search(`//button[text()="Dry run"]`)),
		chromedp.Click(chromedp.Search(`//button[text()="Dry run"]`)),
	)
	s.flash("gc started", "Garbage collection: dry run started")
	s.waitRow("gc history", "/admin/gc", `//table//tr[td[contains(., "dry run")]][td//span[text()="Success"]]`)
	s.screenshot("admin-gc")
	s.do("gc log",
		chromedp.Click(chromedp.Search(`//table//tr[td[contains(., "dry run")]]//a[text()="Log"]`)),
		chromedp.WaitVisible(chromedp.Search(`//pre[contains(., "dry run")]`)),
	)

	// Tag retention: add a rule, dry-run it, open the run.
	s.do("add retention rule",
		chromedp.Navigate(s.base+"/projects/ret/repositories"),
		chromedp.Click(chromedp.Search(`//nav[@aria-label="Project"]//a[text()="Policy"]`)),
		chromedp.WaitVisible(chromedp.ID("rule-template")),
		chromedp.SetValue(chromedp.ID("rule-param"), "1"),
		chromedp.Click(chromedp.Search(`//button[text()="Add rule"]`)),
	)
	s.flash("rule added", "Retention rule added.")
	s.do("rule listed", chromedp.WaitVisible(chromedp.Search(`//td[text()="the most recently pushed 1 artifacts"]`)))
	s.do("retention dry run", chromedp.Click(chromedp.Search(`//button[text()="Dry run"]`)))
	s.flash("dry run started", "Dry run started")
	s.waitRow("retention run", "/projects/ret/policy", `//table//tr[td[text()="dry run"]][td//span[text()="Success"]]`)
	s.screenshot("policy")
	s.do("open run",
		chromedp.Click(chromedp.Search(`//table//tr[td[text()="dry run"]]//a[starts-with(text(),"Run ")]`)),
		chromedp.WaitVisible(chromedp.Search(`//td[text()="app"]`)),
	)
	if got := s.text("retained", chromedp.CSS("main table tbody tr td:nth-child(4)")); got != "1" {
		t.Errorf("the dry run retains %q artifacts, want 1", got)
	}
	s.screenshot("retention-run")

	// The other new pages, for the record.
	for _, pg := range []struct{ name, path, h1 string }{
		{"admin-robots", "/admin/robots", "System robot accounts"},
		{"admin-labels", "/admin/labels", "System labels"},
		{"admin-audit", "/admin/audit", "Audit log"},
		{"admin-jobs", "/admin/jobs", "Job queues"},
		{"webhooks", "/projects/ret/webhooks", "ret: webhooks"},
	} {
		s.do(pg.name, chromedp.Navigate(s.base+pg.path), chromedp.WaitVisible(chromedp.Search(`//h1[text()="`+pg.h1+`"]`)))
		s.screenshot(pg.name)
	}
	t.Logf("admin browser test took %s", time.Since(start).Round(time.Millisecond))
}
