/* SPDX-License-Identifier: MIT */
/*
 * check_buffer.c - the offset buffer allocator: pyglet's allocator test
 * scenarios, a model test against a plain array (every statistic after
 * every step), bad inputs, threads and forked processes with a witness,
 * and growth while others allocate. Every test runs twice: with the
 * default placement (chunks of the handle's own) and with
 * NUMBALLOC_BUF_FIRST_FIT. The reference knows the mode: in first fit an
 * allocation must be the lowest fit; by default anywhere that was free;
 * and in both -ENOSPC exactly when no free range of that size exists.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "numballoc.h"
#include "segment.h"	/* only for the offset of the capacity word */
#include "testutil.h"

/* ------------------------------------------------------------ reference */

/* The mode of this test case: 0 or NUMBALLOC_BUF_FIRST_FIT (set by its fixture). */
static unsigned int mode;

static void mode_first_fit(void)
{
	mode = NUMBALLOC_BUF_FIRST_FIT;
}

static void mode_chunks(void)
{
	mode = 0;
}

/* A placement that only first fit promises. */
#define FF_EQ(x, y)                                  \
	do {                                         \
		uint64_t ff_x_ = (x);                \
                                                     \
		if (mode)                            \
			ck_assert_uint_eq(ff_x_, y); \
	} while (0)

/* The plain reference: one bool per unit, and the same operations. */
struct ref {
	bool *used;
	uint64_t cap;
};

static void ref_new(struct ref *r, uint64_t cap)
{
	r->used = calloc(cap, sizeof(bool));
	ck_assert_ptr_nonnull(r->used);
	r->cap = cap;
}

static void ref_grow(struct ref *r, uint64_t cap)
{
	r->used = realloc(r->used, cap * sizeof(bool));
	ck_assert_ptr_nonnull(r->used);
	memset(r->used + r->cap, 0, (cap - r->cap) * sizeof(bool));
	r->cap = cap;
}

static void ref_set(struct ref *r, uint64_t s, uint64_t n, bool v)
{
	uint64_t i;

	for (i = s; i < s + n; i++)
		r->used[i] = v;
}

static bool ref_all(const struct ref *r, uint64_t s, uint64_t n, bool v)
{
	uint64_t i;

	if (s > r->cap || n > r->cap - s)
		return false;
	for (i = s; i < s + n; i++)
		if (r->used[i] != v)
			return false;
	return true;
}

/* First fit, or UINT64_MAX. */
static uint64_t ref_fit(const struct ref *r, uint64_t n)
{
	uint64_t s;

	for (s = 0; s + n <= r->cap; s++)
		if (ref_all(r, s, n, false))
			return s;
	return UINT64_MAX;
}

/* Every statistic and every region of B against R (unit 1). */
static void ref_compare(struct numballoc_buf *b, const struct ref *r)
{
	struct numballoc_buf_stat st;
	uint64_t starts[512], sizes[512], i, free = 0, run = 0, best = 0, final = 0;
	size_t n, k = 0;

	ck_assert_int_eq(numballoc_buf_stat(b, &st), 0);
	ck_assert_int_eq(numballoc_buf_regions(b, starts, sizes, 512, &n), 0);
	for (i = 0; i < r->cap; i++) {
		if (r->used[i]) {
			run = 0;
			if (i == 0 || !r->used[i - 1]) {
				ck_assert_uint_lt(k, n);
				if (k < 512)
					ck_assert_uint_eq(starts[k], i);
			}
			if (i + 1 == r->cap || !r->used[i + 1]) {
				if (k < 512)
					ck_assert_uint_eq(starts[k] + sizes[k], i + 1);
				k++;
			}
		} else {
			free++;
			run++;
			best = run > best ? run : best;
		}
	}
	for (i = r->cap; i > 0 && !r->used[i - 1]; i--)
		final++;
	ck_assert_uint_eq(n, k);
	ck_assert_uint_eq(st.capacity, r->cap);
	ck_assert_uint_eq(st.free_size, free);
	ck_assert_uint_eq(st.fragmented_free_size, free - final);
	ck_assert_uint_eq(st.largest_free, best);
	ck_assert_double_eq_tol(st.fragmentation, free ? (double)(free - final) / (double)free : 0.0,
				1e-12);
	ck_assert_double_eq_tol(st.usage, 1.0 - (double)free / (double)r->cap, 1e-12);
}

static struct numballoc_buf *buf_private(uint64_t cap)
{
	struct numballoc_buf_opts o = { .capacity = cap, .flags = mode };
	struct numballoc_buf *b = NULL;

	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b), 0);
	return b;
}

/* Allocate SIZE in both; assert the same answer. */
static uint64_t both_alloc(struct numballoc_buf *b, struct ref *r, uint64_t size)
{
	uint64_t want = ref_fit(r, size), got = 12345;
	int ret = numballoc_buf_alloc(b, size, &got);

	if (want == UINT64_MAX) {
		ck_assert_int_eq(ret, -ENOSPC);
		ck_assert_uint_eq(got, 12345);
		return UINT64_MAX;
	}
	ck_assert_int_eq(ret, 0);
	if (mode)
		ck_assert_uint_eq(got, want);
	else
		ck_assert(ref_all(r, got, size, false));	/* anywhere that was free */
	ref_set(r, got, size, true);
	return got;
}

static void both_dealloc(struct numballoc_buf *b, struct ref *r, uint64_t s, uint64_t n)
{
	ck_assert_int_eq(numballoc_buf_dealloc(b, s, n), ref_all(r, s, n, true) ? 0 : -ENOENT);
	ref_set(r, s, n, false);
}

/* ------------------------------------------------- pyglet's scenarios */

