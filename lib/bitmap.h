/* SPDX-License-Identifier: MIT */
/*
 * bitmap.h - the engine: lock-free claim and release of bits and runs of
 * bits in an array of 64-bit words, wherever that array lives.
 * See the comment at the top of bitmap.c for the layout and the protocol.
 */
#ifndef NB_BITMAP_H
#define NB_BITMAP_H

#include <stdint.h>
#include <stddef.h>
#include <urcu/uatomic.h>

#define NB_MAX_LEVELS 8
#define NB_MAX_IX 22	/* run index levels: 8^21 words cover any 64-bit count of bits */
#define NB_NONE UINT64_MAX

/*
 * A test build only (tests/cli-counted): every word the engine reads, and
 * every owner record, adds one. Lets a test prove that a call did not scan
 * the pool; never compiled into the library.
 */
#ifdef NB_COUNT_READS
extern uint64_t nb_words_read;
#define NB_COUNTED_READ() ((void)nb_words_read++)
#else
#define NB_COUNTED_READ() ((void)0)
#endif

/*
 * A process-local view of one engine area. Every pointer points into the
 * area given to nb_bitmap_attach(); every count is derived from nbits, never
 * read from the area, so a hostile area cannot steer an access outside it.
 */
struct nb_bitmap {
	uint64_t *words;		/* nwords words; bit set = allocated */
	uint64_t *level[NB_MAX_LEVELS];	/* level[l]: summary of level l-1 (level 0 = words) */
	uint64_t count[NB_MAX_LEVELS];	/* count[l]: number of words at level l */
	uint64_t *cursor;		/* shared cyclic position: where the next search starts */
	uint64_t nbits;			/* number of valid bits; bits beyond are never handed out */
	uint64_t nwords;		/* == count[0] == ceil(nbits / 64) */
	uint64_t lastmask;		/* the valid bits of word lastword */
	uint64_t lastword;		/* the last word with valid bits */
	uint64_t wordmask;		/* the valid bits of the others: all, or 8 when spaced */
	uint64_t padmask;		/* words W with W & padmask have none (spaced: 7) */
	uint64_t fastbits;		/* the inline paths take bits below this: nbits, 0 spaced */
	uint64_t fastwords;		/* and the single-word ones words below this: all but
					 * the last (its padding bits), 0 spaced */
	int spaced;			/* 8 bits per cache line (see bitmap.c) */
	int nlevels;			/* levels above the words; level[nlevels] has one word */
	uint64_t *ix[NB_MAX_IX];	/* ix[k], k >= 1: run index level k (see bitmap.c) */
	uint64_t ixcount[NB_MAX_IX];	/* ixcount[k]: nodes at index level k */
	int ixlevels;			/* index levels; ix[ixlevels] has one node */
	int ixgrow;			/* nonzero: other views may have more bits (growth) */
};

/* Bytes the engine needs for NBITS bits (a multiple of 64). */
size_t nb_bitmap_bytes(uint64_t nbits);
/* Bind BM to AREA of NBITS bits; touches nothing in AREA. */
void nb_bitmap_attach(struct nb_bitmap *bm, void *area, uint64_t nbits);
/* Make AREA an empty bitmap: only its creator, before anyone can see it. */
void nb_bitmap_init(struct nb_bitmap *bm);
/*
 * A spaced bitmap: the same API, but 8 bits per 64-byte line, so that the
 * bits of a small pool lie on several lines (see bitmap.c). At most
 * NB_SPACED_MAX bits; nb_bitmap_init() makes it empty.
 */
#define NB_SPACED_MAX 4096
#define NB_SP_BITS 8	/* a spaced bitmap's bits per line: bit e is bit e % 8 of word e / 8 * 8 */
size_t nb_bitmap_bytes_spaced(uint64_t nbits);
void nb_bitmap_attach_spaced(struct nb_bitmap *bm, void *area, uint64_t nbits);

/* Claim one free bit in [lo, hi], searching from START up to HI, then from LO. */
static inline int nb_bitmap_claim_any(struct nb_bitmap *bm, uint64_t lo, uint64_t hi,
				      uint64_t start, uint64_t *bit);
int nb_bitmap_claim_any_slow(struct nb_bitmap *bm, uint64_t lo, uint64_t hi, uint64_t start,
			     uint64_t *bit);
