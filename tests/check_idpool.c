/* SPDX-License-Identifier: MIT */
/*
 * check_idpool.c - the ID pool API: every function, its policies and every
 * error path, on private pools (shared pools: check_segment.c and
 * check_procs.c).
 *
 * Built a second time with NB_TEST_REDIS as check_redis_api: the same tests
 * on pools in a real redis-server that the suite starts (redisfix.c),
 * wherever the meaning is the same.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "numballoc.h"
#include "testutil.h"
#ifdef NB_TEST_REDIS
#include <stdio.h>

#include "redisfix.h"

static struct rf server;
#endif

static struct numballoc *private_pool(uint64_t capacity, uint64_t base, unsigned int policy)
{
	struct numballoc_opts o = { .capacity = capacity, .base = base, .policy = policy };
	struct numballoc *p = NULL;

#ifdef NB_TEST_REDIS
	o.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL;
	ck_assert_int_eq(numballoc_open(rf_url(&server, tu_name("api"), NULL), &o, &p), 0);
#else
	ck_assert_int_eq(numballoc_open(NULL, &o, &p), 0);
#endif
	ck_assert_ptr_nonnull(p);
	return p;
}

static uint64_t used(struct numballoc *p)
{
	struct numballoc_stat st;

	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	return st.used;
}

START_TEST(test_lowest_sequence)
{
	struct numballoc *p = private_pool(130, 1024, NUMBALLOC_LOWEST);
	uint64_t id, i;

	for (i = 0; i < 130; i++) {
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert_uint_eq(id, 1024 + i);
	}
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	ck_assert_int_eq(numballoc_free(p, 1100), 0);
	ck_assert_int_eq(numballoc_free(p, 1030), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, 1030);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, 1100);
	ck_assert_uint_eq(used(p), 130);
	numballoc_close(p);
}
END_TEST

START_TEST(test_cyclic_reuses_late)
{
	struct numballoc *p = private_pool(100, 0, NUMBALLOC_CYCLIC);
	uint64_t id, i;

	for (i = 0; i < 10; i++)
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_int_eq(numballoc_free(p, 3), 0);
	/* 3 is free, but cyclic goes on after the last one handed out */
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, 10);
	for (i = 11; i < 100; i++) {
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert_uint_eq(id, i);
	}
	/* wrapped: the only free ID is 3 */
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, 3);
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	numballoc_close(p);
}
END_TEST

START_TEST(test_spread_fills_all)
{
	struct numballoc *p = private_pool(1000, 5, NUMBALLOC_SPREAD);
	char *seen = calloc(1000, 1);
	uint64_t id, i;

	for (i = 0; i < 1000; i++) {
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert(id >= 5 && id < 1005);
		ck_assert_int_eq(seen[id - 5], 0);
		seen[id - 5] = 1;
	}
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	ck_assert_int_eq(numballoc_free(p, 500), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, 500);
	free(seen);
	numballoc_close(p);
}
END_TEST

#ifdef NB_TEST_REDIS
/* SPREAD in Redis: after a free, the handle's next allocation starts at the freed ID. */
START_TEST(test_spread_follows_free)
{
	struct numballoc *p = private_pool(4096, 7, NUMBALLOC_SPREAD);
	struct numballoc *q = private_pool(4096, 7, NUMBALLOC_SPREAD);
	uint64_t id, last = 0, a, b, d, x, i;

	for (i = 0; i < 4096; i++)
		ck_assert_int_eq(numballoc_alloc(p, &last), 0);
	/* IDs this far after the last one handed out, going up and wrapping */
#define AFTER(n) (7 + (last - 7 + (n)) % 4096)
	a = AFTER(1);		/* what a search from the last one finds first */
	b = AFTER(2048);
	d = AFTER(3048);
	x = AFTER(3500);
	ck_assert_int_eq(numballoc_free(p, a), 0);
	ck_assert_int_eq(numballoc_free(p, b), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, b);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, a);
	/* an ID outside the pool: refused, and the pool stays full */
	ck_assert_int_eq(numballoc_free(p, 7 + 4096), -EINVAL);
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);

	/* a free in another pool leaves this pool's position alone */
	ck_assert_int_eq(numballoc_free(p, a), 0);
	ck_assert_int_eq(numballoc_free(p, d), 0);
	ck_assert_int_eq(numballoc_free(p, b), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, b);		/* a and d free; from b, d comes first */
	ck_assert_int_eq(numballoc_alloc_id(q, x), 0);
	ck_assert_int_eq(numballoc_free(q, x), 0);	/* from x, a would come first */
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, d);
#undef AFTER
	numballoc_close(q);
	numballoc_close(p);
}
END_TEST
#endif

