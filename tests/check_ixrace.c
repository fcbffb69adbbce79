/* SPDX-License-Identifier: MIT */
/*
 * check_ixrace.c - the run index's races (bitmap.c, "The run index"), one
 * at a time. The engine is built into this test with NB_TEST_WINDOWS, so
 * that a writer of an entry calls nb_test_window(7) between reading the
 * node's inputs and its CAS on the entry; here that window does what
 * another thread could do there: release bits of the node, whose writer
 * finds the old entry covering its release and writes nothing. The entry
 * written after the window must still promise at least what the words
 * hold (or be unknown): before session 6 it did not, which made
 * check_bitmap's test_threads_runs fail about once in 30 runs.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap.h"
#include "testutil.h"

extern void (*nb_test_window)(int where);

#define NBITS 1024	/* two level-1 nodes of 512 bits, one node above */
#define VALID (UINT64_C(1) << 48)

static struct nb_bitmap *race_bm;
static int armed;	/* 1: the validator's window; 2: a release's */
static int fired;

/* What another thread does between the writer's read and its CAS. */
static void in_window(int where)
{
	if (where != 7 || !armed)
		return;
	if (armed == 2)	/* a claim takes back what the writer released */
		ck_assert_int_eq(nb_bitmap_claim_bit(race_bm, 511), 0);
	armed = 0;
	fired++;
	ck_assert_int_eq(nb_bitmap_release_range(race_bm, 201, 5), 0);
}

/*
 * Node 0 (bits 0..511) with a VALID entry that promises a run of 412 while
 * the words are full, as a claim leaves it (claims do not lower entries);
 * node 1 full.
 */
static void *stale_high(struct nb_bitmap *bm)
{
	void *area = aligned_alloc(64, nb_bitmap_bytes(NBITS));
	uint64_t got;

	ck_assert_ptr_nonnull(area);
	memset(area, 0, nb_bitmap_bytes(NBITS));
	nb_bitmap_attach(bm, area, NBITS);
	nb_bitmap_init(bm);
	ck_assert_int_eq(nb_bitmap_claim_range(bm, 0, 50), 0);
	ck_assert_int_eq(nb_bitmap_claim_range(bm, 462, NBITS - 462), 0);
	/* a search for more than there is looks at node 0 and makes its entry VALID */
	ck_assert_int_eq(nb_bitmap_claim_run(bm, 413, 1, 0, NBITS - 1, 0, &got), -ENOSPC);
	ck_assert_uint_eq(bm->ix[1][0] & (VALID | 0xffff), VALID | 412);
	ck_assert_int_eq(nb_bitmap_claim_range(bm, 50, 412), 0);
	ck_assert_uint_eq(bm->ix[1][0] & (VALID | 0xffff), VALID | 412);
	race_bm = bm;
	fired = 0;
	nb_test_window = in_window;
	return area;
}

/* Node 0's entry is unknown, or promises a run of at least N. */
static void entry_covers(const struct nb_bitmap *bm, uint64_t n)
{
	uint64_t e = bm->ix[1][0];

	if (e & VALID)
		ck_assert_msg((e & 0xffff) >= n, "entry %lx promises a run of %lu, the words hold %lu",
			      (unsigned long)e, (unsigned long)(e & 0xffff), (unsigned long)n);
}

/*
 * A search finds node 0 full and lowers its entry to 0; in the window a
 * release of 5 bits finds the old entry (412) covering it and writes
 * nothing. The lowered entry must not stand over the 5.
 */
START_TEST(test_validator_lowers_over_release)
{
	struct nb_bitmap bm;
	void *area = stale_high(&bm);
	uint64_t got;

	armed = 1;
	ck_assert_int_eq(nb_bitmap_claim_run(&bm, 20, 1, 0, NBITS - 1, 0, &got), -ENOSPC);
	nb_test_window = NULL;
	ck_assert_int_eq(fired, 1);
	entry_covers(&bm, 5);
	free(area);
}
END_TEST

/*
 * A release of bit 511 (a clear suffix the entry does not promise) writes
 * node 0's entry; in the window a claim takes 511 back and a release of 5
 * bits finds the old entry covering it and writes nothing. The release's
 * entry must still promise the 5.
 */
