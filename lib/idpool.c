/* SPDX-License-Identifier: MIT */
/*
 * idpool.c - the ID allocator: a pool of CAPACITY IDs starting at BASE,
 * one engine bit per ID, in a segment of kind NB_KIND_IDS.
 *
 * Areas: 0 = the engine (bitmap.c). Policies choose where a search starts:
 * LOWEST at the bottom of the range, CYCLIC after the shared cursor (the
 * last ID handed out by any process), SPREAD at a per-thread position (at
 * first a random one) that follows the thread's allocations, so threads
 * and processes work on different cache lines; when the position's word
 * has no free ID left, the word of the ID the thread freed last comes
 * next (alloc_spread()).
 *
 * CYCLIC windows (issue 20): a thread takes a stretch of the cycle at a
 * time. Its search from the shared cursor claims an ID B, then the thread
 * moves the cursor past [B + 1, B + 1 + span) at once, with one store, and
 * hands out the free IDs of that window in order, privately, before it
 * looks at the cursor again. The span is 0 at a thread's first search on
 * a handle (the cursor goes just past B, as it did before windows), then
 * 1, 2, 4, ... up to CYCLIC_SPAN_MAX: a one-shot caller moves the cursor
 * exactly, a busy one writes the shared cursor line once per window and
 * claims in words no other thread is claiming in. With one thread on one
 * handle the order is exactly that of a single cursor; with several, an
 * ID inside another thread's window, ahead of its position, may be handed
 * out again before the cursor has gone round. Frees never move a window
 * or the cursor. The windows are process-local advice: a killed process
 * leaves the cursor at most one window ahead, nothing to heal. Pools with
 * owner records, spaced pools (at most NB_SPACED_MAX IDs) and ranges
 * narrower than the pool search from the shared cursor every time and
 * move it just past the ID, as before.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "bitmap.h"
#include "idpool.h"
#include "numballoc.h"
#include "segment.h"

/*
 * The engine area of a pool of CAPACITY IDs. A pool of at most
 * NB_SPACED_MAX IDs is spaced, 8 IDs to a cache line (bitmap.c): packed, a
 * 64-ID pool is one word, and every process would write that one line.
 */
static size_t ids_bytes(uint64_t capacity)
{
	return capacity <= NB_SPACED_MAX ? nb_bitmap_bytes_spaced(capacity)
					 : nb_bitmap_bytes(capacity);
}

static void ids_attach(struct nb_bitmap *bm, void *area, uint64_t capacity)
{
	if (capacity <= NB_SPACED_MAX)
		nb_bitmap_attach_spaced(bm, area, capacity);
	else
		nb_bitmap_attach(bm, area, capacity);
}

static int ids_layout(struct nb_layout *l)
{
	if (l->capacity == 0 || l->capacity > NUMBALLOC_CAPACITY_MAX ||
	    l->base > UINT64_MAX - (l->capacity - 1) || l->policy > NUMBALLOC_SPREAD ||
	    (l->flags & ~NUMBALLOC_OWNERS))
		return -EINVAL;
	l->area_size[0] = ids_bytes(l->capacity);
	l->area_align[0] = 64;
	/* LOWEST searches from the advice word: a version older builds refuse (segment.h) */
	if (l->policy == NUMBALLOC_LOWEST && !(l->flags & NUMBALLOC_OWNERS) &&
	    l->capacity > NB_SPACED_MAX)
		l->version = NB_VERSION_LOW;
	return nb_owners_layout(l);
}

static int ids_init(void *base, const struct nb_header *h, void *arg)
{
	struct nb_bitmap bm;

	ids_attach(&bm, (char *)base + h->area_off[0], h->capacity);
	nb_bitmap_init(&bm);
	/* nb_ids_open(full): every ID held before any process can see the pool */
	if (arg)
		return nb_bitmap_claim_range(&bm, 0, h->capacity);
	return 0;
}

static int opts_check(const struct numballoc_opts *o)
{
	if (!nb_zeroed(o->reserved_u, sizeof(o->reserved_u)) ||
	    !nb_zeroed(o->reserved, sizeof(o->reserved)))
		return -EINVAL;
	if (o->policy > NUMBALLOC_SPREAD ||
	    (o->flags & ~(NUMBALLOC_CREATE | NUMBALLOC_EXCL | NUMBALLOC_OWNERS |
			  NUMBALLOC_RDONLY)))
		return -EINVAL;
	/* read-only opens an existing pool: nothing to create */
	if ((o->flags & NUMBALLOC_RDONLY) && (o->flags & (NUMBALLOC_CREATE | NUMBALLOC_EXCL)))
		return -EINVAL;
	return 0;
}

/*
 * Handles get keys from a counter, not their address: a mapping or a
 * malloc'd handle can come back at an address a closed one had (or one a
 * parent had before fork), and would inherit its stale position.
 */
static uint64_t hint_keys;	/* the last key handed out */

/*
 * A new handle's first allocation walks the summary and, with SPREAD, starts
 * on a random page of words: each first touch of a page is a fault of its
 * own (about a microsecond). Map the engine area in one call instead when
 * it is small (a 2^20-ID pool has 132 KiB); it is only advice.
 */