/* Its start word alone, with no call: 1 and *BIT if claimed there, else 0. */
static inline int nb_bitmap_claim_start(struct nb_bitmap *bm, uint64_t lo, uint64_t hi,
					uint64_t start, uint64_t *bit);
/* The same for a spaced bitmap, out of line (0 for a packed one). */
int nb_bitmap_claim_start_spaced(struct nb_bitmap *bm, uint64_t lo, uint64_t hi, uint64_t start,
				 uint64_t *bit);
/* Claim the first clear bit of [FROM, TO] by a plain scan, no summary write (-ENOSPC: none seen). */
int nb_bitmap_claim_next(struct nb_bitmap *bm, uint64_t from, uint64_t to, uint64_t *bit);
/* Claim BIT: -EEXIST if it is set. */
int nb_bitmap_claim_bit(struct nb_bitmap *bm, uint64_t bit);
/* Claim N bits [first, first+N) with first % ALIGN == 0, inside [lo, hi], first fit from START. */
int nb_bitmap_claim_run(struct nb_bitmap *bm, uint64_t n, uint64_t align, uint64_t lo,
			uint64_t hi, uint64_t start, uint64_t *first);
/* Claim exactly [first, first+N): -EEXIST and nothing claimed if any bit is set. */
int nb_bitmap_claim_range(struct nb_bitmap *bm, uint64_t first, uint64_t n);
/* Release BIT: -ENOENT if it is clear. */
static inline int nb_bitmap_release_bit(struct nb_bitmap *bm, uint64_t bit);
/* issue 20, session 6: the same for a BIT the caller has checked is below fastwords * 64. */
static inline int nb_bitmap_release_bit_in(struct nb_bitmap *bm, uint64_t bit);
int nb_bitmap_release_bit_slow(struct nb_bitmap *bm, uint64_t bit);
/* Release [first, first+N): -ENOENT and nothing released if any bit is clear. */
int nb_bitmap_release_range(struct nb_bitmap *bm, uint64_t first, uint64_t n);
/* 1 if BIT is set, 0 if clear. */
int nb_bitmap_test(const struct nb_bitmap *bm, uint64_t bit);
/* The first set bit >= FROM, or NB_NONE. */
uint64_t nb_bitmap_next_set(const struct nb_bitmap *bm, uint64_t from);
/* The first clear bit >= FROM, or NB_NONE. */
uint64_t nb_bitmap_next_clear(const struct nb_bitmap *bm, uint64_t from);
/* Number of set bits, counted now. */
uint64_t nb_bitmap_count(const struct nb_bitmap *bm);
/* Length of the longest run of clear bits, counted now. */
uint64_t nb_bitmap_largest_free(const struct nb_bitmap *bm);

/* The shared cyclic cursor: the bit after the last one handed out (0 if the segment holds nonsense). */
static inline uint64_t nb_bitmap_cursor(const struct nb_bitmap *bm)
{
	uint64_t c = uatomic_read(bm->cursor);

	return c < bm->nbits ? c : 0;	/* never trust the segment */
}

/* Set the cyclic position: a plain store, and none when it already holds BIT. */
static inline void nb_bitmap_set_cursor(struct nb_bitmap *bm, uint64_t bit)
{
	if (uatomic_read(bm->cursor) != bit)
		uatomic_set(bm->cursor, bit);
}

/*
 * Growth (see the end of bitmap.c): a layout for up to MAXBITS bits with the
 * words last, so the area can be extended in place while others use it.
 */
/* Bytes of a growable area holding NBITS of at most MAXBITS bits. */
size_t nb_bitmap_grow_bytes(uint64_t nbits, uint64_t maxbits);
/* Bind BM to the growable AREA, seeing its first NBITS bits; touches nothing. */
void nb_bitmap_attach_grow(struct nb_bitmap *bm, void *area, uint64_t nbits, uint64_t maxbits);
/* Make a growable AREA empty: its creator only; AREA must be zero beyond the words. */
void nb_bitmap_init_grow(struct nb_bitmap *bm);
/* BM now sees more bits than OLDBITS (zero words): mark them in the summary. */
void nb_bitmap_grow(struct nb_bitmap *bm, uint64_t oldbits);
/* The last set bit, or NB_NONE. */
uint64_t nb_bitmap_last_set(const struct nb_bitmap *bm);

/*
 * Buffer chunks (issue 16): FN(ARG, first, n) for every maximal run of
 * clear bits inside [LO, HI), in address order, as the words read now
 * (advice: others may change them). Packed bitmaps only (0 runs for a
 * spaced one). Returns the number of runs.
 */
