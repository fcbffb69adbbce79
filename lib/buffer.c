/* SPDX-License-Identifier: MIT */
/*
 * buffer.c - the offset buffer allocator: pyglet's Allocator (alloc,
 * dealloc, realloc in place, merged regions, free size, fragmentation,
 * usage, set_capacity) on the lock-free engine, one bit per unit of the
 * caller's buffer, in a segment of kind NB_KIND_BUFFER.
 *
 * Header parameters: capacity = units at creation, param[0] = bytes per
 * unit, param[1] = the most units it may grow to, param[2] = 1 when the
 * words are laid out for the maximum from the start (private memory,
 * which cannot be extended in place). Area 0, the only one, is a growable
 * engine area (bitmap.c: the summary and the run index for the maximum,
 * then the words), so the object grows at its end and nothing ever moves.
 *
 * First fit is the engine's run search (nb_bitmap_claim_run() from 0): its
 * run index skips the parts of the buffer that cannot hold the run, and
 * -ENOSPC comes from its definitive pass, so the allocator never lies
 * about a fit. With one thread the fit is the lowest; between threads a
 * race can put it above a lower one that appeared meanwhile.
 *
 * Growth. The current capacity is the header's capacity_now word (0 =
 * the creation capacity), raised only, by CAS, after the object has been
 * extended far enough for it. Each process sees the engine through a
 * view: a mapping and an nb_bitmap sized for one capacity. Views are
 * published with urcu-bp (rcu_assign_pointer); every operation reads the
 * view inside rcu_read_lock() and first compares the shared capacity with
 * its view's: a larger one makes it map the object anew, publish the new
 * view, wait for a grace period and unmap the old one. A view smaller than
 * the capacity is still correct (it sees fewer words); an allocation that
 * fails in it looks again in a fresh view before it answers -ENOSPC.
 * Grace periods cover this process only: nothing shared depends on them.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <urcu-bp.h>
#include <urcu/uatomic.h>
#ifdef NB_TSAN_UATOMIC_H
#include <sanitizer/tsan_interface.h>
#endif

#include "bitmap.h"
#include "numballoc.h"
#include "segment.h"

/*
 * The view pointer is published and read with liburcu's rcu_assign_pointer()
 * and rcu_dereference(), and old views are freed after synchronize_rcu().
 * ThreadSanitizer sees neither their barriers nor the grace period; its
 * build (lib/tsan_uatomic.h) gets the same order from release and acquire
 * builtins, and is told what a grace period guarantees (every read-side
 * section that began before it has ended) with __tsan_release() at each
 * rcu_read_unlock() and __tsan_acquire() after synchronize_rcu(), on an
 * address of their own: the release store that publishes a view would
 * otherwise replace what the readers' releases accumulated there.
 */
#ifdef NB_TSAN_UATOMIC_H
#define view_publish(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define view_read(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
/* What a grace period guarantees: every reader's section ends before it ends. */
#define view_leave(b) do { __tsan_release(&(b)->grace); rcu_read_unlock(); } while (0)
#define view_grace(b) do { synchronize_rcu(); __tsan_acquire(&(b)->grace); } while (0)
#else
#define view_publish(p, v) rcu_assign_pointer(p, v)
#define view_read(p) rcu_dereference(p)
#define view_leave(b) rcu_read_unlock()
#define view_grace(b) synchronize_rcu()
#endif

#define DEFAULT_MAX (UINT64_C(1) << 32)

struct buf_view {
	struct nb_bitmap bm;	/* the engine over the first bm.nbits units */
	void *map;		/* a mapping this view owns, or NULL (the segment's) */
	size_t size;		/* bytes of map */
};

struct numballoc_buf {
	struct nb_segment seg;		/* the object; seg.hdr is the validated copy */
	struct buf_view *view;		/* RCU: the newest view; never NULL */
	uint64_t *capword;		/* the shared capacity_now: untrusted, checked at each read */
	uint64_t cap0;			/* units at creation, from the validated header */
	uint64_t maxu;			/* the most units, from the validated header */
	uint64_t unit;			/* bytes per unit, >= 1 */
	pthread_mutex_t lock;		/* one remapper at a time in this process */
	char grace;			/* ThreadSanitizer's name for "a grace period ended" */
};

/*
 * The default growth limit in units: the larger of the capacity and 2^32
 * units, but never more bytes than NUMBALLOC_CAPACITY_MAX (byte offsets
 * must fit): with a unit above 256, 2^32 units would not.
 */
