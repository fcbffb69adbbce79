/* SPDX-License-Identifier: MIT */
/*
 * owners.c - who holds what, and reclaiming what dead processes held.
 *
 * Pools created without NUMBALLOC_OWNERS keep no records: the release hook
 * passes straight through to the engine and nothing else here is called.
 *
 * Layout. A pool created with NUMBALLOC_OWNERS has area 1: one 64-bit
 * record per ID, record[b] for engine bit b, zero when the segment is made.
 *
 *	bits  0..21	pid (Linux pids are below 2^22)
 *	bits 22..61	start time of that process, in clock ticks since boot
 *			(field 22 of /proc/PID/stat), low 40 bits
 *	bit  62		RES: the process named is claiming the bit (allocation
 *			in progress); the record names the real caller
 *	bit  63		REL: the process named is releasing the bit; the
 *			record names the real caller
 *
 * An identity is pid and start time together: a pid reused by a new
 * process has another start time, so it is never taken for the old holder.
 * A process is dead when /proc/PID/stat is gone, is a zombie, or shows
 * another start time; death is final. A record is in one of four states:
 *
 *	0		empty			bit clear
 *	X|RES		X claims the bit	bit clear or set by X
 *	H		held by H		bit set
 *	X|REL		X releases the bit	bit set or already cleared by X
 *
 * Every record change is one CAS (uatomic_cmpxchg, a full barrier), and
 * every bit change is the engine's CAS. The rules:
 *
 *  1. Allocate: CAS record 0 -> self|RES, then claim the bit, then CAS
 *     self|RES -> H (H is the holder set by numballoc_set_owner(), or
 *     self). If the bit cannot be claimed, CAS self|RES -> 0. A block
 *     reserves all its records, then claims its bits with one
 *     nb_bitmap_claim_range(), then names its holder in each record.
 *  2. Release (numballoc_free, free_block, free_owner): CAS record H ->
 *     self|REL, then release the bit, then CAS self|REL -> 0. A record
 *     that is 0, RES or REL is not allocated: -ENOENT.
 *  3. Reclaim: for a record R whose process (R without its flags) is dead,
 *     CAS R -> self|REL, then release the bit if it is set, then CAS
 *     self|REL -> 0. A record of a live process is never touched.
 *
 * The argument.
 *
 *  (a) The bit of a record that is not 0 is changed only by the process
 *      that wrote the record's current value, because rules 1-3 change a
 *      bit only after their own CAS installed self|RES or self|REL. So a
 *      bit set implies its record is not 0 at every moment (rule 1 sets
 *      the record before the bit, rules 2-3 clear the bit before the
 *      record), and a new allocator, which needs the record 0 -> self|RES
 *      CAS, can never claim a bit that someone else is still using.
 *  (b) Concurrent releasers and reclaimers of one ID: each first needs a
 *      CAS from the value it read; exactly one wins, the others see a new
 *      value and leave. Two of them never both release one bit, so a late
 *      releaser never frees the ID after it has been handed out again.
 *  (c) A reclaimer frees only records whose process is dead, and a dead
 *      process never writes again; a record naming a live process
 *      (including one still allocating, RES, or releasing, REL) is left
 *      alone. So no reclaimer frees a live holder's ID. (A holder that a
 *      caller named with numballoc_set_owner() and that has died owns its
 *      IDs as a dead process: reclaiming them is the point.)
 *  (d) SIGKILL at any moment leaves one of the four states with the record
 *      naming the killed process (RES and REL name the real caller, never
 *      the holder it acts for): dead, so the next reclaim takes the record
 *      over by rule 3 and frees the bit if it is set. Killed between the
 *      bit claim and naming the holder: the bit is set under self|RES, and
 *      is freed. Killed between releasing the bit and emptying the record:
 *      the record is emptied. A reclaimer killed half-way is itself a dead
 *      releaser: the next reclaim finishes its work. No state outlives a
 *      reclaim after its process died, so nothing leaks for good.
 *  (e) Blocks: the records of a block are reserved one by one before any
 *      bit; if one is busy the reserved ones are returned (CAS back to 0,
 *      no bit was touched) and the search moves on. A block is released ID
 *      by ID, each by rule 2, so a killed releaser leaves each ID either
 *      free or under a record of its own that the next reclaim resolves.
 *      numballoc_alloc_id is rule 1 on one bit: -EEXIST when the record or
 *      the bit is taken; if a dead process holds it, it is reclaimed and
 *      the claim tried once more.
 *  4. Hand on (numballoc_chown): CAS record H -> H' (both held, no flags).
 *     The bit is not touched, so (a) holds; a releaser or reclaimer that
 *     read H loses its CAS and leaves, as in (b).
 *
 * A bit set with an empty record is a state no rule makes; a reclaim that
 * finds one (a corrupt or hand-edited segment) takes the record (0 ->
 * self|REL), which proves nobody else can be using the bit, frees the bit
 * and empties the record.
 *
 * What it costs: allocation on an owner pool searches clear bits with
 * nb_bitmap_next_clear() (no summary) and makes three CAS operations;
 * reclaim reads every record and /proc once per distinct dead-or-alive
 * process it meets. Liveness needs /proc and one PID namespace for all
 * processes that share the pool.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu/uatomic.h>

#include "idpool.h"
#include "numballoc.h"

#define REC_PID_MASK ((UINT64_C(1) << 22) - 1)
#define REC_START_SHIFT 22
#define REC_START_MASK ((UINT64_C(1) << 40) - 1)
#define REC_RES (UINT64_C(1) << 62)
#define REC_REL (UINT64_C(1) << 63)
#define REC_FLAGS (REC_RES | REC_REL)

static inline uint64_t *rec(const struct numballoc *p, uint64_t bit)
{
	return (uint64_t *)p->owners + bit;
}

static inline uint64_t rec_load(const struct numballoc *p, uint64_t bit)
{
#ifdef NB_COUNT_READS
	nb_words_read++;
#endif
	return uatomic_read(rec(p, bit));
}

/* One CAS on a record: 1 when it changed from OLD to NEW. */
static inline int rec_cas(const struct numballoc *p, uint64_t bit, uint64_t old, uint64_t new)
{
	return uatomic_cmpxchg(rec(p, bit), old, new) == old;
}

