package allocation

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
)

// earthRadiusKm is the mean Earth radius used by haversine.
const earthRadiusKm = 6371.0088

// haversineKm is the great-circle distance between two points (Shopify's
// "closest location" uses the straight-line haversine distance).
func haversineKm(a, b LatLng) float64 {
	rad := func(d float64) float64 { return d * math.Pi / 180 }
	dLat, dLng := rad(b.Lat-a.Lat), rad(b.Lng-a.Lng)
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(rad(a.Lat))*math.Cos(rad(b.Lat))*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(h)))
}

// candidate is an eligible location with its sort keys.
type candidate struct {
	loc    Location
	listed int // place in allocation.location_priority; -1 when not listed
	pickup bool
	dist   *float64 // to the destination; nil when unknown
}

// priorityOrder sorts locations by the priority rank: listed in
// allocation.location_priority first, in list order; then by
// Location.Priority; then by id, which is unique, so the order is total.
func priorityOrder(locs []Location, listed []string) []Location {
	pos := listPositions(listed)
	out := slices.Clone(locs)
	slices.SortFunc(out, func(a, b Location) int {
		return cmp.Or(comparePriority(position(pos, a.ID), a.Priority, position(pos, b.ID), b.Priority), strings.Compare(a.ID, b.ID))
	})
	return out
}

// listPositions maps each location id of location_priority to its first
// place in the list.
func listPositions(listed []string) map[string]int {
	pos := make(map[string]int, len(listed))
	for i, id := range listed {
		if _, dup := pos[id]; !dup {
			pos[id] = i
		}
	}
	return pos
}

func position(pos map[string]int, id string) int {
	if p, ok := pos[id]; ok {
		return p
	}
	return -1
}

// comparePriority is the priority key, without the id: listed locations
// first, in list order, then by Location.Priority. Two unlisted locations
// of equal priority tie, for the tie-breakers to order.
func comparePriority(listedA, prioA, listedB, prioB int) int {
	switch {
	case listedA >= 0 && listedB >= 0:
		return cmp.Compare(listedA, listedB)
	case listedA >= 0:
		return -1
	case listedB >= 0:
		return 1
	}
	return cmp.Compare(prioA, prioB)
}

func byPriority(a, b *candidate) int {
	return comparePriority(a.listed, a.loc.Priority, b.listed, b.loc.Priority)
}

// rankBy sorts candidates by the pickup location first, then by compare
// (nil for none), then by the tie-breakers in turn, which end in the
// unique location id, so the order is total and independent of input
// order.
func rankBy(cands []*candidate, compare func(a, b *candidate) int, ties []TieBreaker) []*candidate {
	out := slices.Clone(cands)
	slices.SortFunc(out, func(a, b *candidate) int {
		if a.pickup != b.pickup {
			if a.pickup {
				return -1
			}
			return 1
		}
		if compare != nil {
			if c := compare(a, b); c != 0 {
				return c
			}
		}
		for _, tb := range ties {
			var c int
			switch tb {
			case TiePriority:
				c = byPriority(a, b)
			case TieDistance:
				c = byDistance(a, b)
			case TieLocationID:
				c = strings.Compare(a.loc.ID, b.loc.ID)
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	return out
}

// byDistance ranks known distances first, nearest first; unknown ones
// tie, for the tie-breakers to order (Magento DistanceBasedAlgorithm puts
// them after the known ones in priority order, edge case 20).
func byDistance(a, b *candidate) int {
	switch {
	case a.dist == nil && b.dist == nil:
		return 0
	case a.dist == nil:
		return 1
	case b.dist == nil:
		return -1
	}
	return cmp.Compare(*a.dist, *b.dist)
}

// byStock ranks by a per-location quantity, highest first.
func byStock(units map[string]decimal.Decimal) func(a, b *candidate) int {
	return func(a, b *candidate) int {
		return units[b.loc.ID].Cmp(units[a.loc.ID])
	}
}
