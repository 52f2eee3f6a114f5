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
	prio   int // 0-based place in the priority order: location_priority, then Priority, then id
	pickup bool
	dist   *float64 // closest only; nil when unknown
}

// priorityOrder sorts locations by the priority rank: listed in
// allocation.location_priority first, in list order; then by
// Location.Priority; then by id, which is unique, so the order is total.
func priorityOrder(locs []Location, listed []string) []Location {
	pos := make(map[string]int, len(listed))
	for i, id := range listed {
		if _, dup := pos[id]; !dup {
			pos[id] = i
		}
	}
	out := slices.Clone(locs)
	slices.SortFunc(out, func(a, b Location) int {
		pa, oka := pos[a.ID]
		pb, okb := pos[b.ID]
		switch {
		case oka && okb:
			return cmp.Compare(pa, pb)
		case oka:
			return -1
		case okb:
			return 1
		}
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), strings.Compare(a.ID, b.ID))
	})
	return out
}

// rankBy sorts candidates by the pickup location first, then by compare
// (nil for none), then by the priority rank, which ends in the unique
// location id, so the order is total and independent of input order.
func rankBy(cands []*candidate, compare func(a, b *candidate) int) []*candidate {
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
		return cmp.Compare(a.prio, b.prio)
	})
	return out
}

// byDistance ranks known distances first, nearest first; unknown ones
// follow in priority order (Magento DistanceBasedAlgorithm, edge case 20).
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