#ifndef NB_TEST_REDIS
/*
 * SPREAD's search order in shared memory (numballoc_alloc(3)): the free IDs
 * close after this thread's position (where it last allocated) first, then
 * those close after the ID it last freed in this pool, then up from the
 * position, wrapping. _i: 0 a packed pool (the inline paths), 1 a spaced
 * one, 2 a packed one with owner records (the engine's whole path).
 */
START_TEST(test_spread_order)
{
	uint64_t cap = _i == 1 ? 4096 : 65536, base = 7, id, last = 0, i;
	struct numballoc_opts o = { .capacity = cap, .base = base, .policy = NUMBALLOC_SPREAD,
				    .flags = _i == 2 ? NUMBALLOC_OWNERS : 0 };
	struct numballoc *p = NULL, *q = NULL;
	uint64_t f, far, g, n1, n2, a1, a2;

	ck_assert_int_eq(numballoc_open(NULL, &o, &p), 0);
	ck_assert_int_eq(numballoc_open(NULL, &o, &q), 0);
	for (i = 0; i < cap; i++)
		ck_assert_int_eq(numballoc_alloc(p, &last), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	/* the first ID of the word K words after that of the last one handed out, wrapping */
#define WORD(k) (base + ((last - base) / 64 + (k)) % (cap / 64) * 64)
	f = WORD(16);
	far = WORD(4) + 9;	/* what a search up from the position finds first */
	g = WORD(30);
	ck_assert_int_eq(numballoc_free(p, far), 0);
	ck_assert_int_eq(numballoc_free(p, f), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, f);		/* the position's word is full: the freed ID */
	ck_assert_int_eq(numballoc_free(p, f + 1), 0);
	ck_assert_int_eq(numballoc_free(p, g), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, f + 1);		/* right after the position, before the freed g */
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, g);
	/* the last freed ID's word full again: up from the position, then round */
	n1 = WORD(33) + 5;
	n2 = WORD(45) + 2;
	ck_assert_int_eq(numballoc_free(p, n1), 0);
	ck_assert_int_eq(numballoc_free(p, n2), 0);
	ck_assert_int_eq(numballoc_alloc_id(p, n2), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, n1);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, far);
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	/* a free refused, or a free in another pool, leaves this pool's freed ID alone */
	a1 = WORD(50) + 1;
	a2 = WORD(55) + 3;
	ck_assert_int_eq(numballoc_free(p, a1), 0);
	ck_assert_int_eq(numballoc_free(p, a2), 0);
	ck_assert_int_eq(numballoc_free(p, base + cap), -EINVAL);
	ck_assert_int_eq(numballoc_alloc_id(q, a1), 0);
	ck_assert_int_eq(numballoc_free(q, a1), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, a2);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, a1);
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
#undef WORD
	numballoc_close(q);
	numballoc_close(p);
}
END_TEST
#endif

START_TEST(test_alloc_in)
{
	struct numballoc *p = private_pool(1000, 100, _i);
	uint64_t id, i;

	for (i = 0; i < 11; i++) {
		ck_assert_int_eq(numballoc_alloc_in(p, 600, 610, &id), 0);
		ck_assert(id >= 600 && id <= 610);
	}
	ck_assert_int_eq(numballoc_alloc_in(p, 600, 610, &id), -ENOSPC);
	/* clipped to the pool */
	ck_assert_int_eq(numballoc_alloc_in(p, 0, 100, &id), 0);
	ck_assert_uint_eq(id, 100);
	ck_assert_int_eq(numballoc_alloc_in(p, 1099, UINT64_MAX, &id), 0);
	ck_assert_uint_eq(id, 1099);
	/* disjoint or reversed ranges */
	ck_assert_int_eq(numballoc_alloc_in(p, 0, 99, &id), -EINVAL);
	ck_assert_int_eq(numballoc_alloc_in(p, 1100, 2000, &id), -EINVAL);
	ck_assert_int_eq(numballoc_alloc_in(p, 700, 600, &id), -EINVAL);
	ck_assert_uint_eq(used(p), 13);
	numballoc_close(p);
}
END_TEST

