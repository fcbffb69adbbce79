/* SPDX-License-Identifier: MIT */
/*
 * check_pages.c - the page allocator: a model test against a plain array
 * (first fit, alignment), private memory mode, addr/base, bad inputs, and
 * a shared arena used by forked processes: a witness per page, and pages
 * written by one process and read by another through their numbers.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "numballoc.h"
#include "testutil.h"

static bool ref_free(const bool *used, uint64_t s, uint64_t n)
{
	uint64_t i;

	for (i = s; i < s + n; i++)
		if (used[i])
			return false;
	return true;
}

/* The lowest run of N free pages whose first is a multiple of ALIGN. */
static uint64_t ref_fit(const bool *used, uint64_t total, uint64_t n, uint64_t align)
{
	uint64_t s;

	for (s = 0; s + n <= total; s += align)
		if (ref_free(used, s, n))
			return s;
	return UINT64_MAX;
}

static void ref_compare(struct numballoc_pages *pa, const bool *used, uint64_t total)
{
	struct numballoc_pages_stat st;
	uint64_t i, n = 0, run = 0, best = 0;

	for (i = 0; i < total; i++) {
		n += used[i];
		run = used[i] ? 0 : run + 1;
		best = run > best ? run : best;
	}
	ck_assert_int_eq(numballoc_pages_stat(pa, &st), 0);
	ck_assert_uint_eq(st.total, total);
	ck_assert_uint_eq(st.used, n);
	ck_assert_uint_eq(st.available, total - n);
	ck_assert_uint_eq(st.largest_free, best);
}

/* Private pages over caller memory, random alloc/free against the reference. */
START_TEST(test_model)
{
	static const uint64_t totals[] = { 1, 7, 64, 65, 300 };
	uint64_t total = totals[_i], rs = 0x5eed + (uint64_t)_i, step, first;
	size_t ps = 256;
	char *mem = malloc(total * ps + ps);
	struct numballoc_pages_opts o = { .page_size = ps, .mem = mem, .mem_size = total * ps + ps,
					  .npages = total };	/* one more may fit when mem is aligned */
	struct numballoc_pages *pa;
	bool *used = calloc(total, sizeof(bool));
	char *base;

	ck_assert_int_eq(numballoc_pages_open(NULL, &o, &pa), 0);
	base = numballoc_pages_base(pa);
	/* rounded in to whole pages: the first multiple of the page size */
	ck_assert_ptr_eq(base, (char *)(((uintptr_t)mem + ps - 1) & ~(uintptr_t)(ps - 1)));
	ref_compare(pa, used, total);
	for (step = 0; step < 2000; step++) {
		uint64_t n = 1 + tu_rand(&rs) % (total < 20 ? total : 20);
		uint64_t align = UINT64_C(1) << (tu_rand(&rs) % 5);
		uint64_t s = tu_rand(&rs) % total, i;

		if (tu_rand(&rs) % 2) {
			uint64_t want = ref_fit(used, total, n, align);
			int r = numballoc_pages_alloc(pa, n, align, &first);

			if (want == UINT64_MAX) {
				ck_assert_int_eq(r, -ENOSPC);
				continue;
			}
			ck_assert_int_eq(r, 0);
			ck_assert_uint_eq(first, want);
			ck_assert_uint_eq(first % align, 0);
			for (i = first; i < first + n; i++)
				used[i] = true;
			/* the memory is the caller's, page by page */
			ck_assert_ptr_eq(numballoc_pages_addr(pa, first), base + first * ps);
			memset(numballoc_pages_addr(pa, first), 0x5a, n * ps);
		} else {
			bool all = true;

			if (n > total - s) {
				ck_assert_int_eq(numballoc_pages_free(pa, s, n), -EINVAL);
				continue;
			}
			for (i = s; i < s + n; i++)
				all = all && used[i];
			ck_assert_int_eq(numballoc_pages_free(pa, s, n), all ? 0 : -ENOENT);
			if (all)
				for (i = s; i < s + n; i++)
					used[i] = false;
		}
		ref_compare(pa, used, total);
	}
	numballoc_pages_close(pa);
	free(used);
	free(mem);
}
END_TEST

