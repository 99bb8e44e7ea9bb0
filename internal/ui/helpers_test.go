package ui_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/net/html"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so tests see each answer of the console.
type browser struct {
	t   *testing.T
	srv *testserver.InProcess
	c   *http.Client
}

func newBrowser(t *testing.T, srv *testserver.InProcess) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, srv: srv, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// page is an answer of the console.
type page struct {
	t        *testing.T
	status   int
	location string
	body     string
	doc      *html.Node
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := &page{t: b.t, status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if p.doc, err = html.Parse(bytes.NewReader(body)); err != nil {
			b.t.Fatalf("%s %s: parse HTML: %v", req.Method, req.URL, err)
		}
	}
	return p
}

func (b *browser) get(path string) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.srv.URL+path, nil)
	return b.do(req)
}

// cookie returns the value of the named cookie in the jar.
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// token is the CSRF token a form of the console would carry.
func (b *browser) token() string {
	if v := b.cookie("__csrf"); v != "" && b.cookie("sid") != "" {
		return v
	}
	if v := b.cookie("berth_csrf"); v != "" {
		return v
	}
	b.get("/login") // sets the pre-session token
	return b.cookie("berth_csrf")
}

// post submits a form; the csrf field is added unless form sets it.
func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.token())
	}
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// login signs in through the console's sign-in form.
func (b *browser) login(user, pass string) {
	b.t.Helper()
	b.get("/login")
	p := b.post("/login", url.Values{"principal": {user}, "password": {pass}})
	if p.status != http.StatusSeeOther || b.cookie("sid") == "" {
		b.t.Fatalf("login %s: status %d, body %s", user, p.status, p.text())
	}
}

// expect checks the status and that the page contains each of wants.
func (p *page) expect(what string, status int, wants ...string) *page {
	p.t.Helper()
	if p.status != status {
		p.t.Fatalf("%s: status %d, want %d; page text: %.2000s", what, p.status, status, p.text())
	}
	for _, w := range wants {
		if !strings.Contains(p.body, w) && !strings.Contains(p.text(), w) {
			p.t.Errorf("%s: page lacks %q; page text: %.3000s", what, w, p.text())
		}
	}
	return p
}

// lacks checks the page contains none of the strings.
func (p *page) lacks(what string, nots ...string) {
	p.t.Helper()
	for _, n := range nots {
		if strings.Contains(p.body, n) {
			p.t.Errorf("%s: page has %q", what, n)
		}
	}
}

// text is the page's visible text (with the values of visible inputs),
// whitespace collapsed.
func (p *page) text() string {
	if p.doc == nil {
		return p.body
	}
	var sb strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "script" || n.Data == "style" || n.Data == "head") {
			return
		}
		if n.Type == html.TextNode {
			sb.WriteString(n.Data)
			sb.WriteByte(' ')
		}
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "type") != "hidden" {
			sb.WriteString(attr(n, "value")) // copyable fields show their value
			sb.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(p.doc)
	return strings.Join(strings.Fields(sb.String()), " ")
}

// elements returns the elements with tag (and, if attr is set, that attribute).
func (p *page) elements(tag string) []*html.Node {
	var out []*html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	if p.doc != nil {
		walk(p.doc)
	}
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

// formActions lists the action URLs of the page's POST forms.
func (p *page) formActions() []string {
	var out []string
	for _, f := range p.elements("form") {
		if strings.EqualFold(attr(f, "method"), "post") {
			out = append(out, attr(f, "action"))
		}
	}
	return out
}

// inputValue returns the value of the input with id.
func (p *page) inputValue(id string) string {
	for _, in := range p.elements("input") {
		if attr(in, "id") == id {
			return attr(in, "value")
		}
	}
	return ""
}

// accessible checks the basics every page must meet: exactly one h1, and
// every form control (but hidden inputs and buttons) has an id that a
// <label for> names.
func (p *page) accessible(what string) {
	p.t.Helper()
	if p.doc == nil {
		p.t.Fatalf("%s: not an HTML page", what)
	}
	if n := len(p.elements("h1")); n != 1 {
		p.t.Errorf("%s: %d h1 elements, want 1", what, n)
	}
	labelled := map[string]bool{}
	for _, l := range p.elements("label") {
		if f := attr(l, "for"); f != "" {
			labelled[f] = true
		}
	}
	ids := map[string]int{}
	for _, tag := range []string{"input", "select", "textarea"} {
		for _, n := range p.elements(tag) {
			typ := attr(n, "type")
			if tag == "input" && (typ == "hidden" || typ == "submit" || typ == "button" || typ == "reset" || typ == "image") {
				continue
			}
			id := attr(n, "id")
			ids[id]++
			if id == "" || !labelled[id] {
				p.t.Errorf("%s: <%s name=%q id=%q> has no <label for>", what, tag, attr(n, "name"), id)
			}
		}
	}
	for id, n := range ids {
		if n > 1 && id != "" {
			p.t.Errorf("%s: id %q used by %d controls", what, id, n)
		}
	}
	if !strings.Contains(p.body, "<html lang=") {
		p.t.Errorf("%s: <html> has no lang", what)
	}
}

// --- fixtures ---

const userPassword = "Ui-Test-Pass-1"

// user creates a user with userPassword and returns its ID.
func user(t *testing.T, srv *testserver.InProcess, username string) int64 {
	t.Helper()
	hash, err := auth.HashPassword(userPassword)
	if err != nil {
		t.Fatal(err)
	}
	id, err := srv.App.DB.CreateUser(context.Background(), store.User{Username: username, Email: username + "@example.com", PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// member makes a user a member of a project.
func member(t *testing.T, srv *testserver.InProcess, projectID, userID int64, role rbac.Role) {
	t.Helper()
	if _, err := srv.App.DB.AddMember(context.Background(), store.Member{ProjectID: projectID, EntityType: store.EntityUser, EntityID: userID, Role: int(role)}); err != nil {
		t.Fatal(err)
	}
}

func projectID(t *testing.T, srv *testserver.InProcess, name string) int64 {
	t.Helper()
	p, err := srv.App.DB.ProjectByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// pusher pushes content with go-containerregistry as admin.
type pusher struct {
	t   *testing.T
	srv *testserver.InProcess
}

func (p pusher) write(ref string, img v1.Image) string {
	p.t.Helper()
	r, err := name.ParseReference(p.srv.Host+"/"+ref, name.Insecure)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := remote.Write(r, img, p.opts()...); err != nil {
		p.t.Fatalf("push %s: %v", ref, err)
	}
	d, _ := img.Digest()
	return d.String()
}

func (p pusher) opts() []remote.Option {
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: "admin", Password: testserver.AdminPassword})}
}

// image pushes a small image with a run configuration and build history.
func (p pusher) image(ref, arch string) (string, v1.Image) {
	p.t.Helper()
	img := p.build(ref, arch)
	return p.write(ref, img), img
}

// build makes a small image for arch with content unique to seed.
func (p pusher) build(seed, arch string) v1.Image {
	p.t.Helper()
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   static.NewLayer([]byte(seed+arch), types.OCILayer),
		History: v1.History{CreatedBy: "COPY app /usr/bin/app # " + arch},
	})
	if err != nil {
		p.t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Author = arch, "linux", "ui-test"
	cf.Config.Env = []string{"PATH=/usr/bin"}
	cf.Config.Entrypoint = []string{"/usr/bin/app"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		p.t.Fatal(err)
	}
	return img
}

// index pushes an index of amd64 and arm64 images (and the images).
func (p pusher) index(ref string) string {
	p.t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img := p.build(ref, arch)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
	r, err := name.ParseReference(p.srv.Host+"/"+ref, name.Insecure)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx, p.opts()...); err != nil {
		p.t.Fatalf("push index %s: %v", ref, err)
	}
	d, _ := idx.Digest()
	return d.String()
}

