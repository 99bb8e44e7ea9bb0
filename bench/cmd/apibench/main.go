// Command apibench measures Berth's Harbor-compatible listings on a data
// set shaped like goharbor/perf's "small" one (100 projects × 100
// repositories × 10 artifacts × 5 tags: 100,000 artifacts, 500,000 tags).
// bench/api.sh runs it; docs/performance.md has the figures.
//
//	apibench seed -db DSN [-storage DIR] [flags]   load the data set unless the store holds artifacts
//	apibench port                                  print a free loopback TCP port
//	apibench wait URL [SECONDS]                    wait until URL answers any HTTP status
//	apibench run -url URL [flags]                  closed-loop load per endpoint and concurrency
//	apibench pgdb create|drop URL NAME             create or drop PostgreSQL database NAME (URL: any database of the server)
//
// seed writes the metadata straight into the database (package seed), and
// the config blobs into the blob directory when -storage is given, so that
// artifact views can read them as after a real push. It starts nothing.
//
// run drives a running Berth over loopback only: for each endpoint and each
// concurrency it keeps N clients busy for a fixed time (each sends its next
// request as soon as the previous answer is read in full), picking a random
// project, repository or artifact per request, and prints requests, errors
// (transport failures and non-2xx answers), requests per second and the
// P50/P95/P99 latencies, as a Markdown table and optionally as TSV (-out).
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/blob"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/seed"
	"github.com/berth-dev/berth/internal/store"
	_ "github.com/berth-dev/berth/internal/store/drivers" // SQLite and PostgreSQL
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: apibench seed|port|wait|run ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "seed":
		err = cmdSeed(os.Args[2:])
	case "port":
		err = cmdPort()
	case "wait":
		err = cmdWait(os.Args[2:])
	case "run":
		err = cmdRun(os.Args[2:])
	case "pgdb":
		err = cmdPGDB(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "apibench:", err)
		os.Exit(1)
	}
}

// shape are the flags naming the data set, shared by seed and run.
type shape struct {
	prefix                           string
	projects, repos, artifacts, tags int
	users, memberships, publicEvery  int
}

func (s *shape) flags(fs *flag.FlagSet) {
	fs.StringVar(&s.prefix, "prefix", "perf", "name prefix of the seeded projects and users")
	fs.IntVar(&s.projects, "projects", 100, "projects")
	fs.IntVar(&s.repos, "repositories", 100, "repositories per project")
	fs.IntVar(&s.artifacts, "artifacts", 10, "artifacts per repository")
	fs.IntVar(&s.tags, "tags", 5, "tags per artifact")
	fs.IntVar(&s.users, "users", 100, "non-admin member users (goharbor/perf's small set: 100)")
	fs.IntVar(&s.memberships, "memberships", 10, "projects each user is a member of (100 users x 10 / 100 projects: 10 members per project)")
	fs.IntVar(&s.publicEvery, "public-every", 10, "every n-th project is public")
}

func (s *shape) project(i int) string { return fmt.Sprintf("%s-%03d", s.prefix, i) }
func (s *shape) repo(i int) string    { return fmt.Sprintf("repo-%03d", i) }
func (s *shape) user(i int) string    { return fmt.Sprintf("%s-user-%03d", s.prefix, i) }

