/* SPDX-License-Identifier: MIT */
/*
 * check_lowest_race.c - the races of LOWEST's advice word (bitmap.c, "The
 * lowest advice"), made wide. The engine is built into this test with
 * NB_TEST_WINDOWS, so that the claim that moves the advice and the release
 * that lowers it call nb_test_window() inside their races; here that
 * yields the CPU now and then, and the releases here yield between their
 * CAS on the word and their look at the advice. Real processes share one
 * engine area (an anonymous shared mapping) and allocate and release at
 * once; afterwards one process's lowest claims must be exactly the lowest
 * clear bits, to the last: a clear bit left hidden below the advice, or a
 * false -ENOSPC, fails.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bitmap.h"
#include "testutil.h"

extern void (*nb_test_window)(int where);

#define NPROC 4
#define NBITS 6000
#define PER (NBITS / NPROC - 16)

struct shared {
	int go;
	int bad;	/* a bit claimed twice, or a false -ENOSPC, or a failed release */
	uint32_t witness[NBITS];
	uint32_t held[NPROC][PER];
	uint32_t nheld[NPROC];
};

static uint64_t wseed;

static void window(int where)
{
	/* always: a CAS after the window then mostly fails, but the races need few */
	(void)where;
	if (1)
		sched_yield();
}

static int claim(struct nb_bitmap *bm, uint64_t *bit)
{
	if (nb_bitmap_claim_lowest(bm, 0, NBITS - 1, bit))
		return 0;
	return nb_bitmap_claim_lowest_slow(bm, 0, NBITS - 1, bit);
}

static void child(struct nb_bitmap *bm, struct shared *sh, int who, int ops)
{
	uint32_t *held = sh->held[who], n = 0;
	uint64_t s = 99 + (uint64_t)who, bit;
	int i;

	wseed = 7 + (uint64_t)who;
	nb_test_window = window;
	while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
		;
	for (i = 0; i < ops; i++) {
		if (n < PER && (n < PER / 2 || tu_rand(&s) % 2)) {
			if (claim(bm, &bit) < 0 || bit >= NBITS ||
			    __atomic_exchange_n(&sh->witness[bit], 1, __ATOMIC_ACQ_REL)) {
				__atomic_add_fetch(&sh->bad, 1, __ATOMIC_RELAXED);
				continue;
			}
			held[n++] = (uint32_t)bit;
		} else {
			/* the last claimed (near where others search) or the lower of two picks */
			uint32_t a = (uint32_t)(tu_rand(&s) % n), b = (uint32_t)(tu_rand(&s) % n);
			uint32_t k = tu_rand(&s) % 3 == 0 ? n - 1 : held[a] < held[b] ? a : b;

			bit = held[k];
			held[k] = held[--n];
			__atomic_store_n(&sh->witness[bit], 0, __ATOMIC_RELEASE);
			if (nb_bitmap_release_bit(bm, bit) < 0)
				__atomic_add_fetch(&sh->bad, 1, __ATOMIC_RELAXED);
			if (tu_rand(&s) % 4 == 0)
				sched_yield();	/* between the CAS and the look at the advice */
			nb_bitmap_lowest_freed(bm, bit);
		}
	}
	sh->nheld[who] = n;
	_exit(0);
}

START_TEST(test_races_hide_nothing)
{
	struct shared *sh = tu_shared(sizeof(*sh));
	void *area = tu_shared(nb_bitmap_bytes(NBITS));
	struct nb_bitmap bm;
	uint64_t bit, want;
	pid_t pids[NPROC];
	int i, round;

	nb_bitmap_attach(&bm, area, NBITS);
	nb_bitmap_init(&bm);
	for (round = 0; round < 4; round++) {
		memset(sh, 0, sizeof(*sh));
		for (i = 0; i < NPROC; i++) {
			pids[i] = fork();
			ck_assert_int_ge(pids[i], 0);
			if (pids[i] == 0)
				child(&bm, sh, i, 150000);
		}
		__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
		ck_assert_int_eq(tu_wait_all(pids, NPROC), 0);
		ck_assert_int_eq(sh->bad, 0);
		/* one process now: each claim is the lowest clear bit, to the end */
		for (;;) {
			want = nb_bitmap_next_clear(&bm, 0);
			if (want == NB_NONE)
				break;
			ck_assert_int_eq(claim(&bm, &bit), 0);
			ck_assert_uint_eq(bit, want);
		}
		ck_assert_int_eq(claim(&bm, &bit), -ENOSPC);
		/* empty again for the next round */
		for (bit = 0; bit < NBITS; bit++) {
			ck_assert_int_eq(nb_bitmap_release_bit(&bm, bit), 0);
			nb_bitmap_lowest_freed(&bm, bit);
		}
	}
}
END_TEST