uint64_t nb_bitmap_clear_runs(const struct nb_bitmap *bm, uint64_t lo, uint64_t hi,
			      void (*fn)(void *arg, uint64_t first, uint64_t n), void *arg);

/*
 * The buffer's own claim and release (issue 16, session 2; bitmap.c):
 * the same words and CAS as nb_bitmap_claim_range() and
 * nb_bitmap_release_range() and the same results, but a claim leaves the
 * summary bit of a word it fills set (lazy clearing), and a release makes
 * a VALID run index node over its words unknown instead of recomputing it.
 */
int nb_bitmap_claim_range_lazy(struct nb_bitmap *bm, uint64_t first, uint64_t n);
int nb_bitmap_release_range_quick(struct nb_bitmap *bm, uint64_t first, uint64_t n);

/*
 * Where the run of clear bits that ends at BIT - 1 starts, as the words
 * read now (advice), looking at most MAXW words back and never below LO:
 * BIT when BIT - 1 is set (or BIT == LO), NB_NONE when the run reaches
 * further back than that. Packed bitmaps only (NB_NONE for a spaced one).
 */
static inline uint64_t nb_bitmap_clear_back(const struct nb_bitmap *bm, uint64_t bit, uint64_t lo,
					    unsigned int maxw)
{
	uint64_t w, x, s;

	if (bm->spaced || bit > bm->nbits)
		return NB_NONE;
	if (bit <= lo)
		return bit;
	w = (bit - 1) / 64;
	/* the set bits at or below BIT - 1 of its word */
	x = uatomic_read(&bm->words[w]) & (UINT64_MAX >> (63 - (bit - 1) % 64));
	for (;;) {
		if (x) {
			s = w * 64 + 64 - (uint64_t)__builtin_clzll(x);
			return s > lo ? s : lo;
		}
		if (w * 64 <= lo)
			return lo;
		if (!maxw--)
			return NB_NONE;
		x = uatomic_read(&bm->words[--w]);
	}
}

/*
 * The common cases of claim_any and release_bit, inline in their callers:
 * on the single-ID path a call and its checks cost as much as the two CAS
 * (measured: 8 ns a pair inline, 17-25 ns through the calls). Each does
 * exactly what the out-of-line function does in that case, and leaves
 * every other case to it.
 */
#define NB_IX_VALID (UINT64_C(1) << 48)	/* a run index entry is known (bitmap.c) */
#define NB_IX_SHIFT 3			/* words per level 1 index entry: 1 << NB_IX_SHIFT */
#define NB_IX_USED 1			/* cursor line word: nonzero once an index entry was made VALID */

/*
 * The start word of claim_any alone: a clear bit at or after START in its
 * word, at most HI (which keeps it inside the pool: the pool's last word
 * is HI's word). 1 and *BIT when claimed; 0 when the word has none or the
 * CAS lost: the caller goes on with nb_bitmap_claim_any_slow(). A claim
 * that stays on its start word writes no summary (lazy clearing,
 * bitmap.c). It makes no call, so a caller's fast path saves no registers.
 * It leaves a spaced bitmap (fastbits 0) to nb_bitmap_claim_start_spaced():
 * a branch of its own here made the packed path slower (up to 1.17x).
 */
static inline int nb_bitmap_claim_start(struct nb_bitmap *bm, uint64_t lo, uint64_t hi,
					uint64_t start, uint64_t *bit)
{
	if (lo <= start && start <= hi && hi < bm->fastbits) {
		uint64_t w = start / 64, *p = &bm->words[w], old, m;

		NB_COUNTED_READ();
		old = uatomic_read(p);
		m = ~old & (UINT64_MAX << (start % 64));

		if (w == hi / 64)
			m &= UINT64_MAX >> (63 - hi % 64);
		m &= -m;
		if (m && uatomic_cmpxchg(p, old, old | m) == old) {
			*bit = w * 64 + (uint64_t)__builtin_ctzll(m);
			return 1;
		}
	}
	return 0;
}

static inline int nb_bitmap_claim_any(struct nb_bitmap *bm, uint64_t lo, uint64_t hi,
				      uint64_t start, uint64_t *bit)
{
	if (nb_bitmap_claim_start(bm, lo, hi, start, bit))
		return 0;
	return nb_bitmap_claim_any_slow(bm, lo, hi, start, bit);
}

