package retention

import (
	"sort"
	"time"
)

// Candidate is an artifact of a repository as the rules see it.
type Candidate struct {
	ID     int64 // artifact ID
	Digest string
	Tags   []string
	Labels []string // label names
	// PushedTime and PulledTime (ms) are the newest of the tags' (0 for
	// an untagged artifact); CreationTime is the artifact's push time.
	PushedTime   int64
	PulledTime   int64
	CreationTime int64
}

// Decision is what a policy decides for one candidate.
type Decision struct {
	Candidate
	Retain bool
	// Rules are the IDs of the rules that retain the candidate.
	Rules []int
}

// Selects reports whether some enabled rule of rules selects repository
// (its full name, project/repo).
func Selects(rules []Rule, repository string) bool {
	return len(rulesFor(rules, repository)) > 0
}

// rulesFor returns the enabled rules whose repository selectors all
// select repository.
func rulesFor(rules []Rule, repository string) []Rule {
	var out []Rule
	for _, r := range rules {
		if r.Disabled {
			continue
		}
		ok := true
		for _, s := range r.ScopeSelectors[ScopeRepository] {
			ok = ok && s.SelectsRepository(repository)
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// selectsCandidate applies a tag or label selector to a candidate.
func selectsCandidate(s Selector, c *Candidate) bool {
	switch s.Kind {
	case KindLabel:
		have := map[string]bool{}
		for _, l := range c.Labels {
			have[l] = true
		}
		for _, want := range labelNames(s.Pattern) {
			if have[want] != (s.Decoration == DecoWithLabels) {
				return false
			}
		}
		return true
	case KindDoublestar:
		return s.SelectsTags(c.Tags)
	}
	return false
}

// param reads a rule's integer parameter (0 if missing).
func param(r *Rule) int64 {
	switch v := r.Params[r.Template].(type) {
	case float64:
		return int64(v)
	case int64:
		return v
	case int:
		return int64(v)
	}
	return 0
}

const day = int64(24 * time.Hour / time.Millisecond)

// newest orders candidates by a time, newest first; ties by the
// artifact's push time, then ID.
func newest(cs []*Candidate, at func(*Candidate) int64) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if at(a) != at(b) {
			return at(a) > at(b)
		}
		if a.CreationTime != b.CreationTime {
			return a.CreationTime > b.CreationTime
		}
		return a.ID > b.ID
	})
}

func pushed(c *Candidate) int64 { return c.PushedTime }
func pulled(c *Candidate) int64 { return c.PulledTime }

// retains applies rule r's template to the candidates its selectors chose.
func retains(r *Rule, selected []*Candidate, now time.Time) []*Candidate {
	n := param(r)
	nowMS := now.UnixMilli()
	within := func(at func(*Candidate) int64) []*Candidate {
		var out []*Candidate
		for _, c := range selected {
			if at(c) >= nowMS-n*day {
				out = append(out, c)
			}
		}
		return out
	}
	latest := func(at func(*Candidate) int64) []*Candidate {
		newest(selected, at)
		return selected[:min(int(n), len(selected))]
	}
	switch r.Template {
	case LatestPushedK:
		return latest(pushed)
	case LatestPulledN:
		return latest(pulled)
	case NDaysSinceLastPush:
		return within(pushed)
	case NDaysSinceLastPull:
		return within(pulled)
	case Always:
		return selected
	}
	return nil // an unknown template retains nothing by itself
}

// Evaluate applies the rules of a policy to the candidates of repository
// (its full name, project/repo) at time now, and returns a decision for
// each candidate, in the order given. A candidate is retained when some
// enabled rule whose repository selectors select the repository selects it
// with its tag and label selectors and retains it by its template. When no
// enabled rule selects the repository, every candidate is retained.
// Immutability is not considered here: callers keep immutable artifacts
// whatever the decision.
func Evaluate(rules []Rule, repository string, candidates []Candidate, now time.Time) []Decision {
	out := make([]Decision, len(candidates))
	index := make(map[*Candidate]int, len(candidates))
	all := make([]*Candidate, len(candidates))
	for i := range candidates {
		out[i].Candidate = candidates[i]
		all[i] = &out[i].Candidate
		index[all[i]] = i
	}
	apply := rulesFor(rules, repository)
	if len(apply) == 0 {
		for i := range out {
			out[i].Retain = true
		}
		return out
	}
	for ri := range apply {
		r := &apply[ri]
		var selected []*Candidate
	next:
		for _, c := range all {
			for _, s := range r.TagSelectors {
				if !selectsCandidate(s, c) {
					continue next
				}
			}
			selected = append(selected, c)
		}
		for _, c := range retains(r, selected, now) {
			d := &out[index[c]]
			d.Retain = true
			d.Rules = append(d.Rules, r.ID)
		}
	}
	return out
}