/*
 * A specific claim in a pool that keeps the advice (numballoc_alloc_id()
 * on a LOWEST pool): a word it fills keeps its summary bit set, where
 * nb_bitmap_claim_bit() clears it; bad input changes nothing; and with
 * every summary bit stale, the lowest search past its plain scan still
 * finds the one clear bit, and then says -ENOSPC.
 */
START_TEST(test_claim_bit_lazy)
{
	void *area = tu_shared(nb_bitmap_bytes(NBITS));
	void *sarea = tu_shared(nb_bitmap_bytes_spaced(64));
	struct nb_bitmap bm, sp;
	uint64_t bit;

	nb_bitmap_attach(&bm, area, NBITS);
	nb_bitmap_init(&bm);
	for (bit = 5 * 64; bit < 6 * 64; bit++)
		ck_assert_int_eq(nb_bitmap_claim_bit_lazy(&bm, bit), 0);
	ck_assert_int_eq(nb_bitmap_summary_bit(&bm, 5), 1);
	for (bit = 6 * 64; bit < 7 * 64; bit++)
		ck_assert_int_eq(nb_bitmap_claim_bit(&bm, bit), 0);
	ck_assert_int_eq(nb_bitmap_summary_bit(&bm, 6), 0);
	/* bad input: an error, and nothing changed */
	ck_assert_int_eq(nb_bitmap_claim_bit_lazy(&bm, 5 * 64 + 3), -EEXIST);
	ck_assert_int_eq(nb_bitmap_claim_bit_lazy(&bm, NBITS), -EINVAL);
	ck_assert_int_eq(nb_bitmap_count(&bm), 128);
	nb_bitmap_attach_spaced(&sp, sarea, 64);
	nb_bitmap_init(&sp);
	ck_assert_int_eq(nb_bitmap_claim_bit_lazy(&sp, 3), -EINVAL);
	ck_assert_int_eq(nb_bitmap_test(&sp, 3), 0);
	/* a release into the filled word: its summary bit is still set */
	ck_assert_int_eq(nb_bitmap_release_bit(&bm, 5 * 64 + 7), 0);
	ck_assert_int_eq(nb_bitmap_summary_bit(&bm, 5), 1);
	ck_assert_int_eq(nb_bitmap_claim_bit_lazy(&bm, 5 * 64 + 7), 0);
	/* all but one bit, far past the plain scan from L = 0: found, then none */
	for (bit = 0; bit < NBITS; bit++)
		if (bit != NBITS - 70 && !nb_bitmap_test(&bm, bit))
			ck_assert_int_eq(nb_bitmap_claim_bit_lazy(&bm, bit), 0);
	ck_assert_int_eq(claim(&bm, &bit), 0);
	ck_assert_uint_eq(bit, NBITS - 70);
	ck_assert_int_eq(claim(&bm, &bit), -ENOSPC);
}
END_TEST

/* The crash window of the test below: this process dies after its CAS on the advice. */
static void die_after_advice(int where)
{
	if (where == 4)
		_exit(0);
}

/*
 * A release killed after its CAS on the advice (window 4) hides nothing
 * but, at most, its own ID: L0 released first, to the end, then X below
 * it in another word by a process that dies there. The next lowest
 * claims must be X, then L0, then what lies above; a release that wrote
 * (X, S) over a clear L0 would leave L0 inside the stretch, and the second
 * claim would go past it.
 */