static uint64_t default_max(uint64_t cap, uint64_t unit)
{
	uint64_t m = cap > DEFAULT_MAX ? cap : DEFAULT_MAX;

	return m < NUMBALLOC_CAPACITY_MAX / unit ? m : NUMBALLOC_CAPACITY_MAX / unit;
}

/*
 * Also the check of every header that is opened: sizes in bytes
 * (units times the unit) never exceed NUMBALLOC_CAPACITY_MAX.
 */
static int buf_layout(struct nb_layout *l)
{
	if (l->param[0] == 0)
		l->param[0] = 1;
	if (l->param[0] > NUMBALLOC_CAPACITY_MAX)
		return -EINVAL;
	if (l->param[1] == 0)
		l->param[1] = default_max(l->capacity, l->param[0]);
	if (l->capacity == 0 || l->param[1] < l->capacity ||
	    l->param[1] > NUMBALLOC_CAPACITY_MAX / l->param[0] ||
	    l->param[2] > 1 || l->param[3] || l->policy || l->flags || l->base)
		return -EINVAL;
	l->area_size[0] = nb_bitmap_grow_bytes(l->param[2] ? l->param[1] : l->capacity,
					       l->param[1]);
	l->area_align[0] = 64;
	return 0;
}

static int buf_init(void *base, const struct nb_header *h, void *arg)
{
	struct nb_bitmap bm;

	(void)arg;
	nb_bitmap_attach_grow(&bm, (char *)base + h->area_off[0], h->capacity, h->param[1]);
	nb_bitmap_init_grow(&bm);
	return 0;
}

/* The shared capacity in units, never trusted: out of range reads as the creation one. */
static uint64_t cap_now(const struct numballoc_buf *b)
{
	uint64_t c = uatomic_read(b->capword);

	return c > b->cap0 && c <= b->maxu ? c : b->cap0;
}

static void view_free(struct buf_view *v)
{
	if (v->map)
		munmap(v->map, v->size);
	free(v);
}

/* A view of the first NBITS units; maps the object anew when it must. */
static int view_new(struct numballoc_buf *b, uint64_t nbits, struct buf_view **vp)
{
	uint64_t size = b->seg.hdr->area_off[0] + nb_bitmap_grow_bytes(nbits, b->maxu);
	struct buf_view *v;
	char *map = b->seg.map;
	int r;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (size > b->seg.size) {
		r = nb_segment_map(&b->seg, size, &v->map);
		if (r < 0) {
			free(v);
			return r;
		}
		v->size = (size_t)size;
		map = v->map;
	}
	nb_bitmap_attach_grow(&v->bm, map + b->seg.hdr->area_off[0], nbits, b->maxu);
	*vp = v;
	return 0;
}

/*
 * Publish a view of the shared capacity if it is larger than the current
 * view's. Called outside any read-side critical section.
 */
static int view_refresh(struct numballoc_buf *b)
{
	struct buf_view *old, *v;
	uint64_t c;
	int r;

	pthread_mutex_lock(&b->lock);
	old = b->view;
	c = cap_now(b);
	if (c <= old->bm.nbits) {
		pthread_mutex_unlock(&b->lock);
		return 0;
	}
	r = view_new(b, c, &v);
	if (r < 0) {
		pthread_mutex_unlock(&b->lock);
		return r;
	}
	view_publish(b->view, v);
	pthread_mutex_unlock(&b->lock);
	view_grace(b);
	view_free(old);
	return 0;
}

/*
 * Enter a read-side critical section with a view at least as large as the
 * shared capacity was on entry (or the newest one this process could map).
 */
static struct buf_view *view_enter(struct numballoc_buf *b)
{
	struct buf_view *v;

	rcu_read_lock();
	v = view_read(b->view);
	if (cap_now(b) <= v->bm.nbits)
		return v;
	view_leave(b);
	view_refresh(b);	/* on failure the older view is still correct */
	rcu_read_lock();
	return view_read(b->view);
}

/* After -ENOSPC in view V: is there a larger capacity to look in? */
static int grew_since(struct numballoc_buf *b, const struct buf_view *v)
{
	return cap_now(b) > v->bm.nbits;
}

