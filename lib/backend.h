/* SPDX-License-Identifier: MIT */
/*
 * backend.h - the seam between the ID pool's public functions (idpool.c)
 * and a home for the pool other than shared memory: a server that many
 * hosts reach (Redis first, lib/redis.c; the next store, etcd, is one more
 * file and one more line in nb_backends[], backend.c).
 *
 * The shared-memory pool is the built-in home: a handle whose be is NULL
 * goes down idpool.c's own path, with no indirect call on its hot path.
 * A handle whose be is set sends every operation through these functions.
 *
 * idpool.c checks every argument and turns IDs into bit numbers (0 is the
 * pool's base) before it calls down, so a backend sees only valid bit
 * numbers of its pool, and every backend gives the same -EINVAL for the
 * same bad input. A backend keeps the meaning of each public function,
 * makes each operation one atomic step in its store (never a
 * read-modify-write from the client), and returns 0 or a negative errno.
 */
#ifndef NB_BACKEND_H
#define NB_BACKEND_H

#include <stdint.h>

struct numballoc_opts;

/* What a pool is, fixed at its creation: known without counting anything. */
struct nb_backend_info {
	uint64_t capacity;	/* IDs in the pool, >= 1 */
	uint64_t base;		/* the first ID; base + capacity - 1 <= UINT64_MAX */
	unsigned int policy;	/* enum numballoc_policy */
	unsigned int flags;	/* the pool's NUMBALLOC_* flags (none on a backend today) */
};

struct nb_backend {
	const char *scheme;	/* the URL scheme it serves: "redis" for redis://... */
	/*
	 * Open (with NUMBALLOC_CREATE: create) the pool URL with the checked
	 * OPTS; *CTX is the backend's handle and *INFO what the pool is.
	 */
	int (*open)(const char *url, const struct numballoc_opts *opts, void **ctx,
		    struct nb_backend_info *info);
	void (*close)(void *ctx);
	/* Remove the pool URL and everything it holds. */
	int (*unlink)(const char *url);
	/* The pool's geometry, from the handle: no round trip, no counting. */
	int (*info)(void *ctx, struct nb_backend_info *info);
	/* One bit of [LO, HI] by the pool's policy: -ENOSPC when none is free. */
	int (*alloc)(void *ctx, uint64_t lo, uint64_t hi, uint64_t *bit);
	/* Exactly BIT: -EEXIST if it is allocated. */
	int (*alloc_bit)(void *ctx, uint64_t bit);
	/* The lowest free run of COUNT bits, the first a multiple of ALIGN (0 or 1: any). */
	int (*alloc_run)(void *ctx, uint64_t count, uint64_t align, uint64_t *first);
	/* Release COUNT bits from BIT: -ENOENT, and nothing released, if any is free. */
	int (*release)(void *ctx, uint64_t bit, uint64_t count);
	/* 1 allocated, 0 free. */
	int (*test)(void *ctx, uint64_t bit);
	/* The first allocated bit >= FROM: -ENOENT when there is none. */
	int (*next)(void *ctx, uint64_t from, uint64_t *bit);
	/* Allocated bits and the longest free run, counted now in one consistent view. */
	int (*count)(void *ctx, uint64_t *used, uint64_t *largest_free);
	/* Holder leases (NULL: -EOPNOTSUPP). See numballoc_set_holder(3). */
	int (*set_holder)(void *ctx, const char *holder, uint64_t ttl_ms);
	int (*renew)(void *ctx, uint64_t *count);
	int (*reclaim)(void *ctx, uint64_t *count);
	/* The holder of BIT into BUF (SIZE bytes, NUL-terminated): -ENOENT if none. */
	int (*holder_of)(void *ctx, uint64_t bit, char *buf, size_t size);
	/*
	 * The runs the handle's holder holds, as FIRST, COUNT pairs: the first
	 * MAX pairs in RUNS (2 * MAX numbers), their number in *N.
	 */
	int (*holdings)(void *ctx, uint64_t *runs, size_t max, size_t *n);
};

/*
 * The backend that serves NAME when it is a URL ("scheme://..."); NULL
 * with *ERR 0 when NAME is a plain pool name (no "://"), NULL with *ERR
 * -EOPNOTSUPP when NAME is a URL that no backend of this build serves.
 */
const struct nb_backend *nb_backend_find(const char *name, int *err);

#ifdef HAVE_REDIS
extern const struct nb_backend nb_backend_redis;
extern const struct nb_backend nb_backend_lease;	/* lease.c: leased ranges */
/* redis.c: a release of IDs that the handle's holder leases, for lease.c */
int nb_redis_release_own(void *ctx, uint64_t bit, uint64_t count);
#endif

#endif /* NB_BACKEND_H */