/*
 * The start word of a whole-pool claim_any alone, for a START the caller
 * has already checked against the pool: the first clear bit at or after
 * START in its word, when that word is below fastwords (a packed bitmap,
 * not its last word, so no padding to mask). 1 and *BIT when claimed; 0
 * when the word is the last, has none or the CAS lost: the caller goes on
 * with nb_bitmap_claim_any_slow(), which claims the same bit first. No
 * summary write (lazy clearing), no call.
 */
static inline int nb_bitmap_claim_word(struct nb_bitmap *bm, uint64_t start, uint64_t *bit)
{
	uint64_t w = start / 64, *p, old, clear, b;

	if (w >= bm->fastwords)
		return 0;
	p = &bm->words[w];
	NB_COUNTED_READ();
	old = uatomic_read(p);
	clear = ~old >> (start % 64);	/* the clear bits from START on, START's first */
	if (!clear)
		return 0;
	b = start + (unsigned int)__builtin_ctzll(clear);
	if (uatomic_cmpxchg(p, old, old | UINT64_C(1) << (b % 64)) != old)
		return 0;
	*bit = b;
	return 1;
}

/*
 * nb_bitmap_claim_next() inline, for FROM <= TO < nbits in a packed bitmap
 * (the caller has checked): 1 and *BIT when claimed, 0 when [FROM, TO]
 * had no clear bit as its words were read. The full words between the
 * first and the last cost a load and a compare each, as in a next fit.
 */
static inline int nb_bitmap_claim_stretch(struct nb_bitmap *bm, uint64_t from, uint64_t to,
					  uint64_t *bit)
{
	uint64_t w = from / 64, last = to / 64, m = UINT64_MAX << (from % 64), *words = bm->words;

	/* TO < nbits: the mask of the last word keeps out the bits beyond the pool */
	for (;;) {
		uint64_t *p = &words[w], old, free, b, prev;

		NB_COUNTED_READ();
		old = uatomic_read(p);
		if (w == last)
			m &= UINT64_MAX >> (63 - to % 64);
		for (free = ~old & m; free; free = ~old & m) {
			b = free & -free;
			prev = uatomic_cmpxchg(p, old, old | b);
			if (prev == old) {
				*bit = w * 64 + (uint64_t)__builtin_ctzll(b);
				return 1;
			}
			old = prev;
		}
		if (w == last)
			return 0;
		for (w++; w < last && (NB_COUNTED_READ(), uatomic_read(&words[w])) == UINT64_MAX;
		     w++)
			;
		m = UINT64_MAX;
	}
}

/*
 * issue 20, session 5, round 2 (CYCLIC's window, idpool.c alloc_other()):
 * the first clear bit of [POS, END) claimed, for POS < END <= nbits in a
 * packed bitmap (the caller has checked). 1 and *BIT when claimed, 0 when
 * the stretch had no clear bit as its words were read. The search of
 * nb_bitmap_claim_stretch(), written as a next fit is: the word's first
 * bit against END (no mask for the last word; no word at or after END is
 * read), POS's word with a branch of its own apart from the next words',
 * a full word a load and a compare. Its caller keeps fewer values live
 * (alloc_other() saved five registers on every call, now two) and runs
 * 8-14 instructions fewer a pair (callgrind, 50-99% fill). A lost CAS
 * retries in the same word from the bit it tried, with the value that
 * beat it. No summary write (lazy clearing, bitmap.c), no call.
 */
static inline __attribute__((always_inline)) int nb_bitmap_claim_window(struct nb_bitmap *bm,
								    uint64_t pos, uint64_t end,
								    uint64_t *bit);

/* After the inline release of BIT: a lost summary bit set again, the run index told (bitmap.c). */
int nb_bitmap_released_more(struct nb_bitmap *bm, uint64_t bit, int lost);

/* The summary bit of word W (level 1): 1 when it may have a clear bit. */
static inline int nb_bitmap_summary_bit(const struct nb_bitmap *bm, uint64_t w)
{
	return (uatomic_read(&bm->level[1][w / 64]) >> (w % 64)) & 1;
}

/*
 * After a release of BIT: 1 when the run index is in use and its entry
 * over BIT's word is valid, so nb_bitmap_released_more() must tell it; an
 * index no search has used costs one load.
 */