/* Allocation sequences of one size: back to back, then full, then needed. */
START_TEST(test_alloc_sequence)
{
	static const uint64_t size[] = { 1, 2, 3 };
	uint64_t k = size[_i], i, start, need;
	struct numballoc_buf *b = buf_private(30);
	struct ref r;

	ref_new(&r, 30);
	for (i = 0; i < 30 / k; i++) {
		ck_assert_int_eq(numballoc_buf_alloc(b, k, &start), 0);
		ck_assert_uint_eq(start, i * k);
		ref_set(&r, start, k, true);
		ref_compare(b, &r);
	}
	ck_assert_int_eq(numballoc_buf_alloc(b, k, &start), -ENOSPC);
	ck_assert_int_eq(numballoc_buf_needed(b, k, &need), 0);
	ck_assert_uint_eq(need, 30 + k);
	ref_compare(b, &r);
	numballoc_buf_close(b);
	free(r.used);
}
END_TEST

/* Mixes of sizes (1,2 and 5,3,7) cycled until the buffer is full. */
START_TEST(test_alloc_mix)
{
	static const uint64_t mix[2][3] = { { 1, 2, 0 }, { 5, 3, 7 } };
	const uint64_t *m = mix[_i];
	int nm = _i == 0 ? 2 : 3, j;
	uint64_t pos = 0, start;
	struct numballoc_buf *b = buf_private(100);
	struct ref r;

	ref_new(&r, 100);
	for (j = 0;; j++) {
		uint64_t k = m[j % nm];

		if (pos + k > 100) {
			ck_assert_int_eq(numballoc_buf_alloc(b, k, &start), -ENOSPC);
			break;
		}
		ck_assert_uint_eq(both_alloc(b, &r, k), pos);
		pos += k;
		ref_compare(b, &r);
	}
	numballoc_buf_close(b);
	free(r.used);
}
END_TEST

/* Dealloc in order (0), in reverse (1) and out of order (2), for each mix. */
START_TEST(test_dealloc_orders)
{
	static const uint64_t sizes[] = { 1, 2, 5, 3, 7, 1, 4, 2, 6, 3, 3, 8 };
	int order = _i % 3, n = 12, i;
	uint64_t st[12], sz[12], s = 77 + (uint64_t)_i;
	int perm[12];
	struct numballoc_buf *b = buf_private(64);
	struct ref r;

	ref_new(&r, 64);
	for (i = 0; i < n; i++) {
		sz[i] = sizes[(i + _i / 3) % n];
		st[i] = both_alloc(b, &r, sz[i]);
		perm[i] = order == 1 ? n - 1 - i : i;
	}
	if (order == 2)
		for (i = n - 1; i > 0; i--) {
			int j = (int)(tu_rand(&s) % (uint64_t)(i + 1)), t = perm[i];

			perm[i] = perm[j];
			perm[j] = t;
		}
	for (i = 0; i < n; i++) {
		both_dealloc(b, &r, st[perm[i]], sz[perm[i]]);
		ref_compare(b, &r);
		/* the second time it is not allocated */
		ck_assert_int_eq(numballoc_buf_dealloc(b, st[perm[i]], sz[perm[i]]), -ENOENT);
	}
	numballoc_buf_close(b);
	free(r.used);
}
END_TEST

/* Mixed alloc and dealloc, including parts of allocations, as pyglet allows. */
START_TEST(test_mixed_alloc_dealloc)
{
	struct numballoc_buf *b = buf_private(50);
	struct ref r;
	uint64_t a, c, d;

	ref_new(&r, 50);
	a = both_alloc(b, &r, 10);
	c = both_alloc(b, &r, 10);
	d = both_alloc(b, &r, 10);
	both_dealloc(b, &r, c + 3, 4);	/* a hole inside: regions split */
	ref_compare(b, &r);
	FF_EQ(both_alloc(b, &r, 4), c + 3);	/* the hole again, exactly */
	both_dealloc(b, &r, a, 5);	/* the head of one */
	both_dealloc(b, &r, d + 6, 4);	/* the tail of another */
	ref_compare(b, &r);
	FF_EQ(both_alloc(b, &r, 5), 0);	/* a leading gap of exactly 5: pyglet refuses */
	both_alloc(b, &r, 3);
	both_alloc(b, &r, 30);
	ref_compare(b, &r);
	numballoc_buf_close(b);
	free(r.used);
}
END_TEST

static uint64_t realloc_ok(struct numballoc_buf *b, struct ref *r, uint64_t s, uint64_t n,
			   uint64_t nn)
{
	uint64_t ns = 999;

	ck_assert_int_eq(numballoc_buf_realloc(b, s, n, nn, &ns), 0);
	if (ns != s)	/* moved: the new range was free, and is disjoint from the old */
		ck_assert(ns + nn <= s || s + n <= ns);
	ref_set(r, s, n, false);
	ck_assert(ref_all(r, ns, nn, false));
	ref_set(r, ns, nn, true);
	ref_compare(b, r);
	return ns;
}

/* Realloc sequences of one region: 1->2, 2->1, 2->1->2, 3,1,5,4,6. */
START_TEST(test_realloc_sequences)
{
	static const uint64_t seq[][6] = {
		{ 1, 2 }, { 2, 1 }, { 2, 1, 2 }, { 3, 1, 5, 4, 6 },
	};
	static const int len[] = { 2, 2, 3, 5 };
	struct numballoc_buf *b = buf_private(40);
	uint64_t s, other;
	struct ref r;
	int i;

	ref_new(&r, 40);
	s = both_alloc(b, &r, seq[_i][0]);
	for (i = 1; i < len[_i]; i++) {
		s = realloc_ok(b, &r, s, seq[_i][i - 1], seq[_i][i]);
		ck_assert_uint_eq(s, 0);	/* alone at the bottom: always in place */
	}
	/* with a neighbour right after: growth must move, shrink stays */
	other = both_alloc(b, &r, 4);
	s = realloc_ok(b, &r, s, seq[_i][len[_i] - 1], seq[_i][len[_i] - 1] + 2);
	FF_EQ(s, other + 4);
	numballoc_buf_close(b);
	free(r.used);
}
END_TEST

