/* SPDX-License-Identifier: MIT */
/*
 * bitmap.c - THE ENGINE: lock-free claim and release of bits and runs of
 * bits in an array of 64-bit words that may be shared between processes.
 *
 * Layout of an engine area (all 64-bit words, offsets in words):
 *
 *	0			the cursor line: word 0 is the cyclic cursor, the
 *				rest of the 64-byte line is padding
 *	8			level 0: the words, count[0] = ceil(nbits / 64);
 *				bit b of the pool is bit b % 64 of word b / 64,
 *				set = allocated
 *	8 + count[0]		level 1: bit i set = word i MAY have a clear bit
 *	...			level l: bit i set = word i of level l-1 MAY be non-zero
 *				up to the first level that has one word
 *
 * The words are the truth. A bit is set or cleared only by a successful
 * uatomic_cmpxchg() on its word, which is a full memory barrier: what a
 * claimer writes after claiming is ordered after the claim, and what a
 * releaser wrote before releasing is visible to the next claimer.
 *
 * Everything else is advice. The summary levels and the cursor may be
 * stale; a stale bit costs time, never a wrong answer:
 *   - a summary bit set over a full word only makes a search look there;
 *     the search clears it again;
 *   - a summary bit clear over a word with a clear bit would hide it, so
 *     every claim that fails its summary search makes a definitive pass
 *     over the words before it answers -ENOSPC, and heals what it finds.
 * The protocol keeps the second case to processes killed mid-operation:
 *   - an exact claim (claim_bit, claim_range, runs) that fills a word
 *     clears the word's summary bit, then (after the barrier of its CAS)
 *     reads the word again and sets the bit back if a release slipped in;
 *     a claim_any that fills its own start word (a spread hint) leaves
 *     the bit set, stale ("lazy clearing"): the next search that meets it
 *     clears it by the same rule, and a release into the word meanwhile
 *     writes nothing;
 *   - a release that finds a summary bit already set stops there: whoever
 *     set it sets the levels above (a heal after a definitive pass sets
 *     every level);
 *   - a release of a bit in a full word sets the summary bit before its CAS
 *     (so a crash after the CAS leaves it set) and after (so a concurrent
 *     clearer cannot win the race); both are reads when the bit is set.
 * Each upper level follows the same rule for its own words.
 *
 * Bits beyond nbits in the last word are set by nb_bitmap_init() and are
 * never handed out, even if a hostile writer clears them: every claim masks
 * them out and every count ignores them. Counts, sizes and offsets come
 * from nbits alone, never from the area.
 *
 * Hints (where to start a search) are chosen by the callers: the lowest
 * bit, a per-thread position, or the shared cyclic cursor, which is a plain
 * store, never a read-modify-write.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <urcu/uatomic.h>

#include "bitmap.h"

#define FULL UINT64_MAX
#define CURSOR_WORDS 8

static inline uint64_t word_load(const uint64_t *p)
{
	return uatomic_read(p);
}

static inline uint64_t cas(uint64_t *p, uint64_t old, uint64_t new)
{
	return uatomic_cmpxchg(p, old, new);
}

static inline uint64_t bit_of(uint64_t i)
{
	return UINT64_C(1) << (i & 63);
}

/* Bits at or above position S in a word. */
static inline uint64_t mask_from(unsigned int s)
{
	return FULL << s;
}

/* Bits at or below position E in a word. */
static inline uint64_t mask_to(unsigned int e)
{
	return FULL >> (63 - e);
}

/* The valid (allocatable) bits of word W. */
static inline uint64_t valid_mask(const struct nb_bitmap *bm, uint64_t w)
{
	return w == bm->nwords - 1 ? bm->lastmask : FULL;
}

/* The bits of word W inside [lo, hi]. */
static uint64_t range_mask(const struct nb_bitmap *bm, uint64_t w, uint64_t lo, uint64_t hi)
{
	uint64_t m = valid_mask(bm, w);

	if (w == lo / 64)
		m &= mask_from(lo % 64);
	if (w == hi / 64)
		m &= mask_to(hi % 64);
	return m;
}

static int nlevels_for(uint64_t nwords, uint64_t *count)
{
	int l = 0;

	count[0] = nwords;
	do {
		count[l + 1] = (count[l] + 63) / 64;
		l++;
	} while (count[l] > 1);
	return l;
}

size_t nb_bitmap_bytes(uint64_t nbits)
{
	uint64_t count[NB_MAX_LEVELS + 1];
	uint64_t total = CURSOR_WORDS;
	int n, l;

	n = nlevels_for((nbits + 63) / 64, count);
	for (l = 0; l <= n; l++)
		total += count[l];
	total += count[1];	/* the run advice, one word per group of 64 words */
	total = (total + 7) & ~UINT64_C(7);	/* whole cache lines */
	return total * sizeof(uint64_t);
}