static inline __attribute__((always_inline)) int nb_release_ix(struct nb_bitmap *bm, uint64_t bit)
{
	return __builtin_expect(uatomic_read(&bm->cursor[NB_IX_USED]) != 0, 0) &&
	       (uatomic_read(&bm->ix[1][bit / 64 >> NB_IX_SHIFT]) & NB_IX_VALID);
}

/*
 * BIT set in a word that is not full, or in a full word whose summary bit
 * is set (lazy clearing leaves it so): no summary write, and no call. A
 * free lands in a full word about half the time at 99% fill; the call out
 * for that case cost 8-10 ns a pair there (issue 20). The run index is
 * looked at only once a run search has used it (NB_IX_USED). The rare
 * cases after the CAS are one tail call, and the last word (its padding)
 * is left to the slow path, so the common case saves no register.
 */
static inline __attribute__((always_inline)) int nb_bitmap_release_bit_in(struct nb_bitmap *bm,
								      uint64_t bit)
{
	uint64_t w = bit / 64, *p, old;

	p = &bm->words[w];
	NB_COUNTED_READ();
	old = uatomic_read(p);
	if (!((old >> (bit % 64)) & 1))
		goto slow;
	if (old != UINT64_MAX) {
		if (uatomic_cmpxchg(p, old, old & ~(UINT64_C(1) << (bit % 64))) != old)
			goto slow;
	} else {
		if (!nb_bitmap_summary_bit(bm, w) ||
		    uatomic_cmpxchg(p, old, old & ~(UINT64_C(1) << (bit % 64))) != old)
			goto slow;
		/* a clearer took the summary bit meanwhile: it cannot hide the word */
		if (__builtin_expect(!nb_bitmap_summary_bit(bm, w), 0))
			return nb_bitmap_released_more(bm, bit, 1);
	}
	/* an index no search has used, or an unknown entry: a load, no more */
	if (nb_release_ix(bm, bit))
		return nb_bitmap_released_more(bm, bit, 0);
	return 0;
slow:
	return nb_bitmap_release_bit_slow(bm, bit);
}

/* nb_bitmap_release_bit_in() after its check: BIT in a word of the fast part. */
static inline __attribute__((always_inline)) int nb_bitmap_release_bit(struct nb_bitmap *bm,
								   uint64_t bit)
{
	if (bit / 64 >= bm->fastwords)
		return nb_bitmap_release_bit_slow(bm, bit);
	return nb_bitmap_release_bit_in(bm, bit);
}

/*
 * issue 20, session 5 (SPREAD's free): nb_bitmap_release_bit() without
 * its look at the summary. A release into a full word leaves the word's
 * summary bit as it was, which may be clear: the word then has a clear
 * bit that summary searches do not see (the definitive pass does). The
 * caller keeps the word, and shows it with nb_bitmap_show_word() before
 * it forgets it unless the word is full again (idpool.c: one word per
 * thread and handle). Returns what nb_bitmap_release_bit() returns; a
 * release into a full word stores the word in *KEPT (to be kept), any
 * other leaves *KEPT alone (a word that had a clear bit keeps its summary
 * bit as true as before; the slow path keeps the summary itself). No call
 * in the common case, and the rare ones are tail calls; the run index as
 * in nb_bitmap_release_bit(), and where it is in use the word is shown at
 * once.
 */
void nb_bitmap_show_word(struct nb_bitmap *bm, uint64_t w);

/*
 * The common case of nb_bitmap_release_plain() and
 * nb_bitmap_release_lowest(): BIT in a word of the fast part, set, and
 * cleared by one CAS; 1 and *OLD (the word before), else 0 (the caller
 * goes to nb_bitmap_release_bit_slow(), which tells why).
 */
static inline __attribute__((always_inline)) int nb_release_cas_in(struct nb_bitmap *bm,
								   uint64_t bit, uint64_t *old)
{
	uint64_t *p = &bm->words[bit / 64];

	NB_COUNTED_READ();
	*old = uatomic_read(p);
	return ((*old >> (bit % 64)) & 1) &&
	       uatomic_cmpxchg(p, *old, *old & ~(UINT64_C(1) << (bit % 64))) == *old;
}

static inline __attribute__((always_inline)) int nb_release_cas(struct nb_bitmap *bm,
								uint64_t bit, uint64_t *old)
{
	return bit / 64 < bm->fastwords && nb_release_cas_in(bm, bit, old);
}