/* Sequential: allocate N back to back, then grow each in turn (each moves). */
START_TEST(test_realloc_sequential)
{
	struct numballoc_buf *b = buf_private(200);
	uint64_t st[8], i;
	struct ref r;

	ref_new(&r, 200);
	for (i = 0; i < 8; i++)
		st[i] = both_alloc(b, &r, 1 + i);
	for (i = 0; i < 8; i++) {
		uint64_t ns = realloc_ok(b, &r, st[i], 1 + i, 2 + 2 * i);

		if (i < 7)
			ck_assert_uint_ne(ns, st[i]);
		st[i] = ns;
	}
	for (i = 0; i < 8; i++)	/* and back down, in place */
		ck_assert_uint_eq(realloc_ok(b, &r, st[i], 2 + 2 * i, 1), st[i]);
	numballoc_buf_close(b);
	free(r.used);
}
END_TEST

/* Resize after a failed allocation: grow to what needed says, retry, succeed. */
START_TEST(test_resize_after_fail)
{
	struct numballoc_buf *b = buf_private(10);
	uint64_t s, need, k;
	struct ref r;

	ref_new(&r, 10);
	both_alloc(b, &r, 4);
	both_alloc(b, &r, 4);
	both_dealloc(b, &r, 0, 4);	/* a hole of 4 before; the end has 2 */
	for (k = 5; k < 9; k++) {
		ck_assert_int_eq(numballoc_buf_alloc(b, k, &s), -ENOSPC);
		ck_assert_int_eq(numballoc_buf_needed(b, k, &need), 0);
		ck_assert_uint_eq(need, 8 + k);	/* end of the last region + size */
		ck_assert_int_eq(numballoc_buf_set_capacity(b, need), 0);
		ref_grow(&r, need);
		ck_assert_uint_eq(both_alloc(b, &r, k), need - k);
		ref_compare(b, &r);
		both_dealloc(b, &r, need - k, k);
		ck_assert_int_eq(numballoc_buf_needed(b, k, &need), 0);
		ck_assert_uint_eq(need, 8 + k);
	}
	numballoc_buf_close(b);
	free(r.used);
}
END_TEST

/* The faults of pyglet that numballoc does not have. */
START_TEST(test_pyglet_faults_fixed)
{
	struct numballoc_buf *b = buf_private(20);
	struct numballoc_buf_stat st;
	uint64_t s;
	struct ref r;

	ref_new(&r, 20);
	both_alloc(b, &r, 5);
	both_alloc(b, &r, 5);
	both_dealloc(b, &r, 0, 5);
	/* the free size counts the leading gap: 5 + 10 */
	ck_assert_int_eq(numballoc_buf_stat(b, &st), 0);
	ck_assert_uint_eq(st.free_size, 15);
	ck_assert_uint_eq(st.fragmented_free_size, 5);
	ref_compare(b, &r);
	/* a leading gap of exactly the size asked for is used (first fit) */
	FF_EQ(both_alloc(b, &r, 5), 0);
	ref_compare(b, &r);
	numballoc_buf_close(b);
	/* growth in place up to exactly the end of the capacity */
	b = buf_private(20);
	memset(r.used, 0, 20 * sizeof(bool));
	ck_assert_uint_eq(both_alloc(b, &r, 20), 0);	/* the only fit */
	both_dealloc(b, &r, 0, 5);
	both_dealloc(b, &r, 10, 10);
	ck_assert_int_eq(numballoc_buf_realloc(b, 5, 5, 15, &s), 0);
	ck_assert_uint_eq(s, 5);
	ref_set(&r, 10, 10, true);
	ref_compare(b, &r);
	ck_assert_uint_eq(both_alloc(b, &r, 5), 0);	/* the only fit */
	ck_assert_int_eq(numballoc_buf_alloc(b, 1, &s), -ENOSPC);
	numballoc_buf_close(b);
	free(r.used);
}
END_TEST

/* Sizes and offsets in bytes with a unit of 16: rounded up to whole units. */
START_TEST(test_unit)
{
	struct numballoc_buf_opts o = { .capacity = 160, .unit = 16, .flags = mode };
	struct numballoc_buf_stat st;
	struct numballoc_buf *b;
	uint64_t s, starts[4], sizes[4];
	size_t n;

	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b), 0);
	ck_assert_int_eq(numballoc_buf_alloc(b, 17, &s), 0);	/* 2 units */
	ck_assert_uint_eq(s, 0);
	ck_assert_int_eq(numballoc_buf_alloc(b, 16, &s), 0);
	ck_assert_uint_eq(s, 32);
	ck_assert_int_eq(numballoc_buf_dealloc(b, 8, 16), -EINVAL);	/* not unit-aligned */
	ck_assert_int_eq(numballoc_buf_regions(b, starts, sizes, 4, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(starts[0], 0);
	ck_assert_uint_eq(sizes[0], 48);
	ck_assert_int_eq(numballoc_buf_stat(b, &st), 0);
	ck_assert_uint_eq(st.capacity, 160);
	ck_assert_uint_eq(st.unit, 16);
	ck_assert_uint_eq(st.free_size, 112);
	ck_assert_int_eq(numballoc_buf_needed(b, 1, &s), 0);
	ck_assert_uint_eq(s, 64);
	ck_assert_int_eq(numballoc_buf_set_capacity(b, 170), -EINVAL);
	ck_assert_int_eq(numballoc_buf_set_capacity(b, 176), 0);
	numballoc_buf_close(b);
	o.capacity = 100;	/* not a multiple of the unit */
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b), -EINVAL);
}
END_TEST