// chart pushes a Helm chart as helm push does.
func (p pusher) chart(ref string) string {
	p.t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range []struct{ name, body string }{
		{"demo/Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\ndescription: A <b>test</b> chart\n"},
		{"demo/values.yaml", "replicaCount: 3\nimage: nginx\n"},
		{"demo/README.md", "# demo chart\n\n<script>alert(1)</script>\n"},
	} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(f.body))
	}
	tw.Close()
	gz.Close()
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer(buf.Bytes(), "application/vnd.cncf.helm.chart.content.v1.tar+gzip")})
	if err != nil {
		p.t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, "application/vnd.cncf.helm.config.v1+json")
	cfg, _ := json.Marshal(map[string]string{"name": "demo", "version": "0.1.0", "description": "A test chart", "apiVersion": "v2"})
	img = &rawConfig{Image: img, cfg: cfg}
	return p.write(ref, img)
}

// sbom pushes an SBOM referrer of subject (in repo).
func (p pusher) sbom(repo string, subject v1.Image) string {
	p.t.Helper()
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer([]byte(`{"sbom":true}`), "application/spdx+json")})
	if err != nil {
		p.t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, "application/vnd.goharbor.harbor.sbom.v1")
	d, _ := subject.Digest()
	sz, _ := subject.Size()
	mt, _ := subject.MediaType()
	img = mutate.Subject(img, v1.Descriptor{MediaType: mt, Digest: d, Size: sz}).(v1.Image)
	dg, _ := img.Digest()
	return p.write(repo+"@"+dg.String(), img)
}

// rawConfig replaces an image's config blob (a chart's is not an image config).
type rawConfig struct {
	v1.Image
	cfg []byte
}

func (r *rawConfig) RawConfigFile() ([]byte, error) { return r.cfg, nil }

func (r *rawConfig) ConfigName() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(r.cfg))
	return h, err
}

func (r *rawConfig) Manifest() (*v1.Manifest, error) {
	m, err := r.Image.Manifest()
	if err != nil {
		return nil, err
	}
	m = m.DeepCopy()
	h, _ := r.ConfigName()
	m.Config.Digest, m.Config.Size = h, int64(len(r.cfg))
	return m, nil
}

func (r *rawConfig) RawManifest() ([]byte, error) {
	m, err := r.Manifest()
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

func (r *rawConfig) Digest() (v1.Hash, error) {
	b, err := r.RawManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(b))
	return h, err
}

func (r *rawConfig) Size() (int64, error) {
	b, err := r.RawManifest()
	return int64(len(b)), err
}

// apiGet reads an API path as admin (Basic auth) into out.
func apiGet(t *testing.T, srv *testserver.InProcess, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v2.0"+path, nil)
	req.SetBasicAuth("admin", testserver.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// apiCall sends a JSON body as admin and returns the status.
func apiCall(t *testing.T, srv *testserver.InProcess, method, path string, body any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, srv.URL+"/api/v2.0"+path, bytes.NewReader(b))
	req.SetBasicAuth("admin", testserver.AdminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// renderNode is n as HTML.
func renderNode(n *html.Node) string {
	var buf bytes.Buffer
	html.Render(&buf, n)
	return buf.String()
}
