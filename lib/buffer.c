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
 * which cannot be extended in place), param[3] = log2 of the units per
 * chunk (0: an allocator made before chunks, whose handles all place by
 * first fit). With chunks, area 0 holds the chunk records and area 1 the
 * engine; without, area 0 is the engine. The engine's area is growable
 * (bitmap.c: the summary and the run index for the maximum, then the
 * words) and last, so the object grows at its end and nothing ever moves.
 *
 * First fit is the engine's run search (nb_bitmap_claim_run() from 0): its
 * run index skips the parts of the buffer that cannot hold the run, and
 * -ENOSPC comes from its definitive pass, so the allocator never lies
 * about a fit. With one thread the fit is the lowest; between threads a
 * race can put it above a lower one that appeared meanwhile. A handle
 * opened with NUMBALLOC_BUF_FIRST_FIT places everything so.
 *
 * Placement by chunks (the default). The buffer is cut in chunks of 2^15
 * units. A handle has up to NSLOT slots, one per thread that allocates
 * through it (a thread-local number picks it; a trylock keeps it to one
 * thread at a time). A slot owns many chunks at once (every chunk it
 * adopts, up to OWN_MAX; alone, eventually all of them) and keeps, in
 * this process's memory, ONE segregated-fit index (TLSF-like: exact
 * classes to 64 units, then 8 per power of two, a class mask) over the
 * free extents of all of them, built from the words when it adopts a
 * chunk: a 16-byte record per free extent (its node, length and class
 * list), and per owned chunk a cell of 16 bytes per 64 units that marks
 * where extents start and holds the record numbers of its first two (the
 * others are found by node through a hash table kept at most a quarter
 * full); a few hundred KiB in all, mostly in cache. An allocation takes an extent from the index (the newest of the
 * request's own class if it fits, else the newest of the smallest class
 * that surely fits) and claims it on the words with a CAS per word
 * (nb_bitmap_claim_range_lazy()): the index is advice, the claim decides,
 * and a failed claim builds that chunk's extents again from the words.
 * A free clears the words (nb_bitmap_release_range_quick()); when this
 * handle owns the chunk and its slot is free to take, the freed range
 * enters the index merged with the free extents that end where it starts
 * and start where it ends (found from the words for short runs, from a
 * tail entry of the hash table for long ones, both checked against the
 * index): the fast path
 * writes nothing shared but the words. A free by another process or
 * handle (or while the slot is busy) adds to the chunk's record instead;
 * the owner, when its index has no run for a request, builds again the
 * chunks into which at least that much was freed since. When it still
 * has no run, it adopts another chunk: the lowest whose record promises
 * THRESH free units, from a shared hint up, then THRESH/2, THRESH/4, then
 * any with a run (lowest first keeps the top of the buffer free in one
 * range). In the buffer's last chunk (when there are two or more) a
 * request takes the top of its extent, not the bottom: two owners
 * filling chunks at the top of the buffer at once then fill towards each
 * other, one from below and one from the end, and the free space between
 * them stays one range (with the bottom, the last owner's first
 * allocations cut it in two: free/largest 4.93 against 2.52 with two
 * threads at 85% live in bufbench). The last chunk is that of the
 * largest capacity (max_capacity); a buffer that does not reach it keeps
 * the bottom-up fill, and one that reaches part of it fills that part
 * from its top. When none is free to adopt but other live handles own chunks,
 * it raises the 'wanted' signal (record word 1: a sequence number and
 * how many chunks the asker owns); every slot that sees a new value at
 * its next operation and owns more than one chunk more than the asker
 * gives back half the difference, those with the most free units first.
 * A chunk goes back too when the handle closes, when frees empty it
 * (unless it is the slot's last), and when the slot owns OWN_MAX (its
 * fullest). Requests above a quarter of a chunk, and those for which no
 * chunk came, go to first fit, whose definitive pass makes -ENOSPC true:
 * free space in chunks other handles own counts.
 *
 * Chunk records (area 0), all advice for placement, never for
 * correctness (any process may claim any free unit; the words decide):
 *
 *	word 0			the hint: the lowest chunk that may be worth
 *				adopting (lowered by CAS, raised by an adopter
 *				that found none below)
 *	word 1			'wanted': bits 32-63 a sequence number, 0-31
 *				the chunks the last asker's slot owned (a plain
 *				store by an asker; owners only read it)
 *	8 + 2c			owner of chunk c: the identity of its process
 *				(owners.c: pid, start time; 56 bits) and a
 *				slot tag above; 0 = nobody. Taken by CAS from 0
 *				or from a dead owner's value, given back by
 *				CAS to 0.
 *	8 + 2c + 1		estimate: bits 0-15 units used and 16-31 units
 *				minus the longest free run, as its last owner
 *				saw them when it gave it back; 32-63 units
 *				freed into it since (atomic add by every free
 *				that does not enter its owner's index)
 *
 * A process killed while it owns chunks leaves records that name it. The
 * next numballoc_buf_open() of a shared allocator gives them back (CAS
 * to 0 of each record whose process is dead), and an adopter takes one
 * over (CAS from the dead value) when it meets it. Its allocations stay
 * allocated: the buffer's contents are the caller's.
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
 * A buffer whose maximum is its creation capacity never grows: its first
 * view is its only one, and operations read it with no read-side section.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <urcu-bp.h>
#include <urcu/uatomic.h>
#ifdef NB_TSAN_UATOMIC_H
#include <sanitizer/tsan_interface.h>
#endif

#include "bitmap.h"
#include "idpool.h"
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
#define view_unlock(b) do { __tsan_release(&(b)->grace); rcu_read_unlock(); } while (0)
#define view_grace(b) do { synchronize_rcu(); __tsan_acquire(&(b)->grace); } while (0)
#else
#define view_publish(p, v) rcu_assign_pointer(p, v)
#define view_read(p) rcu_dereference(p)
#define view_unlock(b) rcu_read_unlock()
#define view_grace(b) synchronize_rcu()
#endif
/* A buffer that cannot grow (fixed) has one view for good: no read-side section. */
#define view_leave(b) do { if (!(b)->fixed) view_unlock(b); } while (0)

#define DEFAULT_MAX (UINT64_C(1) << 32)

/* Chunks (see "Placement" above). */
#define CH_SHIFT 15		/* units per chunk of a new buffer: 32768 */
#define CH_MIN_SHIFT 6		/* what a header may say: a chunk of 64 .. */
#define CH_MAX_SHIFT 15		/* .. 32768 units (the index holds 16-bit positions) */
#define ENG(shift) ((shift) ? 1 : 0)	/* the engine's area: after the records, if any */
#define REC_HEAD 8		/* words before the records: word 0 the low-chunk hint */
#define W_WANT 1		/* record word 1: the 'wanted' signal (slot_want()) */
#define NSLOT 8			/* slots of a handle: one per thread, 8 threads */
#define OWN_MAX 64		/* chunks a slot owns at once (8 KiB of start cells each) */
#define NODE_SHIFT CH_MAX_SHIFT	/* a node number: owned chunk above, position below */
#define NODE_POS ((UINT32_C(1) << NODE_SHIFT) - 1)
#define SL_NIL UINT32_MAX
#define TAIL_MIN 512		/* extents longer than this have a tail entry */
#define TAIL_KEY (UINT32_C(1) << 30)	/* a tail entry's key: the node of the last unit | this */
#define HT_EMPTY UINT64_MAX
#define HT_BITS0 12		/* a slot's first hash table: 4096 entries */
#define EX_CAP0 1024		/* and its first extent records */
#define SL_BINS 192		/* 64 exact classes, then 8 per power of two up to 2^16 */
#define SL_MASKS (SL_BINS / 64)
#define OWN_ID ((UINT64_C(1) << 56) - 1)	/* the identity in an owner record */
#define OWN_TAG_SHIFT 56	/* the slot's tag above it */
#define NLIVE 4			/* liveness answers a slot remembers */
#define LIVE_NS UINT64_C(100000000)	/* and for how long: 0.1 s */

/* A record's estimate of its chunk (advice): the fields of the est word. */
#define EST_USED(e) ((e) & 0xffff)		/* units used when last released */
#define EST_NOTBIG(e) (((e) >> 16) & 0xffff)	/* its units minus its largest free run then */
#define EST_FREED(e) ((e) >> 32)		/* units freed into it since */

struct live_ent {
	uint64_t id;		/* an identity (OWN_ID bits) */
	uint64_t when;		/* CLOCK_MONOTONIC ns of the answer */
	int alive;
};

/*
 * A chunk a slot owns, in this process's memory: cell[] marks the
 * positions (relative to the chunk's base) where an extent of the slot's
 * index starts, 64 positions a cell. The extents themselves are records
 * of the slot (struct ext): a cell holds the record numbers of its first
 * two marks (by position), so the line that says an extent starts at P
 * also says where its record is; the records of a cell's third and later
 * marks are found by node number (node_of()) through the slot's hash
 * table.
 */
struct cell {
	uint64_t starts;		/* bit b: an extent starts at 64 * cell + b */
	uint32_t rec[2];		/* the records of the lowest two marks; the rest in the table */
};

struct och {
	uint32_t oi;			/* its number in the slot's och[] */
	uint64_t chunk;			/* the chunk */
	uint64_t own;			/* the owner record the slot wrote there */
	uint64_t base;			/* the chunk's first unit */
	uint64_t units;			/* units of the chunk the index covers */
	uint64_t freeu;			/* units of its extents in the index */
	uint64_t fseen;			/* the chunk's EST_FREED when last built from the words */
	struct cell *cell;		/* ixn / 64 (rounded up) cells */
	struct och *spare;		/* the next spare record (not owned) */
	size_t size;			/* bytes of the mapping of cell[] */
};

/*
 * A free extent of the index: its node (owned chunk << NODE_SHIFT |
 * position), its length, and the other extents of its size class (as
 * record numbers, SL_NIL at the ends). Records live in one array per slot
 * (ex[]), reused through a free list: a few thousand of them are hot in
 * the cache, where one record per unit of every owned chunk (session 2)
 * was 12 MiB for 2^20 units and cost two or three misses per operation.
 */
struct ext {
	uint32_t x;			/* its node */
	uint32_t len;			/* units, >= 1 */
	uint32_t next, prev;		/* its class's list (records), or SL_NIL */
};

/*
 * A slot: the chunks one thread at a time (lock) owns through this handle
 * and ONE segregated-fit index over the free extents of all of them.
 * Frees this process makes into them enter it, merged with their free
 * neighbours; frees by others clear the words and add to the chunk's
 * record, and the slot builds such a chunk's extents again from the
 * words when it misses.
 */
struct slot {
	int lock;			/* 0 free, 1 held: atomic exchange, release store */
	unsigned int tag;		/* 1..255: this slot in the owner record */
	unsigned int num;		/* its place in the handle's slot[] */
	struct och **och;		/* och[i]: an owned chunk, or NULL; ncap entries */
	uint32_t ncap;			/* entries of och[] */
	uint32_t noch;			/* chunks owned */
	struct och *spare;		/* records of chunks given back, for reuse */
	uint64_t mask[SL_MASKS];	/* bit b: class b has an extent */
	uint32_t head[SL_BINS];		/* newest extent of each class (record), or SL_NIL */
	struct ext *ex;			/* the extent records: ex_cap of them, ex_n ever used */
	uint32_t ex_cap, ex_n;
	uint32_t ex_free;		/* a free list of records (through next), or SL_NIL */
	uint64_t *ht;			/* open addressing, key << 32 | value, HT_EMPTY */
	unsigned int ht_bits;		/* 2^ht_bits entries, at most a quarter used */
	uint32_t ht_used;
	uint64_t want_seen;		/* the last 'wanted' value it looked at */
	struct live_ent live[NLIVE];	/* other owners seen alive or dead */
	unsigned int nlive;
};

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
	uint64_t umask;			/* unit - 1 if a power of two, else UINT64_MAX */
	unsigned int ushift;		/* log2(unit) if a power of two */
	pthread_mutex_t lock;		/* one remapper at a time in this process */
	char grace;			/* ThreadSanitizer's name for "a grace period ended" */
	int eng;			/* the engine's area: 1 after chunk records, else 0 */
	int first_fit;			/* NUMBALLOC_BUF_FIRST_FIT, or a buffer without records */
	int fixed;			/* cap0 == maxu: the first view is the only one */
	unsigned int shift;		/* log2 of units per chunk (records only) */
	uint64_t chunk;			/* units per chunk */
	uint64_t ixn;			/* positions in a chunk's index: min(chunk, maxu) */
	uint64_t big;			/* larger requests go to the engine's run search */
	uint64_t thresh;		/* a chunk with this much free is worth adopting */
	uint64_t keep;			/* and worth keeping after a miss */
	uint64_t topbase;		/* the first unit of the last chunk of maxu */
	uint64_t *rec;			/* the records area (shared, untrusted), or NULL */
	uint64_t nrec;			/* chunks the records cover: ceil(maxu / chunk) */
	struct slot *slot[NSLOT];	/* made on first use (CAS), freed at close */
	uint32_t *chown;		/* chown[c]: 1 + slot << 16 + och number, or 0 (advice) */
	uint64_t nchown;		/* its entries (mmap, pages touched where used) */
};