/*
 * Parse the text of /proc/PID/stat. The second field, the command name in
 * parentheses, may itself hold spaces and parentheses, and nothing after it
 * does: so the fields are counted from the last ')'. 0 and the identity of
 * a running process, -ESRCH for a zombie, -EIO for text that does not parse.
 */
static int stat_parse(const char *buf, pid_t pid, uint64_t *ident)
{
	const char *s = strrchr(buf, ')');
	unsigned long long start;
	char *end;
	int field;

	if (!s || s[1] != ' ' || !s[2])
		return -EIO;
	s += 2;		/* field 3: the state */
	if (*s == 'Z' || *s == 'X' || *s == 'x')
		return -ESRCH;
	for (field = 3; field < 22; field++) {
		s = strchr(s, ' ');
		if (!s)
			return -EIO;
		s++;
	}
	if (*s < '0' || *s > '9')
		return -EIO;
	start = strtoull(s, &end, 10);
	if (*end != ' ' && *end != '\n' && *end != '\0')
		return -EIO;
	*ident = (uint64_t)pid | ((uint64_t)start & REC_START_MASK) << REC_START_SHIFT;
	return 0;
}

/* The identity of the running process PID: 0, -ESRCH if there is none, or an error. */
static int proc_identity(pid_t pid, uint64_t *ident)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd;

	if (pid <= 0 || (uint64_t)pid > REC_PID_MASK)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		n = errno == ESRCH ? -ESRCH : -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	return stat_parse(buf, pid, ident);
}

/*
 * The identity of the calling process, cached in one word: after fork()
 * the pid in it no longer matches and the child computes its own.
 */
static uint64_t self_cache;

static int self_identity(uint64_t *ident)
{
	uint64_t c = uatomic_read(&self_cache);
	pid_t pid = getpid();
	int r;

	if (c && (c & REC_PID_MASK) == (uint64_t)pid) {
		*ident = c;
		return 0;
	}
	r = proc_identity(pid, &c);
	if (r < 0)
		return r == -ESRCH ? -ENOSYS : r;	/* no /proc: no identities */
	uatomic_set(&self_cache, c);
	*ident = c;
	return 0;
}

/* Is the process named by record R (flags ignored) alive? Unknown counts as alive. */
static int ident_alive(uint64_t r)
{
	uint64_t want = r & ~REC_FLAGS, now;
	int e = proc_identity((pid_t)(want & REC_PID_MASK), &now);

	if (e == -ESRCH)
		return 0;
	if (e < 0)
		return 1;	/* never free what we cannot prove dead */
	return now == want;
}

