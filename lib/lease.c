/* SPDX-License-Identifier: MIT */
/*
 * lease.c - leased ranges: a host takes blocks of a cluster pool's IDs (in
 * Redis) into a local shared-memory pool and hands them out at local speed.
 * A third backend behind backend.h, built on the other two.
 *
 * The URL: lease+redis://HOST[:PORT]/POOL?local=NAME&holder=H&ttl=MS
 * [&block=N][&<redis options>]. Every process of the host opens the same
 * URL. The local pool NAME has the cluster pool's capacity and base, so an
 * ID has the same bit in both; it is created with every ID allocated
 * ("not this host's"), and a block of BLOCK IDs (a power of two, default
 * 1024) that the host leases from the cluster as holder H is freed into it.
 *
 *	alloc	the local pool (the engine's fast path); when it has none
 *		left, one block more from the cluster (one FCALL, leased to
 *		H), freed into the local pool, and the allocation again
 *	free	into the local pool when the ID is in a block this host
 *		holds, else to the cluster
 *	test, next, stat, alloc_id of an ID outside the host's blocks,
 *	alloc_block: the cluster, where every ID of a held block counts as
 *		allocated (to H)
 *
 * Every LEASE_TICK operations of a thread, the handle looks at the clock:
 * after a third of the TTL it renews H's lease (one FCALL for all blocks)
 * and gives back blocks that have no local allocation (claims all their
 * bits locally first, so no local process can take one, then frees them in
 * the cluster), keeping one. When the renew says that H holds nothing, the
 * lease had ended (the host was stopped or cut off for a TTL) and the
 * cluster may have given its blocks to others: the handle takes every free
 * ID of those blocks out of the local pool. A handle whose last renew is
 * older than two thirds of the TTL allocates nothing (-ETIMEDOUT) until a
 * renew succeeds. The clock is read only every LEASE_TICK operations (a
 * read costs more than an allocation here), so a host must also renew on
 * a timer of its own (numballoc_renew()) while it is idle, as every lease
 * holder must. A host that dies renews nothing: its blocks come back
 * to the cluster when the lease ends. So no ID is held by two hosts, as
 * long as a host's clock does not run slower than a third of the TTL
 * allows, and a process that is stopped longer than the TTL stops using
 * the IDs it held (see numballoc_redis(7)).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "idpool.h"
#include "numballoc.h"

#define LEASE_TICK 256		/* operations of a thread between looks at the clock */
#define DEFAULT_BLOCK 1024
#define MAX_RUNS 4096		/* blocks a holder may hold, as seen by one renew */

struct lease {
	pthread_mutex_t lock;	/* renew, refill and the block map: one thread at a time */
	struct numballoc *cluster;	/* the pool in Redis, with holder H */
	struct numballoc *local;	/* the host's shared-memory pool */
	uint64_t capacity, base, block, ttl_ms;
	unsigned int shift;	/* block == 1 << shift: the block of a bit without a division */
	uint64_t nblocks;	/* ceil(capacity / block) */
	unsigned char *held;	/* per block: 1 when this handle knows H holds it */
	uint64_t renewed_ns;	/* monotonic time of the last successful renew or refill */
	uint64_t *runs;		/* scratch for holdings */
};

static uint64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/*
 * The block map and the renew time are read by every thread's hot path and
 * written under l->lock: relaxed atomics, no lock to read them.
 */
static inline int held_get(const struct lease *l, uint64_t k)
{
	return __atomic_load_n(&l->held[k], __ATOMIC_RELAXED);
}

static inline void held_set(struct lease *l, uint64_t k, unsigned char v)
{
	__atomic_store_n(&l->held[k], v, __ATOMIC_RELAXED);
}

static void held_clear(struct lease *l)
{
	uint64_t k;

	for (k = 0; k < l->nblocks; k++)
		held_set(l, k, 0);
}

static void renewed_now(struct lease *l)
{
	__atomic_store_n(&l->renewed_ns, mono_ns(), __ATOMIC_RELAXED);
}

