/* SPDX-License-Identifier: MIT */
/*
 * check_bufindex.c - the buffer's process-local index (lib/buffer.c,
 * default placement) held to its invariants after every few operations:
 * the library's sources built in with NB_TEST_INDEX, which adds
 * nb_buf_index_check() (every start mark has its record, the cell's
 * first two in the cell and the rest in the hash table, the class lists
 * and masks agree, the extents are free in the words, the table holds
 * nothing stale; session 4).
 *
 * One thread on a private buffer against a model (which units are held):
 * an allocation must return units the model has free, and may fail only
 * when the model has no free run that long. Sizes of 1..4 units put many
 * extents in one cell of 64 units (marks beyond the second live in the
 * table and move into the cell as lower ones go); sizes up to 700 give
 * extents with tail entries; the mixed case has both.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "numballoc.h"
#include "testutil.h"

int nb_buf_index_check(struct numballoc_buf *b);

#define CHUNK (UINT64_C(1) << 15)

struct held {
	uint64_t s, n;
};

/* The longest run of free units in the model. */
static uint64_t model_largest(const unsigned char *used, uint64_t cap)
{
	uint64_t u, run = 0, best = 0;

	for (u = 0; u < cap; u++) {
		run = used[u] ? 0 : run + 1;
		if (run > best)
			best = run;
	}
	return best;
}

static uint64_t size_for(int mix, uint64_t *rs)
{
	uint64_t r = tu_rand(rs);

	switch (mix) {
	case 0:
		return 1 + r % 4;
	case 1:
		return 1 + r % 700;
	default:
		return r & 1 ? 1 + (r >> 1) % 3 : 1 + (r >> 1) % 600;
	}
}

/*
 * MIX picks the sizes (see size_for()), LEVEL the share of the buffer
 * held, in percent. The index is checked every 64 operations and at the end.
 */
static void run_model(int mix, int level, uint64_t ops, uint64_t seed)
{
	const uint64_t cap = 4 * CHUNK;
	struct numballoc_buf_opts o = { .capacity = cap, .max_capacity = cap };
	unsigned char *used = calloc(cap, 1);
	struct held *h = malloc(cap * sizeof(*h));
	uint64_t rs = seed, nh = 0, held = 0, i, u, s, n, k;
	struct numballoc_buf *b;
	int r;

	ck_assert_ptr_nonnull(used);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b), 0);
	for (i = 0; i < ops; i++) {
		if (nh && (held * 100 > cap * (uint64_t)level || tu_rand(&rs) % 2)) {
			k = tu_rand(&rs) % nh;
			if (numballoc_buf_dealloc(b, h[k].s, h[k].n) != 0)
				ck_abort_msg("a free of what was allocated failed");
			for (u = h[k].s; u < h[k].s + h[k].n; u++)
				used[u] = 0;
			held -= h[k].n;
			h[k] = h[--nh];
		} else {
			n = size_for(mix, &rs);
			r = numballoc_buf_alloc(b, n, &s);
			if (r == -ENOSPC) {
				if (model_largest(used, cap) >= n)
					ck_abort_msg("-ENOSPC for %ju units with a free run that long",
						     (uintmax_t)n);
				continue;
			}
			if (r != 0 || s + n > cap)
				ck_abort_msg("alloc of %ju: %d at %ju", (uintmax_t)n, r, (uintmax_t)s);
			for (u = s; u < s + n; u++) {
				if (used[u])
					ck_abort_msg("unit %ju handed out twice", (uintmax_t)u);
				used[u] = 1;
			}
			h[nh++] = (struct held){ s, n };
			held += n;
		}
		if (i % 64 == 0 && (r = nb_buf_index_check(b)) != 0)
			ck_abort_msg("index broken (buffer.c line %d) after %ju operations", r,
				     (uintmax_t)i);
	}
	ck_assert_int_eq(nb_buf_index_check(b), 0);
	for (k = 0; k < nh; k++)
		if (numballoc_buf_dealloc(b, h[k].s, h[k].n) != 0)
			ck_abort_msg("a free of what was allocated failed");
	ck_assert_int_eq(nb_buf_index_check(b), 0);
	numballoc_buf_close(b);
	free(h);
	free(used);
}

static const struct {
	int mix, level;
} cases[] = { { 0, 50 }, { 0, 85 }, { 1, 50 }, { 1, 85 }, { 2, 70 } };

START_TEST(test_index_model)
{
	run_model(cases[_i].mix, cases[_i].level, 40000, 7 + (uint64_t)_i);
}
END_TEST

/*
 * One cell of 64 units with many extents: 64 single units allocated in a
 * fresh buffer, then every other one freed, lowest first and highest
 * first, so that marks enter the cell below and above the two it holds
 * and leave it from every rank; the index is checked after each step.
 */
START_TEST(test_index_one_cell)
{
	const uint64_t cap = CHUNK;
	struct numballoc_buf_opts o = { .capacity = cap, .max_capacity = cap };
	struct numballoc_buf *b;
	uint64_t s[64], t, i, lo;
	int pass;

	ck_assert_int_eq(numballoc_buf_open(NULL, &o, &b), 0);
	for (i = 0; i < 64; i++)
		ck_assert_int_eq(numballoc_buf_alloc(b, 1, &s[i]), 0);
	for (lo = s[0], i = 1; i < 64; i++)
		lo = s[i] < lo ? s[i] : lo;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < 32; i++) {
			/* units lo+1, lo+3, ...: upward in the first pass, downward in the second */
			t = lo + 2 * (pass ? 31 - i : i) + 1;
			ck_assert_int_eq(numballoc_buf_dealloc(b, t, 1), 0);
			ck_assert_int_eq(nb_buf_index_check(b), 0);
		}
		for (i = 0; i < 32; i++) {	/* the holes again, each from wherever the index keeps it */
			ck_assert_int_eq(numballoc_buf_alloc(b, 1, &t), 0);
			ck_assert_int_eq(nb_buf_index_check(b), 0);
		}
	}
	numballoc_buf_close(b);
}
END_TEST

static Suite *index_suite(void)
{
	Suite *s = suite_create("bufindex");
	TCase *tc = tcase_create("bufindex");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_index_model, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_index_one_cell);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(index_suite());
}