/* A few liveness answers, for one reclaim pass. */
#define LIVE_CACHE 16
struct live_cache {
	uint64_t ident[LIVE_CACHE];
	unsigned char alive[LIVE_CACHE];
	unsigned int n, next;
};

static int cached_alive(struct live_cache *c, uint64_t r)
{
	uint64_t id = r & ~REC_FLAGS;
	unsigned int i;

	for (i = 0; i < c->n; i++)
		if (c->ident[i] == id)
			return c->alive[i];
	i = c->n < LIVE_CACHE ? c->n++ : c->next++ % LIVE_CACHE;
	c->ident[i] = id;
	c->alive[i] = (unsigned char)ident_alive(id);
	return c->alive[i];
}

int nb_owners_layout(struct nb_layout *l)
{
	if (!(l->flags & NUMBALLOC_OWNERS))
		return 0;
	/* capacity <= NUMBALLOC_CAPACITY_MAX (2^40) was checked: no overflow */
	if (l->area_size[1])
		return -EINVAL;
	l->area_size[1] = l->capacity * sizeof(uint64_t);
	l->area_align[1] = 64;
	return 0;
}

void nb_owners_attach(struct numballoc *p)
{
	p->owners = (p->flags & NUMBALLOC_OWNERS) ? nb_segment_area(&p->seg, 1) : NULL;
	p->owner = 0;
}

/* The holder to record: the handle's, or the caller. */
static uint64_t holder(const struct numballoc *p, uint64_t self)
{
	uint64_t h = uatomic_read(&p->owner);

	return h ? h : self;
}

/*
 * Rule 1 on one candidate bit: 0 when claimed and recorded, -EAGAIN when
 * the record or the bit is taken (the caller moves on), or an error.
 */
static int claim_one(struct numballoc *p, uint64_t bit, uint64_t self, uint64_t h)
{
	if (!rec_cas(p, bit, 0, self | REC_RES))
		return -EAGAIN;
	if (nb_bitmap_claim_bit(&p->bm, bit) < 0) {
		rec_cas(p, bit, self | REC_RES, 0);
		return -EAGAIN;
	}
	/* Only a writer outside the protocol can have changed our RES. */
	if (!rec_cas(p, bit, self | REC_RES, h))
		return -NUMBALLOC_ECORRUPT;
	return 0;
}

/* Try the clear bits of [from, to] in order. */
static int claim_scan(struct numballoc *p, uint64_t from, uint64_t to, uint64_t self,
		      uint64_t h, uint64_t *bit)
{
	uint64_t z, pos = from;
	int r;

	while (pos <= to) {
		z = nb_bitmap_next_clear(&p->bm, pos);
		if (z == NB_NONE || z > to)
			break;
		r = claim_one(p, z, self, h);
		if (r == 0) {
			*bit = z;
			return 0;
		}
		if (r != -EAGAIN)
			return r;
		pos = z + 1;	/* z < nbits <= 2^40: no overflow */
	}
	return -ENOSPC;
}

int nb_owners_claim_any(struct numballoc *p, uint64_t lo, uint64_t hi, uint64_t start,
			uint64_t *bit)
{
	uint64_t self;
	int r;

	if (lo > hi || hi >= p->capacity)
		return -EINVAL;
	r = self_identity(&self);
	if (r < 0)
		return r;
	if (start < lo || start > hi)
		start = lo;
	r = claim_scan(p, start, hi, self, holder(p, self), bit);
	if (r == -ENOSPC && start > lo)
		r = claim_scan(p, lo, start - 1, self, holder(p, self), bit);
	return r;
}

/* Rule 3 on the record of BIT, last seen as R: 1 if a set bit was freed, else 0. */
static int take_over(struct numballoc *p, uint64_t bit, uint64_t r, uint64_t self,
		     uint64_t *cleaned)
{
	int freed;

	if (!rec_cas(p, bit, r, self | REC_REL))
		return 0;	/* someone else decided this record */
	freed = nb_bitmap_release_bit(&p->bm, bit) == 0;
	rec_cas(p, bit, self | REC_REL, 0);
	if (cleaned)
		(*cleaned)++;
	return freed;
}