START_TEST(test_killed_release_hides_no_other)
{
	void *area = tu_shared(nb_bitmap_bytes(NBITS));
	const uint64_t x = 10, l0 = 200, top = 1100;
	struct nb_bitmap bm;
	uint64_t bit, i;
	pid_t pid;

	nb_bitmap_attach(&bm, area, NBITS);
	nb_bitmap_init(&bm);
	for (i = 0; i < top; i++) {
		ck_assert_int_eq(claim(&bm, &bit), 0);
		ck_assert_uint_eq(bit, i);
	}
	ck_assert_int_eq(nb_bitmap_release_bit(&bm, l0), 0);
	nb_bitmap_lowest_freed(&bm, l0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		nb_test_window = die_after_advice;
		if (nb_bitmap_release_bit(&bm, x) == 0)
			nb_bitmap_lowest_freed(&bm, x);
		_exit(0);
	}
	ck_assert_int_eq(tu_wait_all(&pid, 1), 0);
	ck_assert_int_eq(claim(&bm, &bit), 0);
	ck_assert_uint_eq(bit, x);
	ck_assert_int_eq(claim(&bm, &bit), 0);
	ck_assert_uint_eq(bit, l0);
	ck_assert_int_eq(claim(&bm, &bit), 0);
	ck_assert_uint_eq(bit, top);
}
END_TEST

/* The window of the test below: once, a release in L's word between the claim's load and its CAS. */
static struct nb_bitmap *race_bm;
static uint64_t race_bit;

static void free_in_claims_word(int where)
{
	if (where != 5 || race_bit == NB_NONE)
		return;
	ck_assert_int_eq(nb_bitmap_release_bit(race_bm, race_bit), 0);
	nb_bitmap_lowest_freed(race_bm, race_bit);
	race_bit = NB_NONE;
}

/*
 * The inline whole-pool claim (numballoc_alloc()) whose CAS in L's word
 * loses to a release of another bit of that word (window 5): it must not
 * go on to S's word; the search after it takes L (review 4). The
 * advice is (100, S = 1000) with bits 100 and 1000 clear; 120 is released
 * inside the claim's window; the claims must then be 100, 120, 1000 and
 * the first never claimed.
 */
START_TEST(test_lost_cas_stays_in_word)
{
	void *area = tu_shared(nb_bitmap_bytes(NBITS));
	const uint64_t top = 1100;
	struct nb_bitmap bm;
	uint64_t bit, i;

	nb_bitmap_attach(&bm, area, NBITS);
	nb_bitmap_init(&bm);
	for (i = 0; i < top; i++) {
		ck_assert_int_eq(claim(&bm, &bit), 0);
		ck_assert_uint_eq(bit, i);
	}
	ck_assert_int_eq(nb_bitmap_release_bit(&bm, 1000), 0);
	nb_bitmap_lowest_freed(&bm, 1000);
	ck_assert_int_eq(nb_bitmap_release_bit(&bm, 100), 0);
	nb_bitmap_lowest_freed(&bm, 100);
	race_bm = &bm;
	race_bit = 120;
	nb_test_window = free_in_claims_word;
	/* as numballoc_alloc() does: the inline claim, else the search */
	if (!nb_bitmap_claim_lowest_all(&bm, &bit))
		ck_assert_int_eq(nb_bitmap_claim_lowest_slow(&bm, 0, NBITS - 1, &bit), 0);
	nb_test_window = NULL;
	ck_assert_uint_eq(race_bit, NB_NONE);	/* the window ran */
	ck_assert_uint_eq(bit, 100);
	ck_assert_int_eq(claim(&bm, &bit), 0);
	ck_assert_uint_eq(bit, 120);
	ck_assert_int_eq(claim(&bm, &bit), 0);
	ck_assert_uint_eq(bit, 1000);
	ck_assert_int_eq(claim(&bm, &bit), 0);
	ck_assert_uint_eq(bit, top);
}
END_TEST

