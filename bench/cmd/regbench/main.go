// Command regbench drives identical OCI Distribution workloads against
// several registries, and a plain HTTP file server as the loopback baseline
// for a blob GET, so that their figures can be compared side by side.
// bench/compare.sh runs it; see docs/performance.md.
//
//	regbench ports N                         print N free loopback TCP ports
//	regbench wait URL [SECONDS]              wait until URL answers any HTTP status
//	regbench gen -seed S -size N -o FILE     write the layer the generator makes for S
//	regbench run [flags]                     push, pull and manifest workloads; results to -out
//	regbench load [-m HEAD] [-c 32] [-d 10s] [-H h] URL   closed-loop GET/HEAD load, like wrk
//	regbench report FILE...                  print the comparison table (medians over several result files)
//	regbench token URL USER PASS SCOPE       print a Bearer token from URL's token service
//
// Every request is built with plain net/http, so each registry gets the same
// bytes (only Berth's Authorization header differs: Distribution runs
// without auth). A system given credentials is driven as docker drives a
// registry: a Bearer token per repository from the token service its 401
// challenge names, never Basic on every request. Layer content is streamed from a deterministic generator
// (see gen.go), never held in memory, and every digest is checked: pushes by
// the registry against the digest computed beforehand, pulls by hashing one
// untimed download. Each timed operation is repeated and the median is kept;
// repetitions alternate the order of the systems so drift hits all alike.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: regbench ports|wait|gen|run|report ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "ports":
		err = cmdPorts(os.Args[2:])
	case "wait":
		err = cmdWait(os.Args[2:])
	case "gen":
		err = cmdGen(os.Args[2:])
	case "run":
		err = cmdRun(os.Args[2:])
	case "load":
		err = cmdLoad(os.Args[2:])
	case "report":
		err = cmdReport(os.Args[2:])
	case "token":
		err = cmdToken(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "regbench:", err)
		os.Exit(1)
	}
}
