package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// target is one row of the comparison: Berth's figure for metric divided by
// the reference system's must be at least min (or, for lowerBetter, at most).
type target struct {
	metric, label, unit string
	ref                 string // "distribution", "nginx" or "berth-anon"
	min                 float64
	lowerBetter         bool
	who                 string // the measured system: "berth" unless set
}

func targets(big, small string, count, conc int) []target {
	smallLabel := fmt.Sprintf("push %d x %s layers", count, small)
	return []target{
		{"push_big", "push " + big + " layer", "MiB/s", "distribution", 1.3, false, ""},
		{"pull_big", "pull " + big + " layer", "MiB/s", "distribution", 1.0, false, ""},
		{"pull_big", "pull " + big + " layer vs nginx", "MiB/s", "nginx", 0.9, false, ""},
		// oras pull: the client's whole pull (token from Berth's token
		// service, manifest, layer written to disk and verified).
		{"oras_pull_big", "oras pull of a " + big + " layer", "MiB/s", "distribution", 1.0, false, ""},
		{"push_small_seq", smallLabel + ", 1 in flight", "layers/s", "distribution", 1.0, false, ""},
		{"push_small_conc", fmt.Sprintf("%s, %d in flight", smallLabel, conc), "layers/s", "distribution", 1.0, false, ""},
		// Berth with a Bearer token from its token service, as a client
		// with credentials pulls; Distribution runs without auth.
		{"manifest_get_one", "manifest GET, 1 layer", "req/s", "distribution", 3, false, ""},
		{"manifest_head_one", "manifest HEAD, 1 layer", "req/s", "distribution", 3, false, ""},
		{"manifest_get_many", fmt.Sprintf("manifest GET, %d layers", count), "req/s", "distribution", 3, false, ""},
		{"manifest_head_many", fmt.Sprintf("manifest HEAD, %d layers", count), "req/s", "distribution", 3, false, ""},
		// A token costs next to nothing over an anonymous pull.
		{"manifest_get_one", "manifest GET, 1 layer: token vs anonymous", "req/s", "berth-anon", 0.9, false, ""},
		{"manifest_head_one", "manifest HEAD, 1 layer: token vs anonymous", "req/s", "berth-anon", 0.9, false, ""},
		{"manifest_get_one", "manifest GET, 1 layer, Berth anonymous", "req/s", "distribution", 0, false, "berth-anon"},
		{"manifest_head_one", "manifest HEAD, 1 layer, Berth anonymous", "req/s", "distribution", 0, false, "berth-anon"},
		{"rss_hwm", "peak RSS (VmHWM)", "MiB", "distribution", 1, true, ""},
		{"rss_end", "RSS after the run (VmRSS)", "MiB", "distribution", 1, true, ""},
		{"manifest_get_one_regbench", "manifest GET, 1 layer (regbench load)", "req/s", "distribution", 0, false, ""},
		{"manifest_get_many_regbench", fmt.Sprintf("manifest GET, %d layers (regbench load)", count), "req/s", "distribution", 0, false, ""},
	}
}

// cpuRows are the server CPU costs of the same operations: shown for
// understanding (on 2 shared cores CPU per operation is steadier than
// wall-clock rates), with no targets.
func cpuRows(big, small string, count, conc int) []target {
	return []target{
		{"push_big_cpu", "push " + big + " layer", "ms", "distribution", 0, true, ""},
		{"pull_big_cpu", "pull " + big + " layer", "ms", "distribution", 0, true, ""},
		{"push_small_seq_cpu", "push " + small + " layer, 1 in flight", "ms", "distribution", 0, true, ""},
		{"push_small_conc_cpu", fmt.Sprintf("push %s layer, %d in flight", small, conc), "ms", "distribution", 0, true, ""},
		{"manifest_get_one_cpu", "manifest GET, 1 layer", "us", "distribution", 0, true, ""},
		{"manifest_head_one_cpu", "manifest HEAD, 1 layer", "us", "distribution", 0, true, ""},
		{"manifest_get_many_cpu", fmt.Sprintf("manifest GET, %d layers", count), "us", "distribution", 0, true, ""},
		{"manifest_head_many_cpu", fmt.Sprintf("manifest HEAD, %d layers", count), "us", "distribution", 0, true, ""},
		{"cpu_s", "whole run", "s", "distribution", 0, true, ""},
	}
}

