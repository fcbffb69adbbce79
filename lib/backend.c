/* SPDX-License-Identifier: MIT */
/*
 * backend.c - the homes of an ID pool other than shared memory, chosen by
 * the scheme of the pool's URL (see backend.h). A shared-memory name can
 * never hold "://" (a name has no '/' but a leading one), so a URL and a
 * name are never confused.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "idpool.h"
#include "numballoc.h"

static const struct nb_backend *const nb_backends[] = {
#ifdef HAVE_REDIS
	&nb_backend_redis,
	&nb_backend_lease,
#endif
	NULL,
};

const struct nb_backend *nb_backend_find(const char *name, int *err)
{
	const char *sep = name ? strstr(name, "://") : NULL;
	size_t i, len;

	*err = 0;
	if (!sep)
		return NULL;
	len = (size_t)(sep - name);
	for (i = 0; nb_backends[i]; i++)
		if (strlen(nb_backends[i]->scheme) == len &&
		    !strncmp(nb_backends[i]->scheme, name, len))
			return nb_backends[i];
	*err = -EOPNOTSUPP;
	return NULL;
}

/* ------------------------------------------------------------ dispatch */

/*
 * The handle of a backend pool: the fields idpool.c reads for its checks
 * (capacity, base, policy, flags) are filled from the backend's info; the
 * segment and the engine stay zero and are never touched.
 */
int nb_be_open(const struct nb_backend *be, const char *url, const struct numballoc_opts *o,
	       struct numballoc **poolp)
{
	struct nb_backend_info info;
	struct numballoc *p;
	int r;

	if (o->capacity > NUMBALLOC_CAPACITY_MAX ||
	    (o->capacity && o->base > UINT64_MAX - (o->capacity - 1)))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	r = be->open(url, o, &p->be_ctx, &info);
	if (r < 0) {
		free(p);
		return r;
	}
	p->be = be;
	p->capacity = info.capacity;
	p->base = info.base;
	p->policy = info.policy;
	p->flags = info.flags;
	/* writers then fail with -EROFS in idpool.c, before they dispatch */
	p->rdonly = !!(o->flags & NUMBALLOC_RDONLY);
	*poolp = p;
	return 0;
}

int nb_be_close(struct numballoc *p)
{
	p->be->close(p->be_ctx);
	free(p);
	return 0;
}

int nb_be_alloc_bit(struct numballoc *p, uint64_t bit)
{
	return p->be->alloc_bit(p->be_ctx, bit);
}

int nb_be_alloc_run(struct numballoc *p, uint64_t count, uint64_t align, uint64_t *first)
{
	uint64_t bit;
	int r = p->be->alloc_run(p->be_ctx, count, align, &bit);

	if (r == 0)
		*first = p->base + bit;
	return r;
}

int nb_be_test(struct numballoc *p, uint64_t bit)
{
	return p->be->test(p->be_ctx, bit);
}

int nb_be_next(struct numballoc *p, uint64_t from, uint64_t *id)
{
	uint64_t bit;
	int r = p->be->next(p->be_ctx, from, &bit);

	if (r == 0)
		*id = p->base + bit;
	return r;
}

int nb_be_stat(struct numballoc *p, struct numballoc_stat *st)
{
	uint64_t used, largest;
	int r = p->be->count(p->be_ctx, &used, &largest);

	if (r < 0)
		return r;
	memset(st, 0, sizeof(*st));
	st->capacity = p->capacity;
	st->base = p->base;
	st->used = used;
	st->free = p->capacity - used;
	st->largest_free_run = largest;
	st->policy = p->policy;
	st->flags = p->flags;
	return 0;
}

int nb_be_reclaim(struct numballoc *p, uint64_t *count)
{
	uint64_t n;
	int r;

	if (!p->be->reclaim)
		return -EOPNOTSUPP;
	r = p->be->reclaim(p->be_ctx, &n);
	if (r == 0 && count)
		*count = n;
	return r;
}

/* ------------------------------------------------------------ holder leases */

/*
 * Make HOLDER (NULL: none) the holder of what POOL allocates from now on,
 * with a lease of TTL_MS milliseconds that each allocation and each
 * numballoc_renew() by that holder starts again. -EOPNOTSUPP on a pool
 * that has no leases (shared memory: see numballoc_set_owner()); -EINVAL
 * for an empty or too long name, a blank in it, or a TTL of 0 or above
 * 2^40. Changes nothing on error.
 */
NUMBALLOC_EXPORT int numballoc_set_holder(struct numballoc *pool, const char *holder,
					  uint64_t ttl_ms)
{
	if (!pool)
		return -EINVAL;
	if (!pool->be || !pool->be->set_holder)
		return -EOPNOTSUPP;
	return pool->be->set_holder(pool->be_ctx, holder, ttl_ms);
}

/*
 * Renew the lease of this handle's holder on everything it holds: one
 * atomic step. *COUNT (may be NULL) gets how many IDs it holds; 0 when its
 * lease had already ended (its IDs were released) or it holds nothing.
 */
NUMBALLOC_EXPORT int numballoc_renew(struct numballoc *pool, uint64_t *count)
{
	if (!pool)
		return -EINVAL;
	if (!pool->be || !pool->be->renew)
		return -EOPNOTSUPP;
	if (pool->rdonly)
		return -EROFS;
	return pool->be->renew(pool->be_ctx, count);
}

/* The holder of the leased ID into BUF (SIZE bytes): -ENOENT if it has none. */
NUMBALLOC_EXPORT int numballoc_holder(struct numballoc *pool, uint64_t id, char *buf,
				      size_t size)
{
	if (!pool || !buf || !size)
		return -EINVAL;
	if (!pool->be || !pool->be->holder_of)
		return -EOPNOTSUPP;
	if (id < pool->base || id - pool->base >= pool->capacity)
		return -EINVAL;
	return pool->be->holder_of(pool->be_ctx, id - pool->base, buf, size);
}