struct held {
	uint64_t s, n;
};

/* Random operations on the allocator and the reference, compared after every step. */
START_TEST(test_model)
{
	static const uint64_t caps[] = { 1, 63, 64, 65, 200, 1000 };
	uint64_t cap = caps[_i], rs = 0xbeef + (uint64_t)_i, step, got;
	struct numballoc_buf_opts o = { .capacity = cap, .max_capacity = 4 * cap + 100,
					.flags = mode };
	struct numballoc_buf *b;
	struct held h[64];
	struct ref r;
	int nh = 0;

	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b), 0);
	ref_new(&r, cap);
	for (step = 0; step < 1500; step++) {
		uint64_t op = tu_rand(&rs) % 10, k = 1 + tu_rand(&rs) % 40;
		int i = nh ? (int)(tu_rand(&rs) % (uint64_t)nh) : -1;

		if (op < 4 && nh < 64) {
			got = both_alloc(b, &r, k);
			if (got != UINT64_MAX)
				h[nh++] = (struct held){ got, k };
		} else if (op < 6 && i >= 0) {	/* free the whole, or its head */
			uint64_t part = h[i].n > 1 && (tu_rand(&rs) & 1) ? h[i].n / 2 : h[i].n;

			both_dealloc(b, &r, h[i].s, part);
			h[i].s += part;
			h[i].n -= part;
			if (!h[i].n)
				h[i] = h[--nh];
		} else if (op == 6) {	/* any range: freed only if all allocated */
			uint64_t s0 = tu_rand(&rs) % r.cap, n0 = 1 + tu_rand(&rs) % 8;

			if (n0 <= r.cap - s0 && !ref_all(&r, s0, n0, true))
				ck_assert_int_eq(numballoc_buf_dealloc(b, s0, n0), -ENOENT);
		} else if (op < 9 && i >= 0) {	/* realloc, by the documented rule */
			uint64_t s0 = h[i].s, n0 = h[i].n, nn = 1 + tu_rand(&rs) % 40, want;
			int ret;

			if (nn <= n0 || ref_all(&r, s0 + n0, nn - n0, false)) {
				want = s0;
			} else {
				want = ref_fit(&r, nn);
			}
			ret = numballoc_buf_realloc(b, s0, n0, nn, &got);
			if (want == UINT64_MAX) {
				ck_assert_int_eq(ret, -ENOSPC);
			} else {
				ck_assert_int_eq(ret, 0);
				if (mode || want == s0)
					ck_assert_uint_eq(got, want);
				else	/* moved: anywhere that was free, apart from the old */
					ck_assert(ref_all(&r, got, nn, false));
				ref_set(&r, s0, n0, false);
				ref_set(&r, got, nn, true);
				h[i] = (struct held){ got, nn };
			}
		} else if (op == 9 && r.cap < o.max_capacity && (tu_rand(&rs) % 8) == 0) {
			uint64_t nc = r.cap + 1 + tu_rand(&rs) % (o.max_capacity - r.cap);

			ck_assert_int_eq(numballoc_buf_set_capacity(b, nc), 0);
			ref_grow(&r, nc);
			ck_assert_int_eq(numballoc_buf_set_capacity(b, nc), -EINVAL);
		}
		ref_compare(b, &r);
	}
	numballoc_buf_close(b);
	free(r.used);
}
END_TEST