START_TEST(test_alloc_id)
{
	struct numballoc *p = private_pool(64, 1000, NUMBALLOC_LOWEST);
	uint64_t id;

	ck_assert_int_eq(numballoc_alloc_id(p, 1010), 0);
	ck_assert_int_eq(numballoc_alloc_id(p, 1010), -EEXIST);
	ck_assert_int_eq(numballoc_alloc_id(p, 999), -EINVAL);
	ck_assert_int_eq(numballoc_alloc_id(p, 1064), -EINVAL);
	ck_assert_int_eq(numballoc_test(p, 1010), 1);
	ck_assert_int_eq(numballoc_test(p, 1011), 0);
	ck_assert_int_eq(numballoc_test(p, 5), -EINVAL);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, 1000);
	ck_assert_uint_eq(used(p), 2);
	numballoc_close(p);
}
END_TEST

START_TEST(test_blocks)
{
	struct numballoc *p = private_pool(256, 1000, NUMBALLOC_LOWEST);
	uint64_t first, id;

	ck_assert_int_eq(numballoc_alloc_id(p, 1001), 0);
	/* aligned relative to base */
	ck_assert_int_eq(numballoc_alloc_block(p, 8, 8, &first), 0);
	ck_assert_uint_eq(first, 1008);
	ck_assert_int_eq(numballoc_alloc_block(p, 3, 0, &first), 0);
	ck_assert_uint_eq(first, 1002);
	ck_assert_int_eq(numballoc_alloc_block(p, 64, 64, &first), 0);
	ck_assert_uint_eq(first, 1064);
	ck_assert_int_eq(numballoc_alloc_block(p, 200, 1, &first), -ENOSPC);
	ck_assert_int_eq(numballoc_alloc_block(p, 0, 1, &first), -EINVAL);
	ck_assert_int_eq(numballoc_alloc_block(p, 257, 1, &first), -EINVAL);
	ck_assert_int_eq(numballoc_alloc_block(p, 4, 3, &first), -EINVAL);
	ck_assert_uint_eq(used(p), 1 + 8 + 3 + 64);
	/* free_block: all or nothing */
	ck_assert_int_eq(numballoc_free_block(p, 1000, 4), -ENOENT);
	ck_assert_int_eq(numballoc_test(p, 1001), 1);
	ck_assert_int_eq(numballoc_free_block(p, 1060, 10), -ENOENT);
	ck_assert_int_eq(numballoc_test(p, 1064), 1);
	ck_assert_int_eq(numballoc_free_block(p, 1064, 64), 0);
	ck_assert_int_eq(numballoc_test(p, 1064), 0);
	ck_assert_int_eq(numballoc_free_block(p, 1008, 0), -EINVAL);
	ck_assert_int_eq(numballoc_free_block(p, 1250, 7), -EINVAL);
	ck_assert_int_eq(numballoc_free_block(p, 900, 7), -EINVAL);
	ck_assert_int_eq(numballoc_free_block(p, 1008, 8), 0);
	ck_assert_int_eq(numballoc_free(p, 1001), 0);
	ck_assert_int_eq(numballoc_free(p, 1001), -ENOENT);
	ck_assert_int_eq(numballoc_free(p, 2000), -EINVAL);
	ck_assert_uint_eq(used(p), 3);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, 1000);
	numballoc_close(p);
}
END_TEST

