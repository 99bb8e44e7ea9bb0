//go:build !linux

package main

type pinning struct{}

// pinPulls does nothing where CPU affinity is not Linux's.
func pinPulls([]int) (*pinning, error) { return nil, nil }

func (p *pinning) undo() {}