/* Bad inputs: each returns its error and changes nothing. */
START_TEST(test_bad_inputs)
{
	struct numballoc_buf_opts o = { .capacity = 100, .max_capacity = 200, .flags = mode };
	struct numballoc_buf *b, *b2 = NULL;
	struct ref r;
	uint64_t s;
	size_t n;

	ck_assert_int_eq(numballoc_buf_open(NULL, &o, NULL), -EINVAL);
	o.reserved[2] = 1;
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b2), -EINVAL);
	o.reserved[2] = 0;
	o.reserved_u[0] = 1;
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b2), -EINVAL);
	o.reserved_u[0] = 0;
	o.flags = 0x80;
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b2), -EINVAL);
	o.flags = mode;
	o.max_capacity = 50;	/* below the capacity */
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b2), -EINVAL);
	o.max_capacity = 200;
	o.capacity = 0;
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b2), -EINVAL);
	o.capacity = NUMBALLOC_CAPACITY_MAX + 1;
	o.max_capacity = 0;
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b2), -EINVAL);
	ck_assert_ptr_null(b2);
	o.capacity = 100;
	o.max_capacity = 200;
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b), 0);
	ref_new(&r, 100);
	both_alloc(b, &r, 10);
	both_alloc(b, &r, 20);
	both_dealloc(b, &r, 3, 2);
	ck_assert_int_eq(numballoc_buf_alloc(b, 101, &s), -ENOSPC);
	ck_assert_int_eq(numballoc_buf_alloc(b, UINT64_MAX, &s), -ENOSPC);
	ck_assert_int_eq(numballoc_buf_alloc(b, 1, NULL), -EINVAL);
	ck_assert_int_eq(numballoc_buf_alloc(NULL, 1, &s), -EINVAL);
	ck_assert_int_eq(numballoc_buf_dealloc(b, 2, 3), -ENOENT);	/* 3, 4 are free */
	ck_assert_int_eq(numballoc_buf_dealloc(b, 25, 10), -ENOENT);	/* runs past the end */
	ck_assert_int_eq(numballoc_buf_dealloc(b, 90, 20), -EINVAL);	/* past the capacity */
	ck_assert_int_eq(numballoc_buf_dealloc(b, UINT64_MAX, 2), -EINVAL);
	ck_assert_int_eq(numballoc_buf_dealloc(b, 5, UINT64_MAX), -EINVAL);
	ck_assert_int_eq(numballoc_buf_realloc(b, 0, 5, 8, &s), -ENOENT);	/* 3, 4 free */
	ck_assert_int_eq(numballoc_buf_realloc(b, 10, 20, 200, &s), -ENOSPC);
	ck_assert_int_eq(numballoc_buf_realloc(b, 10, 20, 91, &s), -ENOSPC);
	ck_assert_int_eq(numballoc_buf_realloc(b, 10, 20, 5, NULL), -EINVAL);
	ck_assert_int_eq(numballoc_buf_regions(b, NULL, NULL, 4, &n), -EINVAL);
	ck_assert_int_eq(numballoc_buf_regions(b, NULL, NULL, 0, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(numballoc_buf_stat(b, NULL), -EINVAL);
	ck_assert_int_eq(numballoc_buf_needed(b, 1, NULL), -EINVAL);
	ck_assert_int_eq(numballoc_buf_set_capacity(b, 100), -EINVAL);
	ck_assert_int_eq(numballoc_buf_set_capacity(b, 99), -EINVAL);
	ck_assert_int_eq(numballoc_buf_set_capacity(b, 201), -EINVAL);
	ck_assert_int_eq(numballoc_buf_set_capacity(NULL, 150), -EINVAL);
	ref_compare(b, &r);
	ck_assert_int_eq(numballoc_buf_alloc(b, 0, &s), 0);	/* size 0: start 0, nothing */
	ck_assert_uint_eq(s, 0);
	ck_assert_int_eq(numballoc_buf_dealloc(b, 77, 0), 0);
	ref_compare(b, &r);
	ck_assert_int_eq(numballoc_buf_close(NULL), 0);
	numballoc_buf_close(b);
	free(r.used);
}
END_TEST

/* Is there an object NAME in /dev/shm? */
static int shm_exists(const char *name)
{
	char path[300];

	snprintf(path, sizeof(path), "/dev/shm/%s", name[0] == '/' ? name + 1 : name);
	return access(path, F_OK) == 0;
}

/*
 * Units above 256 with the default growth limit (it was -EBADMSG, and the
 * object stayed); limits in bytes above NUMBALLOC_CAPACITY_MAX (-EINVAL);
 * and no failed open leaves an object behind.
 */
START_TEST(test_open_limits)
{
	const char *name = tu_name("buflimits");
	const char *path = tu_path("buflimits");
	struct numballoc_buf_opts o = { .capacity = 512 * 100, .unit = 512,
					.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL };
	struct numballoc_buf_stat st;
	struct numballoc_buf *b = NULL;
	uint64_t s;

	/* private and shared: the default limit is 2^40 bytes, not 2^32 units */
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b), 0);
	ck_assert_int_eq(numballoc_buf_stat(b, &st), 0);
	ck_assert_uint_eq(st.max_capacity, NUMBALLOC_CAPACITY_MAX);
	ck_assert_int_eq(numballoc_buf_alloc(b, 1000, &s), 0);
	numballoc_buf_close(b);
	ck_assert_int_eq(numballoc_buf_open(name, &o, &b), 0);
	ck_assert_int_eq(numballoc_buf_stat(b, &st), 0);
	ck_assert_uint_eq(st.max_capacity, NUMBALLOC_CAPACITY_MAX);
	ck_assert_int_eq(numballoc_buf_set_capacity(b, 512 * 200), 0);
	numballoc_buf_close(b);
	ck_assert_int_eq(numballoc_unlink(name), 0);
	/* a unit of 2^20 bytes: at most 2^20 units */
	o.unit = UINT64_C(1) << 20;
	o.capacity = o.unit * 16;
	ck_assert_int_eq(numballoc_buf_open(name, &o, &b), 0);
	ck_assert_int_eq(numballoc_buf_stat(b, &st), 0);
	ck_assert_uint_eq(st.max_capacity, NUMBALLOC_CAPACITY_MAX);
	ck_assert_int_eq(numballoc_buf_set_capacity(b, NUMBALLOC_CAPACITY_MAX + o.unit), -EINVAL);
	numballoc_buf_close(b);
	ck_assert_int_eq(numballoc_unlink(name), 0);
	/* explicit limits above 2^40 bytes: -EINVAL, and nothing made */
	b = NULL;
	o.unit = 1;
	o.capacity = 4096;
	o.max_capacity = NUMBALLOC_CAPACITY_MAX + 1;
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b), -EINVAL);
	ck_assert_int_eq(numballoc_buf_open(name, &o, &b), -EINVAL);
	ck_assert(!shm_exists(name));
	o.unit = 4096;
	o.max_capacity = NUMBALLOC_CAPACITY_MAX + 4096;
	ck_assert_int_eq(numballoc_buf_open(name, &o, &b), -EINVAL);
	ck_assert(!shm_exists(name));
	o.max_capacity = 0;
	o.capacity = NUMBALLOC_CAPACITY_MAX + 4096;	/* the capacity itself */
	ck_assert_int_eq(numballoc_buf_open(name, &o, &b), -EINVAL);
	ck_assert(!shm_exists(name));
	o.unit = NUMBALLOC_CAPACITY_MAX * 2;	/* the unit itself */
	o.capacity = o.unit;
	ck_assert_int_eq(numballoc_buf_open(name, &o, &b), -EINVAL);
	ck_assert(!shm_exists(name));
	o.path = path;
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b), -EINVAL);
	ck_assert_int_eq(access(path, F_OK), -1);
	o.unit = 1;
	o.capacity = 4096;
	o.max_capacity = NUMBALLOC_CAPACITY_MAX + 1;
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b), -EINVAL);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_ptr_null(b);
}
END_TEST