void nb_bitmap_attach(struct nb_bitmap *bm, void *area, uint64_t nbits)
{
	uint64_t count[NB_MAX_LEVELS + 1];
	uint64_t *p = area;
	int l;

	memset(bm, 0, sizeof(*bm));
	bm->nbits = nbits;
	bm->nwords = (nbits + 63) / 64;
	bm->lastmask = nbits % 64 ? mask_to(nbits % 64 - 1) : FULL;
	bm->nlevels = nlevels_for(bm->nwords, count);
	bm->cursor = p;
	p += CURSOR_WORDS;
	bm->words = p;
	bm->count[0] = bm->nwords;
	p += bm->nwords;
	for (l = 1; l <= bm->nlevels; l++) {
		bm->level[l] = p;
		bm->count[l] = count[l];
		p += count[l];
	}
	bm->runs = p;
	bm->level[0] = bm->words;
}

void nb_bitmap_init(struct nb_bitmap *bm)
{
	uint64_t i;
	int l;

	memset(bm->cursor, 0, nb_bitmap_bytes(bm->nbits));
	bm->words[bm->nwords - 1] = ~bm->lastmask;
	/* Level l has count[l-1] meaningful bits, all set: every word has room. */
	for (l = 1; l <= bm->nlevels; l++) {
		uint64_t n = bm->count[l - 1];

		for (i = 0; i < bm->count[l]; i++) {
			uint64_t bits = n - i * 64;

			bm->level[l][i] = bits >= 64 ? FULL : mask_to(bits - 1);
		}
	}
}

/* Does word I of level L have what its summary bit promises? */
static int child_has_room(const struct nb_bitmap *bm, int l, uint64_t i)
{
	if (l == 0)
		return (word_load(&bm->words[i]) | ~valid_mask(bm, i)) != FULL;
	return word_load(&bm->level[l][i]) != 0;
}

/*
 * Set the summary bit of word I of level L (L >= 0) at every level above,
 * writing only where a bit is clear.
 */
static void summary_set_levels(struct nb_bitmap *bm, int l, uint64_t i, int all)
{
	for (l++; l <= bm->nlevels; l++) {
		uint64_t *p = &bm->level[l][i / 64];
		uint64_t b = bit_of(i);

		if (word_load(p) & b) {
			/*
			 * Already set: whoever set it sets the levels above, so
			 * a release stops here and leaves the upper lines (one
			 * line for the whole pool at the top) unread. A heal
			 * (ALL) goes on: a crash may have left them clear.
			 */
			if (!all)
				return;
		} else {
			uatomic_or(p, b);
		}
		i /= 64;
	}
}

static void summary_set(struct nb_bitmap *bm, int l, uint64_t i)
{
	summary_set_levels(bm, l, i, 0);
}

/*
 * Word I of level L looked full (L = 0) or empty (L > 0): clear its summary
 * bit, then look again, and undo if a release slipped in. Propagates upward
 * when the summary word itself becomes empty.
 */
static void summary_clear(struct nb_bitmap *bm, int l, uint64_t i)
{
	while (l < bm->nlevels) {
		uint64_t *p = &bm->level[l + 1][i / 64];
		uint64_t b = bit_of(i);
		uint64_t old = word_load(p), prev;

		for (;;) {
			if (!(old & b))
				return;
			prev = cas(p, old, old & ~b);
			if (prev == old)
				break;
			old = prev;
		}
		if (child_has_room(bm, l, i)) {
			summary_set(bm, l, i);
			return;
		}
		if (old & ~b)
			return;
		l++;
		i /= 64;
	}
}

/*
 * The smallest index j >= FROM such that level L+1 marks word j of level L,
 * or NB_NONE. Stale marks of upper levels are cleared on the way.
 */
static uint64_t summary_next(struct nb_bitmap *bm, int l, uint64_t from)
{
	uint64_t n = bm->count[l], w, x;

	if (from >= n)
		return NB_NONE;
	if (l == bm->nlevels)	/* level l is one word: no summary above */
		return from;
	w = from / 64;
	x = word_load(&bm->level[l + 1][w]) & mask_from(from % 64);
	for (;;) {
		if (x) {
			uint64_t j = w * 64 + (uint64_t)__builtin_ctzll(x);

			return j < n ? j : NB_NONE;
		}
		w = summary_next(bm, l + 1, w + 1);
		if (w == NB_NONE)
			return NB_NONE;
		x = word_load(&bm->level[l + 1][w]);
		if (!x)
			summary_clear(bm, l + 1, w);
	}
}

/*
 * Claim one clear bit of word W among MASK, the lowest first. Returns the
 * bit number, or NB_NONE when none of MASK is clear.
 */