START_TEST(test_next_and_stat)
{
	struct numballoc *p = private_pool(200, 50, NUMBALLOC_LOWEST);
	struct numballoc_stat st;
	uint64_t id;

	ck_assert_int_eq(numballoc_next(p, 0, &id), -ENOENT);
	ck_assert_int_eq(numballoc_alloc_id(p, 60), 0);
	ck_assert_int_eq(numballoc_alloc_id(p, 180), 0);
	ck_assert_int_eq(numballoc_alloc_id(p, 249), 0);
	ck_assert_int_eq(numballoc_next(p, 0, &id), 0);
	ck_assert_uint_eq(id, 60);
	ck_assert_int_eq(numballoc_next(p, 61, &id), 0);
	ck_assert_uint_eq(id, 180);
	ck_assert_int_eq(numballoc_next(p, 181, &id), 0);
	ck_assert_uint_eq(id, 249);
	ck_assert_int_eq(numballoc_next(p, 250, &id), -ENOENT);
	ck_assert_int_eq(numballoc_next(p, UINT64_MAX, &id), -ENOENT);
	ck_assert_int_eq(numballoc_stat(p, &st), 0);
	ck_assert_uint_eq(st.capacity, 200);
	ck_assert_uint_eq(st.base, 50);
	ck_assert_uint_eq(st.used, 3);
	ck_assert_uint_eq(st.free, 197);
	ck_assert_uint_eq(st.largest_free_run, 180 - 60 - 1);
	ck_assert_uint_eq(st.policy, NUMBALLOC_LOWEST);
	ck_assert_uint_eq(st.flags, 0);
	numballoc_close(p);
}
END_TEST

START_TEST(test_bad_arguments)
{
	struct numballoc_opts o = { .capacity = 10 };
	struct numballoc *p = NULL, *q = private_pool(10, 0, 0);
	struct numballoc_stat st;
	uint64_t id;

	ck_assert_int_eq(numballoc_open(NULL, &o, NULL), -EINVAL);
	o.reserved[3] = 1;
	ck_assert_int_eq(numballoc_open(NULL, &o, &p), -EINVAL);
	o.reserved[3] = 0;
	o.reserved_u[1] = 1;
	ck_assert_int_eq(numballoc_open(NULL, &o, &p), -EINVAL);
	o.reserved_u[1] = 0;
	o.policy = 3;
	ck_assert_int_eq(numballoc_open(NULL, &o, &p), -EINVAL);
	o.policy = 0;
	o.flags = 0x100;
	ck_assert_int_eq(numballoc_open(NULL, &o, &p), -EINVAL);
	o.flags = 0;
	o.capacity = 0;
	ck_assert_int_eq(numballoc_open(NULL, &o, &p), -EINVAL);
	o.capacity = NUMBALLOC_CAPACITY_MAX + 1;
	ck_assert_int_eq(numballoc_open(NULL, &o, &p), -EINVAL);
	o.capacity = 10;
	o.base = UINT64_MAX - 8;
	ck_assert_int_eq(numballoc_open(NULL, &o, &p), -EINVAL);
	o.base = UINT64_MAX - 9;	/* the last ID is UINT64_MAX: fits */
	ck_assert_int_eq(numballoc_open(NULL, &o, &p), 0);
	ck_assert_int_eq(numballoc_alloc_id(p, UINT64_MAX), 0);
	ck_assert_int_eq(numballoc_alloc_in(p, 0, UINT64_MAX, &id), 0);
	ck_assert_uint_eq(id, UINT64_MAX - 9);
	numballoc_close(p);
	p = NULL;
	o.base = 0;
	o.path = "/tmp/x";
	ck_assert_int_eq(numballoc_open("name", &o, &p), -EINVAL);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(numballoc_alloc(NULL, &id), -EINVAL);
	ck_assert_int_eq(numballoc_alloc(q, NULL), -EINVAL);
	ck_assert_int_eq(numballoc_alloc_in(NULL, 0, 1, &id), -EINVAL);
	ck_assert_int_eq(numballoc_alloc_in(q, 0, 1, NULL), -EINVAL);
	ck_assert_int_eq(numballoc_alloc_id(NULL, 1), -EINVAL);
	ck_assert_int_eq(numballoc_alloc_block(NULL, 1, 1, &id), -EINVAL);
	ck_assert_int_eq(numballoc_alloc_block(q, 1, 1, NULL), -EINVAL);
	ck_assert_int_eq(numballoc_free(NULL, 1), -EINVAL);
	ck_assert_int_eq(numballoc_free_block(NULL, 1, 1), -EINVAL);
	ck_assert_int_eq(numballoc_test(NULL, 1), -EINVAL);
	ck_assert_int_eq(numballoc_next(NULL, 1, &id), -EINVAL);
	ck_assert_int_eq(numballoc_next(q, 1, NULL), -EINVAL);
	ck_assert_int_eq(numballoc_stat(NULL, &st), -EINVAL);
	ck_assert_int_eq(numballoc_stat(q, NULL), -EINVAL);
	ck_assert_int_eq(numballoc_close(NULL), 0);
	ck_assert_uint_eq(used(q), 0);
	numballoc_close(q);
}
END_TEST