/* The window of the test below: once, L released completely between the free's read of L and its advice CAS. */
static void free_l_before_cas(int where)
{
	if (where != 2 || race_bit == NB_NONE)
		return;
	ck_assert_int_eq(nb_bitmap_release_bit(race_bm, race_bit), 0);
	nb_bitmap_lowest_freed(race_bm, race_bit);	/* its bit is L: it writes nothing */
	race_bit = NB_NONE;
}

/*
 * issue 20, session 6 (nb_lowest_freed(), the free's lowering with no call
 * in it): a free of X below L reads L set, and L's own release runs
 * completely in window 2, before the free's CAS on the advice; that
 * release saw its bit at L and wrote nothing. The free's CAS then writes
 * (X, S) over a clear L, and its read of L after the CAS must cut the
 * stretch at L (returning L to nb_bitmap_release_lowest(), which lowers
 * the advice out of line): the claims are X, L, then the first never
 * claimed, not X and then a bit past L.
 */
START_TEST(test_free_cuts_at_released_l)
{
	void *area = tu_shared(nb_bitmap_bytes(NBITS));
	struct nb_bitmap bm;
	uint64_t bit, l0;

	nb_bitmap_attach(&bm, area, NBITS);
	nb_bitmap_init(&bm);
	for (bit = 0; bit < 300; bit++)
		ck_assert_int_eq(nb_bitmap_claim_bit_lazy(&bm, bit), 0);
	ck_assert_int_eq(nb_bitmap_claim_lowest_slow(&bm, 0, NBITS - 1, &bit), 0);
	ck_assert_uint_eq(bit, 300);		/* the search moved L to 300, set */
	l0 = uatomic_read(&bm.cursor[NB_LOW]) & NB_LOW_MASK;
	ck_assert_uint_eq(l0, 300);
	race_bm = &bm;
	race_bit = l0;
	nb_test_window = free_l_before_cas;
	ck_assert_int_eq(nb_bitmap_release_lowest(&bm, 10), 0);
	nb_test_window = NULL;
	ck_assert_uint_eq(race_bit, NB_NONE);	/* the window ran */
	if (!nb_bitmap_claim_lowest_all(&bm, &bit))
		ck_assert_int_eq(nb_bitmap_claim_lowest_slow(&bm, 0, NBITS - 1, &bit), 0);
	ck_assert_uint_eq(bit, 10);
	if (!nb_bitmap_claim_lowest_all(&bm, &bit))
		ck_assert_int_eq(nb_bitmap_claim_lowest_slow(&bm, 0, NBITS - 1, &bit), 0);
	ck_assert_uint_eq(bit, l0);
	if (!nb_bitmap_claim_lowest_all(&bm, &bit))
		ck_assert_int_eq(nb_bitmap_claim_lowest_slow(&bm, 0, NBITS - 1, &bit), 0);
	ck_assert_uint_eq(bit, 301);
}
END_TEST

/*
 * The release of a LOWEST pool's free (nb_bitmap_release_lowest(): the
 * word's CAS, the advice, then the summary): a release into a full word
 * whose summary bit a clearer took sets it again, and lowers the advice;
 * a release of a clear bit is -ENOENT and changes nothing.
 */
START_TEST(test_release_lowest_shows_word)
{
	void *area = tu_shared(nb_bitmap_bytes(NBITS));
	struct nb_bitmap bm;
	uint64_t bit;

	nb_bitmap_attach(&bm, area, NBITS);
	nb_bitmap_init(&bm);
	for (bit = 0; bit < 20 * 64; bit++)
		ck_assert_int_eq(nb_bitmap_claim_bit(&bm, bit), 0);
	ck_assert_int_eq(nb_bitmap_summary_bit(&bm, 6), 0);	/* filled: cleared */
	ck_assert_int_eq(nb_bitmap_release_lowest(&bm, 6 * 64 + 9), 0);
	ck_assert_int_eq(nb_bitmap_summary_bit(&bm, 6), 1);
	ck_assert_int_eq(nb_bitmap_release_lowest(&bm, 6 * 64 + 9), -ENOENT);
	ck_assert_int_eq(nb_bitmap_count(&bm), 20 * 64 - 1);
	/* the lowest claims: the freed one, then the first never claimed */
	ck_assert_int_eq(claim(&bm, &bit), 0);
	ck_assert_uint_eq(bit, 6 * 64 + 9);
	ck_assert_int_eq(claim(&bm, &bit), 0);
	ck_assert_uint_eq(bit, 20 * 64);
	/* a word whose summary bit is clear, past the plain scan: found by the summary */
	for (bit = 20 * 64 + 1; bit < NBITS; bit++)
		ck_assert_int_eq(nb_bitmap_claim_bit(&bm, bit), 0);
	ck_assert_int_eq(nb_bitmap_summary_bit(&bm, 80), 0);
	ck_assert_int_eq(nb_bitmap_release_lowest(&bm, 80 * 64 + 1), 0);
	ck_assert_int_eq(nb_bitmap_summary_bit(&bm, 80), 1);
}
END_TEST