static uint64_t claim_in_word(struct nb_bitmap *bm, uint64_t w, uint64_t mask, int lazy)
{
	uint64_t *p = &bm->words[w];
	uint64_t old = word_load(p), prev, b;

	for (;;) {
		uint64_t free = ~old & mask;

		if (!free)
			return NB_NONE;
		b = free & -free;
		prev = cas(p, old, old | b);
		if (prev == old)
			break;
		old = prev;
	}
	/*
	 * LAZY (the caller's own start word, a spread hint): the word this
	 * claim filled keeps its summary bit; the next search that passes it
	 * clears it, and a release into it meanwhile finds the bit set and
	 * writes nothing, so two processes do not trade summary lines on every
	 * fill and free. A claim found by a search (the lowest policy: the
	 * next search would meet the word first) clears it at once.
	 */
	if (!lazy && ((old | b) | ~valid_mask(bm, w)) == FULL)
		summary_clear(bm, 0, w);
	return w * 64 + (uint64_t)__builtin_ctzll(b);
}

/* Claim the first clear bit in [lo, hi] that the summary shows. */
static uint64_t claim_summary(struct nb_bitmap *bm, uint64_t lo, uint64_t hi)
{
	uint64_t w = lo / 64, bit;

	while (w <= hi / 64) {
		w = summary_next(bm, 0, w);
		if (w == NB_NONE || w > hi / 64)
			break;
		bit = claim_in_word(bm, w, range_mask(bm, w, lo, hi), 0);
		if (bit != NB_NONE)
			return bit;
		if (!child_has_room(bm, 0, w))
			summary_clear(bm, 0, w);
		w++;
	}
	return NB_NONE;
}

/* The definitive pass: every word of [lo, hi], summary or not. */
static uint64_t claim_scan(struct nb_bitmap *bm, uint64_t lo, uint64_t hi)
{
	uint64_t w, bit;

	for (w = lo / 64; w <= hi / 64; w++) {
		uint64_t m = range_mask(bm, w, lo, hi);

		if ((word_load(&bm->words[w]) & m) == m)
			continue;
		summary_set_levels(bm, 0, w, 1);	/* heal: the summary hid this word */
		bit = claim_in_word(bm, w, m, 0);
		if (bit != NB_NONE)
			return bit;
	}
	return NB_NONE;
}

int nb_bitmap_claim_any(struct nb_bitmap *bm, uint64_t lo, uint64_t hi, uint64_t start,
			uint64_t *bit)
{
	uint64_t b;

	if (lo > hi || hi >= bm->nbits)
		return -EINVAL;
	if (start < lo || start > hi)
		start = lo;
	/* The start word first: a caller that stays on its word touches no other line. */
	b = claim_in_word(bm, start / 64, range_mask(bm, start / 64, start, hi), 1);
	if (b == NB_NONE && start / 64 < hi / 64)
		b = claim_summary(bm, (start / 64 + 1) * 64, hi);
	if (b == NB_NONE && start > lo)
		b = claim_summary(bm, lo, start - 1);
	if (b == NB_NONE)
		b = claim_scan(bm, start, hi);
	if (b == NB_NONE && start > lo)
		b = claim_scan(bm, lo, start - 1);
	if (b == NB_NONE)
		return -ENOSPC;
	*bit = b;
	return 0;
}

/*
 * Set MASK in word W if none of it is set. 0 on success, -EEXIST if any
 * bit of MASK was already set (then nothing changed).
 */
static int claim_mask(struct nb_bitmap *bm, uint64_t w, uint64_t mask)
{
	uint64_t *p = &bm->words[w];
	uint64_t old = word_load(p), prev;

	for (;;) {
		if (old & mask)
			return -EEXIST;
		prev = cas(p, old, old | mask);
		if (prev == old)
			break;
		old = prev;
	}
	if (((old | mask) | ~valid_mask(bm, w)) == FULL)
		summary_clear(bm, 0, w);
	return 0;
}

/*
 * Run advice. One word per group of 64 words (4096 bits), zero (UNKNOWN)
 * when the area is made:
 *
 *	bit 63	SCAN: a searcher is computing the group's entry
 *	bit 62	VALID: bits 0..15 are the longest run of clear bits in the
 *		group, and the group's first and last bits are set (no run
 *		crosses its edges); a search for a longer run skips it
 *	16..61	a sequence number, bumped by every change
 *
 * A searcher that scans a whole group sets SCAN (CAS from what it read),
 * reads the words, then CASes SCAN to VALID; a release CASes any SCAN or
 * VALID entry of its group back to UNKNOWN after its own CAS on the word
 * (a load only, when the entry is UNKNOWN already). Whichever of a
 * searcher's final CAS and a release's comes first, the other fails or
 * undoes it: a live release is never hidden. A release killed between its
 * word CAS and its invalidation can leave an entry too low, so the advice
 * only steers the search: -ENOSPC always comes from the definitive pass
 * over the words (find_run_words()). Keeping it exact across such a crash
 * would take a write by every release, before its CAS: a shared store on
 * the hot path (DESIGN.md, principle 2).
 */