static int opts_check(const struct numballoc_buf_opts *o)
{
	if (!nb_zeroed(o->reserved_u, sizeof(o->reserved_u)) ||
	    !nb_zeroed(o->reserved, sizeof(o->reserved)))
		return -EINVAL;
	if (o->flags & ~(NUMBALLOC_CREATE | NUMBALLOC_EXCL | NUMBALLOC_BUF_FIRST_FIT))
		return -EINVAL;
	if (o->unit && (o->capacity % o->unit || o->max_capacity % o->unit))
		return -EINVAL;
	if (o->max_capacity && o->capacity > o->max_capacity)
		return -EINVAL;
	/* Checked here too, before anything is made: the layout sees units, not bytes. */
	if (o->capacity > NUMBALLOC_CAPACITY_MAX || o->max_capacity > NUMBALLOC_CAPACITY_MAX ||
	    o->unit > NUMBALLOC_CAPACITY_MAX)
		return -EINVAL;
	return 0;
}

static int buf_attach(struct numballoc_buf *b)
{
	const struct nb_header *h = b->seg.hdr;
	int r;

	/* The layout fills in defaults for zero parameters: a header must not have them. */
	if (h->param[0] == 0 || h->param[1] < h->capacity)
		return -NUMBALLOC_ECORRUPT;
	b->cap0 = h->capacity;
	b->unit = h->param[0];
	b->maxu = h->param[1];
	b->capword = nb_segment_capacity_word(&b->seg);
	if (b->cap0 > NUMBALLOC_CAPACITY_MAX / b->unit || b->maxu > NUMBALLOC_CAPACITY_MAX / b->unit)
		return -NUMBALLOC_ECORRUPT;	/* byte offsets must fit */
	r = view_new(b, b->cap0, &b->view);
	if (r < 0)
		return r;
	pthread_mutex_init(&b->lock, NULL);
	if (cap_now(b) > b->cap0) {
		r = view_refresh(b);
		if (r < 0) {
			pthread_mutex_destroy(&b->lock);
			view_free(b->view);
			return r;
		}
	}
	return 0;
}

/* Remove the object an open created and then failed to use. */
static void buf_unmake(const char *name, const char *path)
{
	if (name)
		nb_segment_unlink(name);
	else if (path)
		unlink(path);
}

NUMBALLOC_EXPORT int numballoc_buf_open(const char *name, const struct numballoc_buf_opts *opts,
					struct numballoc_buf **bp)
{
	static const struct numballoc_buf_opts none;
	struct nb_layout want;
	struct numballoc_buf *b;
	uint64_t unit;
	int r, shared;

	if (!bp)
		return -EINVAL;
	if (!opts)
		opts = &none;
	r = opts_check(opts);
	if (r < 0)
		return r;
	if (name && opts->path)
		return -EINVAL;
	shared = name || opts->path;
	unit = opts->unit ? opts->unit : 1;
	memset(&want, 0, sizeof(want));
	want.kind = NB_KIND_BUFFER;
	want.capacity = opts->capacity / unit;
	want.param[0] = opts->unit;
	want.param[1] = opts->max_capacity / unit;
	want.param[2] = !shared;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	r = nb_segment_open(&b->seg, name, opts->path, shared ? opts->flags : NUMBALLOC_CREATE,
			    opts->mode, &want, buf_layout, buf_init, NULL);
	if (r < 0) {
		free(b);
		return r;
	}
	if (!!b->seg.hdr->param[2] == shared)
		r = -NUMBALLOC_ECORRUPT;	/* a shared object must be growable in place */
	else
		r = buf_attach(b);
	if (r < 0) {
		/*
		 * What this open made, it removes. (Only a mapping or memory
		 * failure gets here after creation: the parameters were checked
		 * before. An opener that found the object meanwhile keeps its
		 * mapping; the name goes.)
		 */
		if (b->seg.created)
			buf_unmake(name, opts->path);
		nb_segment_close(&b->seg);
		free(b);
		return r;
	}
	*bp = b;
	return 0;
}

NUMBALLOC_EXPORT int numballoc_buf_close(struct numballoc_buf *b)
{
	if (!b)
		return 0;
	view_free(b->view);
	pthread_mutex_destroy(&b->lock);
	nb_segment_close(&b->seg);
	free(b);
	return 0;
}

/* SIZE bytes in whole units, or 0 when it cannot be a size at all. */
static uint64_t units_of(const struct numballoc_buf *b, uint64_t size)
{
	uint64_t u = size / b->unit + (size % b->unit != 0);

	return u <= b->maxu ? u : 0;
}