/* "name=value" of the URL's query into *VAL (a new string), removed from URL. */
static int take_option(char *url, const char *name, char **val)
{
	char *q = strchr(url, '?'), *o, *end;
	size_t n = strlen(name);

	*val = NULL;
	if (!q)
		return 0;
	for (o = q + 1; o && *o; o = end ? end + 1 : NULL) {
		end = strchr(o, '&');
		if (strncmp(o, name, n) || o[n] != '=')
			continue;
		*val = strndup(o + n + 1, end ? (size_t)(end - o - n - 1) : strlen(o + n + 1));
		if (!*val)
			return -ENOMEM;
		/* cut it out, with its separator */
		if (end)
			memmove(o, end + 1, strlen(end + 1) + 1);
		else
			o[-1] = 0;
		return 0;
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

/* Refresh the map of blocks H holds from the cluster; 0, or a negative errno. */
static int refresh(struct lease *l)
{
	size_t n, i;
	uint64_t b;
	int r = l->cluster->be->holdings(l->cluster->be_ctx, l->runs, MAX_RUNS, &n);

	if (r < 0)
		return r;
	held_clear(l);
	for (i = 0; i < n && i < MAX_RUNS; i++)
		for (b = l->runs[2 * i]; b < l->runs[2 * i] + l->runs[2 * i + 1]; b += l->block)
			if (b % l->block == 0 && b + l->block <= l->runs[2 * i] + l->runs[2 * i + 1])
				held_set(l, b / l->block, 1);
	return 0;
}

/* Take every free ID of block K out of the local pool (it is not the host's any more). */
static void withdraw(struct lease *l, uint64_t k)
{
	uint64_t id = l->base + k * l->block, end = id + l->block, i;

	if (end - l->base > l->capacity)
		end = l->base + l->capacity;
	for (i = id; i < end; i++)
		numballoc_alloc_id(l->local, i);	/* -EEXIST: held here, or not the host's */
}

/*
 * Give block K back to the cluster if no local process holds an ID of it:
 * claim all of its IDs locally first (a CAS each), so that no local
 * process takes one meanwhile; undo when one was taken.
 */
static void give_back(struct lease *l, uint64_t k)
{
	uint64_t first = l->base + k * l->block, i, next;

	if (numballoc_next(l->local, first, &next) == 0 && next < first + l->block)
		return;	/* one is allocated (or not the host's): not idle */
	for (i = 0; i < l->block; i++) {
		if (numballoc_alloc_id(l->local, first + i) < 0) {
			while (i--)
				numballoc_free(l->local, first + i);
			return;
		}
	}
	if (nb_redis_release_own(l->cluster->be_ctx, first - l->base, l->block) == 0) {
		held_set(l, k, 0);
		return;
	}
	/* the cluster did not take it back: it stays the host's */
	numballoc_free_block(l->local, first, l->block);
}

/* Renew H's lease and give back idle blocks; under l->lock. */
static int renew(struct lease *l)
{
	uint64_t count, k, kept = 0;
	int r = numballoc_renew(l->cluster, &count);

	if (r < 0)
		return r;
	if (count == 0) {
		/* the lease had ended: whatever this handle took for the host's is not */
		for (k = 0; k < l->nblocks; k++)
			if (held_get(l, k))
				withdraw(l, k);
		held_clear(l);
	} else {
		r = refresh(l);
		if (r < 0)
			return r;
		for (k = 0; k < l->nblocks; k++) {
			if (!held_get(l, k))
				continue;
			if (kept++)
				give_back(l, k);
		}
	}
	renewed_now(l);
	return 0;
}

static __thread __attribute__((tls_model("initial-exec"))) unsigned int ticks;

/*
 * The clock, every LEASE_TICK operations (FORCE: now, on a slow path): 0,
 * or -ETIMEDOUT when the lease cannot be vouched for.
 */
static __attribute__((noinline)) int tick_slow(struct lease *l)
{
	uint64_t now, age;
	int r = 0;

	now = mono_ns();
	age = now - __atomic_load_n(&l->renewed_ns, __ATOMIC_RELAXED);
	if (age < l->ttl_ms * 1000000 / 3)
		return 0;
	pthread_mutex_lock(&l->lock);
	if (mono_ns() - __atomic_load_n(&l->renewed_ns, __ATOMIC_RELAXED) >=
	    l->ttl_ms * 1000000 / 3)
		r = renew(l);
	age = mono_ns() - __atomic_load_n(&l->renewed_ns, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&l->lock);
	if (r < 0 && age >= l->ttl_ms * 1000000 * 2 / 3) {
		ticks = LEASE_TICK - 1;	/* try again at the next call */
		return -ETIMEDOUT;
	}
	return 0;
}

static inline int tick(struct lease *l, int force)
{
	if (++ticks % LEASE_TICK && !force)
		return 0;
	return tick_slow(l);
}

/* One block more from the cluster into the local pool. */
static int refill(struct lease *l)
{
	uint64_t first;
	int r;

	pthread_mutex_lock(&l->lock);
	r = numballoc_alloc_block(l->cluster, l->block, l->block, &first);
	if (r == 0) {
		held_set(l, (first - l->base) / l->block, 1);
		renewed_now(l);	/* an allocation restarts H's lease */
		r = numballoc_free_block(l->local, first, l->block);
	}
	pthread_mutex_unlock(&l->lock);
	return r;
}

static int lease_alloc(void *ctx, uint64_t lo, uint64_t hi, uint64_t *bit)
{
	struct lease *l = ctx;
	uint64_t id;
	int r = tick(l, 0), tries;

	if (r < 0)
		return r;
	for (tries = 0; tries < 2; tries++) {
		if (lo == 0 && hi == l->capacity - 1)
			r = nb_ids_alloc(l->local, &id);
		else
			r = numballoc_alloc_in(l->local, l->base + lo, l->base + hi, &id);
		if (r != -ENOSPC || tries)
			break;
		r = tick(l, 1);	/* the slow path: renew when due, however few calls came */
		if (r == 0)
			r = refill(l);
		if (r < 0)
			break;
	}
	if (r == 0)
		*bit = id - l->base;
	return r;
}

/* Whether block K is the host's, asking the cluster when this handle does not know. */
static int is_held(struct lease *l, uint64_t k)
{
	int r;

	if (held_get(l, k))
		return 1;
	pthread_mutex_lock(&l->lock);
	r = refresh(l);
	pthread_mutex_unlock(&l->lock);
	return r < 0 ? r : held_get(l, k);
}

static int lease_alloc_bit(void *ctx, uint64_t bit)
{
	struct lease *l = ctx;
	int r = tick(l, 0);

	if (r < 0)
		return r;
	if (held_get(l, bit >> l->shift))
		return numballoc_alloc_id(l->local, l->base + bit);
	return numballoc_alloc_id(l->cluster, l->base + bit);
}

static int lease_alloc_run(void *ctx, uint64_t count, uint64_t align, uint64_t *first)
{
	struct lease *l = ctx;
	uint64_t id;
	int r = numballoc_alloc_block(l->cluster, count, align, &id);

	if (r == 0)
		*first = id - l->base;
	return r;
}

static int lease_release(void *ctx, uint64_t bit, uint64_t count)
{
	struct lease *l = ctx;
	uint64_t k = bit >> l->shift;
	int r;

	if (count == 1 || (bit + count - 1) >> l->shift == k) {
		r = is_held(l, k);
		if (r < 0)
			return r;
		if (r) {
			tick(l, 0);
			return count == 1 ? nb_ids_free(l->local, l->base + bit)
					  : numballoc_free_block(l->local, l->base + bit, count);
		}
	}
	/* only what H leases: after a lost lease, an old ID may be another host's */
	return nb_redis_release_own(l->cluster->be_ctx, bit, count);
}

static int lease_test(void *ctx, uint64_t bit)
{
	struct lease *l = ctx;

	if (held_get(l, bit >> l->shift))
		return numballoc_test(l->local, l->base + bit);
	return numballoc_test(l->cluster, l->base + bit);
}

static int lease_next(void *ctx, uint64_t from, uint64_t *bit)
{
	struct lease *l = ctx;
	uint64_t id;
	int r = numballoc_next(l->cluster, l->base + from, &id);

	if (r == 0)
		*bit = id - l->base;
	return r;
}

static int lease_count(void *ctx, uint64_t *used, uint64_t *largest)
{
	struct lease *l = ctx;
	struct numballoc_stat st;
	int r = numballoc_stat(l->cluster, &st);

	if (r == 0) {
		*used = st.used;
		*largest = st.largest_free_run;
	}
	return r;
}

static int lease_info(void *ctx, struct nb_backend_info *info)
{
	struct lease *l = ctx;

	info->capacity = l->capacity;
	info->base = l->base;
	info->policy = l->local->policy;
	info->flags = 0;
	return 0;
}

static int lease_renew(void *ctx, uint64_t *count)
{
	struct lease *l = ctx;
	int r;

	pthread_mutex_lock(&l->lock);
	r = renew(l);
	pthread_mutex_unlock(&l->lock);
	if (r == 0 && count)
		r = numballoc_renew(l->cluster, count);
	return r;
}

static int lease_reclaim(void *ctx, uint64_t *count)
{
	struct lease *l = ctx;

	return numballoc_reclaim(l->cluster, count);
}

static void lease_close(void *ctx)
{
	struct lease *l = ctx;

	numballoc_close(l->cluster);
	numballoc_close(l->local);
	free(l->held);
	free(l->runs);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static int lease_unlink(const char *url)
{
	(void)url;
	return -EINVAL;	/* remove the cluster pool by its redis:// URL, the local one by its name */
}

static int lease_open(const char *url, const struct numballoc_opts *o, void **ctx,
		      struct nb_backend_info *info)
{
	char *u = strdup(url + strlen("lease+")), *local = NULL, *holder = NULL, *ttl = NULL,
	     *block = NULL;
	struct numballoc_opts lo;
	struct lease *l = calloc(1, sizeof(*l));
	uint64_t b = DEFAULT_BLOCK, t = 0, count;
	int r = -ENOMEM;

	if (!u || !l)
		goto out;
	pthread_mutex_init(&l->lock, NULL);
	r = take_option(u, "local", &local);
	if (r == 0)
		r = take_option(u, "holder", &holder);
	if (r == 0)
		r = take_option(u, "ttl", &ttl);
	if (r == 0)
		r = take_option(u, "block", &block);
	if (r < 0)
		goto out;
	r = -EINVAL;
	if (!local || !holder || parse_u64(ttl, &t) < 0 || t < 3 ||
	    (block && (parse_u64(block, &b) < 0 || !b || (b & (b - 1)))))
		goto out;
	r = nb_be_open(&nb_backend_redis, u, o, &l->cluster);
	if (r < 0)
		goto out;
	r = numballoc_set_holder(l->cluster, holder, t);
	if (r < 0)
		goto out;
	l->capacity = l->cluster->capacity;
	l->base = l->cluster->base;
	l->block = b;
	l->shift = (unsigned int)__builtin_ctzll(b);
	l->ttl_ms = t;
	if (b > l->capacity) {
		r = -EINVAL;
		goto out;
	}
	l->nblocks = (l->capacity + b - 1) / b;
	l->held = calloc(l->nblocks, 1);
	l->runs = calloc(2 * MAX_RUNS, sizeof(*l->runs));
	if (!l->held || !l->runs) {
		r = -ENOMEM;
		goto out;
	}
	memset(&lo, 0, sizeof(lo));
	lo.capacity = l->capacity;
	lo.base = l->base;
	lo.policy = l->cluster->policy;
	lo.flags = NUMBALLOC_CREATE;
	r = nb_ids_open(local, &lo, &l->local, 1);
	if (r < 0)
		goto out;
	/* the host's blocks now; none: an earlier life's are not its own any more */
	pthread_mutex_lock(&l->lock);
	r = numballoc_renew(l->cluster, &count);
	if (r == 0 && count == 0) {
		uint64_t id;

		while (numballoc_alloc(l->local, &id) == 0)
			;
	} else if (r == 0) {
		r = refresh(l);
	}
	renewed_now(l);
	pthread_mutex_unlock(&l->lock);
	if (r < 0)
		goto out;
	info->capacity = l->capacity;
	info->base = l->base;
	info->policy = l->cluster->policy;
	info->flags = 0;
	*ctx = l;
	l = NULL;
out:
	if (l && l->cluster)
		numballoc_close(l->cluster);
	if (l && l->local)
		numballoc_close(l->local);
	if (l) {
		free(l->held);
		free(l->runs);
		free(l);
	}
	free(u);
	free(local);
	free(holder);
	free(ttl);
	free(block);
	return r;
}

const struct nb_backend nb_backend_lease = {
	.scheme = "lease+redis",
	.open = lease_open,
	.close = lease_close,
	.unlink = lease_unlink,
	.info = lease_info,
	.alloc = lease_alloc,
	.alloc_bit = lease_alloc_bit,
	.alloc_run = lease_alloc_run,
	.release = lease_release,
	.test = lease_test,
	.next = lease_next,
	.count = lease_count,
	.renew = lease_renew,
	.reclaim = lease_reclaim,
};