int nb_owners_claim_bit(struct numballoc *p, uint64_t bit)
{
	uint64_t self, r;
	int e;

	e = self_identity(&self);
	if (e < 0)
		return e;
	e = claim_one(p, bit, self, holder(p, self));
	if (e != -EAGAIN)
		return e;
	/* Taken. By a dead process? Then reclaim this one ID and try again. */
	r = rec_load(p, bit);
	if (r && r != (self | REC_RES) && !ident_alive(r)) {
		take_over(p, bit, r, self, NULL);
		e = claim_one(p, bit, self, holder(p, self));
	}
	return e == -EAGAIN ? -EEXIST : e;
}

static uint64_t align_up(uint64_t x, uint64_t align)
{
	uint64_t r = (x + align - 1) & ~(align - 1);

	return r < x ? NB_NONE : r;
}

/* Reserve the N records from FIRST; the number reserved (N on success). */
static uint64_t reserve_run(struct numballoc *p, uint64_t first, uint64_t n, uint64_t self)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		if (!rec_cas(p, first + i, 0, self | REC_RES))
			break;
	return i;
}

static void unreserve_run(struct numballoc *p, uint64_t first, uint64_t n, uint64_t self)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		rec_cas(p, first + i, self | REC_RES, 0);
}

int nb_owners_claim_run(struct numballoc *p, uint64_t n, uint64_t align, uint64_t lo,
			uint64_t hi, uint64_t *first)
{
	uint64_t self, h, pos, z, s, k, i;
	int r;

	if (align == 0)
		align = 1;
	if (n == 0 || (align & (align - 1)) || lo > hi || hi >= p->capacity)
		return -EINVAL;
	r = self_identity(&self);
	if (r < 0)
		return r;
	h = holder(p, self);
	/* Every step below moves POS strictly forward: the loop ends. */
	for (pos = align_up(lo, align); pos != NB_NONE && pos <= hi && n - 1 <= hi - pos;) {
		z = nb_bitmap_next_clear(&p->bm, pos);
		if (z == NB_NONE || z > hi)
			break;
		if (z != pos) {
			pos = align_up(z, align);
			continue;
		}
		s = nb_bitmap_next_set(&p->bm, pos);
		if (s != NB_NONE && s <= pos + n - 1) {
			pos = align_up(s + 1, align);
			continue;
		}
		k = reserve_run(p, pos, n, self);
		if (k < n) {
			unreserve_run(p, pos, k, self);
			pos = align_up(pos + k + 1, align);
			continue;
		}
		if (nb_bitmap_claim_range(&p->bm, pos, n) < 0) {
			unreserve_run(p, pos, n, self);
			pos = align_up(pos + 1, align);
			continue;
		}
		for (i = 0; i < n; i++)
			if (!rec_cas(p, pos + i, self | REC_RES, h))
				r = -NUMBALLOC_ECORRUPT;
		if (r < 0)
			return r;
		*first = pos;
		return 0;
	}
	return -ENOSPC;
}

/* Rule 2 on one ID whose record was seen as R (held). */
static int release_held(struct numballoc *p, uint64_t bit, uint64_t r, uint64_t self)
{
	int e;

	if (!r || (r & REC_FLAGS))
		return -ENOENT;		/* empty, being claimed or being released */
	if (!rec_cas(p, bit, r, self | REC_REL))
		return -ENOENT;		/* another releaser won */
	e = nb_bitmap_release_bit(&p->bm, bit);
	rec_cas(p, bit, self | REC_REL, 0);
	return e;
}

int nb_owners_release(struct numballoc *p, uint64_t bit, uint64_t n)
{
	uint64_t self, i;
	int r;

	if (!p->owners) {
		if (n == 1)
			return nb_bitmap_release_bit(&p->bm, bit);
		return nb_bitmap_release_range(&p->bm, bit, n);
	}
	r = self_identity(&self);
	if (r < 0)
		return r;
	if (n == 1)
		return release_held(p, bit, rec_load(p, bit), self);
	/* All held a moment ago, or -ENOENT and nothing freed. */
	for (i = 0; i < n; i++) {
		uint64_t v = rec_load(p, bit + i);

		if (!v || (v & REC_FLAGS) || nb_bitmap_test(&p->bm, bit + i) != 1)
			return -ENOENT;
	}
	for (i = 0; i < n; i++)
		release_held(p, bit + i, rec_load(p, bit + i), self);
	return 0;
}

/* What a sweep names: up to max released bits, each with its holder (from the record). */
struct sweep_out {
	uint64_t *ids;		/* NULL: name nothing */
	pid_t *holders;		/* may be NULL */
	size_t max, n;		/* the sweep stops once n == max (max > 0 when ids is set) */
	uint64_t base;		/* the pool's first ID */
};