/*
 * issue 20, session 5, round 2 (CYCLIC's window scan,
 * nb_bitmap_claim_window()): its CAS lost inside window 6. Words 1 and 2
 * of bits [64, 200) are full but bits 70, 75, 130; first another claim
 * takes 70 (the bit being tried): the scan must retry in the word and
 * claim 75, not skip the word. Then a release of 140 beats the CAS on
 * 130: the retry claims 130 and leaves 140 clear.
 */
static int cyc_step;

static void cyclic_lost_cas(int where)
{
	if (where != 6)
		return;
	if (cyc_step == 0)
		ck_assert_int_eq(nb_bitmap_claim_bit(race_bm, 70), 0);
	else if (cyc_step == 2)
		ck_assert_int_eq(nb_bitmap_release_bit(race_bm, 140), 0);
	cyc_step++;
}

START_TEST(test_cyclic_window_lost_cas)
{
	void *area = tu_shared(nb_bitmap_bytes(NBITS));
	struct nb_bitmap bm;
	uint64_t bit;

	nb_bitmap_attach(&bm, area, NBITS);
	nb_bitmap_init(&bm);
	for (bit = 64; bit < 200; bit++)
		if (bit != 70 && bit != 75 && bit != 130)
			ck_assert_int_eq(nb_bitmap_claim_bit(&bm, bit), 0);
	race_bm = &bm;
	cyc_step = 0;
	nb_test_window = cyclic_lost_cas;
	ck_assert_int_eq(nb_bitmap_claim_window(&bm, 64, 200, &bit), 1);
	ck_assert_uint_eq(bit, 75);
	ck_assert_int_eq(cyc_step, 2);	/* the window ran twice: on 70, then on 75 */
	ck_assert_int_eq(nb_bitmap_claim_window(&bm, 76, 200, &bit), 1);
	nb_test_window = NULL;
	ck_assert_int_eq(cyc_step, 4);	/* 130 tried twice */
	ck_assert_uint_eq(bit, 130);
	ck_assert_int_eq(nb_bitmap_test(&bm, 140), 0);
	ck_assert_int_eq(nb_bitmap_claim_window(&bm, 131, 140, &bit), 0);	/* END excluded */
	ck_assert_int_eq(nb_bitmap_claim_window(&bm, 131, 141, &bit), 1);
	ck_assert_uint_eq(bit, 140);
	ck_assert_int_eq(nb_bitmap_claim_window(&bm, 64, 200, &bit), 0);
	ck_assert_int_eq(nb_bitmap_count(&bm), 200 - 64);
}
END_TEST

static Suite *race_suite(void)
{
	Suite *s = suite_create("lowest_race");
	TCase *tc = tcase_create("lowest_race");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_races_hide_nothing);
	tcase_add_test(tc, test_claim_bit_lazy);
	tcase_add_test(tc, test_killed_release_hides_no_other);
	tcase_add_test(tc, test_lost_cas_stays_in_word);
	tcase_add_test(tc, test_release_lowest_shows_word);
	tcase_add_test(tc, test_cyclic_window_lost_cas);	/* issue 20 session 5, cyclic */
	tcase_add_test(tc, test_free_cuts_at_released_l);	/* issue 20 session 6, lowest */
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(race_suite());
}
