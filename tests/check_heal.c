/* SPDX-License-Identifier: MIT */
/*
 * check_heal.c - the summary index is advice: after processes killed in
 * the middle of their claims and releases (SIGKILL at random moments), and
 * after frees by other processes that a searcher's view did not see, every
 * free ID and every free aligned block must still be found, and the pool
 * must say -ENOSPC only when the words are full.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "numballoc.h"
#include "testutil.h"

#define CAP 8192

static struct numballoc *pool_new(const char *name, unsigned int policy)
{
	struct numballoc_opts o;
	struct numballoc *p;

	memset(&o, 0, sizeof(o));
	o.capacity = CAP;
	o.policy = policy;
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL;
	ck_assert_int_eq(numballoc_open(name, &o, &p), 0);
	return p;
}

/* Churn at high fill: allocate, free what it got, forever (until killed). */
static void churn(const char *name, uint64_t seed)
{
	struct numballoc *p;
	uint64_t held[64], id;
	int n = 0;

	if (numballoc_open(name, NULL, &p) != 0)
		_exit(1);
	for (;;) {
		if (n < 64 && (tu_rand(&seed) & 1)) {
			if (numballoc_alloc(p, &id) == 0)
				held[n++] = id;
		} else if (n) {
			int k = (int)(tu_rand(&seed) % (uint64_t)n);

			numballoc_free(p, held[k]);
			held[k] = held[--n];
		}
	}
}

/* Allocate until -ENOSPC: the count must be what the words say is free. */
static void drain_matches_words(struct numballoc *p)
{
	struct numballoc_stat st;
	uint64_t got = 0, id;
	int r;

	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	while ((r = numballoc_alloc(p, &id)) == 0)
		got++;
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_uint_eq(got, st.free);
	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	ck_assert_uint_eq(st.used, CAP);
}

/*
 * Processes are killed at random moments of their claims and releases
 * (between a word's CAS and its summary update, in a summary clear...),
 * while others keep working. Afterwards every free ID is found.
 */
START_TEST(test_killed_mid_update)
{
	const char *name = tu_name("heal");
	struct numballoc *p = pool_new(name, (unsigned int)_i);
	uint64_t s = 0x4ea1 + (uint64_t)_i, i, id;
	int round;

	/* 99% full, at random */
	for (i = 0; i < CAP; i++)
		if (tu_rand(&s) % 100 < 99)
			ck_assert_int_eq(numballoc_alloc_id(p, i), 0);
	for (round = 0; round < 12; round++) {
		pid_t pid[3];
		int k, st;

		for (k = 0; k < 3; k++) {
			pid[k] = fork();
			ck_assert_int_ge(pid[k], 0);
			if (pid[k] == 0)
				churn(name, s + (uint64_t)k * 7919 + (uint64_t)round);
		}
		usleep((useconds_t)(2000 + tu_rand(&s) % 8000));
		for (k = 0; k < 3; k++) {
			kill(pid[k], SIGKILL);
			ck_assert_int_eq(waitpid(pid[k], &st, 0), pid[k]);
			ck_assert(WIFSIGNALED(st));
		}
	}
	/* what the dead held stays held; everything else must be found */
	drain_matches_words(p);
	/* free one ID anywhere: found again, by every search */
	id = tu_rand(&s) % CAP;
	ck_assert_int_eq(numballoc_free(p, id), 0);
	ck_assert_int_eq(numballoc_alloc(p, &i), 0);
	ck_assert_uint_eq(i, id);
	numballoc_close(p);
	numballoc_unlink(name);
}
END_TEST

/*
 * Another process frees blocks behind this handle's back while it fills
 * the pool with aligned blocks: every free aligned block is found, and
 * -ENOSPC comes only when no aligned block of 8 is left in the words.
 */