static uint64_t rec_bytes(uint64_t maxu, unsigned int shift)
{
	return (REC_HEAD + 2 * ((maxu + (UINT64_C(1) << shift) - 1) >> shift)) * sizeof(uint64_t);
}

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
	    l->param[1] > NUMBALLOC_CAPACITY_MAX / l->param[0] || l->param[2] > 1 ||
	    (l->param[3] && (l->param[3] < CH_MIN_SHIFT || l->param[3] > CH_MAX_SHIFT)) ||
	    l->policy || l->flags || l->base)
		return -EINVAL;
	if (l->param[3]) {
		l->area_size[0] = rec_bytes(l->param[1], (unsigned int)l->param[3]);
		l->area_align[0] = 64;
	}
	l->area_size[ENG(l->param[3])] =
		nb_bitmap_grow_bytes(l->param[2] ? l->param[1] : l->capacity, l->param[1]);
	l->area_align[ENG(l->param[3])] = 64;
	return 0;
}

static int buf_init(void *base, const struct nb_header *h, void *arg)
{
	struct nb_bitmap bm;

	(void)arg;
	nb_bitmap_attach_grow(&bm, (char *)base + h->area_off[ENG(h->param[3])], h->capacity,
			      h->param[1]);
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
	uint64_t size = b->seg.hdr->area_off[b->eng] + nb_bitmap_grow_bytes(nbits, b->maxu);
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
	nb_bitmap_attach_grow(&v->bm, map + b->seg.hdr->area_off[b->eng], nbits, b->maxu);
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

	if (b->fixed)
		return b->view;
	rcu_read_lock();
	v = view_read(b->view);
	if (cap_now(b) <= v->bm.nbits)
		return v;
	view_unlock(b);
	view_refresh(b);	/* on failure the older view is still correct */
	rcu_read_lock();
	return view_read(b->view);
}