/* First fit of N units in view V: 0, -ENOSPC, or -EAGAIN when V has grown stale. */
static int alloc_in(struct numballoc_buf *b, struct buf_view *v, uint64_t n, uint64_t *first)
{
	int r = -ENOSPC;

	if (n <= v->bm.nbits)
		r = nb_bitmap_claim_run(&v->bm, n, 1, 0, v->bm.nbits - 1, 0, first);
	if (r == -ENOSPC && grew_since(b, v))
		return -EAGAIN;
	return r;
}

/* Claim N units, refreshing the view while the capacity grows under us. */
static int alloc_units(struct numballoc_buf *b, uint64_t n, uint64_t *first)
{
	struct buf_view *v;
	int r, tries;

	for (tries = 0; tries < 100; tries++) {
		v = view_enter(b);
		r = alloc_in(b, v, n, first);
		view_leave(b);
		if (r != -EAGAIN)
			return r;
	}
	return -ENOSPC;
}

NUMBALLOC_EXPORT int numballoc_buf_alloc(struct numballoc_buf *b, uint64_t size,
					 uint64_t *start)
{
	uint64_t n, first;
	int r;

	if (!b || !start)
		return -EINVAL;
	if (size == 0) {
		*start = 0;
		return 0;
	}
	n = units_of(b, size);
	if (n == 0)
		return -ENOSPC;
	r = alloc_units(b, n, &first);
	if (r == 0)
		*start = first * b->unit;
	return r;
}

NUMBALLOC_EXPORT int numballoc_buf_needed(struct numballoc_buf *b, uint64_t size,
					  uint64_t *capacity)
{
	struct buf_view *v;
	uint64_t last, end;

	if (!b || !capacity || size > NUMBALLOC_CAPACITY_MAX)
		return -EINVAL;
	v = view_enter(b);
	last = nb_bitmap_last_set(&v->bm);
	view_leave(b);
	end = last == NB_NONE ? 0 : (last + 1) * b->unit;
	*capacity = end + (size / b->unit + (size % b->unit != 0)) * b->unit;
	return 0;
}

/*
 * Check [START, START+SIZE) in bytes: unit-aligned start, inside view V.
 * Gives the first unit and the count.
 */
static int range_units(const struct numballoc_buf *b, const struct buf_view *v, uint64_t start,
		       uint64_t size, uint64_t *first, uint64_t *n)
{
	if (start % b->unit)
		return -EINVAL;
	*first = start / b->unit;
	*n = units_of(b, size);
	if (*n == 0 || *first >= v->bm.nbits || *n > v->bm.nbits - *first)
		return -EINVAL;
	return 0;
}

/* Are all N units from FIRST allocated? */
static int all_set(const struct buf_view *v, uint64_t first, uint64_t n)
{
	uint64_t c = nb_bitmap_next_clear(&v->bm, first);

	return c == NB_NONE || c >= first + n;
}

NUMBALLOC_EXPORT int numballoc_buf_dealloc(struct numballoc_buf *b, uint64_t start,
					   uint64_t size)
{
	struct buf_view *v;
	uint64_t first, n;
	int r;

	if (!b)
		return -EINVAL;
	if (size == 0)
		return 0;
	v = view_enter(b);
	r = range_units(b, v, start, size, &first, &n);
	if (r == 0)
		r = nb_bitmap_release_range(&v->bm, first, n);
	view_leave(b);
	return r;
}

/* Grow [FIRST, FIRST+N) to NN units in view V, in place or elsewhere. */
static int grow_units(struct numballoc_buf *b, struct buf_view *v, uint64_t first, uint64_t n,
		      uint64_t nn, uint64_t *nfirst)
{
	int r;

	if (nn - n <= v->bm.nbits - (first + n) &&
	    nb_bitmap_claim_range(&v->bm, first + n, nn - n) == 0) {
		*nfirst = first;
		return 0;
	}
	r = alloc_in(b, v, nn, nfirst);
	if (r < 0)
		return r;
	nb_bitmap_release_range(&v->bm, first, n);
	return 0;
}