/* Alignment: runs start at multiples of ALIGN pages, never across a taken page. */
START_TEST(test_alignment)
{
	static char mem[64 * 128] __attribute__((aligned(128)));
	struct numballoc_pages_opts o = { .page_size = 128, .mem = mem, .mem_size = sizeof(mem) };
	struct numballoc_pages_stat st;
	struct numballoc_pages *pa;
	uint64_t f;

	ck_assert_int_eq(numballoc_pages_open(NULL, &o, &pa), 0);
	ck_assert_ptr_eq(numballoc_pages_base(pa), mem);
	ck_assert_int_eq(numballoc_pages_alloc(pa, 1, 0, &f), 0);
	ck_assert_uint_eq(f, 0);
	ck_assert_int_eq(numballoc_pages_alloc(pa, 1, 8, &f), 0);
	ck_assert_uint_eq(f, 8);
	ck_assert_int_eq(numballoc_pages_alloc(pa, 8, 8, &f), 0);
	ck_assert_uint_eq(f, 16);
	ck_assert_int_eq(numballoc_pages_alloc(pa, 7, 1, &f), 0);
	ck_assert_uint_eq(f, 1);
	ck_assert_int_eq(numballoc_pages_alloc(pa, 32, 32, &f), 0);
	ck_assert_uint_eq(f, 32);
	ck_assert_int_eq(numballoc_pages_alloc(pa, 64, 64, &f), -ENOSPC);
	ck_assert_int_eq(numballoc_pages_alloc(pa, 7, 8, &f), 0);
	ck_assert_uint_eq(f, 24);
	ck_assert_int_eq(numballoc_pages_stat(pa, &st), 0);
	ck_assert_uint_eq(st.page_size, 128);
	ck_assert_uint_eq(st.used, 1 + 1 + 8 + 7 + 32 + 7);
	ck_assert_uint_eq(st.largest_free, 7);	/* 9..15 */
	ck_assert_ptr_eq(numballoc_pages_addr(pa, 63), mem + 63 * 128);
	ck_assert_ptr_null(numballoc_pages_addr(pa, 64));
	numballoc_pages_close(pa);
}
END_TEST