/* After -ENOSPC in view V: is there a larger capacity to look in? */
static int grew_since(struct numballoc_buf *b, const struct buf_view *v)
{
	return cap_now(b) > v->bm.nbits;
}

/* ------------------------------------------------------------- chunks */

static uint64_t *rec_owner(const struct numballoc_buf *b, uint64_t c)
{
	return &b->rec[REC_HEAD + 2 * c];
}

static uint64_t *rec_est(const struct numballoc_buf *b, uint64_t c)
{
	return &b->rec[REC_HEAD + 2 * c + 1];
}

static uint64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Units of chunk C in view V (the last one may be partial). */
static uint64_t chunk_units(const struct numballoc_buf *b, const struct buf_view *v, uint64_t c)
{
	uint64_t base = c << b->shift;

	if (base >= v->bm.nbits)
		return 0;
	return v->bm.nbits - base < b->chunk ? v->bm.nbits - base : b->chunk;
}

/* What the record says chunk C (of U units) has free, and its largest free run. */
static uint64_t est_free(const struct numballoc_buf *b, uint64_t e, uint64_t u, uint64_t *big)
{
	uint64_t used = EST_USED(e) < u ? EST_USED(e) : u, freed = EST_FREED(e), f;

	f = u - used + (freed < u ? freed : u);
	*big = u - (EST_NOTBIG(e) < u ? EST_NOTBIG(e) : u);	/* grown since: longer */
	if (freed > *big)
		*big = freed < u ? freed : u;	/* a free of that many units made a run that long */
	return f < u ? f : u;
}

/* Lower the shared hint to chunk C: a plain CAS, only while it is above. */
static void hint_lower(struct numballoc_buf *b, uint64_t c)
{
	uint64_t h = uatomic_read(&b->rec[0]), prev;

	while (h > c) {
		prev = uatomic_cmpxchg(&b->rec[0], h, c);
		if (prev == h)
			return;
		h = prev;
	}
}

/* --- the slot's index: segregated fit over the free extents of its chunks */

/* Node X of the index: chunk och[X >> NODE_SHIFT] of the slot, position X & NODE_POS. */
static struct och *node_och(const struct slot *s, uint32_t x)
{
	return s->och[x >> NODE_SHIFT];
}

static uint32_t node_pos(uint32_t x)
{
	return x & NODE_POS;
}

static uint32_t node_of(const struct och *o, uint64_t p)
{
	return o->oi << NODE_SHIFT | (uint32_t)p;
}

static int och_starts(const struct och *o, uint64_t p)
{
	return (int)(o->cell[p / 64].starts >> (p % 64) & 1);
}

static unsigned int sl_bin(uint64_t l)
{
	unsigned int lg;

	if (l < 64)
		return (unsigned int)l;
	lg = 63u - (unsigned int)__builtin_clzll(l);
	return 64 + (lg - 6) * 8 + (unsigned int)((l >> (lg - 3)) & 7);
}

static uint64_t sl_bin_low(unsigned int k)
{
	if (k < 64)
		return k;
	return (UINT64_C(8) + (k - 64) % 8) << ((k - 64) / 8 + 3);
}

/*
 * The slot's hash table: the record of an extent that is the third or
 * later to start in its cell (key: its node; the first two are in the
 * cell), and, for
 * extents longer than TAIL_MIN, where the extent that ends at a node
 * starts (key: that node | TAIL_KEY). Linear probing, deletion by moving
 * back the entries after (no tombstones). All in this process's memory.
 */
static uint32_t ht_home(const struct slot *s, uint32_t key)
{
	return (key * UINT32_C(0x9e3779b1)) >> (32 - s->ht_bits);
}

/* The value of KEY, or SL_NIL. */
static uint32_t ht_get(const struct slot *s, uint32_t key)
{
	uint32_t m = (UINT32_C(1) << s->ht_bits) - 1, i;
	uint64_t e;

	for (i = ht_home(s, key); (e = s->ht[i]) != HT_EMPTY; i = (i + 1) & m)
		if ((uint32_t)(e >> 32) == key)
			return (uint32_t)e;
	return SL_NIL;
}

static void ht_set(struct slot *s, uint32_t key, uint32_t val)
{
	uint32_t m = (UINT32_C(1) << s->ht_bits) - 1, i;
	uint64_t e;

	for (i = ht_home(s, key); (e = s->ht[i]) != HT_EMPTY; i = (i + 1) & m)
		if ((uint32_t)(e >> 32) == key)
			break;
	if (e == HT_EMPTY)
		s->ht_used++;
	s->ht[i] = (uint64_t)key << 32 | val;
}