/* ----------------------------------------------- concurrency and growth */

/*
 * A worker: random alloc/dealloc on B, each unit's holder tracked in WIT
 * (atomic exchange): a unit handed to two holders sets *BAD. Records the
 * highest end it was given in *TOP and counts operations in *PROGRESS.
 */
struct work {
	struct numballoc_buf *b;
	const char *name;	/* open this by name instead (a forked child) */
	int *wit;
	int *bad;
	uint64_t *top;
	uint64_t *progress;
	uint64_t seed;
	int ops;		/* at least this many operations ... */
	uint64_t *done;		/* ... and on until *done (at most 50 times as many) */
};

static void wit_mark(struct work *w, uint64_t s, uint64_t n, int v)
{
	uint64_t i;

	for (i = s; i < s + n; i++)
		if (__atomic_exchange_n(&w->wit[i], v, __ATOMIC_SEQ_CST) == v)
			__atomic_store_n(w->bad, 1, __ATOMIC_SEQ_CST);
}

static void work_run(struct work *w)
{
	struct held h[40];
	uint64_t rs = w->seed, s, top = 0;
	int nh = 0, i;

	for (i = 0; i < w->ops || (!__atomic_load_n(w->done, __ATOMIC_SEQ_CST) && i < 50 * w->ops);
	     i++) {
		uint64_t k = 1 + tu_rand(&rs) % 16;

		if (nh < 40 && (tu_rand(&rs) % 3)) {
			int r = numballoc_buf_alloc(w->b, k, &s);

			if (r == 0) {
				wit_mark(w, s, k, 1);
				h[nh++] = (struct held){ s, k };
				top = s + k > top ? s + k : top;
			} else if (r != -ENOSPC) {
				__atomic_store_n(w->bad, 2, __ATOMIC_SEQ_CST);
			}
		} else if (nh) {
			int j = (int)(tu_rand(&rs) % (uint64_t)nh);

			wit_mark(w, h[j].s, h[j].n, 0);
			if (numballoc_buf_dealloc(w->b, h[j].s, h[j].n) != 0)
				__atomic_store_n(w->bad, 3, __ATOMIC_SEQ_CST);
			h[j] = h[--nh];
		}
		__atomic_add_fetch(w->progress, 1, __ATOMIC_RELAXED);
	}
	while (nh--) {
		wit_mark(w, h[nh].s, h[nh].n, 0);
		if (numballoc_buf_dealloc(w->b, h[nh].s, h[nh].n) != 0)
			__atomic_store_n(w->bad, 3, __ATOMIC_SEQ_CST);
	}
	__atomic_fetch_or(w->top, 0, __ATOMIC_SEQ_CST);
	while (top > __atomic_load_n(w->top, __ATOMIC_SEQ_CST)) {
		uint64_t cur = __atomic_load_n(w->top, __ATOMIC_SEQ_CST);

		if (__atomic_compare_exchange_n(w->top, &cur, top, 0, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			break;
	}
}

static void *work_thread(void *arg)
{
	work_run(arg);
	return NULL;
}

/* Wait until *P reaches N, a bounded number of times. */
static void wait_progress(const uint64_t *p, uint64_t n)
{
	int i;

	for (i = 0; i < 200000 && __atomic_load_n(p, __ATOMIC_RELAXED) < n; i++)
		usleep(50);
}

static void check_empty(struct numballoc_buf *b, uint64_t cap)
{
	struct numballoc_buf_stat st;

	ck_assert_int_eq(numballoc_buf_stat(b, &st), 0);
	ck_assert_uint_eq(st.capacity, cap);
	ck_assert_uint_eq(st.free_size, cap);
	ck_assert_uint_eq(st.largest_free, cap);
}

/* Threads on one private buffer, with growth (_i = 1) or without (_i = 0). */
START_TEST(test_threads)
{
	struct numballoc_buf_opts o = { .capacity = 256, .max_capacity = 4096, .flags = mode };
	struct work w[3];
	pthread_t t[3];
	uint64_t top = 0, progress = 0, cap = 256, done = 0;
	int bad = 0, i, *wit = calloc(4096, sizeof(int));
	struct numballoc_buf *b;

	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b), 0);
	for (i = 0; i < 3; i++) {
		w[i] = (struct work){ b, NULL, wit, &bad, &top, &progress, 11 + (uint64_t)i, 20000,
				      &done };
		ck_assert_int_eq(pthread_create(&t[i], NULL, work_thread, &w[i]), 0);
	}
	while (_i && cap < 4096) {
		wait_progress(&progress, cap * 12);
		cap *= 2;
		ck_assert_int_eq(numballoc_buf_set_capacity(b, cap), 0);
	}
	/* some work in the final capacity */
	wait_progress(&progress, __atomic_load_n(&progress, __ATOMIC_RELAXED) + 3000);
	__atomic_store_n(&done, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(bad, 0);
	check_empty(b, cap);
	if (_i)	/* the grown space was handed out */
		ck_assert_uint_gt(top, 256);
	else
		ck_assert_uint_le(top, 256);
	numballoc_buf_close(b);
	free(wit);
}
END_TEST

/*
 * Forked processes on one shared buffer, each with its own handle, the
 * witness in shared memory; the parent grows it while they run (_i = 1).
 */
START_TEST(test_procs)
{
	const char *name = tu_name("bufprocs");
	struct numballoc_buf_opts o = { .capacity = 256, .max_capacity = 8192,
					.flags = NUMBALLOC_CREATE | mode };
	int *wit = tu_shared(8192 * sizeof(int));
	uint64_t *shm = tu_shared(4 * sizeof(uint64_t));	/* top, progress, bad, done */
	struct numballoc_buf *b, *late;
	uint64_t cap = 256;
	pid_t pid[3];
	int i;

	ck_assert_int_eq(numballoc_buf_open(name, &o, &b), 0);
	for (i = 0; i < 3; i++) {
		pid[i] = fork();
		ck_assert_int_ge(pid[i], 0);
		if (pid[i] == 0) {
			struct numballoc_buf_opts oc = { .flags = mode };
			struct work w = { NULL, name, wit, (int *)&shm[2], &shm[0], &shm[1],
					  101 + (uint64_t)i, 8000, &shm[3] };

			if (numballoc_buf_open(name, &oc, &w.b) != 0)
				_exit(1);
			work_run(&w);
			numballoc_buf_close(w.b);
			_exit(0);
		}
	}
	while (_i && cap < 8192) {
		wait_progress(&shm[1], cap * 3);
		cap *= 2;
		ck_assert_int_eq(numballoc_buf_set_capacity(b, cap), 0);
	}
	wait_progress(&shm[1], __atomic_load_n(&shm[1], __ATOMIC_RELAXED) + 3000);
	__atomic_store_n(&shm[3], 1, __ATOMIC_SEQ_CST);
	ck_assert_int_eq(tu_wait_all(pid, 3), 0);
	ck_assert_uint_eq(shm[2], 0);
	check_empty(b, cap);
	if (_i)
		ck_assert_uint_gt(shm[0], 256);
	/* a late opener maps the grown object */
	ck_assert_int_eq(numballoc_buf_open(name, NULL, &late), 0);
	check_empty(late, cap);
	numballoc_buf_close(late);
	numballoc_buf_close(b);
}
END_TEST

/* Growth of a shared buffer seen by a handle that was open before it. */
START_TEST(test_shared_growth)
{
	const char *name = tu_name("bufgrow");
	struct numballoc_buf_opts o = { .capacity = 100, .unit = 4, .max_capacity = 1 << 20,
					.flags = NUMBALLOC_CREATE | NUMBALLOC_EXCL | mode };
	struct numballoc_buf *a, *b;
	struct numballoc_buf_stat st;
	uint64_t s, i;

	ck_assert_int_eq(numballoc_buf_open(name, &o, &a), 0);
	ck_assert_int_eq(numballoc_buf_open(name, &o, &b), -EEXIST);
	o.flags = mode;
	o.capacity = 200;	/* contradicts the pool */
	ck_assert_int_eq(numballoc_buf_open(name, &o, &b), -EINVAL);
	o.capacity = 0;
	o.unit = 0;
	o.max_capacity = 0;
	ck_assert_int_eq(numballoc_buf_open(name, &o, &b), 0);
	ck_assert_int_eq(numballoc_buf_alloc(a, 100, &s), 0);
	ck_assert_int_eq(numballoc_buf_alloc(b, 4, &s), -ENOSPC);
	ck_assert_int_eq(numballoc_buf_set_capacity(a, 1 << 20), 0);	/* far beyond the mapping */
	ck_assert_int_eq(numballoc_buf_alloc(b, 4, &s), 0);
	FF_EQ(s, 100);	/* the lowest free units */
	ck_assert_int_eq(numballoc_buf_stat(b, &st), 0);
	ck_assert_uint_eq(st.capacity, 1 << 20);
	ck_assert_uint_eq(st.free_size, (1 << 20) - 104);
	FF_EQ(st.largest_free, (1 << 20) - 104);
	/* every new word is reachable from the summary: fill it all */
	ck_assert_int_eq(numballoc_buf_dealloc(b, s, 4), 0);
	for (i = 0; i < ((1 << 20) - 100) / 4096; i++)
		ck_assert_int_eq(numballoc_buf_alloc(a, 4096, &s), 0);
	ck_assert_int_eq(numballoc_buf_set_capacity(b, 1 << 20), -EINVAL);
	numballoc_buf_close(a);
	numballoc_buf_close(b);
	ck_assert_int_eq(numballoc_unlink(name), 0);
}
END_TEST

/* Another kind of pool under the name; a hostile capacity word. */
START_TEST(test_kind_and_hostile)
{
	const char *name = tu_name("bufkind");
	struct numballoc_opts io = { .capacity = 64, .flags = NUMBALLOC_CREATE };
	struct numballoc_buf_opts o = { .capacity = 64, .max_capacity = 128,
					.flags = NUMBALLOC_CREATE };
	struct numballoc_pages_opts po = { 0 };
	struct numballoc_pages *pa;
	struct numballoc_buf *b;
	struct numballoc *p;
	struct numballoc_buf_stat st;
	char path[256];
	FILE *f;
	uint64_t bad = UINT64_MAX, s;

	ck_assert_int_eq(numballoc_open(name, &io, &p), 0);
	ck_assert_int_eq(numballoc_buf_open(name, &o, &b), -NUMBALLOC_EKIND);
	ck_assert_int_eq(numballoc_pages_open(name, &po, &pa), -NUMBALLOC_EKIND);
	numballoc_close(p);
	ck_assert_int_eq(numballoc_unlink(name), 0);
	ck_assert_int_eq(numballoc_buf_open(name, &o, &b), 0);
	/* the capacity word (right after the checksummed header) says 2^64-1 */
	snprintf(path, sizeof(path), "/dev/shm/%s", name[0] == '/' ? name + 1 : name);
	f = fopen(path, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, (long)offsetof(struct nb_header, capacity_now), SEEK_SET), 0);
	ck_assert_uint_eq(fwrite(&bad, sizeof(bad), 1, f), 1);
	fclose(f);
	ck_assert_int_eq(numballoc_buf_stat(b, &st), 0);
	ck_assert_uint_eq(st.capacity, 64);	/* ignored: out of range */
	ck_assert_int_eq(numballoc_buf_alloc(b, 64, &s), 0);
	ck_assert_int_eq(numballoc_buf_alloc(b, 1, &s), -ENOSPC);
	numballoc_buf_close(b);
	ck_assert_int_eq(numballoc_buf_open(name, NULL, &b), 0);
	numballoc_buf_close(b);
}
END_TEST