/* Bad inputs return their error and change nothing. */
START_TEST(test_bad_inputs)
{
	static char mem[16 * 64] __attribute__((aligned(64)));
	struct numballoc_pages_opts o = { .page_size = 64, .mem = mem, .mem_size = sizeof(mem) };
	struct numballoc_pages_opts bad = o;
	struct numballoc_pages *pa, *pb = NULL;
	struct numballoc_pages_stat st;
	uint64_t f = 77;

	bad.page_size = 96;
	ck_assert_int_eq(numballoc_pages_open(NULL, &bad, &pb), -EINVAL);
	bad = o;
	bad.mem_size = 63;	/* not one whole page */
	ck_assert_int_eq(numballoc_pages_open(NULL, &bad, &pb), -EINVAL);
	bad = o;
	bad.mem = NULL;
	ck_assert_int_eq(numballoc_pages_open(NULL, &bad, &pb), -EINVAL);
	bad = o;
	bad.npages = 17;	/* more than the memory holds */
	ck_assert_int_eq(numballoc_pages_open(NULL, &bad, &pb), -EINVAL);
	bad = o;
	bad.reserved[0] = 1;
	ck_assert_int_eq(numballoc_pages_open(NULL, &bad, &pb), -EINVAL);
	bad = o;
	bad.reserved_u[5] = 1;
	ck_assert_int_eq(numballoc_pages_open(NULL, &bad, &pb), -EINVAL);
	bad = o;
	bad.flags = 0x100;
	ck_assert_int_eq(numballoc_pages_open(NULL, &bad, &pb), -EINVAL);
	ck_assert_int_eq(numballoc_pages_open(NULL, &o, NULL), -EINVAL);
	/* a shared arena with no pages, or with caller memory */
	bad = (struct numballoc_pages_opts){ .flags = NUMBALLOC_CREATE };
	ck_assert_int_eq(numballoc_pages_open(tu_name("pgbad"), &bad, &pb), -EINVAL);
	bad.npages = 4;
	bad.mem = mem;
	ck_assert_int_eq(numballoc_pages_open(tu_name("pgbad"), &bad, &pb), -EINVAL);
	ck_assert_ptr_null(pb);

	ck_assert_int_eq(numballoc_pages_open(NULL, &o, &pa), 0);
	ck_assert_int_eq(numballoc_pages_alloc(pa, 4, 0, &f), 0);
	ck_assert_int_eq(numballoc_pages_alloc(pa, 0, 1, &f), -EINVAL);
	ck_assert_int_eq(numballoc_pages_alloc(pa, 1, 3, &f), -EINVAL);
	ck_assert_int_eq(numballoc_pages_alloc(pa, 1, 1, NULL), -EINVAL);
	ck_assert_int_eq(numballoc_pages_alloc(pa, 17, 1, &f), -ENOSPC);
	ck_assert_int_eq(numballoc_pages_alloc(pa, 13, 1, &f), -ENOSPC);
	ck_assert_int_eq(numballoc_pages_alloc(NULL, 1, 1, &f), -EINVAL);
	ck_assert_int_eq(numballoc_pages_free(pa, 2, 4), -ENOENT);	/* 4, 5 are free */
	ck_assert_int_eq(numballoc_pages_free(pa, 0, 0), -EINVAL);
	ck_assert_int_eq(numballoc_pages_free(pa, 15, 2), -EINVAL);
	ck_assert_int_eq(numballoc_pages_free(pa, UINT64_MAX, 1), -EINVAL);
	ck_assert_int_eq(numballoc_pages_stat(pa, NULL), -EINVAL);
	ck_assert_int_eq(numballoc_pages_stat(pa, &st), 0);
	ck_assert_uint_eq(st.used, 4);
	ck_assert_int_eq(numballoc_pages_free(pa, 0, 4), 0);
	ck_assert_int_eq(numballoc_pages_free(pa, 0, 4), -ENOENT);
	ck_assert_ptr_null(numballoc_pages_addr(NULL, 0));
	ck_assert_ptr_null(numballoc_pages_base(NULL));
	ck_assert_int_eq(numballoc_pages_close(NULL), 0);
	numballoc_pages_close(pa);
}
END_TEST

/*
 * A shared arena: a child allocates a page and writes into it; the parent
 * reads it through the page number alone, at its own address. Then
 * several children allocate and free runs at once with a witness per page.
 */
START_TEST(test_shared_arena)
{
	const char *name = tu_name("pgarena");
	struct numballoc_pages_opts o = { .page_size = 4096, .npages = 64,
					  .flags = NUMBALLOC_CREATE };
	uint64_t *shm = tu_shared(8 * sizeof(uint64_t));
	struct numballoc_pages_stat st;
	struct numballoc_pages *pa;
	pid_t pid;
	char *p;

	ck_assert_int_eq(numballoc_pages_open(name, &o, &pa), 0);
	ck_assert_uint_eq((uintptr_t)numballoc_pages_base(pa) % 4096, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct numballoc_pages *c;
		uint64_t f;

		if (numballoc_pages_open(name, NULL, &c) || numballoc_pages_alloc(c, 3, 2, &f))
			_exit(1);
		p = numballoc_pages_addr(c, f + 2);
		strcpy(p, "written by the child");
		shm[0] = f;
		numballoc_pages_close(c);	/* the page stays allocated */
		_exit(0);
	}
	ck_assert_int_eq(tu_wait_all(&pid, 1), 0);
	ck_assert_uint_eq(shm[0], 0);
	ck_assert_str_eq((char *)numballoc_pages_addr(pa, shm[0] + 2), "written by the child");
	ck_assert_int_eq(numballoc_pages_stat(pa, &st), 0);
	ck_assert_uint_eq(st.used, 3);
	ck_assert_uint_eq(st.page_size, 4096);
	ck_assert_int_eq(numballoc_pages_free(pa, shm[0], 3), 0);
	o.page_size = 8192;	/* contradicts the arena */
	o.flags = 0;
	ck_assert_int_eq(numballoc_pages_open(name, &o, &pa), -EINVAL);
	numballoc_pages_close(pa);
}
END_TEST