/* KEY -> VAL, replacing; -ENOMEM when the table could not grow (nothing changed). */
static int ht_put(struct slot *s, uint32_t key, uint32_t val)
{
	/* at most a quarter full: short probe runs (half full cost 10 ns an operation) */
	if ((uint64_t)(s->ht_used + 1) * 4 > UINT64_C(1) << s->ht_bits) {
		uint64_t *old = s->ht, *nt, i, n = UINT64_C(1) << s->ht_bits;

		if (s->ht_bits >= 31)
			return -ENOMEM;
		nt = malloc(2 * n * sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		memset(nt, 0xff, 2 * n * sizeof(*nt));
		s->ht = nt;
		s->ht_bits++;
		s->ht_used = 0;
		for (i = 0; i < n; i++)
			if (old[i] != HT_EMPTY)
				ht_set(s, (uint32_t)(old[i] >> 32), (uint32_t)old[i]);
		free(old);
	}
	ht_set(s, key, val);
	return 0;
}

/* KEY leaves the table if it maps to VAL (any value: SL_NIL). */
static void ht_del(struct slot *s, uint32_t key, uint32_t val)
{
	uint32_t m = (UINT32_C(1) << s->ht_bits) - 1, i, j, h;
	uint64_t e;

	for (i = ht_home(s, key); (e = s->ht[i]) != HT_EMPTY; i = (i + 1) & m)
		if ((uint32_t)(e >> 32) == key)
			break;
	if (e == HT_EMPTY || (val != SL_NIL && (uint32_t)e != val))
		return;
	/* move back each later entry of the cluster whose home is not in (i, j] */
	for (j = (i + 1) & m; (e = s->ht[j]) != HT_EMPTY; j = (j + 1) & m) {
		h = ht_home(s, (uint32_t)(e >> 32));
		if (((j - h) & m) >= ((j - i) & m)) {
			s->ht[i] = e;
			i = j;
		}
	}
	s->ht[i] = HT_EMPTY;
	s->ht_used--;
}

/* A free extent record, or SL_NIL when memory is short. */
static uint32_t ext_new(struct slot *s)
{
	struct ext *ne;
	uint32_t i = s->ex_free;

	if (i != SL_NIL) {
		s->ex_free = s->ex[i].next;
		return i;
	}
	if (s->ex_n == s->ex_cap) {
		if (s->ex_cap >= UINT32_MAX / 4)
			return SL_NIL;
		ne = realloc(s->ex, 2 * (size_t)s->ex_cap * sizeof(*ne));
		if (!ne)
			return SL_NIL;
		s->ex = ne;
		s->ex_cap *= 2;
	}
	return s->ex_n++;
}

/* Marks of cell C below bit B, 2 for two or more (no popcount: not in baseline x86-64). */
static unsigned int cell_rank(const struct cell *c, unsigned int b)
{
	uint64_t m = c->starts & ((UINT64_C(1) << b) - 1);

	return (unsigned int)(m != 0) + (unsigned int)((m & (m - 1)) != 0);
}

/* The bit of the K-th (from 0) mark of cell C, which has more than K. */
static unsigned int cell_nth(const struct cell *c, unsigned int k)
{
	uint64_t m = c->starts;

	while (k--)
		m &= m - 1;
	return (unsigned int)__builtin_ctzll(m);
}

/* The record of the extent marked at P of chunk O (the mark is set), or SL_NIL. */
static uint32_t mark_rec(const struct slot *s, const struct och *o, uint64_t p)
{
	const struct cell *c = &o->cell[p / 64];
	unsigned int r = cell_rank(c, (unsigned int)(p % 64));

	return r < 2 ? c->rec[r] : ht_get(s, node_of(o, p));
}

/*
 * Mark P of chunk O (not marked) as the start of record I: in its cell
 * if it is among the cell's lowest two (the second then moves to the
 * table), else in the table. -ENOMEM when the table could not grow
 * (nothing changed).
 */
static int mark_set(struct slot *s, struct och *o, uint64_t p, uint32_t i)
{
	struct cell *c = &o->cell[p / 64];
	unsigned int b = (unsigned int)(p % 64), r = cell_rank(c, b);

	if (r >= 2) {
		if (ht_put(s, node_of(o, p), i) < 0)
			return -ENOMEM;
	} else {
		if (c->starts & (c->starts - 1) &&
		    ht_put(s, node_of(o, p - b + cell_nth(c, 1)), c->rec[1]) < 0)
			return -ENOMEM;
		if (r == 0)
			c->rec[1] = c->rec[0];
		c->rec[r] = i;
	}
	c->starts |= UINT64_C(1) << b;
	return 0;
}

/*
 * The mark at P of chunk O (set; its record I, or SL_NIL: any) goes; a
 * cell's third mark, if any, moves from the table into the cell.
 */
static void mark_clear(struct slot *s, struct och *o, uint64_t p, uint32_t i)
{
	struct cell *c = &o->cell[p / 64];
	unsigned int b = (unsigned int)(p % 64), r = cell_rank(c, b);
	uint32_t key;

	if (r >= 2) {
		ht_del(s, node_of(o, p), i);
	} else {
		if (r == 0)
			c->rec[0] = c->rec[1];
		if (c->starts & (c->starts - 1) & ((c->starts & (c->starts - 1)) - 1)) {	/* a third */
			key = node_of(o, p - b + cell_nth(c, 2));
			c->rec[1] = ht_get(s, key);
			ht_del(s, key, SL_NIL);
		}
	}
	c->starts &= ~(UINT64_C(1) << b);
}

/* Record I (extent [P, P+len) of chunk O) leaves the index. */
static void ix_remove_rec(struct slot *s, struct och *o, uint64_t p, uint32_t i)
{
	struct ext *e = &s->ex[i];
	unsigned int k = sl_bin(e->len);
	uint32_t nx = e->next, pv = e->prev;

	if (pv != SL_NIL)
		s->ex[pv].next = nx;
	else
		s->head[k] = nx;
	if (nx != SL_NIL)
		s->ex[nx].prev = pv;
	if (s->head[k] == SL_NIL)
		s->mask[k / 64] &= ~(UINT64_C(1) << (k % 64));
	mark_clear(s, o, p, i);
	o->freeu -= e->len;
	if (e->len > TAIL_MIN)
		ht_del(s, node_of(o, p + e->len - 1) | TAIL_KEY, (uint32_t)p);
	e->next = s->ex_free;
	s->ex_free = i;
}

/* The record of the extent that starts at P of chunk O (marked in its cell), or SL_NIL. */
static uint32_t ix_rec(const struct slot *s, const struct och *o, uint64_t p)
{
	return och_starts(o, p) ? mark_rec(s, o, p) : SL_NIL;
}

/* The extent marked at P of chunk O leaves the index. */
static void ix_remove(struct slot *s, struct och *o, uint64_t p)
{
	uint32_t i = mark_rec(s, o, p);

	if (i != SL_NIL)
		ix_remove_rec(s, o, p, i);
	else	/* cannot be: every mark has its record; keep them in step anyway */
		mark_clear(s, o, p, SL_NIL);
}

/*
 * The extent [P, P+L) of chunk O enters the index, first in its class
 * (replacing one at P). When memory for its record is short it stays out:
 * the words still have it, and the next build of the chunk finds it.
 */
static void ix_insert(struct slot *s, struct och *o, uint64_t p, uint64_t l)
{
	unsigned int k = sl_bin(l);
	uint32_t x = node_of(o, p), h, i;
	struct ext *e;

	if (och_starts(o, p))
		ix_remove(s, o, p);	/* only an index gone stale gets here */
	i = ext_new(s);
	if (i == SL_NIL)
		return;
	if (mark_set(s, o, p, i) < 0) {
		s->ex[i].next = s->ex_free;
		s->ex_free = i;
		return;
	}
	/* shorter ones are found from the words; without its tail entry, a merge is missed */
	if (l > TAIL_MIN)
		(void)ht_put(s, node_of(o, p + l - 1) | TAIL_KEY, (uint32_t)p);
	h = s->head[k];
	e = &s->ex[i];
	e->x = x;
	e->len = (uint32_t)l;
	e->prev = SL_NIL;
	e->next = h;
	if (h != SL_NIL)
		s->ex[h].prev = i;
	s->mask[k / 64] |= UINT64_C(1) << (k % 64);
	o->freeu += l;
	s->head[k] = i;
}

/*
 * [P, P+L) of chunk O was freed by this process: it enters the index
 * merged with the free extents of the index that end at P and start at
 * P+L (found from the words or a tail entry, and the start marks; each
 * checked against its record, so a stale one costs a missed merge).
 */
static void ix_free(struct slot *s, struct och *o, const struct nb_bitmap *bm, uint64_t p,
		    uint64_t l)
{
	uint64_t t;
	uint32_t i;

	if (p > 0) {
		/* the words say where a free run before P starts, if it is short */
		t = nb_bitmap_clear_back(bm, o->base + p, o->base, TAIL_MIN / 64);
		t = t == NB_NONE ? ht_get(s, node_of(o, p - 1) | TAIL_KEY) : t - o->base;
		if (t < p && (i = ix_rec(s, o, t)) != SL_NIL && t + s->ex[i].len == p) {
			ix_remove_rec(s, o, t, i);
			l += p - t;
			p = t;
		}
	}
	if (p + l < o->units && (i = ix_rec(s, o, p + l)) != SL_NIL) {
		t = s->ex[i].len;
		ix_remove_rec(s, o, p + l, i);
		l += t;
	}
	ix_insert(s, o, p, l);
}

/* The first class >= K that has an extent, or SL_BINS. */
static unsigned int ix_next_bin(const struct slot *s, unsigned int k)
{
	unsigned int w;

	for (w = k / 64; w < SL_MASKS; w++) {
		uint64_t m = s->mask[w] & (w == k / 64 ? UINT64_MAX << (k % 64) : UINT64_MAX);

		if (m)
			return w * 64 + (unsigned int)__builtin_ctzll(m);
	}
	return SL_BINS;
}

/*
 * An extent of at least N units: its record, or SL_NIL. The newest extent
 * of N's own class if it fits (a class above 64 spans lengths both
 * shorter and longer than N), else the newest of the smallest class
 * whose every extent fits (TLSF's good fit), else the first of N's class
 * that fits. Looking at N's class first keeps the top of the buffer in
 * long runs: without it, at 85% live, free/largest ended at 3.9 in
 * numballoc-bufbench, with it 2.1 (doc/performance.md).
 */
static uint32_t ix_find(const struct slot *s, uint64_t n)
{
	unsigned int k = sl_bin(n);
	uint32_t i = s->head[k];

	if (i != SL_NIL && s->ex[i].len >= n)
		return i;
	if (sl_bin_low(k) < n)
		k++;
	k = ix_next_bin(s, k);
	if (k < SL_BINS)
		return s->head[k];
	for (i = s->head[sl_bin(n)]; i != SL_NIL; i = s->ex[i].next)
		if (s->ex[i].len >= n)
			break;
	return i;
}

/* The longest extent of chunk O in the index. */
static uint64_t och_largest(const struct slot *s, const struct och *o)
{
	uint64_t w, m, p, best = 0;
	uint32_t i;

	for (w = 0; w < (o->units + 63) / 64; w++)
		for (m = o->cell[w].starts; m; m &= m - 1) {
			p = w * 64 + (uint64_t)__builtin_ctzll(m);
			i = mark_rec(s, o, p);
			if (i != SL_NIL && s->ex[i].len > best)
				best = s->ex[i].len;
		}
	return best;
}

/* Every extent of chunk O leaves the index. */
static void och_clear(struct slot *s, struct och *o)
{
	uint64_t w, m;

	for (w = 0; w < (o->units + 63) / 64; w++)
		for (m = o->cell[w].starts; m; m &= m - 1)
			ix_remove(s, o, w * 64 + (uint64_t)__builtin_ctzll(m));
}

struct build_arg {
	struct slot *s;
	struct och *o;
};

static void ix_add_run(void *arg, uint64_t first, uint64_t n)
{
	struct build_arg *a = arg;

	ix_insert(a->s, a->o, first - a->o->base, n);
}

/* Chunk O's extents from the words as they are now: every free run of the chunk. */
static void och_build(struct numballoc_buf *b, struct buf_view *v, struct slot *s, struct och *o)
{
	struct build_arg a = { s, o };

	och_clear(s, o);
	o->fseen = EST_FREED(uatomic_read(rec_est(b, o->chunk)));
	o->units = chunk_units(b, v, o->chunk);
	nb_bitmap_clear_runs(&v->bm, o->base, o->base + o->units, ix_add_run, &a);
}

/* A chunk record for slot S (oi set, nothing owned yet), or NULL when memory is short. */
static struct och *och_new(struct numballoc_buf *b, struct slot *s)
{
	struct och *o = s->spare, **no;
	uint64_t n = b->ixn, sw = (n + 63) / 64;
	uint32_t oi, cap;

	for (oi = 0; oi < s->ncap && s->och[oi]; oi++)
		;
	if (oi == s->ncap) {
		if (s->ncap >= OWN_MAX)
			return NULL;
		cap = s->ncap ? 2 * s->ncap : 16;
		no = realloc(s->och, cap * sizeof(*no));
		if (!no)
			return NULL;
		memset(no + s->ncap, 0, (cap - s->ncap) * sizeof(*no));
		s->och = no;
		s->ncap = cap;
	}
	if (o) {
		s->spare = o->spare;
	} else {
		size_t sz = sw * sizeof(struct cell);
		void *m;

		/*
		 * The record apart from its marks: records at the start of
		 * page-aligned mappings all fell in one set of the L1 cache and
		 * evicted each other (a miss on most frees).
		 */
		o = calloc(1, sizeof(*o));
		if (!o)
			return NULL;
		/*
		 * Populated at once: the index touches most of these pages, and
		 * one call that maps them all costs far less than a fault each
		 * (measured: doc/performance.md).
		 */
		m = mmap(NULL, sz, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (m == MAP_FAILED) {
			free(o);
			return NULL;
		}
		o->size = sz;
		o->cell = m;
	}
	o->oi = oi;
	o->units = 0;
	return o;
}

static struct slot *slot_new(struct numballoc_buf *b, unsigned int i)
{
	static unsigned int serial;
	struct slot *s = calloc(1, sizeof(*s));

	(void)b;
	if (!s)
		return NULL;
	memset(s->head, 0xff, sizeof(s->head));
	s->ex_free = SL_NIL;
	s->ex_cap = EX_CAP0;
	s->ex = malloc(EX_CAP0 * sizeof(*s->ex));
	s->ht_bits = HT_BITS0;
	s->ht = malloc((sizeof(*s->ht)) << HT_BITS0);
	if (!s->ex || !s->ht) {
		free(s->ex);
		free(s->ht);
		free(s);
		return NULL;
	}
	memset(s->ht, 0xff, sizeof(*s->ht) << HT_BITS0);
	s->tag = (__atomic_fetch_add(&serial, 1, __ATOMIC_RELAXED) * NSLOT + i) % 255 + 1;
	s->num = i;
	return s;
}

static void och_free(struct och *o)
{
	munmap(o->cell, o->size);
	free(o);
}

static void slot_free(struct slot *s)
{
	struct och *o;
	uint32_t i;

	for (i = 0; i < s->ncap; i++)
		if (s->och[i])
			och_free(s->och[i]);
	while ((o = s->spare)) {
		s->spare = o->spare;
		och_free(o);
	}
	free(s->och);
	free(s->ex);
	free(s->ht);
	free(s);
}

/* The thread's slot number, the same for every handle; spread over the slots. */
static __thread unsigned int tl_slot __attribute__((tls_model("initial-exec"))) = UINT32_MAX;
static unsigned int slot_serial;

/* A slot of B for this thread, locked; NULL when all are busy or memory is short. */
static struct slot *slot_get(struct numballoc_buf *b)
{
	struct slot *s, *nul;
	unsigned int k, i;

	if (tl_slot == UINT32_MAX)
		tl_slot = __atomic_fetch_add(&slot_serial, 1, __ATOMIC_RELAXED) % NSLOT;
	for (k = 0; k < NSLOT; k++) {
		i = (tl_slot + k) % NSLOT;
		s = __atomic_load_n(&b->slot[i], __ATOMIC_ACQUIRE);
		if (!s) {
			s = slot_new(b, i);
			if (!s)
				return NULL;
			nul = NULL;
			if (!__atomic_compare_exchange_n(&b->slot[i], &nul, s, 0, __ATOMIC_ACQ_REL,
							 __ATOMIC_ACQUIRE)) {
				slot_free(s);
				s = nul;
			}
		}
		if (!__atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE))
			return s;
	}
	return NULL;
}

static void slot_put(struct slot *s)
{
	__atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
}

/*
 * Is the process named by owner record OWN dead? Unknown counts as alive;
 * this process (another handle or slot) is alive. Answers are kept for
 * LIVE_NS in CACHE (N entries).
 */
static int owner_dead(struct live_ent *cache, unsigned int *n, uint64_t own, uint64_t self)
{
	uint64_t id = own & OWN_ID, now = mono_ns(), cur;
	unsigned int i;
	int alive;

	if (id == (self & OWN_ID))
		return 0;
	for (i = 0; i < *n; i++)
		if (cache[i].id == id && now - cache[i].when < LIVE_NS)
			return !cache[i].alive;
	alive = nb_ident_of((pid_t)(id & ((1u << 22) - 1)), &cur) == -ESRCH ? 0 : 1;
	if (alive && nb_ident_of((pid_t)(id & ((1u << 22) - 1)), &cur) == 0)
		alive = (cur & OWN_ID) == id;	/* a reused pid is another process */
	i = *n < NLIVE ? (*n)++ : (unsigned int)(now % NLIVE);
	cache[i] = (struct live_ent){ id, now, alive };
	return !alive;
}

/* The process-local map of chunk C: 0, or 1 + slot << 16 + its och number. */
static void chown_set(struct numballoc_buf *b, uint64_t c, uint32_t e)
{
	if (c < b->nchown)
		__atomic_store_n(&b->chown[c], e, __ATOMIC_RELEASE);
}

/* Give chunk O of the slot back: its estimate from the index, then the record. */
static void chunk_release(struct numballoc_buf *b, struct slot *s, struct och *o)
{
	uint64_t c = o->chunk, *ep = rec_est(b, c), e = uatomic_read(ep), prev, ne, f, big;

	big = och_largest(s, o);
	for (;;) {
		f = EST_FREED(e) >= o->fseen ? EST_FREED(e) - o->fseen : 0;	/* not yet in the index */
		ne = (o->units - o->freeu) | (o->units - big) << 16 | f << 32;
		prev = uatomic_cmpxchg(ep, e, ne);
		if (prev == e)
			break;
		e = prev;
	}
	chown_set(b, c, 0);
	uatomic_cmpxchg(rec_owner(b, c), o->own, 0);
	if (o->freeu + f >= b->thresh)
		hint_lower(b, c);
	och_clear(s, o);
	s->och[o->oi] = NULL;
	s->noch--;
	o->spare = s->spare;
	s->spare = o;
}

/* Take chunk C if nobody alive owns it: its och (index built), or NULL. */
static struct och *chunk_take(struct numballoc_buf *b, struct buf_view *v, struct slot *s,
			      uint64_t c, uint64_t self)
{
	uint64_t *op = rec_owner(b, c), own = uatomic_read(op), mine;
	struct och *o;

	if (own && !owner_dead(s->live, &s->nlive, own, self))
		return NULL;
	o = och_new(b, s);
	if (!o)
		return NULL;
	mine = (self & OWN_ID) | (uint64_t)s->tag << OWN_TAG_SHIFT;
	if (uatomic_cmpxchg(op, own, mine) != own) {
		o->spare = s->spare;
		s->spare = o;
		return NULL;
	}
	o->chunk = c;
	o->own = mine;
	o->base = c << b->shift;
	s->och[o->oi] = o;
	s->noch++;
	och_build(b, v, s, o);
	chown_set(b, c, 1 + ((uint32_t)s->num << 16 | o->oi));
	return o;
}

static void slot_shed(struct numballoc_buf *b, struct slot *s, uint64_t n, int most);

/*
 * Adopt a chunk for a request of N units: the lowest chunk whose record
 * promises enough free units, where enough is, tier by tier, THRESH
 * (looking from the shared hint up), THRESH/2 and THRESH/4; then the
 * lowest unowned one that promises a run of N. Lowest first keeps the
 * top of the buffer free in one range. A slot that owns OWN_MAX chunks
 * first gives back its fullest. A chunk taken that has no run of
 * N is kept when it has KEEP units free (the requests that follow use
 * them), else given back. 0 when the index now has a run of N; -EBUSY
 * when none came and chunks of other live owners may have room (the
 * caller asks for some: slot_want()); -ENOSPC when none came.
 */
static int chunk_adopt(struct numballoc_buf *b, struct buf_view *v, struct slot *s, uint64_t n)
{
	uint64_t nch = (v->bm.nbits + b->chunk - 1) >> b->shift, h, c, e, u, f, big, self, want;
	uint64_t best = NB_NONE, own;
	struct och *o;
	int tier, busy = 0;

	if (nb_ident_self(&self) < 0)
		return -ENOSPC;
	h = uatomic_read(&b->rec[0]);
	if (h >= nch)
		h = 0;
	for (tier = 0; tier < 3; tier++) {
		want = b->thresh >> tier;
		if (want < n)
			want = n;
		for (c = tier ? 0 : h; c < nch; c++) {
			own = uatomic_read(rec_owner(b, c));
			if (own == ((self & OWN_ID) | (uint64_t)s->tag << OWN_TAG_SHIFT))
				continue;	/* ours */
			e = uatomic_read(rec_est(b, c));
			u = chunk_units(b, v, c);
			f = est_free(b, e, u, &big);
			if (own && !tier)
				busy = 1;
			if (f < n || (f < want && big < n))
				continue;
			if (f < want) {
				if (best == NB_NONE && !own)
					best = c;	/* the lowest with a run of N */
				continue;
			}
			if (!tier && c > h) {	/* none below qualified */
				uatomic_cmpxchg(&b->rec[0], h, c);
				h = c;
			}
			if (s->noch >= OWN_MAX)
				slot_shed(b, s, 1, 0);	/* room for one more: the fullest goes */
			o = chunk_take(b, v, s, c, self);
			if (!o)
				continue;
			if (ix_find(s, n) != SL_NIL)
				return 0;
			if (o->freeu < b->keep)
				chunk_release(b, s, o);
		}
	}
	if (best != NB_NONE && s->noch >= OWN_MAX)
		slot_shed(b, s, 1, 0);
	if (best != NB_NONE && (o = chunk_take(b, v, s, best, self))) {
		if (ix_find(s, n) != SL_NIL)
			return 0;
		if (o->freeu < b->keep)
			chunk_release(b, s, o);
	}
	return busy ? -EBUSY : -ENOSPC;
}

/* Give back N of the slot's chunks: those with the most free units (MOST), else the fewest. */
static void slot_shed(struct numballoc_buf *b, struct slot *s, uint64_t n, int most)
{
	struct och *o, *bo;
	uint32_t i;

	for (; n && s->noch; n--) {
		bo = NULL;
		for (i = 0; i < s->ncap; i++)
			if ((o = s->och[i]) &&
			    (!bo || (most ? o->freeu > bo->freeu : o->freeu < bo->freeu)))
				bo = o;
		chunk_release(b, s, bo);
	}
}

/*
 * The 'wanted' signal (record word W_WANT): a slot that found no chunk
 * to adopt while others own chunks asks for some: a new sequence number
 * above, the number of chunks it owns below. Every slot that sees a new
 * value at its next operation and owns more than one chunk more than the
 * asker gives back half the difference, the chunks with the most free
 * units first. Advice: an owner that never operates again keeps its
 * chunks (the asker places by first fit meanwhile, which finds free units
 * in them).
 */
static void slot_want(struct numballoc_buf *b, struct slot *s)
{
	uint64_t w = uatomic_read(&b->rec[W_WANT]);

	w = ((w >> 32) + 1) << 32 | s->noch;
	uatomic_set(&b->rec[W_WANT], w);
	s->want_seen = w;
}

static void slot_honour(struct numballoc_buf *b, struct slot *s)
{
	uint64_t w = uatomic_read(&b->rec[W_WANT]);

	if (w == s->want_seen)
		return;
	s->want_seen = w;
	if (s->noch <= (w & UINT32_MAX) + 1)
		return;
	slot_shed(b, s, (s->noch - (w & UINT32_MAX)) / 2, 1);
}

/*
 * Owned chunks into which other processes (or other handles) freed at
 * least N units since their extents were built from the words, and a
 * last chunk the buffer grew into: built again. 1 when one was.
 */
static int slot_rescan(struct numballoc_buf *b, struct buf_view *v, struct slot *s, uint64_t n)
{
	struct och *o;
	uint32_t i;
	int any = 0;

	for (i = 0; i < s->ncap; i++)
		if ((o = s->och[i]) &&
		    (EST_FREED(uatomic_read(rec_est(b, o->chunk))) - o->fseen >= n ||
		     o->units < chunk_units(b, v, o->chunk))) {
			och_build(b, v, s, o);
			any = 1;
		}
	return any;
}

/*
 * N units from the slot's chunks, adopting more when they have none:
 * 0, or -EAGAIN when the request goes to first fit.
 */
static int slot_alloc(struct numballoc_buf *b, struct buf_view *v, struct slot *s, uint64_t n,
		      uint64_t *first)
{
	struct och *o;
	uint64_t p, l;
	uint32_t i;
	int tries, r;

	slot_honour(b, s);
	for (tries = 0; tries < 16; tries++) {
		i = ix_find(s, n);
		if (i == SL_NIL) {
			if (slot_rescan(b, v, s, n))
				continue;
			r = chunk_adopt(b, v, s, n);
			if (r == 0)
				continue;
			if (r == -EBUSY)
				slot_want(b, s);
			return -EAGAIN;
		}
		o = node_och(s, s->ex[i].x);
		p = node_pos(s->ex[i].x);
		l = s->ex[i].len;
		ix_remove_rec(s, o, p, i);
		if (l > n && o->base == b->topbase) {
			/* the buffer's last chunk fills downwards (see "Placement") */
			ix_insert(s, o, p, l - n);
			p += l - n;
		} else if (l > n) {
			ix_insert(s, o, p + n, l - n);
		}
		if (nb_bitmap_claim_range_lazy(&v->bm, o->base + p, n) == 0) {
			*first = o->base + p;
			return 0;
		}
		och_build(b, v, s, o);	/* claimed by another meanwhile: the index was stale */
	}
	return -EAGAIN;
}

/*
 * Units [LO, LO+N) of chunk C, which slot (E-1) >> 16 of this handle
 * owned a moment ago, were freed: into its index, if it is still its and
 * free to take (else 0: the caller tells the record).
 */
static int free_local(struct numballoc_buf *b, const struct buf_view *v, uint64_t c, uint32_t e,
		      uint64_t lo, uint64_t n)
{
	struct slot *s = __atomic_load_n(&b->slot[(e - 1) >> 16], __ATOMIC_ACQUIRE);
	uint32_t oi = (e - 1) & 0xffff, i;
	struct och *o;

	if (!s || __atomic_exchange_n(&s->lock, 1, __ATOMIC_ACQUIRE))
		return 0;
	o = oi < s->ncap ? s->och[oi] : NULL;
	if (!o || o->chunk != c || lo + n > o->base + o->units) {
		slot_put(s);
		return 0;
	}
	ix_free(s, o, &v->bm, lo - o->base, n);
	/* an empty chunk goes back, unless it is the slot's last */
	if (o->freeu == o->units && s->noch > 1 && (i = ix_rec(s, o, 0)) != SL_NIL &&
	    s->ex[i].len == o->units)
		chunk_release(b, s, o);
	else
		slot_honour(b, s);
	slot_put(s);
	return 1;
}

/*
 * Units [FIRST, FIRST+N) were freed: into this handle's index where it
 * owns their chunk, else the chunk's record learns it.
 */
static void chunks_freed(struct numballoc_buf *b, const struct buf_view *v, uint64_t first,
			 uint64_t n)
{
	uint64_t c, end = first + n, lo, hi, old, big, u;
	uint32_t e;

	for (c = first >> b->shift; (c << b->shift) < end; c++) {
		lo = c << b->shift > first ? c << b->shift : first;
		hi = (c + 1) << b->shift < end ? (c + 1) << b->shift : end;
		e = c < b->nchown ? __atomic_load_n(&b->chown[c], __ATOMIC_ACQUIRE) : 0;
		if (e && free_local(b, v, c, e, lo, hi - lo))
			continue;
		old = uatomic_add_return(rec_est(b, c), (hi - lo) << 32) - ((hi - lo) << 32);
		u = chunk_units(b, v, c);
		/* it just became worth adopting: the hint learns it (rarely a write) */
		if (est_free(b, old, u, &big) < b->thresh &&
		    est_free(b, old + ((hi - lo) << 32), u, &big) >= b->thresh)
			hint_lower(b, c);
	}
}

/* Chunks whose owner died are nobody's: at open, so a dead owner's chunks come back. */
static void chunks_reclaim(struct numballoc_buf *b)
{
	struct live_ent cache[NLIVE];
	uint64_t c, own, self, nch = (cap_now(b) + b->chunk - 1) >> b->shift;
	unsigned int n = 0;

	if (nb_ident_self(&self) < 0)
		return;
	for (c = 0; c < nch; c++) {
		own = uatomic_read(rec_owner(b, c));
		if (own && owner_dead(cache, &n, own, self) &&
		    uatomic_cmpxchg(rec_owner(b, c), own, 0) == own)
			hint_lower(b, c);
	}
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
	b->umask = UINT64_MAX;
	if (!(b->unit & (b->unit - 1))) {
		b->ushift = (unsigned int)__builtin_ctzll(b->unit);
		b->umask = b->unit - 1;
	}
	b->maxu = h->param[1];
	b->fixed = b->maxu == b->cap0;
	b->capword = nb_segment_capacity_word(&b->seg);
	if (b->cap0 > NUMBALLOC_CAPACITY_MAX / b->unit || b->maxu > NUMBALLOC_CAPACITY_MAX / b->unit)
		return -NUMBALLOC_ECORRUPT;	/* byte offsets must fit */
	/* the layout checked the shift and sized the records for maxu */
	b->eng = ENG(h->param[3]);
	b->first_fit = 1;
	if (h->param[3]) {
		b->shift = (unsigned int)h->param[3];
		b->chunk = UINT64_C(1) << b->shift;
		b->ixn = b->chunk < b->maxu ? b->chunk : b->maxu;
		b->big = b->chunk / 4;
		b->thresh = b->chunk / 16;
		b->keep = b->chunk / 32;
		b->rec = nb_segment_area(&b->seg, 0);
		b->nrec = (b->maxu + b->chunk - 1) >> b->shift;
		b->topbase = b->nrec > 1 ? (b->nrec - 1) << b->shift : UINT64_MAX;
		b->first_fit = 0;
		/* the map of owned chunks: reserved for all, pages touched where used */
		b->chown = mmap(NULL, b->nrec * sizeof(uint32_t), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (b->chown == MAP_FAILED)
			b->chown = NULL;	/* every free then tells the record */
		else
			b->nchown = b->nrec;
	}
	r = view_new(b, b->cap0, &b->view);
	if (r < 0)
		goto fail;
	pthread_mutex_init(&b->lock, NULL);
	if (cap_now(b) > b->cap0) {
		r = view_refresh(b);
		if (r < 0) {
			pthread_mutex_destroy(&b->lock);
			view_free(b->view);
			goto fail;
		}
	}
	return 0;
fail:
	if (b->chown)
		munmap(b->chown, b->nchown * sizeof(uint32_t));
	b->chown = NULL;
	return r;
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
	/* Chunk records in what this call may create; an existing buffer keeps its layout. */
	if (!shared || (opts->flags & NUMBALLOC_CREATE))
		want.param[3] = CH_SHIFT;
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
	if (r == 0 && (opts->flags & NUMBALLOC_BUF_FIRST_FIT))
		b->first_fit = 1;
	if (r == 0 && !b->first_fit && shared)
		chunks_reclaim(b);
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
	int i;

	if (!b)
		return 0;
	for (i = 0; i < NSLOT; i++) {
		struct slot *s = b->slot[i];
		uint32_t k;

		if (!s)
			continue;
		for (k = 0; k < s->ncap; k++)
			if (s->och[k])
				chunk_release(b, s, s->och[k]);
		slot_free(s);
	}
	if (b->chown)
		munmap(b->chown, b->nchown * sizeof(uint32_t));
	view_free(b->view);
	pthread_mutex_destroy(&b->lock);
	nb_segment_close(&b->seg);
	free(b);
	return 0;
}

/* SIZE bytes in whole units, or 0 when it cannot be a size at all. */
static uint64_t units_of(const struct numballoc_buf *b, uint64_t size)
{
	uint64_t u;

	if (b->umask != UINT64_MAX)	/* a power of two: no division on the hot path */
		u = (size >> b->ushift) + ((size & b->umask) != 0);
	else
		u = size / b->unit + (size % b->unit != 0);

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

/*
 * N units in view V by the handle's placement: from a chunk of its own,
 * else (first fit, a large request, or no chunk had room) by the engine's
 * run search, whose definitive pass makes -ENOSPC true.
 */
static int alloc_any(struct numballoc_buf *b, struct buf_view *v, uint64_t n, uint64_t *first)
{
	struct slot *s;
	int r;

	if (!b->first_fit && n <= b->big) {
		s = slot_get(b);
		if (s) {
			r = slot_alloc(b, v, s, n, first);
			slot_put(s);
			if (r == 0)
				return 0;
		}
	}
	return alloc_in(b, v, n, first);
}

/* Claim N units, refreshing the view while the capacity grows under us. */
static int alloc_units(struct numballoc_buf *b, uint64_t n, uint64_t *first)
{
	struct buf_view *v;
	int r, tries;

	for (tries = 0; tries < 100; tries++) {
		v = view_enter(b);
		r = alloc_any(b, v, n, first);
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
	if (b->umask != UINT64_MAX) {
		if (start & b->umask)
			return -EINVAL;
		*first = start >> b->ushift;
	} else {
		if (start % b->unit)
			return -EINVAL;
		*first = start / b->unit;
	}
	*n = units_of(b, size);
	if (*n == 0 || *first >= v->bm.nbits || *n > v->bm.nbits - *first)
		return -EINVAL;
	return 0;
}

/*
 * Release [FIRST, FIRST+N) in view V: the engine's release (first fit),
 * or the buffer's own (bitmap.c) and then the chunks' indexes or records.
 */
static int buf_release(struct numballoc_buf *b, struct buf_view *v, uint64_t first, uint64_t n)
{
	int r;

	if (b->first_fit)
		return nb_bitmap_release_range(&v->bm, first, n);
	r = nb_bitmap_release_range_quick(&v->bm, first, n);
	if (r == 0)
		chunks_freed(b, v, first, n);
	return r;
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
		r = buf_release(b, v, first, n);
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
	r = alloc_any(b, v, nn, nfirst);
	if (r < 0)
		return r;
	buf_release(b, v, first, n);
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
				r = buf_release(b, v, first + nn, n - nn);
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
	r = nb_segment_extend(&b->seg, b->seg.hdr->area_off[b->eng] +
					       nb_bitmap_grow_bytes(c, b->maxu));
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

#ifdef NB_TEST_INDEX
/*
 * Test builds only (tests/check_bufindex.c): the slots' indexes checked
 * against their invariants and against the words, for a handle that one
 * thread uses and no other handle frees into (so the index is exact, not
 * only advice). 0, or a line number of this file naming the broken one.
 *
 *  - every mark has its record: the cell's first two in the cell, the
 *    rest in the table, and no entry of the table for the first two;
 *  - a record's node is its mark, its extent lies in its chunk and is
 *    free in the words; every record of a class list is of that class,
 *    the list's links agree both ways, the class mask bit is set exactly
 *    when the list is not empty, and the lists hold as many records as
 *    there are marks; an extent longer than TAIL_MIN has its tail entry;
 *    the table holds nothing else;
 *  - a chunk's freeu is the sum of its extents.
 */
int nb_buf_index_check(struct numballoc_buf *b);

int nb_buf_index_check(struct numballoc_buf *b)
{
	struct buf_view *v = view_enter(b);
	int r = 0, n;

	for (n = 0; n < NSLOT && !r; n++) {
		struct slot *s = b->slot[n];
		uint64_t marks = 0, listed = 0, inht = 0, want = 0, w, m, p, sum, u;
		uint32_t oi, i, j, k;

		if (!s)
			continue;
		for (oi = 0; oi < s->ncap && !r; oi++) {
			struct och *o = s->och[oi];

			if (!o)
				continue;
			sum = 0;
			for (w = 0; w < (o->units + 63) / 64 && !r; w++)
				for (m = o->cell[w].starts; m && !r; m &= m - 1) {
					p = w * 64 + (uint64_t)__builtin_ctzll(m);
					i = mark_rec(s, o, p);
					marks++;
					if (i == SL_NIL || i >= s->ex_n || s->ex[i].x != node_of(o, p) ||
					    !s->ex[i].len || p + s->ex[i].len > o->units) {
						r = __LINE__;
						break;
					}
					if (cell_rank(&o->cell[w], (unsigned int)(p % 64)) < 2) {
						if (ht_get(s, node_of(o, p)) != SL_NIL)
							r = __LINE__;
					} else {
						want++;
					}
					if (s->ex[i].len > TAIL_MIN) {
						want++;
						if (ht_get(s, node_of(o, p + s->ex[i].len - 1) | TAIL_KEY) !=
						    (uint32_t)p)
							r = __LINE__;
					}
					for (u = 0; u < s->ex[i].len && !r; u++)
						if (nb_bitmap_test(&v->bm, o->base + p + u))
							r = __LINE__;
					sum += s->ex[i].len;
				}
			if (!r && sum != o->freeu)
				r = __LINE__;
		}
		for (k = 0; k < SL_BINS && !r; k++) {
			if (!!(s->mask[k / 64] >> (k % 64) & 1) != (s->head[k] != SL_NIL))
				r = __LINE__;
			for (j = SL_NIL, i = s->head[k]; i != SL_NIL && !r; j = i, i = s->ex[i].next) {
				if (i >= s->ex_n || s->ex[i].prev != j || sl_bin(s->ex[i].len) != k ||
				    ++listed > marks)
					r = __LINE__;
			}
		}
		if (!r && listed != marks)
			r = __LINE__;
		for (w = 0; w < (UINT64_C(1) << s->ht_bits) && !r; w++)
			inht += s->ht[w] != HT_EMPTY;
		if (!r && (inht != want || inht != s->ht_used))
			r = __LINE__;
	}
	view_leave(b);
	return r;
}
#endif
