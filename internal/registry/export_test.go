package registry

// SetPullGate turns the pull gate on or off, for the benchmark that
// measures its cost.
func SetPullGate(reg *Registry, on bool) { reg.noPullGate = !on }
