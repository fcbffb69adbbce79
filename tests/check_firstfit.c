/* SPDX-License-Identifier: MIT */
/*
 * check_firstfit.c - first fit (NUMBALLOC_BUF_FIRST_FIT) under threads that
 * fill the buffer to the point where fits run out: every -ENOSPC is
 * checked against the words.
 *
 * Threads on one handle of a small private buffer allocate sizes 1..256
 * (log-uniform, as bench/bufbench.c) and free at random, held near a
 * level high enough that the largest free range often falls below 256.
 * A thread that gets -ENOSPC stops the others between their operations
 * (a quiesce) and reads the largest free range. If no other thread began
 * a free since its call began, free space only shrank during the call, so
 * (and none was in flight when it began), free space only shrank during
 * the call, so a fit found at the quiesce was there at every moment of it and
 * the definitive pass had to see it: that -ENOSPC was false and the test
 * fails. A free that began meanwhile makes that -ENOSPC undecidable here;
 * it is counted, not judged. A true -ENOSPC (no fit at the quiesce, no
 * free meanwhile) is the common case: the test asserts that some were
 * seen, so that it cannot pass by never getting near full.
 *
 * Why it exists: bench/bufbench reported -ENOSPC in first fit with two
 * workers at 85% while its figure of free/largest at the END of the run
 * said a range of ~68,000 units was free. That run's end says little
 * about the moment of a failure: the top range of a first-fit buffer at
 * 85% moves, and in some rounds falls to a few units before frees bring
 * it back (issue 16: seen in 1-3% of such runs under load, with the top
 * range down to 7-181 units at the failures).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numballoc.h"
#include "testutil.h"

#define NT 3			/* workers */
#define UNITS (UINT64_C(1) << 14)
#define OPS 60000		/* per worker */

struct held {
	uint64_t start, n;
};

struct ff {
	struct numballoc_buf *b;
	int want;		/* a worker asks the others to stop */
	int parked;		/* workers stopped for it, or done */
	uint64_t frees, freed;	/* frees begun, and ended, all workers */
	uint64_t truenospc, undecided, falsenospc;
	uint64_t bad_n, bad_largest;
	int pct;
};

struct worker {
	struct ff *ff;
	uint64_t rs, units, lo, hi;
	struct held *h;
	size_t nh;
};

static uint64_t size_of(uint64_t *rs)
{
	double u = (double)(tu_rand(rs) >> 11) / 9007199254740992.0;
	uint64_t n = (uint64_t)exp2(u * 8.0);

	return n < 1 ? 1 : n > 256 ? 256 : n;
}

/* Between operations: stop while another worker checks an -ENOSPC. */
static void maybe_park(struct ff *ff)
{
	if (!__atomic_load_n(&ff->want, __ATOMIC_ACQUIRE))
		return;
	__atomic_add_fetch(&ff->parked, 1, __ATOMIC_ACQ_REL);
	while (__atomic_load_n(&ff->want, __ATOMIC_ACQUIRE))
		;
	__atomic_sub_fetch(&ff->parked, 1, __ATOMIC_ACQ_REL);
}

/* Stop the others (one checker at a time), judge, let them go. */
static void judge(struct ff *ff, uint64_t n, uint64_t frees0, int inflight)
{
	struct numballoc_buf_stat st;
	int zero = 0;

	while (!__atomic_compare_exchange_n(&ff->want, &zero, 1, 0, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE)) {
		zero = 0;
		maybe_park(ff);
	}
	while (__atomic_load_n(&ff->parked, __ATOMIC_ACQUIRE) < NT - 1)
		;
	ck_assert_int_eq(numballoc_buf_stat(ff->b, &st), 0);
	if (inflight || __atomic_load_n(&ff->frees, __ATOMIC_ACQUIRE) != frees0) {
		ff->undecided++;
	} else if (st.largest_free >= n) {
		ff->falsenospc++;
		ff->bad_n = n;
		ff->bad_largest = st.largest_free;
	} else {
		ff->truenospc++;
	}
	__atomic_store_n(&ff->want, 0, __ATOMIC_RELEASE);
}