#define PREFAULT_MAX (256 * 1024)
static void prefault(const struct numballoc *p)
{
#ifdef MADV_POPULATE_WRITE
	size_t size = ids_bytes(p->capacity), page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p->bm.cursor, b = a & ~(uintptr_t)(page - 1);

	if (size <= PREFAULT_MAX)
		madvise((void *)b, size + (a - b), MADV_POPULATE_WRITE);
#else
	(void)p;
#endif
}

NUMBALLOC_EXPORT int numballoc_open(const char *name, const struct numballoc_opts *opts,
				    struct numballoc **poolp)
{
	return nb_ids_open(name, opts, poolp, 0);
}

/* numballoc_open(); FULL: a pool this call creates starts with every ID allocated. */
int nb_ids_open(const char *name, const struct numballoc_opts *opts, struct numballoc **poolp,
		int full)
{
	static const struct numballoc_opts none;
	const struct nb_backend *be;
	struct nb_layout want;
	struct numballoc *p;
	int r;

	if (!poolp)
		return -EINVAL;
	if (!opts)
		opts = &none;
	r = opts_check(opts);
	if (r < 0)
		return r;
	be = nb_backend_find(name, &r);	/* a URL: the pool lives there */
	if (be || r < 0)
		return be ? nb_be_open(be, name, opts, poolp) : r;
	if (name && opts->path)
		return -EINVAL;
	/* a private pool is always new: there is nothing to open read-only */
	if ((opts->flags & NUMBALLOC_RDONLY) && !name && !opts->path)
		return -EINVAL;
	memset(&want, 0, sizeof(want));
	want.kind = NB_KIND_IDS;
	want.capacity = opts->capacity;
	want.base = opts->base;
	want.policy = opts->policy;
	want.flags = opts->flags & NUMBALLOC_OWNERS;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	/* A private pool is always new: it has no name to be found by. */
	r = nb_segment_open(&p->seg, name, opts->path,
			    name || opts->path ? opts->flags : NUMBALLOC_CREATE, opts->mode, &want,
			    ids_layout, ids_init, full ? (void *)&hint_keys : NULL);
	if (r < 0) {
		free(p);
		return r;
	}
	p->capacity = p->seg.hdr->capacity;
	p->base = p->seg.hdr->base;
	p->policy = p->seg.hdr->policy;
	p->flags = p->seg.hdr->flags;
	p->rdonly = p->seg.rdonly;
	ids_attach(&p->bm, nb_segment_area(&p->seg, 0), p->capacity);
	if (!p->rdonly)
		prefault(p);
	p->hint_key = __atomic_add_fetch(&hint_keys, 1, __ATOMIC_RELAXED);
	nb_owners_attach(p);
	if (!p->rdonly && !p->owners && !p->bm.spaced)
		p->fast = p->policy == NUMBALLOC_SPREAD ? NB_FAST_SPREAD
			  : p->policy == NUMBALLOC_CYCLIC ? NB_FAST_CYCLIC : NB_FAST_OTHER;
	/* a pool that every process keeps the lowest advice of (segment.h) */
	if (p->fast == NB_FAST_OTHER && p->policy == NUMBALLOC_LOWEST &&
	    p->seg.hdr->version == NB_VERSION_LOW)
		p->fast = NB_FAST_LOWEST;
	if (p->fast)
		p->fastlimit = p->bm.fastwords * 64;
	*poolp = p;
	return 0;
}

static void window_return(struct numballoc *p);
static void hint_return(struct numballoc *p);

NUMBALLOC_EXPORT int numballoc_close(struct numballoc *pool)
{
	if (!pool)
		return 0;
	if (pool->be)
		return nb_be_close(pool);
	window_return(pool);
	hint_return(pool);
	nb_segment_close(&pool->seg);
	free(pool);
	return 0;
}

NUMBALLOC_EXPORT int numballoc_unlink(const char *name)
{
	const struct nb_backend *be;
	int r;

	be = nb_backend_find(name, &r);
	if (be || r < 0)
		return be ? be->unlink(name) : r;
	return nb_segment_unlink(name);
}

/*
 * Per-thread search positions for the SPREAD policy, a few pools per
 * thread. Written only by their thread: no shared cache line.
 */
#define HINTS 4
/* initial-exec: a plain %fs-relative access, no __tls_get_addr() per call */
#define NB_TLS __thread __attribute__((tls_model("initial-exec")))
struct hint {
	uint64_t key;	/* the handle's hint_key, 0: unused */
	uint64_t bit;	/* SPREAD: where the search starts; CYCLIC: the window's next ID */
	uint64_t end;	/* CYCLIC: the window's end (excluded); bit >= end: no window */
	uint64_t first;	/* CYCLIC: the window's first ID (bit > first: it gave one) */
	uint64_t span;	/* CYCLIC: the length of this thread's next window */
	uint64_t freed;	/* SPREAD: the ID this thread freed last, NB_NONE: none */
	uint64_t hid;	/* SPREAD: a word this thread released into by
			 * nb_bitmap_release_plain() whose summary bit may be
			 * clear while it has a clear bit, NB_NONE: none (see
			 * free_spread()) */
};
static NB_TLS struct hint hints[HINTS];
#define CYCLIC_SPAN_MAX 4096	/* IDs: 64 words, 8 cache lines */
static NB_TLS unsigned int hint_next;
/*
 * The slot found last, looked at first, and its key (0 while none): one
 * compare with the handle's key, no load through the pointer, tells a
 * fast path it is the handle's. Kept equal to h->key when a slot's key
 * changes (hint_slot(), window_return()).
 */