func cmdSeed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	var sh shape
	sh.flags(fs)
	dsn := fs.String("db", "", "metadata database: a SQLite file or a postgres:// URL")
	storage := fs.String("storage", "", "blob directory (Berth's data dir + /blobs) to write the config blobs into; empty: none")
	password := fs.String("user-password", "", "password of the seeded users (empty: they cannot log in)")
	owner := fs.String("owner", "admin", "user owning the projects, if it exists")
	analyze := fs.String("analyze", "auto", "run VACUUM and ANALYZE (PostgreSQL) or ANALYZE (SQLite) after seeding: yes, no, or auto (PostgreSQL only, whose autovacuum would have by the time a real registry grew this big; Berth never runs ANALYZE on SQLite)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dsn == "" {
		return errors.New("seed: -db is required")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.TableRows(ctx, "artifacts")
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Printf("the store holds %d artifacts already: not seeding\n", n)
		return nil
	}
	opts := seed.Options{Projects: sh.projects, Repositories: sh.repos, Artifacts: sh.artifacts, Tags: sh.tags,
		Users: sh.users, Memberships: sh.memberships, PublicEvery: sh.publicEvery, Prefix: sh.prefix}
	if *password != "" {
		if opts.PasswordHash, err = auth.HashPassword(*password); err != nil {
			return err
		}
	}
	if u, err := db.UserByName(ctx, *owner); err == nil {
		opts.OwnerID = u.ID
	}
	if *storage != "" {
		made := map[string]bool{}
		opts.WriteBlob = func(digest string, body []byte) error {
			d, err := oci.ParseDigest(digest)
			if err != nil {
				return err
			}
			p := filepath.Join(*storage, filepath.FromSlash(blob.Path(d)))
			if dir := filepath.Dir(p); !made[dir] {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				made[dir] = true
			}
			return os.WriteFile(p, body, 0o644)
		}
	}
	start := time.Now()
	if err := seed.Small(ctx, db, opts); err != nil {
		return err
	}
	took := time.Since(start)
	want := seed.Expected(opts)
	fmt.Printf("seeded %s in %s: %d projects, %d repositories, %d artifacts, %d tags, %d labelled artifacts, %d users, %d members, %d blobs\n",
		db.Dialect(), took.Round(10*time.Millisecond), want.Projects, want.Repositories, want.Artifacts, want.Tags,
		want.ArtifactLabels, want.Users, want.Members, want.Blobs)
	if *analyze == "yes" || *analyze == "auto" && db.Dialect() == "postgres" {
		// What autovacuum does after a bulk load: statistics, and the
		// visibility map that lets index-only scans skip the heap.
		start = time.Now()
		if db.Dialect() == "postgres" {
			if err := db.Maintain(ctx); err != nil {
				return err
			}
		} else if err := db.Load(ctx, func(l *store.Loader) error { return l.Exec("ANALYZE") }); err != nil {
			return err
		}
		fmt.Printf("VACUUM/ANALYZE took %s\n", time.Since(start).Round(10*time.Millisecond))
	}
	return nil
}

// cmdPGDB creates or drops a PostgreSQL database, so bench/api.sh needs no
// psql.
func cmdPGDB(args []string) error {
	if len(args) != 3 || (args[0] != "create" && args[0] != "drop") {
		return errors.New("pgdb create|drop URL NAME")
	}
	name := args[2]
	if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		return fmt.Errorf("pgdb: bad database name %q", name)
	}
	db, err := sql.Open("pgx", args[1])
	if err != nil {
		return err
	}
	defer db.Close()
	stmt := "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"
	if args[0] == "create" {
		stmt = "CREATE DATABASE " + name
	}
	_, err = db.Exec(stmt)
	return err
}

func cmdPort() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	return nil
}

func cmdWait(args []string) error {
	if len(args) < 1 {
		return errors.New("wait URL [SECONDS]")
	}
	secs := 30
	if len(args) > 1 {
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		secs = n
	}
	if err := checkLoopback(args[0]); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	for {
		resp, err := http.Get(args[0])
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %ds: %v", args[0], secs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkLoopback refuses any target but an http:// loopback address.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	if u.Scheme != "http" || !(host == "localhost" || ip != nil && ip.IsLoopback()) {
		return fmt.Errorf("want an http:// loopback URL, got %q", raw)
	}
	return nil
}

// endpoint is one measured request kind.
type endpoint struct {
	name, desc string
	member     bool                      // sent as the non-admin member user
	path       func(r *rand.Rand) string // path and query, picked per request
	// get marks a read of one thing (P95 target 100 ms); the others are
	// listings (200 ms), as issue 11's scale check asks.
	get bool
	// bearer sends a registry token for the path's repository (pulls), as
	// a registry client does, instead of Basic.
	bearer bool
}

// target is an artifact discovered before the load, for the get-artifact
// and pull endpoints.
type target struct{ project, repo, digest string }