/* Rule 3 on B (record R), and note the ID in OUT when its bit was freed. */
static uint64_t sweep_take(struct numballoc *p, uint64_t b, uint64_t r, uint64_t self,
			   uint64_t *cleaned, struct sweep_out *out)
{
	if (!take_over(p, b, r, self, cleaned))
		return 0;
	if (out && out->ids) {
		out->ids[out->n] = out->base + b;
		if (out->holders)
			out->holders[out->n] = (pid_t)(r & REC_PID_MASK);
		out->n++;
	}
	return 1;
}

/*
 * Rule 3 over the whole pool. PID 0: every dead process; else only PID,
 * alive or not (numballoc_free_owner). *FREED counts bits freed, *CLEANED
 * records emptied; OUT (may be NULL) names the freed IDs, and the sweep
 * stops when it is full.
 */
static int sweep(struct numballoc *p, pid_t pid, uint64_t *freed, uint64_t *cleaned,
		 struct sweep_out *out)
{
	struct live_cache lc;
	uint64_t self, b, r;
	int e;

	e = self_identity(&self);
	if (e < 0)
		return e;
	memset(&lc, 0, sizeof(lc));
	*freed = *cleaned = 0;
	for (b = 0; b < p->capacity; b++) {
		if (out && out->ids && out->n == out->max)
			break;
		r = rec_load(p, b);
		if (!r) {
			/* A set bit under an empty record: no rule makes it. */
			if (pid || nb_bitmap_test(&p->bm, b) != 1)
				continue;
			*freed += sweep_take(p, b, 0, self, cleaned, out);
			continue;
		}
		if ((r & REC_FLAGS) && (r & ~REC_FLAGS) == self)
			continue;	/* our own work in progress (another thread) */
		if (pid) {
			if ((r & REC_PID_MASK) != (uint64_t)pid)
				continue;
			/* RES and REL of a live PID are its work in progress. */
			if ((r & REC_FLAGS) && cached_alive(&lc, r))
				continue;
		} else if (cached_alive(&lc, r)) {
			continue;
		}
		*freed += sweep_take(p, b, r, self, cleaned, out);
	}
	return 0;
}

uint64_t nb_owners_reclaim_on_full(struct numballoc *p)
{
	uint64_t freed, cleaned;

	if (!p->owners || p->rdonly || sweep(p, 0, &freed, &cleaned, NULL) < 0)
		return 0;
	return cleaned;
}

/*
 * Set the holder recorded by later allocations through POOL: PID, or the
 * calling process when PID is 0. Returns 0; -ESRCH if PID is not a running
 * process; -EOPNOTSUPP if the pool keeps no owners. Changes nothing on error.
 */
NUMBALLOC_EXPORT int numballoc_set_owner(struct numballoc *pool, pid_t pid)
{
	uint64_t id = 0;
	int r;

	if (!pool || pid < 0)
		return -EINVAL;
	if (!pool->owners)
		return -EOPNOTSUPP;
	if (pool->rdonly)
		return -EROFS;
	if (pid) {
		r = proc_identity(pid, &id);
		if (r < 0)
			return r;
	}
	uatomic_set(&pool->owner, id);
	return 0;
}

/*
 * The pid recorded as the holder of ID in *PID. Returns 0; -ENOENT if ID
 * is not allocated (or its allocation or release is in progress); -EINVAL
 * if ID is outside the pool; -EOPNOTSUPP if the pool keeps no owners.
 */
NUMBALLOC_EXPORT int numballoc_owner(struct numballoc *pool, uint64_t id, pid_t *pid)
{
	uint64_t bit, r;

	if (!pool || !pid)
		return -EINVAL;
	if (id < pool->base || id - pool->base >= pool->capacity)
		return -EINVAL;
	if (!pool->owners)
		return -EOPNOTSUPP;
	bit = id - pool->base;
	r = rec_load(pool, bit);
	if (!r || (r & REC_FLAGS) || nb_bitmap_test(&pool->bm, bit) != 1)
		return -ENOENT;
	*pid = (pid_t)(r & REC_PID_MASK);
	return 0;
}

/*
 * Release every ID whose holder has died, and finish what dead processes
 * left half done. Safe from any number of processes at once: a CAS on each
 * record decides who releases its ID. *COUNT (may be NULL) gets the number
 * of IDs released by this call. Never releases the ID of a live holder.
 */