/* The FNV-1a of segment.c, to forge a header that passes the checksum. */
static uint64_t forge_checksum(const struct nb_header *h)
{
	const unsigned char *p = (const unsigned char *)h;
	uint64_t x = UINT64_C(0xcbf29ce484222325);
	size_t i;

	for (i = 0; i < offsetof(struct nb_header, checksum); i++) {
		x ^= p[i];
		x *= UINT64_C(0x100000001b3);
	}
	return x;
}

/* Headers with a valid checksum but parameters the layout would default: refused. */
START_TEST(test_forged_header)
{
	const char *name = tu_name("bufforge");
	struct numballoc_buf_opts o = { .capacity = 64, .max_capacity = 128,
					.flags = NUMBALLOC_CREATE };
	struct numballoc_buf *b;
	struct nb_header h, h0;
	char path[256];
	FILE *f;
	int i;

	ck_assert_int_eq(numballoc_buf_open(name, &o, &b), 0);
	numballoc_buf_close(b);
	snprintf(path, sizeof(path), "/dev/shm/%s", name[0] == '/' ? name + 1 : name);
	f = fopen(path, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(&h0, sizeof(h0), 1, f), 1);
	for (i = 0; i < 5; i++) {
		h = h0;
		if (i == 0)
			h.param[0] = 0;	/* no unit: a division by zero */
		else if (i == 1)
			h.param[1] = 0;	/* no maximum: the levels would not cover the words */
		else if (i == 2)
			h.param[1] = 32;	/* a maximum below the capacity */
		else if (i == 3)
			h.param[3] = 16;	/* chunks too large for the index's positions */
		else
			h.param[3] = 5;		/* chunks too small */
		h.checksum = forge_checksum(&h);
		rewind(f);
		ck_assert_uint_eq(fwrite(&h, sizeof(h), 1, f), 1);
		fflush(f);
		ck_assert_int_eq(numballoc_buf_open(name, NULL, &b), -NUMBALLOC_ECORRUPT);
	}
	rewind(f);
	ck_assert_uint_eq(fwrite(&h0, sizeof(h0), 1, f), 1);
	fclose(f);
	ck_assert_int_eq(numballoc_buf_open(name, NULL, &b), 0);
	numballoc_buf_close(b);
}
END_TEST