#define RUN_SCAN (UINT64_C(1) << 63)
#define RUN_VALID (UINT64_C(1) << 62)
#define RUN_SEQ (UINT64_C(1) << 16)
#define RUN_LEN UINT64_C(0xffff)
#define GROUP_WORDS 64

/* E with its flags cleared and its sequence number bumped: UNKNOWN. */
static uint64_t run_bump(uint64_t e)
{
	return ((e & ~(RUN_SCAN | RUN_VALID | RUN_LEN)) + RUN_SEQ) & ~(RUN_SCAN | RUN_VALID);
}

/* A release in word W: its group's advice no longer holds. */
static void runs_invalidate(struct nb_bitmap *bm, uint64_t w)
{
	uint64_t *p, e, prev;

	if (!bm->runs)
		return;
	p = &bm->runs[w / GROUP_WORDS];
	e = word_load(p);
	while (e & (RUN_SCAN | RUN_VALID)) {
		prev = cas(p, e, run_bump(e));
		if (prev == e)
			return;
		e = prev;
	}
}

/*
 * Clear MASK in word W. With STRICT, only if all of MASK is set (else
 * -ENOENT, nothing changed); without, whatever of MASK is set.
 */
static int release_mask(struct nb_bitmap *bm, uint64_t w, uint64_t mask, int strict)
{
	uint64_t *p = &bm->words[w];
	uint64_t old = word_load(p), prev;
	uint64_t vm = ~valid_mask(bm, w);

	for (;;) {
		if (strict && (old & mask) != mask)
			return -ENOENT;
		if ((old | vm) == FULL)
			summary_set(bm, 0, w);	/* before: a crash after the CAS leaves it set */
		prev = cas(p, old, old & ~mask);
		if (prev == old)
			break;
		old = prev;
	}
	if ((old | vm) == FULL)
		summary_set(bm, 0, w);	/* after: a concurrent clearer cannot hide it */
	runs_invalidate(bm, w);	/* after: see "Run advice" */
	return 0;
}

int nb_bitmap_claim_bit(struct nb_bitmap *bm, uint64_t bit)
{
	if (bit >= bm->nbits)
		return -EINVAL;
	return claim_mask(bm, bit / 64, bit_of(bit));
}

int nb_bitmap_release_bit(struct nb_bitmap *bm, uint64_t bit)
{
	if (bit >= bm->nbits)
		return -EINVAL;
	return release_mask(bm, bit / 64, bit_of(bit), 1);
}

int nb_bitmap_claim_range(struct nb_bitmap *bm, uint64_t first, uint64_t n)
{
	uint64_t last, w;
	int r = 0;

	if (n == 0 || first >= bm->nbits || n > bm->nbits - first)
		return -EINVAL;
	last = first + n - 1;
	for (w = first / 64; w <= last / 64; w++) {
		r = claim_mask(bm, w, range_mask(bm, w, first, last));
		if (r < 0)
			break;
	}
	if (r == 0)
		return 0;
	/* Roll back what this call claimed: those bits are ours alone. */
	while (w-- > first / 64)
		release_mask(bm, w, range_mask(bm, w, first, last), 0);
	return r;
}

int nb_bitmap_release_range(struct nb_bitmap *bm, uint64_t first, uint64_t n)
{
	uint64_t last, w;

	if (n == 0 || first >= bm->nbits || n > bm->nbits - first)
		return -EINVAL;
	last = first + n - 1;
	if (first / 64 == last / 64)
		return release_mask(bm, first / 64, range_mask(bm, first / 64, first, last), 1);
	for (w = first / 64; w <= last / 64; w++) {
		uint64_t m = range_mask(bm, w, first, last);

		if ((word_load(&bm->words[w]) & m) != m)
			return -ENOENT;
	}
	/* All set a moment ago; only a concurrent double free can interfere. */
	for (w = first / 64; w <= last / 64; w++)
		release_mask(bm, w, range_mask(bm, w, first, last), 0);
	return 0;
}

int nb_bitmap_test(const struct nb_bitmap *bm, uint64_t bit)
{
	if (bit >= bm->nbits)
		return -EINVAL;
	return !!(word_load(&bm->words[bit / 64]) & bit_of(bit));
}

static uint64_t next_bit(const struct nb_bitmap *bm, uint64_t from, uint64_t flip)
{
	uint64_t w;

	if (from >= bm->nbits)
		return NB_NONE;
	for (w = from / 64; w < bm->nwords; w++) {
		uint64_t x = (word_load(&bm->words[w]) ^ flip) & valid_mask(bm, w);

		if (w == from / 64)
			x &= mask_from(from % 64);
		if (x)
			return w * 64 + (uint64_t)__builtin_ctzll(x);
	}
	return NB_NONE;
}

uint64_t nb_bitmap_next_set(const struct nb_bitmap *bm, uint64_t from)
{
	return next_bit(bm, from, 0);
}

