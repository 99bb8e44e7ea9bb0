package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// Seeds of the generated layers: big layer rep r has seed bigSeed+r; small
// layer i of rep r in mode m has seed smallSeed+m*1e6+r*1e4+i. Every system
// gets the same seeds, so the same bytes.
const (
	bigSeed   = 1
	smallSeed = 1_000_000
)

type runner struct {
	systems []*system // registries
	nginx   *system   // may be nil
	repo    string
	out     io.Writer
	pin     bool  // pin the servers and regbench to separate CPUs during pulls
	pinPIDs []int // server processes to pin besides the systems' own
}

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var targets multiFlag
	fs.Var(&targets, "target", "registry under test as name=http://[user:pass@]127.0.0.1:port (repeat)")
	var pids multiFlag
	fs.Var(&pids, "pid", "server process of a target as name=PID, to measure its CPU time (repeat)")
	nginxURL := fs.String("nginx", "", "baseline: URL of a static file server root serving -nginx-file as /blob")
	nginxFile := fs.String("nginx-file", "", "where to write the big layer for the baseline server")
	repo := fs.String("repo", "library/bench", "repository")
	bigSize := fs.String("big-size", "256MiB", "size of the big layer")
	bigReps := fs.Int("big-reps", 5, "repetitions of the big push")
	pullReps := fs.Int("pull-reps", 7, "repetitions of the big pull")
	smallCount := fs.Int("small-count", 200, "small layers per repetition")
	smallSize := fs.String("small-size", "4KiB", "size of a small layer")
	smallReps := fs.Int("small-reps", 3, "repetitions of the small-layer push")
	smallConc := fs.Int("small-conc", 4, "parallel uploads in the concurrent small-layer push")
	outFile := fs.String("out", "", "results file (TSV: metric, system, value), appended to")
	pin := fs.Bool("pin-pulls", true, "during the timed blob pulls, keep every server (its -pid and each -pin-pid) on the last CPU and regbench on the first")
	var pinPIDs multiFlag
	fs.Var(&pinPIDs, "pin-pid", "another server process to pin during the pulls, e.g. an nginx worker (repeat)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if min(*bigReps, *pullReps, *smallCount, *smallReps, *smallConc) < 1 {
		return errors.New("run: repetitions, counts and concurrency must be at least 1")
	}
	r := &runner{repo: *repo, out: io.Discard, pin: *pin}
	for _, v := range pinPIDs {
		pid, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("run: bad -pin-pid %q", v)
		}
		r.pinPIDs = append(r.pinPIDs, pid)
	}
	for _, t := range targets {
		s, err := parseSystem(t)
		if err != nil {
			return err
		}
		r.systems = append(r.systems, s)
	}
	if len(r.systems) == 0 {
		return errors.New("run: no -target")
	}
	for _, p := range pids {
		name, v, _ := strings.Cut(p, "=")
		pid, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("run: bad -pid %q", p)
		}
		for _, s := range r.systems {
			if s.name == name {
				s.pid = pid
			}
		}
	}
	if *nginxURL != "" {
		s, err := parseSystem("nginx=" + *nginxURL)
		if err != nil {
			return err
		}
		r.nginx = s
	}
	if *outFile != "" {
		f, err := os.OpenFile(*outFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		r.out = f
	}
	big, err := parseSize(*bigSize)
	if err != nil {
		return err
	}
	small, err := parseSize(*smallSize)
	if err != nil {
		return err
	}

	logf("regbench run started at %s", started.Format("15:04:05"))
	if err := r.warmUp(); err != nil {
		return err
	}
	bigDigests, err := r.pushBig(big, *bigReps)
	if err != nil {
		return err
	}
	if r.nginx != nil && *nginxFile != "" {
		if err := cmdGen([]string{"-seed", strconv.Itoa(bigSeed), "-size", strconv.FormatInt(big, 10), "-o", *nginxFile}); err != nil {
			return err
		}
	}
	if err := r.pullBig(big, bigDigests[0], *pullReps); err != nil {
		return err
	}
	var manyLayers []desc
	for mode, conc := range []int{1, *smallConc} {
		layers, err := r.pushSmall(mode, conc, *smallCount, small, *smallReps)
		if err != nil {
			return err
		}
		if mode == 0 {
			manyLayers = layers
		}
	}
	return r.pushManifests(desc{Digest: bigDigests[0], Size: big}, manyLayers)
}

func (r *runner) record(metric, sys string, v float64) {
	fmt.Fprintf(r.out, "%s\t%s\t%.4f\n", metric, sys, v)
}

var started = time.Now()

// logf writes a progress line to stderr, stamped with the time since start.
func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[%5.1fs] "+format+"\n", append([]any{time.Since(started).Seconds()}, a...)...)
}