START_TEST(test_procs_witness)
{
	const char *name = tu_name("pgprocs");
	struct numballoc_pages_opts o = { .page_size = 64, .npages = 200,
					  .flags = NUMBALLOC_CREATE };
	int *wit = tu_shared(200 * sizeof(int));
	int *bad = tu_shared(sizeof(int));
	struct numballoc_pages_stat st;
	struct numballoc_pages *pa;
	pid_t pid[3];
	int i;

	ck_assert_int_eq(numballoc_pages_open(name, &o, &pa), 0);
	for (i = 0; i < 3; i++) {
		pid[i] = fork();
		ck_assert_int_ge(pid[i], 0);
		if (pid[i] == 0) {
			struct numballoc_pages *c;
			uint64_t rs = 31 + (uint64_t)i, hs[16], hn[16], f, k;
			int nh = 0, j;

			if (numballoc_pages_open(name, NULL, &c))
				_exit(1);
			for (j = 0; j < 5000; j++) {
				uint64_t n = UINT64_C(1) << (tu_rand(&rs) % 4);

				if (nh < 16 && tu_rand(&rs) % 2 &&
				    numballoc_pages_alloc(c, n, n, &f) == 0) {
					for (k = f; k < f + n; k++)
						if (__atomic_exchange_n(&wit[k], 1, __ATOMIC_SEQ_CST))
							*bad = 1;
					/* the page is ours: write it, nobody else may */
					memset(numballoc_pages_addr(c, f), i + 1, n * 64);
					hs[nh] = f;
					hn[nh++] = n;
				} else if (nh) {
					int x = (int)(tu_rand(&rs) % (uint64_t)nh);
					char *q = numballoc_pages_addr(c, hs[x]);

					for (k = 0; k < hn[x] * 64; k++)
						if (q[k] != i + 1)
							*bad = 2;
					for (k = hs[x]; k < hs[x] + hn[x]; k++)
						__atomic_store_n(&wit[k], 0, __ATOMIC_SEQ_CST);
					if (numballoc_pages_free(c, hs[x], hn[x]))
						*bad = 3;
					hs[x] = hs[--nh];
					hn[x] = hn[nh];
				}
			}
			while (nh--) {
				for (k = hs[nh]; k < hs[nh] + hn[nh]; k++)
					__atomic_store_n(&wit[k], 0, __ATOMIC_SEQ_CST);
				if (numballoc_pages_free(c, hs[nh], hn[nh]))
					*bad = 3;
			}
			numballoc_pages_close(c);
			_exit(0);
		}
	}
	ck_assert_int_eq(tu_wait_all(pid, 3), 0);
	ck_assert_int_eq(*bad, 0);
	ck_assert_int_eq(numballoc_pages_stat(pa, &st), 0);
	ck_assert_uint_eq(st.used, 0);
	ck_assert_uint_eq(st.largest_free, 200);
	numballoc_pages_close(pa);
}
END_TEST