static void w_alloc(struct worker *w)
{
	uint64_t n = size_of(&w->rs), s, f0, e0;
	int r;

	/* a free in flight when the call begins may land during it */
	f0 = __atomic_load_n(&w->ff->frees, __ATOMIC_ACQUIRE);
	e0 = __atomic_load_n(&w->ff->freed, __ATOMIC_ACQUIRE);
	r = numballoc_buf_alloc(w->ff->b, n, &s);
	if (r == 0) {
		w->h[w->nh++] = (struct held){ s, n };
		w->units += n;
		return;
	}
	ck_assert_int_eq(r, -ENOSPC);
	judge(w->ff, n, f0, e0 != f0);
}

static void w_free(struct worker *w)
{
	size_t i;

	if (!w->nh)
		return;
	i = (size_t)(tu_rand(&w->rs) % w->nh);
	__atomic_add_fetch(&w->ff->frees, 1, __ATOMIC_ACQ_REL);	/* before: it may land mid-call */
	ck_assert_int_eq(numballoc_buf_dealloc(w->ff->b, w->h[i].start, w->h[i].n), 0);
	__atomic_add_fetch(&w->ff->freed, 1, __ATOMIC_ACQ_REL);
	w->units -= w->h[i].n;
	w->h[i] = w->h[--w->nh];
}

static void *w_run(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < OPS; i++) {
		int coin = (int)(tu_rand(&w->rs) & 1);

		maybe_park(w->ff);
		if (w->units < w->lo ? 1 : w->units > w->hi ? 0 : coin)
			w_alloc(w);
		else
			w_free(w);
	}
	/* done: counted as stopped, so that a checker does not wait for us */
	__atomic_add_fetch(&w->ff->parked, 1, __ATOMIC_ACQ_REL);
	return NULL;
}

START_TEST(test_enospc_is_true)
{
	static const int pcts[] = { 85, 92 };
	struct numballoc_buf_opts o = { .capacity = UNITS, .max_capacity = UNITS,
					.flags = NUMBALLOC_BUF_FIRST_FIT };
	struct worker w[NT];
	pthread_t th[NT];
	struct ff ff;
	int k;

	memset(&ff, 0, sizeof(ff));
	ff.pct = pcts[_i];
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &ff.b), 0);
	for (k = 0; k < NT; k++) {
		memset(&w[k], 0, sizeof(w[k]));
		w[k].ff = &ff;
		w[k].rs = UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(k + 1 + 7 * _i);
		w[k].lo = UNITS * (uint64_t)(ff.pct - 1) / 100 / NT;
		w[k].hi = UNITS * (uint64_t)(ff.pct + 1) / 100 / NT;
		w[k].h = calloc(UNITS, sizeof(*w[k].h));
		ck_assert_ptr_nonnull(w[k].h);
	}
	for (k = 0; k < NT; k++)
		ck_assert_int_eq(pthread_create(&th[k], NULL, w_run, &w[k]), 0);
	for (k = 0; k < NT; k++)
		pthread_join(th[k], NULL);
	fprintf(stderr, "firstfit %d%%: -ENOSPC true %ju, undecided %ju, false %ju\n", ff.pct,
		(uintmax_t)ff.truenospc, (uintmax_t)ff.undecided, (uintmax_t)ff.falsenospc);
	ck_assert_msg(ff.falsenospc == 0,
		      "%ju false -ENOSPC (last: %ju units asked, a range of %ju free)",
		      (uintmax_t)ff.falsenospc, (uintmax_t)ff.bad_n, (uintmax_t)ff.bad_largest);
	ck_assert_msg(ff.truenospc > 0, "never near full: the check saw nothing");
	for (k = 0; k < NT; k++)
		free(w[k].h);
	numballoc_buf_close(ff.b);
}
END_TEST

static Suite *firstfit_suite(void)
{
	Suite *s = suite_create("firstfit");
	TCase *tc = tcase_create("enospc");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_enospc_is_true, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(firstfit_suite());
}
