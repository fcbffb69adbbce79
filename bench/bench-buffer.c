/* SPDX-License-Identifier: MIT */
/*
 * bench-buffer.c - the offset buffer and page allocator workloads of
 * issue 5, as one function for the benchmark program:
 *
 *	void bench_buffer(int quick);
 *
 * It prints figures and asserts nothing. Only the public header is used.
 * Built alone with -DBENCH_BUFFER_MAIN it is its own program
 * (bench-buffer [--quick]).
 *
 * Buffer: 2^20 units, sizes log-uniform in 1..256 units, first filled to
 * 50% (then 85%) live, then 10^6 operations held at that level: a fair
 * coin (allocate a random size, or free a random live allocation) while
 * the live units are within 1% of the capacity of the level, else the
 * operation that brings them back (a fair coin alone is a random walk:
 * started at 85%, one run ended at 91%, where the fragmentation is not
 * that of 85%). Reported: ns/op (thread
 * CPU time, and wall time beside it), the free/largest-free ratio at the
 * end, failures, and false failures (-ENOSPC although a free range of
 * that size existed, checked by counting on each failure; with two
 * threads the count comes after the fact and may see a later free), and two
 * threads sharing one buffer against one thread (the same operations
 * split in two, wall time): one thread then two in each of 5 rounds, the
 * medians, and the median of the rounds' own ratios.
 *
 * Pages: 2^16 pages of 64 bytes over private memory, runs of 1, 8 and 64
 * pages aligned to their size, filled to 50% (then 99%) of the pages, then
 * pairs of (free a random run, allocate a run of the same size).
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "numballoc.h"
#include "bench-util.h"

void bench_buffer(int quick);

#define BUF_UNITS (UINT64_C(1) << 20)

struct bb_alloc {
	uint64_t start, size;
};

struct bb_thread {
	struct numballoc_buf *b;
	struct bb_alloc *live;	/* this thread's live allocations */
	size_t nlive, maxlive;
	uint64_t live_units, rs;
	uint64_t lo, hi;	/* live units held in [lo, hi] */
	uint64_t ops, fails, false_fails;
	double cpu_ns;
};

/* Log-uniform in 1..256: 2^(8u), u uniform in [0, 1]. */
static uint64_t bb_size(uint64_t *s)
{
	double u = (double)(rnd(s) >> 11) / 9007199254740992.0;
	uint64_t n = (uint64_t)exp2(u * 8.0);

	return n < 1 ? 1 : n > 256 ? 256 : n;
}