START_TEST(test_blocks_after_foreign_frees)
{
	const char *name = tu_name("healblk");
	struct numballoc *p = pool_new(name, 0);
	uint64_t first, i, n = 0, expect = 0;
	pid_t pid;

	for (i = 0; i < CAP; i += 8)
		ck_assert_int_eq(numballoc_alloc_block(p, 8, 8, &first), 0);
	ck_assert_int_eq(numballoc_alloc_block(p, 8, 8, &first), -ENOSPC);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct numballoc *q;

		if (numballoc_open(name, NULL, &q) != 0)
			_exit(1);
		/* every 3rd block, and one single ID in every 5th (no block there) */
		for (i = 0; i < CAP; i += 8) {
			if ((i / 8) % 3 == 0 && numballoc_free_block(q, i, 8) != 0)
				_exit(2);
			else if ((i / 8) % 3 && (i / 8) % 5 == 0 && numballoc_free(q, i + 3) != 0)
				_exit(3);
		}
		_exit(0);
	}
	ck_assert_int_eq(tu_wait_all(&pid, 1), 0);
	for (i = 0; i < CAP; i += 8)
		expect += (i / 8) % 3 == 0;
	while (numballoc_alloc_block(p, 8, 8, &first) == 0) {
		ck_assert_uint_eq(first % 24, 0);
		n++;
	}
	ck_assert_uint_eq(n, expect);
	/* the single IDs are still there for single allocations */
	for (i = 0; i < CAP; i += 8)
		if ((i / 8) % 3 && (i / 8) % 5 == 0)
			ck_assert_int_eq(numballoc_test(p, i + 3), 0);
	drain_matches_words(p);
	numballoc_close(p);
	numballoc_unlink(name);
}
END_TEST

/*
 * Processes take and give back unaligned runs of 2..6 IDs on a 90% full
 * pool while others free and take single IDs: the run advice is written
 * and invalidated concurrently. Each held ID is marked in a shared witness
 * array with an atomic exchange: an ID held twice fails the test, and at
 * the end the pool holds exactly the fill.
 */
START_TEST(test_runs_concurrent)
{
	const char *name = tu_name("healrun");
	struct numballoc *p = pool_new(name, 2);
	int *witness = tu_shared(CAP * sizeof(int)), *bad = tu_shared(sizeof(int));
	int *runs = tu_shared(2 * sizeof(int));
	uint64_t s = 0x7a11, i, used0;
	struct numballoc_stat st;
	pid_t pid[4];
	int k;

	for (i = 0; i < CAP; i++)
		if (tu_rand(&s) % 100 < 90)
			ck_assert_int_eq(numballoc_alloc_id(p, i), 0);
	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	used0 = st.used;
	for (k = 0; k < 4; k++) {
		pid[k] = fork();
		ck_assert_int_ge(pid[k], 0);
		if (pid[k] == 0) {
			struct numballoc *q;
			uint64_t seed = 0x51 + (uint64_t)k * 7919, first, n, j, id;
			int round;

			if (numballoc_open(name, NULL, &q) != 0)
				_exit(1);
			for (round = 0; round < 3000; round++) {
				if (k < 2) {	/* runs */
					n = 2 + tu_rand(&seed) % 5;
					if (numballoc_alloc_block(q, n, 1, &first) != 0)
						continue;
					__atomic_add_fetch(&runs[k], 1, __ATOMIC_RELAXED);
					for (j = first; j < first + n; j++)
						if (__atomic_exchange_n(&witness[j], 1, __ATOMIC_SEQ_CST))
							__atomic_store_n(bad, 1, __ATOMIC_SEQ_CST);
					for (j = first; j < first + n; j++)
						__atomic_store_n(&witness[j], 0, __ATOMIC_SEQ_CST);
					if (numballoc_free_block(q, first, n) != 0)
						__atomic_store_n(bad, 2, __ATOMIC_SEQ_CST);
				} else {	/* single IDs */
					if (numballoc_alloc(q, &id) != 0)
						continue;
					if (__atomic_exchange_n(&witness[id], 1, __ATOMIC_SEQ_CST))
						__atomic_store_n(bad, 3, __ATOMIC_SEQ_CST);
					__atomic_store_n(&witness[id], 0, __ATOMIC_SEQ_CST);
					if (numballoc_free(q, id) != 0)
						__atomic_store_n(bad, 4, __ATOMIC_SEQ_CST);
				}
			}
			_exit(0);
		}
	}
	ck_assert_int_eq(tu_wait_all(pid, 4), 0);
	ck_assert_int_eq(*bad, 0);
	ck_assert_int_gt(runs[0] + runs[1], 1000);	/* the runs were there to take */
	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	ck_assert_uint_eq(st.used, used0);
	drain_matches_words(p);
	numballoc_close(p);
	numballoc_unlink(name);
}
END_TEST

static Suite *heal_suite(void)
{
	Suite *s = suite_create("heal");
	TCase *tc = tcase_create("index");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_killed_mid_update, 0, 3);	/* the three policies */
	tcase_add_test(tc, test_blocks_after_foreign_frees);
	tcase_add_test(tc, test_runs_concurrent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(heal_suite());
}