uint64_t nb_bitmap_next_clear(const struct nb_bitmap *bm, uint64_t from)
{
	return next_bit(bm, from, FULL);
}

uint64_t nb_bitmap_count(const struct nb_bitmap *bm)
{
	uint64_t w, n = 0;

	for (w = 0; w < bm->nwords; w++)
		n += (uint64_t)__builtin_popcountll(word_load(&bm->words[w]) & valid_mask(bm, w));
	return n;
}

uint64_t nb_bitmap_largest_free(const struct nb_bitmap *bm)
{
	uint64_t w, run = 0, best = 0;

	for (w = 0; w < bm->nwords; w++) {
		uint64_t vm = valid_mask(bm, w);
		uint64_t x = word_load(&bm->words[w]) & vm;
		unsigned int nvalid = (unsigned int)__builtin_popcountll(vm);

		if (x == 0) {
			run += nvalid;
		} else {
			uint64_t lead = (uint64_t)__builtin_ctzll(x);
			unsigned int pos;

			run += lead;
			if (run > best)
				best = run;
			/* the runs strictly inside the word */
			run = 0;
			for (pos = (unsigned int)lead; pos < nvalid; pos++) {
				if (x & (UINT64_C(1) << pos)) {
					if (run > best)
						best = run;
					run = 0;
				} else {
					run++;
				}
			}
		}
	}
	return run > best ? run : best;
}

static uint64_t align_up(uint64_t x, uint64_t align)
{
	uint64_t r = (x + align - 1) & ~(align - 1);

	return r < x ? NB_NONE : r;
}

/*
 * The first set bit in [from, to], or NB_NONE. Reads words, claims nothing.
 */
static uint64_t first_set_in(const struct nb_bitmap *bm, uint64_t from, uint64_t to)
{
	uint64_t w;

	for (w = from / 64; w <= to / 64; w++) {
		uint64_t x = word_load(&bm->words[w]) & range_mask(bm, w, from, to);

		if (x)
			return w * 64 + (uint64_t)__builtin_ctzll(x);
	}
	return NB_NONE;
}

/* First fit of N bits aligned to ALIGN in [lo, hi]. */
static int claim_run_in(struct nb_bitmap *bm, uint64_t n, uint64_t align, uint64_t lo,
			uint64_t hi, uint64_t *first)
{
	uint64_t pos = align_up(lo, align);

	while (pos != NB_NONE && pos <= hi && n - 1 <= hi - pos) {
		uint64_t s, z;

		/* skip to a clear bit, through the summary, then align */
		z = nb_bitmap_next_clear(bm, pos);
		if (z == NB_NONE || z > hi)
			return -ENOSPC;
		if (z != pos) {
			pos = align_up(z, align);
			continue;
		}
		s = first_set_in(bm, pos, pos + n - 1);
		if (s != NB_NONE) {
			pos = align_up(s + 1, align);
			continue;
		}
		if (nb_bitmap_claim_range(bm, pos, n) == 0) {
			*first = pos;
			return 0;
		}
		/* lost a race: look at the same place again */
	}
	return -ENOSPC;
}

/*
 * Runs of at most 64 bits are found a word at a time: such a run lies in
 * one word or across two, so one pass over the words, with the free bits
 * at the top of the previous word carried over, sees every candidate.
 */

/* Bit p set iff bits p .. p+N-1 are all clear in X (1 <= N <= 64). */
static uint64_t run_starts(uint64_t x, uint64_t n)
{
	uint64_t f = ~x, have = 1;

	while (have < n) {
		uint64_t k = have < n - have ? have : n - have;

		f &= f >> k;	/* zeros come in at the top: no run leaves the word */
		have += k;
	}
	return f;
}

/* The bits of a word at multiples of ALIGN (a power of two). */
static uint64_t align_marks(uint64_t align)
{
	uint64_t m = 1, s;

	for (s = align; s < 64; s *= 2)
		m |= m << s;
	return m;
}

/*
 * Claim N <= 64 bits aligned to ALIGN >= N (so inside one word), the first
 * at or after FROM and at most TO_FIRST, in the words the summary shows.
 * Not definitive: NB_NONE sends the caller to find_run_words().
 */
static uint64_t claim_run_word(struct nb_bitmap *bm, uint64_t n, uint64_t align, uint64_t from,
			       uint64_t to_first)
{
	uint64_t marks = align_marks(align), last = to_first + n - 1, w = from / 64;
	uint64_t step = align > 64 ? align / 64 : 1;
	uint64_t runmask = n == 64 ? FULL : (UINT64_C(1) << n) - 1;

	while (w <= last / 64) {
		w = summary_next(bm, 0, w);
		if (w == NB_NONE || w > last / 64)
			break;
		if (w % step) {	/* only every STEP-th word can begin such a run */
			w = align_up(w, step);
			continue;
		}
		for (;;) {
			uint64_t x = word_load(&bm->words[w]) | ~range_mask(bm, w, from, last);
			uint64_t s = run_starts(x, n) & marks;

			if (!s)
				break;
			s = (uint64_t)__builtin_ctzll(s);
			if (claim_mask(bm, w, runmask << s) == 0)
				return w * 64 + s;
			/* lost a race for this word: look at it again */
		}
		if (!child_has_room(bm, 0, w))
			summary_clear(bm, 0, w);
		w++;
	}
	return NB_NONE;
}