/*
 * nb_bitmap_release_plain() for a BIT the caller has checked is below
 * fastwords * 64 (issue 20, session 6: SPREAD's free checks the pool's
 * range and the fast part with one compare, idpool.c numballoc_free()).
 */
static inline __attribute__((always_inline)) int nb_bitmap_release_plain_in(struct nb_bitmap *bm,
									uint64_t bit,
									uint64_t *kept)
{
	uint64_t old;

	if (!nb_release_cas_in(bm, bit, &old))
		return nb_bitmap_release_bit_slow(bm, bit);
	if (nb_release_ix(bm, bit))
		return nb_bitmap_released_more(bm, bit, old == UINT64_MAX);
	if (old == UINT64_MAX)
		*kept = bit / 64;
	return 0;
}

static inline __attribute__((always_inline)) int nb_bitmap_release_plain(struct nb_bitmap *bm,
								     uint64_t bit, uint64_t *kept)
{
	if (bit / 64 >= bm->fastwords)
		return nb_bitmap_release_bit_slow(bm, bit);
	return nb_bitmap_release_plain_in(bm, bit, kept);
}

/*
 * LOWEST's advice word (issue 20, session 3; bitmap.c, "The lowest
 * advice"): word NB_LOW of the cursor line holds L, the lowest bit that
 * may be clear, in its low NB_LOW_SHIFT bits, and above them the end S of
 * a stretch after L that has no clear bit (nb_low_end()). Only
 * pools whose every user keeps it use it (an ID pool of version
 * NB_VERSION_LOW, segment.h): every release lowers it.
 */
#define NB_LOW 2
#define NB_LOW_SHIFT 41
#define NB_LOW_MASK ((UINT64_C(1) << NB_LOW_SHIFT) - 1)

/* S of the advice A: no bit strictly between L and S is clear (S <= L + 1: none known). */
static inline uint64_t nb_low_end(uint64_t a)
{
	return (a & NB_LOW_MASK) + ((a >> (NB_LOW_SHIFT + 5)) << ((a >> NB_LOW_SHIFT) & 31));
}

/* The advice L with a full stretch of D bits after it, D rounded down to 18 bits of mantissa. */
static inline uint64_t nb_low_pack(uint64_t l, uint64_t d)
{
	unsigned int e = d >> 18 ? 46 - (unsigned int)__builtin_clzll(d) : 0;

	return l | (uint64_t)e << NB_LOW_SHIFT | (d >> e) << (NB_LOW_SHIFT + 5);
}

/* 1 when bit L is set (0 when clear, or outside the pool). */
static inline int nb_low_set(const struct nb_bitmap *bm, uint64_t l)
{
	return l < bm->nbits && ((uatomic_read(&bm->words[l / 64]) >> (l % 64)) & 1);
}

/*
 * A test build only (tests/check_lowest_race.c): called inside the races
 * of the lowest advice (bitmap.c), to widen them.
 */
#ifdef NB_TEST_WINDOWS
extern void (*nb_test_window)(int where);
#define NB_TEST_WINDOW(k) do { if (nb_test_window) nb_test_window(k); } while (0)
#else
#define NB_TEST_WINDOW(k) ((void)0)
#endif

/* nb_bitmap_claim_window() (issue 20, session 5, round 2; declared above): after the test windows. */
static inline __attribute__((always_inline)) int nb_bitmap_claim_window(struct nb_bitmap *bm,
								    uint64_t pos, uint64_t end,
								    uint64_t *bit)
{
	uint64_t *p = &bm->words[pos / 64], wb = pos & ~UINT64_C(63), old, free, b, prev;

	NB_COUNTED_READ();
	old = uatomic_read(p);
	free = ~old & (UINT64_MAX << (pos % 64));
	if (!free)
		goto next;
	for (;;) {
		b = free & -free;
		if (wb + (uint64_t)__builtin_ctzll(b) >= end)	/* END's word: past the stretch */
			return 0;
		NB_TEST_WINDOW(6);
		prev = uatomic_cmpxchg(p, old, old | b);
		if (prev == old) {
			*bit = wb + (uint64_t)__builtin_ctzll(b);
			return 1;
		}
		old = prev;
		free = ~old & -b;	/* the bits from the one tried up */
		if (free)
			continue;
next:
		do {
			wb += 64;
			if (wb >= end)
				return 0;
			NB_COUNTED_READ();
			old = uatomic_read(++p);
		} while (old == UINT64_MAX);
		free = ~old;
	}
}

