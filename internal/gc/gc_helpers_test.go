package gc_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/blob"
	"github.com/berth-dev/berth/internal/blob/fs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
	_ "github.com/berth-dev/berth/internal/store/drivers"
	"github.com/berth-dev/berth/internal/testserver"
)

// env is a metadata store and a blob store in a temporary directory, the
// real ones a server uses, plus a raw connection to age rows.
type env struct {
	t     *testing.T
	ctx   context.Context
	dir   string
	db    *store.DB
	raw   *sql.DB
	blobs *blob.Store
}

func newEnv(t *testing.T, backend string) *env {
	t.Helper()
	dir := t.TempDir()
	dsn := testserver.DatabaseDSN(t, backend)
	driver, rawDSN := "pgx", dsn
	if dsn == "" {
		dsn = filepath.Join(dir, "berth.db")
		driver, rawDSN = "sqlite", "file:"+dsn+"?_pragma=busy_timeout(10000)"
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	raw, err := sql.Open(driver, rawDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	drv, err := fs.New(filepath.Join(dir, "storage"))
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, dir: filepath.Join(dir, "storage"), db: db, raw: raw, blobs: blob.New(drv)}
}

func (e *env) project(name string) int64 {
	e.t.Helper()
	id, err := e.db.CreateProject(e.ctx, store.Project{Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// file stores content under blobs/ (no row) and returns its digest.
func (e *env) file(content []byte) string {
	e.t.Helper()
	d := oci.FromBytes(content)
	id := "up-" + d.Hex()[:16]
	if _, err := e.blobs.Append(e.ctx, id, 0, bytes.NewReader(content)); err != nil {
		e.t.Fatal(err)
	}
	if err := e.blobs.Commit(e.ctx, id, d); err != nil {
		e.t.Fatal(err)
	}
	return string(d)
}

// reserved stores n random bytes as the registry does for new content,
// reserving the row but linking it nowhere.
func (e *env) reserved(n int) string {
	e.t.Helper()
	content := random(n)
	d := oci.FromBytes(content)
	if err := e.db.ReserveBlob(e.ctx, string(d), int64(n)); err != nil {
		e.t.Fatal(err)
	}
	e.file(content)
	return string(d)
}

// blob stores n random bytes and links them into project, as a push does.
func (e *env) blob(project int64, n int) string {
	e.t.Helper()
	d := e.reserved(n)
	if err := e.db.FinishUpload(e.ctx, "", project, d, int64(n)); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// manifest records a manifest in repo referencing blobs, with optional
// tag, subject and children; it returns the digest.
func (e *env) manifest(project int64, repo, tag, subject string, children []string, blobs ...string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"layers": blobs, "children": children, "subject": subject, "nonce": fmt.Sprintf("%x", random(8))})
	d := string(oci.FromBytes(body))
	m := store.ManifestPut{ProjectID: project, Repository: repo, Digest: d, Kind: "IMAGE", MediaType: oci.MediaTypeOCIManifest,
		Size: int64(len(body)), Body: body, Blobs: blobs, Subject: subject}
	if len(children) > 0 {
		m.MediaType = oci.MediaTypeOCIIndex
		for _, c := range children {
			m.Children = append(m.Children, store.Child{Digest: c, MediaType: oci.MediaTypeOCIManifest})
		}
	}
	if tag != "" {
		m.Tags = []string{tag}
	}
	if _, err := e.db.PutManifest(e.ctx, m); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// exec runs a statement on the raw connection (no parameters: the tests
// only pass digests and numbers).
func (e *env) exec(q string) {
	e.t.Helper()
	if _, err := e.raw.Exec(q); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

func (e *env) count(q string) int {
	e.t.Helper()
	var n int
	if err := e.raw.QueryRow(q).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// ageAll makes every row and file older than two hours; what a test wants
// young it creates afterwards.
func (e *env) ageAll() {
	e.t.Helper()
	old := time.Now().Add(-2 * time.Hour)
	ms := old.UnixMilli()
	e.exec(fmt.Sprintf(`UPDATE blobs SET created_at = %d`, ms))
	e.exec(fmt.Sprintf(`UPDATE project_blobs SET created_at = %d`, ms))
	e.exec(fmt.Sprintf(`UPDATE artifacts SET push_time = %d`, ms))
	e.exec(fmt.Sprintf(`UPDATE uploads SET updated_at = %d, created_at = %d`, ms, ms))
	filepath.WalkDir(e.dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			os.Chtimes(path, old, old)
		}
		return nil
	})
}

// state describes the stores: rows of the GC-relevant tables and files.
func (e *env) state() string {
	e.t.Helper()
	var parts []string
	for _, tbl := range []string{"blobs", "project_blobs", "artifacts", "artifact_blobs", "tags", "uploads"} {
		parts = append(parts, fmt.Sprintf("%s=%d", tbl, e.count("SELECT COUNT(*) FROM "+tbl)))
	}
	parts = append(parts, fmt.Sprintf("usage=%d", e.count("SELECT COALESCE(SUM(bytes), 0) FROM project_usage")))
	var files []string
	filepath.WalkDir(e.dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(e.dir, path)
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	return strings.Join(parts, " ") + " files=" + strings.Join(files, ",")
}

func (e *env) hasRow(d string) bool {
	return e.count(fmt.Sprintf(`SELECT COUNT(*) FROM blobs WHERE digest = '%s'`, d)) == 1
}

func (e *env) hasLink(project int64, d string) bool {
	return e.count(fmt.Sprintf(`SELECT COUNT(*) FROM project_blobs WHERE project_id = %d AND blob_digest = '%s'`, project, d)) == 1
}

func (e *env) hasFile(d string) bool {
	_, err := e.blobs.Stat(e.ctx, oci.Digest(d))
	return err == nil
}

func (e *env) hasArtifact(d string) bool {
	return e.count(fmt.Sprintf(`SELECT COUNT(*) FROM artifacts WHERE digest = '%s'`, d)) > 0
}

func (e *env) usage(project int64) int64 {
	n, err := e.db.ProjectUsage(e.ctx, project)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}
