/* SPDX-License-Identifier: MIT */
/*
 * idpool.h - the ID pool handle, shared by idpool.c and owners.c.
 */
#ifndef NB_IDPOOL_H
#define NB_IDPOOL_H

#include <stdint.h>
#include <sys/types.h>

#include "backend.h"
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
	uint64_t hint_key;	/* never reused in this process: keys the spread hints (idpool.c) */
	int rdonly;		/* opened NUMBALLOC_RDONLY: writers return -EROFS (the map is PROT_READ) */
	uint64_t owner;		/* holder identity recorded by this handle's allocations
				 * (pid | start time << 22, see owners.c); 0: the caller */
	const struct nb_backend *be;	/* the pool's home when not shared memory, else NULL */
	void *be_ctx;		/* the backend's handle (backend.h) */
	int fast;		/* NB_FAST_*: a writable packed shared-memory pool without
				 * owner records, whose calls take idpool.c's inline
				 * paths; 0: any other (set once, at open) */
	uint64_t fastlimit;	/* issue 20, session 6: fast: the bits below this (every
				 * word but the last) are freed by the inline paths, one
				 * compare for the range and the fast part; 0: not fast */
};
#define NB_FAST_SPREAD 1	/* fast, SPREAD */
#define NB_FAST_OTHER 2		/* fast, LOWEST without the advice word (a version-3 pool) */
#define NB_FAST_LOWEST 3	/* fast, LOWEST with the advice word (issue 20; bitmap.h) */
#define NB_FAST_CYCLIC 4	/* fast, CYCLIC (issue 20 session 3: its own straight line) */

/*
 * backend.c: the public functions on a pool whose be is set, after
 * idpool.c's checks; bits as in shared memory (0 is the base).
 */
struct nb_backend;
struct numballoc_opts;
struct numballoc_stat;
int nb_be_open(const struct nb_backend *be, const char *url, const struct numballoc_opts *o,
	       struct numballoc **poolp);
int nb_be_close(struct numballoc *p);
int nb_be_alloc_bit(struct numballoc *p, uint64_t bit);
int nb_be_alloc_run(struct numballoc *p, uint64_t count, uint64_t align, uint64_t *first);
int nb_be_test(struct numballoc *p, uint64_t bit);
int nb_be_next(struct numballoc *p, uint64_t from, uint64_t *id);
int nb_be_stat(struct numballoc *p, struct numballoc_stat *st);
int nb_be_reclaim(struct numballoc *p, uint64_t *count);

/* The two calls of a leased range's hot path (lease.c), inline: no call more than needed. */
static inline int nb_be_alloc(struct numballoc *p, uint64_t lo, uint64_t hi, uint64_t *id)
{
	uint64_t bit;
	int r = p->be->alloc(p->be_ctx, lo, hi, &bit);

	if (r == 0)
		*id = p->base + bit;
	return r;
}

static inline int nb_be_release(struct numballoc *p, uint64_t bit, uint64_t count)
{
	return p->be->release(p->be_ctx, bit, count);
}

/* numballoc_alloc() and numballoc_free() without the PLT, for lease.c. */
int nb_ids_alloc(struct numballoc *pool, uint64_t *id);
int nb_ids_free(struct numballoc *pool, uint64_t id);
/* idpool.c: numballoc_open(); FULL: a pool it creates starts with every ID allocated. */
int nb_ids_open(const char *name, const struct numballoc_opts *opts, struct numballoc **poolp,
		int full);

/* owners.c: who holds what. Without NUMBALLOC_OWNERS they only pass through. */
int nb_owners_layout(struct nb_layout *l);
void nb_owners_attach(struct numballoc *p);
/*
 * Claims on a pool with owner records (p->owners != NULL), in place of the
 * engine's: the same arguments and results, and the record is written
 * first (see the protocol in owners.c).
 */
int nb_owners_claim_any(struct numballoc *p, uint64_t lo, uint64_t hi, uint64_t start,
			uint64_t *bit);
int nb_owners_claim_bit(struct numballoc *p, uint64_t bit);
int nb_owners_claim_run(struct numballoc *p, uint64_t n, uint64_t align, uint64_t lo,
			uint64_t hi, uint64_t *first);
/* Release the N bits from BIT and their records: -ENOENT, nothing freed, if any is free. */
int nb_owners_release(struct numballoc *p, uint64_t bit, uint64_t n);
/* On -ENOSPC: reclaim what dead holders had; the number reclaimed. */
uint64_t nb_owners_reclaim_on_full(struct numballoc *p);

/*
 * Identities (owners.c), also for the buffer's chunk records (issue 16):
 * pid | start time << 22. The caller's (-ENOSYS without /proc), and that
 * of the running process PID (-ESRCH when there is none).
 */
int nb_ident_self(uint64_t *ident);
int nb_ident_of(pid_t pid, uint64_t *ident);

#endif /* NB_IDPOOL_H */
