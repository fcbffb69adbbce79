// SPDX-License-Identifier: MIT

package numballoc

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

// TestPairCost prints what one alloc+free pair costs through the binding
// beside the same pairs made by a loop in C (one cgo call for all), on
// the same pool in the same run: medians of 5 alternating rounds. It
// asserts nothing about the figures.
func TestPairCost(t *testing.T) {
	const n = 200000
	p := mustOpen(t, poolName(t), Options{Capacity: 1 << 16, Policy: Spread, Flags: Create})
	var goNs, cNs []float64
	for round := 0; round < 5; round++ {
		d, err := p.cPairs(n)
		if err != nil {
			t.Fatal(err)
		}
		cNs = append(cNs, float64(d.Nanoseconds())/n)
		start := time.Now()
		for i := 0; i < n; i++ {
			id, err := p.Alloc()
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Free(id); err != nil {
				t.Fatal(err)
			}
		}
		goNs = append(goNs, float64(time.Since(start).Nanoseconds())/n)
	}
	sort.Float64s(goNs)
	sort.Float64s(cNs)
	fmt.Printf("# alloc+free pair, spread pool of 65536 IDs, median of 5 rounds of %d: Go binding %.1f ns, C %.1f ns (%.2fx)\n",
		n, goNs[2], cNs[2], goNs[2]/cNs[2])
}

// BenchmarkAllocFree: go test -bench AllocFree -run '^$'
func BenchmarkAllocFree(b *testing.B) {
	p, err := Open("", Options{Capacity: 1 << 16, Policy: Spread})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id, err := p.Alloc()
			if err != nil {
				b.Fatal(err)
			}
			p.Free(id)
		}
	})
}