START_TEST(test_strerror)
{
	static const int errs[] = { EINVAL, ENOSPC, EEXIST, ENOENT, NUMBALLOC_ECORRUPT,
				    NUMBALLOC_EVERSION, NUMBALLOC_EKIND };
	size_t i, j;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		const char *a = numballoc_strerror(-errs[i]);

		ck_assert_ptr_nonnull(a);
		ck_assert_str_eq(a, numballoc_strerror(errs[i]));
		for (j = 0; j < i; j++)
			ck_assert_str_ne(a, numballoc_strerror(-errs[j]));
	}
	ck_assert_ptr_nonnull(numballoc_strerror(-EACCES));
	ck_assert_ptr_nonnull(numballoc_strerror(-123456));
	ck_assert_ptr_nonnull(numballoc_strerror(0));
}
END_TEST

#ifndef NB_TEST_REDIS
/* 2^32 IDs: the top of the range is reachable and exact. */
START_TEST(test_large_capacity)
{
	uint64_t cap = UINT64_C(1) << 32, id;
	struct numballoc *p = private_pool(cap, 7, NUMBALLOC_LOWEST);

	ck_assert_int_eq(numballoc_alloc_id(p, 7 + cap - 1), 0);
	ck_assert_int_eq(numballoc_alloc_in(p, cap - 2, UINT64_MAX, &id), 0);
	ck_assert_uint_eq(id, cap - 2);
	ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_uint_eq(id, 7);
	ck_assert_int_eq(numballoc_next(p, 8, &id), 0);
	ck_assert_uint_eq(id, cap - 2);
	ck_assert_int_eq(numballoc_alloc_block(p, 128, 64, &id), 0);
	ck_assert_uint_eq(id, 7 + 64);
	ck_assert_int_eq(numballoc_free(p, 7 + cap - 1), 0);
	ck_assert_uint_eq(used(p), 2 + 128);
	numballoc_close(p);
}
END_TEST
#endif

/* Threads of one process share a handle: no ID handed to two of them. */
struct tshare {
	struct numballoc *p;
	int *witness;
	int bad;
	unsigned int seed;
};

static void *share_thread(void *arg)
{
	struct tshare *t = arg;
	uint64_t s = __atomic_add_fetch(&t->seed, 104729, __ATOMIC_RELAXED), held[16], id;
	int n = 0, i;

#ifdef NB_TEST_REDIS
	for (i = 0; i < 2000; i++) {	/* a round trip each */
#else
	for (i = 0; i < 50000; i++) {
#endif
		if (n < 16 && tu_rand(&s) % 2) {
			if (numballoc_alloc(t->p, &id) == 0) {
				if (__atomic_exchange_n(&t->witness[id], 1, __ATOMIC_SEQ_CST))
					__atomic_store_n(&t->bad, 1, __ATOMIC_SEQ_CST);
				held[n++] = id;
			}
		} else if (n) {
			id = held[--n];
			__atomic_store_n(&t->witness[id], 0, __ATOMIC_SEQ_CST);
			if (numballoc_free(t->p, id))
				__atomic_store_n(&t->bad, 1, __ATOMIC_SEQ_CST);
		}
	}
	while (n) {
		id = held[--n];
		__atomic_store_n(&t->witness[id], 0, __ATOMIC_SEQ_CST);
		numballoc_free(t->p, id);
	}
	return NULL;
}

START_TEST(test_threads_share_handle)
{
	struct tshare t = { .p = private_pool(40, 0, _i), .seed = 3 };
	pthread_t th[4];
	int i;

	t.witness = calloc(40, sizeof(int));
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, share_thread, &t), 0);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(t.bad, 0);
	ck_assert_uint_eq(used(t.p), 0);
	free(t.witness);
	numballoc_close(t.p);
}
END_TEST