/*
 * A scan for N <= 64 clear bits, the first a multiple of ALIGN, over the
 * words of [from, last], one word at a time: the one place that knows how
 * a run is found inside a word and across a word boundary.
 */
struct run_scan {
	uint64_t n, align, marks;	/* what is looked for */
	uint64_t from, last;		/* the bits that may be part of it */
	uint64_t wfirst, wlast;		/* their first and last word */
	uint64_t carry;			/* clear bits at the top of the words before */
	unsigned int shift[8], nshift;	/* the shifts of run_starts(), once */
};

static void run_scan_init(struct run_scan *rs, uint64_t n, uint64_t align, uint64_t from,
			  uint64_t to_first)
{
	uint64_t have = 1;

	rs->n = n;
	rs->align = align;
	rs->marks = align_marks(align);
	rs->from = from;
	rs->last = to_first + n - 1;
	rs->wfirst = from / 64;
	rs->wlast = rs->last / 64;
	rs->carry = 0;
	rs->nshift = 0;
	while (have < n) {
		uint64_t k = have < n - have ? have : n - have;

		rs->shift[rs->nshift++] = (unsigned int)k;
		have += k;
	}
}

/*
 * Look at word W: the first run that ends in it, or NB_NONE. *XP gets the
 * word as seen, with the bits outside the range set.
 */
static uint64_t run_scan_word(struct run_scan *rs, const struct nb_bitmap *bm, uint64_t w,
			      uint64_t *xp)
{
	uint64_t x = word_load(&bm->words[w]), f, s, lead;
	unsigned int i;

	if (w == rs->wfirst || w == rs->wlast)
		x |= ~range_mask(bm, w, rs->from, rs->last);
	*xp = x;
	lead = x ? (uint64_t)__builtin_ctzll(x) : 64;
	if (rs->carry && rs->carry + lead >= rs->n) {	/* a run across the word boundary */
		s = align_up(w * 64 - rs->carry, rs->align);
		if (s != NB_NONE && s + rs->n <= w * 64 + lead)
			return s;
	}
	f = ~x;
	for (i = 0; i < rs->nshift; i++)
		f &= f >> rs->shift[i];
	/* ALIGN > 64: only every ALIGN / 64-th word can begin a run */
	f &= rs->align <= 64 || !(w * 64 % rs->align) ? rs->marks : 0;
	if (f)
		return w * 64 + (uint64_t)__builtin_ctzll(f);
	rs->carry = x ? (uint64_t)__builtin_clzll(x) : rs->carry + 64;
	return NB_NONE;
}

/*
 * The definitive pass for N <= 64: the first position p, p % ALIGN == 0,
 * FROM <= p <= TO_FIRST, with bits p .. p+N-1 clear, reading every word.
 */
static uint64_t find_run_words(const struct nb_bitmap *bm, uint64_t n, uint64_t align,
			       uint64_t from, uint64_t to_first)
{
	struct run_scan rs;
	uint64_t w, p, x;

	run_scan_init(&rs, n, align, from, to_first);
	for (w = rs.wfirst; w <= rs.wlast; w++) {
		p = run_scan_word(&rs, bm, w, &x);
		if (p != NB_NONE)
			return p;
	}
	return NB_NONE;
}

/* The longest run of clear bits in X. */
static uint64_t longest_clear(uint64_t x)
{
	uint64_t f = ~x, k = 0;

	while (f) {	/* each step shortens every run by one */
		f &= f >> 1;
		k++;
	}
	return k;
}

/*
 * find_run_words() steered by the run advice: groups whose VALID entry is
 * shorter than N are skipped whole (no run crosses their edges); groups
 * scanned whole leave a VALID entry behind. Not definitive: NB_NONE sends
 * the caller to find_run_words().
 */