// readResults reads metric<TAB>system<TAB>value lines. A figure given more
// than once (results of several runs concatenated) is their median.
func readResults(r io.Reader) (map[string]map[string]float64, error) {
	all := map[string]map[string][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("bad results line %q", line)
		}
		v, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			return nil, fmt.Errorf("bad value in %q", line)
		}
		if all[f[0]] == nil {
			all[f[0]] = map[string][]float64{}
		}
		all[f[0]][f[1]] = append(all[f[0]][f[1]], v)
	}
	res := map[string]map[string]float64{}
	for metric, bySys := range all {
		res[metric] = map[string]float64{}
		for sys, vals := range bySys {
			res[metric][sys] = median(vals)
		}
	}
	return res, sc.Err()
}

func cmdReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	big := fs.String("big", "256 MiB", "big layer size, for the labels")
	small := fs.String("small", "4 KiB", "small layer size, for the labels")
	count := fs.Int("count", 200, "small layers per push / manifest layers")
	conc := fs.Int("conc", 4, "parallel small-layer uploads")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("report [flags] RESULTS...")
	}
	var files []io.Reader
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		files = append(files, f, strings.NewReader("\n"))
	}
	res, err := readResults(io.MultiReader(files...))
	if err != nil {
		return err
	}
	if fs.NArg() > 1 {
		fmt.Printf("Medians over %d runs.\n\n", fs.NArg())
	}
	met, total := writeTable(os.Stdout, res, targets(*big, *small, *count, *conc), true)
	fmt.Printf("\n%d of %d targets met (targets are reported, not asserted).\n", met, total)
	fmt.Printf("\nServer CPU per operation (median; lower is better, no targets):\n\n")
	writeTable(os.Stdout, res, cpuRows(*big, *small, *count, *conc), false)
	return nil
}

// writeTable prints rows; with full it adds the nginx, target and met columns.
func writeTable(w io.Writer, res map[string]map[string]float64, rows []target, full bool) (met, total int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if full {
		fmt.Fprintln(tw, "metric\tunit\tBerth\treference\tnginx\tratio\ttarget\tmet?\t")
	} else {
		fmt.Fprintln(tw, "operation\tunit\tBerth\tDistribution\tratio\t")
	}
	cell := func(m map[string]float64, sys string) string {
		v, ok := m[sys]
		if !ok {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	for _, t := range rows {
		m := res[t.metric]
		if m == nil && t.min == 0 {
			continue // optional figure not measured
		}
		ratio, status, tgt := "n/a", "n/a", "-"
		switch {
		case t.min == 0: // shown for information, no target
		case t.lowerBetter:
			tgt = fmt.Sprintf("<= %.1fx %s", t.min, short(t.ref))
		default:
			tgt = fmt.Sprintf(">= %.1fx %s", t.min, short(t.ref))
		}
		who := t.who
		if who == "" {
			who = "berth"
		}
		b, okB := m[who]
		ref, okR := m[t.ref]
		if okB && okR && ref > 0 {
			r := b / ref
			ratio = fmt.Sprintf("%.2fx", r)
			ok := r >= t.min
			if t.lowerBetter {
				ok = r <= t.min
			}
			switch {
			case t.min == 0:
				status = "-"
			case ok:
				met++
				total++
				status = "met"
			default:
				total++
				status = "NOT MET"
			}
		}
		nginx := ""
		if t.metric == "pull_big" {
			nginx = cell(m, "nginx")
		}
		if full {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", t.label, t.unit, cell(m, who), cell(m, t.ref)+refNote(t.ref), nginx, ratio, tgt, status)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", t.label, t.unit, cell(m, "berth"), cell(m, "distribution"), ratio)
		}
	}
	tw.Flush()
	return met, total
}

// refNote marks a reference figure that is not Distribution's.
func refNote(ref string) string {
	if ref == "berth-anon" {
		return " (anonymous)"
	}
	return ""
}

func short(ref string) string {
	switch ref {
	case "distribution":
		return "dist"
	case "berth-anon":
		return "anonymous"
	}
	return ref
}