#ifndef NB_TEST_REDIS
/*
 * CYCLIC on a packed pool (issue 20's windows, idpool.c): one handle in
 * one thread gets exactly the IDs of a single cursor. A model keeps that
 * cursor: an allocation takes the first free ID at or after it, wrapping;
 * alloc_in the first in its range from it (from the range's bottom when
 * the cursor is outside), and the cursor goes after the ID; alloc_id and
 * frees never move it. Random frees land ahead of the thread's place in
 * its window and behind it, and the run goes round the pool several times.
 */
#define CYC_CAP 9000
#define CYC_BASE 7

static uint64_t cyc_model(const char *held, uint64_t *cursor, uint64_t lo, uint64_t hi)
{
	uint64_t start = *cursor < lo || *cursor > hi ? lo : *cursor, k, b;

	for (k = 0; k <= hi - lo; k++) {
		b = start + k <= hi ? start + k : start + k - (hi - lo + 1);
		if (!held[b]) {
			*cursor = b + 1 < CYC_CAP ? b + 1 : 0;
			return b;
		}
	}
	return UINT64_MAX;
}

START_TEST(test_cyclic_one_handle_order)
{
	struct numballoc *p = private_pool(CYC_CAP, CYC_BASE, NUMBALLOC_CYCLIC);
	char *held = calloc(CYC_CAP, 1);
	uint64_t s = 2024 + (uint64_t)_i, cursor = 0, id, want, lo, hi, k, nheld = 0;
	int i, r;

	ck_assert_ptr_nonnull(held);
	/* a fill to start from: most of the pool, so that windows meet held IDs */
	for (k = 0; k < CYC_CAP * 3 / 4; k++) {
		id = tu_rand(&s) % CYC_CAP;
		if (!held[id]) {
			ck_assert_int_eq(numballoc_alloc_id(p, CYC_BASE + id), 0);
			held[id] = 1;
			nheld++;
		}
	}
	for (i = 0; i < 200000; i++) {
		uint64_t dice = tu_rand(&s) % 100;

		if (dice < 48 || nheld == 0) {
			want = cyc_model(held, &cursor, 0, CYC_CAP - 1);
			r = numballoc_alloc(p, &id);
		} else if (dice < 52) {
			lo = tu_rand(&s) % CYC_CAP;
			hi = lo + tu_rand(&s) % (CYC_CAP - lo);
			want = cyc_model(held, &cursor, lo, hi);
			r = numballoc_alloc_in(p, CYC_BASE + lo, CYC_BASE + hi, &id);
		} else if (dice < 53) {
			want = tu_rand(&s) % CYC_CAP;
			ck_assert_int_eq(numballoc_alloc_id(p, CYC_BASE + want),
					 held[want] ? -EEXIST : 0);
			nheld += !held[want];
			held[want] = 1;
			continue;
		} else {
			/* a free: often just ahead of the cursor, inside the window */
			id = dice < 70 ? (cursor + tu_rand(&s) % 64) % CYC_CAP : tu_rand(&s) % CYC_CAP;
			ck_assert_int_eq(numballoc_free(p, CYC_BASE + id), held[id] ? 0 : -ENOENT);
			nheld -= held[id];
			held[id] = 0;
			continue;
		}
		if (want == UINT64_MAX) {
			ck_assert_int_eq(r, -ENOSPC);
			continue;
		}
		ck_assert_int_eq(r, 0);
		ck_assert_uint_eq(id, CYC_BASE + want);
		held[want] = 1;
		nheld++;
	}
	/* to the last ID: the pool's order is the model's to the end */
	while ((want = cyc_model(held, &cursor, 0, CYC_CAP - 1)) != UINT64_MAX) {
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
		ck_assert_uint_eq(id, CYC_BASE + want);
		held[want] = 1;
	}
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	free(held);
	numballoc_close(p);
}
END_TEST
#endif

