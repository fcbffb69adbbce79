// SPDX-License-Identifier: MIT

package numballoc

// #include <stdint.h>
// #include <time.h>
// #include <numballoc.h>
//
// /* N alloc+free pairs in C, for the binding's cost beside the C figure
//  * (TestPairCost). Returns the nanoseconds taken, or a negative errno. */
// static int64_t nb_go_pairs(struct numballoc *p, int64_t n)
// {
// 	struct timespec a, b;
// 	uint64_t id;
// 	int r;
//
// 	clock_gettime(CLOCK_MONOTONIC, &a);
// 	for (int64_t i = 0; i < n; i++) {
// 		r = numballoc_alloc(p, &id);
// 		if (r < 0 || (r = numballoc_free(p, id)) < 0)
// 			return r;
// 	}
// 	clock_gettime(CLOCK_MONOTONIC, &b);
// 	return (int64_t)(b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec);
// }
import "C"

import "time"

// cPairs runs n alloc+free pairs in one C call (no cgo crossing per pair)
// and returns the time they took. For the test that prints the binding's
// cost; not part of the API.
func (p *Pool) cPairs(n int) (time.Duration, error) {
	h := p.lock()
	if h == nil {
		return 0, ErrClosed
	}
	defer p.mu.RUnlock()
	r := C.nb_go_pairs(h, C.int64_t(n))
	if r < 0 {
		return 0, check("pairs", C.int(r))
	}
	return time.Duration(r), nil
}