static NB_TLS struct {
	uint64_t key;
	struct hint *h;
} hint_last;

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

static uint64_t hint_seed(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)t.tv_sec;
}

/* hint_last.h is this thread's slot for P. */
static inline int hint_mine(const struct numballoc *p)
{
	return hint_last.key == p->hint_key;
}

static struct hint *hint_slot(const struct numballoc *p)
{
	struct hint *h;
	unsigned int i;

	for (i = 0; i < HINTS; i++)
		if (hints[i].key == p->hint_key)
			break;
	if (i < HINTS) {
		hint_last.key = p->hint_key;
		return hint_last.h = &hints[i];
	}
	/*
	 * A slot let go (key 0: its handle closed in this thread) before one
	 * in use, which may keep a SPREAD word (free_spread()) that its
	 * handle's close would show.
	 */
	for (i = 0; i < HINTS; i++)
		if (hints[i].key == 0)
			break;
	h = hint_last.h = &hints[i < HINTS ? i : hint_next++ % HINTS];
	h->key = hint_last.key = p->hint_key;
	h->first = h->end = 0;	/* CYCLIC: no window yet, the first one empty */
	h->span = 0;
	h->freed = h->hid = NB_NONE;
	/*
	 * A first position of this thread's own, spread over the whole pool:
	 * the clock (vDSO, no system call, unlike getpid()) tells processes
	 * apart, the TLS address threads.
	 */
	h->bit = mix64(hint_seed() ^ (uint64_t)(uintptr_t)&hint_next) % p->capacity;
	return h;
}

/* After a claim of BIT by the pool's policy: the cyclic cursor or the thread's hint follows. */
static inline __attribute__((always_inline)) void policy_claimed(struct numballoc *p,
								  struct hint *h, uint64_t bit)
{
	if (p->policy == NUMBALLOC_CYCLIC)
		nb_bitmap_set_cursor(&p->bm, bit + 1 < p->capacity ? bit + 1 : 0);
	else if (p->policy == NUMBALLOC_SPREAD)
		h->bit = bit;
}

/*
 * After a free of BIT, in a SPREAD pool: this thread's next search, when
 * the word at its position has no free ID left, looks in BIT's word next,
 * a word it has just written and that had a clear bit. Only when the
 * thread's last spread allocation was from this pool (the slot that
 * claim_fast() looks at): a free makes no slot and touches no other.
 */
static inline __attribute__((always_inline)) void policy_freed(struct numballoc *p, uint64_t bit)
{
	if (p->policy == NUMBALLOC_SPREAD && hint_mine(p))
		hint_last.h->freed = bit;
}

/*
 * The common case of an allocation, with no call in it (so the caller's
 * fast path saves and restores no registers): a pool without owner
 * records, a start in a word that has a clear bit after it, and for
 * SPREAD a thread whose last pool was this one. 1 and *BIT when claimed;
 * 0: the caller goes on with alloc_bits(), which does it all. SPACED (a
 * constant) 0: a packed pool's start word, inline; 1: a spaced pool's,
 * one call (alloc_bits() tries it first).
 */
static inline __attribute__((always_inline)) int claim_fast(struct numballoc *p, uint64_t lo,
							     uint64_t hi, uint64_t *bit, int spaced)
{
	struct hint *h = hint_last.h;
	uint64_t start = lo;

	if (p->owners)
		return 0;
	if (p->policy == NUMBALLOC_SPREAD) {
		if (!hint_mine(p))
			return 0;
		start = h->bit;
	} else if (p->policy == NUMBALLOC_CYCLIC) {
		if (spaced) {
			start = nb_bitmap_cursor(&p->bm);
		} else {
			/* this thread's window, for the whole pool only (see the top) */
			if (!hint_mine(p) || lo != 0 || hi != p->capacity - 1)
				return 0;
			start = h->bit;
			hi = h->end - 1;	/* no window: hi is huge, claim_start says no */
		}
	}
	if (spaced ? !nb_bitmap_claim_start_spaced(&p->bm, lo, hi, start, bit)
		   : !nb_bitmap_claim_start(&p->bm, lo, hi, start, bit))
		return 0;
	if (p->policy == NUMBALLOC_CYCLIC && !spaced)
		h->bit = *bit + 1;	/* the window's next ID; the cursor stays */
	else
		policy_claimed(p, h, *bit);
	return 1;
}

/*
 * CYCLIC, the whole pool, no owner records, packed: the rest of this
 * thread's window, else a search from the shared cursor and a new window
 * after the ID it finds (see the top). -ENOSPC only from that search,
 * which makes the engine's definitive pass.
 */
static int claim_cursor(struct numballoc *p, struct hint *h, uint64_t *bit);

static int claim_window(struct numballoc *p, uint64_t *bit)
{
	struct hint *h = hint_mine(p) ? hint_last.h : hint_slot(p);

	if (h->bit < h->end && nb_bitmap_claim_stretch(&p->bm, h->bit, h->end - 1, bit)) {
		h->bit = *bit + 1;
		return 0;
	}
	return claim_cursor(p, h, bit);
}

