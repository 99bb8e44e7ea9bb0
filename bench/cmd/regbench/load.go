package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// cmdLoad is a closed-loop HTTP/1.1 load generator in the manner of wrk:
// c keep-alive connections, each sending the next request as soon as the
// previous response is read. It exists because wrk cannot do HEAD (its
// parser waits for the Content-Length bytes a HEAD response announces but
// never sends, wg/wrk#198). Requests are written from a prebuilt buffer and
// responses parsed by hand, so the client costs about what wrk's does.
//
// It prints "Requests/sec: N", "Non-2xx: N" and "p99: D" lines.
func cmdLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	method := fs.String("m", "GET", "GET or HEAD")
	conns := fs.Int("c", 32, "connections")
	dur := fs.Duration("d", 10*time.Second, "duration")
	var headers multiFlag
	fs.Var(&headers, "H", "request header \"Name: value\" (repeat)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("load [flags] URL")
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) {
		return fmt.Errorf("load: want an http:// loopback URL, got %q", fs.Arg(0))
	}
	if *method != "GET" && *method != "HEAD" {
		return fmt.Errorf("load: method %q: only GET and HEAD", *method)
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\n", *method, u.RequestURI(), u.Host)
	for _, h := range headers {
		fmt.Fprintf(&req, "%s\r\n", h)
	}
	req.WriteString("\r\n")

	res := runLoad(u.Host, req.Bytes(), *method == "HEAD", *conns, *dur)
	if res.err != nil && res.ok == 0 {
		return res.err
	}
	fmt.Printf("Requests/sec: %.2f\n", float64(res.ok+res.bad)/res.elapsed.Seconds())
	fmt.Printf("Non-2xx: %d\n", res.bad)
	fmt.Printf("Errors: %d\n", res.errs)
	fmt.Printf("p99: %s\n", res.p99.Round(10*time.Microsecond))
	if res.err != nil {
		fmt.Printf("First error: %v\n", res.err)
	}
	return nil
}

type loadResult struct {
	ok, bad, errs int
	elapsed       time.Duration
	p99           time.Duration
	err           error
}

func runLoad(addr string, req []byte, head bool, conns int, dur time.Duration) loadResult {
	var (
		mu    sync.Mutex
		total loadResult
		lats  []time.Duration
		wg    sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(dur)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r loadResult
			l := make([]time.Duration, 0, 1<<16)
			var c net.Conn
			var br *bufio.Reader
			for time.Now().Before(deadline) {
				if c == nil {
					var err error
					if c, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
						r.errs++
						r.err = firstErr(r.err, err)
						time.Sleep(10 * time.Millisecond)
						continue
					}
					br = bufio.NewReaderSize(c, 64<<10)
				}
				c.SetDeadline(deadline.Add(5 * time.Second))
				t0 := time.Now()
				status, keep, err := roundTrip(c, br, req, head)
				if err != nil {
					if time.Now().Before(deadline) {
						r.errs++
						r.err = firstErr(r.err, err)
					}
					c.Close()
					c = nil
					continue
				}
				l = append(l, time.Since(t0))
				if status >= 200 && status < 300 {
					r.ok++
				} else {
					r.bad++
				}
				if !keep {
					c.Close()
					c = nil
				}
			}
			if c != nil {
				c.Close()
			}
			mu.Lock()
			total.ok += r.ok
			total.bad += r.bad
			total.errs += r.errs
			total.err = firstErr(total.err, r.err)
			lats = append(lats, l...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	if len(lats) > 0 {
		slices.Sort(lats)
		total.p99 = lats[len(lats)*99/100]
	}
	return total
}

func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// roundTrip writes req and reads one response, skipping its body. It
// returns the status and whether the connection may be reused.
func roundTrip(c net.Conn, br *bufio.Reader, req []byte, head bool) (int, bool, error) {
	if _, err := c.Write(req); err != nil {
		return 0, false, err
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	length, keep, chunked := int64(-1), true, false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil {
				return 0, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(value, []byte("close"))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = true
		}
	}
	if head || status == 204 || status == 304 {
		return status, keep, nil
	}
	switch {
	case chunked:
		return status, false, errors.New("chunked responses are not supported")
	case length < 0:
		return status, false, errors.New("response without Content-Length")
	}
	if _, err := br.Discard(int(length)); err != nil {
		return 0, false, err
	}
	return status, keep, nil
}
