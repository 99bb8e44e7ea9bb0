// Package gc_test runs online garbage collection against the real binary:
// repeatedly while clients push, re-tag and delete (gc_safety_test.go),
// and interrupted by a shutdown and by SIGKILL (gc_crash_test.go).
package gc_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/berth-dev/berth/internal/store/drivers"
	"github.com/berth-dev/berth/internal/testserver"
)

// api sends a JSON request to the server as admin and returns the status,
// headers and body.
func api(t testing.TB, p *testserver.Process, method, path string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.URL+"/api/v2.0"+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth("admin", testserver.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// startGC starts a manual collection with params; it returns 0 when one
// is already running (409).
func startGC(t testing.TB, p *testserver.Process, params map[string]any) int64 {
	t.Helper()
	st, h, b := api(t, p, "POST", "/system/gc/schedule", map[string]any{"schedule": map[string]any{"type": "Manual"}, "parameters": params})
	if st == http.StatusConflict {
		return 0
	}
	loc := h.Get("Location")
	id, err := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
	if st != http.StatusCreated || err != nil {
		t.Fatalf("start gc: %d %q %s", st, loc, b)
	}
	return id
}

// gcRun is a collection as the API shows it.
type gcRun struct {
	Status string         // job_status
	Attrs  map[string]any // job_parameters, with the results once ended
	Log    string
}

func getGC(t testing.TB, p *testserver.Process, id int64) gcRun {
	t.Helper()
	st, _, b := api(t, p, "GET", fmt.Sprintf("/system/gc/%d", id), nil)
	var h struct {
		JobStatus     string `json:"job_status"`
		JobParameters string `json:"job_parameters"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &h) != nil {
		t.Fatalf("get gc %d: %d %s", id, st, b)
	}
	r := gcRun{Status: h.JobStatus}
	json.Unmarshal([]byte(h.JobParameters), &r.Attrs)
	return r
}

func gcLog(t testing.TB, p *testserver.Process, id int64) string {
	t.Helper()
	_, _, b := api(t, p, "GET", fmt.Sprintf("/system/gc/%d/log", id), nil)
	return string(b)
}

// waitGC waits (at most within) until collection id is no longer pending
// or running, and returns it with its log.
func waitGC(t testing.TB, p *testserver.Process, id int64, within time.Duration) gcRun {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := getGC(t, p, id)
		if r.Status != "Pending" && r.Status != "Running" {
			r.Log = gcLog(t, p, id)
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("gc %d still %s after %v; log:\n%s", id, r.Status, within, gcLog(t, p, id))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r gcRun) count(key string) int {
	f, _ := r.Attrs[key].(float64)
	return int(f)
}

// openDB opens the server's metadata database for reading.
func openDB(t testing.TB, p *testserver.Process) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", p.DSN
	if dsn == "" {
		driver, dsn = "sqlite", "file:"+filepath.Join(p.DataDir, "berth.db")+"?mode=ro&_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func count(t testing.TB, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func digests(t testing.TB, db *sql.DB, q string) map[string]int64 {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var d string
		var n int64
		if err := rows.Scan(&d, &n); err != nil {
			t.Fatal(err)
		}
		out[d] = n
	}
	return out
}

// blobFiles lists the content files under the server's blob store as
// digests with their sizes.
func blobFiles(t testing.TB, p *testserver.Process) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	root := filepath.Join(p.DataDir, "blobs", "blobs")
	filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) == 3 {
			out[parts[0]+":"+parts[2]] = fi.Size()
		}
		return nil
	})
	return out
}

// uploadFiles lists the files under the server's uploads/.
func uploadFiles(t testing.TB, p *testserver.Process) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(p.DataDir, "blobs", "uploads"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// checkClean checks that nothing collectable is left: every blob row is
// used by an artifact, every link by an artifact of its project, each row
// has its file and each file its row, no upload remains, and each
// project's quota usage is the sum of its links.
func checkClean(t testing.TB, p *testserver.Process, db *sql.DB) {
	t.Helper()
	if n := count(t, db, `SELECT COUNT(*) FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM artifact_blobs ab WHERE ab.blob_digest = b.digest)`); n != 0 {
		t.Errorf("%d blob rows no artifact references", n)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM project_blobs pb WHERE NOT EXISTS (SELECT 1 FROM artifact_blobs ab
		JOIN artifacts a ON a.id = ab.artifact_id WHERE ab.blob_digest = pb.blob_digest AND a.project_id = pb.project_id)`); n != 0 {
		t.Errorf("%d blob links no artifact of their project uses", n)
	}
	if n := count(t, db, `SELECT COUNT(*) FROM uploads`); n != 0 {
		t.Errorf("%d upload sessions left", n)
	}
	if u := uploadFiles(t, p); len(u) != 0 {
		t.Errorf("files left under uploads/: %v", u)
	}
	rows := digests(t, db, `SELECT digest, size FROM blobs`)
	files := blobFiles(t, p)
	for d, size := range rows {
		if fsize, ok := files[d]; !ok || fsize != size {
			t.Errorf("blob %s: row says %d bytes, file has %d (present %t)", d, size, fsize, ok)
		}
	}
	for d := range files {
		if _, ok := rows[d]; !ok {
			t.Errorf("file %s has no row", d)
		}
	}
	usage := digests(t, db, `SELECT CAST(project_id AS VARCHAR(20)), COALESCE(SUM(bytes), 0) FROM project_usage GROUP BY project_id`)
	links := digests(t, db, `SELECT CAST(project_id AS VARCHAR(20)), SUM(size) FROM project_blobs GROUP BY project_id`)
	for pid, n := range links {
		if usage[pid] != n {
			t.Errorf("project %s: usage %d, links sum to %d", pid, usage[pid], n)
		}
	}
	for pid, n := range usage {
		if _, ok := links[pid]; !ok && n != 0 {
			t.Errorf("project %s: usage %d with no links", pid, n)
		}
	}
	t.Logf("clean: %d blob rows, each with its file; %d links", len(rows), count(t, db, `SELECT COUNT(*) FROM project_blobs`))
}
