package diag

import (
	"fmt"
	"strings"
)

// Suggest returns the candidate closest to name, or "" when none is close
// enough to be a plausible typo. Closeness is the optimal-string-alignment
// edit distance (a transposition counts as one edit) on lower-cased names,
// accepting at most a third of the name's length, and at least one edit;
// a candidate the name is a prefix of (three characters or more) counts as
// close enough, as does one that is a prefix of the name and at least half
// as long.
func Suggest(name string, candidates []string) string {
	best, bestDist := "", -1
	limit := max(1, len([]rune(name))/3)
	lname := strings.ToLower(name)
	for _, c := range candidates {
		if c == name {
			continue
		}
		d := editDistance(lname, strings.ToLower(c))
		// A name cut short ("user" for "username") is a near miss too, and
		// so is a name with a word added ("lowercase" for "lower").
		lc := strings.ToLower(c)
		if len(lname) >= 3 && strings.HasPrefix(lc, lname) || len(lc) >= 3 && 2*len(lc) >= len(lname) && strings.HasPrefix(lname, lc) {
			d = min(d, limit)
		}
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// DidYouMean formats a hint for Suggest's answer, or returns "" when there is
// no suggestion.
func DidYouMean(name string, candidates []string) string {
	if s := Suggest(name, candidates); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return ""
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows suffice for the optimal-string-alignment distance.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