/* claim_window() when thread slot H's window had no free ID left: the cursor, a new window. */
static int claim_cursor(struct numballoc *p, struct hint *h, uint64_t *bit)
{
	uint64_t cap = p->capacity, span, end, start, last;
	int r, used;

	/*
	 * The next free ID after the cursor: first by a plain scan of as many
	 * IDs as the next window has (at least a word's), as the Go allocator
	 * scans, which writes no summary (a summary search clears the stale
	 * bits that the windows' lazy claims leave, and the frees into those
	 * words then set them again); then by the engine's whole search, which
	 * ends in the definitive pass. Where windows find nothing (a few free
	 * IDs left) spans stay short, and so does this scan.
	 */
	span = h->span > 64 ? h->span : 64;
	start = nb_bitmap_cursor(&p->bm);
	last = cap - 1 - start < span ? cap - 1 : start + span - 1;
	if (nb_bitmap_claim_next(&p->bm, start, last, bit) < 0) {
		r = nb_bitmap_claim_any_slow(&p->bm, 0, cap - 1, start, bit);
		if (r < 0)
			return r;
	}
	/*
	 * The next span: twice this one, up to the most; 1 again when a
	 * window of the most gave nothing (a pool with a few free IDs, where
	 * a window's scan, a word read per 64 IDs, would find nothing). Not
	 * halved on a window that gave nothing: a pool at 99.9% has about 4
	 * free IDs in a window of the most, and half as many windows of 512
	 * give none, so halving would keep windows small where they pay.
	 */
	used = h->bit > h->first;
	span = h->span;
	end = *bit + 1 + (span < cap - 1 - *bit ? span : cap - 1 - *bit);
	h->first = h->bit = *bit + 1;
	h->end = end;
	if (!span || (span == CYCLIC_SPAN_MAX && !used))
		span = 1;
	else if (span < CYCLIC_SPAN_MAX)
		span *= 2;
	h->span = span;
	nb_bitmap_set_cursor(&p->bm, end < cap ? end : 0);
	return 0;
}

/*
 * CYCLIC, a range narrower than the pool: the search starts at this
 * thread's place in its window if it has one (where a single cursor would
 * be), else at the shared cursor. An ID inside the window moves only the
 * thread's place; any other drops the window and puts the shared cursor
 * after the ID, as before windows.
 */
static int claim_cyclic_in(struct numballoc *p, uint64_t lo, uint64_t hi, uint64_t *bit)
{
	struct hint *h = hint_slot(p);
	uint64_t pos = h->bit, end = h->end;
	int r;

	r = nb_bitmap_claim_any_slow(&p->bm, lo, hi, pos < end ? pos : nb_bitmap_cursor(&p->bm),
				     bit);
	if (r < 0)
		return r;
	if (pos <= *bit && *bit < end) {
		h->bit = *bit + 1;
		return 0;
	}
	h->end = 0;
	nb_bitmap_set_cursor(&p->bm, *bit + 1 < p->capacity ? *bit + 1 : 0);
	return 0;
}

/*
 * numballoc_close(): the calling thread's window of POOL, if it has one,
 * goes back to the cycle when no one has moved the shared cursor since it
 * was taken: a handle that allocates a few IDs and closes leaves the
 * cursor just after the last of them, as a single cursor would. A CAS,
 * once per handle: the cursor stays a plain store everywhere else.
 */
static void window_return(struct numballoc *p)
{
	unsigned int i;

	if (p->policy != NUMBALLOC_CYCLIC || p->rdonly || p->bm.spaced)
		return;
	for (i = 0; i < HINTS; i++) {
		uint64_t pos = hints[i].bit, end = hints[i].end;

		if (hints[i].key != p->hint_key)
			continue;
		hints[i].key = 0;
		if (hint_last.h == &hints[i])
			hint_last.key = 0;
		if (pos < end)
			uatomic_cmpxchg(p->bm.cursor, end < p->capacity ? end : 0, pos);
	}
}

/*
 * numballoc_close(): the calling thread's slot for the handle is let go
 * (key 0, the first a new handle takes: hint_slot()), and in a fast
 * SPREAD pool the word it kept (free_spread()) is shown to summary
 * searches first if it has a clear bit. Other threads' slots cannot be
 * reached from here: a word another thread kept for this handle stays
 * hidden from summary searches until a definitive pass heals it (one
 * pass heals every such word of its range: bitmap.c, claim_scan()).
 */
static void hint_return(struct numballoc *p)
{
	unsigned int i;

	for (i = 0; i < HINTS; i++) {
		if (hints[i].key != p->hint_key)
			continue;
		if (p->fast == NB_FAST_SPREAD && hints[i].hid != NB_NONE)
			nb_bitmap_show_word(&p->bm, hints[i].hid);
		hints[i].key = 0;
		if (hint_last.h == &hints[i])
			hint_last.key = 0;
	}
}

/* SPREAD: a free bit of [FROM, HI] in FROM's 64 (FROM's word in a packed pool). */
static int claim_near(struct numballoc *p, uint64_t from, uint64_t hi, uint64_t *bit)
{
	uint64_t top = (from | 63) < hi ? from | 63 : hi;

	return p->owners ? nb_owners_claim_any(p, from, top, from, bit)
			 : nb_bitmap_claim_any_slow(&p->bm, from, top, from, bit);
}