static uint64_t find_run_indexed(struct nb_bitmap *bm, uint64_t n, uint64_t align,
				 uint64_t from, uint64_t to_first)
{
	struct run_scan rs;
	uint64_t w;

	run_scan_init(&rs, n, align, from, to_first);
	w = rs.wfirst;
	while (w <= rs.wlast) {
		uint64_t g = w / GROUP_WORDS, g0 = g * GROUP_WORDS, gend = g0 + GROUP_WORDS - 1;
		uint64_t *p = &bm->runs[g], e = word_load(p), mine = 0;
		uint64_t best = 0, run = 0, x0 = 0, x = 0, s;
		/* the group lies inside the range and its words are unmasked */
		int whole = g0 * 64 >= from && gend <= rs.wlast && (gend + 1) * 64 - 1 <= rs.last &&
			    gend < bm->nwords - 1;

		if (whole && (e & RUN_VALID) && (e & RUN_LEN) < n) {
			rs.carry = 0;
			w = gend + 1;
			continue;
		}
		if (whole && !(e & RUN_VALID) && cas(p, e, run_bump(e) | RUN_SCAN) == e)
			mine = run_bump(e) | RUN_SCAN;
		if (gend > rs.wlast)
			gend = rs.wlast;
		for (; w <= gend; w++) {
			s = run_scan_word(&rs, bm, w, &x);
			if (s != NB_NONE)
				return s;	/* an entry left SCAN is taken over later */
			if (mine) {
				uint64_t lead = x ? (uint64_t)__builtin_ctzll(x) : 64;

				if (w == g0)
					x0 = x;
				if (run + lead > best)
					best = run + lead;
				s = longest_clear(x);
				if (s > best)
					best = s;
				run = x ? (uint64_t)__builtin_clzll(x) : run + 64;
			}
		}
		if (mine) {
			/* VALID only when no run crosses the group's edges */
			if ((x0 & 1) && (x >> 63))
				cas(p, mine, (mine & ~RUN_SCAN) | RUN_VALID | (best < RUN_LEN ? best : RUN_LEN));
			else
				cas(p, mine, run_bump(mine));
		}
	}
	return NB_NONE;
}

/* First fit with the first bit in [from, to_first]; the last bit is then <= to_first + n - 1. */
static int claim_run_from(struct nb_bitmap *bm, uint64_t n, uint64_t align, uint64_t from,
			  uint64_t to_first, uint64_t *first)
{
	uint64_t p;

	if (from > to_first)
		return -ENOSPC;
	if (n > 64)
		return claim_run_in(bm, n, align, from, to_first + n - 1, first);
	if (align >= n) {
		p = claim_run_word(bm, n, align, from, to_first);
		if (p != NB_NONE) {
			*first = p;
			return 0;
		}
	}
	if (align < n && bm->runs) {	/* across words: the run advice steers */
		p = find_run_indexed(bm, n, align, from, to_first);
		if (p != NB_NONE && nb_bitmap_claim_range(bm, p, n) == 0) {
			*first = p;
			return 0;
		}
	}
	for (;;) {
		p = find_run_words(bm, n, align, from, to_first);
		if (p == NB_NONE)
			return -ENOSPC;
		if (nb_bitmap_claim_range(bm, p, n) == 0) {
			*first = p;
			return 0;
		}
		from = p;	/* lost a race: look at the same place again */
	}
}

int nb_bitmap_claim_run(struct nb_bitmap *bm, uint64_t n, uint64_t align, uint64_t lo,
			uint64_t hi, uint64_t start, uint64_t *first)
{
	int r = -ENOSPC;

	if (align == 0)
		align = 1;
	if (n == 0 || (align & (align - 1)) || lo > hi || hi >= bm->nbits)
		return -EINVAL;
	if (n - 1 > hi - lo)
		return -ENOSPC;
	if (start < lo || start > hi)
		start = lo;
	if (n - 1 <= hi - start)
		r = claim_run_from(bm, n, align, start, hi - (n - 1), first);
	if (r == -ENOSPC && start > lo) {
		/* runs that begin before START may end after it */
		uint64_t to = start - 1 < hi - (n - 1) ? start - 1 : hi - (n - 1);

		r = claim_run_from(bm, n, align, lo, to, first);
	}
	return r;
}

uint64_t nb_bitmap_cursor(const struct nb_bitmap *bm)
{
	uint64_t c = word_load(bm->cursor);

	return c < bm->nbits ? c : 0;	/* never trust the segment */
}

void nb_bitmap_set_cursor(struct nb_bitmap *bm, uint64_t bit)
{
	if (word_load(bm->cursor) != bit)
		uatomic_set(bm->cursor, bit);
}

/*
 * Growth. A growable area is laid out for a maximum MAXBITS fixed at
 * creation, with the words last, so that the object holding it can be
 * extended without moving anything:
 *
 *	0			the cursor line
 *	8			levels 1.. as for MAXBITS (zero beyond the current
 *				words: sparse pages until touched)
 *	meta			the words, ceil(nbits / 64) of them, growing
 *				towards ceil(maxbits / 64)
 *
 * Bits beyond nbits in the last word are left clear, not set: every claim
 * masks them out (see above), and they become valid when the area grows.
 * A view with fewer bits than another process's only sees fewer words: the
 * levels have one layout for every view, and level 0 is bounded by the
 * view's own count, so a summary bit of a word it does not have only ends
 * its summary search early (the definitive pass still covers its words),
 * and an old view that fills its partial last word may clear that word's
 * summary bit while the new bits in it are free: the definitive pass of
 * the next search that needs them heals it.
 */