// p95Target is the scale check's bound for ep's P95.
func (ep endpoint) p95Target() time.Duration {
	if ep.get {
		return 100 * time.Millisecond
	}
	return 200 * time.Millisecond
}

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var sh shape
	sh.flags(fs)
	base := fs.String("url", "", "Berth's base URL (http://127.0.0.1:PORT)")
	adminPassword := fs.String("admin-password", os.Getenv("BERTH_ADMIN_PASSWORD"), "admin's password")
	userPassword := fs.String("user-password", "", "password of the seeded users")
	concs := fs.String("c", "50,300", "concurrent clients, comma-separated")
	dur := fs.Duration("d", 10*time.Second, "measured time per endpoint and concurrency")
	warm := fs.Duration("warmup", time.Second, "unmeasured load before each measurement")
	only := fs.String("endpoints", "", "comma-separated endpoint names to run (default: all)")
	label := fs.String("label", "", "backend label for the table and the TSV")
	out := fs.String("out", "", "append results to this TSV file")
	pid := fs.Int("pid", 0, "Berth's process ID, to report its CPU time per request (Linux)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkLoopback(*base); err != nil {
		return err
	}
	var levels []int
	for _, s := range strings.Split(*concs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 2000 {
			return fmt.Errorf("bad concurrency %q", s)
		}
		levels = append(levels, n)
	}
	if *dur <= 0 || *dur > 5*time.Minute {
		return fmt.Errorf("-d must be within (0, 5m]")
	}
	prefix := strings.TrimSuffix(*base, "/")
	tr := &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	admin := func(req *http.Request) { req.SetBasicAuth("admin", *adminPassword) }
	member := func(req *http.Request) { req.SetBasicAuth(sh.user(0), *userPassword) }

	targets, err := discover(client, prefix, admin, &sh)
	if err != nil {
		return err
	}
	tokens, err := pullTokens(client, prefix, *adminPassword, targets)
	if err != nil {
		return err
	}
	bearer := bearerAuth(tokens)
	eps := endpoints(&sh, targets)
	if *only != "" {
		want := map[string]bool{}
		for _, n := range strings.Split(*only, ",") {
			want[strings.TrimSpace(n)] = true
		}
		eps = slices.DeleteFunc(eps, func(e endpoint) bool { return !want[e.name] })
		if len(eps) == 0 {
			return fmt.Errorf("no endpoint named in %q", *only)
		}
	}
	var tsv *os.File
	if *out != "" {
		if tsv, err = os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
			return err
		}
		defer tsv.Close()
	}
	fmt.Printf("| backend | endpoint | clients | requests | errors | req/s | P50 ms | P95 ms | P99 ms | max ms | server CPU ms/req | P95 target |\n")
	fmt.Printf("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for _, c := range levels {
		for _, ep := range eps {
			authz := admin
			switch {
			case ep.member:
				authz = member
			case ep.bearer:
				authz = bearer
			}
			if *warm > 0 {
				load(client, prefix, ep, authz, c, *warm)
			}
			cpu0 := cpuTime(*pid)
			res := load(client, prefix, ep, authz, c, *dur)
			cpu := "-"
			if cpu1 := cpuTime(*pid); cpu0 >= 0 && cpu1 >= 0 && res.n > 0 {
				cpu = strconv.FormatFloat(float64(cpu1-cpu0)/float64(time.Millisecond)/float64(res.n), 'f', 2, 64)
			}
			met := "met"
			if res.p95 >= ep.p95Target() || res.errors > 0 {
				met = "NOT MET"
			}
			row := []string{*label, ep.name, strconv.Itoa(c), strconv.Itoa(res.n), strconv.Itoa(res.errors),
				fmt.Sprintf("%.0f", res.rate), ms(res.p50), ms(res.p95), ms(res.p99), ms(res.max), cpu,
				fmt.Sprintf("< %d ms: %s", ep.p95Target().Milliseconds(), met)}
			fmt.Printf("| %s |\n", strings.Join(row, " | "))
			if res.firstErr != "" {
				fmt.Fprintf(os.Stderr, "  %s at %d clients, first error: %s\n", ep.name, c, res.firstErr)
			}
			if tsv != nil {
				fmt.Fprintln(tsv, strings.Join(row, "\t"))
			}
		}
	}
	return nil
}

