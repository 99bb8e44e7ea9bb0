// Command uibench measures the web console's listing pages on the data set
// that apibench seeds (goharbor/perf's "small" shape: 100 projects × 100
// repositories × 10 artifacts × 5 tags). bench/ui.sh runs it;
// docs/performance.md ("Console pages at 100k artifacts") has the figures.
//
//	uibench run -url URL -password PW [flags]
//
// run signs in through the console's own sign-in form (GET /login for the
// form's CSRF cookie, POST /login) as each user it needs, then, for each
// page and each concurrency, keeps N clients busy for a fixed time (each
// sends its next request as soon as the previous page is read in full),
// picking a random project or repository per request, and prints requests,
// errors (transport failures and any non-200 answer, a redirect to the
// sign-in page included), pages per second and the P50/P95/P99 latencies as
// a Markdown table, and optionally as TSV (-out). It talks to loopback only.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "run" {
		fmt.Fprintln(os.Stderr, "usage: uibench run -url URL -password PW [flags]")
		os.Exit(2)
	}
	if err := cmdRun(os.Args[2:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "uibench:", err)
		os.Exit(1)
	}
}

// page is one measured console page.
type page struct {
	name, desc string
	member     bool                      // as the non-admin member user
	path       func(r *rand.Rand) string // path and query, picked per request
}

// pages lists the measured pages on a data set of projects × repos named
// as the seeder names them.
func pages(prefix string, projects, repos int) []page {
	project := func(r *rand.Rand) string { return fmt.Sprintf("%s-%03d", prefix, r.IntN(projects)) }
	repo := func(r *rand.Rand) string { return fmt.Sprintf("repo-%03d", r.IntN(repos)) }
	return []page{
		{"projects", "GET /projects (first page: 15 projects with quota bars) as admin", false,
			func(r *rand.Rand) string { return "/projects" }},
		{"projects-member", "GET /projects as a member of 5 projects (14 visible)", true,
			func(r *rand.Rand) string { return "/projects" }},
		{"repositories", "GET /projects/{p}/repositories (first 15 of 100)", false,
			func(r *rand.Rand) string { return "/projects/" + project(r) + "/repositories" }},
		{"artifacts", "GET /projects/{p}/repositories/{r} (10 artifacts, 5 tags each)", false,
			func(r *rand.Rand) string { return "/projects/" + project(r) + "/repositories/" + repo(r) }},
	}
}