static double bb_clock(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int bb_alloc_one(struct bb_thread *t)
{
	uint64_t n = bb_size(&t->rs), start;
	struct numballoc_buf_stat st;
	int r;

	if (t->nlive == t->maxlive)
		return -1;
	r = numballoc_buf_alloc(t->b, n, &start);
	if (r == 0) {
		t->live[t->nlive++] = (struct bb_alloc){ start, n };
		t->live_units += n;
		return 0;
	}
	t->fails++;
	/* a false failure: a free range of n units existed (as far as a count can tell) */
	if (numballoc_buf_stat(t->b, &st) == 0 && st.largest_free >= n)
		t->false_fails++;
	return r;
}

static void bb_free_one(struct bb_thread *t)
{
	size_t i;

	if (!t->nlive)
		return;
	i = (size_t)(rnd(&t->rs) % t->nlive);
	numballoc_buf_dealloc(t->b, t->live[i].start, t->live[i].size);
	t->live_units -= t->live[i].size;
	t->live[i] = t->live[--t->nlive];
}

static void bb_fill(struct bb_thread *t, uint64_t target)
{
	while (t->live_units < target && bb_alloc_one(t) == 0)
		;
}

static void *bb_mixed(void *arg)
{
	struct bb_thread *t = arg;
	double c0 = bb_clock(CLOCK_THREAD_CPUTIME_ID);
	uint64_t i;

	for (i = 0; i < t->ops; i++) {
		uint64_t coin = rnd(&t->rs) & 1;

		if (t->live_units < t->lo ? 1 : t->live_units > t->hi ? 0 : coin)
			bb_alloc_one(t);
		else
			bb_free_one(t);
	}
	t->cpu_ns = bb_clock(CLOCK_THREAD_CPUTIME_ID) - c0;
	return NULL;
}

static int bb_open(struct numballoc_buf **b)
{
	struct numballoc_buf_opts o = { .capacity = BUF_UNITS, .max_capacity = BUF_UNITS };

	return numballoc_buf_open(NULL, &o, b);
}

/* What one run gives. */
struct bb_result {
	double cpu, wall;		/* ns per operation */
	double live, frag;		/* end live fraction, free/largest-free */
	uint64_t fails, false_fails;
};

/* NTHREADS threads share one buffer filled to PCT%; OPS operations in all. */
static int bb_run(int pct, int nthreads, uint64_t ops, struct bb_result *res)
{
	struct bb_thread t[2];
	struct numballoc_buf_stat st;
	struct numballoc_buf *b;
	pthread_t th[2];
	uint64_t live = 0;
	double w0;
	int i;

	if (bb_open(&b) < 0)
		return -1;
	memset(res, 0, sizeof(*res));
	for (i = 0; i < nthreads; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].b = b;
		t[i].maxlive = BUF_UNITS;
		t[i].live = malloc(t[i].maxlive * sizeof(*t[i].live));
		t[i].rs = 0x9e3779b97f4a7c15 * (uint64_t)(i + 1 + pct);
		t[i].ops = ops / (uint64_t)nthreads;
		bb_fill(&t[i], BUF_UNITS * (uint64_t)pct / 100 / (uint64_t)nthreads);
		t[i].fails = t[i].false_fails = 0;
		t[i].lo = BUF_UNITS * (uint64_t)(pct - 1) / 100 / (uint64_t)nthreads;
		t[i].hi = BUF_UNITS * (uint64_t)(pct + 1) / 100 / (uint64_t)nthreads;
	}
	w0 = bb_clock(CLOCK_MONOTONIC);
	for (i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, bb_mixed, &t[i]);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	res->wall = (bb_clock(CLOCK_MONOTONIC) - w0) / (double)ops;
	for (i = 0; i < nthreads; i++) {
		res->cpu += t[i].cpu_ns / (double)ops;
		res->fails += t[i].fails;
		res->false_fails += t[i].false_fails;
		live += t[i].live_units;
		free(t[i].live);
	}
	numballoc_buf_stat(b, &st);
	res->live = (double)live / BUF_UNITS;
	res->frag = st.largest_free ? (double)st.free_size / (double)st.largest_free : 0.0;
	numballoc_buf_close(b);
	return 0;
}

static int bb_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of V[0..N-1] (N >= 1); sorts V, so V[0] and V[N-1] are then the extremes. */
static double bb_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bb_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define BB_ROUNDS 5

/*
 * ROUNDS rounds at PCT% live: one thread, then two, each round, so that a
 * shared machine's swings fall on both alike. Prints the medians, and the
 * two threads' throughput over one thread's as the median of the rounds'
 * own ratios (wall time), with the lowest and highest.
 */
static void bb_level(int pct, int rounds, uint64_t ops)
{
	double cpu1[BB_ROUNDS], wall1[BB_ROUNDS], cpu2[BB_ROUNDS], wall2[BB_ROUNDS];
	double scale[BB_ROUNDS], med;
	struct bb_result r1, r2;
	uint64_t fails = 0, ffails = 0;
	int k;

	for (k = 0; k < rounds; k++) {
		if (bb_run(pct, 1, ops, &r1) < 0 || bb_run(pct, 2, ops, &r2) < 0) {
			printf("buffer: open failed\n");
			return;
		}
		cpu1[k] = r1.cpu;
		wall1[k] = r1.wall;
		cpu2[k] = r2.cpu;
		wall2[k] = r2.wall;
		scale[k] = r1.wall / r2.wall;
		fails += r1.fails + r2.fails;
		ffails += r1.false_fails + r2.false_fails;
	}
	printf("buffer %2d%% live, 1 thread :   %7.1f ns/op cpu, %7.1f ns/op wall; end live %4.1f%%, "
	       "free/largest-free %.2f\n",
	       pct, bb_median(cpu1, rounds), bb_median(wall1, rounds), 100.0 * r1.live, r1.frag);
	printf("buffer %2d%% live, 2 threads:   %7.1f ns/op cpu, %7.1f ns/op wall; end live %4.1f%%, "
	       "free/largest-free %.2f\n",
	       pct, bb_median(cpu2, rounds), bb_median(wall2, rounds), 100.0 * r2.live, r2.frag);
	med = bb_median(scale, rounds);
	printf("buffer %2d%% live, 2 threads / 1 thread (wall): %.2f (%.2f-%.2f over %d rounds); "
	       "failures %ju (false %ju; with two threads counted after the fact: the other may "
	       "free meanwhile)\n",
	       pct, med, scale[0], scale[rounds - 1], rounds, (uintmax_t)fails, (uintmax_t)ffails);
}