/*
 * A whole-pool lowest claim with no call in it (numballoc_alloc()): the
 * first clear bit at or after L in L's word, else, when S is past L's
 * word, the first at or after S in S's word: the bits between are L's
 * word's, read set, and the stretch's, promised set, so it is the lowest.
 * Only a word read with no clear bit at or after L sends the claim on to
 * S's: a CAS lost in L's word (another claim, or a release, wrote it since
 * the load) returns 0, and the caller's nb_bitmap_claim_lowest_slow() tries
 * L's word again (review 4: going on to S's word after a lost CAS took S's
 * bit while L's word still had one). A loop here would make
 * numballoc_alloc() save registers on every path. Writes nothing but the
 * claim's CAS: the advice stays, and the next claim looks at the same two
 * words. 1 and *BIT; 0 when neither word has one, or a CAS lost: the caller
 * goes on with nb_bitmap_claim_lowest_slow(), which moves the advice.
 * Words below fastwords only.
 */
static inline int nb_bitmap_claim_lowest_all(struct nb_bitmap *bm, uint64_t *bit)
{
	uint64_t a = uatomic_read(&bm->cursor[NB_LOW]), l = a & NB_LOW_MASK, s, *p, old, clear, b;

	if (l / 64 < bm->fastwords) {
		p = &bm->words[l / 64];
		NB_COUNTED_READ();
		old = uatomic_read(p);
		clear = ~old >> (l % 64);	/* the clear bits from L on, L's first */
		if (clear) {
			b = l + (unsigned int)__builtin_ctzll(clear);
			NB_TEST_WINDOW(5);
			if (uatomic_cmpxchg(p, old, old | UINT64_C(1) << (b % 64)) != old)
				return 0;
			*bit = b;
			return 1;
		}
	}
	s = nb_low_end(a);
	return s / 64 > l / 64 && nb_bitmap_claim_word(bm, s, bit);
}

/* The lowest search of [LO, HI] from the advice word: 0 and *BIT, or -ENOSPC after a definitive pass. */
int nb_bitmap_claim_lowest_slow(struct nb_bitmap *bm, uint64_t lo, uint64_t hi, uint64_t *bit);
/* Claim BIT, leaving a filled word's summary bit set (lazy): -EEXIST if set, -EINVAL if spaced. */
int nb_bitmap_claim_bit_lazy(struct nb_bitmap *bm, uint64_t bit);
/* The rare ends of the two below (bitmap.c). */
void nb_bitmap_lowest_lower(struct nb_bitmap *bm, uint64_t bit, int freed);

/*
 * The common case of a lowest claim, with no call in it: the advice's L
 * inside [LO, HI] and a clear bit at or after L in L's word, which is then
 * the lowest clear bit of the pool (none below L, the ones of the word
 * between L and it set). Claims it, leaving the word's summary bit set
 * (lazy clearing) and the advice as it is: L may be a set bit, and a
 * search reads its word from L. 1 and *BIT when claimed; 0: the caller
 * goes on with nb_bitmap_claim_lowest_slow(), which moves the advice when
 * it leaves L's word.
 */
static inline int nb_bitmap_claim_lowest(struct nb_bitmap *bm, uint64_t lo, uint64_t hi,
					 uint64_t *bit)
{
	uint64_t l = uatomic_read(&bm->cursor[NB_LOW]) & NB_LOW_MASK, w = l / 64, *p, old, m;

	if (l < lo || l > hi || hi >= bm->fastbits)
		return 0;
	p = &bm->words[w];
	NB_COUNTED_READ();
	old = uatomic_read(p);
	m = ~old & (UINT64_MAX << (l % 64));
	if (w == hi / 64)
		m &= UINT64_MAX >> (63 - hi % 64);
	m &= -m;
	if (!m || uatomic_cmpxchg(p, old, old | m) != old)
		return 0;
	*bit = w * 64 + (uint64_t)__builtin_ctzll(m);
	return 1;
}