NUMBALLOC_EXPORT int numballoc_buf_realloc(struct numballoc_buf *b, uint64_t start,
					   uint64_t size, uint64_t new_size,
					   uint64_t *new_start)
{
	struct buf_view *v;
	uint64_t first, n, nn, nfirst = 0;
	int r, tries;

	if (!b || !new_start)
		return -EINVAL;
	if (size == 0)
		return numballoc_buf_alloc(b, new_size, new_start);
	if (new_size == 0) {
		r = numballoc_buf_dealloc(b, start, size);
		if (r == 0)
			*new_start = 0;
		return r;
	}
	nn = units_of(b, new_size);
	for (tries = 0; tries < 100; tries++) {
		v = view_enter(b);
		r = range_units(b, v, start, size, &first, &n);
		if (r == 0 && !all_set(v, first, n))
			r = -ENOENT;
		if (r == 0 && nn == 0)
			r = -ENOSPC;
		if (r == 0 && nn <= n) {
			nfirst = first;
			if (nn < n)
				r = nb_bitmap_release_range(&v->bm, first + nn, n - nn);
		} else if (r == 0) {
			r = grow_units(b, v, first, n, nn, &nfirst);
		}
		view_leave(b);
		if (r != -EAGAIN)
			break;
	}
	if (r == -EAGAIN)
		r = -ENOSPC;
	if (r == 0)
		*new_start = nfirst * b->unit;
	return r;
}

NUMBALLOC_EXPORT int numballoc_buf_regions(struct numballoc_buf *b, uint64_t *starts,
					   uint64_t *sizes, size_t max, size_t *n)
{
	struct buf_view *v;
	uint64_t pos = 0, s, e;
	size_t k = 0;

	if (!b || !n || (max && (!starts || !sizes)))
		return -EINVAL;
	v = view_enter(b);
	while ((s = nb_bitmap_next_set(&v->bm, pos)) != NB_NONE) {
		e = nb_bitmap_next_clear(&v->bm, s);
		if (e == NB_NONE)
			e = v->bm.nbits;
		if (k < max) {
			starts[k] = s * b->unit;
			sizes[k] = (e - s) * b->unit;
		}
		k++;
		pos = e;
	}
	view_leave(b);
	*n = k;
	return 0;
}

NUMBALLOC_EXPORT int numballoc_buf_stat(struct numballoc_buf *b, struct numballoc_buf_stat *st)
{
	struct buf_view *v;
	uint64_t cap, used, last, final;

	if (!b || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	v = view_enter(b);
	cap = v->bm.nbits;
	used = nb_bitmap_count(&v->bm);
	last = nb_bitmap_last_set(&v->bm);
	st->largest_free = nb_bitmap_largest_free(&v->bm) * b->unit;
	view_leave(b);
	final = last == NB_NONE ? cap : cap - (last + 1);
	st->unit = b->unit;
	st->capacity = cap * b->unit;
	st->max_capacity = b->maxu * b->unit;
	st->free_size = (cap - used) * b->unit;
	st->fragmented_free_size = st->free_size - final * b->unit;
	st->fragmentation = st->free_size ? (double)st->fragmented_free_size / (double)st->free_size
					  : 0.0;
	st->usage = 1.0 - (double)st->free_size / (double)st->capacity;
	return 0;
}

/* Raise the shared capacity from what it is to C units: 0, or -EINVAL if it is not below C. */
static int cap_raise(struct numballoc_buf *b, uint64_t c)
{
	uint64_t old = uatomic_read(b->capword), prev;

	for (;;) {
		uint64_t cur = old > b->cap0 && old <= b->maxu ? old : b->cap0;

		if (c <= cur)
			return -EINVAL;
		prev = uatomic_cmpxchg(b->capword, old, c);
		if (prev == old)
			return 0;
		old = prev;
	}
}

NUMBALLOC_EXPORT int numballoc_buf_set_capacity(struct numballoc_buf *b, uint64_t capacity)
{
	struct buf_view *v;
	uint64_t c, oldc;
	int r;

	if (!b || capacity % b->unit)
		return -EINVAL;
	c = capacity / b->unit;
	oldc = cap_now(b);
	if (c <= oldc || c > b->maxu)
		return -EINVAL;
	r = nb_segment_extend(&b->seg, b->seg.hdr->area_off[0] + nb_bitmap_grow_bytes(c, b->maxu));
	if (r < 0)
		return r;
	r = cap_raise(b, c);
	if (r < 0)
		return r;
	/* Show the new words in the summary; the definitive pass covers a crash here. */
	v = view_enter(b);
	nb_bitmap_grow(&v->bm, oldc);
	view_leave(b);
	return 0;
}