/* Claim one bit in [lo, hi] (bit numbers) by the pool's policy. */
static int claim_by_policy(struct numballoc *p, uint64_t lo, uint64_t hi, uint64_t *bit)
{
	uint64_t start = lo;
	struct hint *h = NULL;
	int r;

	if (p->policy == NUMBALLOC_CYCLIC) {
		if (!p->owners && !p->bm.spaced)
			return lo == 0 && hi == p->capacity - 1 ? claim_window(p, bit)
								: claim_cyclic_in(p, lo, hi, bit);
		start = nb_bitmap_cursor(&p->bm);
	} else if (p->policy == NUMBALLOC_SPREAD) {
		h = hint_slot(p);
		start = h->bit;
		if (start < lo || start > hi)
			start = lo + mix64(start) % (hi - lo + 1);
		/* close after the position, then after the ID freed last (alloc_spread()) */
		if (claim_near(p, start, hi, bit) == 0 ||
		    (lo <= h->freed && h->freed <= hi && claim_near(p, h->freed, hi, bit) == 0))
			goto claimed;
	}
	/* the engine's whole search (the start word first): claim_fast() did not claim */
	r = p->owners ? nb_owners_claim_any(p, lo, hi, start, bit)
		      : nb_bitmap_claim_any_slow(&p->bm, lo, hi, start, bit);
	if (r < 0)
		return r;
claimed:
	policy_claimed(p, h, *bit);
	return 0;
}

/* The bit of ID, or -EINVAL when ID is outside the pool. */
static int bit_of_id(const struct numballoc *p, uint64_t id, uint64_t *bit)
{
	if (id < p->base || id - p->base >= p->capacity)
		return -EINVAL;
	*bit = id - p->base;
	return 0;
}

/*
 * Claim a bit of [lo, hi] by policy, reclaiming from dead holders when
 * full: the whole path, after claim_fast() said no.
 */
static __attribute__((noinline)) int alloc_bits(struct numballoc *pool, uint64_t lo, uint64_t hi,
						uint64_t *id)
{
	uint64_t bit;
	int r;

	/* a spaced pool's fast path (claim_fast() took only a packed one's) */
	if (pool->bm.spaced && claim_fast(pool, lo, hi, &bit, 1)) {
		*id = pool->base + bit;
		return 0;
	}
	r = claim_by_policy(pool, lo, hi, &bit);
	if (r == -ENOSPC && nb_owners_reclaim_on_full(pool) > 0)
		r = claim_by_policy(pool, lo, hi, &bit);
	if (r < 0)
		return r;
	*id = pool->base + bit;
	return 0;
}

/*
 * LOWEST with the advice word (issue 20, session 3; bitmap.c, "The lowest
 * advice"), after the inline claim at the advice said no: the engine's
 * search from the advice, which ends in the definitive pass. No owner
 * records here, so nothing to reclaim.
 */
static __attribute__((noinline)) int alloc_lowest(struct numballoc *pool, uint64_t lo,
						  uint64_t hi, uint64_t *id)
{
	uint64_t bit;
	int r;

	r = nb_bitmap_claim_lowest_slow(&pool->bm, lo, hi, &bit);
	if (r < 0)
		return r;
	*id = pool->base + bit;
	return 0;
}

/* An ID of [lo, hi] (bit numbers): the fast path inline, else alloc_bits(). */
static inline __attribute__((always_inline)) int alloc_range(struct numballoc *pool, uint64_t lo,
							      uint64_t hi, uint64_t *id)
{
	uint64_t bit;

	if (__builtin_expect(pool->be != NULL, 0))
		return nb_be_alloc(pool, lo, hi, id);
	if (pool->fast == NB_FAST_LOWEST) {	/* issue 20, lowest */
		if (nb_bitmap_claim_lowest(&pool->bm, lo, hi, &bit)) {
			*id = pool->base + bit;
			return 0;
		}
		return alloc_lowest(pool, lo, hi, id);
	}
	if (claim_fast(pool, lo, hi, &bit, 0)) {
		*id = pool->base + bit;
		return 0;
	}
	return alloc_bits(pool, lo, hi, id);
}

/*
 * A fast CYCLIC pool whose thread's last slot is another handle's: straight
 * to claim_window(), not through alloc_bits()' and claim_by_policy()'s
 * tests of the pool. A fast pool keeps no owner records: nothing to
 * reclaim on -ENOSPC.
 */
static __attribute__((noinline)) int alloc_cyclic(struct numballoc *pool, uint64_t *id)
{
	uint64_t bit;
	int r;

	r = claim_window(pool, &bit);
	if (r < 0)
		return r;
	*id = pool->base + bit;
	return 0;
}

/* The same, when the thread's window (its slot is hint_last) has just been scanned to its end. */
static __attribute__((noinline)) int alloc_cursor(struct numballoc *pool, uint64_t *id)
{
	uint64_t bit;
	int r;

	r = claim_cursor(pool, hint_last.h, &bit);
	if (r < 0)
		return r;
	*id = pool->base + bit;
	return 0;
}