// cpuTime returns the user+system CPU time process pid has used, or -1
// when pid is 0 or unreadable. /proc/PID/stat counts in clock ticks,
// 100 per second on Linux.
func cpuTime(pid int) time.Duration {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(u+s) * 10 * time.Millisecond
}

// endpoints lists the measured requests on data set sh; targets are the
// artifacts that get-artifact picks from.
func endpoints(sh *shape, targets []target) []endpoint {
	randProject := func(r *rand.Rand) string { return sh.project(r.IntN(sh.projects)) }
	randRepo := func(r *rand.Rand) (string, string) { return randProject(r), sh.repo(r.IntN(sh.repos)) }
	var inOne []target // the discovered artifacts of the first target's project
	for _, t := range targets {
		if t.project == targets[0].project {
			inOne = append(inOne, t)
		}
	}
	return []endpoint{
		{"projects", "GET /api/v2.0/projects?page_size=15 (admin)", false,
			func(r *rand.Rand) string { return "/api/v2.0/projects?page_size=15" }, false, false},
		{"projects-member", "GET /api/v2.0/projects?page_size=15 (member of a few projects)", true,
			func(r *rand.Rand) string { return "/api/v2.0/projects?page_size=15" }, false, false},
		{"repositories", "GET /api/v2.0/projects/{p}/repositories?page_size=15", false,
			func(r *rand.Rand) string {
				return "/api/v2.0/projects/" + randProject(r) + "/repositories?page_size=15"
			}, false, false},
		{"artifacts", "GET …/repositories/{r}/artifacts?with_tag=true&with_label=true&page_size=15", false,
			func(r *rand.Rand) string {
				p, repo := randRepo(r)
				return "/api/v2.0/projects/" + p + "/repositories/" + repo + "/artifacts?with_tag=true&with_label=true&page_size=15"
			}, false, false},
		{"artifact", "GET …/repositories/{r}/artifacts/{digest}", false,
			func(r *rand.Rand) string {
				t := targets[r.IntN(len(targets))]
				return "/api/v2.0/projects/" + t.project + "/repositories/" + t.repo + "/artifacts/" + t.digest
			}, true, false},
		{"search", "GET /api/v2.0/search?q={project or repository name}", false,
			func(r *rand.Rand) string {
				if r.IntN(2) == 0 {
					return "/api/v2.0/search?q=" + randProject(r)
				}
				return "/api/v2.0/search?q=" + sh.repo(r.IntN(sh.repos))
			}, false, false},
		{"catalog", "GET /v2/_catalog?n=100&last={random repository}", false,
			func(r *rand.Rand) string {
				p, repo := randRepo(r)
				return "/v2/_catalog?n=100&last=" + url.QueryEscape(p+"/"+repo)
			}, false, false},
		// The other read scenarios of goharbor/perf's suite.
		{"project", "GET /api/v2.0/projects/{p}", false,
			func(r *rand.Rand) string { return "/api/v2.0/projects/" + randProject(r) }, true, false},
		{"repository", "GET /api/v2.0/projects/{p}/repositories/{r}", false,
			func(r *rand.Rand) string {
				p, repo := randRepo(r)
				return "/api/v2.0/projects/" + p + "/repositories/" + repo
			}, true, false},
		{"tags", "GET …/artifacts/{digest}/tags?page_size=15", false,
			func(r *rand.Rand) string {
				t := targets[r.IntN(len(targets))]
				return "/api/v2.0/projects/" + t.project + "/repositories/" + t.repo + "/artifacts/" + t.digest + "/tags?page_size=15"
			}, false, false},
		{"members", "GET /api/v2.0/projects/{p}/members?page_size=15", false,
			func(r *rand.Rand) string { return "/api/v2.0/projects/" + randProject(r) + "/members?page_size=15" }, false, false},
		{"audit-logs", "GET /api/v2.0/audit-logs?page_size=15", false,
			func(r *rand.Rand) string { return "/api/v2.0/audit-logs?page_size=15" }, false, false},
		{"quotas", "GET /api/v2.0/quotas?page_size=15", false,
			func(r *rand.Rand) string { return "/api/v2.0/quotas?page_size=15" }, false, false},
		{"users", "GET /api/v2.0/users?page_size=15", false,
			func(r *rand.Rand) string { return "/api/v2.0/users?page_size=15" }, false, false},
		{"pull-one", "GET /v2/{one project's repository}/manifests/{digest} with a token", false,
			func(r *rand.Rand) string {
				t := inOne[r.IntN(len(inOne))]
				return "/v2/" + t.project + "/" + t.repo + "/manifests/" + t.digest
			}, true, true},
		{"pull-many", "GET /v2/{any project's repository}/manifests/{digest} with a token", false,
			func(r *rand.Rand) string {
				t := targets[r.IntN(len(targets))]
				return "/v2/" + t.project + "/" + t.repo + "/manifests/" + t.digest
			}, true, true},
	}
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

// discover lists the artifacts of a sample of repositories, for the
// get-artifact endpoint.
func discover(client *http.Client, prefix string, authz func(*http.Request), sh *shape) ([]target, error) {
	r := rand.New(rand.NewPCG(1, 2))
	var out []target
	for range 100 {
		p, repo := sh.project(r.IntN(sh.projects)), sh.repo(r.IntN(sh.repos))
		req, _ := http.NewRequest("GET", prefix+"/api/v2.0/projects/"+p+"/repositories/"+repo+"/artifacts?with_tag=false&page_size=100", nil)
		authz(req)
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		var list []struct {
			Digest string `json:"digest"`
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return nil, fmt.Errorf("listing the artifacts of %s/%s: %s %v", p, repo, resp.Status, err)
		}
		for _, a := range list {
			out = append(out, target{p, repo, a.Digest})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no artifacts found: is the data set seeded?")
	}
	return out, nil
}

// pullTokens fetches a pull token from Berth's token service for each
// repository of targets, as a registry client would before pulling.
func pullTokens(client *http.Client, prefix, adminPassword string, targets []target) (map[string]string, error) {
	out := map[string]string{}
	for _, t := range targets {
		repo := t.project + "/" + t.repo
		if out[repo] != "" {
			continue
		}
		req, _ := http.NewRequest("GET", prefix+"/service/token?service=berth&scope="+url.QueryEscape("repository:"+repo+":pull"), nil)
		req.SetBasicAuth("admin", adminPassword)
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		var tok struct {
			Token string `json:"token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || tok.Token == "" {
			return nil, fmt.Errorf("token for %s: %s %v", repo, resp.Status, err)
		}
		out[repo] = tok.Token
	}
	return out, nil
}

// bearerAuth authorizes a manifest pull with its repository's token, as a
// registry client sends it.
func bearerAuth(tokens map[string]string) func(*http.Request) {
	return func(req *http.Request) {
		repo, _, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/v2/"), "/manifests/")
		req.Header.Set("Authorization", "Bearer "+tokens[repo])
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	}
}

type result struct {
	n, errors          int
	rate               float64
	p50, p95, p99, max time.Duration
	firstErr           string
}

// load keeps c clients sending ep's requests for d and returns the figures.
func load(client *http.Client, prefix string, ep endpoint, authz func(*http.Request), c int, d time.Duration) result {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
		errCount atomic.Int64
		firstErr atomic.Value
	)
	start := time.Now()
	deadline := start.Add(d)
	for i := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			lats := make([]time.Duration, 0, 1024)
			for time.Now().Before(deadline) {
				req, err := http.NewRequest("GET", prefix+ep.path(r), nil)
				if err != nil {
					panic(err)
				}
				authz(req)
				t := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode/100 != 2 {
						err = fmt.Errorf("%s %s", req.URL.RequestURI(), resp.Status)
					}
				}
				lats = append(lats, time.Since(t))
				if err != nil {
					errCount.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
			mu.Lock()
			all = append(all, lats...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	q := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(p*float64(len(all))))]
	}
	res := result{n: len(all), errors: int(errCount.Load()), rate: float64(len(all)) / elapsed.Seconds(),
		p50: q(0.50), p95: q(0.95), p99: q(0.99)}
	if len(all) > 0 {
		res.max = all[len(all)-1]
	}
	if s, ok := firstErr.Load().(string); ok {
		res.firstErr = s
	}
	return res
}
