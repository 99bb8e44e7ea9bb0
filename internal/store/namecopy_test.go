package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestNameCopyMatching compares the name copy's keyword lookup (trigram
// index over the full load, scan of the names added since, merged in name
// order) with a plain scan of every name, over random names and keywords:
// substrings of names, short ones, ones no name holds.
func TestNameCopyMatching(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		const alphabet = "abc-_./0123"
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	var all []repoName
	for i := range 3000 {
		all = append(all, repoName{id: int64(i + 1), name: fmt.Sprintf("p%d/%s", rng.IntN(20), word(2+rng.IntN(12)))})
	}
	base := &nameCopy{extra: slices.Clone(all[:2500])}
	c := base.indexed()
	c.extra = slices.Clone(all[2500:])
	sort.Slice(c.extra, func(i, j int) bool { return c.extra[i].name < c.extra[j].name })
	sorted := slices.Clone(all)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for n := range 2000 {
		var kw string
		switch n % 4 {
		case 0: // a piece of a name
			name := all[rng.IntN(len(all))].name
			i := rng.IntN(len(name))
			kw = name[i : i+1+rng.IntN(len(name)-i)]
		case 1:
			kw = word(1 + rng.IntN(2))
		case 2:
			kw = word(3 + rng.IntN(4))
		default:
			kw = "zz" + word(2)
		}
		var want []int64
		for _, r := range sorted {
			if strings.Contains(r.name, kw) {
				want = append(want, r.id)
			}
		}
		got, ok := c.matching(kw)
		if len(want) > nameMatchesMax {
			if ok {
				t.Fatalf("%q: %d matches, above the limit, not handed to SQL", kw, len(want))
			}
			continue
		}
		// Names may repeat: equal names keep no particular order between
		// base and extra, so compare as sets within equal names.
		if !ok || !sameByName(got, want, all) {
			t.Fatalf("%q: got %v, want %v", kw, got, want)
		}
	}
}

// sameByName reports whether got and want hold the same IDs with their
// names in the same (sorted) order.
func sameByName(got, want []int64, all []repoName) bool {
	if len(got) != len(want) {
		return false
	}
	name := func(id int64) string { return all[id-1].name }
	g, w := slices.Clone(got), slices.Clone(want)
	key := func(s []int64) func(i, j int) bool {
		return func(i, j int) bool {
			if name(s[i]) != name(s[j]) {
				return name(s[i]) < name(s[j])
			}
			return s[i] < s[j]
		}
	}
	for i := 1; i < len(got); i++ {
		if name(got[i-1]) > name(got[i]) {
			return false
		}
	}
	sort.Slice(g, key(g))
	sort.Slice(w, key(w))
	return slices.Equal(g, w)
}
