/* SPDX-License-Identifier: MIT */
/*
 * bitmap.c - THE ENGINE: lock-free claim and release of bits and runs of
 * bits in an array of 64-bit words that may be shared between processes.
 *
 * Layout of an engine area (all 64-bit words, offsets in words):
 *
 *	0			the cursor line: word 0 is the cyclic cursor,
 *				word 1 (NB_IX_USED) is set once the run index is
 *				in use, the rest of the 64-byte line is padding
 *	8			level 0: the words, count[0] = ceil(nbits / 64);
 *				bit b of the pool is bit b % 64 of word b / 64,
 *				set = allocated (a spaced bitmap: 8 bits per
 *				line of 8 words, see "Spaced bitmaps")
 *	8 + count[0]		level 1: bit i set = word i MAY have a clear bit
 *	...			level l: bit i set = word i of level l-1 MAY be non-zero
 *				up to the first level that has one word
 *	then			the run index, one word per 8 words, per 8 of
 *				those, ... up to one (see "The run index")
 *
 * The words are the truth. A bit is set or cleared only by a successful
 * uatomic_cmpxchg() on its word, which is a full memory barrier: what a
 * claimer writes after claiming is ordered after the claim, and what a
 * releaser wrote before releasing is visible to the next claimer. Words
 * are read with word_load() (liburcu's uatomic_read(), a volatile load),
 * except in the chunk test of the definitive pass (skip_chunk()), which
 * uses plain aligned loads so that the compiler can vectorize it: a
 * 64-bit aligned load is one access there too, and the test only chooses
 * which words the pass goes by, as any read of a word that others change
 * meanwhile does.
 *
 * Everything else is advice. The summary levels, the run index and the
 * cursor may be stale; a stale bit costs time, never a wrong answer:
 *   - a summary bit set over a full word only makes a search look there;
 *     the search clears it again;
 *   - a summary bit clear over a word with a clear bit would hide it, so
 *     every claim that fails its summary search makes a definitive pass
 *     over the words before it answers -ENOSPC, and heals what it finds.
 * The protocol keeps the second case to processes killed mid-operation,
 * with two exceptions: a SPREAD thread's kept word (nb_bitmap_release_plain()
 * and idpool.c's free_spread(): shown at the thread's next free or close,
 * left hidden when the thread ends first), and a LOWEST free into a full
 * word (nb_bitmap_release_lowest()), which sets the bit only after its
 * CAS and the advice, so that a kill between leaves it clear. A
 * definitive pass heals every hidden word of its range (claim_scan()):
 * the rules are
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
 *     clearer cannot win the race); both are reads when the bit is set
 *     (the two exceptions above set it after only, or later).
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
#define IX_FAN (1 << NB_IX_SHIFT)	/* children per run index node */
#define IX_SHIFT NB_IX_SHIFT	/* log2(IX_FAN) */

static inline uint64_t word_load(const uint64_t *p)
{
#ifdef NB_COUNT_READS
	nb_words_read++;	/* a test build only (see bitmap.h) */
#endif
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
	if (w & bm->padmask)
		return 0;
	return w == bm->lastword ? bm->lastmask : bm->wordmask;
}

/*
 * Spaced bitmaps. A small pool packed 64 bits to a word has all its bits on
 * one or a few cache lines, and two processes that allocate apart still
 * write the same line. A spaced bitmap puts 8 bits on each line: bit e is
 * bit e % 8 of word (e / 8) * 8, the line's first word. The other bits of
 * that word, and the line's other 7 words, are padding: no bit of them is
 * valid (valid_mask() is 0 or 8 bits), so every claim masks them out and
 * every count skips them, as it does the bits beyond nbits, and the
 * summary never marks a padding word (nb_bitmap_init() sets them full).
 * Inside, the engine works on its words as ever; the public functions take
 * and return the pool's bits and map them (the map keeps their order, so
 * "the lowest" and "the next" mean the same). Runs of more than the rest
 * of a line cross padding, so a spaced bitmap finds runs on a packed copy
 * of its bits (spaced_claim_run()). The inline paths (bitmap.h) turn a
 * spaced bitmap away (its fastbits is 0): its own quick paths, out of
 * line, are nb_bitmap_claim_start_spaced() and the start of
 * nb_bitmap_release_bit_slow().
 */
#define SP_BITS NB_SP_BITS		/* bits per line */
#define SP_LINE (SP_BITS * 64)		/* internal bits per line */

/* Internal bit number of the pool's bit E. */
static inline uint64_t sp_in(const struct nb_bitmap *bm, uint64_t e)
{
	return bm->spaced ? e / SP_BITS * SP_LINE + e % SP_BITS : e;
}