/* A buffer backed by a file grows too, and a second handle sees it. */
START_TEST(test_file_growth)
{
	struct numballoc_buf_opts o = { .capacity = 1000, .max_capacity = 100000,
					.path = tu_path("bufgrow"), .flags = NUMBALLOC_CREATE | mode };
	struct numballoc_buf *a, *b;
	struct ref r;
	uint64_t s;

	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &a), 0);
	o.flags = mode;
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b), 0);
	ref_new(&r, 1000);
	both_alloc(a, &r, 999);
	ck_assert_int_eq(numballoc_buf_alloc(b, 2, &s), -ENOSPC);
	ck_assert_int_eq(numballoc_buf_set_capacity(b, 100000), 0);
	ref_grow(&r, 100000);
	ck_assert_uint_eq(both_alloc(a, &r, 2), 999);
	FF_EQ(both_alloc(b, &r, 50000), 1001);
	ref_compare(a, &r);
	ref_compare(b, &r);
	numballoc_buf_close(a);
	numballoc_buf_close(b);
	free(r.used);
}
END_TEST

static void add_tests(TCase *tc)
{
	tcase_add_loop_test(tc, test_alloc_sequence, 0, 3);
	tcase_add_loop_test(tc, test_alloc_mix, 0, 2);
	tcase_add_loop_test(tc, test_dealloc_orders, 0, 6);
	tcase_add_test(tc, test_mixed_alloc_dealloc);
	tcase_add_loop_test(tc, test_realloc_sequences, 0, 4);
	tcase_add_test(tc, test_realloc_sequential);
	tcase_add_test(tc, test_resize_after_fail);
	tcase_add_test(tc, test_pyglet_faults_fixed);
	tcase_add_test(tc, test_unit);
	tcase_add_loop_test(tc, test_model, 0, 6);
	tcase_add_test(tc, test_bad_inputs);
	tcase_add_test(tc, test_open_limits);
	tcase_add_loop_test(tc, test_threads, 0, 2);
	tcase_add_loop_test(tc, test_procs, 0, 2);
	tcase_add_test(tc, test_shared_growth);
	tcase_add_test(tc, test_kind_and_hostile);
	tcase_add_test(tc, test_forged_header);
	tcase_add_test(tc, test_file_growth);
}

static Suite *buffer_suite(void)
{
	Suite *s = suite_create("buffer");
	TCase *ff = tcase_create("first-fit"), *ch = tcase_create("chunks");

	tcase_set_timeout(ff, 120);
	tcase_set_timeout(ch, 120);
	tcase_add_checked_fixture(ff, mode_first_fit, NULL);
	tcase_add_checked_fixture(ch, mode_chunks, NULL);
	add_tests(ff);
	add_tests(ch);
	suite_add_tcase(s, ff);
	suite_add_tcase(s, ch);
	return s;
}

int main(void)
{
	return tu_run(buffer_suite());
}
