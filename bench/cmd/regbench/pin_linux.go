package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinning keeps the servers on one CPU and regbench on another while the
// blob pulls run. On a 2-CPU VM a pull's two halves, the server's sendfile
// and the client's copy out of the socket, otherwise land on the same or
// on different CPUs from one pull to the next, and the same server's pulls
// run at about 2 or about 4–6 GB/s (docs/performance.md). Every server gets
// the same CPU, so the comparison stays even.
type pinning struct {
	restore map[int]unix.CPUSet // process ID → its main thread's mask before
}

// pinPulls pins the threads of pids to the last CPU and this process's to
// the first; it returns nil (nothing to undo) on a machine with one CPU.
func pinPulls(pids []int) (*pinning, error) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return nil, err
	}
	var cpus []int
	for c := 0; c < runtime.NumCPU()*4 && len(cpus) < all.Count(); c++ {
		if all.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		return nil, nil
	}
	var client, server unix.CPUSet
	client.Set(cpus[0])
	server.Set(cpus[len(cpus)-1])
	p := &pinning{restore: map[int]unix.CPUSet{}}
	for _, pid := range pids {
		if err := p.pin(pid, server); err != nil {
			p.undo()
			return nil, err
		}
	}
	if err := p.pin(os.Getpid(), client); err != nil {
		p.undo()
		return nil, err
	}
	return p, nil
}

// pin sets mask on every thread of pid (threads it starts later inherit
// it), remembering the mask it had.
func (p *pinning) pin(pid int, mask unix.CPUSet) error {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(pid, &old); err != nil {
		return err
	}
	p.restore[pid] = old
	return setThreads(pid, mask)
}

// setThreads sets mask on every thread pid has now.
func setThreads(pid int, mask unix.CPUSet) error {
	tids, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*")
	if err != nil {
		return err
	}
	for _, t := range tids {
		if tid, err := strconv.Atoi(filepath.Base(t)); err == nil {
			unix.SchedSetaffinity(tid, &mask) // a thread may have exited
		}
	}
	return nil
}

// undo gives every thread of the pinned processes their old mask back.
func (p *pinning) undo() {
	if p == nil {
		return
	}
	for pid, old := range p.restore {
		setThreads(pid, old)
	}
}