/* numballoc_alloc() on any pool but a fast SPREAD, CYCLIC or LOWEST one: the whole path. */
static __attribute__((noinline)) int alloc_whole(struct numballoc *pool, uint64_t *id)
{
	if (__builtin_expect(pool->rdonly, 0))
		return -EROFS;
	/* not through numballoc_alloc_in(): an exported call costs a PLT jump */
	return alloc_range(pool, 0, pool->capacity - 1, id);
}

/*
 * SPREAD, a fast pool, when the word at this thread's position has no free
 * ID at or after it (numballoc_alloc() tried it): the word of the ID this
 * thread freed last in this pool, from that ID up (a word it has just
 * written, which had a clear bit then); then next fit, the SPREAD_AHEAD
 * words after the position's by a plain scan, as the Go allocator scans;
 * then the engine's whole search from the position, which ends in the
 * definitive pass. The position moves to the ID found: a thread that
 * allocates without freeing packs its IDs into the words it sweeps, and one
 * that frees and allocates in turn stays in the words it frees into.
 */
#define SPREAD_AHEAD 8	/* words: a cache line's worth */
static __attribute__((noinline)) int alloc_spread(struct numballoc *pool, uint64_t *id)
{
	struct nb_bitmap *bm = &pool->bm;
	struct hint *h = hint_last.h;
	uint64_t bit, w, last;

	if (!hint_mine(pool))
		return alloc_bits(pool, 0, pool->capacity - 1, id);
	if (h->freed < pool->capacity && nb_bitmap_claim_word(bm, h->freed, &bit))
		goto got;
	w = h->bit / 64 + 1;
	if (w < bm->fastwords) {	/* not the last word, whose padding the slow path masks */
		last = w + SPREAD_AHEAD < bm->fastwords ? w + SPREAD_AHEAD : bm->fastwords;
		if (nb_bitmap_claim_stretch(bm, w * 64, last * 64 - 1, &bit))
			goto got;
	}
	return alloc_bits(pool, 0, pool->capacity - 1, id);
got:
	h->bit = bit;
	*id = pool->base + bit;
	return 0;
}

/*
 * numballoc_alloc() on any pool but a fast SPREAD or LOWEST one. A fast CYCLIC pool
 * in a straight line, in a function of its own (alloc_whole() saves the
 * registers its other pools need): the next free ID of this thread's
 * window by the inline scan of its words (claim_window() without the tests
 * of the policy, the owners and the range: fast says them once), else the
 * cursor and a new window, out of line.
 */
static __attribute__((noinline)) int alloc_other(struct numballoc *pool, uint64_t *id)
{
	struct hint *h = hint_last.h;
	uint64_t bit;

	if (pool->fast != NB_FAST_CYCLIC)
		return alloc_whole(pool, id);
	if (__builtin_expect(!hint_mine(pool), 0))
		return alloc_cyclic(pool, id);
	if (h->bit < h->end && nb_bitmap_claim_window(&pool->bm, h->bit, h->end, &bit)) {
		h->bit = bit + 1;
		*id = pool->base + bit;
		return 0;
	}
	return alloc_cursor(pool, id);
}

/*
 * One test of the handle (fast); a fast LOWEST pool's claim at its advice
 * inline; then SPREAD's common case in a straight line: this thread's last
 * pool was this one, and the word at its position, or else the last freed
 * ID's word, has a clear bit at or after that ID. Anything else goes on, by
 * a tail call, where claim_fast() would have sent it.
 */
NUMBALLOC_EXPORT int numballoc_alloc(struct numballoc *pool, uint64_t *id)
{
	struct hint *h;
	uint64_t bit;

	if (!pool || !id)
		return -EINVAL;
	if (pool->fast != NB_FAST_SPREAD) {
		/* issue 20, lowest: L's word or S's inline, else the search from the advice */
		if (pool->fast == NB_FAST_LOWEST) {
			if (nb_bitmap_claim_lowest_all(&pool->bm, &bit)) {
				*id = pool->base + bit;
				return 0;
			}
			return alloc_lowest(pool, 0, pool->capacity - 1, id);
		}
		return alloc_other(pool, id);
	}
	h = hint_last.h;
	if (__builtin_expect(hint_mine(pool), 1) &&
	    (nb_bitmap_claim_word(&pool->bm, h->bit, &bit) ||
	     nb_bitmap_claim_word(&pool->bm, h->freed, &bit))) {
		h->bit = bit;
		*id = pool->base + bit;
		return 0;
	}
	return alloc_spread(pool, id);
}

int nb_ids_alloc(struct numballoc *pool, uint64_t *id) __attribute__((alias("numballoc_alloc")));

NUMBALLOC_EXPORT int numballoc_alloc_in(struct numballoc *pool, uint64_t min, uint64_t max,
					uint64_t *id)
{
	uint64_t last, lo, hi;

	if (!pool || !id || min > max)
		return -EINVAL;
	if (pool->rdonly)
		return -EROFS;
	last = pool->base + (pool->capacity - 1);
	if (max < pool->base || min > last)
		return -EINVAL;
	lo = (min < pool->base ? pool->base : min) - pool->base;
	hi = (max > last ? last : max) - pool->base;
	return alloc_range(pool, lo, hi, id);
}