/*
 * issue 20, session 6: numballoc_free() checks the range and the inline
 * part (every word but the last) with one compare. Every ID of pools of
 * 4097, 4159, 4160 and 4161 IDs (packed, so fast: one bit past a word, a
 * padded last word, a full last word) and of 64 IDs (spaced: never fast)
 * is allocated and freed, the last word's too; a free of an ID not held
 * is -ENOENT on either side of the edge, and the IDs just outside the pool
 * and the last word's padding are -EINVAL and change nothing. Loop over
 * policy x size.
 */
START_TEST(test_free_edges)
{
	static const uint64_t caps[] = { 64, 4097, 4159, 4160, 4161 };
	uint64_t cap = caps[_i % 5], base = 1000, id, i;
	struct numballoc *p = private_pool(cap, base, (unsigned int)(_i / 5));

	for (i = 0; i < cap; i++)
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	ck_assert_int_eq(numballoc_free(p, base - 1), -EINVAL);
	ck_assert_int_eq(numballoc_free(p, base + cap), -EINVAL);
	ck_assert_int_eq(numballoc_free(p, base + (cap + 63) / 64 * 64 - 1), cap % 64 ? -EINVAL : 0);
	ck_assert_int_eq(numballoc_free(p, UINT64_MAX), -EINVAL);
	ck_assert_uint_eq(used(p), cap % 64 ? cap : cap - 1);
	for (i = 0; i < cap; i++)
		ck_assert_int_eq(numballoc_free(p, base + i), cap % 64 || i != cap - 1 ? 0 : -ENOENT);
	ck_assert_uint_eq(used(p), 0);
	ck_assert_int_eq(numballoc_free(p, base + cap - 1), -ENOENT);
	ck_assert_int_eq(numballoc_free(p, base), -ENOENT);
	ck_assert_int_eq(numballoc_free(p, base + cap), -EINVAL);
	for (i = 0; i < cap; i++)
		ck_assert_int_eq(numballoc_alloc(p, &id), 0);
	ck_assert_int_eq(numballoc_alloc(p, &id), -ENOSPC);
	ck_assert_int_eq(numballoc_close(p), 0);
}
END_TEST

static Suite *idpool_suite(void)
{
	Suite *s = suite_create("idpool");
	TCase *tc = tcase_create("api");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_lowest_sequence);
	tcase_add_test(tc, test_cyclic_reuses_late);
	tcase_add_test(tc, test_spread_fills_all);
#ifdef NB_TEST_REDIS
	/* a pool in Redis starts its search at the ID freed last (numballoc_alloc(3)) */
	tcase_add_test(tc, test_spread_follows_free);
#else
	tcase_add_loop_test(tc, test_spread_order, 0, 3);
#endif
	tcase_add_loop_test(tc, test_alloc_in, NUMBALLOC_LOWEST, NUMBALLOC_SPREAD + 1);
	tcase_add_test(tc, test_alloc_id);
	tcase_add_loop_test(tc, test_free_edges, 5 * NUMBALLOC_LOWEST, 5 * (NUMBALLOC_SPREAD + 1));
	tcase_add_test(tc, test_blocks);
	tcase_add_test(tc, test_next_and_stat);
	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_strerror);
#ifndef NB_TEST_REDIS
	/* Redis holds at most 2^32 bits in a string: a 512 MiB pool is no unit test */
	tcase_add_test(tc, test_large_capacity);
#endif
	tcase_add_loop_test(tc, test_threads_share_handle, NUMBALLOC_LOWEST, NUMBALLOC_SPREAD + 1);
#ifndef NB_TEST_REDIS
	tcase_add_loop_test(tc, test_cyclic_one_handle_order, 0, 2);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
#ifdef NB_TEST_REDIS
	return rf_main(&server, "--appendonly no", idpool_suite());
#else
	return tu_run(idpool_suite());
#endif
}