/*
 * After a release of BIT (its CAS done): lower the advice when BIT is
 * below L, or inside the stretch it says is full. One load otherwise.
 * The common lowering inline: L set (a claim took it), so the advice
 * becomes (BIT, S) with one CAS, and L is read again after it, as
 * nb_bitmap_lowest_lower() does (bitmap.c, "The lowest advice"). L is
 * read before the CAS too: (BIT, S) over a clear L would hide L, a
 * completed free's ID, until the read after the CAS cuts the stretch at
 * it, and until a search's definitive pass if this process died between
 * the two. Returns NB_NONE when the advice is done; else the bit X that
 * the caller must still lower it to, with nb_bitmap_lowest_lower(BM, X,
 * 1): BIT when L was clear or the CAS lost, L when L was released
 * between the CAS and the read after it. No call, so that
 * nb_bitmap_release_lowest()'s common case makes none.
 */
static inline __attribute__((always_inline)) uint64_t nb_lowest_freed(struct nb_bitmap *bm,
								      uint64_t bit)
{
	uint64_t a = uatomic_read(&bm->cursor[NB_LOW]), l = a & NB_LOW_MASK, s, *lp;
	unsigned int lb;

	if (bit == l)
		return NB_NONE;
	s = nb_low_end(a);
	if (s <= l)
		s = l + 1;
	if (bit >= s)
		return NB_NONE;
	if (l >= bm->nbits)	/* nb_low_set(), its word kept for the read after the CAS */
		return bit;
	lp = &bm->words[l / 64];
	lb = l % 64;
	if (!((uatomic_read(lp) >> lb) & 1))
		return bit;
	NB_TEST_WINDOW(2);
	if (uatomic_cmpxchg(&bm->cursor[NB_LOW], a, nb_low_pack(bit, s - bit)) != a)
		return bit;
	NB_TEST_WINDOW(4);
	if (__builtin_expect((uatomic_read(lp) >> lb) & 1, 1))
		return NB_NONE;
	return (uint64_t)(lp - bm->words) * 64 + lb;	/* L was released meanwhile: cut the stretch at it */
}

/* nb_lowest_freed() and the rest of its lowering: the advice after a release of BIT. */
static inline void nb_bitmap_lowest_freed(struct nb_bitmap *bm, uint64_t bit)
{
	uint64_t x = nb_lowest_freed(bm, bit);

	if (x != NB_NONE)
		nb_bitmap_lowest_lower(bm, x, 1);
}

/* The out-of-line ends of nb_bitmap_release_lowest() (bitmap.c). */
int nb_bitmap_release_lowest_slow(struct nb_bitmap *bm, uint64_t bit);
int nb_bitmap_release_lowest_rest(struct nb_bitmap *bm, uint64_t bit, uint64_t x, int full);

/*
 * The release of BIT in a pool that keeps the advice (free_lowest()), in
 * the order that puts no summary read before its atomics: the CAS on the
 * word, then the advice (nb_lowest_freed()), and only then, for a word it
 * made not full, the word's summary bit, set again when a clearer took it
 * (lazy LOWEST claims leave it set, so it nearly always is). The inline
 * release reads that bit before its CAS, a line of its own that a free
 * into a full word misses at 2^24 IDs (issue 20, session 5). A process
 * killed between the CAS and that last look can leave its own ID out of
 * the summary, as one killed before its advice write can leave it above
 * the advice (bitmap.c, "The lowest advice"); the definitive pass finds
 * it. Every case but the common one (the advice done inline, the summary
 * bit set or the word not full, the run index not in use) is one tail
 * call, so the common case makes no call (issue 20, session 6: it saved
 * four registers and ran 76 instructions a free; gcc now saves two, after
 * the word's CAS, and it runs 9 fewer a pair): a lowering left to
 * nb_bitmap_lowest_lower(), the summary and the run index go to
 * nb_bitmap_release_lowest_rest(), in that order; anything that
 * nb_release_cas() leaves takes nb_bitmap_release_lowest_slow() (the slow
 * release, then the advice).
 */
static inline __attribute__((always_inline)) int nb_bitmap_release_lowest(struct nb_bitmap *bm,
									  uint64_t bit)
{
	uint64_t old, x;

	if (!nb_release_cas(bm, bit, &old))
		return nb_bitmap_release_lowest_slow(bm, bit);
	x = nb_lowest_freed(bm, bit);
	if (__builtin_expect(x != NB_NONE, 0) ||
	    (old == UINT64_MAX && __builtin_expect(!nb_bitmap_summary_bit(bm, bit / 64), 0)) ||
	    nb_release_ix(bm, bit))
		return nb_bitmap_release_lowest_rest(bm, bit, x, old == UINT64_MAX);
	return 0;
}

#endif /* NB_BITMAP_H */
