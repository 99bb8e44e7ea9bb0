// Package browser tests the web console in a real headless Chromium driven
// with chromedp: sign in, create a project, push an image with
// go-containerregistry, find it, read and copy its pull command, add a tag,
// add a member, create a robot account (its secret shown once), delete the
// tag through the confirmation dialog (TestConsole); and, as an
// administrator, turn read-only mode on (its banner on another page) and
// off, run a garbage collection dry run and find it in the history, add a
// tag retention rule and dry-run it (TestConsoleAdmin). Screenshots of the
// pages go to the test's temporary directory (or to $BERTH_SCREENSHOT_DIR when set, to
// keep them) and their paths are logged.
//
// Chromium is Debian's chromium package (/usr/bin/chromium); without it the
// test skips on a laptop and fails under CI (.ci/run installs it).
package browser

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// chromium finds the browser binary.
func chromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testserver.SkipOrFail(t, "chromium is not installed (apt-get install chromium)")
	return ""
}

// session is a browser tab on a console.
type session struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot string // screenshot directory
}

func (s *session) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	if err := chromedp.Do(s.ctx, actions...); err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
}

func (s *session) text(what string, sel chromedp.CSS) string {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Text(sel))
	if err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (s *session) value(what string, sel chromedp.ID) string {
	s.t.Helper()
	v, err := chromedp.Run(s.ctx, chromedp.Value(sel))
	if err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// flash waits for the one-time message the console shows after an action.
func (s *session) flash(what, msg string) {
	s.t.Helper()
	s.do(what, chromedp.WaitVisible(chromedp.Search(`//p[contains(@class,"flash")][contains(., "`+msg+`")]`)))
}

// screenshot saves the whole page as name.png.
func (s *session) screenshot(name string) {
	s.t.Helper()
	buf, err := chromedp.Run(s.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(s.shot, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("screenshot %s: %s (%d bytes)", name, p, len(buf))
}

// newSession starts headless Chromium (bin) on a tab of the console srv,
// with at most 90 s for everything the tab does.
func newSession(t *testing.T, bin string, srv *testserver.InProcess) *session {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelTab := chromedp.NewContext(alloc)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancel(); cancelTab(); cancelAlloc() })
	s := &session{t: t, ctx: ctx, base: srv.URL, shot: t.TempDir()}
	if dir := os.Getenv("BERTH_SCREENSHOT_DIR"); dir != "" {
		s.shot = dir
	}
	return s
}

// signIn signs in through the sign-in page.
func (s *session) signIn(user, password string) {
	s.t.Helper()
	s.do("sign in",
		chromedp.Navigate(s.base+"/projects"),
		chromedp.Click(chromedp.Search(`//a[text()="Sign in"]`)),
		chromedp.WaitVisible(chromedp.ID("principal")),
		chromedp.SendKeys(chromedp.ID("principal"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="Projects"]`)),
	)
}

func TestConsole(t *testing.T) {
	bin := chromium(t)
	start := time.Now()
	srv := testserver.NewInProcess(t, "sqlite")
	hash, err := auth.HashPassword("Dev-Pass-123")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.App.DB.CreateUser(context.Background(), store.User{Username: "dev", Email: "dev@example.com", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}

	s := newSession(t, bin, srv)
	ctx := s.ctx

	s.signIn("admin", testserver.AdminPassword)

	// Create a project.
	s.do("create project",
		chromedp.SendKeys(chromedp.ID("name"), "web"),
		chromedp.Click(chromedp.ID("public")),
		chromedp.SendKeys(chromedp.ID("quota"), "2"),
		chromedp.Submit(chromedp.ID("name")),
	)
	s.flash("project created", "Project web created.")
	if h := s.text("empty project", chromedp.CSS("main .empty")); !strings.Contains(h, "no repositories yet") {
		t.Errorf("empty project says %q", h)
	}
	if cmd := s.value("push command", chromedp.ID("push-cmd")); cmd != "docker push "+srv.Host+"/web/<image>:<tag>" {
		t.Errorf("push command of an empty project: %q", cmd)
	}

	// Push an image with go-containerregistry.
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(srv.Host+"/web/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "admin", Password: testserver.AdminPassword})); err != nil {
		t.Fatalf("push: %v", err)
	}
	digest, _ := img.Digest()

	// Find it in the console: projects → project → repository → artifact.
	s.do("projects list",
		chromedp.Navigate(s.base+"/projects"),
		chromedp.WaitVisible(chromedp.Search(`//a[text()="web"]`)),
	)
	s.screenshot("projects")
	s.do("open project",
		chromedp.Click(chromedp.Search(`//a[text()="web"]`)),
		chromedp.WaitVisible(chromedp.Search(`//a[text()="web/app"]`)),
	)
	s.screenshot("repositories")
	s.do("open repository",
		chromedp.Click(chromedp.Search(`//a[text()="web/app"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[text()="web/app"]`)),
	)
	s.screenshot("repository")
	s.do("open artifact",
		chromedp.Click(chromedp.Search(`//td//a[starts-with(@title,"`+digest.String()+`")]`)),
		chromedp.WaitVisible(chromedp.ID("pull-digest")),
	)
	s.screenshot("artifact")

	// Read the pull commands and copy one.
	if got, want := s.value("pull by tag", chromedp.ID("pull-tag-0")), "docker pull "+srv.Host+"/web/app:v1"; got != want {
		t.Errorf("pull by tag: %q, want %q", got, want)
	}
	if got, want := s.value("pull by digest", chromedp.ID("pull-digest")), "docker pull "+srv.Host+"/web/app@"+digest.String(); got != want {
		t.Errorf("pull by digest: %q, want %q", got, want)
	}
	s.do("copy pull command",
		chromedp.Click(chromedp.CSS(`button[data-copy="pull-tag-0"]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[@data-copy="pull-tag-0"][text()="Copied"]`)),
	)
	s.do("layers and manifest",
		chromedp.WaitVisible(chromedp.Search(`//h2[text()="Layers"]`)),
		chromedp.WaitReady(chromedp.Search(`//pre[contains(., "schemaVersion")]`)),
	)
	artURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}

	// Add a tag.
	s.do("add tag",
		chromedp.SendKeys(chromedp.ID("tag"), "v2"),
		chromedp.Submit(chromedp.ID("tag")),
	)
	s.flash("tag added", "Tag v2 added.")
	s.do("tag listed", chromedp.WaitVisible(chromedp.Search(`//button[@aria-label="Delete tag v2"]`)))

	// Add a member.
	s.do("members",
		chromedp.Navigate(s.base+"/projects/web/members"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "dev"),
		chromedp.SetValue(chromedp.ID("role_id"), "2"),
		chromedp.Submit(chromedp.ID("username")),
	)
	s.flash("member added", "dev is now a member.")
	s.do("member listed", chromedp.WaitVisible(chromedp.Search(`//td[text()="dev"]`)))
	s.screenshot("members")

	// Create a robot account and read its secret, once.
	s.do("robots",
		chromedp.Navigate(s.base+"/projects/web/robots"),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), "ci"),
		chromedp.SendKeys(chromedp.ID("description"), "pushes from CI"),
		chromedp.Click(chromedp.CSS(`input[value="repository:push"]`)),
		chromedp.Submit(chromedp.ID("name")),
		chromedp.WaitVisible(chromedp.ID("robot-secret")),
	)
	secret := s.value("robot secret", chromedp.ID("robot-secret"))
	robotName := s.value("robot name", chromedp.ID("robot-name"))
	if robotName != "robot$web+ci" || len(secret) < 16 {
		t.Fatalf("robot %q with secret %q", robotName, secret)
	}
	s.screenshot("robot-secret")
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
	req.SetBasicAuth(robotName, secret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("the robot secret shown does not log in: %v %v", resp, err)
	}
	s.do("robots again",
		chromedp.Navigate(s.base+"/projects/web/robots"),
		chromedp.WaitVisible(chromedp.Search(`//td[text()="robot$web+ci"]`)),
	)
	page, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page, secret) {
		t.Error("the robot secret is shown again")
	}
	s.screenshot("robots")

	// Delete the tag, confirming in the dialog.
	s.do("delete tag",
		chromedp.Navigate(artURL),
		chromedp.WaitVisible(chromedp.Search(`//button[@aria-label="Delete tag v2"]`)),
		chromedp.Click(chromedp.Search(`//button[@aria-label="Delete tag v2"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm-dialog")),
	)
	if q := s.text("dialog", chromedp.CSS("#confirm-text")); !strings.Contains(q, "Delete tag v2?") {
		t.Errorf("confirmation asks %q", q)
	}
	s.screenshot("confirm-dialog")
	s.do("confirm", chromedp.Click(chromedp.ID("confirm-ok")))
	s.flash("tag deleted", "Tag v2 deleted.")
	s.do("tag gone", chromedp.WaitNotPresent(chromedp.Search(`//button[@aria-label="Delete tag v2"]`)))

	// The dark theme, switched without a reload.
	s.do("dark theme",
		chromedp.Navigate(s.base+"/projects"),
		chromedp.WaitVisible(chromedp.ID("theme-select")),
		chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById("theme-select"); s.value = "dark"; s.dispatchEvent(new Event("change")); })()`),
	)
	theme, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.dataset.theme`))
	if err != nil || theme != "dark" {
		t.Errorf("theme after switch: %q %v", theme, err)
	}
	s.screenshot("projects-dark")
	t.Logf("browser test took %s", time.Since(start).Round(time.Millisecond))
}