/* The pool's bit of the valid internal bit I (NB_NONE stays). */
static inline uint64_t sp_out(const struct nb_bitmap *bm, uint64_t i)
{
	if (!bm->spaced || i == NB_NONE)
		return i;
	return i / SP_LINE * SP_BITS + i % SP_BITS;
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

/*
 * The run index over NWORDS words: count[k] nodes at level k (1 <= k <=
 * the levels returned), count[levels] == 1. Returns the levels and puts
 * the total number of nodes in *TOTAL.
 */
static int ixlevels_for(uint64_t nwords, uint64_t *count, uint64_t *total)
{
	uint64_t n = nwords;
	int k = 0;

	*total = 0;
	do {
		n = (n + IX_FAN - 1) / IX_FAN;
		count[++k] = n;
		*total += n;
	} while (n > 1);
	return k;
}

/* Bytes of an area with NWORDS words. */
static size_t area_bytes(uint64_t nwords)
{
	uint64_t count[NB_MAX_LEVELS + 1], ixc[NB_MAX_IX], ixtotal;
	uint64_t total = CURSOR_WORDS;
	int n, l;

	n = nlevels_for(nwords, count);
	for (l = 0; l <= n; l++)
		total += count[l];
	ixlevels_for(nwords, ixc, &ixtotal);
	total += ixtotal;
	total = (total + 7) & ~UINT64_C(7);	/* whole cache lines */
	return total * sizeof(uint64_t);
}

/* Words of a spaced bitmap of NBITS bits: whole lines. */
static uint64_t spaced_words(uint64_t nbits)
{
	return (nbits + SP_BITS - 1) / SP_BITS * 8;
}

size_t nb_bitmap_bytes(uint64_t nbits)
{
	return area_bytes((nbits + 63) / 64);
}

size_t nb_bitmap_bytes_spaced(uint64_t nbits)
{
	return area_bytes(spaced_words(nbits));
}

/* Bind BM's run index to the nodes from P, laid out for MAXWORDS words; returns the end. */
static uint64_t *ix_attach(struct nb_bitmap *bm, uint64_t *p, uint64_t maxwords)
{
	uint64_t total;
	int k;

	bm->ixlevels = ixlevels_for(maxwords, bm->ixcount, &total);
	for (k = 1; k <= bm->ixlevels; k++) {
		bm->ix[k] = p;
		p += bm->ixcount[k];
	}
	return p;
}

/* The engine's view of AREA with NWORDS words, all levels sized for them. */
static void attach_words(struct nb_bitmap *bm, void *area, uint64_t nbits, uint64_t nwords)
{
	uint64_t count[NB_MAX_LEVELS + 1];
	uint64_t *p = area;
	int l;

	bm->nbits = nbits;
	bm->nwords = nwords;
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
	ix_attach(bm, p, bm->nwords);
	bm->level[0] = bm->words;
}

void nb_bitmap_attach(struct nb_bitmap *bm, void *area, uint64_t nbits)
{
	memset(bm, 0, sizeof(*bm));
	attach_words(bm, area, nbits, (nbits + 63) / 64);
	bm->lastmask = nbits % 64 ? mask_to(nbits % 64 - 1) : FULL;
	bm->lastword = bm->nwords - 1;
	bm->wordmask = FULL;
	bm->fastbits = nbits;
	bm->fastwords = bm->lastword;
}

void nb_bitmap_attach_spaced(struct nb_bitmap *bm, void *area, uint64_t nbits)
{
	memset(bm, 0, sizeof(*bm));
	attach_words(bm, area, nbits, spaced_words(nbits));
	bm->lastmask = nbits % SP_BITS ? mask_to(nbits % SP_BITS - 1) : mask_to(SP_BITS - 1);
	bm->lastword = bm->nwords - 8;
	bm->wordmask = mask_to(SP_BITS - 1);
	bm->padmask = 7;
	bm->spaced = 1;
}

static int child_has_room(const struct nb_bitmap *bm, int l, uint64_t i);

void nb_bitmap_init(struct nb_bitmap *bm)
{
	uint64_t i;
	int l;

	memset(bm->cursor, 0, area_bytes(bm->nwords));
	if (bm->spaced) {
		/* padding set, the pool's bits clear; the summary marks the words with room */
		for (i = 0; i < bm->nwords; i++)
			bm->words[i] = ~valid_mask(bm, i);
		for (l = 1; l <= bm->nlevels; l++)
			for (i = 0; i < bm->count[l - 1]; i++)
				if (child_has_room(bm, l - 1, i))
					bm->level[l][i / 64] |= bit_of(i);
		return;
	}
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

/*
 * The definitive pass: every word of [lo, hi], summary or not. A word
 * with a clear bit that it meets is one the summary hid (or one freed
 * since the summary search): it heals it. After its claim it goes on to
 * the end of the range only to heal, so that words hidden together (a
 * SPREAD thread's kept word whose thread exited, idpool.c; words of
 * processes killed mid-free) come back to summary searches in one pass,
 * not one pass each.
 */
static uint64_t claim_scan(struct nb_bitmap *bm, uint64_t lo, uint64_t hi)
{
	uint64_t w, bit = NB_NONE;

	for (w = lo / 64; w <= hi / 64; w++) {
		uint64_t m = range_mask(bm, w, lo, hi);

		if ((word_load(&bm->words[w]) & m) == m)
			continue;
		summary_set_levels(bm, 0, w, 1);	/* heal: the summary hid this word */
		if (bit == NB_NONE)
			bit = claim_in_word(bm, w, m, 0);
	}
	return bit;
}

/* nb_bitmap_claim_start() for a spaced bitmap: word W holds bits W .. W + 7. */
int nb_bitmap_claim_start_spaced(struct nb_bitmap *bm, uint64_t lo, uint64_t hi, uint64_t start,
				 uint64_t *bit)
{
	if (bm->spaced && lo <= start && start <= hi && hi < bm->nbits) {
		uint64_t w = start / SP_BITS * SP_BITS, *p = &bm->words[w], old = word_load(p);
		uint64_t m = ~old & (bm->wordmask << (start % SP_BITS)) & bm->wordmask;

		if (w == hi / SP_BITS * SP_BITS)
			m &= mask_to(hi % SP_BITS);
		m &= -m;
		if (m && cas(p, old, old | m) == old) {
			*bit = w + (uint64_t)__builtin_ctzll(m);
			return 1;
		}
	}
	return 0;
}

/*
 * Ask for the summary words over words A and B at every level at once, so
 * that a search that climbs from A and then from B (a spread start, then
 * the bottom of the range) waits for one round of misses, not one per
 * level: a new handle's first search meets every line cold.
 */
static void prefetch_paths(const struct nb_bitmap *bm, uint64_t a, uint64_t b)
{
	int l;

	for (l = 1; l <= bm->nlevels; l++) {
		a /= 64;
		b /= 64;
		__builtin_prefetch(&bm->level[l][a]);
		if (b != a)
			__builtin_prefetch(&bm->level[l][b]);
	}
}

int nb_bitmap_claim_any_slow(struct nb_bitmap *bm, uint64_t lo, uint64_t hi, uint64_t start,
			     uint64_t *bit)
{
	uint64_t b;

	if (lo > hi || hi >= bm->nbits)
		return -EINVAL;
	if (start < lo || start > hi)
		start = lo;
	lo = sp_in(bm, lo);
	hi = sp_in(bm, hi);
	start = sp_in(bm, start);
	prefetch_paths(bm, start / 64, lo / 64);
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
	*bit = sp_out(bm, b);
	return 0;
}

/*
 * A stretch of a packed bitmap that the caller has to itself by
 * convention (a cyclic window, idpool.c): the first clear bit of [FROM,
 * TO], by a plain scan of its words, like the Go allocator's next fit. A
 * claim that fills its word leaves the summary bit set (lazy clearing, as
 * a spread start word does): the next summary search that meets the word
 * clears it, and a release into it meanwhile writes no summary. Not a
 * definitive answer for the pool: -ENOSPC says only that the stretch had
 * no clear bit as its words were read.
 */
int nb_bitmap_claim_next(struct nb_bitmap *bm, uint64_t from, uint64_t to, uint64_t *bit)
{
	if (bm->spaced || from > to || to >= bm->nbits)
		return -EINVAL;
	return nb_bitmap_claim_stretch(bm, from, to, bit) ? 0 : -ENOSPC;
}

/*
 * Set MASK in word W if none of it is set. 0 on success, -EEXIST if any
 * bit of MASK was already set (then nothing changed). The lazy form is the
 * CAS alone (the word's summary bit left set even if the word filled; *NOW
 * gets the word as this claim left it); claim_mask() clears the summary
 * bit of a word it filled.
 */
static inline int claim_mask_lazy(struct nb_bitmap *bm, uint64_t w, uint64_t mask,
				  uint64_t *now)
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
	*now = old | mask;
	return 0;
}

static int claim_mask(struct nb_bitmap *bm, uint64_t w, uint64_t mask)
{
	uint64_t now;

	if (claim_mask_lazy(bm, w, mask, &now) < 0)
		return -EEXIST;
	if ((now | ~valid_mask(bm, w)) == FULL)
		summary_clear(bm, 0, w);
	return 0;
}

/*
 * The lowest advice (issue 20, session 3). A LOWEST search from the
 * bottom of the pool walks the summary over every full word below the
 * lowest clear bit, and keeps the summary exact to do so: each claim that
 * fills a word clears summary bits, each release into a full word sets
 * them again, about 8 atomics a pair. Instead, word NB_LOW of the cursor
 * line says where the lowest clear bit can be (bitmap.h):
 *
 *	bits 0..40	L: no bit below L is clear (L itself may be set)
 *	41..45, 46..63	E and M: no bit strictly between L and
 *			S = L + (M << E) is clear: the full stretch
 *			(S <= L + 1 says nothing). A stretch is stored
 *			rounded down: M keeps the top 18 bits of S - L.
 *
 * Both are promises about clear bits, kept by three rules:
 *   - a release of X, after its CAS on the word, loads the advice, and
 *     writes it only when X is below L or inside the stretch: with a CAS
 *     from the value it loaded, L = X and the stretch up to S (L set, as
 *     the release reads it) or up to the old L (L clear), or, X inside
 *     the stretch and L clear, the stretch cut at X. After a CAS that
 *     put a set L inside the stretch it reads L again: clear now, its
 *     release may have loaded the advice before the CAS, so it cuts the
 *     stretch at L as that release would have (nb_bitmap_lowest_lower()).
 *     The inline release (nb_lowest_freed(), bitmap.h) takes the common
 *     case, L set, with one CAS and that read; L clear goes to
 *     nb_bitmap_lowest_lower(). Writing (X, S) without reading L first
 *     would hide a clear L, another release's completed one, and for
 *     longer than a moment if the writer died before its read after;
 *   - a claim that finds a clear bit in L's word, at or after L, takes it
 *     and writes nothing (the inline nb_bitmap_claim_lowest(), and
 *     nb_bitmap_claim_lowest_all() in numballoc_alloc(), whose lost
 *     CAS there sends it to the search, which tries L's word again):
 *     the bits of the word between L and it are set, so it is the lowest;
 *   - a claim that leaves L's word (it found nothing there, and searched
 *     from S or the next word) claims B and moves L to B with one CAS
 *     from the value it loaded; it read every bit of [L, B) outside the
 *     stretch as set, and reads L and those bits again after the CAS and
 *     lowers the advice to any it finds clear (lowest_recheck()). A
 *     failed CAS leaves the advice alone: advice that is too low costs a
 *     look, never a wrong answer.
 * A release into the stretch changes the advice with its CAS, so a claim's
 * CAS from the value before fails. A release of a bit of [L, B) outside
 * the stretch that loaded the advice before the claim's CAS made its own
 * CAS on the word before that load, and the claim's second read comes
 * after its CAS on the advice: both are full barriers, so either the
 * release sees the advice moved and lowers it, or the claim sees the bit.
 * So without a crash a clear bit is below L or in the stretch only for a
 * moment, while its release runs. A process killed between its CAS on a
 * word and its write of the advice can leave a bit hidden there, as a
 * killed clearer can hide a word from the summary: the search's
 * definitive pass (below L too, before any -ENOSPC) finds it and lowers
 * the advice again.
 *
 * A LOWEST claim that fills a word leaves its summary bit set (lazy, as a
 * spread start word does): searches start at L, so most stale bits lie
 * below it (claims in S's word leave some above), and a release into such
 * a word writes no summary. So does a
 * specific claim in such a pool (nb_bitmap_claim_bit_lazy(), session 4);
 * a summary search that meets a stale bit clears it (claim_summary()). A
 * release in such a pool (nb_bitmap_release_lowest(), session 5) looks at
 * the summary bit of a word it made not full only after its CAS on the
 * word and its advice write, and sets it then if a search cleared it: no
 * load of a summary line before its atomics. Killed before that look, it
 * can leave its own ID out of the summary, as a killed clearer can; the
 * definitive pass finds it. Only pools
 * whose every process keeps the advice use it (segment.h,
 * NB_VERSION_LOW); nb_bitmap_init() makes it 0, which promises nothing.
 */
#define LOW_SCAN 1024	/* bits a search past L's word reads plainly before the summary */

#ifdef NB_TEST_WINDOWS
/* A test build only (tests/check_lowest_race.c): called inside the races above, to widen them. */
void (*nb_test_window)(int where);
#endif

/*
 * X is clear: lower the advice to it. FREED: a release of X alone (the
 * rules above); else X is some clear bit (a recheck, a heal, a block
 * freed), and the advice keeps no stretch after it.
 */
void nb_bitmap_lowest_lower(struct nb_bitmap *bm, uint64_t x, int freed)
{
	uint64_t *lw = &bm->cursor[NB_LOW], a = word_load(lw), prev;

	for (;;) {
		uint64_t l = a & NB_LOW_MASK, s = nb_low_end(a), n;
		int lset;

		if (s <= l)
			s = l + 1;
		if (x == l || x >= s)
			return;
		lset = freed && nb_low_set(bm, l);
		NB_TEST_WINDOW(2);
		if (lset)
			n = nb_low_pack(x, s - x);		/* L set: (X, S) as full as (L, S) */
		else if (x < l)
			n = freed ? nb_low_pack(x, l - x) : x;
		else
			n = nb_low_pack(l, x - l);		/* the stretch ends at X */
		prev = cas(lw, a, n);
		if (prev != a) {
			a = prev;
			continue;
		}
		if (!lset || nb_low_set(bm, l))
			return;
		x = l;		/* L was released meanwhile: cut the stretch at it */
		a = n;
	}
}

/*
 * nb_bitmap_release_lowest() (bitmap.h) when nb_release_cas() left the
 * release to the slow path: that release, then, when it released BIT,
 * the advice.
 */
int nb_bitmap_release_lowest_slow(struct nb_bitmap *bm, uint64_t bit)
{
	int r = nb_bitmap_release_bit_slow(bm, bit);

	if (r == 0)
		nb_bitmap_lowest_freed(bm, bit);
	return r;
}

/*
 * The rest of nb_bitmap_release_lowest() after its CAS on BIT's word, in
 * the inline release's order: the advice lowered to X (NB_NONE: done),
 * then, when the word was FULL before the CAS, its summary bit set again
 * if a clearer took it, then the run index.
 */
int nb_bitmap_release_lowest_rest(struct nb_bitmap *bm, uint64_t bit, uint64_t x, int full)
{
	if (x != NB_NONE)
		nb_bitmap_lowest_lower(bm, x, 1);
	if (full && !nb_bitmap_summary_bit(bm, bit / 64))
		return nb_bitmap_released_more(bm, bit, 1);
	if (nb_release_ix(bm, bit))
		return nb_bitmap_released_more(bm, bit, 0);
	return 0;
}

/*
 * A specific bit of a pool that keeps the advice (numballoc_alloc_id()):
 * as nb_bitmap_claim_bit(), but a word it fills keeps its summary bit
 * set, as a lowest claim's does (lazy, above), so that a release into it
 * writes no summary. -EINVAL for a spaced bitmap (no advice there).
 */
int nb_bitmap_claim_bit_lazy(struct nb_bitmap *bm, uint64_t bit)
{
	uint64_t now;

	if (bit >= bm->nbits || bm->spaced)
		return -EINVAL;
	return claim_mask_lazy(bm, bit / 64, bit_of(bit), &now);
}

/*
 * The first clear bit of [from, to), or NB_NONE: FROM < TO <= nbits in a
 * packed bitmap (no padding below TO), so a word between costs a load
 * and a test.
 */
static uint64_t first_clear(const struct nb_bitmap *bm, uint64_t from, uint64_t to)
{
	uint64_t w = from / 64, last = (to - 1) / 64, x = ~word_load(&bm->words[w]) & mask_from(from % 64);

	for (;;) {
		if (w == last)
			x &= mask_to((to - 1) % 64);
		if (x)
			return w * 64 + (uint64_t)__builtin_ctzll(x);
		if (w == last)
			return NB_NONE;
		x = ~word_load(&bm->words[++w]);
	}
}

/*
 * After a claim of B from the advice (L, S) and its CAS on the advice:
 * L and the bits of [S, B) again (the stretch is the releases' to
 * guard). A clear one was released meanwhile: the advice goes down to it.
 */
static void lowest_recheck(struct nb_bitmap *bm, uint64_t l, uint64_t s, uint64_t b)
{
	uint64_t x = NB_NONE, from = s > l + 1 ? s : l + 1;

	if (!nb_low_set(bm, l))
		x = l;
	else if (from < b)
		x = first_clear(bm, from, b);
	if (x != NB_NONE)
		nb_bitmap_lowest_lower(bm, x, 0);
}

int nb_bitmap_claim_lowest_slow(struct nb_bitmap *bm, uint64_t lo, uint64_t hi, uint64_t *bit)
{
	uint64_t *lw, a, l, s, w, from, last, b = NB_NONE;

	if (lo > hi || hi >= bm->nbits)
		return -EINVAL;
	if (bm->spaced)
		return nb_bitmap_claim_any_slow(bm, lo, hi, lo, bit);
	lw = &bm->cursor[NB_LOW];
	a = word_load(lw);
	l = a & NB_LOW_MASK;
	s = nb_low_end(a);
	if (l < lo)	/* a range above the advice: the summary search from its bottom */
		return nb_bitmap_claim_any_slow(bm, lo, hi, lo, bit);
	if (l > hi) {	/* the advice says none: only a definitive pass may say so */
		b = claim_scan(bm, lo, hi);
		goto definitive;
	}
	w = l / 64;
	b = claim_in_word(bm, w, range_mask(bm, w, l, hi), 1);
	if (b != NB_NONE) {	/* in L's word: the advice stays */
		*bit = b;
		return 0;
	}
	/* past L's word and the full stretch: a plain scan, then the summary */
	from = s > (w + 1) * 64 ? s : (w + 1) * 64;
	if (from <= hi) {
		last = hi - from < LOW_SCAN ? hi : from + LOW_SCAN - 1;
		if (!nb_bitmap_claim_stretch(bm, from, last, &b)) {	/* packed, LAST < nbits */
			b = NB_NONE;
			if (last < hi)
				b = claim_summary(bm, last + 1, hi);
		}
	}
	if (b != NB_NONE) {
		NB_TEST_WINDOW(1);
		if (cas(lw, a, b) == a)
			lowest_recheck(bm, l, s, b);
		*bit = b;
		return 0;
	}
	/* the definitive pass: from L up, then below L, which a crash may have hidden */
	b = claim_scan(bm, l, hi);
	if (b == NB_NONE && l > lo)
		b = claim_scan(bm, lo, l - 1);
definitive:
	if (b == NB_NONE)
		return -ENOSPC;
	/* below L: the advice hid it; [LO, B) read full, below LO unknown */
	if (b < l)
		nb_bitmap_lowest_lower(bm, lo ? lo : b + 1, 0);
	*bit = b;
	return 0;
}

/*
 * The run index: advice for run searches, a tree above the words. Node i
 * of level 1 covers words 8i .. 8i+7 (512 bits); node i of level k covers
 * nodes 8i .. 8i+7 of level k-1; the top level has one node. An entry:
 *
 *	bits 0..15	LNG: the longest run of clear bits inside the node
 *	16..31		PRE: the clear bits at its start
 *	32..47		SUF: the clear bits at its end
 *	48		VALID (zero, as made: unknown)
 *	49..63		a sequence number, bumped by every write
 *
 * A field at IX_SAT means "at least that many". Bits the process's view
 * does not have (beyond its nbits, words beyond its count) count as clear.
 *
 * What a VALID entry promises: no run is longer than it says (an upper
 * bound), so a search may skip a node whose entry says it cannot hold the
 * run. Claims only shorten runs, so a claim need not write; releases
 * lengthen them, so a release recomputes its node's entry (and the nodes
 * above whose value changes) from the words it reads after its CAS on the
 * word and, where the entry does not cover that, writes the larger of the
 * two field by field: a release only raises. A CAS from the entry it read,
 * so of two writers the later recomputes. A release that finds its node
 * unknown, or its entry covering what it computed, writes nothing: that
 * is why ID pools that never search for runs pay one load per release.
 *
 * Whoever makes an unknown entry VALID, or lowers a field of a VALID one
 * (a searcher that read the node's inputs and found less), reads the
 * inputs again after its CAS and, if they changed, makes it unknown again,
 * with the valid entries above: a release's CAS-then-load against the
 * writer's CAS-then-load, so one of the two sees the other. Without that
 * second read a release between the writer's first read and its CAS,
 * which found the old entry covering it and wrote nothing, would be lost
 * under the lowered entry. And a writer that raises a field, as a searcher
 * or a claimer does when it reads a release's words before the release
 * looks at the entry, carries the raise up the nodes above as a release
 * would, even past the level it was asked to write: the release then
 * finds the entry covering it and leaves the nodes above to that writer
 * (session 6; check_ixrace has one test for each of the three).
 *
 * A pool whose index no search has used (an ID pool that never asks for a
 * block) has every entry unknown, and a release there would load an entry
 * for nothing: one more line, a random one among ixcount[1], per free
 * (256 KiB of them for 2^24 IDs). So the first writer that makes an entry
 * VALID sets the cursor line's word NB_IX_USED first, with a full barrier
 * (ix_mark_used()), and the inline release (bitmap.h) looks at the entry
 * only when that word is set. A release's CAS on its word comes before its
 * load of that word, and the validator's barrier before its second read
 * of the inputs, so again one of the two sees the other. A writer that
 * clears the word (an older build never sets it, a hostile one may clear
 * it) can only leave entries too low, as a killed process can: the
 * definitive pass below still finds every run.
 *
 * A process killed between its CAS on a word and the write of the entry
 * can leave an entry too low. So the index, like the summary, only steers
 * the search: -ENOSPC always comes from the definitive pass over the words
 * (find_run_words()), and an entry that is too high costs a look at the
 * words, which leaves it right.
 */
#define IX_SAT UINT64_C(0xffff)
#define IX_VALS ((UINT64_C(1) << 48) - 1)
#define IX_VALID NB_IX_VALID
#define IX_SEQ (UINT64_C(1) << 49)

struct ixv {
	uint64_t pre, suf, lng;
};

static uint64_t ix_sat(uint64_t v)
{
	return v < IX_SAT ? v : IX_SAT;
}

static uint64_t ix_pack(const struct ixv *v)
{
	return ix_sat(v->lng) | ix_sat(v->pre) << 16 | ix_sat(v->suf) << 32;
}

static uint64_t ix_lng(uint64_t e)
{
	return e & IX_SAT;
}

static uint64_t ix_pre(uint64_t e)
{
	return (e >> 16) & IX_SAT;
}

static uint64_t ix_suf(uint64_t e)
{
	return (e >> 32) & IX_SAT;
}

/* Bits under one node of level K (K = 0: a word), at most 2^62. */
static uint64_t ix_span(int k)
{
	return IX_SHIFT * k + 6 < 62 ? UINT64_C(64) << (IX_SHIFT * k) : UINT64_C(1) << 62;
}

/*
 * Word C as the index sees it. Bits beyond the view are set where they
 * can never be valid (a layout of fixed size, or grown to its maximum),
 * clear where a view grown since may have them.
 */
static inline uint64_t ix_word(const struct nb_bitmap *bm, uint64_t c)
{
	if (c >= bm->nwords)
		return bm->ixgrow ? 0 : FULL;
	if (c < bm->nwords - 1)
		return word_load(&bm->words[c]);
	return bm->ixgrow ? word_load(&bm->words[c]) & bm->lastmask
			  : word_load(&bm->words[c]) | ~bm->lastmask;
}

/* The longest run of clear bits in X. */
static uint64_t longest_clear(uint64_t x)
{
	uint64_t f = ~x, best = 0;

	while (f) {
		uint64_t s = (uint64_t)__builtin_ctzll(f), len;

		f >>= s;	/* a run begins at bit 0 */
		len = ~f ? (uint64_t)__builtin_ctzll(~f) : 64;
		if (len > best)
			best = len;
		if (len >= 64)
			break;
		f >>= len;
	}
	return best;
}

/*
 * One input of a node folded in: a child (or word) of SPAN bits with
 * PRE/SUF/LNG; FULL when it is all clear. *RUN is the clear run that
 * reaches the end of what was folded so far, *LEAD nonzero while all of it
 * was clear.
 */
static inline void ix_fold(struct ixv *v, uint64_t *run, int *lead, uint64_t span, int full,
		    uint64_t pre, uint64_t suf, uint64_t lng)
{
	if (full) {
		*run += span;
		if (*lead)
			v->pre += span;
		return;
	}
	*run += pre;
	if (*lead) {
		v->pre = *run;
		*lead = 0;
	}
	if (*run > v->lng)
		v->lng = *run;
	if (lng > v->lng)
		v->lng = lng;
	*run = suf;
}

/* What input C of a node of level K is (level 1: a word; above: an entry). */
enum ix_kind {
	IX_IN_WORD,	/* the word, as ix_word() sees it */
	IX_IN_NONE,	/* beyond the layout: no bits */
	IX_IN_CLEAR,	/* beyond the view, which may grow: all clear */
	IX_IN_ENTRY,	/* the entry of the level below */
};

/* Input C of a node of level K: its kind, and in *X what it reads as now. */
static enum ix_kind ix_input(const struct nb_bitmap *bm, int k, uint64_t c, uint64_t *x)
{
	if (k == 1) {
		*x = ix_word(bm, c);
		return IX_IN_WORD;
	}
	if (c >= bm->ixcount[k - 1]) {
		*x = 1;
		return IX_IN_NONE;
	}
	if (c > (bm->nwords - 1) >> (IX_SHIFT * (k - 1))) {
		*x = 0;
		return IX_IN_CLEAR;
	}
	*x = word_load(&bm->ix[k - 1][c]);
	return IX_IN_ENTRY;
}

/*
 * The entry node I of level K should have, from its inputs as read now
 * (copied to SNAP for ix_same()). 0 when an input is unknown.
 */
static int ix_compute(const struct nb_bitmap *bm, int k, uint64_t i, struct ixv *v,
		      uint64_t *snap)
{
	uint64_t run = 0, span = ix_span(k - 1), j, x;
	int lead = 1;

	memset(v, 0, sizeof(*v));
	for (j = 0; j < IX_FAN; j++) {
		switch (ix_input(bm, k, i * IX_FAN + j, &x)) {
		case IX_IN_WORD:
			if (!x)
				ix_fold(v, &run, &lead, 64, 1, 0, 0, 0);
			else
				ix_fold(v, &run, &lead, 64, 0, (uint64_t)__builtin_ctzll(x),
					(uint64_t)__builtin_clzll(x), longest_clear(x));
			break;
		case IX_IN_NONE:
			ix_fold(v, &run, &lead, span, 0, 0, 0, 0);
			break;
		case IX_IN_CLEAR:
			ix_fold(v, &run, &lead, span, 1, 0, 0, 0);
			break;
		case IX_IN_ENTRY:
			if (!(x & IX_VALID))
				return 0;
			ix_fold(v, &run, &lead, span, ix_pre(x) >= ix_sat(span), ix_pre(x),
				ix_suf(x), ix_lng(x));
			break;
		}
		snap[j] = x;
		NB_TEST_WINDOW(9);
	}
	if (run > v->lng)
		v->lng = run;
	v->suf = run;
	return 1;
}

/* Are the inputs of node I of level K still what ix_compute() read? */
static int ix_same(const struct nb_bitmap *bm, int k, uint64_t i, const uint64_t *snap)
{
	uint64_t j, x;

	for (j = 0; j < IX_FAN; j++) {
		ix_input(bm, k, i * IX_FAN + j, &x);
		if (x != snap[j])
			return 0;
	}
	return 1;
}

/* Does entry E promise at least what VAL (a packed value) has? */
static int ix_covers(uint64_t e, uint64_t val)
{
	return ix_lng(e) >= ix_lng(val) && ix_pre(e) >= ix_pre(val) && ix_suf(e) >= ix_suf(val);
}

/* Field by field, the larger of entry E's values and VAL (a packed value). */
static uint64_t ix_max(uint64_t e, uint64_t val)
{
	uint64_t lng = ix_lng(e) > ix_lng(val) ? ix_lng(e) : ix_lng(val);
	uint64_t pre = ix_pre(e) > ix_pre(val) ? ix_pre(e) : ix_pre(val);
	uint64_t suf = ix_suf(e) > ix_suf(val) ? ix_suf(e) : ix_suf(val);

	return lng | pre << 16 | suf << 32;
}

/*
 * The index is in use: from now on, releases look at their entries. Set,
 * with a full barrier, before the first CAS that makes an entry VALID (see
 * "The run index"); never cleared.
 */
static void ix_mark_used(struct nb_bitmap *bm)
{
	if (!word_load(&bm->cursor[NB_IX_USED]))
		uatomic_or(&bm->cursor[NB_IX_USED], 1);
}

/* Make node I of level K unknown, and every valid node above it. */
static void ix_invalidate_up(struct nb_bitmap *bm, int k, uint64_t i)
{
	for (; k <= bm->ixlevels; k++, i >>= IX_SHIFT) {
		uint64_t *p = &bm->ix[k][i], e = word_load(p), prev;

		for (;;) {
			if (!(e & IX_VALID))
				return;
			prev = cas(p, e, (e + IX_SEQ) & ~IX_VALID);
			if (prev == e)
				break;
			e = prev;
		}
	}
}

/*
 * Write node I of level K from its inputs, then the nodes above while they
 * change, up to level TOP; above it only while a write raised something,
 * as a release. Without VALIDATE (a release) an unknown node ends the
 * walk; with it (a searcher, a claimer) unknown nodes are made VALID where
 * their inputs are all known. See "The run index" for who reads what again.
 */
static void ix_fix(struct nb_bitmap *bm, int k, uint64_t i, int validate, int top)
{
	int raised = 0;

	for (; k <= bm->ixlevels; k++, i >>= IX_SHIFT) {
		uint64_t *p, e, ne = 0, prev, val;
		uint64_t snap[IX_FAN];
		struct ixv v;

		if (k > top) {
			/*
			 * Above TOP only after a raise, and as a release: a
			 * release into these words that found the raised entry
			 * covering it has left the nodes above to this writer.
			 */
			if (!raised)
				return;
			validate = 0;
		}
		p = &bm->ix[k][i];
		e = word_load(p);
		for (;;) {
			ne = 0;
			if (!(e & IX_VALID) && !validate)
				return;
			if (!ix_compute(bm, k, i, &v, snap)) {
				if (e & IX_VALID)	/* an input became unknown */
					ix_invalidate_up(bm, k, i);
				return;
			}
			val = ix_pack(&v);
			if (!validate) {
				if (ix_covers(e, val))
					return;	/* still an upper bound: a release needs no more */
				val = ix_max(e, val);	/* a release only raises */
			}
			if ((e & IX_VALID) && (e & IX_VALS) == val) {
				/* right already: nothing above changes, unless unknown */
				if (!validate || k == top ||
				    (word_load(&bm->ix[k + 1][i >> IX_SHIFT]) & IX_VALID))
					return;
				break;
			}
			ne = (((e & ~IX_VALS) + IX_SEQ) & ~IX_VALS) | IX_VALID | val;
			if (!(e & IX_VALID))
				ix_mark_used(bm);
			NB_TEST_WINDOW(7);
			prev = cas(p, e, ne);
			if (prev == e)
				break;
			e = prev;	/* another writer: look again */
		}
		raised = ne && (e & IX_VALID) && !ix_covers(e, ne);
		NB_TEST_WINDOW(8);
		if (ne && (!(e & IX_VALID) || !ix_covers(ne, e)) && !ix_same(bm, k, i, snap)) {
			/*
			 * Made VALID, or lowered, from inputs that changed
			 * meanwhile: their writer may have seen this node
			 * unknown, or the old entry covering its release, and
			 * left it. Unknown is always right. The nodes above
			 * too, even when another writer has replaced NE: one
			 * of them may have been computed from NE meanwhile
			 * (a writer that raised NE carries its raise up, so
			 * this is a second line of defence, not a test-made
			 * case).
			 */
			cas(p, ne, (ne + IX_SEQ) & ~IX_VALID);
			ix_invalidate_up(bm, k + 1, i >> IX_SHIFT);
			return;
		}
	}
}

/* Every node over word W, written from its inputs where it is wrong. */
static void ix_heal(struct nb_bitmap *bm, uint64_t w)
{
	int k;

	for (k = 1; k <= bm->ixlevels; k++)
		ix_fix(bm, k, w >> (IX_SHIFT * k), 1, bm->ixlevels);
}

/* Words [W0, W1] may have longer runs now (a release): their nodes follow. */
static void ix_released(struct nb_bitmap *bm, uint64_t w0, uint64_t w1)
{
	uint64_t i;

	NB_TEST_WINDOW(10);	/* between a release's CAS on its words and its look at the index */
	for (i = w0 >> IX_SHIFT; i <= w1 >> IX_SHIFT; i++)
		if (word_load(&bm->ix[1][i]) & IX_VALID)	/* unknown: a load, no more */
			ix_fix(bm, 1, i, 0, bm->ixlevels);
}

/*
 * Clear MASK in word W. With STRICT, only if all of MASK is set (else
 * -ENOENT, nothing changed); without, whatever of MASK is set. The caller
 * tells the index (ix_released()).
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
	return 0;
}

int nb_bitmap_claim_bit(struct nb_bitmap *bm, uint64_t bit)
{
	if (bit >= bm->nbits)
		return -EINVAL;
	bit = sp_in(bm, bit);
	return claim_mask(bm, bit / 64, bit_of(bit));
}

/*
 * The rare ends of the inline release of BIT (bitmap.h), out of line so
 * that its common case saves no register: LOST, a clearer took the
 * summary bit of the word it made not full; then the run index, if it
 * knows the word.
 */
int nb_bitmap_released_more(struct nb_bitmap *bm, uint64_t bit, int lost)
{
	uint64_t w = bit / 64;

	if (lost)
		summary_set(bm, 0, w);
	if (uatomic_read(&bm->cursor[NB_IX_USED]) &&
	    (uatomic_read(&bm->ix[1][w >> NB_IX_SHIFT]) & NB_IX_VALID))
		ix_released(bm, w, w);
	return 0;
}

/*
 * Word W of a packed bitmap, released into by nb_bitmap_release_plain()
 * (issue 20, session 5): if it has a clear bit, its summary bit is set
 * (then, as after any release, by the rules at the top: a clearer that
 * took it meanwhile looks at the word again after its CAS). A full word
 * needs nothing: a release into it sets its bit or keeps it, as above.
 */
void nb_bitmap_show_word(struct nb_bitmap *bm, uint64_t w)
{
	if (w < bm->nwords && bm->nlevels > 0 && child_has_room(bm, 0, w) &&
	    !(word_load(&bm->level[1][w / 64]) & bit_of(w)))
		summary_set(bm, 0, w);
}

int nb_bitmap_release_bit_slow(struct nb_bitmap *bm, uint64_t bit)
{
	uint64_t w, b, old, *s;
	int r;

	if (bit >= bm->nbits)
		return -EINVAL;
	bit = sp_in(bm, bit);
	w = bit / 64;
	b = bit_of(bit);
	if (bm->spaced) {	/* a word that is not full, as nb_bitmap_release_bit() does */
		uint64_t v = valid_mask(bm, w);

		old = word_load(&bm->words[w]);
		if ((old & b) && (old & v) != v && cas(&bm->words[w], old, old & ~b) == old) {
			if (word_load(&bm->ix[1][w >> IX_SHIFT]) & IX_VALID)
				ix_released(bm, w, w);
			return 0;
		}
	}
	/*
	 * A full word whose summary bit is set (lazy clearing leaves it so):
	 * release_mask()'s two looks at the summary in one load each, no call.
	 */
	old = word_load(&bm->words[w]);
	if ((old & b) && (old | ~valid_mask(bm, w)) == FULL && bm->nlevels > 0) {
		s = &bm->level[1][w / 64];
		if ((word_load(s) & bit_of(w)) && cas(&bm->words[w], old, old & ~b) == old) {
			if (!(word_load(s) & bit_of(w)))
				summary_set(bm, 0, w);	/* a clearer took it meanwhile */
			ix_released(bm, w, w);
			return 0;
		}
	}
	r = release_mask(bm, w, b, 1);
	if (r == 0)
		ix_released(bm, w, w);
	return r;
}

static void ix_forget(struct nb_bitmap *bm, uint64_t w0, uint64_t w1);

/*
 * The range claim and release, shared by the ordinary functions (LAZY 0:
 * a word filled clears its summary bit, a release recomputes the run index)
 * and the buffer's (LAZY 1, packed bitmaps only: the summary bit is left
 * set, a release makes the run index unknown; see the end of this file).
 */
static inline __attribute__((always_inline)) int
claim_range_how(struct nb_bitmap *bm, uint64_t first, uint64_t n, int lazy)
{
	uint64_t last, w;
	int r = 0;

	if (n == 0 || first >= bm->nbits || n > bm->nbits - first)
		return -EINVAL;
	last = sp_in(bm, first + n - 1);
	first = sp_in(bm, first);
	for (w = first / 64; w <= last / 64; w++) {
		uint64_t m = range_mask(bm, w, first, last), now;

		if (m && (r = lazy ? claim_mask_lazy(bm, w, m, &now) : claim_mask(bm, w, m)) < 0)
			break;
	}
	if (r == 0)
		return 0;
	/* Roll back what this call claimed: those bits are ours alone. */
	if (w > first / 64) {
		uint64_t w1 = w - 1;

		while (w-- > first / 64) {
			uint64_t m = range_mask(bm, w, first, last);

			if (m)
				release_mask(bm, w, m, 0);
		}
		if (lazy)
			ix_forget(bm, first / 64, w1);
		else
			ix_released(bm, first / 64, w1);
	}
	return r;
}

static inline __attribute__((always_inline)) int
release_range_how(struct nb_bitmap *bm, uint64_t first, uint64_t n, int lazy)
{
	uint64_t last, w;
	int r;

	if (n == 0 || first >= bm->nbits || n > bm->nbits - first)
		return -EINVAL;
	last = sp_in(bm, first + n - 1);
	first = sp_in(bm, first);
	if (first / 64 == last / 64) {
		r = release_mask(bm, first / 64, range_mask(bm, first / 64, first, last), 1);
		if (r == 0) {
			if (lazy)
				ix_forget(bm, first / 64, first / 64);
			else
				ix_released(bm, first / 64, first / 64);
		}
		return r;
	}
	for (w = first / 64; w <= last / 64; w++) {
		uint64_t m = range_mask(bm, w, first, last);

		if ((word_load(&bm->words[w]) & m) != m)
			return -ENOENT;
	}
	/* All set a moment ago; only a concurrent double free can interfere. */
	for (w = first / 64; w <= last / 64; w++) {
		uint64_t m = range_mask(bm, w, first, last);

		if (m)
			release_mask(bm, w, m, 0);
	}
	if (lazy)
		ix_forget(bm, first / 64, last / 64);
	else
		ix_released(bm, first / 64, last / 64);
	return 0;
}

int nb_bitmap_claim_range(struct nb_bitmap *bm, uint64_t first, uint64_t n)
{
	return claim_range_how(bm, first, n, 0);
}

int nb_bitmap_release_range(struct nb_bitmap *bm, uint64_t first, uint64_t n)
{
	return release_range_how(bm, first, n, 0);
}

int nb_bitmap_test(const struct nb_bitmap *bm, uint64_t bit)
{
	if (bit >= bm->nbits)
		return -EINVAL;
	bit = sp_in(bm, bit);
	return !!(word_load(&bm->words[bit / 64]) & bit_of(bit));
}

static uint64_t next_bit(const struct nb_bitmap *bm, uint64_t from, uint64_t flip)
{
	uint64_t w;

	if (from >= bm->nbits)
		return NB_NONE;
	from = sp_in(bm, from);
	for (w = from / 64; w < bm->nwords; w++) {
		uint64_t x = (word_load(&bm->words[w]) ^ flip) & valid_mask(bm, w);

		if (w == from / 64)
			x &= mask_from(from % 64);
		if (x)
			return sp_out(bm, w * 64 + (uint64_t)__builtin_ctzll(x));
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
 * Runs are found a word at a time: a run of at most 64 bits lies in one
 * word or across two, a longer one begins in the clear bits at the top of
 * a word and goes on through clear words, so one pass over the words, with
 * the clear bits at the top of the words before carried over, sees every
 * candidate.
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
 * A scan for N clear bits, the first a multiple of ALIGN, over the words
 * of [from, last], one word at a time: the one place that knows how a run
 * is found inside a word and across word boundaries.
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
	while (n <= 64 && have < n) {	/* longer runs never lie inside one word */
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
		/* never before FROM, whatever was carried over */
		s = w * 64 - rs->carry;
		s = align_up(s > rs->from ? s : rs->from, rs->align);
		if (s != NB_NONE && s + rs->n <= w * 64 + lead)
			return s;
	}
	f = rs->n <= 64 ? ~x : 0;
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
 * The definitive pass goes past whole blocks of IX_FAN words that cannot
 * matter: words W .. END, all inside the range. A run of N clear bits
 * that ends in a block, or crosses into it, has a piece of M = min(N, 4)
 * clear bits inside one word of the block or a clear pair across one of
 * its word boundaries (the first one included). A block with neither is
 * passed, carrying the clear bits at the top of its last word (not all
 * of it: an all-clear word has such a piece). Returns the first word of
 * the first block that may hold one, for run_scan_word() to look at word
 * by word, or the first word after the last whole block. A few
 * instructions per word, and a branch per block: the pool of 2^20 bits
 * at 99% with no run goes by in about 16384 loads.
 *
 * Before the blocks, whole chunks of SKIP_CHUNK words are passed by the
 * same test with one branch per chunk (skip_chunk()), a loop of fixed
 * length that gcc turns into vector code and clang unrolls: measured in a
 * copy of the loop on 16384 words, 8-17 us (gcc, SSE2) and 12-13 us
 * (clang) against 23-28 us block by block.
 */
#define SKIP_CHUNK (8 * IX_FAN)

/*
 * The chunk test reads each word with a plain load, not word_load(): a
 * volatile load is never vectorized (the same loop with it took 20-27 us).
 * An aligned 64-bit load is a single access; the pass looks at words that
 * others are changing anyway, and any chunk with a piece is read again
 * block by block with word_load(). The ThreadSanitizer build keeps
 * word_load(): it would report the plain load racing with a CAS.
 */
#if defined(NB_TSAN_UATOMIC_H) || defined(NB_COUNT_READS)
#define skip_load(p) word_load(p)
#else
#define skip_load(p) (*(p))
#endif

/* Has any of words W .. W + SKIP_CHUNK - 1 a piece (see below)? */
static inline __attribute__((always_inline)) uint64_t
skip_chunk(const uint64_t *words, uint64_t w, unsigned int s0, unsigned int s1)
{
	uint64_t hit = 0;
	unsigned int j;

	for (j = 0; j < SKIP_CHUNK; j++) {
		uint64_t nx = ~skip_load(&words[w + j]), np = ~skip_load(&words[w + j - 1]);
		uint64_t f = nx & nx >> s0;

		f &= f >> s1;
		hit |= f | (np >> 63 & nx);
	}
	return hit;
}

static inline __attribute__((always_inline)) uint64_t
run_skip_blocks_by(struct run_scan *rs, const struct nb_bitmap *bm, uint64_t w, uint64_t end,
		   unsigned int s0, unsigned int s1)
{
	const uint64_t *words = bm->words;
	uint64_t nprev, nx, start = w;

	for (; w + SKIP_CHUNK - 1 <= end; w += SKIP_CHUNK)
		if (skip_chunk(words, w, s0, s1))
			break;
	if (w != start)	/* passed: the clear bits at the top of the last word */
		rs->carry = (uint64_t)__builtin_clzll(word_load(&words[w - 1]) | 1);
	nprev = ~word_load(&words[w - 1]);
	nx = nprev;

	for (; w + IX_FAN - 1 <= end; w += IX_FAN) {
		uint64_t hit = 0;
		unsigned int j;

		for (j = 0; j < IX_FAN; j++) {
			uint64_t f;

			nx = ~word_load(&words[w + j]);
			f = nx & nx >> s0;
			f &= f >> s1;
			hit |= f | (nprev >> 63 & nx);
			nprev = nx;
		}
		if (hit)
			break;
		rs->carry = (uint64_t)__builtin_clzll(~nx | 1);
	}
	return w;
}

static uint64_t run_skip_blocks(struct run_scan *rs, const struct nb_bitmap *bm, uint64_t w,
				uint64_t end)
{
	/* constant shifts for the common case: a shift by %cl is slow on some cores */
	if (rs->n >= 4)
		return run_skip_blocks_by(rs, bm, w, end, 1, 2);
	return run_skip_blocks_by(rs, bm, w, end, rs->n >= 2, rs->n == 3);
}

/*
 * The definitive pass: the first position p, p % ALIGN == 0,
 * FROM <= p <= TO_FIRST, with bits p .. p+N-1 clear, reading every word.
 */
static uint64_t find_run_words(const struct nb_bitmap *bm, uint64_t n, uint64_t align,
			       uint64_t from, uint64_t to_first)
{
	struct run_scan rs;
	uint64_t w, p, x;

	run_scan_init(&rs, n, align, from, to_first);
	for (w = rs.wfirst; w <= rs.wlast; w++) {
		/* at a block's first word, past the range's first word: skip */
		if (!(w % IX_FAN) && w > rs.wfirst)
			w = run_skip_blocks(&rs, bm, w, rs.wlast - 1);
		p = run_scan_word(&rs, bm, w, &x);
		if (p != NB_NONE)
			return p;
	}
	return NB_NONE;
}

/* May node entry E of level K hold a run of N, with CARRY clear bits just before it? */
static int ix_may_hold(uint64_t e, int k, uint64_t carry, uint64_t n)
{
	uint64_t span = ix_span(k);

	if (!(e & IX_VALID) || ix_pre(e) == IX_SAT || ix_suf(e) == IX_SAT || ix_lng(e) == IX_SAT)
		return 1;
	if (ix_pre(e) >= span)	/* all clear */
		return carry + span >= n;
	return ix_lng(e) >= n || carry + ix_pre(e) >= n;
}

/*
 * find_run_words() steered by the run index: at each word it looks at the
 * largest node that begins there and skips it whole when its entry says no
 * run of N can end inside it, carrying its clear suffix on (an upper
 * bound: a run found across it is checked by the claim). A node that may
 * hold one is looked at through its children, down to the words of a
 * level 1 node, which is then written from what it has (ix_fix()). Not
 * definitive: NB_NONE sends the caller to find_run_words().
 */
static uint64_t find_run_ix(struct nb_bitmap *bm, uint64_t n, uint64_t align, uint64_t from,
			    uint64_t to_first)
{
	struct run_scan rs;
	uint64_t w, x, p;

	run_scan_init(&rs, n, align, from, to_first);
	w = rs.wfirst;
	while (w <= rs.wlast) {
		uint64_t end, w0 = w;
		int k = 0;

		/* nodes that begin at or after FROM: their clear bits are in range */
		if (w * 64 >= from)
			while (k < bm->ixlevels && !(w & ((UINT64_C(1) << (IX_SHIFT * (k + 1))) - 1)))
				k++;
		for (; k >= 1; k--) {
			uint64_t e = word_load(&bm->ix[k][w >> (IX_SHIFT * k)]);

			if (ix_may_hold(e, k, rs.carry, n))
				continue;
			rs.carry = ix_pre(e) >= ix_span(k) ? rs.carry + ix_span(k) : ix_suf(e);
			w += UINT64_C(1) << (IX_SHIFT * k);
			/* never more than there is since FROM, whatever the entry says */
			if (rs.carry > w * 64 - from)
				rs.carry = w * 64 - from;
			break;
		}
		if (k < 1) {
			end = w | (IX_FAN - 1);
			if (end > rs.wlast)
				end = rs.wlast;
			for (; w <= end; w++) {
				p = run_scan_word(&rs, bm, w, &x);
				if (p != NB_NONE)
					return p;
			}
			/* looked at to its end: set it right */
			if (end == (w0 | (IX_FAN - 1)) || end == bm->nwords - 1)
				ix_fix(bm, 1, w0 >> IX_SHIFT, 1, bm->ixlevels);
			k = 1;
		}
		/*
		 * W ends the nodes above that the search went into, not
		 * skipped: they promised too much (a claim does not lower
		 * them), so set them right now.
		 */
		for (k++; k <= bm->ixlevels; k++) {
			uint64_t span = UINT64_C(1) << (IX_SHIFT * k);

			if (w & (span - 1))
				break;
			if (w - span >= rs.wfirst)
				ix_fix(bm, k, (w >> (IX_SHIFT * k)) - 1, 1, bm->ixlevels);
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
	if (n <= 64 && align >= n) {	/* inside one word: the summary steers */
		p = claim_run_word(bm, n, align, from, to_first);
		if (p != NB_NONE) {
			*first = p;
			return 0;
		}
	}
	for (p = find_run_ix(bm, n, align, from, to_first); p != NB_NONE;
	     p = p < to_first ? find_run_ix(bm, n, align, p + 1, to_first) : NB_NONE) {
		uint64_t i;

		if (nb_bitmap_claim_range(bm, p, n) == 0) {
			/*
			 * Lower the level 1 nodes it shortened, for the next
			 * search; the nodes above are left high (still upper
			 * bounds) until a search finds nothing under one.
			 */
			for (i = p / 64 >> IX_SHIFT; i <= (p + n - 1) / 64 >> IX_SHIFT; i++)
				ix_fix(bm, 1, i, 1, 1);
			*first = p;
			return 0;
		}
		/*
		 * Taken meanwhile, or an entry promised too much (the node
		 * whose clear suffix was carried into it lies over some word
		 * of it): set the nodes over its words right, so the next
		 * search is not misled there again, and look on past it.
		 */
		for (i = p / 64; i <= (p + n - 1) / 64; i = (i | (IX_FAN - 1)) + 1)
			ix_heal(bm, i);
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

/*
 * A spaced bitmap's runs: first fit on a packed copy of its bits (at most
 * NB_SPACED_MAX, 512 bytes), by the definitive pass, then a claim of the
 * run found; when that loses a race, a new copy. Each retry follows a
 * change by another claimer, so the whole is lock-free; -ENOSPC comes
 * from a copy that had no such run.
 */
static int spaced_claim_run(struct nb_bitmap *bm, uint64_t n, uint64_t align, uint64_t lo,
			    uint64_t hi, uint64_t start, uint64_t *first)
{
	uint64_t snap[NB_SPACED_MAX / 64], w, p;
	struct nb_bitmap view;

	memset(&view, 0, sizeof(view));
	view.words = snap;
	view.nbits = bm->nbits;
	view.nwords = (bm->nbits + 63) / 64;
	view.lastword = view.nwords - 1;
	view.lastmask = bm->nbits % 64 ? mask_to(bm->nbits % 64 - 1) : FULL;
	view.wordmask = FULL;
	for (;;) {
		memset(snap, 0, sizeof(snap));
		for (w = 0; w < bm->nwords; w += 8) {
			uint64_t x = word_load(&bm->words[w]) | ~valid_mask(bm, w);

			snap[w / 64] |= (x & mask_to(SP_BITS - 1)) << (w / 8 % 8 * SP_BITS);
		}
		snap[view.lastword] |= ~view.lastmask;
		p = NB_NONE;
		if (n - 1 <= hi - start)
			p = find_run_words(&view, n, align, start, hi - (n - 1));
		if (p == NB_NONE && start > lo) {
			/* runs that begin before START may end after it */
			uint64_t to = start - 1 < hi - (n - 1) ? start - 1 : hi - (n - 1);

			if (lo <= to)
				p = find_run_words(&view, n, align, lo, to);
		}
		if (p == NB_NONE)
			return -ENOSPC;
		if (nb_bitmap_claim_range(bm, p, n) == 0) {
			*first = p;
			return 0;
		}
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
	if (bm->spaced)
		return spaced_claim_run(bm, n, align, lo, hi, start, first);
	if (n - 1 <= hi - start)
		r = claim_run_from(bm, n, align, start, hi - (n - 1), first);
	if (r == -ENOSPC && start > lo) {
		/* runs that begin before START may end after it */
		uint64_t to = start - 1 < hi - (n - 1) ? start - 1 : hi - (n - 1);

		r = claim_run_from(bm, n, align, lo, to, first);
	}
	return r;
}


/*
 * Growth. A growable area is laid out for a maximum MAXBITS fixed at
 * creation, with the words last, so that the object holding it can be
 * extended without moving anything:
 *
 *	0			the cursor line
 *	8			levels 1.. as for MAXBITS, then the run index
 *				as for MAXBITS (zero beyond the current words:
 *				sparse pages until touched)
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
 * the next search that needs them heals it. The run index counts what a
 * view does not have as clear, so no view's entry hides the new words.
 */
static uint64_t meta_words(uint64_t maxbits)
{
	uint64_t count[NB_MAX_LEVELS + 1];
	uint64_t total = CURSOR_WORDS;
	int n, l;

	uint64_t ixc[NB_MAX_IX], ixtotal;

	n = nlevels_for((maxbits + 63) / 64, count);
	for (l = 1; l <= n; l++)
		total += count[l];
	ixlevels_for((maxbits + 63) / 64, ixc, &ixtotal);
	total += ixtotal;
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
	bm->lastword = bm->nwords - 1;
	bm->wordmask = FULL;
	bm->fastbits = nbits;
	bm->fastwords = bm->lastword;
	bm->nlevels = nlevels_for((maxbits + 63) / 64, count);
	bm->cursor = p;
	p += CURSOR_WORDS;
	for (l = 1; l <= bm->nlevels; l++) {
		bm->level[l] = p;
		bm->count[l] = count[l];
		p += count[l];
	}
	ix_attach(bm, p, (maxbits + 63) / 64);
	bm->ixgrow = nbits < maxbits;
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
			return sp_out(bm, w * 64 + 63 - (uint64_t)__builtin_clzll(x));
	}
	return NB_NONE;
}

/*
 * ---- Buffer chunks (issue 16) ----
 *
 * The buffer face keeps, per process, an index of the free runs of the
 * chunk it owns (buffer.c); it builds that index from the words with the
 * function below. A plain read of the words as they are now: another
 * process may claim or release meanwhile, so what it reports is advice
 * that a claim (a CAS) confirms or refutes.
 */
uint64_t nb_bitmap_clear_runs(const struct nb_bitmap *bm, uint64_t lo, uint64_t hi,
			      void (*fn)(void *arg, uint64_t first, uint64_t n), void *arg)
{
	uint64_t pos = lo, runs = 0, w, x, s, e;

	if (bm->spaced)
		return 0;
	if (hi > bm->nbits)
		hi = bm->nbits;
	while (pos < hi) {
		w = pos / 64;
		x = ~(word_load(&bm->words[w]) | ~valid_mask(bm, w)) & mask_from(pos % 64);
		if (!x) {
			pos = (w + 1) * 64;
			continue;
		}
		s = w * 64 + (uint64_t)__builtin_ctzll(x);
		if (s >= hi)
			break;
		for (e = s; e < hi;) {
			w = e / 64;
			x = (word_load(&bm->words[w]) | ~valid_mask(bm, w)) & mask_from(e % 64);
			if (x) {
				e = w * 64 + (uint64_t)__builtin_ctzll(x);
				break;
			}
			e = (w + 1) * 64;
		}
		if (e > hi)
			e = hi;
		fn(arg, s, e - s);
		runs++;
		pos = e;
	}
	return runs;
}

/*
 * The buffer's own claims and releases (issue 16, session 2). The same
 * words and the same CAS as nb_bitmap_claim_range() and
 * nb_bitmap_release_range(), with what they write elsewhere made cheap
 * for a caller that places by an index of its own and seldom searches:
 *
 *  - the summary is cleared lazily: a word a claim makes full keeps its
 *    summary bit (as the inline single-bit claim leaves it, bitmap.h), so
 *    a later release of it finds the bit set and writes nothing;
 *  - the run index is told of a release by making its node unknown
 *    (ix_invalidate_up(): a CAS on a VALID node, none on an unknown one)
 *    rather than recomputed from eight words (ix_fix()). A release into a
 *    node already unknown costs one load. A run search meets the unknown
 *    node and computes it from the words, and validates it by the
 *    CAS-then-load protocol of "The run index": an invalidating release
 *    CASes its word before it loads the node, as a fixing one does, so of
 *    it and a validator one sees the other.
 *
 * Packed bitmaps only: a spaced one goes to the ordinary functions.
 */
static void ix_forget(struct nb_bitmap *bm, uint64_t w0, uint64_t w1)
{
	uint64_t i;

	for (i = w0 >> IX_SHIFT; i <= w1 >> IX_SHIFT; i++)
		if (word_load(&bm->ix[1][i]) & IX_VALID)	/* unknown: a load, no more */
			ix_invalidate_up(bm, 1, i);
}

/*
 * The packed case of the two (issue 16, session 3): claim_range_how() and
 * release_range_how() with LAZY 1, the same words, CASes and summary rule,
 * with the masks computed once (in a packed bitmap every bit of the range
 * is valid; only the last word has bits that are not) and release_mask()
 * inlined with summary_set()'s first look (one load of the summary word,
 * no call, when its bit is set, as lazy clearing leaves it).
 */
static inline uint64_t pk_mask(uint64_t w, uint64_t w0, uint64_t w1, uint64_t m0, uint64_t m1)
{
	return (w == w0 ? m0 : FULL) & (w == w1 ? m1 : FULL);
}

/*
 * The words [*W0, *W1] of the bits [FIRST, FIRST + N) of a packed bitmap
 * and the masks of its first and last word (*M0, *M1): -EINVAL for an
 * empty or out-of-range request, else 0.
 */
static inline int pk_bounds(const struct nb_bitmap *bm, uint64_t first, uint64_t n, uint64_t *w0,
			    uint64_t *w1, uint64_t *m0, uint64_t *m1)
{
	if (n == 0 || first >= bm->nbits || n > bm->nbits - first)
		return -EINVAL;
	*w0 = first / 64;
	*w1 = (first + n - 1) / 64;
	*m0 = mask_from(first % 64);
	*m1 = mask_to((first + n - 1) % 64);
	return 0;
}

static inline void pk_summary(struct nb_bitmap *bm, uint64_t w)
{
	if (bm->nlevels > 0 && !(word_load(&bm->level[1][w / 64]) & bit_of(w)))
		summary_set(bm, 0, w);
}

/* release_mask() of a packed bitmap, from OLD as loaded. */
static inline int pk_release(struct nb_bitmap *bm, uint64_t w, uint64_t m, uint64_t old,
			     int strict)
{
	uint64_t *p = &bm->words[w], prev;

	/*
	 * The summary is set whether or not the word was full (it is true
	 * after a release either way): a load of a hot line whose bit is
	 * almost always set already, where testing "was it full" was a
	 * branch mispredicted about half the time.
	 */
	for (;;) {
		if (strict && (old & m) != m)
			return -ENOENT;
		pk_summary(bm, w);	/* before: a crash after the CAS leaves it set */
		prev = cas(p, old, old & ~m);
		if (prev == old)
			break;
		old = prev;
	}
	pk_summary(bm, w);	/* after: a concurrent clearer cannot hide it */
	return 0;
}

int nb_bitmap_claim_range_lazy(struct nb_bitmap *bm, uint64_t first, uint64_t n)
{
	uint64_t w0, w1, m0, m1, w, now;

	if (bm->spaced)
		return nb_bitmap_claim_range(bm, first, n);
	if (pk_bounds(bm, first, n, &w0, &w1, &m0, &m1) < 0)
		return -EINVAL;
	for (w = w0; w <= w1; w++)
		if (claim_mask_lazy(bm, w, pk_mask(w, w0, w1, m0, m1), &now) < 0)
			break;
	if (w > w1)
		return 0;
	/* Roll back what this call claimed: those bits are ours alone. */
	if (w > w0) {
		uint64_t wl = w - 1;

		while (w-- > w0)
			pk_release(bm, w, pk_mask(w, w0, w1, m0, m1), word_load(&bm->words[w]), 0);
		ix_forget(bm, w0, wl);
	}
	return -EEXIST;
}

int nb_bitmap_release_range_quick(struct nb_bitmap *bm, uint64_t first, uint64_t n)
{
	uint64_t w0, w1, m0, m1, w, m;
	int r;

	if (bm->spaced)
		return nb_bitmap_release_range(bm, first, n);
	if (pk_bounds(bm, first, n, &w0, &w1, &m0, &m1) < 0)
		return -EINVAL;
	if (w0 == w1) {
		r = pk_release(bm, w0, m0 & m1, word_load(&bm->words[w0]), 1);
		if (r == 0)
			ix_forget(bm, w0, w0);
		return r;
	}
	for (w = w0; w <= w1; w++) {
		m = pk_mask(w, w0, w1, m0, m1);
		if ((word_load(&bm->words[w]) & m) != m)
			return -ENOENT;
	}
	/* All set a moment ago; only a concurrent double free can interfere. */
	for (w = w0; w <= w1; w++)
		pk_release(bm, w, pk_mask(w, w0, w1, m0, m1), word_load(&bm->words[w]), 0);
	ix_forget(bm, w0, w1);
	return 0;
}