NUMBALLOC_EXPORT int numballoc_alloc_id(struct numballoc *pool, uint64_t id)
{
	uint64_t bit;
	int r;

	if (!pool)
		return -EINVAL;
	r = bit_of_id(pool, id, &bit);
	if (r < 0)
		return r;
	if (pool->rdonly)
		return -EROFS;
	if (pool->be)
		return nb_be_alloc_bit(pool, bit);
	if (pool->owners)
		return nb_owners_claim_bit(pool, bit);
	if (pool->fast == NB_FAST_LOWEST)	/* issue 20, lowest: the summary left lazy */
		return nb_bitmap_claim_bit_lazy(&pool->bm, bit);
	return nb_bitmap_claim_bit(&pool->bm, bit);
}

static int claim_block(struct numballoc *p, uint64_t count, uint64_t align, uint64_t *bit)
{
	if (p->owners)
		return nb_owners_claim_run(p, count, align, 0, p->capacity - 1, bit);
	return nb_bitmap_claim_run(&p->bm, count, align, 0, p->capacity - 1, 0, bit);
}

NUMBALLOC_EXPORT int numballoc_alloc_block(struct numballoc *pool, uint64_t count, uint64_t align,
					   uint64_t *first)
{
	uint64_t bit;
	int r;

	if (!pool || !first || count == 0 || count > pool->capacity || (align & (align - 1)))
		return -EINVAL;
	if (pool->rdonly)
		return -EROFS;
	if (pool->be)
		return nb_be_alloc_run(pool, count, align, first);
	r = claim_block(pool, count, align, &bit);
	if (r == -ENOSPC && nb_owners_reclaim_on_full(pool) > 0)
		r = claim_block(pool, count, align, &bit);
	if (r < 0)
		return r;
	*first = pool->base + bit;
	return 0;
}

/* numballoc_free() on any pool but a fast one. */
static __attribute__((noinline)) int free_other(struct numballoc *pool, uint64_t id)
{
	uint64_t bit;
	int r;

	r = bit_of_id(pool, id, &bit);
	if (r < 0)
		return r;
	if (__builtin_expect(pool->rdonly, 0))
		return -EROFS;
	if (__builtin_expect(pool->be != NULL, 0))
		return nb_be_release(pool, bit, 1);
	/* before the release, which then ends the call (a free of an ID not held is kept too) */
	policy_freed(pool, bit);
	if (!pool->owners)	/* the common case, one call shorter */
		return nb_bitmap_release_bit(&pool->bm, bit);
	return nb_owners_release(pool, bit, 1);
}

/*
 * issue 20, lowest: the release, then the advice goes down after its CAS,
 * and the summary bit of a word it made not full is looked at last
 * (nb_bitmap_release_lowest(), bitmap.h). A function of its own,
 * tail-called, so that the other fast pools' free saves no registers for it.
 */
static __attribute__((noinline)) int free_lowest(struct nb_bitmap *bm, uint64_t bit)
{
	return nb_bitmap_release_lowest(bm, bit);
}

/*
 * issue 20, session 5: free_spread() when the word kept from the thread's
 * last free, W, is another and has a clear bit: W is shown to summary
 * searches first, out of line (a summary line is read, perhaps written).
 */
static __attribute__((noinline)) int free_spread_show(struct nb_bitmap *bm, struct hint *h,
						       uint64_t bit)
{
	nb_bitmap_show_word(bm, h->hid);
	h->hid = NB_NONE;
	return nb_bitmap_release_plain_in(bm, bit, &h->hid);
}

/*
 * A fast SPREAD pool, this thread's slot (H): the release without a look
 * at the summary (nb_bitmap_release_plain()). At 99% fill half the frees
 * land in a full word, whose summary bit the release would read, a line
 * of its own that a random free does not have in cache (issue 20,
 * session 5: with no look at all, 0.1-0.4 of the hint baseline's speed
 * at 99% and above; with the word kept as below, 0.1-0.25 at 2^24 IDs).
 * Instead the thread keeps the word (H->hid) until its next free in the
 * pool, by when the allocation in between has mostly filled it again
 * (the freed ID's word is the second place it looks); only a word that
 * still has a clear bit then is shown (free_spread_show()), and at
 * numballoc_close() by this thread. So a thread keeps at most one word
 * per handle at a time that summary searches do not see. A thread that
 * ends or stops using the pool first, a handle closed by another thread,
 * a slot taken by a fifth handle or a process killed or gone without
 * closing leaves its word so, and threads that free and end may leave
 * many: the definitive pass, which comes before any -ENOSPC, finds them
 * and heals every one in the range it reads (bitmap.c, claim_scan()).
 */
static inline __attribute__((always_inline)) int free_spread(struct nb_bitmap *bm, struct hint *h,
							      uint64_t bit)
{
	uint64_t w = bit / 64, kept = h->hid;

	h->freed = bit;
	/* HID is a word below fastwords (nb_bitmap_release_plain_in() stored it) or NB_NONE */
	if (kept != w && kept != NB_NONE) {
		if (uatomic_read(&bm->words[kept]) != UINT64_MAX)
			return free_spread_show(bm, h, bit);
		h->hid = NB_NONE;	/* full again: nothing to show */
	}
	return nb_bitmap_release_plain_in(bm, bit, &h->hid);
}