/* Pages: runs of N pages aligned to N, the arena filled to PCT%, then free+alloc pairs. */
static void bp_run(uint64_t n, int pct, uint64_t pairs)
{
	const uint64_t npages = UINT64_C(1) << 16;
	struct numballoc_pages_opts o = { .page_size = 64 };
	struct numballoc_pages *pa;
	uint64_t *live, nlive = 0, target, i, rs = 7 + n, first, fails = 0;
	double c0, w0, cpu, wall;
	void *mem;

	mem = aligned_alloc(64, npages * 64);
	o.mem = mem;
	o.mem_size = npages * 64;
	if (!mem || numballoc_pages_open(NULL, &o, &pa) < 0) {
		printf("pages: open failed\n");
		free(mem);
		return;
	}
	live = malloc(npages * sizeof(*live));
	target = npages * (uint64_t)pct / 100 / n;
	while (nlive < target && numballoc_pages_alloc(pa, n, n, &first) == 0)
		live[nlive++] = first;
	c0 = bb_clock(CLOCK_THREAD_CPUTIME_ID);
	w0 = bb_clock(CLOCK_MONOTONIC);
	for (i = 0; i < pairs && nlive; i++) {
		uint64_t k = rnd(&rs) % nlive;

		numballoc_pages_free(pa, live[k], n);
		if (numballoc_pages_alloc(pa, n, n, &live[k]) != 0) {
			fails++;
			live[k] = live[--nlive];
		}
	}
	cpu = bb_clock(CLOCK_THREAD_CPUTIME_ID) - c0;
	wall = bb_clock(CLOCK_MONOTONIC) - w0;
	printf("pages  %2d%% full, runs of %2ju aligned: %7.1f ns/op cpu, %7.1f ns/op wall "
	       "(an op is a free or an alloc), failures %ju\n",
	       pct, (uintmax_t)n, cpu / (double)(2 * pairs), wall / (double)(2 * pairs),
	       (uintmax_t)fails);
	numballoc_pages_close(pa);
	free(live);
	free(mem);
}

void bench_buffer(int quick)
{
	uint64_t ops = quick ? 20000 : 1000000;
	static const int pcts[] = { 50, 85 };
	static const uint64_t runs[] = { 1, 8, 64 };
	static const int fills[] = { 50, 99 };
	size_t i, j;

	printf("# offset buffer: 2^20 units, sizes log-uniform 1..256, %ju mixed ops held at the\n"
	       "# level (fair coin: alloc, or free a random live one, while within 1%% of it);\n"
	       "# one thread then two, %d rounds, medians\n",
	       (uintmax_t)ops, quick ? 1 : BB_ROUNDS);
	for (i = 0; i < 2; i++)
		bb_level(pcts[i], quick ? 1 : BB_ROUNDS, ops);
	printf("# pages: 2^16 pages, runs aligned to their size, %ju free+alloc pairs\n",
	       (uintmax_t)(ops / 2));
	for (i = 0; i < 3; i++)
		for (j = 0; j < 2; j++)
			bp_run(runs[i], fills[j], ops / 2);
}

#ifdef BENCH_BUFFER_MAIN
int main(int argc, char **argv)
{
	bench_buffer(argc > 1 && !strcmp(argv[1], "--quick"));
	return 0;
}
#endif