// eachRep runs fn for every system and repetition, alternating the order of
// the systems, and returns the values by system and, for systems with a
// known process, the server CPU seconds each repetition cost.
func eachRep(systems []*system, reps int, fn func(s *system, rep int) (float64, error)) (vals, cpu map[string][]float64, err error) {
	vals, cpu = map[string][]float64{}, map[string][]float64{}
	for rep := range reps {
		order := slices.Clone(systems)
		if rep%2 == 1 {
			slices.Reverse(order)
		}
		for _, s := range order {
			c0, cerr := cpuSeconds(s.pid)
			v, err := fn(s, rep)
			if err != nil {
				return nil, nil, err
			}
			vals[s.name] = append(vals[s.name], v)
			if c1, err := cpuSeconds(s.pid); cerr == nil && err == nil {
				cpu[s.name] = append(cpu[s.name], c1-c0)
			}
		}
	}
	return vals, cpu, nil
}

// recordCPU logs and records the median server CPU of an operation, in
// milliseconds per unit (per = units in one repetition).
func (r *runner) recordCPU(metric, what string, cpu map[string][]float64, per float64) {
	for _, s := range r.systems {
		if c := cpu[s.name]; len(c) > 0 {
			ms := median(c) * 1000 / per
			logf("    %-12s server CPU %.2f ms per %s", s.name, ms, what)
			r.record(metric+"_cpu", s.name, ms)
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtVals(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(parts, " ")
}

// warmUp opens connections and touches each server's push path once.
func (r *runner) warmUp() error {
	const seed, size = 999, 64 << 10
	d := digestOf(seed, size)
	for _, s := range r.systems {
		if err := s.pushBlob(r.repo, newLayer(seed, size), size, d); err != nil {
			return fmt.Errorf("warm-up push: %w", err)
		}
	}
	return nil
}

const mib = 1 << 20

func (r *runner) pushBig(size int64, reps int) ([]string, error) {
	digests := make([]string, reps)
	for i := range digests {
		digests[i] = digestOf(uint64(bigSeed+i), size)
	}
	vals, cpu, err := eachRep(r.systems, reps, func(s *system, rep int) (float64, error) {
		start := time.Now()
		if err := s.pushBlob(r.repo, newLayer(uint64(bigSeed+rep), size), size, digests[rep]); err != nil {
			return 0, err
		}
		return float64(size) / mib / time.Since(start).Seconds(), nil
	})
	if err != nil {
		return nil, err
	}
	for _, s := range r.systems {
		for i, d := range digests {
			if err := s.headBlob(r.repo, d, size); err != nil {
				return nil, fmt.Errorf("after big push %d: %w", i, err)
			}
		}
		logf("push %d MiB  %-12s MiB/s per rep: %s  median %.1f", size/mib, s.name, fmtVals(vals[s.name]), median(vals[s.name]))
		r.record("push_big", s.name, median(vals[s.name]))
	}
	r.recordCPU("push_big", "push", cpu, 1)
	return digests, nil
}

func (r *runner) pullBig(size int64, digest string, reps int) error {
	systems := slices.Clone(r.systems)
	urls := map[string]string{}
	for _, s := range r.systems {
		urls[s.name] = s.url("/v2/" + r.repo + "/blobs/" + digest)
	}
	if r.nginx != nil {
		systems = append(systems, r.nginx)
		urls[r.nginx.name] = r.nginx.url("/blob")
	}
	// One untimed download each checks the content (and warms the page cache).
	for _, s := range systems {
		n, d, err := s.get(urls[s.name], nil, true)
		if err != nil {
			return err
		}
		if n != size || d != digest {
			return fmt.Errorf("%s: pulled %d bytes with digest %s, want %d bytes %s", s.name, n, d, size, digest)
		}
	}
	if r.pin {
		pids := slices.Clone(r.pinPIDs)
		for _, s := range systems {
			if s.pid > 0 {
				pids = append(pids, s.pid)
			}
		}
		p, err := pinPulls(pids)
		if err != nil {
			return fmt.Errorf("pin the pulls: %w", err)
		}
		if p != nil {
			logf("pulls pinned: servers %v on the last CPU, regbench on the first", pids)
		}
		defer p.undo()
	}
	vals, cpu, err := eachRep(systems, reps, func(s *system, rep int) (float64, error) {
		start := time.Now()
		n, _, err := s.get(urls[s.name], nil, false)
		if err != nil {
			return 0, err
		}
		if n != size {
			return 0, fmt.Errorf("%s: pulled %d bytes, want %d", s.name, n, size)
		}
		return float64(size) / mib / time.Since(start).Seconds(), nil
	})
	if err != nil {
		return err
	}
	for _, s := range systems {
		logf("pull %d MiB  %-12s MiB/s per rep: %s  median %.1f", size/mib, s.name, fmtVals(vals[s.name]), median(vals[s.name]))
		r.record("pull_big", s.name, median(vals[s.name]))
	}
	r.recordCPU("pull_big", "pull", cpu, 1)
	return nil
}

type desc struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// pushSmall pushes count layers of size bytes per repetition with conc
// uploads in flight and records layers per second. It returns the layers of
// the first repetition.
func (r *runner) pushSmall(mode, conc, count int, size int64, reps int) ([]desc, error) {
	layers := func(rep int) []desc {
		out := make([]desc, count)
		for i := range out {
			seed := uint64(smallSeed + mode*1_000_000 + rep*10_000 + i)
			out[i] = desc{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: digestOf(seed, size), Size: size}
		}
		return out
	}
	all := make([][]desc, reps)
	for rep := range all {
		all[rep] = layers(rep)
	}
	vals, cpu, err := eachRep(r.systems, reps, func(s *system, rep int) (float64, error) {
		work := make(chan int)
		errc := make(chan error, conc)
		var wg sync.WaitGroup
		start := time.Now()
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					seed := uint64(smallSeed + mode*1_000_000 + rep*10_000 + i)
					if err := s.pushBlob(r.repo, newLayer(seed, size), size, all[rep][i].Digest); err != nil {
						errc <- err
						for range work {
						}
						return
					}
				}
			}()
		}
		for i := range count {
			work <- i
		}
		close(work)
		wg.Wait()
		el := time.Since(start)
		select {
		case err := <-errc:
			return 0, err
		default:
		}
		return float64(count) / el.Seconds(), nil
	})
	if err != nil {
		return nil, err
	}
	metric := "push_small_seq"
	if mode > 0 {
		metric = "push_small_conc"
	}
	for _, s := range r.systems {
		for rep := range all {
			for _, l := range all[rep] {
				if err := s.headBlob(r.repo, l.Digest, size); err != nil {
					return nil, fmt.Errorf("after small push: %w", err)
				}
			}
		}
		logf("push %dx%d B, %d in flight  %-12s layers/s per rep: %s  median %.1f", count, size, conc, s.name, fmtVals(vals[s.name]), median(vals[s.name]))
		r.record(metric, s.name, median(vals[s.name]))
	}
	r.recordCPU(metric, "layer", cpu, float64(count))
	return all[0], nil
}

