/* SPDX-License-Identifier: MIT */
/*
 * idpool.h - the ID pool handle, shared by idpool.c and owners.c.
 */
#ifndef NB_IDPOOL_H
#define NB_IDPOOL_H

#include <stdint.h>
#include <sys/types.h>

#include "bitmap.h"
#include "segment.h"

struct numballoc {
	struct nb_segment seg;	/* the mapping; seg.hdr is the validated copy */
	struct nb_bitmap bm;	/* the engine over area 0 */
	uint64_t capacity;	/* IDs in the pool, from the validated header */
	uint64_t base;		/* the first ID */
	unsigned int policy;	/* enum numballoc_policy */
	unsigned int flags;	/* NUMBALLOC_OWNERS when records are kept */
	void *owners;		/* area 1 when flags has NUMBALLOC_OWNERS, else NULL */
	pid_t owner;		/* the holder recorded by this handle's allocations */
};

/* owners.c: who holds what. Without NUMBALLOC_OWNERS they only pass through. */
int nb_owners_layout(struct nb_layout *l);
void nb_owners_attach(struct numballoc *p);
/* Record this handle's holder for the N bits from BIT, which it has just claimed. */
int nb_owners_record(struct numballoc *p, uint64_t bit, uint64_t n);
/* Release the N bits from BIT and their records: -ENOENT, nothing freed, if any is free. */
int nb_owners_release(struct numballoc *p, uint64_t bit, uint64_t n);
/* On -ENOSPC: reclaim what dead holders had; the number reclaimed. */
uint64_t nb_owners_reclaim_on_full(struct numballoc *p);

#endif /* NB_IDPOOL_H */