/* An ID pool or a buffer under the name is another kind. */
START_TEST(test_kind)
{
	const char *name = tu_name("pgkind");
	struct numballoc_buf_opts bo = { .capacity = 64, .flags = NUMBALLOC_CREATE };
	struct numballoc_pages_opts o = { .npages = 4, .flags = NUMBALLOC_CREATE };
	struct numballoc_pages *pa;
	struct numballoc_buf *b;
	struct numballoc *p;

	ck_assert_int_eq(numballoc_buf_open(name, &bo, &b), 0);
	ck_assert_int_eq(numballoc_pages_open(name, &o, &pa), -NUMBALLOC_EKIND);
	numballoc_buf_close(b);
	ck_assert_int_eq(numballoc_unlink(name), 0);
	ck_assert_int_eq(numballoc_pages_open(name, &o, &pa), 0);
	ck_assert_int_eq(numballoc_open(name, NULL, &p), -NUMBALLOC_EKIND);
	ck_assert_int_eq(numballoc_buf_open(name, NULL, &b), -NUMBALLOC_EKIND);
	numballoc_pages_close(pa);
	ck_assert_int_eq(numballoc_unlink(name), 0);
	ck_assert_int_eq(numballoc_pages_open(name, NULL, &pa), -ENOENT);
}
END_TEST

/* Threads on one private arena, a witness per page. */
struct pg_work {
	struct numballoc_pages *pa;
	int *wit;
	int bad;
	uint64_t seed;
};

static void *pg_thread(void *arg)
{
	struct pg_work *w = arg;
	uint64_t rs = w->seed, hs[16], hn[16], f, k;
	int nh = 0, j;

	for (j = 0; j < 20000; j++) {
		uint64_t n = UINT64_C(1) << (tu_rand(&rs) % 4);

		if (nh < 16 && tu_rand(&rs) % 2 && numballoc_pages_alloc(w->pa, n, n, &f) == 0) {
			for (k = f; k < f + n; k++)
				if (__atomic_exchange_n(&w->wit[k], 1, __ATOMIC_SEQ_CST))
					w->bad = 1;
			hs[nh] = f;
			hn[nh++] = n;
		} else if (nh) {
			int x = (int)(tu_rand(&rs) % (uint64_t)nh);

			for (k = hs[x]; k < hs[x] + hn[x]; k++)
				__atomic_store_n(&w->wit[k], 0, __ATOMIC_SEQ_CST);
			if (numballoc_pages_free(w->pa, hs[x], hn[x]))
				w->bad = 3;
			hs[x] = hs[--nh];
			hn[x] = hn[nh];
		}
	}
	while (nh--) {
		for (k = hs[nh]; k < hs[nh] + hn[nh]; k++)
			__atomic_store_n(&w->wit[k], 0, __ATOMIC_SEQ_CST);
		if (numballoc_pages_free(w->pa, hs[nh], hn[nh]))
			w->bad = 3;
	}
	return NULL;
}

START_TEST(test_threads_witness)
{
	static char mem[150 * 64] __attribute__((aligned(64)));
	struct numballoc_pages_opts o = { .page_size = 64, .mem = mem, .mem_size = sizeof(mem) };
	int *wit = calloc(150, sizeof(int));
	struct numballoc_pages_stat st;
	struct pg_work w[3];
	pthread_t t[3];
	int i;

	ck_assert_int_eq(numballoc_pages_open(NULL, &o, &w[0].pa), 0);
	for (i = 0; i < 3; i++) {
		w[i] = (struct pg_work){ w[0].pa, wit, 0, 5 + (uint64_t)i };
		ck_assert_int_eq(pthread_create(&t[i], NULL, pg_thread, &w[i]), 0);
	}
	for (i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].bad, 0);
	}
	ck_assert_int_eq(numballoc_pages_stat(w[0].pa, &st), 0);
	ck_assert_uint_eq(st.used, 0);
	ck_assert_uint_eq(st.largest_free, 150);
	numballoc_pages_close(w[0].pa);
	free(wit);
}
END_TEST

static Suite *pages_suite(void)
{
	Suite *s = suite_create("pages");
	TCase *tc = tcase_create("pages");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_model, 0, 5);
	tcase_add_test(tc, test_alignment);
	tcase_add_test(tc, test_bad_inputs);
	tcase_add_test(tc, test_shared_arena);
	tcase_add_test(tc, test_procs_witness);
	tcase_add_test(tc, test_threads_witness);
	tcase_add_test(tc, test_kind);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(pages_suite());
}