func cmdRun(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	base := fs.String("url", "", "Berth's base URL (http://127.0.0.1:PORT)")
	password := fs.String("password", os.Getenv("BERTH_ADMIN_PASSWORD"), "admin's password")
	memberUser := fs.String("member", "", "a non-admin member user for projects-member (default <prefix>-user-000)")
	memberPassword := fs.String("member-password", "", "the member's password (empty: skip projects-member)")
	prefix := fs.String("prefix", "perf", "name prefix of the seeded projects")
	projects := fs.Int("projects", 100, "seeded projects")
	repos := fs.Int("repositories", 100, "seeded repositories per project")
	concs := fs.String("c", "50", "concurrent clients, comma-separated")
	dur := fs.Duration("d", 10*time.Second, "measured time per page and concurrency")
	warm := fs.Duration("warmup", 2*time.Second, "unmeasured load before each measurement")
	only := fs.String("pages", "", "comma-separated page names to run (default: all)")
	label := fs.String("label", "", "backend label for the table and the TSV")
	out := fs.String("out", "", "append results to this TSV file")
	pid := fs.Int("pid", 0, "Berth's process ID, to report its CPU time per page (Linux)")
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
		return errors.New("-d must be within (0, 5m]")
	}
	if *memberUser == "" {
		*memberUser = *prefix + "-user-000"
	}
	prefixURL := strings.TrimSuffix(*base, "/")
	tr := &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	adminCookie, err := signIn(client, prefixURL, "admin", *password)
	if err != nil {
		return err
	}
	memberCookie := ""
	if *memberPassword != "" {
		if memberCookie, err = signIn(client, prefixURL, *memberUser, *memberPassword); err != nil {
			return err
		}
	}
	list := pages(*prefix, *projects, *repos)
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	list = slices.DeleteFunc(list, func(p page) bool {
		return (len(want) > 0 && !want[p.name]) || (p.member && memberCookie == "")
	})
	if len(list) == 0 {
		return fmt.Errorf("no page to run (pages %q)", *only)
	}
	var tsv *os.File
	if *out != "" {
		if tsv, err = os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
			return err
		}
		defer tsv.Close()
	}
	fmt.Fprintf(stdout, "| backend | page | clients | requests | errors | pages/s | P50 ms | P95 ms | P99 ms | max ms | server CPU ms/page |\n")
	fmt.Fprintf(stdout, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, c := range levels {
		for _, p := range list {
			cookie := adminCookie
			if p.member {
				cookie = memberCookie
			}
			if *warm > 0 {
				load(client, prefixURL, p, cookie, c, *warm)
			}
			cpu0 := cpuTime(*pid)
			res := load(client, prefixURL, p, cookie, c, *dur)
			cpu := "-"
			if cpu1 := cpuTime(*pid); cpu0 >= 0 && cpu1 >= 0 && res.n > 0 {
				cpu = strconv.FormatFloat(float64(cpu1-cpu0)/float64(time.Millisecond)/float64(res.n), 'f', 2, 64)
			}
			row := []string{*label, p.name, strconv.Itoa(c), strconv.Itoa(res.n), strconv.Itoa(res.errors),
				fmt.Sprintf("%.0f", res.rate), ms(res.p50), ms(res.p95), ms(res.p99), ms(res.max), cpu}
			fmt.Fprintf(stdout, "| %s |\n", strings.Join(row, " | "))
			if res.firstErr != "" {
				fmt.Fprintf(os.Stderr, "  %s at %d clients, first error: %s\n", p.name, c, res.firstErr)
			}
			if tsv != nil {
				fmt.Fprintln(tsv, strings.Join(row, "\t"))
			}
		}
	}
	return nil
}

// signIn signs in through the console's form and returns the Cookie
// header of the session (sid and the CSRF cookie).
func signIn(client *http.Client, base, user, password string) (string, error) {
	resp, err := client.Get(base + "/login")
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var pre string
	for _, ck := range resp.Cookies() {
		if ck.Name == "berth_csrf" {
			pre = ck.Value
		}
	}
	if pre == "" {
		return "", errors.New("the sign-in page set no berth_csrf cookie")
	}
	form := url.Values{"csrf": {pre}, "principal": {user}, "password": {password}}
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "berth_csrf", Value: pre})
	resp, err = client.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var parts []string
	for _, ck := range resp.Cookies() {
		if (ck.Name == "sid" || ck.Name == "__csrf") && ck.Value != "" {
			parts = append(parts, ck.Name+"="+ck.Value)
		}
	}
	if resp.StatusCode != http.StatusSeeOther || len(parts) != 2 {
		return "", fmt.Errorf("sign in as %s: %s, cookies %v", user, resp.Status, parts)
	}
	return strings.Join(parts, "; "), nil
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

// cpuTime returns the user+system CPU time process pid has used, or -1
// when pid is 0 or unreadable (/proc/PID/stat counts 100 ticks a second).
func cpuTime(pid int) time.Duration {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
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

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

type result struct {
	n, errors          int
	rate               float64
	p50, p95, p99, max time.Duration
	firstErr           string
}

// load keeps c clients getting p's pages with the session cookie for d.
func load(client *http.Client, base string, p page, cookie string, c int, d time.Duration) result {
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
				req, err := http.NewRequest(http.MethodGet, base+p.path(r), nil)
				if err != nil {
					panic(err)
				}
				req.Header.Set("Cookie", cookie)
				t := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					var n int64
					n, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != http.StatusOK || n == 0) {
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
	q := func(f float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(f*float64(len(all))))]
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