static uint64_t meta_words(uint64_t maxbits)
{
	uint64_t count[NB_MAX_LEVELS + 1];
	uint64_t total = CURSOR_WORDS;
	int n, l;

	n = nlevels_for((maxbits + 63) / 64, count);
	for (l = 1; l <= n; l++)
		total += count[l];
	return (total + 7) & ~UINT64_C(7);
}

size_t nb_bitmap_grow_bytes(uint64_t nbits, uint64_t maxbits)
{
	uint64_t words = ((nbits + 63) / 64 + 7) & ~UINT64_C(7);

	return (meta_words(maxbits) + words) * sizeof(uint64_t);
}

void nb_bitmap_attach_grow(struct nb_bitmap *bm, void *area, uint64_t nbits, uint64_t maxbits)
{
	uint64_t count[NB_MAX_LEVELS + 1];
	uint64_t *p = area;
	int l;

	memset(bm, 0, sizeof(*bm));
	bm->nbits = nbits;
	bm->nwords = (nbits + 63) / 64;
	bm->lastmask = nbits % 64 ? mask_to(nbits % 64 - 1) : FULL;
	bm->nlevels = nlevels_for((maxbits + 63) / 64, count);
	bm->cursor = p;
	p += CURSOR_WORDS;
	for (l = 1; l <= bm->nlevels; l++) {
		bm->level[l] = p;
		bm->count[l] = count[l];
		p += count[l];
	}
	bm->words = (uint64_t *)area + meta_words(maxbits);
	bm->level[0] = bm->words;
	bm->count[0] = bm->nwords;
}

/* Mark words [lo, hi] of level 0 at every level above: they may have room. */
static void summary_mark(struct nb_bitmap *bm, uint64_t lo, uint64_t hi)
{
	int l;

	for (l = 1; l <= bm->nlevels; l++) {
		uint64_t w;

		for (w = lo / 64; w <= hi / 64; w++) {
			uint64_t m = FULL;

			if (w == lo / 64)
				m &= mask_from(lo % 64);
			if (w == hi / 64)
				m &= mask_to(hi % 64);
			if ((word_load(&bm->level[l][w]) & m) != m)
				uatomic_or(&bm->level[l][w], m);
		}
		lo /= 64;
		hi /= 64;
	}
}

void nb_bitmap_init_grow(struct nb_bitmap *bm)
{
	memset(bm->cursor, 0, CURSOR_WORDS * sizeof(uint64_t));
	memset(bm->words, 0, bm->nwords * sizeof(uint64_t));
	summary_mark(bm, 0, bm->nwords - 1);
}

void nb_bitmap_grow(struct nb_bitmap *bm, uint64_t oldbits)
{
	if (oldbits >= bm->nbits)
		return;
	summary_mark(bm, oldbits / 64, bm->nwords - 1);
}

uint64_t nb_bitmap_last_set(const struct nb_bitmap *bm)
{
	uint64_t w = bm->nwords;

	while (w--) {
		uint64_t x = word_load(&bm->words[w]) & valid_mask(bm, w);

		if (x)
			return w * 64 + 63 - (uint64_t)__builtin_clzll(x);
	}
	return NB_NONE;
}

/* The bits of word W inside [lo, hi], or 0 when W is outside. */
static uint64_t span_mask(const struct nb_bitmap *bm, uint64_t w, uint64_t lo, uint64_t hi)
{
	if (w < lo / 64 || w > hi / 64)
		return 0;
	return range_mask(bm, w, lo, hi);
}

uint64_t nb_bitmap_prev_set(const struct nb_bitmap *bm, uint64_t from, uint64_t lo)
{
	uint64_t w;

	if (bm->nbits == 0 || lo > from || lo >= bm->nbits)
		return NB_NONE;
	if (from >= bm->nbits)
		from = bm->nbits - 1;
	for (w = from / 64 + 1; w-- > lo / 64;) {
		uint64_t x = word_load(&bm->words[w]) & span_mask(bm, w, lo, from);

		if (x)
			return w * 64 + 63 - (uint64_t)__builtin_clzll(x);
	}
	return NB_NONE;
}

uint64_t nb_bitmap_next_set_upto(const struct nb_bitmap *bm, uint64_t from, uint64_t hi)
{
	uint64_t w;

	if (from >= bm->nbits || from > hi)
		return NB_NONE;
	if (hi >= bm->nbits)
		hi = bm->nbits - 1;
	for (w = from / 64; w <= hi / 64; w++) {
		uint64_t x = word_load(&bm->words[w]) & span_mask(bm, w, from, hi);

		if (x)
			return w * 64 + (uint64_t)__builtin_ctzll(x);
	}
	return NB_NONE;
}