NUMBALLOC_EXPORT int numballoc_reclaim(struct numballoc *pool, uint64_t *count)
{
	uint64_t freed, cleaned;
	int r;

	if (!pool)
		return -EINVAL;
	if (pool->be)	/* expired leases (backend.c) */
		return pool->rdonly ? -EROFS : nb_be_reclaim(pool, count);
	if (!pool->owners)
		return -EOPNOTSUPP;
	if (pool->rdonly)
		return -EROFS;
	r = sweep(pool, 0, &freed, &cleaned, NULL);
	if (r < 0)
		return r;
	if (count)
		*count = freed;
	return 0;
}

/*
 * Release every ID held by process PID, alive or not. *COUNT (may be
 * NULL) gets the number released. -EINVAL for PID <= 0; -EOPNOTSUPP if the
 * pool keeps no owners.
 */
NUMBALLOC_EXPORT int numballoc_free_owner(struct numballoc *pool, pid_t pid, uint64_t *count)
{
	uint64_t freed, cleaned;
	int r;

	if (!pool || pid <= 0 || (uint64_t)pid > REC_PID_MASK)
		return -EINVAL;
	if (!pool->owners)
		return -EOPNOTSUPP;
	if (pool->rdonly)
		return -EROFS;
	r = sweep(pool, pid, &freed, &cleaned, NULL);
	if (r < 0)
		return r;
	if (count)
		*count = freed;
	return 0;
}

/*
 * numballoc_reclaim(), naming what it released: the first MAX IDs released
 * go to IDS (and their dead holders to HOLDERS, which may be NULL), *N
 * gets how many, and the sweep stops there. *N < MAX: nothing dead was
 * left when the sweep passed. -EINVAL for MAX 0 or a NULL pointer.
 */
NUMBALLOC_EXPORT int numballoc_reclaim_ids(struct numballoc *pool, uint64_t *ids, pid_t *holders,
					   size_t max, size_t *n)
{
	struct sweep_out out;
	uint64_t freed, cleaned;
	int r;

	if (!pool || !ids || !n || max == 0)
		return -EINVAL;
	if (!pool->owners)
		return -EOPNOTSUPP;
	if (pool->rdonly)
		return -EROFS;
	memset(&out, 0, sizeof(out));
	out.ids = ids;
	out.holders = holders;
	out.max = max;
	out.base = pool->base;
	r = sweep(pool, 0, &freed, &cleaned, &out);
	if (r < 0)
		return r;
	*n = out.n;
	return 0;
}

/*
 * Hand the held ID on to the running process PID: one CAS of its record
 * from the holder it names to PID's identity (pid and start time), so the
 * ID stays held while PID lives and is reclaimed after it dies. A record
 * that is empty, being claimed or being released is not allocated:
 * -ENOENT. A concurrent chown of the same ID: the CAS that loses reads the
 * winner's record and tries again; a concurrent free or reclaim wins or
 * loses as a whole (the protocol's rules 2 and 3 see a new value and
 * leave, returning -ENOENT for a free). Changes nothing on error.
 */
NUMBALLOC_EXPORT int numballoc_chown(struct numballoc *pool, uint64_t id, pid_t pid)
{
	uint64_t bit, r, ident;
	int e;

	if (!pool || pid <= 0)
		return -EINVAL;
	if (id < pool->base || id - pool->base >= pool->capacity)
		return -EINVAL;
	if (!pool->owners)
		return -EOPNOTSUPP;
	if (pool->rdonly)
		return -EROFS;
	e = proc_identity(pid, &ident);
	if (e < 0)
		return e;
	bit = id - pool->base;
	for (;;) {
		r = rec_load(pool, bit);
		if (!r || (r & REC_FLAGS) || nb_bitmap_test(&pool->bm, bit) != 1)
			return -ENOENT;
		if (r == ident || rec_cas(pool, bit, r, ident))
			return 0;
	}
}

/*
 * For the buffer's chunk records (buffer.c, issue 16): the identity of
 * the calling process, and of the running process PID (-ESRCH when there
 * is none), as the records of this file hold them.
 */
int nb_ident_self(uint64_t *ident)
{
	return self_identity(ident);
}

int nb_ident_of(pid_t pid, uint64_t *ident)
{
	return proc_identity(pid, ident);
}