START_TEST(test_release_lowers_over_release)
{
	struct nb_bitmap bm;
	void *area = stale_high(&bm);

	ck_assert_int_eq(nb_bitmap_release_range(&bm, 200, 1), 0);	/* LNG 1, covered */
	ck_assert_int_eq(fired, 0);
	armed = 2;
	ck_assert_int_eq(nb_bitmap_release_bit(&bm, 511), 0);
	nb_test_window = NULL;
	ck_assert_int_eq(fired, 1);
	ck_assert_int_eq(nb_bitmap_test(&bm, 511), 1);
	entry_covers(&bm, 6);	/* 200 .. 205 */
	ck_assert_uint_eq(bm.ix[1][0] & VALID, VALID);	/* raised (ix_max()), not made unknown */
	free(area);
}
END_TEST

/* The same release, not raced: the entry then promises its clear suffix too. */
START_TEST(test_release_raises_entry)
{
	struct nb_bitmap bm;
	void *area = stale_high(&bm);

	nb_test_window = NULL;
	ck_assert_int_eq(nb_bitmap_release_bit(&bm, 511), 0);
	ck_assert_uint_eq(bm.ix[1][0] & VALID, VALID);
	ck_assert_uint_eq(bm.ix[1][0] >> 32 & 0xffff, 1);	/* SUF */
	entry_covers(&bm, 1);
	free(area);
}
END_TEST

/* Another thread's claim of a run at 300, between a release's CAS and its look at the index. */
static void claim_in_window(int where)
{
	uint64_t got;

	if (where != 10 || !armed)
		return;
	armed = 0;
	fired++;
	ck_assert_int_eq(nb_bitmap_claim_run(race_bm, 5, 1, 300, 4095, 300, &got), 0);
	ck_assert_uint_eq(got, 300);
}

/*
 * Level 2 (4096 bits: eight level-1 nodes under one) all VALID, with only
 * 300..320 clear. A release of 0..2 raises node 0's clear prefix; before
 * it looks at the index, a claim of 300..304 sets node 0's entry right
 * from the words, the release's prefix in it, and does not walk up (a
 * claim only lowers); the release then finds the entry covering it. The
 * top node must still promise the prefix of 3.
 */
START_TEST(test_claim_raises_under_release)
{
	size_t bytes = nb_bitmap_bytes(4096);
	void *area = aligned_alloc(64, bytes);
	struct nb_bitmap bm;
	uint64_t got, e;

	ck_assert_ptr_nonnull(area);
	memset(area, 0, bytes);
	nb_bitmap_attach(&bm, area, 4096);
	nb_bitmap_init(&bm);
	ck_assert_int_eq(bm.ixlevels, 2);
	ck_assert_int_eq(nb_bitmap_claim_range(&bm, 0, 300), 0);
	ck_assert_int_eq(nb_bitmap_claim_range(&bm, 321, 4096 - 321), 0);
	ck_assert_int_eq(nb_bitmap_claim_run(&bm, 413, 1, 0, 4095, 0, &got), -ENOSPC);
	ck_assert_uint_eq(bm.ix[2][0] & (VALID | UINT64_C(0xffffffffffff)), VALID | 21);
	race_bm = &bm;
	fired = 0;
	armed = 1;
	nb_test_window = claim_in_window;
	ck_assert_int_eq(nb_bitmap_release_range(&bm, 0, 3), 0);
	nb_test_window = NULL;
	ck_assert_int_eq(fired, 1);
	e = bm.ix[2][0];
	ck_assert_uint_eq(e & VALID, VALID);	/* the raise carried up, not made unknown */
	ck_assert_msg((e >> 16 & 0xffff) >= 3 && (e & 0xffff) >= 16,
		      "top entry %lx: prefix %lu, run %lu; the words hold 3, 16", (unsigned long)e,
		      (unsigned long)(e >> 16 & 0xffff), (unsigned long)(e & 0xffff));
	free(area);
}
END_TEST

static Suite *ixrace_suite(void)
{
	Suite *s = suite_create("ixrace");
	TCase *tc = tcase_create("ixrace");

	tcase_add_test(tc, test_validator_lowers_over_release);
	tcase_add_test(tc, test_release_lowers_over_release);
	tcase_add_test(tc, test_release_raises_entry);
	tcase_add_test(tc, test_claim_raises_under_release);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(ixrace_suite());
}