// pushManifests pushes tag "one" (a manifest of the big layer) and tag
// "many" (of the small layers) for the wrk runs, and checks a GET of each.
func (r *runner) pushManifests(big desc, many []desc) error {
	big.MediaType = "application/vnd.oci.image.layer.v1.tar"
	for _, m := range []struct {
		tag    string
		layers []desc
	}{{"one", []desc{big}}, {"many", many}} {
		diffIDs := make([]string, len(m.layers))
		for i, l := range m.layers {
			diffIDs[i] = l.Digest
		}
		cfg, _ := json.Marshal(map[string]any{
			"architecture": "amd64", "os": "linux",
			"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
			"config": map[string]any{},
		})
		cfgDesc := desc{MediaType: "application/vnd.oci.image.config.v1+json", Digest: sha(cfg), Size: int64(len(cfg))}
		body, _ := json.Marshal(map[string]any{
			"schemaVersion": 2,
			"mediaType":     "application/vnd.oci.image.manifest.v1+json",
			"config":        cfgDesc,
			"layers":        m.layers,
		})
		for _, s := range r.systems {
			if err := s.pushBlob(r.repo, bytes.NewReader(cfg), int64(len(cfg)), cfgDesc.Digest); err != nil {
				return err
			}
			resp, err := s.request(http.MethodPut, s.url("/v2/"+r.repo+"/manifests/"+m.tag), bytes.NewReader(body), int64(len(body)),
				map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, http.StatusCreated)
			if err != nil {
				return err
			}
			discard(resp)
			n, d, err := s.get(s.url("/v2/"+r.repo+"/manifests/"+m.tag), map[string]string{"Accept": manifestAccept}, true)
			if err != nil {
				return err
			}
			if d != sha(body) || n != int64(len(body)) {
				return fmt.Errorf("%s: manifest %s came back as %d bytes %s, want %d bytes %s", s.name, m.tag, n, d, len(body), sha(body))
			}
		}
		logf("manifest %-4s %d layers, %d bytes, %s", m.tag, len(m.layers), len(body), sha(body))
	}
	return nil
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func cmdPorts(args []string) error {
	n := 1
	if len(args) > 0 {
		v, err := strconv.Atoi(args[0])
		if err != nil {
			return err
		}
		n = v
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

func cmdWait(args []string) error {
	if len(args) < 1 {
		return errors.New("wait URL [SECONDS]")
	}
	timeout := 30 * time.Second
	if len(args) > 1 {
		v, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		timeout = time.Duration(v) * time.Second
	}
	s, err := parseSystem("server=" + args[0])
	if err != nil {
		return err
	}
	s.client.Timeout = 2 * time.Second
	deadline := time.Now().Add(timeout)
	for {
		resp, err := s.client.Get(args[0])
		if err == nil {
			discard(resp)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %s: %w", args[0], timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