/*
 * numballoc_free() for an ID outside the fast part (fastlimit): outside the
 * pool, the last word of a fast pool (its padding, the slow release), any
 * pool that is not fast.
 */
static __attribute__((noinline)) int free_edge(struct numballoc *pool, uint64_t id)
{
	uint64_t bit = id - pool->base;

	if (!pool->fast)
		return free_other(pool, id);
	/* inside, id < base too when base + capacity - 1 fits, as ids_layout() checks for any fast pool */
	if (bit >= pool->capacity)
		return -EINVAL;
	if (pool->fast == NB_FAST_LOWEST)
		return free_lowest(&pool->bm, bit);
	if (pool->fast == NB_FAST_SPREAD && hint_mine(pool)) {
		/* as free_spread(): the kept word shown, the ID recorded; the last word's release keeps its summary */
		struct hint *h = hint_last.h;

		h->freed = bit;
		if (h->hid != NB_NONE) {
			nb_bitmap_show_word(&pool->bm, h->hid);
			h->hid = NB_NONE;
		}
	}
	return nb_bitmap_release_bit(&pool->bm, bit);
}

/*
 * A fast pool (see numballoc_alloc()): one compare for the range and the
 * fast part (fastlimit: every word but the last, whose padding the slow
 * release masks; 0 for a pool that is not fast), the SPREAD hint, and the
 * engine's inline release, whose rare cases are tail calls. The rest, by
 * free_edge().
 */
NUMBALLOC_EXPORT int numballoc_free(struct numballoc *pool, uint64_t id)
{
	struct nb_bitmap *bm;
	uint64_t bit;

	if (!pool)
		return -EINVAL;
	bit = id - pool->base;
	if (__builtin_expect(bit >= pool->fastlimit, 0))
		return free_edge(pool, id);
	if (pool->fast == NB_FAST_SPREAD) {
		/* the freed ID recorded before the release (a free of an ID not held is kept too) */
		if (hint_mine(pool))
			return free_spread(&pool->bm, hint_last.h, bit);
	} else if (pool->fast == NB_FAST_LOWEST) {
		return free_lowest(&pool->bm, bit);	/* issue 20, lowest */
	}
	bm = &pool->bm;
	__asm__("" : "+r"(bm));	/* one register for bm and pool, not two: none to save */
	return nb_bitmap_release_bit_in(bm, bit);	/* below fastlimit */
}

int nb_ids_free(struct numballoc *pool, uint64_t id) __attribute__((alias("numballoc_free")));

NUMBALLOC_EXPORT int numballoc_free_block(struct numballoc *pool, uint64_t first, uint64_t count)
{
	uint64_t bit;
	int r;

	if (!pool || count == 0)
		return -EINVAL;
	r = bit_of_id(pool, first, &bit);
	if (r < 0)
		return r;
	if (count > pool->capacity - bit)
		return -EINVAL;
	if (pool->rdonly)
		return -EROFS;
	if (pool->be)
		return nb_be_release(pool, bit, count);
	r = nb_owners_release(pool, bit, count);
	/* issue 20, lowest: the advice down to the first (the others are above it, unknown) */
	if (r == 0 && pool->fast == NB_FAST_LOWEST)
		nb_bitmap_lowest_lower(&pool->bm, bit, 0);
	return r;
}

NUMBALLOC_EXPORT int numballoc_test(struct numballoc *pool, uint64_t id)
{
	uint64_t bit;
	int r;

	if (!pool)
		return -EINVAL;
	r = bit_of_id(pool, id, &bit);
	if (r < 0)
		return r;
	if (pool->be)
		return nb_be_test(pool, bit);
	return nb_bitmap_test(&pool->bm, bit);
}

NUMBALLOC_EXPORT int numballoc_next(struct numballoc *pool, uint64_t from, uint64_t *id)
{
	uint64_t bit;

	if (!pool || !id)
		return -EINVAL;
	if (from < pool->base)
		from = pool->base;
	if (from - pool->base >= pool->capacity)
		return -ENOENT;
	if (pool->be)
		return nb_be_next(pool, from - pool->base, id);
	bit = nb_bitmap_next_set(&pool->bm, from - pool->base);
	if (bit == NB_NONE)
		return -ENOENT;
	*id = pool->base + bit;
	return 0;
}

NUMBALLOC_EXPORT int numballoc_stat(struct numballoc *pool, struct numballoc_stat *st)
{
	if (!pool || !st)
		return -EINVAL;
	if (pool->be)
		return nb_be_stat(pool, st);
	memset(st, 0, sizeof(*st));
	st->capacity = pool->capacity;
	st->base = pool->base;
	st->used = nb_bitmap_count(&pool->bm);
	st->free = st->capacity - st->used;
	st->largest_free_run = nb_bitmap_largest_free(&pool->bm);
	st->policy = pool->policy;
	st->flags = pool->flags;
	return 0;
}

/*
 * The pool's range from the validated header copy: no word is read, so
 * the cost does not depend on the pool's size (the CLI checks every ID
 * argument with it). Either pointer may be NULL.
 */
NUMBALLOC_EXPORT int numballoc_range(struct numballoc *pool, uint64_t *base, uint64_t *capacity)
{
	if (!pool)
		return -EINVAL;
	if (base)
		*base = pool->base;
	if (capacity)
		*capacity = pool->capacity;
	return 0;
}
